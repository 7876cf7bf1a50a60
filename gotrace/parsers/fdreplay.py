"""The fd table replayed from syscalls: :class:`FdReplay` applies each call that creates,
copies and closes fds (open/openat/creat, socket, accept, pipe, dup/dup2/dup3, fcntl
F_DUPFD*, close, close_range, CLOEXEC across execve, sharing across clone with CLONE_FILES
and copying across fork) and knows what every fd of every process is at every moment.

Decoding, below both sides: the analyzers resolve a log's fd targets with it
(:mod:`gotrace.analyzers.fdtable`), and the eBPF capture names the fds of what it records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gotrace.parsers.args import decode_string

_OPENERS = frozenset({"open", "openat", "creat", "openat2", "open_by_handle_at"})
_ANON = frozenset(
    {"epoll_create", "epoll_create1", "eventfd", "eventfd2", "signalfd", "signalfd4", "timerfd_create",
     "memfd_create", "inotify_init", "inotify_init1", "pidfd_open", "fanotify_init", "userfaultfd"}
)  # fmt: skip
FORKS = frozenset({"clone", "clone3", "fork", "vfork"})
#: the calls that change a process's fd table
RELEVANT = (
    _OPENERS
    | _ANON
    | FORKS
    | {"socket", "socketpair", "accept", "accept4", "pipe", "pipe2", "dup", "dup2", "dup3", "fcntl",
       "close", "close_range", "execve", "execveat", "connect", "bind"}
)  # fmt: skip
_SOCKADDR = re.compile(
    r"sa_family=AF_INET6?, sin6?_port=htons\((?P<port>\d+)\).*?(?:inet_addr\(\"(?P<a4>[^\"]+)\"\)|"
    r"inet_pton\(AF_INET6, \"(?P<a6>[^\"]+)\")"
)
# The path argument: first for open/creat, second after the dir fd for the *at calls.
_STRING = r'("(?:[^"\\]|\\.)*"(?:\.\.\.)?)'
_PATH_ARG = re.compile("^" + _STRING)
_AT_PATH_ARG = re.compile(r"^(?:AT_FDCWD|-?\d+)(?:<(?:->|[^<>]|<[^<>]*>)*>)?, " + _STRING)
_UNIX_PATH = re.compile(
    r"sa_family=AF_UNIX, sun_path=(?P<p>\"(?:[^\"\\]|\\.)*\"|@\"(?:[^\"\\]|\\.)*\")"
)


@dataclass
class Fd:
    target: str
    cloexec: bool = False
    line: int = 0


@dataclass
class Table:
    fds: dict[int, Fd] = field(default_factory=dict)

    def copy(self) -> Table:
        return Table({k: Fd(v.target, v.cloexec, v.line) for k, v in self.fds.items()})


@dataclass
class FdReplay:
    """Replays fd-changing calls; ``table_of`` maps a thread id to its (possibly shared) table."""

    table_of: dict[int, Table] = field(default_factory=dict)

    def table(self, tid: int) -> Table:
        t = self.table_of.get(tid)
        if t is None:
            # A process we never saw start: it inherited 0, 1 and 2 at least.
            t = Table({i: Fd(f"<inherited fd {i}>") for i in (0, 1, 2)})
            self.table_of[tid] = t
        return t

    def lookup(self, tid: int, fd: int) -> str | None:
        entry = self.table(tid).fds.get(fd)
        return entry.target if entry else None

    def apply(
        self, tid: int, name: str, args: str, retval: int | None, line: int, target: str | None
    ) -> None:
        """Update the tables for one completed call. ``target`` is strace's own annotation of
        the returned fd, when the log has one."""
        t = self.table(tid)
        ok = retval is not None and retval >= 0
        if name in FORKS:
            if not ok or not retval:
                return
            if "CLONE_FILES" in args or "CLONE_THREAD" in args:
                self.table_of[retval] = t
            else:
                self.table_of[retval] = t.copy()
            return
        if name in ("execve", "execveat"):
            if retval == 0:
                self.table_of[tid] = Table({k: v for k, v in t.copy().fds.items() if not v.cloexec})
            return
        # Only the opens carry a string (a path, which may hold ", "); the other calls' leading
        # arguments are plain words and numbers, so a plain split is enough and much cheaper.
        parts = args.split(", ")
        if name == "connect" and parts:
            # Go's sockets are non-blocking: connect "fails" with EINPROGRESS and goes on.
            entry = t.fds.get(_int(parts[0]))
            peer = _sockaddr(args)
            if entry and peer and "->" not in entry.target:
                entry.target = f"{entry.target.split(':', 1)[0]}:[->{peer}]"
            return
        if not ok:
            return
        assert retval is not None
        if name in _OPENERS:
            if target:
                path = target
            else:
                m = _PATH_ARG.match(args) if name in ("open", "creat") else _AT_PATH_ARG.match(args)
                s = decode_string(m.group(1)) if m else None
                path = s.text() if s else "?"
            t.fds[retval] = Fd(path, "O_CLOEXEC" in args, line)
        elif name in _ANON:
            t.fds[retval] = Fd(target or f"anon_inode:[{name}]", "CLOEXEC" in args, line)
        elif name == "socket":
            family = parts[0] if parts else "?"
            kind = "TCP" if "SOCK_STREAM" in args else "UDP" if "SOCK_DGRAM" in args else "SOCKET"
            if family == "AF_INET6" and kind in ("TCP", "UDP"):
                kind += "v6"
            if family == "AF_UNIX":
                kind = "UNIX"
            t.fds[retval] = Fd(target or f"{kind}:[]", "SOCK_CLOEXEC" in args, line)
        elif name in ("accept", "accept4"):
            listen = t.fds.get(_int(parts[0]) if parts else -1)
            peer = _sockaddr(args)
            proto = listen.target.split(":", 1)[0] if listen else "TCP"
            t.fds[retval] = Fd(target or f"{proto}:[->{peer or '?'}]", "SOCK_CLOEXEC" in args, line)
        elif name in ("pipe", "pipe2", "socketpair"):
            m = re.search(r"\[(-?\d+)[^,\]]*, (-?\d+)", args)
            if m:
                for i in (1, 2):
                    t.fds[int(m.group(i))] = Fd(f"pipe:[{name}@{line}]", "CLOEXEC" in args, line)
        elif name == "dup":
            src = t.fds.get(_int(parts[0]))
            if src:
                t.fds[retval] = Fd(src.target, False, line)
        elif name in ("dup2", "dup3"):
            src = t.fds.get(_int(parts[0]))
            if src:
                t.fds[retval] = Fd(src.target, name == "dup3" and "O_CLOEXEC" in args, line)
        elif name == "fcntl" and len(parts) > 1:
            cmd = parts[1]
            fd = _int(parts[0])
            if cmd.startswith("F_DUPFD"):
                src = t.fds.get(fd)
                if src:
                    t.fds[retval] = Fd(src.target, cmd == "F_DUPFD_CLOEXEC", line)
            elif cmd == "F_SETFD" and fd in t.fds:
                t.fds[fd].cloexec = "FD_CLOEXEC" in args
        elif name == "close":
            t.fds.pop(_int(parts[0]) if parts else -1, None)
        elif name == "close_range" and len(parts) >= 2:
            lo, hi = _int(parts[0]), _int(parts[1], default=2**31)
            cloexec_only = len(parts) > 2 and "CLOSE_RANGE_CLOEXEC" in parts[2]
            for fd in [f for f in t.fds if lo <= f <= hi]:
                if cloexec_only:
                    t.fds[fd].cloexec = True
                else:
                    del t.fds[fd]


def _int(text: str, default: int = -1) -> int:
    m = re.match(r"^\s*(-?\d+)", text)
    if m:
        return int(m.group(1))
    if text.strip() in ("~0U", "UINT_MAX", "-1U"):
        return 2**31
    return default


def inet_peer(args: str) -> str | None:
    """``{sa_family=AF_INET, sin_port=htons(8081), sin_addr=inet_addr("127.0.0.1")}`` in a
    call's arguments -> ``127.0.0.1:8081`` (``[::1]:8081`` for IPv6)."""
    m = _SOCKADDR.search(args)
    if m is None:
        return None
    host = m.group("a4") or f"[{m.group('a6')}]"
    return f"{host}:{m.group('port')}"


def _sockaddr(args: str) -> str | None:
    peer = inet_peer(args)
    if peer is not None:
        return peer
    u = _UNIX_PATH.search(args)
    if u:
        s = decode_string(u.group("p").lstrip("@"))
        return s.text() if s else None
    return None
