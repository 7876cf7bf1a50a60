"""The project's own checks, run as part of the test command so CI runs them too."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PY_DIRS = [d for d in ("gotrace", "tests", "benchmarks", "sample_traces") if (ROOT / d).is_dir()]


@pytest.mark.parametrize(
    "cmd",
    [
        ["ruff", "check", *PY_DIRS],
        ["ruff", "format", "--check", *PY_DIRS],
        [sys.executable, "-m", "mypy", "--strict", "gotrace"],
    ],
    ids=["ruff-check", "ruff-format", "mypy-strict"],
)
def test_tool_is_clean(cmd: list[str]) -> None:
    if cmd[0] == "ruff" and shutil.which("ruff") is None:
        cmd = [sys.executable, "-m", *cmd]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
