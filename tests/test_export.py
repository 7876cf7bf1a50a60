"""``gotrace export --format perfetto``: valid Chrome trace-event JSON that shows the trace."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import gotrace
from gotrace.reporters.perfetto import ANALYSIS_PID, render_perfetto

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_traces"
PHASES = {"X", "B", "E", "i", "I", "b", "e", "n", "C", "M", "s", "t", "f"}


def export(name: str, **kw: Any) -> dict[str, Any]:
    t = gotrace.load(SAMPLES / name)
    doc = json.loads(render_perfetto(t.report, **kw))
    assert isinstance(doc, dict)
    return doc


def check_structure(doc: dict[str, Any]) -> None:
    """What the trace-event format asks of every event, and that async pairs match."""
    assert isinstance(doc["traceEvents"], list) and doc["traceEvents"]
    opened: Counter[tuple[str, str, str]] = Counter()
    for ev in doc["traceEvents"]:
        assert ev["ph"] in PHASES, ev
        assert type(ev["pid"]) is int and type(ev["tid"]) is int, ev
        assert isinstance(ev["name"], str) and ev["name"], ev
        if ev["ph"] == "M":
            assert ev["name"] in ("process_name", "thread_name", "process_sort_index")
            continue
        assert isinstance(ev["ts"], (int, float)) and ev["ts"] >= 0, ev
        if ev["ph"] == "X":
            assert isinstance(ev["dur"], (int, float)) and ev["dur"] >= 0, ev
        if ev["ph"] in ("b", "e"):
            key = (ev["cat"], ev["id"], ev["name"])
            opened[key] += 1 if ev["ph"] == "b" else -1
            assert opened[key] >= 0, f"async end before its begin: {ev}"
        if ev["ph"] == "i":
            assert ev["s"] in ("g", "p", "t")
    assert all(v == 0 for v in opened.values()), "an async slice is never closed"


@pytest.mark.parametrize("name", ["lock-held", "proxy-stall", "dns-timeout", "cold-ok"])
def test_export_is_valid_trace_event_json(name: str) -> None:
    check_structure(export(name))


def test_lock_held_has_its_blocked_flock_slice() -> None:
    t = gotrace.load(SAMPLES / "lock-held")
    flock = t.frame.filter((pl.col("syscall") == "flock") & pl.col("in_flight")).row(0, named=True)
    doc = export("lock-held")
    t0 = doc["otherData"]["t0"]
    slices = [e for e in doc["traceEvents"] if e["ph"] == "X" and e["name"] == "flock"]
    blocked = [e for e in slices if e["args"].get("in_flight")]
    assert len(blocked) == 1
    ev = blocked[0]
    assert ev["tid"] == flock["pid"]
    assert ev["pid"] == t.report.context.groups.tgid[flock["pid"]]
    assert ev["args"]["line"] == flock["line"]
    assert ev["ts"] == pytest.approx((flock["ts"] - t0) * 1e6, abs=1)
    # the call never returned: its slice runs to the end of the trace (the kill)
    assert ev["dur"] == pytest.approx(flock["duration"] * 1e6, rel=0.01)
    assert ev["dur"] > 2.5e6
    assert "v1.0.0.lock" in ev["args"]["args"]
    # and gotrace's own tracks name what it was: the lock-wait finding spans the same time
    finding = next(e for e in doc["traceEvents"] if e.get("name") == "error: lock-wait")
    assert finding["pid"] == ANALYSIS_PID and finding["ph"] == "X"
    assert finding["dur"] > 2.5e6


def test_modules_and_connections_are_async_slices() -> None:
    t = gotrace.load(SAMPLES / "proxy-stall")
    doc = export("proxy-stall")
    begins = [e for e in doc["traceEvents"] if e["ph"] == "b"]
    mods = {e["name"] for e in begins if e["cat"] == "module"}
    want = {f"{m['module']}@{m['version']}" for m in t.report.modules.to_dicts()}
    assert mods == want
    conns = [e for e in begins if e["cat"] == "connection"]
    assert len(conns) == len([c for c in t.report.connections if c.open_ts or c.connect_ts])
    assert any("GET /example.com/dep1/@v/v1.0.0.zip" in e["args"]["requests"] for e in conns)
    # every syscall of the trace is a slice when the trace is small
    calls = t.frame.filter(pl.col("kind") == "syscall").height
    assert doc["otherData"]["decimated"] is False
    assert (
        sum(1 for e in doc["traceEvents"] if e["ph"] == "X" and e["cat"].startswith("syscall"))
        == calls
    )


def test_big_traces_are_decimated_like_the_timeline() -> None:
    t = gotrace.load(SAMPLES / "lock-held")
    calls = t.frame.filter(pl.col("kind") == "syscall")
    doc = export("lock-held", max_slices=100)
    check_structure(doc)
    assert doc["otherData"]["decimated"] is True
    slices = [e for e in doc["traceEvents"] if e["ph"] == "X" and e["cat"].startswith("syscall")]
    counted = sum(n for e in doc["traceEvents"] if e["ph"] == "C" for n in e["args"].values())
    # each call is either drawn or counted, never both, never lost
    assert len(slices) + counted == calls.height
    assert len(slices) < calls.height
    # the blocked flock and every in-flight call are still drawn
    assert sum(1 for e in slices if e["args"].get("in_flight")) == calls["in_flight"].sum()


def test_cli_export_writes_the_file_and_refuses_bad_input(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    cmd = [sys.executable, "-m", "gotrace", "export", str(SAMPLES / "lock-held")]
    r = subprocess.run(
        [*cmd, "--format", "perfetto", "-o", str(out)], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    check_structure(json.loads(out.read_text()))
    again = subprocess.run([*cmd, "-o", str(out)], capture_output=True, text=True)
    assert again.returncode == 2 and "already exists" in again.stderr
    bad = subprocess.run([*cmd, "--format", "svg", "-o", "-"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--format" in bad.stderr and "Traceback" not in bad.stderr


def test_the_html_report_says_how_to_open_the_capture_in_perfetto() -> None:
    from gotrace.reporters.html import render_html

    page = render_html(gotrace.load(SAMPLES / "lock-held").report)
    assert 'id="open-in-perfetto"' in page
    assert f"gotrace export {SAMPLES / 'lock-held'} --format perfetto -o trace.json" in page
