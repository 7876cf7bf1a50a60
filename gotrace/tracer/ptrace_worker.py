"""The tracing loop of the ptrace backend: one process that traces the command and writes
the log in ``strace -f -ttt -T -yy -s N`` form, line by line, as the calls happen.

It runs in a process of its own (forked by :class:`gotrace.tracer.ptrace.PtraceBackend`),
so gotrace's poll loop and the live monitor keep their own CPU and GIL. Start-up, as strace
``--seccomp-bpf`` does it:

1. fork; the child blocks reading a pipe until it is traced;
2. the tracer ``PTRACE_SEIZE``\\ s it (``TRACECLONE|TRACEFORK|TRACEVFORK|TRACEEXEC|TRACEEXIT|
   TRACESECCOMP|EXITKILL``) and steps it syscall by syscall (nothing is printed yet);
3. the child sets ``PR_SET_NO_NEW_PRIVS``, installs the seccomp filter (``SECCOMP_RET_TRACE``
   for the watched calls) and execs the command. The tracer sees seccomp()'s return value:
   0 means from then on the tracees stop only for watched calls (``PTRACE_CONT``, and
   ``PTRACE_SYSCALL`` from a seccomp stop to catch that call's exit); anything else means
   ``PTRACE_SYSCALL`` for every call, printing the watched ones.

Messages to the backend go through a status pipe, one line each: ``root PID``,
``seccomp 1|0 [why]``, ``note TEXT``, ``exit RETURNCODE`` (Popen style: -N for a signal).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass

from gotrace.tracer import ptrace_sys as pt
from gotrace.tracer.base import Launch
from gotrace.tracer.ptrace_decode import Call, Decoder, siginfo_fields, siginfo_text
from gotrace.tracer.ptrace_names import signame

_SYSGOOD_TRAP = signal.SIGTRAP | 0x80
_GROUP_STOP_SIGNALS = frozenset({signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})
_EXECVE = frozenset({59, 322})
_NR_SECCOMP = 317
_COLUMN = 40  # strace pads "= ret" to this column


class _Terminate(Exception):
    """SIGTERM/SIGHUP to the tracer: stop tracing now."""


@dataclass(slots=True)
class Task:
    tid: int
    tgid: int
    call: Call | None = None  # the watched call between its entry and exit
    in_syscall: bool = False  # the kernel's view (fallback mode without PTRACE_GET_SYSCALL_INFO)
    hidden: bool = False  # the command before its execve: nothing is printed
    stepping: bool = False  # PTRACE_SYSCALL regardless of the mode (start-up)
    pending_nr: int = -1  # the (unwatched) call it is in, while stepping


class LogWriter:
    """Writes strace lines, flushing each piece as it is known.

    A call's entry half is written at once without a newline, as strace does, so a blocked
    call is visible at the end of the log. When another line must be written first, the open
    half is closed with `` <unfinished ...>`` and the exit is printed later as
    ``<... name resumed>``.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.open: Call | None = None
        self.col = 0

    def _write(self, text: str) -> None:
        data = text.encode("utf-8", "surrogateescape")
        while data:
            n = os.write(self.fd, data)
            data = data[n:]

    @staticmethod
    def leader(tid: int, ts: int) -> str:
        sec, nsec = divmod(ts, 1_000_000_000)
        return f"{tid:<5} {sec}.{nsec // 1000:06d} "

    def interrupt(self) -> None:
        if self.open is not None:
            self._write(" <unfinished ...>\n")
            self.open.unfinished = True
            self.open = None

    def line(self, tid: int, ts: int, text: str) -> None:
        self.interrupt()
        self._write(f"{self.leader(tid, ts)}{text}\n")

    def begin(self, call: Call, text: str) -> None:
        self.interrupt()
        head = f"{self.leader(call.tid, call.ts)}{call.name}({text}"
        self._write(head)
        self.open = call
        self.col = len(head)

    def _close(self, call: Call, ts: int, rest: str) -> str:
        """The text that ends ``call``'s argument list: its own open line, or a resumed one."""
        if self.open is call:
            self.open = None
            col = self.col + len(rest) + 1
            text = rest + ")"
        else:
            self.interrupt()
            text = f"{self.leader(call.tid, ts)}<... {call.name} resumed>{rest})"
            col = len(text)
        return text + (" " * (_COLUMN - col) if col < _COLUMN else " ")

    def finish(self, call: Call, ts: int, rest: str, ret: str) -> None:
        dur = max(ts - call.ts, 0) // 1000
        self._write(
            f"{self._close(call, ts, rest)}= {ret} <{dur // 1_000_000}.{dur % 1_000_000:06d}>\n"
        )

    def never_returned(self, call: Call, ts: int, decoded: bool) -> None:
        """The call dies with its thread: ``<... futex resumed>) = ?`` (strace's
        print_event_exit), with `` <unfinished ...>`` when its exit half was still to come."""
        rest = "" if decoded else " <unfinished ...>"
        self._write(f"{self._close(call, ts, rest)}= ?\n")


