"""The /proc sample model: what :class:`gotrace.tracer.sampler.ProcSampler` records of a
process tree at one instant, and ``samples.jsonl``, one :class:`Sample` per line.

Frozen, JSON-serialisable, no I/O beyond :func:`read_samples`; the capture side writes these
values and :mod:`gotrace.analyzers.samples` reads them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any


@dataclass(frozen=True, slots=True)
class ThreadSample:
    """One thread. ``syscall`` is the call it is blocked in, ``running`` when it is in none
    (on a CPU, or stopped outside a call), ``?`` when /proc would not say; ``args`` are the
    call's six raw arguments and ``wchan`` the kernel function it sleeps in."""

    tid: int
    state: str
    syscall: str
    nr: int | None = None
    args: tuple[int, ...] = ()
    wchan: str = ""


@dataclass(frozen=True, slots=True)
class FdSample:
    """An open fd that is not a socket, as /proc/PID/fd names it. A regular file also has its
    size and ``file_id``, ``major:minor:inode`` written as /proc/locks writes it."""

    fd: int
    target: str
    size: int | None = None
    file_id: str | None = None


@dataclass(frozen=True, slots=True)
class SocketSample:
    """A socket fd matched by inode in /proc/PID/net/{tcp,tcp6,udp,udp6,unix} (or the
    sock_diag dump of the same). A socket in none of them keeps only its protocol name
    (``netlink``...), or ``""``. Queues are bytes: for TCP, ``tx_queue`` is sent but not
    acknowledged and ``rx_queue`` received but not yet read. The rest is TCP's own tcp_info,
    known only from sock_diag (None otherwise): milliseconds since data was last sent, data
    was last received and an ACK was last received (in jiffies: 4 ms steps at HZ=250), and
    the connection's byte totals (``bytes_acked`` counts the SYN). They tell a request
    waiting for its answer from an idle keep-alive connection
    (:func:`gotrace.analyzers.samples.awaiting_reply`)."""

    fd: int
    inode: int
    proto: str = ""
    local: str = ""
    remote: str = ""
    state: str = ""
    tx_queue: int = 0
    rx_queue: int = 0
    last_send_ms: int | None = None
    last_recv_ms: int | None = None
    last_ack_recv_ms: int | None = None
    bytes_acked: int | None = None
    bytes_received: int | None = None


@dataclass(frozen=True, slots=True)
class ProcessSample:
    """One process of the tree. ``cpu`` is user+system seconds; ``rchar``/``wchar`` are the
    bytes it has read and written so far (None when /proc/PID/io is unreadable)."""

    pid: int
    ppid: int
    comm: str
    cmdline: tuple[str, ...]
    state: str
    cpu: float
    rchar: int | None
    wchar: int | None
    threads: tuple[ThreadSample, ...] = ()
    fds: tuple[FdSample, ...] = ()
    sockets: tuple[SocketSample, ...] = ()


@dataclass(frozen=True, slots=True)
class LockSample:
    """A /proc/locks entry on a file the tree has open, or held or awaited by the tree; only
    taken while a thread of the tree is blocked in flock or fcntl. ``holder`` is -1 for an
    open-file-description lock (the kernel does not say whose)."""

    file_id: str
    path: str | None
    kind: str
    mode: str
    holder: int
    holder_cmdline: str
    waiters: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class DownloadFile:
    """A ``*.tmp`` or ``*.partial`` file under GOMODCACHE/cache/download (path relative to
    GOMODCACHE)."""

    path: str
    size: int
    mtime: float


@dataclass(frozen=True, slots=True)
class Sample:
    """The process tree at one instant. ``index`` is the sample's 0-based line in
    samples.jsonl; ``time`` is epoch seconds (the clock of strace -ttt); ``took`` is how long
    reading /proc took."""

    index: int
    time: float
    root_pid: int
    gomodcache: str | None
    processes: tuple[ProcessSample, ...]
    locks: tuple[LockSample, ...] = ()
    downloads: tuple[DownloadFile, ...] = ()
    took: float = 0.0

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> Sample:
        return cls.from_dict(json.loads(line))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Sample:
        return cls(
            index=int(d["index"]),
            time=float(d["time"]),
            root_pid=int(d["root_pid"]),
            gomodcache=d.get("gomodcache"),
            processes=tuple(_process_from_dict(p) for p in d.get("processes", ())),
            locks=tuple(
                LockSample(**{**lk, "waiters": tuple(lk.get("waiters", ()))})
                for lk in d.get("locks", ())
            ),
            downloads=tuple(DownloadFile(**f) for f in d.get("downloads", ())),
            took=float(d.get("took", 0.0)),
        )


def _process_from_dict(d: Mapping[str, Any]) -> ProcessSample:
    return ProcessSample(
        **{
            **d,
            "cmdline": tuple(d.get("cmdline", ())),
            "threads": tuple(
                ThreadSample(**{**t, "args": tuple(t.get("args", ()))})
                for t in d.get("threads", ())
            ),
            "fds": tuple(FdSample(**f) for f in d.get("fds", ())),
            "sockets": tuple(SocketSample(**s) for s in d.get("sockets", ())),
        }
    )


def read_samples(path: Path) -> list[Sample]:
    """Every complete line of a samples.jsonl (a line cut by a killed sampler is skipped)."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break
            with contextlib.suppress(ValueError, KeyError, TypeError):
                out.append(Sample.from_json(line))
    return out


def write_sample(out: IO[str], sample: Sample) -> None:
    """One line of samples.jsonl, flushed so that a reader can follow the file."""
    out.write(sample.to_json() + "\n")
    out.flush()
