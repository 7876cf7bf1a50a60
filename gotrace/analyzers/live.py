"""What a traced go command is doing right now, from the lines of a growing strace log.

:class:`LiveState` is fed one parsed line at a time (records from
:func:`gotrace.parsers.lines.parse_line`) and answers two questions: how far along is it
(processes, connections, modules fetched), and, when nothing has moved for a while, what
is it waiting on. Pure: no I/O, no clock; the caller passes the time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from gotrace.analyzers.progress import NOISE, WAKEUP_FDS, is_progress, is_progress_event
from gotrace.modcachelayout import classify_download
from gotrace.netaddr import host_port
from gotrace.parsers.args import decode_string, parse_fd, parse_socket, split_args
from gotrace.parsers.fdreplay import inet_peer
from gotrace.protocols import (
    git_daemon_request,
    git_request_text,
    is_dns_server,
    request_line,
    ssh_banner,
    status_line,
    tls_sni,
)

__all__ = ["NOISE", "WAKEUP_FDS", "Conn", "LiveState", "is_progress"]


@dataclass
class Conn:
    target: str
    remote: str | None = None
    request: str | None = None
    waiting: bool = False  # sent something that nothing has answered yet
    waiting_since: float = 0.0
    received: int = 0
    #: the line count when a read on it last returned bytes: a write begun before that
    #: was answered, even when its ``resumed`` line comes later
    recv_line: int = 0
    #: the server name of a TLS ClientHello sent on it (the request itself is encrypted)
    sni: str | None = None
    #: the ``host:port`` of a CONNECT an HTTP proxy answered with 2xx: the tunnel it opened
    tunnel: str | None = None


@dataclass
class LiveState:
    pids: set[int] = field(default_factory=set)
    conns: dict[str, Conn] = field(default_factory=dict)
    open_calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    modules_done: set[str] = field(default_factory=set)
    comm: dict[int, str] = field(default_factory=dict)
    children: dict[int, str] = field(default_factory=dict)
    last_progress: float | None = None
    last_ts: float | None = None
    lines: int = 0

    def feed(self, rec: dict[str, Any], ts: float | None) -> None:
        self.lines += 1
        pid = int(rec.get("pid1") or rec.get("pid2") or 0)
        self.pids.add(pid)
        if ts is not None:
            self.last_ts = ts
        rk = rec.get("rk")
        name = rec.get("name") or ""
        if rk == "unfinished":
            self.open_calls[pid] = {**rec, "began": self.lines}
            self._observe(pid, name, rec.get("args") or "", None, None)
            return
        if rk in ("call", "resumed"):
            opened = self.open_calls.pop(pid, None)
            args = rec.get("args") or ""
            began = self.lines
            if rk == "resumed" and opened is not None:
                args = (opened.get("args") or "") + args
                began = int(opened.get("began") or began)
            self._observe(pid, name, args, rec.get("ret"), rec.get("errno"), began)
            if ts is not None and is_progress(name, rec.get("errno"), _fd_target(args)):
                self.last_progress = ts
            return
        if rk in ("exit", "kill"):
            self.open_calls.pop(pid, None)
        if ts is not None and is_progress_event(str(rk), rec.get("sig")):
            self.last_progress = ts

    def feed_noise(self, pid: int, ts: float | None, name: str, rk: str) -> None:
        """A line of Go's runtime noise (futex, epoll_pwait, nanosleep...), known from its
        leader and name alone: only the bookkeeping of calls in flight needs it."""
        self.lines += 1
        self.pids.add(pid)
        if ts is not None:
            self.last_ts = ts
        if rk == "unfinished":
            self.open_calls[pid] = {"rk": "unfinished", "name": name, "args": "", "pid2": str(pid)}
        elif rk == "resumed":
            self.open_calls.pop(pid, None)

    def _observe(
        self,
        pid: int,
        name: str,
        args: str,
        ret: str | None,
        errno: str | None,
        began: int | None = None,
    ) -> None:
        """``began``: the line count when the call began (its ``unfinished`` line)."""
        parts = split_args(args) if name in _WATCHED else []
        fd = parse_fd(parts[0]) if parts else None
        target = fd.target if fd else None
        if name in ("execve",) and ret == "0" and len(parts) > 1:
            argv = [decode_string(x) for x in split_args(parts[1].strip("[]"))]
            self.children[pid] = " ".join(s.text() for s in argv if s)
        if name in ("clone", "clone3", "fork", "vfork") and ret and ret.isdigit():
            self.pids.add(int(ret))
        if target and parse_socket(target) is not None:
            conn = self.conns.setdefault(target, Conn(target))
            sock = parse_socket(target)
            if sock and sock.remote:
                conn.remote = sock.remote
            elif name == "connect" and conn.remote is None:
                # in a network namespace -yy names a socket by inode only: the address is
                # the connect's
                conn.remote = inet_peer(args)
            if (
                name in ("write", "sendto", "sendmsg", "writev")
                and ret is not None
                and len(parts) > 1
            ):
                s = decode_string(parts[1])
                req = request_line(s.value) if s else None
                # git's own transports: a git:// request, or ssh's banner (all else is encrypted)
                git = git_daemon_request(s.value) if s and req is None else None
                banner = ssh_banner(s.value) if s and req is None and git is None else None
                if req:
                    conn.request = f"{req[0]} {req[1]}"
                    conn.received = 0  # bytes count per request on a reused connection
                elif git is not None or (banner is not None and conn.request is None):
                    conn.request = git_request_text(git) if git is not None else banner
                    conn.received = 0
                elif s and conn.sni is None:
                    conn.sni = tls_sni(s.value)
                # a read that returned bytes while this write was in flight answered it
                answered = began is not None and conn.recv_line > began
                if not conn.waiting and not answered:
                    conn.waiting = True
                    conn.waiting_since = float(self.lines)
            elif name in ("read", "recvfrom", "recvmsg", "readv") and ret is not None:
                # EAGAIN is Go's netpoller asking "anything yet?": it changes nothing
                if ret.lstrip("-").isdigit() and int(ret) > 0:
                    conn.recv_line = self.lines
                    if conn.request and conn.request.startswith("CONNECT ") and not conn.received:
                        s = decode_string(parts[1]) if len(parts) > 1 else None
                        status = status_line(s.value) if s else None
                        if status and 200 <= status[0] < 300:
                            # the tunnel is up: what follows is TLS to the target
                            conn.tunnel, conn.request = conn.request.split(" ")[1], None
                            conn.received = 0
                            conn.waiting = False
                            return
                    conn.received += int(ret)
                    conn.waiting = False
            elif name == "close" and ret is not None:
                self.conns.pop(target, None)
        if name in ("renameat", "renameat2", "rename") and ret == "0":
            for p in parts:
                path = decode_string(p)
                done = classify_download(path.text()) if path else None
                if done and done.artifact == "zip" and done.key:
                    self.modules_done.add(done.key)

    def progress(self) -> str:
        return (
            f"{len(self.pids)} threads/processes, {len(self.conns)} open connections, "
            f"{len(self.modules_done)} modules fetched"
        )

    def quiet_for(self, now: float) -> float:
        if self.last_progress is None:
            return 0.0
        return max(0.0, now - self.last_progress)

    def blame(self, partial: dict[str, Any] | None = None) -> str:
        """One sentence: what the quiet command is waiting on, most specific first.

        ``partial`` is the log's unterminated last line, if any: with one thread running,
        strace has printed the blocked call's head and waits for it to return.
        """
        open_calls = dict(self.open_calls)
        if partial is not None and partial.get("rk") == "unfinished":
            open_calls[int(partial.get("pid1") or partial.get("pid2") or 0)] = partial
        for pid, rec in open_calls.items():
            if rec.get("name") == "flock":
                fd = parse_fd(split_args(rec.get("args") or "")[0])
                where = fd.target if fd and fd.target else "a file"
                return f"pid {pid} blocked in flock on {where}: another process holds the lock"
        waiting = sorted(
            (c for c in self.conns.values() if c.waiting), key=lambda c: c.waiting_since
        )
        if waiting:
            c = waiting[0]  # the one unanswered for longest
            remote = c.remote or c.target
            hp = host_port(remote) if c.remote else None
            proto = c.target.split(":", 1)[0]
            what = f"{proto} {hp[0]}:{hp[1]}" if hp else remote
            if c.remote and is_dns_server(c.remote):
                return f"waiting for a DNS answer from {what}"
            after = f" after sending `{c.request}`" if c.request else ""
            if c.sni and not c.request:
                after = f" (TLS to {c.sni}; the request is encrypted)"
            if c.tunnel:
                after = f" through the CONNECT tunnel to {c.tunnel}{after}"
            got = "no response" if not c.received else f"{c.received} bytes so far"
            return f"blocked reading {what}{after} ({got})"
        for pid, rec in open_calls.items():
            if rec.get("name") in ("wait4", "waitid"):
                kids = [p for p in self.children if p != pid]
                who = f" ({self.children[kids[-1]]})" if kids else ""
                return f"pid {pid} waiting for a child process{who}"
            if rec.get("name") == "connect":
                return f"pid {pid} connecting: {rec.get('args')}"
        calls = sorted({str(r.get("name")) for r in open_calls.values()})
        if calls:
            return f"all {len(open_calls)} waiting threads idle in {'/'.join(calls)}"
        return "no call in flight"


def _fd_target(args: str) -> str | None:
    """The -yy target of a call's first argument (``7<anon_inode:[eventfd]>`` -> the
    target), read from its head only."""
    m = _FD_HEAD.match(args)
    return m.group(1) if m else None


_FD_HEAD = re.compile(r"^\d+<([^>]*)>")
_WATCHED = frozenset(
    {
        "write", "sendto", "sendmsg", "writev", "read", "recvfrom", "recvmsg", "readv",
        "close", "renameat", "renameat2", "rename", "execve", "flock", "connect",
        "clone", "clone3", "fork", "vfork",
    }
)  # fmt: skip
