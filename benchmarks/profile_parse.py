"""Where does gotrace's parse time go? Time each stage of the parser on the big log.

    python3 benchmarks/profile_parse.py [--lines 1000000] [--log FILE] [--chunk-lines N]
                                        [--repeat 3] [--keep DIR]
                                        [--no-breakdown] [--no-alternatives]

Calls the parser's internals (gotrace/parsers/strace.py) one stage at a time, in the
order ``parse_frames`` and ``gotrace events`` run them, summed over all chunks:

    read_blocks -> _records (the compiled core, the regexes for what it leaves) -> _add_times
    -> _attach -> _typed -> _stitch -> _events -> _check_strict -> redact_frame -> to_arrow
    -> parquet write (pyarrow here; gotrace events writes with polars' sink)

(GOTRACE_PURE_PARSER=1 profiles the pure-Python path: _records is then the regexes alone.)

then, on the first chunk, times the main expressions inside ``_records_columnar``,
``_stitch``, ``_events`` and ``redact_frame`` one by one (re-built here from
gotrace.parsers.grammar, each evaluated on its own, so the parts do not add up exactly
to the stage: they show which expression is expensive, not an exact split), and
finally times a few cheaper formulations against the current code on the same chunk,
checking that each gives the same result on this log.

Stage times are the median of --repeat pipeline runs; expression times the fastest of
--repeat tries (other work on the machine only ever adds time).

The RSS column is the process's resident memory before the stage and its peak during
the stage (VmHWM, reset before each stage through /proc/self/clear_refs), for the
chunk where that peak was highest (Linux only).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from gotrace.parsers import base
from gotrace.parsers import grammar as g
from gotrace.parsers import strace as sp
from gotrace.redact import RULES, TEXT_COLUMNS, redact_frame

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from biglog import build_log  # noqa: E402


def reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so each stage gets its own peak."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def rss_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) in MB, or (nan, nan) off Linux."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return float("nan"), float("nan")
    vals = {}
    for line in status.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            vals[key] = int(rest.split()[0]) / 1024
    return vals.get("VmRSS", float("nan")), vals.get("VmHWM", float("nan"))


class Stages:
    def __init__(self) -> None:
        self.secs: dict[str, float] = {}
        self.rss: dict[str, tuple[float, float]] = {}  # (before, peak during), worst chunk
        self.overall_peak = 0.0

    @classmethod
    def median(cls, runs: list[Stages]) -> Stages:
        """Median seconds per stage over runs; the highest memory peak of any run."""
        out = cls()
        for name in runs[0].secs:
            out.secs[name] = statistics.median(r.secs[name] for r in runs)
            out.rss[name] = max((r.rss[name] for r in runs), key=lambda x: x[1])
        out.overall_peak = max(r.overall_peak for r in runs)
        return out

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        before, hwm = rss_mb()
        self.overall_peak = max(self.overall_peak, hwm)
        reset_peak()
        t0 = time.perf_counter()
        out = fn()
        self.secs[name] = self.secs.get(name, 0.0) + time.perf_counter() - t0
        _, peak = rss_mb()
        self.overall_peak = max(self.overall_peak, peak)
        old = self.rss.get(name, (0.0, 0.0))
        if peak >= old[1]:
            self.rss[name] = (before, peak)
        return out

    def table(self, lines: int) -> str:
        total = sum(self.secs.values())
        out = [
            "| stage | seconds | share | lines/s if alone | RSS before → peak during (MB) |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, s in self.secs.items():
            before, peak = self.rss[name]
            out.append(
                f"| {name} | {s:.3f} | {s / total:5.1%} | {lines / s:,.0f} "
                f"| {before:,.0f} → {peak:,.0f} |"
            )
        out.append(
            f"| **total** | **{total:.3f}** | 100% | **{lines / total:,.0f}** "
            f"| peak {self.overall_peak:,.0f} |"
        )
        return "\n".join(out)


def profile_stages(
    log: Path, out_dir: Path, chunk_lines: int
) -> tuple[Stages, int, pl.DataFrame | None]:
    """Run the whole pipeline stage by stage; keep the first chunk's raw lines."""
    st = sp.ParseState(source=str(log))
    stages = Stages()
    chunks = base.read_blocks(log, chunk_lines)
    nxt: Callable[[], bytes | None] = lambda: next(chunks, None)  # noqa: E731
    pending = stages.run("read_blocks", nxt)
    first_line = 1
    clock: str | None = None
    first: pl.DataFrame | None = None
    writer = None
    lines = 0
    while pending is not None:
        after = stages.run("read_blocks", nxt)
        final = after is None
        block = pending
        if first is None:
            first = base.split_lines(block).to_frame()
        # the compiled core when it is built (GOTRACE_PURE_PARSER=1: the regexes alone),
        # merging pairs inside blocks as parse_frames has it do (see sp._record_chunks)
        merge = 1 if clock == "epoch" else 2 if clock is None else 0
        rec, n = stages.run("_records", lambda b=block, f=first_line, m=merge: sp._records(b, f, m))
        if clock is None:
            clock = sp._clock_of(rec.sort("line"))
        first_line += n
        lines += n
        rec = stages.run("_add_times", lambda r=rec: sp._add_times(r, st))
        rec = stages.run("_attach", lambda r=rec: sp._attach(r))
        rec = stages.run("_typed", lambda r=rec: sp._typed(r, st))
        rec = stages.run("_stitch", lambda r=rec, f=final: sp._stitch(r, st, f))
        ev = stages.run("_events", lambda r=rec: sp._events(r, st))
        stages.run("_check_strict", lambda e=ev: sp._check_strict(e, st))
        red = stages.run("redact_frame", lambda e=ev: redact_frame(e))
        table = stages.run("to_arrow", lambda r=red: r.to_arrow())
        if writer is None:
            writer = pq.ParquetWriter(out_dir / "x.parquet", table.schema, compression="zstd")
        stages.run("parquet write (zstd)", lambda t=table, w=writer: w.write_table(t))
        pending = after
    if writer is not None:
        stages.run("parquet write (zstd)", writer.close)
    return stages, lines, first


