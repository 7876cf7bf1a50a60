"""``gotrace run`` end to end under real strace: exit status, timeout, Ctrl-C, files, errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from gotrace.cli.run import add_go_x

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")


def gotrace(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gotrace", *args], capture_output=True, text=True, timeout=timeout
    )


def test_exit_status_passes_through_and_files_are_written(tmp_path: Path):
    out = tmp_path / "cap"
    r = gotrace("run", "-o", str(out), "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert r.returncode == 3
    assert r.stdout == "out\n"  # the command's own output reaches the user unchanged
    assert r.stderr.startswith("err\n")
    for name in ("trace.strace", "meta.json", "events.parquet"):
        assert (out / name).exists()
    meta = json.loads((out / "meta.json").read_text())
    assert meta["argv"] == ["sh", "-c", "echo out; echo err >&2; exit 3"]
    assert meta["exit_status"] == 3 and meta["signal"] is None
    assert meta["backend"]["name"] == "strace"
    ev = pl.read_parquet(out / "events.parquet")
    assert ev.filter(pl.col("kind") == "exit")["status"].to_list() == [3]
    # the report is what `gotrace analyze DIR` prints
    assert "[exit 3]" in r.stderr
    again = gotrace("analyze", str(out))
    assert again.returncode == 0 and "[exit 3]" in again.stdout


def test_killed_by_signal_exits_128_plus_n(tmp_path: Path):
    r = gotrace("run", "-o", str(tmp_path / "c"), "--", "sh", "-c", "kill -TERM $$")
    assert r.returncode == 128 + signal.SIGTERM
    assert "killed by SIGTERM" in r.stderr


def test_timeout_stops_the_command_and_still_saves_and_analyses(tmp_path: Path):
    out = tmp_path / "c"
    t0 = time.monotonic()
    r = gotrace(
        "run", "-o", str(out), "--timeout", "1", "--quiet-after", "0.5", "--", "sleep", "30"
    )
    assert time.monotonic() - t0 < 20
    assert r.returncode == 128 + signal.SIGTERM
    assert "timeout" in r.stderr
    meta = json.loads((out / "meta.json").read_text())
    assert meta["timed_out"] is True
    assert "quiet for" in r.stderr and "clock_nanosleep" in r.stderr
    ev = pl.read_parquet(out / "events.parquet")
    sleeping = ev.filter(pl.col("syscall") == "clock_nanosleep")
    # the signal interrupted the sleep (ERESTART_RESTARTBLOCK), then killed the process
    assert sleeping.height == 1 and sleeping["errno"][0].startswith("ERESTART")
    assert ev.filter(pl.col("kind") == "kill")["signal"].to_list() == ["SIGTERM"]


def test_ctrl_c_is_forwarded_and_nothing_is_lost(tmp_path: Path):
    out = tmp_path / "c"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gotrace", "run", "-o", str(out), "--", "sleep", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while (
        not (out / "trace.strace").exists()
        or b"clock_nanosleep" not in (out / "trace.strace").read_bytes()
    ):
        assert time.monotonic() < deadline, "strace never started"
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGINT
    assert "interrupted" in err and "Traceback" not in err
    meta = json.loads((out / "meta.json").read_text())
    assert meta["interrupted"] is True and meta["signal"] == "SIGINT"
    assert (out / "events.parquet").exists()
    assert "clock_nanosleep" in (out / "trace.strace").read_text()


def test_errors_are_one_line(tmp_path: Path):
    r = gotrace("run", "-o", str(tmp_path / "c"), "--", "no-such-command-xyz")
    assert (
        r.returncode == 1
        and r.stderr.strip() == "gotrace: error: no-such-command-xyz: command not found"
    )
    assert not (tmp_path / "c").exists()
    (tmp_path / "d").mkdir()
    r = gotrace("run", "-o", str(tmp_path / "d"), "--", "true")
    assert r.returncode == 2 and "already exists" in r.stderr
    r = gotrace("run", "-o", "/proc/no/such/dir", "--", "true")
    assert r.returncode == 1 and "not writable" in r.stderr and "Traceback" not in r.stderr


def test_go_x_goes_after_the_subcommand():
    assert add_go_x(["go", "mod", "download"]) == ["go", "mod", "download", "-x"]
    assert add_go_x(["/usr/bin/go", "build", "./..."]) == ["/usr/bin/go", "build", "-x", "./..."]
    assert add_go_x(["make"]) == ["make"]


def test_secrets_in_the_environment_are_redacted_in_meta(tmp_path: Path):
    out = tmp_path / "c"
    env = {**os.environ, "GOPROXY": "https://user:s3cret@proxy.invalid", "GITHUB_TOKEN": "ghp_abc"}
    r = subprocess.run(
        [sys.executable, "-m", "gotrace", "run", "-o", str(out), "--", "true"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    text = (out / "meta.json").read_text()
    assert "s3cret" not in text and "ghp_abc" not in text
    assert json.loads(text)["env"]["GOPROXY"] == "https://[REDACTED]@proxy.invalid"


def test_progress_and_quiet_line_on_a_terminal(tmp_path: Path):
    """On a TTY, stderr shows a live status line (rewritten in place) and then the quiet line."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gotrace", "run", "-o", str(tmp_path / "c"), "--quiet-after", "1",
         "--", "sh", "-c", "ls / >/dev/null; sleep 3"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave,
    )  # fmt: skip
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    out = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0
    assert "\r\x1b[2K" in out and "threads/processes" in out  # the status line, redrawn (rich)
    assert "quiet for" in out and "clock_nanosleep" in out


def test_ptrace_refused_is_one_clear_line(tmp_path: Path):
    """A tracer that cannot attach (here a stand-in strace that fails as a confined one does)
    gives one line that names the likely cause and a backend that needs no ptrace."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "strace").write_text(
        "#!/bin/sh\n"
        '[ "$1" = -V ] && { echo "strace -- version 6.1"; exit 0; }\n'
        'echo "strace: test_ptrace_get_syscall_info: PTRACE_TRACEME: Operation not permitted" >&2\n'
        "exit 1\n"
    )
    (fake / "strace").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    r = subprocess.run(
        [sys.executable, "-m", "gotrace", "run", "-o", str(tmp_path / "c"), "--", "true"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert r.returncode == 1
    assert "Operation not permitted" in r.stderr  # strace's own words are not hidden
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("gotrace: error: strace could not trace true")
    assert "ptrace_scope" in last and "--backend sampler" in last
    assert "Traceback" not in r.stderr
