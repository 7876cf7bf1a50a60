"""Signals to ``gotrace run`` and its own timeout: the whole traced tree ends, nothing is
left behind, the capture is kept, finished in meta.json and analysed.

Regression: SIGTERM to gotrace run (a cancelled CI job, ``timeout 60 gotrace run ...``)
killed gotrace alone; strace and go kept running as orphans, meta.json had no end and
nothing was analysed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

needs_strace = pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed")


def tree_command(marker: str) -> list[str]:
    """A root that ignores SIGTERM/SIGHUP/SIGINT, with an orphaned grandchild (like git left
    behind by go) that ignores them too: only ending the whole tree stops them."""
    script = f"trap '' TERM HUP INT; ( ( exec sleep {marker}1 ) & ); exec sleep {marker}2"
    return ["bash", "-c", script]


def leftovers(marker: str) -> list[str]:
    ps = subprocess.run(["ps", "-eo", "pid,stat,args"], capture_output=True, text=True).stdout
    return [ln for ln in ps.splitlines() if marker in ln and " Z" not in ln and "ps -eo" not in ln]


def start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], Path, str]:
    marker = f"{4000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6:06d}"
    out = tmp_path / "cap"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gotrace", "run", "-o", str(out), *args, "--",
         *tree_command(marker)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while len(leftovers(marker)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(leftovers(marker)) >= 2, "the traced tree never started"
    return proc, out, marker


@needs_strace
@pytest.mark.parametrize(
    ("sig", "backend"),
    [
        (signal.SIGTERM, "strace"),
        (signal.SIGHUP, "strace"),
        (signal.SIGINT, "strace"),
        (signal.SIGTERM, "ptrace"),
    ],
    ids=["SIGTERM-strace", "SIGHUP-strace", "SIGINT-strace", "SIGTERM-ptrace"],
)
def test_signal_to_run_ends_the_tree_keeps_and_analyses_the_capture(
    tmp_path: Path, sig: signal.Signals, backend: str
) -> None:
    proc, out, marker = start(tmp_path, "--backend", backend)
    time.sleep(0.5)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, stderr
    assert f"interrupted by {sig.name}" in stderr and "Traceback" not in stderr
    assert "verdict:" in stderr
    time.sleep(0.3)
    assert leftovers(marker) == [], "a traced process outlived gotrace"
    meta = json.loads((out / "meta.json").read_text())
    assert meta["end"] >= meta["start"] and meta["exit_status"] is not None
    assert meta["received_signal"] == sig.name and meta["interrupted"] is True
    sent = meta["gotrace_signals"]
    assert sent[0]["signal"] == sig.name and sent[0]["why"] == "forwarded"
    assert sent[0]["pid"] == meta["root_pid"]
    # the root and the orphan ignore the signal: the tree had to be killed
    assert any(s["signal"] == "SIGKILL" and s["why"] == "cleanup" for s in sent)
    assert (out / "trace.strace").stat().st_size > 0 and (out / "events.parquet").exists()
    assert stdout == ""


@needs_strace
def test_timeout_ends_the_whole_tree_and_passes_the_status_through(tmp_path: Path) -> None:
    proc, out, marker = start(tmp_path, "--timeout", "1")
    stdout, stderr = proc.communicate(timeout=60)
    assert stdout == ""
    assert proc.returncode == 128 + signal.SIGKILL, stderr  # the command's own end
    assert "timeout of 1 s reached" in stderr and "verdict:" in stderr
    assert leftovers(marker) == []
    meta = json.loads((out / "meta.json").read_text())
    assert meta["timed_out"] is True and meta["received_signal"] is None
    whys = {(s["signal"], s["why"]) for s in meta["gotrace_signals"]}
    assert ("SIGTERM", "timeout") in whys and ("SIGKILL", "timeout") in whys


@needs_strace
def test_second_signal_stops_at_once(tmp_path: Path) -> None:
    proc, out, marker = start(tmp_path)
    time.sleep(0.5)
    t0 = time.monotonic()
    assert (out / "meta.json").exists()
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert time.monotonic() - t0 < 5.0  # no 5 s grace once the user insisted
    assert leftovers(marker) == []


def test_no_subreaper_left_behind_in_process() -> None:
    """execute() makes gotrace a child subreaper only for the run (a test suite runs many)."""
    from gotrace.tracer.tree import RunTree, set_subreaper

    before = set_subreaper(False)
    assert before is not None
    tree = RunTree()
    assert set_subreaper(True) is True  # it was on during the run
    tree.close()
    assert set_subreaper(False) is False
    if before:
        set_subreaper(True)
    assert os.getpid() == tree.me
