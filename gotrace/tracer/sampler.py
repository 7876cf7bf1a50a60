"""Watch a process tree through /proc, with no ptrace: the call each thread is blocked in, its
sockets, the cache locks it waits for, its I/O counters and the module files it is writing.

Capture only: :class:`ProcSampler` reads /proc and returns
:class:`gotrace.model.samples.Sample` values; in its background mode it appends one per line
to ``samples.jsonl``. :class:`SamplerBackend` runs a command with plain subprocess and samples
it; it can also run beside strace as a watchdog. The tree's sockets are looked up in
:mod:`gotrace.tracer.procnet`. Turning samples into words is
:mod:`gotrace.analyzers.samples`.

Everything read here can vanish between two reads (a thread exits, a process is reaped, an
fd is closed): a missing file means "gone", never an error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from gotrace import proclocks
from gotrace.errors import GotraceError
from gotrace.modcachelayout import is_download_temp
from gotrace.model.samples import (
    DownloadFile,
    FdSample,
    LockSample,
    ProcessSample,
    Sample,
    SocketSample,
    ThreadSample,
    write_sample,
)
from gotrace.tracer.base import Backend, Launch
from gotrace.tracer.procnet import parse_net_table, tcp_sockets
from gotrace.tracer.syscalls import syscall_name

DEFAULT_INTERVAL = 0.1
#: how often the whole of GOMODCACHE/cache/download is walked for *.tmp and .partial files
#: (files the tree holds open are seen at every sample)
DEFAULT_SCAN_INTERVAL = 1.0
PROC = "/proc"
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_NET_TABLES = ("tcp", "tcp6", "udp", "udp6", "unix")
#: the socket's ``system.sockprotoname`` xattr -> the /proc/net table that lists it
_PROTO_TABLE = {"TCP": "tcp", "TCPv6": "tcp6", "UDP": "udp", "UDPv6": "udp6", "UNIX": "unix"}
_LOCK_CALLS = frozenset({"flock", "fcntl"})

# --- reading /proc ---------------------------------------------------------------------------


def _read(path: str) -> str | None:
    """A /proc file's text, or None when it (or its process) is gone or unreadable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace")


def _parse_stat(text: str) -> tuple[str, str, int, float] | None:
    """(comm, state, ppid, cpu seconds) from /proc/PID/stat; comm may hold spaces and ')'."""
    open_at, close_at = text.find("("), text.rfind(")")
    if open_at < 0 or close_at < 0:
        return None
    rest = text[close_at + 2 :].split()
    try:
        cpu = (int(rest[11]) + int(rest[12])) / _CLK_TCK
        return text[open_at + 1 : close_at], rest[0], int(rest[1]), cpu
    except (IndexError, ValueError):
        return None


def parse_syscall(text: str | None, machine: str) -> tuple[str, int | None, tuple[int, ...]]:
    """/proc/TID/syscall: ``running``; ``-1 sp pc`` (blocked outside a call); or
    ``nr a1 .. a6 sp pc``."""
    if text is None:
        return "?", None, ()
    parts = text.split()
    if not parts or parts[0] == "running":
        return "running", None, ()
    try:
        nr = int(parts[0])
        if nr < 0:
            return "running", None, ()
        args = tuple(int(a, 16) for a in parts[1:7])
    except ValueError:
        return "?", None, ()
    return syscall_name(nr, machine), nr, args


def _parse_io(text: str | None) -> tuple[int | None, int | None]:
    rchar = wchar = None
    for line in (text or "").splitlines():
        key, _, value = line.partition(":")
        if key in ("rchar", "wchar") and value.strip().isdigit():
            if key == "rchar":
                rchar = int(value)
            else:
                wchar = int(value)
    return rchar, wchar


