"""Where ``gotrace run`` and ``gotrace lab run`` put things: relative paths are the caller's,
``--json`` is machine-readable, the command's own stdout stays its own, a lab run says
whether it reproduced its failure, and streams are read as streams."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gotrace.lab.gotool import find_go

needs_strace = pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed")
SAMPLE = Path(__file__).parent.parent / "sample_traces" / "lock-held" / "trace.strace"


def gotrace(*args: str, cwd: Path | None = None, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gotrace", *args],
        capture_output=True, text=True, timeout=180, cwd=cwd, stdin=subprocess.DEVNULL,
        **kw,  # type: ignore[call-overload]
    )  # fmt: skip


def needs_go() -> None:
    try:
        find_go()
    except Exception as exc:
        pytest.skip(str(exc))


@needs_strace
def test_run_json_file_leaves_the_commands_stdout_alone(tmp_path: Path) -> None:
    r = gotrace("run", "-o", "cap", "--json", "an.json", "--", "sh", "-c", "echo out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "out\n"
    doc = json.loads((tmp_path / "an.json").read_text())
    assert isinstance(doc, dict) and doc["verdict"] and "findings" in doc
    assert (tmp_path / "cap" / "trace.strace").exists()  # -o relative to the caller


@needs_strace
def test_run_json_dash_is_one_object_on_stdout(tmp_path: Path) -> None:
    r = gotrace("run", "-o", str(tmp_path / "cap"), "--json", "-", "--", "true")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["verdict"].startswith("exited 0") and doc["processes"]
    assert "verdict:" in r.stderr  # the text report goes to stderr as ever


@needs_strace
def test_run_json_refuses_an_existing_file_before_running(tmp_path: Path) -> None:
    (tmp_path / "an.json").write_text("{}")
    marker = tmp_path / "ran"
    r = gotrace("run", "-o", "cap", "--json", "an.json", "--", "touch", str(marker), cwd=tmp_path)
    assert r.returncode == 2 and not marker.exists()
    assert len(r.stderr.strip().splitlines()) == 1


@needs_strace
def test_lab_run_keep_is_relative_to_the_caller_and_says_it_reproduced(tmp_path: Path) -> None:
    needs_go()
    r = gotrace("lab", "run", "up-to-date", "--keep", "cap", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "cap" / "trace.strace").stat().st_size > 0
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("gotrace lab: up-to-date reproduced") and "as expected" in last
    again = gotrace("lab", "run", "up-to-date", "--keep", "cap", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr


@needs_strace
def test_lab_run_json_is_one_object_and_names_no_deleted_capture(tmp_path: Path) -> None:
    needs_go()
    r = gotrace("lab", "run", "up-to-date", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["verdict"]
    for word in [*r.stderr.split(), str(doc.get("source"))]:
        if word.startswith("/") and "gotrace-lab-capture-" in word:
            assert Path(word.rstrip(":")).exists(), f"names a deleted capture: {word}"


def test_lab_check_says_what_differed() -> None:
    from gotrace.lab.expect import check_run

    ok = check_run("p", "proxy-stall", expect_exit=None, exit_status=137, timed_out=True,
                   top_finding="proxy-stall")  # fmt: skip
    assert ok.ok and "diagnosed as expected" in ok.line
    wrong = check_run("p", "proxy-stall", expect_exit=None, exit_status=137, timed_out=True,
                      top_finding="killed")  # fmt: skip
    assert not wrong.ok and "killed" in wrong.line and "NOT diagnosed" in wrong.line
    gone = check_run("p", "proxy-refused", expect_exit=1, exit_status=0, timed_out=False,
                     top_finding="proxy-refused")  # fmt: skip
    assert not gone.ok and "NOT reproduced" in gone.line


def test_every_lab_cause_has_an_expected_finding() -> None:
    from gotrace.lab import SCENARIOS
    from gotrace.lab.expect import TOP_FINDING

    assert {sc.cause for sc in SCENARIOS.values()} <= set(TOP_FINDING)


@pytest.mark.skipif(not SAMPLE.exists(), reason="no sample_traces/ in this tree")
def test_analyze_reads_a_fifo_and_a_process_substitution(tmp_path: Path) -> None:
    want = gotrace("analyze", str(SAMPLE)).stdout
    fifo = tmp_path / "log.fifo"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"cat {SAMPLE} > {fifo}"])
    r = gotrace("analyze", str(fifo))
    writer.wait(timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.replace(str(fifo), "X") == want.replace(str(SAMPLE), "X")
    bash = subprocess.run(
        ["bash", "-c", f"{sys.executable} -m gotrace analyze <(cat {SAMPLE})"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bash.returncode == 0, bash.stderr
    assert "verdict: waited" in bash.stdout


def test_empty_stdin_is_treated_like_an_empty_file() -> None:
    stdin = gotrace("analyze", "-")
    devnull = gotrace("analyze", "/dev/null")
    assert stdin.returncode == devnull.returncode == 1
    for r in (stdin, devnull):
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert "empty" in stdin.stderr and "empty" in devnull.stderr


@pytest.mark.skipif(not SAMPLE.exists(), reason="no sample_traces/ in this tree")
@pytest.mark.parametrize("unreadable", ["trace.strace", "meta.json"])
def test_unreadable_run_directory_is_one_line(tmp_path: Path, unreadable: str) -> None:
    """Regression: a run directory whose trace could not be read was a PermissionError
    traceback. Root reads everything, so the check runs as nobody."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to drop to another user")
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="gotrace-unreadable-"))  # pytest's tmp_path is 0700
    cap = top / "cap"
    cap.mkdir()
    shutil.copy(SAMPLE, cap / "trace.strace")
    (cap / "meta.json").write_text("{}")
    (cap / unreadable).chmod(0)
    for d in (top, cap):
        d.chmod(0o755)
    try:
        r = nobody_analyze(cap)
    finally:
        shutil.rmtree(top)
    if "Permission denied" in r.stderr and "python" in r.stderr.lower():
        pytest.skip("nobody cannot run this Python here")
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip() != "" and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert str(cap / unreadable) in r.stderr and "Traceback" not in r.stderr


def test_unenterable_directory_is_one_line(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to drop to another user")
    cap = tmp_path / "cap"  # inside pytest's 0700 tmp dir: nobody cannot even look
    cap.mkdir()
    r = nobody_analyze(cap)
    assert r.returncode == 1, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert "Permission denied" in r.stderr or "permission denied" in r.stderr


def nobody_analyze(cap: Path) -> subprocess.CompletedProcess[str]:
    probe = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         sys.executable, "-c", "import gotrace.cli.app"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if probe.returncode != 0:
        pytest.skip("nobody cannot run this Python and gotrace here (a private checkout or venv)")
    return subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         sys.executable, "-m", "gotrace", "analyze", str(cap)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
