"""The eBPF backend's writer: bpftrace's records in, the ``strace -f -ttt -T -yy -s N`` log out.

bpftrace writes its records (:mod:`gotrace.tracer.ebpf_script`) to a file. The worker,
forked by :class:`gotrace.tracer.ebpf.EbpfBackend` once bpftrace is attached, forks the
command, which marks itself for the kernel side (a ``close()`` of the marker fd number: from
then on it and every task it creates are in ``@pids``) and execs, and the converter, which
turns the records into the log as they come, at idle priority (``SCHED_IDLE``: the command
and bpftrace have the CPUs first). The worker follows the tree's tasks from the records'
``N``/``Q`` lines; once every task is gone and its last records are in, it says
``captured TIME`` (the capture's end) and the converter finishes at full speed.

Records arrive per CPU, so not quite in time order: they wait :data:`HOLD_BACK` seconds of
the records' own clock, then are written in time order. A call is formatted by the ptrace
backend's :class:`~gotrace.tracer.ptrace_decode.Decoder` and written by its
:class:`~gotrace.tracer.ptrace_worker.LogWriter`, reading the memory bpftrace recorded
instead of the tracee's. fds are named from the events alone, with the analyzers'
:class:`~gotrace.parsers.fdreplay.FdReplay` (paths of opens, sockets' peers from connect and
getsockname, pipes, dup, CLOEXEC at exec, tables copied at fork); the command's inherited
fds are read from /proc before it execs.

Messages to the backend use the ptrace worker's status pipe: ``root PID``, ``captured
TIME``, ``note TEXT``, ``exit RETURNCODE``, ``error TEXT``.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import re
import select
import shutil
import signal
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gotrace.parsers.fdreplay import Fd, FdReplay, Table, inet_peer
from gotrace.tracer import ptrace_sys as pt
from gotrace.tracer.base import Launch
from gotrace.tracer.ptrace_decode import Call, Decoder, siginfo_text
from gotrace.tracer.ptrace_fds import FdNames, escape_target
from gotrace.tracer.ptrace_names import signame
from gotrace.tracer.ptrace_worker import LogWriter, _child

#: seconds a record waits for the records of other CPUs that may come before it
HOLD_BACK = 0.5
_CLONE_FILES = 0x400
_CLONE_THREAD = 0x10000
_EXECVE = frozenset({"execve", "execveat"})
_FORKS = frozenset({"clone", "clone3", "fork", "vfork"})
_OPENERS = {"open": 0, "creat": 0, "openat": 1, "openat2": 1}
_BYTE = {b"%02x" % i: bytes((i,)) for i in range(256)}


def unescape(text: bytes) -> bytes:
    """bpftrace's ``%r``: printable bytes as they are, the others as ``\\xNN``. A literal
    backslash followed by ``x`` and two hex digits cannot be told apart (bpftrace does not
    escape backslashes)."""
    if b"\\x" not in text:
        return text
    pieces = text.split(b"\\x")
    out = [pieces[0]]
    byte = _BYTE.get
    for piece in pieces[1:]:
        b = byte(piece[:2])
        if b is None:
            out.append(b"\\x" + piece)
        else:
            out.append(b)
            out.append(piece[2:])
    return b"".join(out)


class Captured(pt.Memory):
    """The tracee memory one call needs, as bpftrace recorded it: :class:`ptrace_sys.Memory`'s
    interface, reading nothing else (an address never recorded reads as empty)."""

    def __init__(self, strlen: int) -> None:  # no super().__init__: no tracee to read
        self.strlen = strlen
        self.blocks: dict[int, tuple[bytes, bool]] = {}  # addr -> (bytes, is a C string)

    def add(self, addr: int, data: bytes, cstring: bool) -> None:
        self.blocks[addr] = (data, cstring)

    def read(self, pid: int, addr: int, size: int) -> bytes:
        hit = self.blocks.get(addr)
        if hit is not None:
            data, is_str = hit
            return (data + b"\0" if is_str else data)[:size]
        for base, (data, _) in self.blocks.items():
            if base < addr < base + len(data):
                return data[addr - base : addr - base + size]
        return b""

    def cstring(self, pid: int, addr: int, limit: int) -> tuple[bytes, bool]:
        hit = self.blocks.get(addr)
        if hit is None:
            return b"", False
        data, is_str = hit
        if is_str:
            # bpftrace cuts strings at STRLEN - 1 bytes without saying so
            complete = len(data) < self.strlen - 1
            return data[:limit], complete and len(data) <= limit
        nul = data.find(b"\0")
        if nul < 0:
            return data[:limit], False
        return data[: min(nul, limit)], nul <= limit

    def words(self, pid: int, addr: int, count: int) -> list[int]:
        data = self.read(pid, addr, 8 * count)
        n = len(data) // 8
        return [int.from_bytes(data[i * 8 : i * 8 + 8], "little") for i in range(n)]


class EventFds(FdNames):
    """fd names from the events alone: :class:`ptrace_fds.FdNames`'s interface over the
    analyzers' :class:`FdReplay`, one table per thread group (never /proc: by the time a
    record is written the fd may be long gone)."""

    def __init__(self) -> None:  # no super().__init__: nothing is looked up in /proc
        self.replay = FdReplay()
        self.cwd: dict[int, str] = {}

    def fd(self, tid: int, tgid: int, fd: int) -> str:
        if fd < 0:
            return str(fd)
        target = self.replay.lookup(tgid, fd)
        if target is None or target.startswith("<inherited"):
            return str(fd)
        return f"{fd}<{target}>"

    def at_fdcwd(self, tid: int, tgid: int) -> str:
        cwd = self.cwd.get(tgid)
        return f"AT_FDCWD<{escape_target(cwd)}>" if cwd else "AT_FDCWD"

    # The replay itself follows closes, dups and execs (see EbpfWriter._applied).
    def forget(self, tgid: int, fd: int) -> None: ...

    def forget_group(self, tgid: int) -> None: ...

    def forget_cwd(self, tgid: int) -> None: ...

    def forget_process(self, tgid: int) -> None:
        self.replay.table_of.pop(tgid, None)
        self.cwd.pop(tgid, None)

    def new_task(self, parent_tgid: int, child: int, flags: int) -> None:
        """A fork copies the parent's fd table and cwd (CLONE_FILES shares the table)."""
        if flags & _CLONE_THREAD:
            return
        table = self.replay.table(parent_tgid)
        self.replay.table_of[child] = table if flags & _CLONE_FILES else table.copy()
        if parent_tgid in self.cwd:
            self.cwd[child] = self.cwd[parent_tgid]

    def seed(self, tgid: int, fds: dict[int, str], cwd: str) -> None:
        self.replay.table_of[tgid] = Table({n: Fd(t) for n, t in fds.items()})
        self.cwd[tgid] = cwd


