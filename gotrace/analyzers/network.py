"""Connections, aware of Go's non-blocking sockets.

Go creates sockets with SOCK_NONBLOCK: ``connect`` returns EINPROGRESS, the netpoller
waits in ``epoll_pwait`` on another thread, and ``getsockopt(SO_ERROR)`` says how the
connect ended; reads return EAGAIN until data arrives. So a connection "blocked in read"
shows up as an EAGAIN read and a parked thread, not as a read in flight. This module
rebuilds each connection's life from the calls on its fd, and decodes what the payloads
allow: HTTP request and status lines, the TLS ClientHello server name, DNS questions
and answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from gotrace.analyzers.context import Context
from gotrace.parsers.args import decode_string, parse_socket, split_args
from gotrace.parsers.fdreplay import inet_peer
from gotrace.protocols import (
    GIT_DAEMON_STRACE_HEADS,
    HTTP_REQUEST_STRACE_HEADS,
    HTTP_STATUS_STRACE_HEAD,
    SSH_BANNER_STRACE_HEAD,
    TLS_HANDSHAKE_STRACE_HEADS,
    content_length,
    git_daemon_request,
    git_request_text,
    header_end,
    http_version_note,
    is_dns_server,
    parse_dns,
    request_host,
    request_line,
    request_target,
    ssh_banner,
    status_line,
    tls_client_hello,
    tls_record_kind,
    tls_server_hello,
)

_SOCK_CALLS = (
    "socket", "connect", "getsockopt", "read", "write", "readv", "writev", "recvfrom", "sendto",
    "recvmsg", "sendmsg", "close", "shutdown", "accept", "accept4", "bind", "getsockname",
    "getpeername", "setsockopt", "sendmmsg", "recvmmsg",
)  # fmt: skip
_WRITES = frozenset({"write", "writev", "sendto", "sendmsg", "sendmmsg"})
_READS = frozenset({"read", "readv", "recvfrom", "recvmsg", "recvmmsg"})
_SO_ERROR = re.compile(r"SO_ERROR, \[(?P<v>[^\]]*)\]")


@dataclass
class Connection:
    id: int
    tgid: int
    fd: int
    proto: str
    local: str | None = None
    remote: str | None = None
    open_line: int | None = None
    open_ts: float | None = None
    connect_ts: float | None = None
    connect_result: str | None = None  # "0", "EINPROGRESS", "ECONNREFUSED", ...
    connected_ts: float | None = None
    bytes_sent: int = 0
    bytes_recv: int = 0
    first_byte_ts: float | None = None
    last_byte_ts: float | None = None
    last_send_ts: float | None = None
    close_ts: float | None = None
    close_line: int | None = None
    error: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    sni: str | None = None
    dns: list[dict[str, Any]] = field(default_factory=list)
    truncated_payloads: int = 0
    lines: list[int] = field(default_factory=list)
    pids: set[int] = field(default_factory=set)
    #: the -yy annotations the socket's calls carried (``TCP:[49653]``, ``TCP:[a:p->b:q]``)
    targets: set[str] = field(default_factory=set)
    #: sent something (a request, a DNS query) and nothing came back since
    waiting_since: float | None = None
    waiting_line: int | None = None
    #: every send and receive that moved bytes: (time it returned, bytes, line), in trace
    #: order; a send's bytes reach the peer while it is in flight, so an answer can return
    #: before the send does: ``send_starts`` holds when each send (by line) began
    sends: list[tuple[float, int, int]] = field(default_factory=list)
    recvs: list[tuple[float, int, int]] = field(default_factory=list)
    send_starts: dict[int, float] = field(default_factory=dict)
    #: TLS: the connection began with a ClientHello; ALPN offered; when the server first
    #: answered, when the client finished its side (its ChangeCipherSpec/Finished write);
    #: application-data bytes sent after that
    tls: bool = False
    alpn: list[str] = field(default_factory=list)
    tls_server_ts: float | None = None
    tls_established_ts: float | None = None
    tls_app_sent: int = 0
    #: bytes of the server's post-handshake session tickets, when seen, and in how many reads
    tls_tickets: int | None = None
    tls_ticket_reads: int = 0
    #: the length of the first ticket record (a second read of tickets has the same)
    tls_ticket_record: int | None = None
    #: the ALPN list was cut by strace's -s (``alpn`` holds the names seen whole); from the
    #: server's ServerHello: the TLS version, and the ALPN protocol it chose when visible
    alpn_cut: bool = False
    tls_version: str | None = None
    alpn_chosen: str | None = None
    #: the server's first bytes, gathered until they hold its ServerHello (None: done)
    server_head: bytes | None = b""
    server_reads: int = 0
    #: an HTTP proxy's CONNECT tunnel: the ``host:port`` asked for, when the 2xx answer came,
    #: and the bytes sent and received before it (what follows is the tunnelled stream)
    tunnel: str | None = None
    tunnel_ts: float | None = None
    tunnel_sent: int = 0
    tunnel_recv: int = 0
    #: ssh: the server's identification line (the client's is its first request)
    ssh_server_banner: str | None = None
    #: the argv of the process that made it, when that is a child of the traced command
    #: (git, git-remote-http, ssh...); None for the command itself
    child_argv: list[str] | None = None

    @property
    def endpoint(self) -> str:
        return f"{self.proto} {self.remote or self.local or '?'}"

    @property
    def is_dns(self) -> bool:
        return is_dns_server(self.remote)

    def last_request(self) -> str | None:
        return self.requests[-1]["request"] if self.requests else None

    def tunnel_up(self, at: float | None = None) -> bool:
        """Whether a CONNECT tunnel was established by ``at`` (default: the end): what the
        connection carried after that went to the target, not to the proxy."""
        if self.tunnel_ts is None:
            return False
        return at is None or self.tunnel_ts <= at + 1e-6

    def tunnel_status(self) -> str | None:
        """The proxy's answer that opened the tunnel (``200 Connection established``)."""
        return str(self.responses[-1]["status"]) if self.tunnel_ts and self.responses else None

    def http_version(self) -> str | None:
        """HTTP/2 vs HTTP/1.1 as far as the handshake shows it (see
        :func:`gotrace.protocols.http_version_note`); None when this is not TLS."""
        if not self.tls:
            return None
        return http_version_note(self.alpn, self.alpn_cut, self.alpn_chosen, self.tls_version)

    def proxied_origin(self) -> str | None:
        """The origin (``http://goproxy.test``) the last request asked an HTTP proxy for,
        when it was sent in the absolute form; None for a path or a CONNECT."""
        return self.requests[-1].get("origin") if self.requests else None

    def waiting_at(self, start: float, end: float) -> tuple[float, int, int] | None:
        """When nothing came back across [start, end] for something sent at or before
        ``start``: (time of the first unanswered send, its line, bytes sent unanswered).
        A receive answers a send that began before it returned, even one that returned
        later (the server answered while strace still held the write)."""
        if not self.sends:
            return None
        before = [r for r in self.recvs if r[0] <= start + 1e-6]
        after_last = before[-1][0] if before else float("-inf")
        if any(start + 1e-6 < r[0] < end - 1e-6 for r in self.recvs):
            return None
        unanswered = [
            s
            for s in self.sends
            if s[0] <= start + 1e-6 and self.send_starts.get(s[2], s[0]) >= after_last
        ]
        if not unanswered:
            return None
        return unanswered[0][0], unanswered[0][2], sum(s[1] for s in unanswered)

    def tls_state(self, at: float | None = None) -> str | None:
        """``ClientHello sent, no answer`` / ``handshake in progress`` / ``TLS established``
        at time ``at`` (default: the end), or None when this is not TLS."""
        if not self.tls:
            return None
        t = float("inf") if at is None else at + 1e-6
        if self.tls_established_ts is not None and self.tls_established_ts <= t:
            return "TLS established"
        if self.tls_server_ts is not None and self.tls_server_ts <= t:
            return "TLS handshake in progress"
        return "ClientHello sent, no answer"

    def incomplete_response(self) -> dict[str, Any] | None:
        """The last response, when it answered the last request and its body is short of its
        Content-Length: the server stopped sending mid-body."""
        if not self.responses or not self.requests:
            return None
        resp = self.responses[-1]
        if resp["line"] < self.requests[-1]["line"] or resp["content_length"] is None:
            return None
        return resp if resp["body_bytes"] < resp["content_length"] else None

    def state(self) -> str:
        if self.connect_result not in (None, "0", "EINPROGRESS"):
            return "failed"
        if self.error:
            return "reset" if self.error in ("ECONNRESET", "EPIPE") else "error"
        if self.close_line is not None:
            return "closed"
        return "open"

    def to_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tgid": self.tgid,
            "pids": sorted(self.pids),
            "fd": self.fd,
            "proto": self.proto,
            "local": self.local,
            "remote": self.remote,
            "state": self.state(),
            "open_ts": self.open_ts,
            "connect_ts": self.connect_ts,
            "connect_result": self.connect_result,
            "connected_ts": self.connected_ts,
            "first_byte_ts": self.first_byte_ts,
            "last_byte_ts": self.last_byte_ts,
            "close_ts": self.close_ts,
            "bytes_sent": self.bytes_sent,
            "bytes_recv": self.bytes_recv,
            "requests": [r["request"] for r in self.requests],
            "statuses": [r["status"] for r in self.responses],
            "sni": self.sni,
            "dns": [f"{q['qtype']} {q['name']}" for q in self.dns if q.get("name")],
            "error": self.error,
            "waiting_since": self.waiting_since,
            "first_line": self.open_line
            if self.open_line is not None
            else (self.lines[0] if self.lines else None),
            "last_line": self.lines[-1] if self.lines else None,
            "truncated_payloads": self.truncated_payloads,
            "tls": self.tls_state(),
            "alpn": list(self.alpn),
            "tls_app_sent": self.tls_app_sent,
            "tls_version": self.tls_version,
            "http_version": self.http_version(),
            "tunnel": self.tunnel,
            "ssh_server_banner": self.ssh_server_banner,
            "child_argv": self.child_argv,
        }


