"""A full disk under ``gotrace run -o DIR``: the capture stops cleanly, one line names the
path and what was kept, the command runs on and its own exit status is passed through.

Regression: 14,000 lines of ``strace: ... No space left on device``, a traceback from the
sampler thread, the exit status replaced by 1 and no analysis.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    mnt = tmp_path / "full"
    mnt.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=192k", "gotrace-test-full", str(mnt)],
        capture_output=True, text=True,
    )  # fmt: skip
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run(["umount", "-l", str(mnt)], check=True, capture_output=True)


#: many traced calls (several MB of trace), then a status of its own
BUSY = ["bash", "-c", "for i in $(seq 1 3000); do : < /etc/hostname; done; echo done; exit 3"]


@pytest.mark.parametrize("backend", ["strace", "ptrace"])
def test_full_disk_keeps_the_start_and_passes_the_status_through(
    small_disk: Path, backend: str
) -> None:
    if backend == "strace" and shutil.which("strace") is None:
        pytest.skip("strace not installed")
    out = small_disk / "cap"
    r = subprocess.run(
        [sys.executable, "-m", "gotrace", "run", "--backend", backend, "-o", str(out), "--",
         *BUSY],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert r.returncode == 3, r.stderr  # the command's own status, not gotrace's 1
    assert r.stdout == "done\n"  # the command ran to its end
    assert "Traceback" not in r.stderr
    full = [ln for ln in r.stderr.splitlines() if "No space left on device" in ln]
    # one line for the trace (and at most one each for the samples and the events file)
    assert 1 <= len(full) <= 3, r.stderr
    trace_line = next(ln for ln in full if "trace.strace" in ln)
    assert str(out / "trace.strace") in trace_line and "the trace stops after" in trace_line
    assert not any(ln.startswith("strace:") for ln in r.stderr.splitlines())
    kept = (out / "trace.strace").stat().st_size
    assert 0 < kept <= 192 * 1024
    assert "verdict:" in r.stderr  # what was kept is still analysed


def test_unwritable_output_is_one_line_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    target = tmp_path / "file-not-dir"
    target.write_text("x")
    r = subprocess.run(
        [sys.executable, "-m", "gotrace", "run", "-o", str(target / "cap"), "--",
         "touch", str(marker)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1 and str(target) in r.stderr
    assert not marker.exists()
