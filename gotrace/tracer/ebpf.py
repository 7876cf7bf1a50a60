"""Capture with eBPF: bpftrace records the calls in the kernel, without stopping the command.

``EbpfBackend`` is a :class:`gotrace.tracer.base.WorkerBackend`, as the ptrace backend is,
with its status pipe; only the tracer differs. bpftrace (Debian's ``bpftrace``) compiles and
attaches its program (:mod:`gotrace.tracer.ebpf_script`) when the backend is made, which
takes seconds and is not the command's time, and writes its records to a file of its own;
:meth:`start` then forks the worker (:mod:`gotrace.tracer.ebpf_worker`), which starts the
command and writes the same ``trace.strace`` the other backends write, from the records,
at idle priority while the command runs and at full speed after it. :attr:`captured_at` is
when every record of the command was in: the capture's end (meta.json's ``end``); the
records are removed once the log is written, and kept (a note says where) when it was not.
bpftrace runs with gotrace's ``_bpfwake`` library preloaded (gotrace/tracer/_bpfwake.c,
built at install when a C compiler is there): its perf buffers wake it every
:data:`WAKEUP_EVENTS` records instead of at each one, which the traced command paid for
(meta.json's backend version says when it is active, a note when it did not take effect).

Needs root (or CAP_BPF and CAP_PERFMON), a kernel with BTF (``/sys/kernel/btf/vmlinux``),
the raw_syscalls, task, sched and signal tracepoints, and tracefs, which it mounts on
``/sys/kernel/tracing`` when it is not mounted.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.machinery
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gotrace.errors import GotraceError
from gotrace.tracer.base import Launch, WorkerBackend, resolve_executable, tool_version
from gotrace.tracer.ebpf_script import NOT_RECORDED, STRLEN, program
from gotrace.tracer.strace import DEFAULT_STRING_SIZE

BTF = Path("/sys/kernel/btf/vmlinux")
TRACEFS = Path("/sys/kernel/tracing")
#: the tracepoints the program cannot do without
REQUIRED = (
    "raw_syscalls/sys_enter",
    "raw_syscalls/sys_exit",
    "task/task_newtask",
    "sched/sched_process_exit",
    "signal/signal_generate",
    "signal/signal_deliver",
)
_INSTEAD = "use --backend strace (or ptrace) instead"
_ATTACH_LIMIT = 120.0
#: how many records a perf buffer holds before it wakes bpftrace (gotrace/tracer/_bpfwake.c)
WAKEUP_EVENTS = 256
_WAKE_SAYS = "gotrace-bpfwake: "


def wake_library() -> Path | None:
    """The library that makes bpftrace's perf buffers wake it every :data:`WAKEUP_EVENTS`
    records rather than at each (built with the package when a C compiler was there)."""
    here = Path(__file__).resolve().parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = here / f"_bpfwake{suffix}"
        if path.is_file():
            return path
    return None


def bpftrace_path() -> str | None:
    return shutil.which("bpftrace")


def bpftrace_version(exe: str) -> str:
    return tool_version([exe, "--version"], r"v?(\d+\.\d+\S*)")


def mount_tracefs(tracefs: Path = TRACEFS) -> None:
    """tracefs on ``tracefs``, mounted when it is not (bpftrace finds no tracepoint without)."""
    if (tracefs / "events").is_dir():
        return
    r = subprocess.run(
        ["mount", "-t", "tracefs", "nodev", str(tracefs)], capture_output=True, text=True
    )
    if r.returncode != 0 or not (tracefs / "events").is_dir():
        # mount's first line says why ("mount point does not exist"), the next about dmesg
        why = next((ln.strip() for ln in r.stderr.splitlines() if ln.strip()), "mount failed")
        raise GotraceError(
            f"the ebpf backend needs tracefs, which is not mounted and could not be ({why}): "
            f"run 'mount -t tracefs nodev {tracefs}' as root, or {_INSTEAD}"
        )


def unavailable(tracefs: Path = TRACEFS) -> str | None:
    """Why the ebpf backend cannot run here (one line, with the backend to use instead);
    None when it can. Mounts tracefs when it is missing and root may."""
    if sys.platform != "linux":
        return f"the ebpf backend needs Linux: {_INSTEAD}"
    if os.geteuid() != 0:
        return f"the ebpf backend needs root (bpftrace loads BPF programs): {_INSTEAD}"
    if bpftrace_path() is None:
        return (
            "bpftrace is not installed: apt-get install bpftrace (Debian package "
            f"'bpftrace'), or {_INSTEAD}"
        )
    if not BTF.exists():
        return f"the kernel has no BTF ({BTF} is missing), which bpftrace needs: {_INSTEAD}"
    try:
        mount_tracefs(tracefs)
    except GotraceError as exc:
        return str(exc)
    missing = [tp for tp in REQUIRED if not (tracefs / "events" / tp).is_dir()]
    if missing:
        return f"the kernel lacks the tracepoint {missing[0].replace('/', ':')}: {_INSTEAD}"
    return None


def _die_with_parent() -> None:
    """In bpftrace, before exec: end when gotrace ends, whatever way it ends."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class EbpfBackend(WorkerBackend):
    """Runs a command under bpftrace, writing the raw log to ``log``."""

    name = "ebpf"

    def __init__(self, *, string_size: int = DEFAULT_STRING_SIZE) -> None:
        super().__init__()
        reason = unavailable()
        if reason is not None:
            raise GotraceError(reason)
        exe = bpftrace_path()
        assert exe is not None
        self.exe = exe
        self.version = f"bpftrace {bpftrace_version(exe)}"
        self.string_size = string_size
        self.seccomp = False
        self.marker = random.randint(1 << 29, (1 << 31) - 2)
        self._captured_at: float | None = None
        self._bpf = self._attach()

    def _attach(self) -> subprocess.Popen[bytes]:
        """Start bpftrace and wait until its probes are attached. It writes its records to a
        file of its own (:attr:`records`), never to a pipe: it never waits on gotrace, and
        what it recorded survives whatever happens to the writer."""
        from gotrace.tracer import ptrace_sys as pt

        buf_max = min(self.string_size, STRLEN)
        watched = frozenset(nr for nr in pt.WATCHED_NRS if pt.syscall_name(nr) not in NOT_RECORDED)
        text = program(watched, buf_max)
        self.workdir: Path | None = Path(tempfile.mkdtemp(prefix="gotrace-ebpf-"))
        script = self.workdir / "program.bt"
        script.write_text(text)
        self.records = self.workdir / "records"
        self._errlog = tempfile.TemporaryFile(prefix="gotrace-ebpf-")  # noqa: SIM115 (bpftrace's stderr, read on failure)
        env = dict(os.environ)
        env.update(BPFTRACE_STRLEN=str(STRLEN), BPFTRACE_PERF_RB_PAGES="1024")
        wake = wake_library()
        if wake is not None:
            env["LD_PRELOAD"] = " ".join(filter(None, [str(wake), env.get("LD_PRELOAD")]))
            env["GOTRACE_BPF_WAKEUP"] = str(WAKEUP_EVENTS)
        with open(self.records, "wb") as out:
            proc = subprocess.Popen(
                [self.exe, "-B", "line", str(script), str(self.marker)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=self._errlog,
                env=env,
                preexec_fn=_die_with_parent,
            )
        atexit.register(self._end_bpftrace)
        deadline = time.monotonic() + _ATTACH_LIMIT
        with open(self.records, "rb") as seen:
            while b"READY\n" not in seen.read(4096):
                if time.monotonic() > deadline or proc.poll() is not None:
                    self._end_bpftrace(proc)
                    self._remove_workdir()
                    raise GotraceError(f"bpftrace could not attach its probes: {self._bpf_error()}")
                seen.seek(0)
                time.sleep(0.02)
        said = self._stderr_lines()
        active = [ln for ln in said if ln.startswith(_WAKE_SAYS)]
        if active:
            self.version += f" ({active[0][len(_WAKE_SAYS) :]})"
        elif wake is not None:
            refused = [ln for ln in said if "LD_PRELOAD" in ln or "_bpfwake" in ln]
            self.notes.append(
                "bpftrace ran without gotrace's wake-up library (each record wakes it, which "
                f"costs the command CPU): {(refused or ['it did not take effect'])[0].strip()}"
            )
        return proc

    def _stderr_lines(self) -> list[str]:
        self._errlog.seek(0)
        return self._errlog.read().decode("utf-8", "replace").splitlines()

    def _bpf_error(self) -> str:
        lines = [ln for ln in self._stderr_lines() if not ln.startswith(_WAKE_SAYS)]
        errors = [ln for ln in lines if ln.startswith("ERROR") and "RLIMIT_MEMLOCK" not in ln]
        return (errors or lines or ["no message"])[-1].strip()

    def _end_bpftrace(
        self, proc: subprocess.Popen[bytes] | None = None, *, block: bool = True
    ) -> None:
        """Stop bpftrace; the kernel detaches its probes when it is gone. ``block=False``:
        do not wait for that (it takes seconds), it is reaped at exit."""
        proc = proc or getattr(self, "_bpf", None)
        if proc is not None and proc.poll() is None:
            proc.kill()
            if block:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)

    def _remove_workdir(self) -> None:
        """The program and its records, once the log is written; kept (and said so) when the
        writer did not finish it."""
        workdir = getattr(self, "workdir", None)
        if workdir is None or not workdir.exists():
            return
        if self._returncode is None and self.records.exists() and self.records.stat().st_size:
            self.notes.append(
                f"the writer did not finish the log: bpftrace's records are in {self.records}"
            )
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        self.workdir = None

    @property
    def captured_at(self) -> float | None:
        """When every record of the command was in (the log is written after that)."""
        self._read_status()
        return self._captured_at

    def _message(self, line: str) -> None:
        kind, _, rest = line.partition(" ")
        if kind == "captured":
            self._captured_at = float(rest)
            # every record is in: its probes (which every call on the machine pays) can go
            self._end_bpftrace(block=False)
        else:
            super()._message(line)

    def launch(self, run: Launch) -> None:
        from gotrace.tracer.ebpf_worker import worker_main

        run.check_cwd()
        path = resolve_executable(run.command[0], run.full_env())
        log_fd = self.open_log(run.log)
        bpf_pid = self._bpf.pid
        self.fork_worker(
            lambda status_fd: worker_main(
                log_fd,
                status_fd,
                str(self.records),
                bpf_pid,
                self.marker,
                path,
                run,
                string_size=self.string_size,
                strlen=STRLEN,
            ),
            [log_fd],
        )

    def wait(self, timeout: float | None = None) -> int:
        rc = super().wait(timeout)
        self._end_bpftrace(block=False)
        self._remove_workdir()
        return rc

    def kill_all(self) -> None:
        super().kill_all()
        self._end_bpftrace()
        self._remove_workdir()
