"""Fuzz: real strace lines (every fixture in tests/data/strace), damaged the ways logs get
damaged: numbers widened past any real value, lines cut short, the program's text spliced
into a line. The parser never raises, each damaged line costs at most one ``parse_error``,
and the analysis of such a log still ends in a verdict."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import polars as pl
from conftest import DATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gotrace
from gotrace.model.events import EVENT_SCHEMA
from gotrace.parsers.lines import parse_line, split_return
from gotrace.parsers.strace import parse_text

KINDS = {"syscall", "signal", "exit", "kill", "exec", "notice", "output", "parse_error"}
FIXTURES = sorted(p for p in DATA.rglob("*.strace*") if p.is_file() and "summary" not in p.name)
LINES = [
    ln
    for p in FIXTURES
    for ln in p.read_text(errors="replace").splitlines()
    if ln.strip() and parse_line(ln)["rk"] != "error"
]
DIGITS = re.compile(r"\d+")


PROGRAM_TEXT = st.text("abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=30).filter(
    lambda t: t[0] != " "
)


def call_cut(line: str) -> int | None:
    """Where strace itself would be cut by the program's output: after the arguments, before
    ``) = ret`` or `` <unfinished ...>`` (``None`` for lines that are not such calls)."""
    rec = parse_line(line)
    if rec["rk"] == "unfinished" and not rec.get("never") and line.endswith(" <unfinished ...>"):
        return len(line) - len(" <unfinished ...>")
    if rec["rk"] == "call":
        parts = split_return(line)
        return len(parts[0]) if parts else None
    return None


CALLS = [ln for ln in LINES if call_cut(ln) is not None]


@st.composite
def damaged(draw: st.DrawFn) -> tuple[str, int]:
    """A real line, damaged; the text (one or more lines) and how many parse errors it may
    cost."""
    how = draw(st.sampled_from(["widen", "cut", "garble", "splice"]))
    if how == "splice":
        # as strace without -o shows it: the program's text after the arguments, the rest
        # of the call on a later line; no parse error at all
        line = draw(st.sampled_from(CALLS))
        at = call_cut(line)
        assert at is not None
        program = draw(st.lists(PROGRAM_TEXT, min_size=1, max_size=3))
        return "\n".join([line[:at] + program[0], *program[1:], line[at:]]), 0
    line = draw(st.sampled_from(LINES))
    if how == "widen":
        runs = list(DIGITS.finditer(line))
        if not runs:
            return line, 0
        m = draw(st.sampled_from(runs[:6]))  # the leader, the return, the duration, fds
        extra = draw(st.text("0123456789", min_size=12, max_size=40))
        return line[: m.end()] + extra + line[m.end() :], 1
    cut = draw(st.integers(min_value=1, max_value=max(1, len(line) - 1)))
    if how == "cut":
        return line[:cut], 1
    program = draw(st.lists(PROGRAM_TEXT, max_size=3))
    return "\n".join([line[:cut] + "\n".join(program), line[cut:]]), 2 + len(program)


@st.composite
def logs(draw: st.DrawFn) -> tuple[str, int]:
    fixture = draw(st.sampled_from([p for p in FIXTURES if p.stat().st_size < 60_000]))
    real = fixture.read_text(errors="replace").splitlines()
    start = draw(st.integers(min_value=0, max_value=max(0, len(real) - 40)))
    body = real[start : start + 40]
    damage = draw(st.lists(damaged(), min_size=1, max_size=4))
    bad = 0
    for text, n in damage:
        at = draw(st.integers(min_value=0, max_value=len(body)))
        body.insert(at, text)
        bad += n
    return "\n".join(body) + "\n", bad


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log=logs())
def test_parser_never_raises_and_each_damaged_line_costs_at_most_one_error(
    log: tuple[str, int],
) -> None:
    text, bad = log
    df = parse_text(text)
    assert df.schema == pl.Schema(EVENT_SCHEMA)
    assert set(df["kind"].unique().to_list()) <= KINDS
    assert (df["kind"] == "parse_error").sum() <= bad
    ts = df["ts"].drop_nulls()
    assert ts.len() == 0 or float(ts.abs().max()) < 1e11  # no stamp beyond the year 5000


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log=logs())
def test_analysis_of_a_damaged_log_still_has_a_verdict(
    log: tuple[str, int], tmp_path_factory
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("fuzz") / "damaged.strace"
    path.write_text(log[0])
    t = gotrace.load(path)
    assert isinstance(t.verdict, str) and t.verdict


def test_a_twenty_digit_pid_is_one_parse_error_and_analyze_gives_a_verdict(tmp_path: Path) -> None:
    # issue 10: this log ended in a polars InvalidOperationError traceback, no verdict
    lines = (DATA / "f_pid.strace").read_text().splitlines()
    pid = lines[3].split()[0]
    lines[3] = "12345678901234567890" + lines[3][len(pid) :]
    log = tmp_path / "bad.strace"
    log.write_text("\n".join(lines) + "\n")
    r = subprocess.run(
        [sys.executable, "-m", "gotrace", "analyze", "--json", str(log)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    import json

    out = json.loads(r.stdout)
    assert out["parse_errors"]["count"] == 1
    assert out["verdict"]