_KINDS = frozenset((b"F", b"I", b"N", b"Q", b"G", b"D"))


@dataclass(slots=True)
class Record:
    ts: int
    seq: int
    kind: bytes
    tid: int
    fields: list[bytes]
    caps: list[tuple[int, bytes, bool]] = field(default_factory=list)
    exit: Record | None = None


class _BufferedLog(LogWriter):
    """The ptrace backend's writer, written out once per batch of records (not per piece:
    the records are already :data:`HOLD_BACK` late)."""

    def __init__(self, fd: int) -> None:
        super().__init__(fd)
        self.parts: list[str] = []

    def _write(self, text: str) -> None:
        self.parts.append(text)

    def push(self) -> None:
        if self.parts:
            data = "".join(self.parts).encode("utf-8", "surrogateescape")
            self.parts.clear()
            while data:
                n = os.write(self.fd, data)
                data = data[n:]


class EbpfWriter:
    """Turns bpftrace's records into the log, in time order."""

    def __init__(
        self,
        log_fd: int,
        root: int,
        *,
        string_size: int,
        strlen: int,
        epoch_offset: int,
        path: str | None = None,
    ) -> None:
        """``path``: the log's, to put it in time order at the end (see :meth:`finish`)."""
        self.log = _BufferedLog(log_fd)
        self.fds = EventFds()
        # bpftrace records at most strlen bytes: strace's -s is that, at most
        self.decoder = Decoder(Captured(strlen), min(string_size, strlen))
        self.decoder.fds = self.fds
        self.strlen = strlen
        self.offset = epoch_offset
        self.root = root
        self.hidden = {root}  # the command before its execve: nothing is printed
        self.calls: dict[int, Call] = {}
        self.tgid: dict[int, int] = {root: root}
        self.live: set[int] = {root}
        self.heap: list[tuple[int, int, Record]] = []
        self.seq = 0
        # What was read at a call's entry (C) or exit (K), stamped with the call's entry
        # time: it may come before or after the call's record (each CPU has its own buffer,
        # and a call can move to another CPU, as an execve does), so it waits here by
        # (tid, entry time) until that comes, or is added to the entry/exit it belongs to.
        self.early_entry_caps: dict[tuple[int, int], list[tuple[int, bytes, bool]]] = {}
        self.early_caps: dict[tuple[int, int], list[tuple[int, bytes, bool]]] = {}
        self.entry_of: dict[tuple[int, int], Record] = {}  # (tid, entry time) -> its entry
        self.exit_of: dict[tuple[int, int], Record] = {}  # (tid, entry time) -> its exit
        self.entered: dict[int, int] = {}  # tid -> entry time of a call known in flight
        self.returned: dict[int, int] = {}  # tid -> entry time of its last call that returned
        self.written = 0  # the time of the latest record written
        self.late = 0  # records written after later ones (calls longer than HOLD_BACK)
        self.path = path
        self.senders: dict[int, tuple[int, int]] = {}  # target tgid -> (sender tgid, uid)
        self.statuses: dict[int, int] = {}
        self.lost = 0
        self.bad = 0
        self.latest = 0

    # --- reading ---------------------------------------------------------------------------

    def feed(self, line: bytes) -> None:
        kind = line[:1]
        if kind == b"C" or kind == b"K":
            parts = line.split(b" ", 5)
            if len(parts) < 6:
                self.bad += 1
                return
            ts, tid, addr = int(parts[1]), int(parts[2]), int(parts[3], 16)
            if parts[4] == b"S":
                cap = (addr, parts[5], True)
            else:
                n, _, raw = parts[5].partition(b" ")
                cap = (addr, unescape(raw)[: int(n)], False)
            # both stamped with the call's entry time
            owner, early = (
                (self.entry_of, self.early_entry_caps)
                if kind == b"C"
                else (self.exit_of, self.early_caps)
            )
            rec = owner.get((tid, ts))
            if rec is not None:
                rec.caps.append(cap)
            else:
                early.setdefault((tid, ts), []).append(cap)
            return
        if line.startswith(b"Lost "):
            m = re.match(rb"Lost (\d+) events", line)
            self.lost += int(m.group(1)) if m else 1
            return
        if kind not in _KINDS:
            # bpftrace's own first lines: "Attaching N probes...", then the program's READY
            if line and line != b"READY" and not line.startswith(b"Attaching "):
                self.bad += 1
            return
        words = line.split()
        try:
            ts, tid = int(words[1]), int(words[2])
        except (IndexError, ValueError):
            self.bad += 1
            return
        if ts > self.latest:
            self.latest = ts
        if kind == b"F":
            self._record(ts, tid, words)
        elif kind == b"I":
            # I ts tid t0 tgid nr a0..a5: in flight when the task ended
            self._in_flight(tid, int(words[3]), words[4], words[5], words[6:12])
        else:
            self.seq += 1
            heapq.heappush(self.heap, (ts, self.seq, Record(ts, self.seq, kind, tid, words[3:])))

    def _record(self, t1: int, tid: int, words: list[bytes]) -> None:
        """``F t1 tid t0 tgid nr ret a0..a5``: a call that returned, as an entry and an exit."""
        t0 = int(words[3])
        self.returned[tid] = t0
        self.seq += 1
        x = Record(t1, self.seq, b"X", tid, [words[5], words[6], words[3]])
        x.caps = self.early_caps.pop((tid, t0), [])
        self.exit_of[(tid, t0)] = x
        known = self.entered.pop(tid, None)
        if known is None or known != t0:
            self.seq += 1
            e = Record(t0, self.seq, b"E", tid, [words[4], words[5], *words[7:13]])
            self._entry(e)
            e.exit = x
        heapq.heappush(self.heap, (t1, x.seq, x))

    def _entry(self, e: Record) -> None:
        """Queue a call's entry, with what was read at it so far (more may come)."""
        e.caps = self.early_entry_caps.pop((e.tid, e.ts), [])
        self.entry_of[(e.tid, e.ts)] = e
        heapq.heappush(self.heap, (e.ts, e.seq, e))

    def _in_flight(self, tid: int, t0: int, tgid: bytes, nr: bytes, args: list[bytes]) -> None:
        """A call a task was in when it ended: its entry (its ``F`` may yet say it returned)."""
        if self.returned.get(tid, -1) >= t0 or self.entered.get(tid) == t0:
            return  # it has returned, or is known already
        self.entered[tid] = t0
        self.seq += 1
        self._entry(Record(t0, self.seq, b"E", tid, [tgid, nr, *args]))

    def flush(self, until: int | None = None) -> None:
        """Write every record older than ``until`` (monotonic ns; all when None)."""
        heap = self.heap
        pop = heapq.heappop
        try:
            while heap and (until is None or heap[0][0] < until):
                rec = pop(heap)[2]
                if rec.ts < self.written:
                    self.late += 1
                else:
                    self.written = rec.ts
                try:
                    self._write(rec)
                except (ValueError, IndexError, KeyError) as exc:
                    self.bad += 1
                    if self.bad <= 3:
                        raise RecordError(f"{rec.kind!r} record of {rec.tid}: {exc!r}") from exc
        finally:
            self.log.push()

    # --- writing ---------------------------------------------------------------------------

    def _epoch(self, ts: int) -> int:
        return ts + self.offset

    def _write(self, rec: Record) -> None:
        kind = rec.kind
        if kind == b"E":
            self._enter(rec)
        elif kind == b"X":
            self._exit(rec)
        elif kind == b"N":
            tgid, child, flags = int(rec.fields[0]), int(rec.fields[1]), int(rec.fields[2], 16)
            self.tgid[child] = tgid if flags & _CLONE_THREAD else child
            self.live.add(child)
            self.fds.new_task(tgid, child, flags)
            if rec.tid in self.hidden:
                self.hidden.add(child)
        elif kind == b"Q":
            self._died(rec)
        elif kind == b"G":
            self.senders[int(rec.fields[0])] = (rec.tid, int(rec.fields[3]))
        elif kind == b"D":
            self._signal(rec)

    def _memory(self, rec: Record) -> Captured:
        mem = Captured(self.strlen)
        for addr, data, is_str in rec.caps:
            mem.add(addr, data, is_str)
        if rec.exit is not None:
            for addr, data, is_str in rec.exit.caps:
                mem.add(addr, data, is_str)
        return mem

    def _enter(self, rec: Record) -> None:
        tid = rec.tid
        self.entry_of.pop((tid, rec.ts), None)
        tgid = int(rec.fields[0])
        self.tgid[tid] = tgid
        nr = int(rec.fields[1])
        args = tuple(int(a, 16) for a in rec.fields[2:8])
        name = pt.syscall_name(nr)
        if tid in self.hidden:
            if name not in _EXECVE:
                return
            self.hidden.discard(tid)
        call = Call(tid, tgid, nr, name, args, self._epoch(rec.ts))
        call.saved["mem"] = self._memory(rec)
        self.decoder.mem = call.saved["mem"]
        text = self.decoder.entry(call)
        call.saved["text"] = text
        self.calls[tid] = call
        self.log.begin(call, text)

    def _exit(self, rec: Record) -> None:
        self.exit_of.pop((rec.tid, int(rec.fields[2])), None)
        call = self.calls.pop(rec.tid, None)
        nr = int(rec.fields[0])
        if call is None or call.nr != nr:
            return  # its entry came before the command was marked, or was lost
        rval = int(rec.fields[1])
        mem: Captured = call.saved["mem"]
        for addr, data, is_str in rec.caps:
            mem.add(addr, data, is_str)
        self.decoder.mem = mem
        rest, ret = self.decoder.exit(call, rval)
        if call.name not in _FORKS:
            self._applied(call, call.saved["text"] + rest, rval, mem)
            ret = self.decoder.retval(call, rval)
        self.log.finish(call, self._epoch(rec.ts), rest, ret)

    def _applied(self, call: Call, args: str, rval: int, mem: Captured) -> None:
        """Keep the fd tables true after ``call`` returned ``rval``."""
        name, tgid = call.name, call.tgid
        fds = self.fds
        target = None
        if name in _OPENERS and rval >= 0:
            target = self._open_target(call, mem)
        fds.replay.apply(tgid, name, args, rval, 0, target)
        if rval < 0:
            return
        if name == "chdir":
            path, _ = mem.cstring(call.tid, call.args[0], 4096)
            fds.cwd[tgid] = self._absolute(tgid, -100, path.decode("utf-8", "surrogateescape"))
        elif name == "fchdir":
            where = fds.replay.lookup(tgid, call.args[0] & 0xFFFFFFFF)
            if where and where.startswith("/"):
                fds.cwd[tgid] = where
        elif name == "getsockname":
            # Go asks right after connect: strace's TCP:[local->peer] from then on
            local = inet_peer(args)
            fd = fds.replay.table(tgid).fds.get(call.args[0] & 0xFFFFFFFF)
            if local and fd is not None and ":[->" in fd.target:
                proto, _, peer = fd.target.partition(":[->")
                fd.target = f"{proto}:[{local}->{peer}"

    def _absolute(self, tgid: int, dirfd: int, path: str) -> str:
        if path.startswith("/"):
            return os.path.normpath(path)
        base = self.fds.cwd.get(tgid) if dirfd == -100 else self.fds.replay.lookup(tgid, dirfd)
        if not base or not base.startswith("/"):
            return path
        return os.path.normpath(os.path.join(base, path))

    def _open_target(self, call: Call, mem: Captured) -> str | None:
        idx = _OPENERS[call.name]
        raw, _ = mem.cstring(call.tid, call.args[idx], 4096)
        if not raw:
            return None
        dirfd = -100 if idx == 0 else _s32(call.args[0])
        path = self._absolute(call.tgid, dirfd, raw.decode("utf-8", "surrogateescape"))
        text = escape_target(path)
        if path.startswith("/dev/"):
            with contextlib.suppress(OSError):
                st = os.stat(path)
                if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                    kind = "char" if stat.S_ISCHR(st.st_mode) else "block"
                    text += f"<{kind} {os.major(st.st_rdev)}:{os.minor(st.st_rdev)}>"
        return text

    def _died(self, rec: Record) -> None:
        tid = rec.tid
        tgid, code = int(rec.fields[0]), int(rec.fields[1])
        self.live.discard(tid)
        ts = self._epoch(rec.ts)
        call = self.calls.pop(tid, None)
        hidden = tid in self.hidden
        self.hidden.discard(tid)
        if call is not None:
            self.log.never_returned(call, ts, self.decoder.decoded_at_entry(call))
        if tid == tgid:
            self.statuses[tgid] = code
        if hidden:
            return
        if os.WIFSIGNALED(code):
            core = " (core dumped)" if os.WCOREDUMP(code) else ""
            text = f"+++ killed by {signame(os.WTERMSIG(code))}{core} +++"
        else:
            text = f"+++ exited with {os.WEXITSTATUS(code)} +++"
        self.log.line(tid, ts, text)
        if tid == tgid:
            self.fds.forget_process(tgid)

    def _signal(self, rec: Record) -> None:
        tid = rec.tid
        if tid in self.hidden:
            return
        sig, code = int(rec.fields[0]), int(rec.fields[1])
        if sig == signal.SIGKILL:
            return  # strace never sees SIGKILL delivered
        sender, uid = self.senders.get(self.tgid.get(tid, tid), (0, 0))
        status = self.statuses.get(sender, 0)
        fields = {
            "pid": sender,
            "uid": uid,
            "status": os.WEXITSTATUS(status) if os.WIFEXITED(status) else os.WTERMSIG(status),
            "utime": 0,
            "stime": 0,
        }
        try:
            info = siginfo_text(sig, code, fields)
            text = f"--- {signame(sig)} {info} ---"
        except KeyError:
            text = f"--- {signame(sig)} ---"
        self.log.line(tid, self._epoch(rec.ts), text)

    def finish(self) -> None:
        """The end of the capture: what is still in flight stays ``<unfinished ...>``; lines
        written late (a call that lasted longer than :data:`HOLD_BACK` is known only when it
        returns) are put in time order."""
        self.flush()
        self.log.interrupt()
        self.log.push()
        if self.late and self.path is not None:
            sort_log(self.path, self.log.fd)


