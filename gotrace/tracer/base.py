"""The base every capture backend derives from: how the command is given (:class:`Launch`),
how it is started, signalled, stopped and waited for, and, for the backends whose tracer is a
forked process of gotrace's own (ptrace, ebpf), the status pipe it talks through."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

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


def resolve_executable(name: str, env: Mapping[str, str]) -> str:
    """The path execve gets: as given when it has a slash, else looked up in the command's PATH."""
    if os.sep in name:
        return name
    found = shutil.which(name, path=env.get("PATH", os.defpath))
    if found is None:
        raise GotraceError(f"{name}: command not found")
    return found


@dataclass(frozen=True)
class Launch:
    """The command a backend runs and where its log goes, as :meth:`Backend.start` got them.
    The command's stdin, stdout and stderr are the user's (stderr is /dev/null with
    ``stderr_devnull``)."""

    command: tuple[str, ...]
    log: Path
    env: Mapping[str, str] | None = None
    cwd: str | None = None
    stderr_devnull: bool = False

    def env_dict(self) -> dict[str, str] | None:
        """The environment for Popen: None inherits gotrace's own."""
        return dict(self.env) if self.env is not None else None

    def full_env(self) -> dict[str, str]:
        """The environment the command gets, spelled out (for execve)."""
        return dict(os.environ) if self.env is None else dict(self.env)

    def check_cwd(self) -> None:
        if self.cwd is not None and not os.path.isdir(self.cwd):
            raise GotraceError(f"{self.cwd}: no such directory")