def connections(ctx: Context) -> list[Connection]:
    """Every socket connection the traced processes made or accepted, in order of creation."""
    f = ctx.frame.filter(
        (pl.col("kind") == "syscall")
        & pl.col("syscall").is_in(_SOCK_CALLS)
        & (
            pl.col("target").str.contains(r"^(TCP|UDP|UNIX|SOCKET|TCPv6|UDPv6)")
            | pl.col("syscall").is_in(["socket"])
        )
    ).select(
        "line",
        "pid",
        "tgid",
        "ts",
        "end_ts",
        "syscall",
        "args",
        "retval",
        "errno",
        "target",
        "ret_target",
        "in_flight",
        # -e read=/write= hexdumps: the whole buffer (frames saved before the column had none)
        *(["data"] if "data" in ctx.frame.columns else []),
    )
    open_: dict[tuple[int, int], Connection] = {}
    out: list[Connection] = []
    for r in f.iter_rows(named=True):
        name = r["syscall"]
        args = r["args"] or ""
        tgid = r["tgid"]
        when = r["end_ts"] if r["end_ts"] is not None else r["ts"]
        if name == "socket":
            if r["retval"] is None or r["retval"] < 0:
                continue
            proto = _proto(r["ret_target"] or "", args)
            conn = Connection(
                len(out), tgid, r["retval"], proto, open_line=r["line"], open_ts=r["ts"]
            )
            conn.pids.add(r["pid"])
            conn.lines.append(r["line"])
            open_[(tgid, r["retval"])] = conn
            out.append(conn)
            continue
        m = re.match(r"^(\d+)", args)
        if not m:
            continue
        fd = int(m.group(1))
        known = open_.get((tgid, fd))
        if known is None and r["target"]:
            # a dup of an open socket (git writes its git:// request on a dup): -yy names
            # the same socket, by inode or by both ends
            known = next(
                (
                    c
                    for (g, _), c in open_.items()
                    if g == tgid and r["target"] in c.targets and c.proto.startswith("TCP")
                ),
                None,
            )
            if known is not None:
                open_[(tgid, fd)] = known
        if known is None:
            # a socket from before the trace, or accepted: start tracking it here
            conn = Connection(len(out), tgid, fd, _proto(r["target"] or "", args), open_ts=r["ts"])
            open_[(tgid, fd)] = conn
            out.append(conn)
        else:
            conn = known
        conn.pids.add(r["pid"])
        conn.lines.append(r["line"])
        if r["target"] and ":[" in r["target"]:
            conn.targets.add(r["target"])
        sock = parse_socket(_strip_detail(r["target"] or ""))
        if sock is not None:
            if sock.local and ":" in sock.local:
                conn.local = sock.local
            if sock.remote and not sock.remote.startswith("?"):
                conn.remote = (
                    sock.remote
                    if ":" in sock.remote or sock.proto.startswith("UNIX")
                    else conn.remote
                )
        _apply(conn, r, name, args, when)
        if name == "close" and (r["retval"] == 0 or r["errno"] is None):
            open_.pop((tgid, fd), None)
    for c in out:
        if ctx.groups.parent.get(c.tgid) is not None:
            c.child_argv = list(ctx.groups.argv.get(c.tgid) or [])
    return out