def parse_locks(text: str) -> list[tuple[str, str, str, int, tuple[int, ...]]]:
    """(file_id, kind, mode, holder pid, waiter pids) per held lock in /proc/locks::

    1: FLOCK  ADVISORY  WRITE 13455 fe:00:2155304 0 EOF
    1: -> FLOCK  ADVISORY  WRITE 13456 fe:00:2155304 0 EOF
    """
    held: list[tuple[str, str, str, int, list[int]]] = []
    for r in proclocks.parse_locks(text):
        file_id = f"{r.major:02x}:{r.minor:02x}:{r.inode}"
        if r.waiting and held and held[-1][0] == file_id:
            held[-1][4].append(r.pid)
        elif not r.waiting:
            held.append((file_id, r.kind, r.mode, r.pid, []))
    return [(fid, kind, mode, pid, tuple(w)) for fid, kind, mode, pid, w in held]


def _protocol(fd_path: str) -> str | None:
    """``TCP``, ``UDPv6``, ``UNIX-STREAM``, ``NETLINK``...: which table to read, without reading
    them all (None where sockfs has no such xattr)."""
    try:
        return os.getxattr(fd_path, "system.sockprotoname").rstrip(b"\0").decode()
    except (OSError, AttributeError):
        return None


def _file_id(st: os.stat_result) -> str:
    return f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"


def _cmdline(proc: str, pid: int) -> tuple[str, ...]:
    raw = _read(f"{proc}/{pid}/cmdline")
    return tuple(raw.rstrip("\0").split("\0")) if raw else ()


def gomodcache_from_env(env: Mapping[str, str]) -> str | None:
    """GOMODCACHE as go would pick it without asking go: GOMODCACHE, else the first
    GOPATH entry's pkg/mod, else $HOME/go/pkg/mod."""
    if env.get("GOMODCACHE"):
        return env["GOMODCACHE"]
    gopath = env.get("GOPATH", "").split(os.pathsep)[0]
    if gopath:
        return os.path.join(gopath, "pkg", "mod")
    home = env.get("HOME")
    return os.path.join(home, "go", "pkg", "mod") if home else None


@dataclass
class _RawProcess:
    """What one pass over a process read: ``process`` has no sockets yet, they are looked up
    by inode once the whole tree is read."""

    process: ProcessSample
    socket_fds: list[tuple[int, int, str | None]]  # fd, inode, protocol name
    netns: str