def sort_log(path: str, fd: int) -> None:
    """Rewrite the log (``path``, open for writing at ``fd``) in time order, keeping the order
    of lines of the same time: a stable sort on each line's timestamp (``PID TIME ...``)."""
    with open(path, "rb") as fh:
        lines = fh.read().splitlines(keepends=True)
    keyed: list[tuple[float, bytes]] = []
    last = 0.0
    for line in lines:
        with contextlib.suppress(IndexError, ValueError):
            last = float(line.split(None, 2)[1])
        keyed.append((last, line))
    keyed.sort(key=lambda k: k[0])
    data = b"".join(line for _, line in keyed)
    os.lseek(fd, 0, os.SEEK_SET)
    while data:
        n = os.write(fd, data)
        data = data[n:]


class RecordError(Exception):
    """A record the writer could not turn into a log line."""


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def inherited_fds(pid: int) -> dict[int, str]:
    """The fds the command starts with (not close-on-exec), named as strace -yy names them."""
    names = FdNames()
    out: dict[int, str] = {}
    try:
        entries = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return out
    for entry in sorted(entries, key=int):
        fd = int(entry)
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as fh:
                flags = next((ln for ln in fh if ln.startswith("flags:")), "flags: 0")
        except OSError:
            continue
        if int(flags.split()[1], 8) & os.O_CLOEXEC:
            continue
        text = names.fd(pid, pid, fd)
        if "<" in text:
            out[fd] = text[text.index("<") + 1 : -1]
    names.forget_process(pid)
    return out