class Tracer:
    def __init__(
        self,
        log_fd: int,
        status_fd: int,
        *,
        string_size: int = 256,
        seccomp: bool = True,
        trace_futex: bool = True,
    ) -> None:
        self.log = LogWriter(log_fd)
        self.status_fd = status_fd
        self.mem = pt.Memory()
        self.reader = pt.SyscallReader()
        self.decoder = Decoder(self.mem, string_size)
        self.watched = pt.WATCHED_NRS if trace_futex else pt.WATCHED_NRS - {pt.NR_FUTEX}
        self.want_seccomp = seccomp
        self.seccomp_on: bool | None = None if seccomp else False
        self.tasks: dict[int, Task] = {}
        self.root = 0
        self.root_status: int | None = None
        self.terminating = False
        self.bugs = 0

    # --- messages to the backend --------------------------------------------------------------

    def say(self, text: str) -> None:
        with contextlib.suppress(OSError):
            os.write(self.status_fd, (text.replace("\n", " ") + "\n").encode())

    # --- start-up ----------------------------------------------------------------------------

    def start(
        self,
        path: str,
        argv: list[str],
        env: dict[str, str],
        cwd: str | None,
        stderr_devnull: bool,
    ) -> None:
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the command-to-be
            os.close(go_w)
            _child(go_r, path, argv, env, cwd, stderr_devnull, self.watched)  # never returns
        os.close(go_r)
        self.root = pid
        options = (
            pt.O_TRACESYSGOOD
            | pt.O_TRACEFORK
            | pt.O_TRACEVFORK
            | pt.O_TRACECLONE
            | pt.O_TRACEEXEC
            | pt.O_TRACEEXIT
        )
        if self.want_seccomp:
            options |= pt.O_TRACESECCOMP | pt.O_EXITKILL
        try:
            pt.seize(pid, options)
        except OSError as exc:
            if not self.want_seccomp:
                raise
            self.say(f"note PTRACE_O_TRACESECCOMP refused ({exc.strerror}): tracing every call")
            self.want_seccomp = False
            self.seccomp_on = False
            pt.seize(pid, options & ~(pt.O_TRACESECCOMP | pt.O_EXITKILL))
        self.say(f"root {pid}")
        task = Task(pid, pid, hidden=True, stepping=True)
        self.tasks[pid] = task
        # Stop it (it is blocked reading the pipe) so that it runs under PTRACE_SYSCALL from
        # here on, then let it go.
        pt.interrupt(pid)
        while True:
            _, status = os.waitpid(pid, pt.WALL)
            if os.WIFSTOPPED(status) and status >> 16 == pt.EVENT_STOP:
                break
            if not os.WIFSTOPPED(status):
                # It died before it was traced (chdir failed, killed): nothing to trace.
                self.root_status = status
                self.tasks.clear()
                os.close(go_w)
                return
            pt.resume(pid, pt.PTRACE_CONT, 0)
        os.write(go_w, b"S" if self.want_seccomp else b"N")
        os.close(go_w)
        pt.resume(pid, pt.PTRACE_SYSCALL, 0)

    # --- the loop ------------------------------------------------------------------------------

    def run(self) -> int:
        """Trace until every tracee is gone; the root's status as a Popen returncode."""
        try:
            self._loop()
        except _Terminate:
            self._terminate()
        status = self.root_status
        if status is None:
            return 1
        if os.WIFSIGNALED(status):
            return -os.WTERMSIG(status)
        return os.WEXITSTATUS(status)

    def _loop(self) -> None:
        wait = os.waitpid
        flags = pt.WALL
        while self.tasks:
            try:
                tid, status = wait(-1, flags)
            except ChildProcessError:
                break
            self._dispatch(tid, status)

    def _dispatch(self, tid: int, status: int) -> None:
        task = self.tasks.get(tid)
        if os.WIFSTOPPED(status):
            if task is None:
                # A new thread or process whose creator's event we have not seen yet.
                task = Task(tid, _tgid_of(tid))
                self.tasks[tid] = task
            try:
                self._stopped(task, status)
            except ProcessLookupError:
                pass  # killed while stopped: its death comes through waitpid
            except Exception as exc:
                # A decoding bug must not leave the command stopped for good: say it, go on.
                self.bugs += 1
                if self.bugs <= 3:
                    self.say(f"note tracer error at a stop of {task.tid}: {exc!r}")
                task.call = None
                with contextlib.suppress(OSError):
                    self._resume(task)
            return
        if (os.WIFEXITED(status) or os.WIFSIGNALED(status)) and task is not None:
            self._died(task, status)

    def _stopped(self, t: Task, status: int) -> None:
        sig = os.WSTOPSIG(status)
        event = status >> 16
        if event == 0:
            if sig == _SYSGOOD_TRAP:
                self._syscall_stop(t)
            else:
                self._signal(t, sig)
            return
        if event == pt.EVENT_SECCOMP:
            self._seccomp_stop(t)
            return
        if event == pt.EVENT_STOP:
            if sig in _GROUP_STOP_SIGNALS:
                # group-stop: stay stopped (PTRACE_LISTEN) but keep reporting
                if not t.hidden:
                    self.log.line(t.tid, time.time_ns(), f"--- stopped by {signame(sig)} ---")
                pt.resume(t.tid, pt.PTRACE_LISTEN, 0)
                return
            self._resume(t)
            return
        if event in (pt.EVENT_FORK, pt.EVENT_VFORK, pt.EVENT_CLONE):
            self._new_child(t, event)
        elif event == pt.EVENT_EXEC:
            self._exec(t)
        elif event == pt.EVENT_EXIT:
            self._exiting(t)
            pt.resume(t.tid, pt.PTRACE_CONT, 0)
            return
        self._resume(t)

    def _resume(self, t: Task, sig: int = 0) -> None:
        step = t.stepping or t.call is not None or not self.seccomp_on
        pt.resume(t.tid, pt.PTRACE_SYSCALL if step else pt.PTRACE_CONT, sig)

    # --- syscalls ------------------------------------------------------------------------------

    def _seccomp_stop(self, t: Task) -> None:
        op = self.reader.op(t.tid)
        nr, args, _ = self.reader.entry(t.tid, op)
        if t.call is not None and t.call.nr == nr and t.stepping:
            pass  # the entry stop already took it (start-up, stepping)
        elif not t.stepping:
            t.in_syscall = True
            self._enter(t, nr, args)
        self._resume(t)

    def _syscall_stop(self, t: Task) -> None:
        op = self.reader.op(t.tid)
        entering = op == pt.OP_ENTRY or (op == pt.OP_NONE and not t.in_syscall)
        if entering:
            nr, args, arch = self.reader.entry(t.tid, op)
            t.in_syscall = True
            t.pending_nr = nr
            if arch == pt.AUDIT_ARCH_X86_64 and (
                (t.hidden and nr in _EXECVE)
                or (not t.hidden and not self.seccomp_on and nr in self.watched)
            ):
                self._enter(t, nr, args)
        elif op in (pt.OP_EXIT, pt.OP_NONE):
            rval = self.reader.exit(t.tid, op)
            t.in_syscall = False
            if t.call is not None:
                self._leave(t, rval)
            elif t.hidden and t.pending_nr == _NR_SECCOMP and self.seccomp_on is None:
                self.seccomp_on = rval == 0
                err = (
                    ""
                    if rval == 0
                    else f" seccomp(SECCOMP_SET_MODE_FILTER) failed ({os.strerror(-rval)})"
                )
                self.say(f"seccomp {1 if rval == 0 else 0}{err}")
            t.pending_nr = -1
        self._resume(t)

    def _enter(self, t: Task, nr: int, args: tuple[int, ...]) -> None:
        now = time.time_ns()
        if t.hidden and nr in _EXECVE:
            t.hidden = False
            if self.seccomp_on is None:
                self.seccomp_on = False
                self.say("seccomp 0 the filter was not installed")
        call = Call(t.tid, t.tgid, nr, pt.syscall_name(nr), args, now)
        t.call = call
        text = self.decoder.entry(call)
        if not t.hidden:
            self.log.begin(call, text)

    def _leave(self, t: Task, rval: int) -> None:
        call = t.call
        assert call is not None
        t.call = None
        now = time.time_ns()
        rest, ret = self.decoder.exit(call, rval)
        if not t.hidden:
            self.log.finish(call, now, rest, ret)
        self.decoder.after(call, rval)
        if call.nr in _EXECVE:
            t.stepping = False  # start-up is over (a failed exec: the child exits at once)

    # --- signals, children, exec, exit ----------------------------------------------------------

    def _signal(self, t: Task, sig: int) -> None:
        """Signal-delivery-stop: print it, deliver it unchanged."""
        if not t.hidden:
            try:
                raw = pt.get_siginfo(t.tid)
                signo, code, fields = siginfo_fields(raw)
                info = siginfo_text(signo or sig, code, fields)
            except OSError:
                info = ""
            text = f"--- {signame(sig)} {info} ---" if info else f"--- {signame(sig)} ---"
            self.log.line(t.tid, time.time_ns(), text)
        self._resume(t, sig)

    def _new_child(self, t: Task, event: int) -> None:
        child = pt.event_msg(t.tid)
        thread = False
        if event == pt.EVENT_CLONE and t.call is not None:
            if t.call.name == "clone":
                thread = bool(t.call.args[0] & 0x10000)
            elif t.call.name == "clone3":
                data = self.mem.read(t.tid, t.call.args[0], 8)
                thread = len(data) == 8 and bool(int.from_bytes(data, "little") & 0x10000)
        tgid = t.tgid if thread else child
        known = self.tasks.get(child)
        if known is None:
            self.tasks[child] = Task(child, tgid, hidden=t.hidden)
        else:
            known.tgid = tgid

    def _exec(self, t: Task) -> None:
        former = pt.event_msg(t.tid)
        if former != t.tid:
            # A non-leader thread called execve: it takes over the leader's tid.
            now = time.time_ns()
            if t.call is not None:
                self.log.never_returned(t.call, now, self.decoder.decoded_at_entry(t.call))
                t.call = None
            old = self.tasks.pop(former, None)
            self.log.line(t.tid, now, f"+++ superseded by execve in pid {former} +++")
            if old is not None and old.call is not None:
                old.call.tid = t.tid
                t.call = old.call
                t.in_syscall = True
        self.decoder.fds.forget_group(t.tgid)

    def _exiting(self, t: Task) -> None:
        """PTRACE_EVENT_EXIT: a call still in flight will never return."""
        if t.call is not None:
            if not t.hidden:
                self.log.never_returned(
                    t.call, time.time_ns(), self.decoder.decoded_at_entry(t.call)
                )
            t.call = None

    def _died(self, t: Task, status: int) -> None:
        self._exiting(t)
        del self.tasks[t.tid]
        if t.tid == self.root:
            self.root_status = status
        if t.tid == t.tgid:
            self.decoder.fds.forget_process(t.tgid)
        if t.hidden:
            return
        if os.WIFEXITED(status):
            text = f"+++ exited with {os.WEXITSTATUS(status)} +++"
        else:
            core = " (core dumped)" if os.WCOREDUMP(status) else ""
            text = f"+++ killed by {signame(os.WTERMSIG(status))}{core} +++"
        self.log.line(t.tid, time.time_ns(), text)

    # --- stopping early -------------------------------------------------------------------------

    def _terminate(self) -> None:
        """Asked to stop: with a seccomp filter the tracees cannot live untraced (their watched
        calls would fail with ENOSYS), so they are killed, as strace --seccomp-bpf kills on exit;
        otherwise they are detached and keep running."""
        self.terminating = True
        deadline = time.monotonic() + 3.0
        if self.seccomp_on or self.want_seccomp:
            for tid in list(self.tasks):
                with contextlib.suppress(OSError):
                    os.kill(tid, signal.SIGKILL)
        else:
            for tid in list(self.tasks):
                with contextlib.suppress(OSError):
                    pt.interrupt(tid)
        while self.tasks and time.monotonic() < deadline:
            try:
                tid, status = os.waitpid(-1, pt.WALL | os.WNOHANG)
            except ChildProcessError:
                break
            if tid == 0:
                time.sleep(0.01)
                continue
            t = self.tasks.get(tid)
            if t is None:
                continue
            if os.WIFSTOPPED(status):
                sig = os.WSTOPSIG(status)
                deliver = sig if status >> 16 == 0 and sig != _SYSGOOD_TRAP else 0
                with contextlib.suppress(OSError):
                    pt.detach(tid, deliver)
                if not self.seccomp_on:
                    del self.tasks[tid]
            else:
                self._died(t, status)
        self.log.interrupt()