class Child(Protocol):
    """What the backends use of the child gotrace started: a Popen, or a :class:`ForkedChild`."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...


class ForkedChild:
    """A child made with :func:`os.fork`, with the part of Popen's interface the backends use;
    its return code is Popen's (-N when signal N killed it)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def _reaped(self, flags: int) -> int | None:
        try:
            pid, status = os.waitpid(self.pid, flags)
        except ChildProcessError:
            self.returncode = 0
            return self.returncode
        if pid == 0:
            return None
        if os.WIFSIGNALED(status):
            self.returncode = -os.WTERMSIG(status)
        else:
            self.returncode = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1
        return self.returncode

    def poll(self) -> int | None:
        return self.returncode if self.returncode is not None else self._reaped(os.WNOHANG)

    def wait(self, timeout: float | None = None) -> int:
        if timeout is None and self.returncode is None:
            self._reaped(0)
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.002
        while (rc := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired([f"gotrace-worker-{self.pid}"], timeout or 0.0)
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
        return rc

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Backend:
    """What ``gotrace run`` needs from a capture backend, and the process control they share:
    start the command (:meth:`launch`, given a :class:`Launch`), signal it, stop it (SIGTERM,
    then SIGKILL), wait for the capture to end, and make sure nothing outlives gotrace.
    ``proc`` is the child gotrace started (the tracer, or the command itself); ``root_pid``
    the traced command's pid once known; ``notes`` what the run's metadata should say."""

    #: the backend's name, the tracer program and its version, as the run's metadata has them
    name: str
    exe: str
    version: str
    proc: Child | None = None
    root_pid: int | None = None
    #: whether a seccomp filter limits the stops (None: the backend has no such filter)
    seccomp_active: bool | None = None
    #: the pipe the tracer writes the log into, when there is one
    relay: LogRelay | None = None
    #: how long :meth:`signal_command` waits for the command's pid when it is not known yet
    root_wait: float = 0.0

    def __init__(self) -> None:
        self.notes: list[str] = []

    def start(
        self,
        command: Sequence[str],
        log: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        stderr_devnull: bool = False,
    ) -> None:
        self.launch(Launch(tuple(command), log, env, cwd, stderr_devnull))

    def launch(self, run: Launch) -> None:
        raise NotImplementedError

    def popen(
        self, argv: Sequence[str], run: Launch, *, stderr: int | IO[bytes] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` as :attr:`proc` with the command's environment and directory; its
        stderr is ``stderr``, else the user's (or /dev/null with ``stderr_devnull``). It stays
        in our process group, so a terminal's Ctrl-C reaches it; without a terminal we
        forward it (:meth:`signal_command`)."""
        if stderr is None and run.stderr_devnull:
            stderr = subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(list(argv), env=run.env_dict(), cwd=run.cwd, stderr=stderr)
        except OSError as exc:
            raise GotraceError(f"{argv[0]}: cannot start ({exc.strerror or exc})") from exc
        return self.proc

    def poll_root(self) -> int | None:
        return self.root_pid

    @property
    def captured_at(self) -> float | None:
        """When the capture was complete (time.time()), for a backend that writes its log
        after the command ended; None for one whose log is complete when it ends."""
        return None

    def signal_command(self, sig: int) -> None:
        root = self.poll_root()
        if root is None and self.root_wait > 0 and self.running():
            deadline = time.monotonic() + self.root_wait
            while root is None and self.running() and time.monotonic() < deadline:
                time.sleep(0.01)
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
        rc = self.proc.wait(timeout=timeout)
        self.finish()
        return rc

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def finish(self) -> None:
        """Release what the capture held once the child is gone (called more than once)."""

    def kill_all(self) -> None:
        """Last resort: nothing we started may outlive gotrace."""
        if self.proc is None:
            return
        self.kill_command()
        if self.proc.poll() is None:
            self.end_child(self.proc)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self.finish()

    def kill_command(self) -> None:
        self.signal_command(signal.SIGKILL)

    def end_child(self, proc: Child) -> None:
        """In :meth:`kill_all`: end the child gotrace started, still there after the command."""
        proc.kill()


class WorkerBackend(Backend):
    """A backend whose tracer is a forked process of gotrace's own (the ptrace tracer, the
    ebpf writer). The command is the worker's child; the worker tells this side through a
    pipe, one line each: ``root PID``, ``seccomp 0|1 [why not]``, ``note TEXT``,
    ``exit STATUS`` (the command's, as Popen gives it), ``error TEXT``."""

    root_wait = 1.0

    def __init__(self) -> None:
        super().__init__()
        self.error: str | None = None
        self._status_fd: int | None = None
        self._pending = b""
        self._returncode: int | None = None

    @property
    def worker_pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def open_log(self, log: Path) -> int:
        """The fd the worker writes the log to: the relay's pipe, or ``log`` itself."""
        try:
            if self.relay is not None:
                return self.relay.writer_fd()
            return os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise GotraceError(f"{log}: cannot write the trace ({exc.strerror})") from exc

    def fork_worker(self, main: Callable[[int], object], handed_over: Sequence[int]) -> None:
        """Fork; the child runs ``main(status_fd)`` (which must not return). ``handed_over``:
        fds the worker now owns, closed on this side. Then wait until the command is started."""
        status_r, status_w = os.pipe()
        # The forked worker must not write out this process's buffered output a second time.
        sys.stdout.flush()
        sys.stderr.flush()
        with warnings.catch_warnings():
            # Python 3.12 warns about fork() in a process with threads (a lab proxy, polars'
            # pool): the worker runs only os-level calls and its own pure-Python code.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            os.close(status_r)
            try:
                main(status_w)
            finally:
                os._exit(1)
        os.close(status_w)
        for fd in handed_over:
            os.close(fd)
        os.set_blocking(status_r, False)
        self.proc = ForkedChild(pid)
        self._status_fd = status_r
        self._await_start()

    def _await_start(self, limit: float = 10.0) -> None:
        """Until the worker has the command in hand (or failed to): its pid is then known at
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

    def poll_root(self) -> int | None:
        """The traced command's pid, once the worker has started it."""
        if self.root_pid is None:
            self._read_status()
        return self.root_pid

    def stop_command(self, grace: float = 3.0) -> None:
        """SIGTERM the traced command, then SIGKILL if it is still there after ``grace``; if its
        children still keep the trace going after another ``grace``, end the trace (the
        worker kills what it still traces) rather than wait for them forever."""
        self.signal_command(signal.SIGTERM)
        try:
            self.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            self.signal_command(signal.SIGKILL)
        try:
            self.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self._stop_worker(signal.SIGTERM)

    def _stop_worker(self, sig: int) -> None:
        if self.proc is not None and self.running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, sig)

    def running(self) -> bool:
        alive = super().running()
        if not alive:
            self._read_status()
        return alive

    def wait(self, timeout: float | None = None) -> int:
        """The command's exit status as Popen gives it (-N when signal N killed it)."""
        rc = super().wait(timeout)
        self._read_status()
        return self._returncode if self._returncode is not None else rc

    def kill_all(self) -> None:
        """Last resort: nothing we started may outlive gotrace."""
        if self.proc is None:
            return
        self.signal_command(signal.SIGKILL)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not self.running():
                break
            # The worker kills its tracees on SIGTERM; dying of SIGKILL, PTRACE_O_EXITKILL does.
            self._stop_worker(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.wait(timeout=5.0)