def _strip_detail(target: str) -> str:
    return target.split("<", 1)[0]


def _proto(annotation: str, args: str) -> str:
    head = annotation.split(":[", 1)[0] if ":[" in annotation else ""
    if head:
        return head
    if "SOCK_DGRAM" in args:
        return "UDPv6" if "AF_INET6" in args else "UDP"
    if "AF_UNIX" in args:
        return "UNIX"
    return "TCPv6" if "AF_INET6" in args else "TCP"


def _apply(conn: Connection, r: dict[str, Any], name: str, args: str, when: float | None) -> None:
    retval, errno = r["retval"], r["errno"]
    if name == "connect":
        conn.connect_ts = r["ts"]
        peer = inet_peer(args)
        if peer is not None:
            conn.remote = peer
        conn.connect_result = errno or ("0" if retval == 0 else None)
        if retval == 0:
            conn.connected_ts = when
        elif errno and errno != "EINPROGRESS":
            conn.error = errno
    elif name == "getsockopt" and "SO_ERROR" in args:
        m = _SO_ERROR.search(args)
        if m and conn.connect_result == "EINPROGRESS":
            value = m.group("v").strip()
            if value.isdigit() and value != "0":
                # strace prints [ECONNREFUSED]; a decoder without the names prints [111]
                import errno as errnos

                value = errnos.errorcode.get(int(value), value)
            conn.connect_result = "0" if value == "0" else value
            if value == "0":
                conn.connected_ts = when
            else:
                conn.error = value
    elif name in _WRITES:
        if retval is not None and retval > 0:
            conn.bytes_sent += retval
            conn.last_send_ts = when
            began = r["ts"] if r["ts"] is not None else when
            finishing = conn.tls and conn.tls_established_ts is None
            if conn.tls or conn.bytes_recv == conn.tunnel_recv:
                _tls_sent(conn, args, retval, when)
            if when is not None and not (finishing and conn.tls_established_ts is not None):
                # the client's ChangeCipherSpec/Finished is handshake, not a request
                conn.sends.append((when, retval, r["line"]))
                conn.send_starts[r["line"]] = when if began is None else began
            payload = _dumped(r) or (
                _payload(args) if _worth_decoding(conn, args, sent=True) else None
            )
            if payload is not None:
                data, cut = payload
                conn.truncated_payloads += int(cut)
                _decode_sent(conn, data, r, when)
            # the first send nothing has answered yet; a receive that began before this send
            # and returned after it began (a blocking read on another thread) answered it
            answered = began is not None and bool(conn.recvs) and conn.recvs[-1][0] > began + 1e-6
            if conn.waiting_since is None and not answered:
                conn.waiting_since = when
                conn.waiting_line = r["line"]
        elif errno in ("ECONNRESET", "EPIPE"):
            conn.error = errno
    elif name in _READS:
        if retval is not None and retval > 0:
            conn.bytes_recv += retval
            if _took_session_tickets(conn, retval, when, args, r):
                # TLS 1.3 servers send session tickets once the client has finished: they
                # answer no request (nothing waiting changes)
                return
            if when is not None:
                conn.recvs.append((when, retval, r["line"]))
            if conn.tls and conn.tls_server_ts is None:
                conn.tls_server_ts = when
            if conn.tls and conn.server_head is not None:
                _server_hello(conn, r, args, retval)
            if conn.first_byte_ts is None:
                conn.first_byte_ts = when
            conn.last_byte_ts = when
            conn.waiting_since = None
            conn.waiting_line = None
            payload = _dumped(r) or (
                _payload(args) if _worth_decoding(conn, args, sent=False) else None
            )
            decoded = False
            if payload is not None:
                data, cut = payload
                conn.truncated_payloads += int(cut)
                decoded = _decode_received(conn, data, r, when, retval)
            if not decoded and conn.responses and conn.tunnel_ts is None:
                conn.responses[-1]["body_bytes"] += retval
        elif retval == 0 and errno is None and conn.proto.startswith("TCP"):
            conn.error = conn.error or "EOF"
        elif errno in ("ECONNRESET", "EPIPE", "ETIMEDOUT", "ECONNREFUSED"):
            conn.error = errno
    elif name == "close":
        conn.close_ts = r["ts"]
        conn.close_line = r["line"]


