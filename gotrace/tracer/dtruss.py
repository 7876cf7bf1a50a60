"""Capture with dtruss on macOS: build the command line, start it, stop the traced command.

Capture only, like :mod:`gotrace.tracer.strace`: the raw log goes to a file and is parsed
later by :mod:`gotrace.parsers.dtruss`. The command run is
``sudo -E dtruss -e -l -f -b 32m COMMAND... 2> LOG``.

What this backend cannot do, because of how dtruss works (say so wherever it is used):

- dtruss prints a call when it *returns*; a call that is blocked is not in the log at all
  (``gotrace.parsers.dtruss.LIMITATIONS``). SIP hides Apple-signed programs such as
  ``/usr/bin/git``, and dtrace refuses to start one as the command itself.
- dtruss writes only to stderr (``dtrace ... >&2``) and the command inherits that stderr,
  so **the command's own stderr goes into the log**, mixed with the trace, and is not shown
  on the terminal (the parser records those lines as ``parse_error``, "not dtruss output").
  ``stderr_devnull`` cannot be honoured for the same reason. The command's stdout is the
  user's, unchanged.
- dtrace needs root: stock dtruss runs the command **as root** through sudo (``-E`` keeps
  the environment, so GOPROXY, GOFLAGS and HOME reach go if sudoers allows it), and files
  the command creates, such as module-cache entries, are owned by root.
- dtruss joins the command into one string for ``dtrace -c``, which splits it at blanks
  again, so an argument containing whitespace cannot be passed (:func:`build_argv` refuses).
- ``dtrace -c`` exits 0 when the command ends, and ``exit()`` never returns, so dtruss
  never prints it: :meth:`DtrussBackend.wait` returns dtrace's status, **not** the
  command's (``exit_status_known`` is False).
- dtruss ``-f`` follows ``fork``/``vfork`` children, which is how Go starts git on macOS;
  stock dtruss misses children started with ``posix_spawn``.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

from gotrace.errors import GotraceError
from gotrace.tracer.base import Backend, Child, Launch

#: dtruss -b: dynamic variable buffer. The default 4m drops events on a busy go
#: ("dtrace: N dynamic variable drops"); microsoft/scalar's patched dtruss defaults to ~30MB.
DEFAULT_BUFSIZE = "32m"
NOT_MACOS = (
    "--backend dtruss works only on macOS (dtruss is a DTrace script); "
    "on Linux use --backend strace"
)


def is_macos() -> bool:
    # A call, not an inline sys.platform test: mypy would drop the rest of the class as
    # unreachable when it checks on Linux.
    return sys.platform == "darwin"


def dtruss_path() -> str | None:
    found = shutil.which("dtruss")
    if found is None and Path("/usr/bin/dtruss").exists():
        found = "/usr/bin/dtruss"
    return found


def macos_version() -> str:
    """dtruss has no version flag; it ships with macOS, so the OS version stands for it."""
    release = platform.mac_ver()[0]
    return f"macOS {release}" if release else "unknown"


def build_argv(
    exe: str,
    command: Sequence[str],
    *,
    sudo: str | None = "sudo",
    follow: bool = True,
    bufsize: str = DEFAULT_BUFSIZE,
) -> list[str]:
    """``sudo -E dtruss -e -l -f -b 32m COMMAND...``: -e for each call's elapsed time (the
    only duration dtruss has), -l for the pid/thread column even without children, -f to
    follow the git processes go forks. No -s (a stack per line) and no -c (counts only)."""
    if not command:
        raise GotraceError("no command given")
    for arg in command:
        if not arg or any(ch.isspace() for ch in arg):
            raise GotraceError(
                f"{arg!r}: dtruss passes the command to dtrace as one string split at blanks, "
                "so an empty argument or one with whitespace cannot be traced"
            )
    argv = [sudo, "-E"] if sudo else []
    argv += [exe, "-e", "-l"]
    if follow:
        argv.append("-f")
    argv += ["-b", bufsize]
    return [*argv, *command]


def command_pid(rows: Iterable[tuple[int, int, str]], top: int) -> int | None:
    """The traced command in a ``ps -A -o pid=,ppid=,comm=`` listing: the first child of the
    ``dtrace`` process that descends from ``top`` (sudo -> dtruss -> dtrace -> command)."""
    table = list(rows)
    below = {top}
    grew = True
    while grew:
        grew = False
        for pid, ppid, _ in table:
            if ppid in below and pid not in below:
                below.add(pid)
                grew = True
    tracers = {pid for pid, _, comm in table if pid in below and Path(comm).name == "dtrace"}
    kids = sorted(pid for pid, ppid, _ in table if ppid in tracers)
    return kids[0] if kids else None


def ps_rows() -> list[tuple[int, int, str]]:
    try:
        out = subprocess.run(
            ["ps", "-A", "-o", "pid=,ppid=,comm="], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    rows = []
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit():
            rows.append((int(parts[0]), int(parts[1]), parts[2]))
    return rows


class DtrussBackend(Backend):
    """Runs a command under dtruss (macOS), writing dtruss's stderr to ``log``."""

    name = "dtruss"
    #: dtrace's exit status is not the command's (see the module docstring)
    exit_status_known = False

    def __init__(self, *, bufsize: str = DEFAULT_BUFSIZE) -> None:
        super().__init__()
        if not is_macos():
            raise GotraceError(NOT_MACOS)
        exe = dtruss_path()
        if exe is None:
            raise GotraceError("dtruss not found (it ships with macOS as /usr/bin/dtruss)")
        self.exe = exe
        self.version = macos_version()
        self.bufsize = bufsize
        # dtrace needs root; as root already, sudo would only reset the environment.
        self.sudo: str | None = None if os.geteuid() == 0 else "sudo"
        self._log: IO[bytes] | None = None

    def launch(self, run: Launch) -> None:
        # sudo may replace PATH: hand dtruss the command's absolute path.
        command = run.command
        path = (run.env or os.environ).get("PATH")
        exe = shutil.which(command[0], path=path) if command else None
        argv = build_argv(
            self.exe,
            [exe or command[0], *command[1:]],
            sudo=self.sudo,
            bufsize=self.bufsize,
        )
        self.notes.append("the command's stderr is in the dtruss log (dtruss writes to stderr)")
        if run.stderr_devnull:
            self.notes.append("stderr_devnull ignored: the command's stderr is dtruss's")
        self._log = open(run.log, "wb")  # noqa: SIM115 -- closed in wait()/kill_all()
        try:
            self.popen(argv, run, stderr=self._log)
        except GotraceError:
            self._close_log()
            raise

    def poll_root(self) -> int | None:
        """The traced command's pid (dtrace's child), once it exists."""
        if self.root_pid is None and self.proc is not None:
            self.root_pid = command_pid(ps_rows(), self.proc.pid)
        return self.root_pid

    def signal_command(self, sig: int) -> None:
        root = self.poll_root()
        if root is None:
            return
        if self.sudo is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(root, sig)
            return
        # The command runs as root; -n: never prompt, sudo's cached credentials or nothing.
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(
                [self.sudo, "-n", "kill", f"-{int(sig)}", str(root)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=10,
            )

    def wait(self, timeout: float | None = None) -> int:
        """dtrace's (sudo's) exit status; the command's own status is not known."""
        return super().wait(timeout)

    def end_child(self, proc: Child) -> None:
        proc.terminate()  # sudo relays SIGTERM to dtruss
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()

    def finish(self) -> None:
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
