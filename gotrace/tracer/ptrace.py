"""Capture without strace: a ptrace tracer (python-ptrace and ctypes) that writes the same log.

``PtraceBackend`` has :class:`gotrace.tracer.strace.StraceBackend`'s interface, so
``gotrace run`` drives either the same way. The tracer is a forked process of its own
(:mod:`gotrace.tracer.ptrace_worker`): the command is its child, it writes the log in
``strace -f -ttt -T -yy -s N`` form as the calls happen, and it tells this side the
command's pid, whether the seccomp filter took, and how the command ended through a pipe.
Like strace ``--seccomp-bpf``, it stops the command only for the calls in
:data:`gotrace.tracer.strace.TRACE_SET`.
"""

from __future__ import annotations

import platform
import sys

from gotrace.errors import GotraceError
from gotrace.tracer.base import Launch, WorkerBackend, open_relay, resolve_executable
from gotrace.tracer.strace import DEFAULT_STRING_SIZE, check_ptrace_allowed


def machine_supported() -> str | None:
    """Why this machine cannot use the ptrace backend, or None (checked before python-ptrace,
    which is Linux-only, is imported)."""
    if platform.system() != "Linux":
        return "the ptrace backend needs Linux"
    if platform.machine() not in ("x86_64", "amd64", "AMD64"):
        return f"the ptrace backend knows x86_64 syscalls only (this is {platform.machine()})"
    return None


def python_ptrace_version() -> str:
    try:
        from ptrace.version import VERSION
    except ImportError:
        return "unknown"
    return ".".join(str(x) for x in VERSION)


class PtraceBackend(WorkerBackend):
    """Runs a command under gotrace's own ptrace tracer, writing the raw log to ``log``.

    ``string_size`` is strace's ``-s``; ``seccomp=False`` stops the command at every syscall
    (strace without ``--seccomp-bpf``); ``trace_futex=False`` leaves futex out of the set.
    After the run, ``seccomp_active`` says whether the filter took and ``notes`` why not
    (and any tracer error)."""

    name = "ptrace"

    def __init__(
        self,
        *,
        string_size: int = DEFAULT_STRING_SIZE,
        seccomp: bool = True,
        trace_futex: bool = True,
    ) -> None:
        super().__init__()
        reason = machine_supported()
        if reason is not None:
            raise GotraceError(reason)
        self.exe = sys.executable
        self.version = f"python-ptrace {python_ptrace_version()}"
        self.string_size = string_size
        self.seccomp = seccomp
        self.trace_futex = trace_futex

    def launch(self, run: Launch) -> None:
        from gotrace.tracer.ptrace_worker import worker_main

        check_ptrace_allowed()
        run.check_cwd()
        path = resolve_executable(run.command[0], run.full_env())
        self.relay = open_relay(run.log)
        log_fd = self.open_log(run.log)
        if not self.seccomp:
            self.seccomp_active = False
        self.fork_worker(
            lambda status_fd: worker_main(
                log_fd,
                status_fd,
                path,
                run,
                string_size=self.string_size,
                seccomp=self.seccomp,
                trace_futex=self.trace_futex,
            ),
            [log_fd],
        )