#: what a server's post-handshake flight (NewSessionTicket records) can be: this small, this
#: soon after the client's Finished (OpenSSL sends two tickets, 542 B in all), in one read
#: or in two (a read between them; the second may come after go's request)
TICKETS_MAX_BYTES = 2048
TICKETS_WITHIN_S = 1.0
TICKETS_MAX_READS = 2


def _took_session_tickets(
    conn: Connection, n: int, when: float | None, args: str, r: dict[str, Any]
) -> bool:
    """Whether this read is (the rest of) the server's session tickets, counted on ``conn``
    when it is: the first data after the client's Finished, small and soon after it; a
    second read only when it is whole application-data records as long as the first read's
    first (OpenSSL's tickets are alike; an answer is rarely exactly as long)."""
    if not (
        conn.tls
        and conn.tls_established_ts is not None
        and when is not None
        and conn.tls_ticket_reads < TICKETS_MAX_READS
        and (conn.tls_tickets or 0) + n <= TICKETS_MAX_BYTES
        and when - conn.tls_established_ts <= TICKETS_WITHIN_S
        and not any(t >= conn.tls_established_ts for t, _, _ in conn.recvs)
    ):
        return False
    payload = _dumped(r) or _payload(args)
    length = _record_length(payload[0]) if payload is not None else None
    if conn.tls_tickets is None:
        conn.tls_ticket_record = length
    elif length is None or length != conn.tls_ticket_record or n % (5 + length):
        return False
    conn.tls_tickets = (conn.tls_tickets or 0) + n
    conn.tls_ticket_reads += 1
    return True