def best(fn: Callable[[], Any], n: int) -> tuple[float, Any]:
    """The fastest of ``n`` runs of ``fn`` (other work on the machine only adds time)."""
    secs, out = float("inf"), None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        secs = min(secs, time.perf_counter() - t0)
    return secs, out


Rows = list[tuple[str, float]]


def timed(df: pl.DataFrame, exprs: dict[str, pl.Expr | list[pl.Expr]], n: int) -> Rows:
    return [(name, best(lambda e=e: df.select(e), n)[0]) for name, e in exprs.items()]


def first_chunk_frames(first: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The first chunk as typed records, stitched records and events."""
    st = sp.ParseState(source="x")
    rec = sp._typed(sp._attach(sp._add_times(sp._records_columnar(first["raw"], 1), st)), st)
    stitched = sp._stitch(rec, st, True)
    return rec, stitched, sp._events(stitched, st)


def heads_of(rec: pl.DataFrame) -> pl.DataFrame:
    """``_stitch``'s pairing step: (head row, tail row) of each unfinished/resumed pair."""
    halves = (
        rec.with_row_index("_i")
        .filter(pl.col("rk").is_in(["unfinished", "resumed"]))
        .select("_i", "pid", "rk", "name", "never")
        .sort("pid", "_i")
        .with_columns(
            n_i=pl.col("_i").shift(-1).over("pid"),
            n_rk=pl.col("rk").shift(-1).over("pid"),
            n_name=pl.col("name").shift(-1).over("pid"),
        )
    )
    return halves.filter(
        (pl.col("rk") == "unfinished")
        & ~pl.col("never").fill_null(False)
        & (pl.col("n_rk") == "resumed")
        & ((pl.col("n_name") == pl.col("name")) | (pl.col("n_name") == "???"))
    )


_TAKEN = ["ret", "target", "errno", "errmsg", "extra", "retval", "duration", "unavailable"]


def expression_breakdown(first: pl.DataFrame, n: int) -> list[tuple[str, Rows]]:
    """Each of the heavy expressions, alone, on the first chunk (best of ``n``)."""
    raw = pl.col("raw")
    lead = raw.str.extract_groups("^(?P<lead>" + g.LEADER + ")")
    df = first.with_columns(lead.alias("_lead")).unnest("_lead")
    df = df.with_columns(body=raw.str.slice(pl.col("lead").str.len_chars()))
    b = pl.col("body")
    columnar = timed(first, {"leader: raw.str.extract_groups(^LEADER)": lead}, n)
    columnar += timed(
        df,
        {
            "body: raw.str.slice(len(lead))": raw.str.slice(pl.col("lead").str.len_chars()),
            "call_name: body.str.extract(^CALL_HEAD)": b.str.extract("^" + g.CALL_HEAD, 1),
            "res_name + res_head_len (2 extracts)": [
                b.str.extract("^" + g.RESUMED_HEAD, 1).alias("a"),
                b.str.extract("^(" + g.RESUMED_HEAD + ")", 1).str.len_chars().alias("b"),
            ],
            "unf_len + never (5 ends_with)": [
                pl.when(b.str.ends_with(g.UNFINISHED_NEVER))
                .then(1)
                .when(b.str.ends_with(g.UNFINISHED_SUFFIX))
                .then(2)
                .when(b.str.ends_with(g.DETACHED_SUFFIX))
                .then(3)
                .alias("a"),
                (b.str.ends_with(g.UNFINISHED_NEVER) | b.str.ends_with(g.DETACHED_SUFFIX)).alias(
                    "b"
                ),
            ],
            "tail: body.str.extract_groups(RET_TAIL)": b.str.extract_groups(g.RET_TAIL),
            "tail_pos: body.str.find(RET_TAIL)": b.str.find(g.RET_TAIL),
            "sigs: extract_groups(^SIGNAL_BODY)": b.str.extract_groups("^" + g.SIGNAL_BODY),
            "exits: extract_groups(^EXIT_BODY)": b.str.extract_groups("^" + g.EXIT_BODY),
            "ascii: len_bytes == len_chars": raw.str.len_bytes() == raw.str.len_chars(),
        },
        n,
    )

    rec, _, ev = first_chunk_frames(first)
    stitch = [
        (
            "pairing: filter halves, sort(pid), 3x shift(-1).over(pid)",
            best(lambda: heads_of(rec), n)[0],
        )
    ]
    heads = heads_of(rec)
    partner = pl.Series("partner", [None] * rec.height, dtype=pl.UInt32)
    partner = partner.scatter(heads["_i"], heads["n_i"])
    recp = rec.with_row_index("_i").with_columns(partner)
    p = pl.col("partner")
    has = p.is_not_null()
    stitch += timed(
        recp,
        {
            f"{len(_TAKEN)}x when(has).then(col.gather(partner))": [
                pl.when(has).then(pl.col(c).gather(p)).otherwise(pl.col(c)) for c in _TAKEN
            ],
            "args: when(has).then(args + args.gather(partner))": pl.when(has)
            .then(pl.col("args").fill_null("") + pl.col("args").gather(p).fill_null(""))
            .otherwise(pl.col("args")),
        },
        n,
    )
    tails = heads["n_i"].implode()
    stitch.append(
        (
            "drop tails: filter(~_i.is_in(tails))",
            best(lambda: recp.filter(~pl.col("_i").is_in(tails)), n)[0],
        )
    )
    events = timed(
        ev,
        {"fd: args.str.extract_groups(_FD_ARG)": pl.col("args").str.extract_groups(sp._FD_ARG)},
        n,
    )
    redact = []
    for col in ("args", "text", "info", "ret_target", "fd_target"):
        for i, (pattern, repl) in enumerate(RULES):
            e = pl.col(col).str.replace_all(pattern, repl)
            redact.append(
                (f"{col}: rule {i + 1} replace_all", best(lambda e=e: ev.select(e), n)[0])
            )
    return [
        ("_records_columnar", columnar),
        ("_stitch", stitch),
        ("_events", events),
        ("redact_frame (20 replace_all passes)", redact),
    ]


# --------------------------------------------------------------------------- alternatives
# Cheaper formulations measured against the current code on the same chunk. Each is
# checked for giving the same result on this log; they are experiments, not drop-in
# patches (see the caveats printed with them).

_FD_SIMPLE = r"^(-?\d+)<([^<>]*)>(?:,|$)"  # the common annotation: no nested <...>, no "->"
# Every secret RULE needs one of these (ASCII case-insensitively), and a .netrc read
# needs its fd_target; rows without any go untouched through redact_frame.
_REDACT_KEYS = [
    "authorization", "cookie", "x-api-key", "private-token", "://", "token", "password",
    "passwd", "secret", "apikey", "api_key", "access_key", "netrc", "git-credentials",
]  # fmt: skip


def fd_alternative(ev: pl.DataFrame) -> pl.DataFrame:
    args = pl.col("args")
    d = ev.select(args).with_row_index("_i")
    d = d.with_columns(_fd=args.str.extract_groups(_FD_SIMPLE)).unnest("_fd")
    misses = d.filter(pl.col("1").is_null() & args.str.contains(r"^-?\d+<"))
    full = misses.select("_i", args.str.extract_groups(sp._FD_ARG).alias("_fd")).unnest("_fd")
    return d.select("_i", "1", "2").update(full, on="_i").drop("_i")


def redact_alternative(ev: pl.DataFrame) -> pl.DataFrame:
    cols = [c for c in TEXT_COLUMNS if c in ev.columns]
    hit = pl.any_horizontal(
        [
            pl.col(c).str.contains_any(_REDACT_KEYS, ascii_case_insensitive=True)
            # (?i) in the rules folds Unicode too (e.g. the Kelvin sign is "k"): non-ASCII rows
            # always take the full path.
            | (pl.col(c).str.len_bytes() != pl.col(c).str.len_chars())
            for c in cols
        ]
    ).fill_null(False)
    mask = ev.select(hit).to_series()
    if not mask.any():
        return ev
    idx = mask.arg_true()
    sub = redact_frame(ev.filter(mask))
    return ev.with_columns([ev[c].scatter(idx, sub[c]) for c in cols])


def merge_alternative(recp: pl.DataFrame, heads: pl.DataFrame) -> pl.DataFrame:
    hi, ti = heads["_i"], heads["n_i"]
    tail = recp.select(["args", *_TAKEN, "line", "ts"])[ti]
    n = recp.height
    cols = {
        "rk": recp["rk"].scatter(hi, "call"),
        "args": recp["args"].scatter(
            hi, recp["args"][hi].fill_null("") + tail["args"].fill_null("")
        ),
        "end_line": pl.Series("end_line", dtype=pl.Int64)
        .extend_constant(None, n)
        .scatter(hi, tail["line"]),
        "res_ts": pl.Series("res_ts", dtype=pl.Float64)
        .extend_constant(None, n)
        .scatter(hi, tail["ts"]),
    }
    for c in _TAKEN:
        cols[c] = recp[c].scatter(hi, tail[c])
    return recp.with_columns(**cols)


def alternatives(
    log: Path, first: pl.DataFrame, n: int
) -> list[tuple[str, float, float, bool, str]]:
    """(what, current s, alternative s, same result, caveat)"""
    out = []
    lines = first.height

    def read_current() -> pl.Series:
        return next(base.read_chunks(log, lines))

    def read_csv() -> pl.Series:
        return pl.read_csv(
            log, has_header=False, separator="\x1f", quote_char=None, encoding="utf8-lossy",
            schema={"raw": pl.String}, n_rows=lines,
        )["raw"].fill_null("")  # fmt: skip

    t_cur, cur = best(read_current, n)
    t_alt, alt = best(read_csv, n)
    out.append(
        (
            "read a chunk: read_chunks + pl.Series → pl.read_csv(separator=\\x1f, quote_char=None, utf8-lossy)",
            t_cur, t_alt, cur.equals(alt),
            "needs a fallback for a raw 0x1f byte in the log (strace escapes them) and per-chunk byte blocks",
        )
    )  # fmt: skip

    raw = pl.col("raw")
    general = raw.str.extract_groups("^(?P<lead>" + g.LEADER + ")")
    special = raw.str.extract_groups(r"^(?P<lead>(?P<pid2>\d+) +(?P<num>\d+\.\d+) )")
    t_cur, cur = best(lambda: first.select(general).unnest("raw"), n)
    t_alt, alt = best(lambda: first.select(special).unnest("raw"), n)
    others_null = all(
        cur[c].null_count() == cur.height for c in cur.columns if c not in alt.columns
    )
    out.append(
        (
            "leader: general ^LEADER → ^(pid) +(secs) for a -f -ttt log",
            t_cur, t_alt, others_null and cur.select(alt.columns).equals(alt),
            "pick the form once per log from its first lines; lines it misses take the general one",
        )
    )  # fmt: skip

    rec, stitched, ev = first_chunk_frames(first)
    args = pl.col("args")
    t_cur, cur = best(
        lambda: stitched.select(args.str.extract_groups(sp._FD_ARG)).unnest("args"), n
    )
    t_alt, alt = best(lambda: fd_alternative(stitched), n)
    out.append(
        (
            "fd: extract_groups(_FD_ARG) → simple ^(-?\\d+)<([^<>]*)>(?:,|$), full regex on the misses",
            t_cur, t_alt, cur.equals(alt), f"{alt['1'].null_count():,} rows without an fd",
        )
    )  # fmt: skip

    heads = heads_of(rec)
    partner = pl.Series("partner", [None] * rec.height, dtype=pl.UInt32)
    recp = rec.with_row_index("_i").with_columns(partner.scatter(heads["_i"], heads["n_i"]))
    p = pl.col("partner")
    has = p.is_not_null()

    def merge_current() -> pl.DataFrame:
        return recp.with_columns(
            rk=pl.when(has).then(pl.lit("call")).otherwise(pl.col("rk")),
            args=pl.when(has)
            .then(args.fill_null("") + args.gather(p).fill_null(""))
            .otherwise(args),
            end_line=pl.col("line").gather(p),
            res_ts=pl.col("ts").gather(p),
            **{c: pl.when(has).then(pl.col(c).gather(p)).otherwise(pl.col(c)) for c in _TAKEN},
        )

    t_cur, cur = best(merge_current, n)
    t_alt, alt = best(lambda: merge_alternative(recp, heads), n)
    out.append(
        (
            "_stitch merge: when(has).then(col.gather(partner)) on every row → gather the tail rows once, scatter into the heads",
            t_cur, t_alt, cur.equals(alt), f"{heads.height:,} pairs in {rec.height:,} rows",
        )
    )  # fmt: skip

    t_cur, cur = best(lambda: redact_frame(ev), n)
    t_alt, alt = best(lambda: redact_alternative(ev), n)
    out.append(
        (
            "redact_frame: 20 replace_all on every row → str.contains_any(keywords) prefilter, rules on hit rows only",
            t_cur, t_alt, cur.equals(alt),
            "keyword list must be kept in step with RULES (a test can check each rule's examples)",
        )
    )  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000, help="size of the built log")
    ap.add_argument("--log", type=Path, help="profile this log instead of building one")
    ap.add_argument("--keep", type=Path, help="keep the log and outputs in this directory")
    ap.add_argument(
        "--chunk-lines",
        type=int,
        default=base.DEFAULT_CHUNK_LINES,
        help="lines per chunk (default: the parser's DEFAULT_CHUNK_LINES)",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="pipeline runs (median per stage); tries per expression (fastest kept)",
    )
    ap.add_argument("--no-breakdown", action="store_true", help="skip the expression timings")
    ap.add_argument("--no-alternatives", action="store_true", help="skip the experiments")
    a = ap.parse_args()

    if a.keep:
        a.keep.mkdir(parents=True, exist_ok=True)
        tmp = None
        workdir = a.keep
    else:
        tmp = tempfile.TemporaryDirectory(prefix="gotrace-profile-")
        workdir = Path(tmp.name)
    try:
        log = a.log
        if log is None:
            log = workdir / "big.strace"
            built = build_log(log, a.lines)
            print(f"log: {built.lines:,} lines, {built.copies} copies of {built.sources}")
        print(
            f"{os.cpu_count()} cores, polars {pl.__version__} ({pl.thread_pool_size()} threads), "
            f"chunk_lines={a.chunk_lines:,}, load average {os.getloadavg()[0]:.2f}\n"
        )
        runs = []
        walls = []
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            stages, lines, first = profile_stages(log, workdir, a.chunk_lines)
            walls.append(time.perf_counter() - t0)
            runs.append(stages)
        stages = Stages.median(runs)
        walls_s = ", ".join(f"{w:.2f}" for w in walls)
        print(f"## Stages ({lines:,} lines; median of {a.repeat} runs, wall {walls_s} s)\n")
        print(stages.table(lines), flush=True)
        if first is not None and not a.no_breakdown:
            print(
                f"\n## Expressions, each alone, on the first chunk ({first.height:,} lines; "
                f"fastest of {a.repeat})\n"
            )
            print("| stage | expression | seconds |\n|---|---|---:|")
            for stage, rows in expression_breakdown(first, a.repeat):
                for name, s in rows:
                    print(f"| {stage} | `{name}` | {s:.3f} |")
        if first is not None and not a.no_alternatives:
            print(
                f"\n## Cheaper formulations, same chunk ({first.height:,} lines; "
                f"fastest of {a.repeat})\n"
            )
            print("| change | now (s) | alternative (s) | speed-up | same result | note |")
            print("|---|---:|---:|---:|---|---|")
            for what, cur, alt, same, note in alternatives(log, first, a.repeat):
                print(
                    f"| {what} | {cur:.3f} | {alt:.3f} | {cur / alt:.1f}x "
                    f"| {'yes' if same else 'NO'} | {note} |"
                )
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
