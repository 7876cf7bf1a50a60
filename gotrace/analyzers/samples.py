"""What /proc samples of a go command say: did anything move, and if not, what is it stuck on.

Pure: :class:`~gotrace.model.samples.Sample` values in, booleans, sentences and findings
out; no I/O, no clock (each sample carries its own time).

- :func:`progress` -- did anything move between two samples.
- :func:`quiet_summary` -- the live sentence once nothing has moved for a while.
- :func:`findings` -- the quiet spans of a whole run as findings the analysis can merge.
- :class:`SampleHistory` -- bounded memory for a live run: the last sample that moved and
  the ones after it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from itertools import pairwise

from gotrace.analyzers.findings import Finding, Severity
from gotrace.analyzers.progress import WAITS, is_waiting, samples_progress
from gotrace.modcachelayout import TEMP_WRITTEN, classify_relative
from gotrace.model.samples import DownloadFile, ProcessSample, Sample, SocketSample, ThreadSample
from gotrace.protocols import is_dns_server

#: Go's runtime parks idle threads in these (and a C program waits for I/O in poll/select):
#: a thread moving between them, or on and off a CPU, is not progress
IDLE_CALLS = WAITS
_WAIT_CALLS = frozenset({"wait4", "waitid"})
#: calls whose first argument is a file descriptor worth naming
_FD_CALLS = frozenset(
    {
        "read", "write", "pread64", "pwrite64", "readv", "writev", "recvfrom", "sendto",
        "recvmsg", "sendmsg", "connect", "accept", "accept4", "flock", "fcntl", "fsync",
        "fdatasync", "ftruncate", "fallocate", "getdents64", "ioctl", "sendfile",
    }
)  # fmt: skip
_CONNECTED = frozenset({"ESTABLISHED", "SYN_SENT", "CLOSE_WAIT", "CONNECTED"})
_MAX_LISTED = 4


def _idle(t: ThreadSample) -> bool:
    return is_waiting(t.syscall)


def progress(prev: Sample, cur: Sample) -> bool:
    """Did anything move from ``prev`` to ``cur``; the one rule of
    :mod:`gotrace.analyzers.progress` (:func:`~gotrace.analyzers.progress.samples_progress`):
    a process started or ended; bytes read or written beyond wake-ups; a file opened or
    closed; a temporary download file grew, appeared or was renamed away; a socket opened,
    closed, changed state, queue or byte count; a lock changed hands; a thread entered or
    left a call that is not a wait (futex, epoll, poll, nanosleep, running)."""
    return samples_progress(prev, cur)


def quiet_since(samples: Sequence[Sample]) -> float | None:
    """When the last progress happened (the first sample's time if none did)."""
    if not samples:
        return None
    since = samples[0].time
    for a, b in pairwise(samples):
        if progress(a, b):
            since = b.time
    return since


def quiet_summary(samples: Sequence[Sample], quiet_after: float) -> str | None:
    """The live sentence, once nothing has moved for ``quiet_after`` seconds, e.g.

    ``quiet 10 s: all 6 threads of go (pid 4646) idle in futex/epoll_pwait; 2 TCP
    connections to 127.0.0.1:18082 ESTABLISHED with empty receive queues; downloads in
    progress: example.com/dep0@v1.0.0 (.zip tmp 0 bytes)``
    """
    since = quiet_since(samples)
    if since is None:
        return None
    quiet = samples[-1].time - since
    if quiet < quiet_after:
        return None
    return f"quiet {quiet:.0f} s: {describe(samples[-1])}"


def describe(sample: Sample) -> str:
    """What the tree is blocked on in one sample, most specific first, as one sentence."""
    if not sample.processes:
        return "the process tree has exited"
    clauses: list[str] = []
    waiting_on_network: list[ProcessSample] = []
    for p in sample.processes:
        blocked = _blocked_clauses(sample, p)
        if blocked:
            clauses += blocked
            continue
        clauses.append(_thread_clause(p))
        waiting_on_network.append(p)
    clauses += _socket_clauses(s for p in waiting_on_network for s in p.sockets)
    if sample.downloads:
        clauses.append(_downloads_clause(sample.downloads))
    return "; ".join(c for c in clauses if c)


def _name(p: ProcessSample) -> str:
    return f"{p.comm} (pid {p.pid})"


def _blocked_clauses(sample: Sample, p: ProcessSample) -> list[str]:
    """One clause per thread blocked in something other than idling; [] when all idle."""
    out = []
    for t in p.threads:
        if _idle(t):
            continue
        if t.syscall == "flock":
            out.append(_flock_clause(sample, p, t))
        elif t.syscall in _WAIT_CALLS:
            kids = [c for c in sample.processes if c.ppid == p.pid]
            who = ", ".join(_name(k) for k in kids) if kids else "a child"
            out.append(f"{_name(p)} waiting for {who}")
        else:
            where = f" on {describe_fd(p, t.args[0])}" if t.syscall in _FD_CALLS and t.args else ""
            state = " (uninterruptible)" if t.state == "D" else ""
            out.append(f"{_name(p)} blocked in {t.syscall}{where}{state}")
    return out


def _flock_clause(sample: Sample, p: ProcessSample, t: ThreadSample) -> str:
    path, holder = lock_of(sample, p, t)
    where = _short(sample, path) if path else f"fd {t.args[0] if t.args else '?'}"
    if holder is None:
        return f"{_name(p)} blocked in flock on {where}"
    return f"{_name(p)} blocked in flock on {where} held by {holder}"


def lock_of(sample: Sample, p: ProcessSample, t: ThreadSample) -> tuple[str | None, str | None]:
    """(path, ``pid M (cmdline)``) of the lock a thread blocked in flock waits for."""
    fd = t.args[0] if t.args else None
    f = next((f for f in p.fds if f.fd == fd), None)
    lock = None
    if f is not None and f.file_id is not None:
        lock = next((k for k in sample.locks if k.file_id == f.file_id and k.holder != p.pid), None)
    if lock is None:  # /proc/locks lists the waiting process under the lock it waits for
        lock = next((k for k in sample.locks if p.pid in k.waiters), None)
    path = f.target if f is not None else (lock.path if lock is not None else None)
    if lock is None:
        return path, None
    if lock.holder <= 0:
        return path, "an open file description (holder unknown)"
    return path, f"pid {lock.holder} ({_shorten(lock.holder_cmdline)})"


def _short(sample: Sample, path: str) -> str:
    if sample.gomodcache and path.startswith(sample.gomodcache.rstrip("/") + "/"):
        return "$GOMODCACHE/" + path[len(sample.gomodcache.rstrip("/")) + 1 :]
    return path


def _shorten(cmdline: str, width: int = 80) -> str:
    text = " ".join(cmdline.split()) or "?"
    return text if len(text) <= width else text[: width - 1] + "…"


def describe_fd(p: ProcessSample, fd: int) -> str:
    """``fd 7 (TCP 127.0.0.1:40000->127.0.0.1:8080 ESTABLISHED)``, ``fd 3 (/path)``."""
    for s in p.sockets:
        if s.fd == fd:
            ends = f"{s.local}->{s.remote}" if s.remote else s.local
            what = f"{s.proto.upper() or 'socket'} {ends} {s.state}".strip()
            return f"fd {fd} ({what})"
    for f in p.fds:
        if f.fd == fd:
            return f"fd {fd} ({f.target})"
    return f"fd {fd}"


def _thread_clause(p: ProcessSample) -> str:
    calls = sorted({t.syscall for t in p.threads if t.syscall in IDLE_CALLS})
    running = sum(1 for t in p.threads if t.syscall == "running")
    idle = sum(1 for t in p.threads if t.syscall in IDLE_CALLS)
    n = len(p.threads)
    if n == 0:
        return f"{_name(p)} has no threads left (state {p.state})"
    if idle == n:
        return f"all {n} thread{'s' if n > 1 else ''} of {_name(p)} idle in {'/'.join(calls)}"
    parts = []
    if running:
        parts.append(f"{running} running")
    if idle:
        parts.append(f"{idle} idle in {'/'.join(calls)}")
    unknown = n - running - idle
    if unknown:
        parts.append(f"{unknown} unreadable")
    return f"{_name(p)}: {n} threads, {', '.join(parts)}"


def awaiting_reply(s: SocketSample) -> bool | None:
    """Did data go out after the last data came in (a request still without its answer)?
    False when nothing but the SYN was ever sent, or the last data came in after the last
    sent (an idle keep-alive connection -- or a response stopped midway); None without
    tcp_info. Sent and received in the same jiffy: an ACK that came in later than the data
    acknowledges data we sent after it."""
    if s.last_send_ms is None or s.last_recv_ms is None:
        return None
    if s.bytes_acked is not None and s.bytes_acked <= 1:
        return False
    if s.bytes_received == 0:
        return True
    if s.last_send_ms != s.last_recv_ms:
        return s.last_send_ms < s.last_recv_ms
    return s.last_ack_recv_ms is not None and s.last_ack_recv_ms < s.last_recv_ms


def _socket_groups(
    sockets: Iterable[SocketSample],
) -> list[tuple[tuple[str, str, str], list[SocketSample]]]:
    """Connected TCP/UDP sockets grouped by (protocol, peer, state); groups with a request
    waiting for its answer first."""
    groups: dict[tuple[str, str, str], list[SocketSample]] = {}
    for s in sockets:
        if s.proto in ("tcp", "tcp6", "udp", "udp6") and s.state in _CONNECTED and s.remote:
            groups.setdefault((s.proto.rstrip("6").upper(), s.remote, s.state), []).append(s)
    return sorted(groups.items(), key=lambda g: not any(awaiting_reply(s) for s in g[1]))


def _socket_clause(proto: str, remote: str, state: str, socks: Sequence[SocketSample]) -> str:
    """``2 TCP connections to A ESTABLISHED with empty receive queues (1 waiting 9 s for an
    answer)``."""
    n = len(socks)
    noun = "connection" if proto == "TCP" else "socket"
    head = f"{n} {proto} {noun}{'s' if n > 1 else ''} to {remote}"
    if is_dns_server(remote):
        head += " (DNS)"
    if proto == "TCP":
        head += f" {state}"
    unread = sum(s.rx_queue for s in socks)
    unacked = sum(s.tx_queue for s in socks)
    if state == "SYN_SENT":
        tail = "(connect not answered)"
    elif unread:
        tail = f"with {unread} bytes received but not read"
    elif n == 1:
        tail = "with an empty receive queue"
    else:
        tail = "with empty receive queues"
    if unacked:
        tail += f", {unacked} bytes sent but not acknowledged"
    waiting = [s.last_send_ms for s in socks if awaiting_reply(s) and s.last_send_ms is not None]
    if waiting and state != "SYN_SENT":
        tail += f" ({len(waiting)} waiting {min(waiting) / 1000:.0f} s for an answer)"
    return f"{head} {tail}"


def _socket_clauses(sockets: Iterable[SocketSample]) -> list[str]:
    return [_socket_clause(*key, socks) for key, socks in _socket_groups(sockets)]


def download_name(d: DownloadFile) -> str:
    """``cache/download/example.com/dep0/@v/v1.0.0.zip123.tmp`` ->
    ``example.com/dep0@v1.0.0 (.zip tmp 0 bytes)``."""
    cp = classify_relative(d.path)
    if cp.module is not None and cp.artifact == "tmp" and cp.tmp_of in TEMP_WRITTEN:
        return f"{cp.module}@{cp.version} (.{cp.tmp_of} tmp {d.size} bytes)"
    if cp.module is not None and cp.artifact == "partial":
        return f"{cp.module}@{cp.version} (.partial: extracting)"
    if cp.module is not None and cp.artifact == "tmp" and cp.tmp_of == "list":
        return f"{cp.module} (version list tmp {d.size} bytes)"
    return f"{d.path} ({d.size} bytes)"


def _downloads_clause(downloads: Sequence[DownloadFile]) -> str:
    names = [download_name(d) for d in downloads]
    more = f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else ""
    return f"downloads in progress: {', '.join(names[:_MAX_LISTED])}{more}"


# --- findings over a whole run ----------------------------------------------------------------


def quiet_spans(samples: Sequence[Sample]) -> list[tuple[int, int]]:
    """Maximal (first, last) positions in ``samples`` with no progress between neighbours;
    ``first`` is the sample where the last move was seen."""
    spans = []
    start = 0
    for i in range(1, len(samples)):
        if progress(samples[i - 1], samples[i]):
            if i - 1 > start:
                spans.append((start, i - 1))
            start = i
    if len(samples) - 1 > start:
        spans.append((start, len(samples) - 1))
    return spans


def findings(samples: Sequence[Sample], *, min_quiet: float = 1.0) -> list[Finding]:
    """One finding per thing the tree was stuck on during each quiet span of at least
    ``min_quiet`` seconds. Kinds: ``lock-held``, ``process-blocked``, ``socket-stalled``,
    ``download-stalled``. ``start``/``end`` are epoch seconds; ``samples`` holds the
    indexes (samples.jsonl lines) of the span's first and last samples: nothing moved in
    between, so every sample between them shows the same; ``weight`` is the quiet seconds
    explained."""
    out: list[Finding] = []
    for first, last in quiet_spans(samples):
        a, b = samples[first], samples[last]
        if b.time - a.time < min_quiet or not b.processes:
            continue
        span = _Span(a, b)
        for p in b.processes:
            blocked = [t for t in p.threads if not _idle(t)]
            for t in blocked:
                out += span.blocked(p, t)
            if not blocked:
                out += span.sockets(p)
        out += [span.download(d) for d in b.downloads]
    return out


class _Span:
    def __init__(self, first: Sample, last: Sample) -> None:
        self.first, self.last = first, last
        self.secs = last.time - first.time
        self.indexes = tuple(sorted({first.index, last.index}))

    def finding(
        self,
        kind: str,
        severity: Severity,
        summary: str,
        pids: list[int],
        objects: list[str],
        fix: str,
    ) -> Finding:
        return Finding(
            kind=kind,
            severity=severity,
            summary=summary,
            start=self.first.time,
            end=self.last.time,
            pids=tuple(pids),
            objects=tuple(objects),
            samples=self.indexes,
            fix=fix,
            weight=self.secs,
        )

    def blocked(self, p: ProcessSample, t: ThreadSample) -> list[Finding]:
        s = self.last
        if t.syscall == "flock":
            path, holder = lock_of(s, p, t)
            lock = next((k for k in s.locks if p.pid in k.waiters), None)
            if lock is None and path is not None:
                lock = next((k for k in s.locks if k.path == path and k.holder != p.pid), None)
            where = _short(s, path) if path else "a lock file"
            who = f" held by {holder}" if holder else ""
            pids = [p.pid] + ([lock.holder] if lock is not None and lock.holder > 0 else [])
            return [
                self.finding(
                    "lock-held",
                    "error",
                    f"{_name(p)} waited {self.secs:.0f} s in flock on {where}{who}",
                    pids,
                    [o for o in (path, holder) if o],
                    "Another process holds this module-cache lock: usually a second go command "
                    "or gopls fetching the same module version. Let it finish, or stop it "
                    f"(pid {pids[-1]}). The .lock file itself is harmless; only a held lock "
                    "(see /proc/locks) blocks.",
                )
            ]
        if t.syscall in _WAIT_CALLS and any(c.ppid == p.pid for c in s.processes):
            return []  # the child's own state says more; it is reported in its own right
        where = f" on {describe_fd(p, t.args[0])}" if t.syscall in _FD_CALLS and t.args else ""
        wchan = f" (kernel: {t.wchan})" if t.wchan else ""
        uninterruptible = " in uninterruptible sleep" if t.state == "D" else ""
        return [
            self.finding(
                "process-blocked",
                "warning",
                f"{_name(p)} thread {t.tid} blocked {self.secs:.0f} s{uninterruptible} in "
                f"{t.syscall}{where}{wchan}",
                [p.pid],
                [where.removeprefix(" on ")] if where else [],
                "Find out what the other end of this call is waiting for; uninterruptible "
                "sleep (state D) usually means a stuck disk or network filesystem."
                if t.state == "D"
                else f"See what {p.comm} waits on in {t.syscall}: its peer or input never arrives.",
            )
        ]

    def sockets(self, p: ProcessSample) -> list[Finding]:
        groups = _socket_groups(p.sockets)
        if any(awaiting_reply(s) for _, socks in groups for s in socks):
            # tcp_info says which requests are unanswered: the rest are idle pool connections
            groups = [g for g in groups if any(awaiting_reply(s) for s in g[1])]
        out = []
        for (proto, remote, state), socks in groups:
            if is_dns_server(remote):
                fix = (
                    f"The resolver at {remote} does not answer: check /etc/resolv.conf and "
                    "the network path to it, or point GOPROXY at an address that needs no lookup."
                )
            elif state == "SYN_SENT":
                fix = f"Nothing answers the connect to {remote}: a firewall dropping packets?"
            elif any(s.rx_queue for s in socks):
                fix = f"Data from {remote} arrived but {p.comm} is not reading it."
            else:
                fix = (
                    f"The server at {remote} accepted the connection and stopped sending. Go has "
                    "no response-header timeout, so it waits forever: check that proxy (or a "
                    "middlebox in front of it); with GOPROXY=a|b go falls back on any error."
                )
            kind = proto.lower()
            out.append(
                self.finding(
                    "socket-stalled",
                    "error",
                    f"{_name(p)} waited {self.secs:.0f} s on "
                    f"{_socket_clause(proto, remote, state, socks)}",
                    [p.pid],
                    [f"{kind} {remote}"] + [f"{kind} {s.local}->{s.remote}" for s in socks],
                    fix,
                )
            )
        return out

    def download(self, d: DownloadFile) -> Finding:
        return self.finding(
            "download-stalled",
            "warning",
            f"{download_name(d)} did not grow for {self.secs:.0f} s",
            [],
            [d.path],
            "The response body stopped arriving; see the socket-stalled finding for the peer. "
            "An interrupted download is cleaned up by the next go command.",
        )


class SampleHistory:
    """Bounded memory for a live run: the last sample that showed progress and up to
    ``keep`` samples after it. Nothing is lost by dropping the middle of a quiet span: every
    sample in it looks the same."""

    def __init__(self, keep: int = 200) -> None:
        self.anchor: Sample | None = None
        self.recent: deque[Sample] = deque(maxlen=keep)
        self.last: Sample | None = None

    def feed(self, sample: Sample) -> None:
        if self.anchor is None or (self.last is not None and progress(self.last, sample)):
            self.anchor = sample
            self.recent.clear()
        else:
            self.recent.append(sample)
        self.last = sample

    def samples(self) -> list[Sample]:
        return [] if self.anchor is None else [self.anchor, *self.recent]

    def quiet_summary(self, quiet_after: float) -> str | None:
        return quiet_summary(self.samples(), quiet_after)