def _record_length(data: bytes) -> int | None:
    """The length of the TLS application-data record ``data`` starts with, if it does."""
    if len(data) < 5 or data[0] != 0x17 or data[1] != 0x03:
        return None
    return int.from_bytes(data[3:5], "big")


#: how many of the server's first reads may hold its ServerHello (go reads whole flights;
#: OpenSSL reads a record's 5-byte header, then its body)
SERVER_HELLO_READS = 4


def _server_hello(conn: Connection, r: dict[str, Any], args: str, n: int) -> None:
    """The TLS version and the chosen ALPN protocol from the server's first bytes, which
    may come in more than one read."""
    assert conn.server_head is not None
    payload = _dumped(r) or _payload(args)
    if payload is None:
        conn.server_head = None
        return
    conn.server_head += payload[0]
    conn.server_reads += 1
    hello = tls_server_hello(conn.server_head)
    if len(payload[0]) != n:
        # cut by -s: what the cut kept may hold the ServerHello (go reads a whole flight),
        # but later bytes would not follow on
        conn.server_reads = SERVER_HELLO_READS
    if hello is not None and hello["retry"]:
        # a HelloRetryRequest: the real ServerHello is the next one
        conn.server_head, conn.server_reads = b"", 0
        return
    if hello is not None:
        conn.tls_version = hello["version"]
        conn.alpn_chosen = hello["alpn"]
    if hello is not None or conn.server_reads >= SERVER_HELLO_READS:
        conn.server_head = None


