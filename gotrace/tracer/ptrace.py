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

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

from gotrace.errors import GotraceError
from gotrace.tracer.base import open_relay
from gotrace.tracer.relay import LogRelay
from gotrace.tracer.strace import DEFAULT_STRING_SIZE, check_ptrace_allowed


def python_ptrace_version() -> str:
    try:
        from ptrace.version import VERSION
    except ImportError:
        return "unknown"
    return ".".join(str(x) for x in VERSION)


class PtraceBackend:
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
        try:
            from gotrace.tracer.ptrace_sys import machine_supported
        except (ImportError, OSError) as exc:
            raise GotraceError(f"the ptrace backend cannot load python-ptrace: {exc}") from exc
        reason = machine_supported()
        if reason is not None:
            raise GotraceError(reason)
        self.exe = sys.executable
        self.version = f"python-ptrace {python_ptrace_version()}"
        self.string_size = string_size
        self.seccomp = seccomp
        self.trace_futex = trace_futex
        self._init_worker_state()

    def _init_worker_state(self) -> None:
        """What the status pipe tells (shared with the ebpf backend, which has one too)."""
        self.worker_pid: int | None = None
        self.root_pid: int | None = None
        self.relay: LogRelay | None = None
        self.seccomp_active: bool | None = None
        self.notes: list[str] = []
        self.error: str | None = None
        self._status_fd: int | None = None
        self._pending = b""
        self._returncode: int | None = None
        self._worker_status: int | None = None

    def start(
        self,
        command: Sequence[str],
        log: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        stderr_devnull: bool = False,
    ) -> None:
        from gotrace.tracer.ptrace_worker import worker_main

        check_ptrace_allowed()
        if cwd is not None and not os.path.isdir(cwd):
            raise GotraceError(f"{cwd}: no such directory")
        run_env = dict(os.environ) if env is None else dict(env)
        path = resolve_executable(command[0], run_env)
        self.relay = open_relay(log)
        try:
            log_fd = (
                self.relay.writer_fd()
                if self.relay is not None
                else os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            )
        except OSError as exc:
            raise GotraceError(f"{log}: cannot write the trace ({exc.strerror})") from exc
        status_r, status_w = os.pipe()
        # The forked tracer must not write out this process's buffered output a second time.
        sys.stdout.flush()
        sys.stderr.flush()
        with warnings.catch_warnings():
            # Python 3.12 warns about fork() in a process with threads (a lab proxy, polars'
            # pool): the forked tracer runs only os-level calls and its own pure-Python code.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            os.close(status_r)
            worker_main(
                log_fd,
                status_w,
                path,
                list(command),
                run_env,
                cwd,
                stderr_devnull,
                string_size=self.string_size,
                seccomp=self.seccomp,
                trace_futex=self.trace_futex,
            )
        os.close(status_w)
        os.close(log_fd)
        os.set_blocking(status_r, False)
        self.worker_pid = pid
        self._status_fd = status_r
        if not self.seccomp:
            self.seccomp_active = False
        self._await_start()

    def _await_start(self, limit: float = 10.0) -> None:
        """Until the tracer has the command in hand (or failed to): its pid is then known at
        once, and a refused ptrace is an error here rather than a silent empty trace."""
        deadline = time.monotonic() + limit
        while self.root_pid is None and self.error is None and time.monotonic() < deadline:
            self._read_status()
            if self.root_pid is not None or self.error is not None or not self.running():
                break
            time.sleep(0.002)
        if self.root_pid is None and self.error is not None:
            self.wait(timeout=5)
            raise GotraceError(f"the {self.name} backend could not start the command: {self.error}")

    # --- what the tracer says ----------------------------------------------------------------

    def _read_status(self) -> None:
        if self._status_fd is None:
            return
        while True:
            try:
                chunk = os.read(self._status_fd, 4096)
            except BlockingIOError:
                break
            except OSError:
                chunk = b""
            if not chunk:
                os.close(self._status_fd)
                self._status_fd = None
                break
            self._pending += chunk
        *lines, self._pending = self._pending.split(b"\n")
        for raw in lines:
            self._message(raw.decode("utf-8", "replace"))

    def _message(self, line: str) -> None:
        kind, _, rest = line.partition(" ")
        if kind == "root":
            self.root_pid = int(rest)
        elif kind == "seccomp":
            flag, _, why = rest.partition(" ")
            self.seccomp_active = flag == "1"
            if why:
                self.notes.append(f"seccomp-bpf not used: {why}; every syscall stops the command")
        elif kind == "note":
            self.notes.append(rest)
        elif kind == "exit":
            self._returncode = int(rest)
        elif kind == "error":
            self.error = rest
            self.notes.append(f"tracer error: {rest}")

    # --- StraceBackend's interface -----------------------------------------------------------

    def poll_root(self) -> int | None:
        """The traced command's pid, once the tracer has started it."""
        if self.root_pid is None:
            self._read_status()
        return self.root_pid

    def signal_command(self, sig: int) -> None:
        root = self.poll_root()
        if root is None and self.running():
            deadline = time.monotonic() + 1.0
            while root is None and self.running() and time.monotonic() < deadline:
                time.sleep(0.01)
                root = self.poll_root()
        if root is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(root, sig)

    def stop_command(self, grace: float = 3.0) -> None:
        """SIGTERM the traced command, then SIGKILL if it is still there after ``grace``; if its
        children still keep the trace going after another ``grace``, end the trace (the
        tracer kills what it still traces) rather than wait for them forever."""
        self.signal_command(signal.SIGTERM)
        try:
            self.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            self.signal_command(signal.SIGKILL)
        try:
            self.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self._stop_tracer()

    def _stop_tracer(self) -> None:
        if self.worker_pid is not None and self.running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.worker_pid, signal.SIGTERM)

    def running(self) -> bool:
        if self.worker_pid is None or self._worker_status is not None:
            return False
        try:
            pid, status = os.waitpid(self.worker_pid, os.WNOHANG)
        except ChildProcessError:
            self._worker_status = 0
            return False
        if pid == 0:
            return True
        self._worker_status = status
        self._read_status()
        return False

    def wait(self, timeout: float | None = None) -> int:
        """The command's exit status as Popen gives it (-N when signal N killed it)."""
        assert self.worker_pid is not None
        if timeout is None and self._worker_status is None:
            try:
                _, self._worker_status = os.waitpid(self.worker_pid, 0)
            except ChildProcessError:
                self._worker_status = 0
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.002
        while self.running():
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(["gotrace-ptrace"], timeout or 0.0)
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
        self._read_status()
        if self._returncode is not None:
            return self._returncode
        status = self._worker_status or 0
        if os.WIFSIGNALED(status):
            return -os.WTERMSIG(status)
        return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1

    def kill_all(self) -> None:
        """Last resort: nothing we started may outlive gotrace."""
        if self.worker_pid is None:
            return
        self.signal_command(signal.SIGKILL)
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if not self.running():
                break
            # The tracer kills its tracees on SIGTERM; dying of SIGKILL, PTRACE_O_EXITKILL does.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.worker_pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.wait(timeout=grace)


def resolve_executable(name: str, env: Mapping[str, str]) -> str:
    """The path execve gets: as given when it has a slash, else looked up in the command's PATH."""
    if os.sep in name:
        return name
    found = shutil.which(name, path=env.get("PATH", os.defpath))
    if found is None:
        raise GotraceError(f"{name}: command not found")
    return found