class ProcSampler:
    """Samples ``root_pid`` and its descendants from /proc every ``interval`` seconds.

    ``sample()`` takes one sample now. ``start(path)`` does it in a background thread,
    writing each sample to ``path`` as a JSON line (flushed, so a reader can follow the
    file); ``drain()`` hands the samples taken since the last call to a live consumer;
    ``stop()`` takes a last sample and closes the file.
    """

    def __init__(
        self,
        root_pid: int,
        gomodcache: str | Path | None = None,
        interval: float = DEFAULT_INTERVAL,
        *,
        scan_interval: float = DEFAULT_SCAN_INTERVAL,
        proc: str = PROC,
        keep: int = 1000,
    ) -> None:
        if interval <= 0:
            raise GotraceError(f"sampling interval must be positive, not {interval:g}")
        self.root_pid = root_pid
        self.gomodcache = str(gomodcache) if gomodcache is not None else None
        self.interval = interval
        self.scan_interval = scan_interval
        self.proc = proc
        self.machine = os.uname().machine
        try:
            self._own_netns = os.readlink(f"{proc}/self/ns/net")
        except OSError:
            self._own_netns = ""
        self._use_netlink = proc == PROC
        self.count = 0
        self.errors: list[str] = []
        self.write_error: OSError | None = None
        self._known_temps: set[str] = set()
        self._next_scan = 0.0
        self._pending: deque[Sample] = deque(maxlen=keep)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._out: IO[str] | None = None
        self._lock = threading.Lock()

    # one sample

    def sample(self) -> Sample:
        with self._lock:
            return self._sample()

    def _sample(self) -> Sample:
        t0 = time.perf_counter()
        now = time.time()
        raws = list(self._walk())
        tables = self._socket_tables(raws)
        processes = tuple(self._finish_process(r, tables.get(r.netns, {})) for r in raws)
        locks = self._locks(processes)
        downloads = self._downloads(processes)
        sample = Sample(
            index=self.count,
            time=now,
            root_pid=self.root_pid,
            gomodcache=self.gomodcache,
            processes=processes,
            locks=locks,
            downloads=downloads,
            took=round(time.perf_counter() - t0, 6),
        )
        self.count += 1
        return sample

    def _walk(self) -> Iterator[_RawProcess]:
        """The root, then its descendants breadth first (children of every thread)."""
        queue, seen = [self.root_pid], set()
        while queue:
            pid = queue.pop(0)
            if pid in seen:
                continue
            seen.add(pid)
            raw, children = self._read_process(pid)
            if raw is not None:
                yield raw
                queue.extend(children)

    def _read_process(self, pid: int) -> tuple[_RawProcess | None, list[int]]:
        base = f"{self.proc}/{pid}"
        parsed = _parse_stat(_read(f"{base}/stat") or "")
        if parsed is None:
            return None, []
        comm, state, ppid, cpu = parsed
        rchar, wchar = _parse_io(_read(f"{base}/io"))
        threads: list[ThreadSample] = []
        children: list[int] = []
        try:
            tids = sorted(int(t) for t in os.listdir(f"{base}/task"))
        except (OSError, ValueError):
            tids = []
        for tid in tids:
            task = f"{base}/task/{tid}"
            tstat = _parse_stat(_read(f"{task}/stat") or "")
            if tstat is None:
                continue  # the thread exited between listdir and now
            name, nr, args = parse_syscall(_read(f"{task}/syscall"), self.machine)
            wchan = _read(f"{task}/wchan") or ""
            threads.append(
                ThreadSample(tid, tstat[1], name, nr, args, "" if wchan == "0" else wchan)
            )
            children += [int(c) for c in (_read(f"{task}/children") or "").split()]
        fds, socket_fds = self._read_fds(base)
        netns = ""
        if socket_fds:
            with contextlib.suppress(OSError):
                netns = os.readlink(f"{base}/ns/net")
        process = ProcessSample(
            pid, ppid, comm, _cmdline(self.proc, pid), state, cpu, rchar, wchar,
            tuple(threads), tuple(fds),
        )  # fmt: skip
        return _RawProcess(process, socket_fds, netns), children

    def _read_fds(self, base: str) -> tuple[list[FdSample], list[tuple[int, int, str | None]]]:
        fds: list[FdSample] = []
        sockets: list[tuple[int, int, str | None]] = []
        try:
            names = os.listdir(f"{base}/fd")
        except OSError:
            return fds, sockets
        for name in sorted(names, key=lambda n: int(n) if n.isdigit() else -1):
            try:
                fd = int(name)
                target = os.readlink(f"{base}/fd/{name}")
            except (OSError, ValueError):
                continue  # closed since listdir
            if target.startswith("socket:["):
                with contextlib.suppress(ValueError):
                    sockets.append((fd, int(target[8:-1]), _protocol(f"{base}/fd/{name}")))
                continue
            size = file_id = None
            if target.startswith("/"):
                try:
                    st = os.stat(f"{base}/fd/{name}")
                except OSError:
                    st = None
                if st is not None and stat.S_ISREG(st.st_mode):
                    size, file_id = st.st_size, _file_id(st)
            fds.append(FdSample(fd, target, size, file_id))
        return fds, sockets

    def _socket_tables(self, raws: list[_RawProcess]) -> dict[str, dict[int, SocketSample]]:
        """The tree's sockets, per network namespace: a process in another namespace
        (``ip netns exec``) has its own /proc/PID/net/*. TCP in our own namespace comes from
        NETLINK_SOCK_DIAG, as ss gets it: the same fields, but each read of /proc/net/tcp or
        tcp6 costs 8-12 ms on a 262144-bucket established hash (measured), a dump 0.2 ms."""
        wanted: dict[str, tuple[int, set[int], set[str]]] = {}
        for r in raws:
            if r.socket_fds:
                _, inodes, kinds = wanted.setdefault(r.netns, (r.process.pid, set(), set()))
                for _, inode, proto in r.socket_fds:
                    if proto is None:  # no hint: look in every table
                        inodes.add(inode)
                        kinds.update(_NET_TABLES)
                    elif proto.split("-")[0] in _PROTO_TABLE:
                        inodes.add(inode)
                        kinds.add(_PROTO_TABLE[proto.split("-")[0]])
                    # else netlink, raw, ...: in none of the tables
        tables: dict[str, dict[int, SocketSample]] = {}
        for netns, (pid, inodes, kinds) in wanted.items():
            found: dict[int, SocketSample] = {}
            if self._use_netlink and netns and netns == self._own_netns and kinds & {"tcp", "tcp6"}:
                diag = tcp_sockets(inodes)
                if diag is None:
                    self._use_netlink = False
                else:
                    found.update(diag)
                    kinds -= {"tcp", "tcp6"}
            for kind in _NET_TABLES:
                if kind not in kinds or len(found) == len(inodes):
                    continue
                text = _read(f"{self.proc}/{pid}/net/{kind}")
                if text:
                    found.update(parse_net_table(kind, text, inodes - found.keys()))
            tables[netns] = found
        return tables

    @staticmethod
    def _finish_process(raw: _RawProcess, table: dict[int, SocketSample]) -> ProcessSample:
        sockets = tuple(
            dataclasses.replace(table[inode], fd=fd)
            if inode in table
            else SocketSample(fd, inode, (proto or "").lower())
            for fd, inode, proto in raw.socket_fds
        )
        return dataclasses.replace(raw.process, sockets=sockets)

    def _locks(self, processes: tuple[ProcessSample, ...]) -> tuple[LockSample, ...]:
        """The /proc/locks entries on files the tree has open or waits for, read only while a
        thread of the tree is blocked in flock or fcntl: reading /proc/locks takes the
        kernel's global file-lock rwsem for writing, an RCU grace period (measured: 7-8 ms
        of wall time after an idle 100 ms, and a slow path for every flock on the machine)."""
        if not any(t.syscall in _LOCK_CALLS for p in processes for t in p.threads):
            return ()
        text = _read(f"{self.proc}/locks")
        if not text:
            return ()
        pids = {p.pid for p in processes}
        paths = {f.file_id: f.target for p in processes for f in p.fds if f.file_id}
        out = []
        for file_id, kind, mode, holder, waiters in parse_locks(text):
            if file_id not in paths and holder not in pids and not pids.intersection(waiters):
                continue
            cmd = " ".join(_cmdline(self.proc, holder)) if holder > 0 else ""
            out.append(LockSample(file_id, paths.get(file_id), kind, mode, holder, cmd, waiters))
        return tuple(out)

    def _downloads(self, processes: tuple[ProcessSample, ...]) -> tuple[DownloadFile, ...]:
        """*.tmp and .partial files under GOMODCACHE/cache/download: those the tree holds open
        at every sample, the rest from a walk of the directory every ``scan_interval``."""
        if self.gomodcache is None:
            return ()
        root = os.path.join(self.gomodcache, "cache", "download") + os.sep
        for p in processes:
            for f in p.fds:
                if f.target.startswith(root) and is_download_temp(f.target):
                    self._known_temps.add(f.target)
        now = time.monotonic()
        if now >= self._next_scan:
            t0 = time.perf_counter()
            self._known_temps.update(_scan_temps(root))
            # a huge cache must not turn the watchdog into the load: scan at most 5% of the time
            self._next_scan = now + max(self.scan_interval, 20 * (time.perf_counter() - t0))
        out = []
        for path in sorted(self._known_temps):
            try:
                st = os.stat(path)
            except OSError:
                self._known_temps.discard(path)  # renamed into place, or removed
                continue
            rel = os.path.relpath(path, self.gomodcache)
            out.append(DownloadFile(rel, st.st_size, st.st_mtime))
        return tuple(out)

    # the background thread

    def start(self, path: Path) -> None:
        if self._thread is not None:
            raise GotraceError("the sampler is already running")
        self._out = open(path, "w", encoding="utf-8")  # noqa: SIM115 (closed in stop())
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="gotrace-sampler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            self._take_and_write()
            due += self.interval
            late = time.monotonic() - due
            if late > 0:  # a slow sample: skip the ticks it overran instead of bursting
                due += self.interval * (int(late / self.interval) + 1)
            self._stop.wait(max(0.0, due - time.monotonic()))

    def _take_and_write(self) -> None:
        try:
            sample = self.sample()
        except Exception as exc:  # a sampler bug must never take the traced run down with it
            if len(self.errors) < 20:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            return
        self._pending.append(sample)
        if self._out is not None:
            try:
                write_sample(self._out, sample)
            except OSError as exc:
                # a full disk: keep sampling for the live view, stop writing the file
                self.write_error = exc
                with contextlib.suppress(OSError):
                    self._out.close()
                self._out = None

    def drain(self) -> list[Sample]:
        """The samples taken since the last call, oldest first."""
        out = []
        while True:
            try:
                out.append(self._pending.popleft())
            except IndexError:
                return out

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Stop the thread, record one last sample, close the file. Idempotent."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout=10)
            self._take_and_write()
        if self._out is not None:
            with contextlib.suppress(OSError):
                self._out.close()
            self._out = None