def _tgid_of(tid: int) -> int:
    try:
        with open(f"/proc/{tid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"Tgid:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return tid


def _child(
    go_r: int,
    path: str,
    argv: list[str],
    env: dict[str, str],
    cwd: str | None,
    stderr_devnull: bool,
    watched: frozenset[int],
) -> None:
    """In the forked child: wait to be traced, install the filter if asked, exec."""
    try:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        if stderr_devnull:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 2)
            os.close(null)
        if cwd:
            os.chdir(cwd)
        go = os.read(go_r, 1)
        os.close(go_r)
        if go not in (b"S", b"N"):
            os._exit(127)  # the tracer is gone: never run the command untraced
        if go == b"S":
            with contextlib.suppress(OSError):
                pt.install_seccomp(watched)
        os.execve(path, argv, env)
    except BaseException:
        pass
    os._exit(127)


def worker_main(
    log_fd: int,
    status_fd: int,
    path: str,
    run: Launch,
    *,
    string_size: int,
    seccomp: bool,
    trace_futex: bool = True,
) -> None:
    """The body of the forked tracer process; never returns."""
    argv, env, cwd, stderr_devnull = list(run.command), run.full_env(), run.cwd, run.stderr_devnull
    code = 1
    try:
        keep = {0, 1, 2, log_fd, status_fd}
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd not in keep:
                with contextlib.suppress(OSError):
                    os.close(fd)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C goes to the command

        def stop(signum: int, frame: object) -> None:
            raise _Terminate

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGHUP, stop)
        if stderr_devnull:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 2)
            os.close(null)
        tracer = Tracer(
            log_fd, status_fd, string_size=string_size, seccomp=seccomp, trace_futex=trace_futex
        )
        try:
            tracer.start(path, argv, env, cwd, stderr_devnull)
        except _Terminate:
            tracer.say("exit 1")
            os._exit(1)
        code = tracer.run()
        tracer.say(f"exit {code}")
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.write(status_fd, f"error {type(exc).__name__}: {exc}\n".encode())
    os._exit(code & 0xFF if code >= 0 else 128 - code)