class _Tail:
    """bpftrace's records file, read as it grows; complete lines only."""

    def __init__(self, path: str) -> None:
        self.fh = open(path, "rb")  # noqa: SIM115 (read until the capture ends)
        self.partial = b""
        self.got = 0  # bytes the last read got

    def lines(self, limit: int = -1) -> list[bytes]:
        chunk = self.fh.read(limit)
        self.got = len(chunk)
        *lines, self.partial = (self.partial + chunk).split(b"\n")
        return lines

    def complete(self) -> bytes:
        """What was added since the last read, up to its last whole line (one block: no
        list of lines made)."""
        data = self.partial + self.fh.read()
        cut = data.rfind(b"\n") + 1
        self.got = len(data) - len(self.partial)
        self.partial = data[cut:]
        return data[:cut]


_TASK_LINE = re.compile(rb"^([NQ]) \d+ (\d+) \d+ (\d+)", re.M)


class _TreeWatch:
    """Which tasks of the traced tree are alive, from the records' ``N`` and ``Q`` lines alone
    (a regular-expression scan: cheap enough for the worker, which must notice at once that
    the command is over, however busy the machine is)."""

    def __init__(self, path: str, root: int) -> None:
        self.tail = _Tail(path)
        self.live = {root}

    def scan(self) -> None:
        for m in _TASK_LINE.finditer(self.tail.complete()):
            if m.group(1) == b"N":
                self.live.add(int(m.group(3)))
            else:
                self.live.discard(int(m.group(2)))

    def prune(self) -> None:
        """A task whose exit record was lost must not keep the capture open."""
        self.live = {t for t in self.live if os.path.exists(f"/proc/{t}")}


