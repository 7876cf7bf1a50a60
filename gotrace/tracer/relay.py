"""The tracer writes its log into a pipe; a thread here copies it into the log file.

A full disk, a quota or an unwritable output then stops the copy, not the tracer: strace
would otherwise print one ``No space left on device`` line for every trace line on the
user's terminal, and a ptrace tracer would die on its first failed write (and take the
command with it). The tracer keeps writing into the pipe, the relay keeps draining it,
the command runs on to its own exit status, and the log holds everything up to the point
the disk filled.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import threading
from pathlib import Path

#: fcntl's F_SETPIPE_SZ (Linux): a bigger pipe lets the tracer run ahead of the relay
F_SETPIPE_SZ = 1031
PIPE_SIZE = 1 << 20
CHUNK = 1 << 20


class LogRelay:
    """``fifo`` is the path the tracer writes to; ``log`` where the bytes end up.

    ``error`` is the OSError that stopped the copy (ENOSPC, EDQUOT, EIO...), ``written`` the
    bytes the log holds and ``dropped`` those the tracer wrote after the error."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.written = 0
        self.dropped = 0
        self.error: OSError | None = None
        self._closed = False
        self._out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        self._dir = tempfile.mkdtemp(prefix="gotrace-log-")
        self.fifo = Path(self._dir) / "trace.fifo"
        os.mkfifo(self.fifo, 0o600)
        self._read = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        # Our own write end keeps the reader from seeing end-of-file before the tracer has
        # opened the pipe; it is closed once the tracer has exited.
        self._keep: int | None = os.open(self.fifo, os.O_WRONLY | os.O_CLOEXEC)
        os.set_blocking(self._read, True)
        with contextlib.suppress(OSError):
            fcntl.fcntl(self._read, F_SETPIPE_SZ, PIPE_SIZE)
        self._thread = threading.Thread(target=self._copy, name="gotrace-log-relay", daemon=True)
        self._thread.start()

    def writer_fd(self) -> int:
        """A write end of the pipe for a tracer that takes a file descriptor (close-on-exec)."""
        return os.open(self.fifo, os.O_WRONLY | os.O_CLOEXEC)

    def _copy(self) -> None:
        while True:
            try:
                data = os.read(self._read, CHUNK)
            except InterruptedError:
                continue
            if not data:
                break
            if self.error is not None:
                self.dropped += len(data)
                continue
            view = memoryview(data)
            while view:
                try:
                    n = os.write(self._out, view)
                except InterruptedError:
                    continue
                except OSError as exc:
                    self.error = exc
                    self.dropped += len(view)
                    break
                self.written += n
                view = view[n:]
        with contextlib.suppress(OSError):
            os.close(self._out)

    def close(self, timeout: float = 10.0) -> None:
        """After the tracer has exited: let the copy reach the end of the pipe and stop."""
        if self._closed:
            return
        self._closed = True
        if self._keep is not None:
            os.close(self._keep)
            self._keep = None
        self._thread.join(timeout)
        if not self._thread.is_alive():
            with contextlib.suppress(OSError):
                os.close(self._read)
        shutil.rmtree(self._dir, ignore_errors=True)

    def describe_error(self) -> str | None:
        """One line for the user when the copy stopped, naming the path and what was kept."""
        if self.error is None:
            return None
        why = self.error.strerror or str(self.error)
        return (
            f"{self.log}: {why}: the trace stops after {_size(self.written)} "
            f"({_size(self.dropped)} more were traced and not kept); the command ran on"
        )


def _size(n: int) -> str:
    for unit, scale in (("MB", 1_000_000), ("kB", 1_000)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"
