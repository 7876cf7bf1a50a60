"""What every backend that runs the command as a child process does the same way."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

from gotrace.errors import GotraceError
from gotrace.tracer.relay import LogRelay


def tool_version(argv: list[str], pattern: str) -> str:
    """The version a tracer program prints (group 1 of ``pattern``), or ``unknown``."""
    import re

    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    m = re.search(pattern, out)
    return m.group(1) if m else "unknown"


def open_relay(log: Path) -> LogRelay | None:
    """The pipe a tracer writes its log into (see :mod:`gotrace.tracer.relay`); None where no
    FIFO can be made, and the tracer then writes ``log`` itself."""
    try:
        return LogRelay(log)
    except FileNotFoundError as exc:
        raise GotraceError(f"{log}: cannot write the trace ({exc.strerror})") from exc
    except PermissionError as exc:
        raise GotraceError(f"{log}: cannot write the trace ({exc.strerror})") from exc
    except OSError:
        return None


class ProcessBackend:
    """Process control shared by the backends: signal the traced command, stop it (SIGTERM,
    then SIGKILL), wait for the capture to end, and make sure nothing outlives gotrace.
    ``proc`` is the child gotrace started (the tracer, or the command itself);
    ``root_pid`` the traced command's pid once known."""

    proc: subprocess.Popen[bytes] | None = None
    root_pid: int | None = None
    relay: LogRelay | None = None

    def poll_root(self) -> int | None:
        return self.root_pid

    def signal_command(self, sig: int) -> None:
        root = self.poll_root()
        if root is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(root, sig)

    def stop_command(self, grace: float = 3.0) -> None:
        """SIGTERM the traced command, then SIGKILL if it is still there after ``grace``."""
        self.signal_command(signal.SIGTERM)
        try:
            self.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.signal_command(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill_all(self) -> None:
        """Last resort: nothing we started may outlive gotrace."""
        if self.proc is None:
            return
        self.signal_command(signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