class _Terminate(Exception):
    """SIGTERM/SIGHUP to the writer: kill the command, stop tracing."""


#: seconds after the last task of the tree ended for the records of other CPUs to be in (more
#: than one read cycle of gotrace/tracer/_bpfwake.c: 20 ms)
GRACE = 0.05


def worker_main(
    log_fd: int,
    status_fd: int,
    records: str,
    bpf_pid: int,
    marker: int,
    path: str,
    run: Launch,
    *,
    string_size: int,
    strlen: int,
) -> None:
    """The body of the forked worker process; never returns. It starts the command and the
    converter (:func:`_convert`, a process of its own that writes the log from the records
    while the CPU has nothing else to do, so it never slows the command), waits for the
    command's tree, says ``captured TIME`` once every record of it is in, then lets the
    converter finish at full speed."""
    argv, env, cwd, stderr_devnull = list(run.command), run.full_env(), run.cwd, run.stderr_devnull

    def say(text: str) -> None:
        with contextlib.suppress(OSError):
            os.write(status_fd, (text.replace("\n", " ") + "\n").encode())

    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

        def stop(signum: int, frame: object) -> None:
            raise _Terminate

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGHUP, stop)
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(go_w)
            # The marker: bpftrace adds this thread to the traced tree as the call enters.
            with contextlib.suppress(OSError):
                os.close(marker)
            _child(go_r, path, argv, env, cwd, stderr_devnull, frozenset())  # never returns
        os.close(go_r)
        say(f"root {pid}")
        # The command's own fds, before it execs, once it has set them up (stderr to
        # /dev/null...) and waits for the go-ahead.
        _await_blocked(pid)
        seed = (inherited_fds(pid), os.path.abspath(cwd or os.getcwd()))
        done_r, done_w = os.pipe()
        conv = os.fork()
        if conv == 0:
            os.close(done_w)
            os.close(go_w)
            _convert(
                log_fd, status_fd, done_r, records, str(run.log), pid, seed, string_size, strlen
            )
        os.close(done_r)
        os.close(log_fd)
        os.write(go_w, b"N")
        os.close(go_w)
        code = _run(_TreeWatch(records, pid), pid, bpf_pid, say)
        # every record is in: the converter finishes at full speed
        with contextlib.suppress(OSError):
            os.sched_setscheduler(conv, os.SCHED_OTHER, os.sched_param(0))
        os.write(done_w, b"D")
        os.close(done_w)
        while True:
            try:
                _, st = os.waitpid(conv, 0)
                break
            except _Terminate:
                continue  # the records are complete: the log is written all the same
        if st != 0:
            say("note the log was not finished: the converter failed")
            code = code if code != 0 else 1
        keep = os.environ.get("GOTRACE_EBPF_RECORDS")
        if keep:  # bpftrace's records as they came (to debug the writer)
            shutil.copyfile(records, keep)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.write(status_fd, f"error {type(exc).__name__}: {exc}\n".encode())
    say(f"exit {code}")
    os._exit(code & 0xFF if code >= 0 else 128 - code)


