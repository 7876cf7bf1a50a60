"""Lab scenarios traced live with real go under real strace (loopback only)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed"),
]


def lab_run(name: str, keep: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-m", "gotrace", "lab", "run", name, "--keep", str(keep), *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return r, time.monotonic() - t0


def test_proxy_stall_shows_the_request_and_no_answer(tmp_path: Path):
    keep = tmp_path / "cap"
    r, _ = lab_run("proxy-stall", keep, "--quiet-after", "1")
    assert r.returncode == 0, r.stderr  # reproduced and diagnosed as expected
    meta = json.loads((keep / "meta.json").read_text())
    assert meta["exit_status"] == 128 + 9  # the scenario's outer timeout SIGKILLs go
    port = int(re.search(r":(\d+)", meta["env"]["GOPROXY"]).group(1))
    ev = pl.read_parquet(keep / "events.parquet")
    conns = ev.filter(
        (pl.col("syscall") == "connect")
        & pl.col("args").str.contains(f"htons({port})", literal=True)
    )
    assert conns.height >= 1
    # the GET of a zip was written on a socket to the proxy port ...
    gets = ev.filter(
        (pl.col("syscall") == "write")
        & pl.col("fd_target").str.contains(f"127.0.0.1:{port}]", literal=True)
        & pl.col("args").str.contains(r"GET /example\.com/dep\d/@v/v1\.0\.0\.zip")
    )
    assert gets.height >= 1
    # ... and the quiet line named it while go was still blocked, before the timeout
    quiet = [ln for ln in r.stderr.splitlines() if "quiet for" in ln]
    assert quiet and f"127.0.0.1:{port}" in quiet[0] and ".zip" in quiet[0]
    assert r.stderr.index(quiet[0]) < r.stderr.index("timeout of")
    assert ev.filter(pl.col("kind") == "kill")["signal"].to_list()[-1] == "SIGKILL"


def test_quiet_line_arrives_within_quiet_after_plus_two_seconds(tmp_path: Path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "gotrace", "lab", "run", "proxy-stall", "--quiet-after", "1",
         "--keep", str(tmp_path / "cap")],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    seen = None
    t0 = None
    for line in proc.stderr:
        if line.startswith("scenario proxy-stall"):
            t0 = time.monotonic()
        if "quiet for" in line:
            seen = time.monotonic()
            break
    proc.wait(timeout=60)
    assert t0 is not None and seen is not None
    # the lab's go stalls well under 1 s after it starts; allow for strace and go start-up
    assert seen - t0 < 1 + 2 + 1.5


def test_up_to_date_makes_no_socket(tmp_path: Path):
    keep = tmp_path / "cap"
    r, _ = lab_run("up-to-date", keep)
    assert r.returncode == 0, r.stderr
    ev = pl.read_parquet(keep / "events.parquet")
    assert ev.filter(pl.col("syscall").is_in(["socket", "connect"])).height == 0
    assert ev.filter(pl.col("kind") == "exit")["status"].to_list()[-1] == 0


def test_lab_run_cleans_up_its_temp_dirs(tmp_path: Path):
    private = tmp_path / "tmp"
    private.mkdir()
    r = subprocess.run(
        [sys.executable, "-m", "gotrace", "lab", "run", "cold-ok", "--keep", str(tmp_path / "cap")],
        capture_output=True, text=True, timeout=120, env={**os.environ, "TMPDIR": str(private)},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    workdir = json.loads((tmp_path / "cap" / "meta.json").read_text())["lab"]["workdir"]
    assert workdir.startswith(str(private))  # the lab really worked in there ...
    assert list(private.iterdir()) == []  # ... and left nothing behind


@pytest.mark.parametrize("name", ["proxy-stall", "lock-held", "stderr-devnull"])
def test_live_and_offline_findings_are_identical(tmp_path: Path, name: str):
    keep = tmp_path / "cap"
    r, _ = lab_run(name, keep, "--json")
    live = json.loads(r.stdout)  # --json: one object on stdout, nothing else
    offline = subprocess.run(
        [sys.executable, "-m", "gotrace", "analyze", "--json", str(keep)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert offline.returncode == 0, offline.stderr
    again = json.loads(offline.stdout)
    assert live["verdict"] == again["verdict"]
    assert live["findings"] == again["findings"]
    assert live["quiet_periods"] == again["quiet_periods"]


def test_ctrl_c_in_lab_run_keeps_the_trace_and_cleans_up(tmp_path: Path):
    """Ctrl-C while go is stalled: the capture is kept and analysed, every helper the lab
    started (proxy threads, lock holder, temp dirs) is gone."""
    import signal
    import time

    private = tmp_path / "tmp"
    private.mkdir()
    keep = tmp_path / "cap"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gotrace", "lab", "run", "lock-held", "--keep", str(keep),
         "--quiet-after", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TMPDIR": str(private)},
    )  # fmt: skip
    assert proc.stderr is not None
    for line in proc.stderr:
        if "quiet for" in line:
            break
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    proc.wait(timeout=60)
    assert "interrupted" in rest and "Traceback" not in rest
    # Ctrl-C is gotrace's own signal: never the cause; the verdict says what go waited on
    assert "verdict: stopped by a SIGINT gotrace forwarded" in rest
    assert ": waited " in rest and "v1.0.0.lock" in rest
    assert (keep / "trace.strace").exists() and (keep / "events.parquet").exists()
    assert json.loads((keep / "meta.json").read_text())["interrupted"] is True
    time.sleep(0.5)
    assert list(private.iterdir()) == []
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(private) not in ps  # no lab helper (the lock holder runs in the workdir) is left
