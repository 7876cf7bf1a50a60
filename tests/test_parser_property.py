"""Property: any syscall line split into an <unfinished ...>/<... resumed> pair, with
other pids' lines between the halves, parses to the same event."""

from __future__ import annotations

import re

import polars as pl
from conftest import raw_lines
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gotrace.parsers.args import split_args
from gotrace.parsers.strace import parse_text

LINE = re.compile(
    r"^(?P<pid>\d+) +(?P<ts>\d+\.\d+) (?P<name>\w+)\((?P<args>.*)\) += (?P<ret>.*?) <(?P<dur>[\d.]+)>$"
)
SAMPLES = [m for m in (LINE.match(ln) for ln in raw_lines("go_mod_download.strace")) if m]
FIELDS = ["pid", "ts", "syscall", "args", "ret", "retval", "errno", "errmsg", "ret_target",
          "duration", "end_ts", "in_flight", "fd", "fd_target"]  # fmt: skip
OTHER = "99999 {ts} getpid() = 99999 <0.000001>"


def boundaries(args: str) -> list[int]:
    """Where strace may cut: before the first argument, after any top-level ", ", at the end."""
    cuts = [0]
    pos = 0
    parts = split_args(args)
    for part in parts[:-1]:
        pos = args.index(part, pos) + len(part)
        pos = args.index(",", pos) + 2  # strace cuts after ", "
        cuts.append(pos)
    cuts.append(len(args))
    return cuts


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_split_line_parses_to_the_same_event(data: st.DataObject) -> None:
    m = data.draw(st.sampled_from(SAMPLES))
    args = m.group("args")
    cut = data.draw(st.sampled_from(boundaries(args)))
    between = data.draw(st.integers(min_value=0, max_value=4))
    ts = float(m.group("ts"))
    end = ts + float(m.group("dur"))
    whole = f"{m.group(0)}\n"
    head = f"{m.group('pid')} {m.group('ts')} {m.group('name')}({args[:cut]} <unfinished ...>"
    tail = (
        f"{m.group('pid')} {end:.6f} <... {m.group('name')} resumed>{args[cut:]}) = "
        f"{m.group('ret')} <{m.group('dur')}>"
    )
    others = [OTHER.format(ts=f"{ts + 1e-7 * (i + 1):.6f}") for i in range(between)]
    split = "\n".join([head, *others, tail]) + "\n"

    a = parse_text(whole).row(0, named=True)
    events = parse_text(split).filter(pl.col("pid") == int(m.group("pid")))
    assert events.height == 1
    b = events.row(0, named=True)
    for f in FIELDS:
        if isinstance(a[f], float):
            assert abs(a[f] - b[f]) < 1e-6, f
        else:
            assert a[f] == b[f], f
    assert b["end_line"] == 2 + between


@settings(max_examples=500, deadline=None)
@given(
    n=st.integers(min_value=0, max_value=200),
    drop=st.lists(st.integers(min_value=0, max_value=199), max_size=120),
)
@example(n=8, drop=[1, 3, 5])  # (leading one-row pieces: what CI's run found)
@example(n=200, drop=[0, 2, 4, 6, 100, 102, 198])
def test_rows_cut_out_of_a_frame_are_those_a_filter_drops(n: int, drop: list[int]) -> None:
    # _without slices around a few rows (the slices share the frame's buffers) and filters
    # many; either way the rows left and their order are those of the filter, and every
    # column of the result is in the same pieces (a later stage would rechunk otherwise)
    from gotrace.parsers.strace import _without

    df = pl.DataFrame(
        {"i": list(range(n)), "s": [f"row {i}" for i in range(n)]},
        schema={"i": pl.Int64, "s": pl.String},
    ).with_columns(none=pl.repeat(None, n, dtype=pl.String, eager=True))
    rows = sorted({r for r in drop if r < n})
    got = _without(df, pl.Series(rows, dtype=pl.UInt32))
    keep = [i for i in range(n) if i not in set(rows)]
    assert got["i"].to_list() == keep
    assert got["s"].to_list() == [f"row {i}" for i in keep]
    assert got["none"].null_count() == len(keep)
    pieces = got["i"].chunk_lengths()
    assert all(got[c].chunk_lengths() == pieces for c in got.columns)