def _scan_temps(root: str) -> list[str]:
    found: list[str] = []
    stack = [root]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif is_download_temp(entry.name):
                        found.append(entry.path)
                except OSError:
                    continue
    return found


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gotrace")
    except PackageNotFoundError:
        return "unknown"


class SamplerBackend(Backend):
    """Runs a command with plain subprocess (no ptrace) and samples its process tree from
    /proc into ``log`` (samples.jsonl)."""

    name = "sampler"

    def __init__(
        self, *, interval: float = DEFAULT_INTERVAL, gomodcache: str | Path | None = None
    ) -> None:
        super().__init__()
        if not sys.platform.startswith("linux") or not os.path.isdir(f"{PROC}/self/task"):
            raise GotraceError("the sampler backend reads /proc: it needs Linux")
        self.exe = PROC
        self.version = _version()
        self.interval = interval
        self.gomodcache = gomodcache
        self.sampler: ProcSampler | None = None

    def launch(self, run: Launch) -> None:
        proc = self.popen(run.command, run)
        self.root_pid = proc.pid
        modcache = self.gomodcache
        if modcache is None:
            modcache = gomodcache_from_env(run.env if run.env is not None else os.environ)
        try:
            self.sampler = ProcSampler(self.root_pid, modcache, self.interval)
            self.sampler.start(run.log)
        except BaseException:
            proc.kill()
            proc.wait()
            raise

    def drain(self) -> list[Sample]:
        return self.sampler.drain() if self.sampler is not None else []

    def signal_command(self, sig: int) -> None:
        # The command is our own child: once reaped, its pid may be another process's.
        if self.proc is None or self.proc.poll() is None:
            super().signal_command(sig)

    def running(self) -> bool:
        alive = super().running()
        if not alive:
            self.finish()
        return alive

    def kill_command(self) -> None:
        """The whole tree, not only the command: nothing we started may outlive gotrace."""
        if self.proc is None or self.proc.poll() is not None:
            return
        tree = self.sampler.sample().processes if self.sampler is not None else ()
        for pid in [p.pid for p in tree] or [self.proc.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def finish(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()