def _tls_sent(conn: Connection, args: str, n: int, when: float | None) -> None:
    """Follow a TLS client's records from the first bytes of each write (go writes whole
    records): the ClientHello starts TLS; the write with the ChangeCipherSpec (or the first
    application data after the server answered) ends the client's handshake; application
    data after that is the encrypted request."""
    buf = args[args.find(", ") + 2 :] if ", " in args else ""
    if buf.startswith("[{iov_base="):
        buf = buf[len("[{iov_base=") :]
    kind = tls_record_kind(buf[:16])
    if not conn.tls:
        # the stream's first write: the connection's, or the tunnel's after a CONNECT
        if kind == "handshake" and conn.bytes_sent - conn.tunnel_sent == n:
            conn.tls = True
        return
    if conn.tls_established_ts is None:
        if conn.tls_server_ts is not None and kind in ("change_cipher_spec", "application_data"):
            conn.tls_established_ts = when
        return
    if kind == "application_data":
        conn.tls_app_sent += n


_HEADS = (
    *HTTP_REQUEST_STRACE_HEADS,
    *TLS_HANDSHAKE_STRACE_HEADS,
    *GIT_DAEMON_STRACE_HEADS,
    SSH_BANNER_STRACE_HEAD,
)


def _worth_decoding(conn: Connection, args: str, *, sent: bool) -> bool:
    """Decode a buffer only where it can hold what we read from payloads: a request line
    or a ClientHello going out, a status line coming in, any DNS message. Bulk body
    bytes are only counted (decoding them is most of the time on a big trace)."""
    if conn.proto.startswith("UDP"):
        return True
    buf = args[args.find(", ") + 2 :] if ", " in args else ""
    if sent:
        return buf.startswith(_HEADS) or (
            buf.startswith("[{iov_base=") and any(h in buf[:40] for h in _HEADS)
        )
    if conn.requests and conn.requests[0].get("proto") == "ssh" and not conn.ssh_server_banner:
        return buf.startswith(SSH_BANNER_STRACE_HEAD)
    return buf.startswith(HTTP_STATUS_STRACE_HEAD) or (
        buf.startswith("[{iov_base=") and HTTP_STATUS_STRACE_HEAD in buf[:40]
    )


def _dumped(r: dict[str, Any]) -> tuple[bytes, bool] | None:
    """The whole buffer when strace dumped it (``-e read=``/``-e write=``): never cut."""
    data = r.get("data")
    return (bytes.fromhex(data), False) if data else None


def _payload(args: str) -> tuple[bytes, bool] | None:
    """The buffer argument of a read/write-like call, decoded (``writev`` takes the first iov)."""
    parts = split_args(args)
    if len(parts) < 2:
        return None
    buf = parts[1]
    if buf.startswith("[") or buf.startswith(
        "{"
    ):  # writev/readv: [{iov_base="...", iov_len=N}, ...]
        m = re.search(r'iov_base=("(?:[^"\\]|\\.)*"(?:\.\.\.)?)', buf)
        if not m:
            return None
        buf = m.group(1)
    s = decode_string(buf)
    return (s.value, s.truncated) if s else None


