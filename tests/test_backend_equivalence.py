"""Every backend that sees syscalls reaches the same top finding (kind and object) as the
strace capture of the same lab scenario in sample_traces/."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gotrace
from gotrace.lab import SCENARIOS

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.integration


def normalise(obj: str) -> str:
    obj = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", obj)
    obj = re.sub(r"/tmp/gotrace-lab-[^/]+", "/WORK", obj)
    obj = re.sub(r"\bpid \d+", "pid N", obj)
    return re.sub(r"dep\d", "depN", obj)


def top_finding(trace: gotrace.Trace) -> tuple[str, str]:
    f = trace.analysis.findings[0] if trace.analysis.findings else None
    if f is None:
        return ("none", "")
    return (f.kind, normalise(f.objects[0]) if f.objects else "")


def _ebpf_refused() -> str | None:
    from gotrace.tracer.ebpf import unavailable

    return unavailable()


@pytest.mark.parametrize("backend", ["ptrace", "ebpf"])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_backend_finds_what_strace_found(tmp_path: Path, name: str, backend: str):
    sc = SCENARIOS[name]
    reason = sc.unavailable()
    if reason:
        pytest.skip(reason)
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed: the strace captures are the reference")
    if backend == "ebpf" and (refused := _ebpf_refused()):
        pytest.skip(f"this machine refuses the ebpf backend: {refused}")
    keep = tmp_path / "cap"
    r = subprocess.run(
        [sys.executable, "-m", "gotrace", "lab", "run", name, "--backend", backend, "--keep", str(keep)],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert (keep / "trace.strace").exists(), r.stderr
    assert json.loads((keep / "meta.json").read_text())["backend"]["name"] == backend
    got = top_finding(gotrace.load(keep))
    want = top_finding(gotrace.load(ROOT / "sample_traces" / name))
    assert got == want, r.stderr[-2000:]