def _await_blocked(pid: int, limit: float = 2.0) -> None:
    """Until the forked command blocks in its read of the go-ahead pipe (``read`` is call 0
    in /proc/PID/syscall), or ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/syscall", "rb") as fh:
                if fh.read().split(b" ", 1)[0] == b"0":
                    return
        except OSError:
            return
        time.sleep(0.001)


def _bpftrace_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def _run(watch: _TreeWatch, root: int, bpf_pid: int, say: Callable[[str], None]) -> int:
    """Until the traced tree is gone and its last records are in; the command's status."""
    status: int | None = None
    gone_since: float | None = None
    pidfd: int | None = None
    with contextlib.suppress(OSError, AttributeError):
        pidfd = os.pidfd_open(root)
    try:
        while True:
            if status is None:
                done, st = os.waitpid(root, os.WNOHANG)
                if done:
                    status = st
            watch.scan()
            if status is not None:
                if watch.live:
                    watch.prune()
                if not watch.live:
                    if gone_since is None:
                        gone_since = time.monotonic()
                    elif time.monotonic() - gone_since > GRACE:
                        # bpftrace's own teardown (seconds, to detach its probes) is not the
                        # capture's
                        break
            if _bpftrace_gone(bpf_pid):
                say("note bpftrace ended before the command: the trace stops there")
                if status is None:
                    status = os.waitpid(root, 0)[1]
                break
            if status is None and pidfd is not None:
                select.select([pidfd], [], [], 0.05)  # wakes as the command ends
            else:
                time.sleep(0.01 if status is not None else 0.05)
    except _Terminate:
        for tid in list(watch.live):
            with contextlib.suppress(OSError):
                os.kill(tid, signal.SIGKILL)
        time.sleep(GRACE)
        if status is None:
            with contextlib.suppress(ChildProcessError):
                _, status = os.waitpid(root, 0)
    say(f"captured {time.time()}")
    if pidfd is not None:
        os.close(pidfd)
    if status is None:
        return 1
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _convert(
    log_fd: int,
    status_fd: int,
    done_fd: int,
    records: str,
    log: str,
    root: int,
    seed: tuple[dict[int, str], str],
    string_size: int,
    strlen: int,
) -> None:
    """The converter process: records -> log, at idle priority until the worker says the
    records are complete (a byte on ``done_fd``), then the rest; never returns."""

    def say(text: str) -> None:
        with contextlib.suppress(OSError):
            os.write(status_fd, (text.replace("\n", " ") + "\n").encode())

    code = 1
    try:
        # the log is written after the capture, if need be: nothing may cut it short
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        offset = time.time_ns() - time.monotonic_ns()
        writer = EbpfWriter(
            log_fd, root, string_size=string_size, strlen=strlen, epoch_offset=offset, path=log
        )
        writer.fds.seed(root, *seed)
        tail = _Tail(records)
        os.set_blocking(done_fd, False)
        complete = False
        while True:
            if not complete:
                with contextlib.suppress(BlockingIOError):
                    os.read(done_fd, 1)
                    complete = True  # the worker's byte, or the worker gone
            # bounded slices, so that the end is noticed soon after it came
            chunk = 1 << 20
            for line in tail.lines(chunk):
                writer.feed(line)
            try:
                # by the records' own clock (bpftrace stamps one every DUMP_MS): a late
                # bpftrace delays the log, it does not disorder it
                writer.flush(writer.latest - int(HOLD_BACK * 1e9))
            except RecordError as exc:
                say(f"note record not written: {exc}")
            if complete and tail.got < chunk:
                break
            if not complete and tail.got < chunk:
                time.sleep(0.05)
        if tail.partial:
            writer.feed(tail.partial)
        writer.finish()
        if writer.lost:
            say(
                f"note bpftrace lost {writer.lost} events (its perf buffers overflowed): "
                "the trace misses calls; --backend strace loses none"
            )
            os.write(2, f"gotrace: ebpf: bpftrace lost {writer.lost} events\n".encode())
        if writer.bad:
            say(f"note {writer.bad} bpftrace records could not be read")
        code = 0
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.write(status_fd, f"error converter {type(exc).__name__}: {exc}\n".encode())
    os._exit(code)