def _decode_sent(conn: Connection, data: bytes, r: dict[str, Any], when: float | None) -> None:
    req = request_line(data)
    if req:
        origin, path = request_target(req[1])
        conn.requests.append(
            {
                "request": f"{req[0]} {req[1]}",
                "host": request_host(data),
                # the absolute form (a request to an HTTP proxy): where it is for, and its path
                "origin": origin,
                "path": path,
                "ts": when,
                "line": r["line"],
                "proto": "http",
            }
        )
        return
    git = git_daemon_request(data)
    banner = ssh_banner(data) if git is None and not conn.requests else None
    if git is not None or banner is not None:
        # git's own transports: what was asked for is in the clear (git://), or only the
        # client's identification line is (ssh; the rest is encrypted)
        conn.requests.append(
            {
                "request": banner or git_request_text(git),  # type: ignore[arg-type]
                "host": git["host"] if git else None,
                "origin": None,
                "path": git["path"] if git else None,
                "ts": when,
                "line": r["line"],
                "proto": "git" if git else "ssh",
            }
        )
        return
    if conn.is_dns or conn.proto.startswith("UDP"):
        q = parse_dns(data)
        if q is not None and not q["answer"]:
            conn.dns.append({**q, "ts": when, "line": r["line"]})
            return
    if conn.sni is None:
        hello = tls_client_hello(data)
        if hello is not None:
            conn.sni = hello["sni"]
            conn.alpn = list(hello["alpn"])
            conn.alpn_cut = bool(hello["alpn_cut"])


def _decode_received(
    conn: Connection, data: bytes, r: dict[str, Any], when: float | None, n: int
) -> bool:
    """Record an HTTP status line or a DNS answer; True when ``data`` started one."""
    if conn.tunnel_ts is not None:
        return False  # the tunnelled stream (TLS to the target): no HTTP/1.x in the clear
    if conn.requests and conn.requests[0].get("proto") == "ssh":
        conn.ssh_server_banner = conn.ssh_server_banner or ssh_banner(data)
        return True
    status = status_line(data)
    if status:
        body = header_end(data)
        last = conn.requests[-1]["request"] if conn.requests else ""
        if last.startswith("CONNECT ") and 200 <= status[0] < 300:
            # the proxy opened the tunnel: what follows is the target's stream
            conn.tunnel = last.split(" ")[1]
            conn.tunnel_ts = when
            conn.tunnel_sent, conn.tunnel_recv = conn.bytes_sent, conn.bytes_recv
        conn.responses.append(
            {
                "status": f"{status[0]} {status[1]}".strip(),
                "ts": when,
                "line": r["line"],
                "content_length": content_length(data),
                # body bytes in this read: all it returned past the header (when -s showed the end)
                "body_bytes": n - body if body is not None else 0,
                "first_body_bytes": n - body if body is not None else 0,
            }
        )
        return True
    if conn.is_dns or conn.proto.startswith("UDP"):
        a = parse_dns(data)
        if a is not None and a["answer"]:
            conn.dns.append({**a, "ts": when, "line": r["line"]})
            return True
    return False


def connection_frame(conns: list[Connection]) -> pl.DataFrame:
    rows = [c.to_row() for c in conns]
    schema: dict[str, Any] = {
        "id": pl.Int64, "tgid": pl.Int64, "pids": pl.List(pl.Int64), "fd": pl.Int64, "proto": pl.String,
        "local": pl.String, "remote": pl.String, "state": pl.String, "open_ts": pl.Float64,
        "connect_ts": pl.Float64, "connect_result": pl.String, "connected_ts": pl.Float64,
        "first_byte_ts": pl.Float64, "last_byte_ts": pl.Float64, "close_ts": pl.Float64,
        "bytes_sent": pl.Int64, "bytes_recv": pl.Int64, "requests": pl.List(pl.String),
        "statuses": pl.List(pl.String), "sni": pl.String, "dns": pl.List(pl.String), "error": pl.String,
        "waiting_since": pl.Float64, "first_line": pl.Int64, "last_line": pl.Int64,
        "truncated_payloads": pl.Int64,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema)
