"""Capture with strace: build the command line, start it, stop the traced command.

Capture only: this module starts strace and hands back the raw log's path and how
the command ended. Parsing and analysis happen elsewhere, on the saved files.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gotrace.errors import GotraceError
from gotrace.tracer.base import Backend, Launch, open_relay, tool_version

#: what the analyzers need: processes, sockets, files and fds (read/write/flock/epoll),
#: and the waits Go's runtime parks in.
TRACE_SET = "%process,%network,%file,%desc,futex,nanosleep,clock_nanosleep"
DEFAULT_STRING_SIZE = 256


@dataclass
class Capture:
    """What a finished capture left behind."""

    log: Path
    returncode: int
    signal: str | None = None
    timed_out: bool = False
    interrupted: bool = False
    started: float = 0.0
    ended: float = 0.0
    root_pid: int | None = None
    notes: list[str] = field(default_factory=list)


def check_command(command: Sequence[str], env: Mapping[str, str]) -> None:
    if not command:
        raise GotraceError("no command given")
    if os.sep not in command[0] and shutil.which(command[0], path=env.get("PATH")) is None:
        raise GotraceError(f"{command[0]}: command not found")
    if os.sep in command[0] and not os.access(command[0], os.X_OK):
        raise GotraceError(f"{command[0]}: not an executable file")


def first_pid(log: Path) -> int | None:
    """The pid on the first line of a ``-f -o`` log (the traced command's execve)."""
    try:
        with open(log, "rb") as fh:
            m = re.match(rb"^(\d+) ", fh.readline())
    except OSError:
        return None
    return int(m.group(1)) if m else None


def strace_path() -> str | None:
    return shutil.which("strace")


def strace_version(exe: str) -> str:
    return tool_version([exe, "-V"], r"version\s+(\S+)")


def build_argv(
    exe: str,
    log: Path,
    command: Sequence[str],
    *,
    string_size: int = DEFAULT_STRING_SIZE,
    seccomp: bool = True,
    trace_set: str = TRACE_SET,
) -> list[str]:
    """``strace -f -ttt -T -yy -s N -o LOG``. Never ``-z``/``-Z``/``--status``: they hold a
    call's line back until it returns, which hides exactly the calls that block."""
    argv = [exe, "-f", "-ttt", "-T", "-yy", "-s", str(string_size), "-o", str(log)]
    argv += ["-e", f"trace={trace_set}", "-e", "signal=all"]
    if seccomp:
        argv.append("--seccomp-bpf")
    return [*argv, "--", *command]


def check_ptrace_allowed() -> None:
    """A clear line for the usual reasons ptrace is refused."""
    scope = Path("/proc/sys/kernel/yama/ptrace_scope")
    try:
        value = scope.read_text().strip()
    except OSError:
        return
    if value == "3":
        raise GotraceError(
            "ptrace is disabled on this machine (kernel.yama.ptrace_scope=3); "
            "it cannot be re-enabled without a reboot"
        )


def children_of(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def seccomp_mode(pid: int) -> int | None:
    """2 when a seccomp filter is installed in ``pid`` (strace's --seccomp-bpf worked)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Seccomp:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


class StraceBackend(Backend):
    """Runs a command under strace, writing the raw log to ``log``."""

    name = "strace"

    def __init__(self, *, string_size: int = DEFAULT_STRING_SIZE, seccomp: bool = True) -> None:
        super().__init__()
        exe = strace_path()
        if exe is None:
            raise GotraceError(
                "strace is not installed: apt-get install strace (Debian package 'strace'), "
                "or use --backend ptrace"
            )
        self.exe = exe
        self.version = strace_version(exe)
        self.string_size = string_size
        self.seccomp = seccomp
        self.log: Path | None = None

    def launch(self, run: Launch) -> None:
        check_ptrace_allowed()
        self.relay = open_relay(run.log)
        target = self.relay.fifo if self.relay is not None else run.log
        argv = build_argv(
            self.exe, target, run.command, string_size=self.string_size, seccomp=self.seccomp
        )
        # strace writes only to the log (-o); the command's stdio is the user's.
        self.log = run.log
        self.popen(argv, run)

    def poll_root(self) -> int | None:
        """The traced command's pid, once the log names it.

        Not simply strace's first child: with --seccomp-bpf strace first forks a short-lived
        process of its own to test the filter. The log's first line is the command's execve."""
        if self.root_pid is None and self.proc is not None and self.log is not None:
            pid = first_pid(self.log)
            if pid is not None and pid in children_of(self.proc.pid):
                self.root_pid = pid
                mode = seccomp_mode(pid)
                if mode is not None and self.seccomp:
                    self.seccomp_active = mode == 2
        return self.root_pid


def exit_from_returncode(rc: int) -> tuple[int, str | None]:
    """strace exits with the command's status, or kills itself with the command's signal."""
    if rc < 0:
        sig = -rc
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return 128 + sig, name
    return rc, None


def now() -> float:
    return time.time()
