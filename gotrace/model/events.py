"""The event model: the events frame's schema (:data:`EVENT_SCHEMA`, what parsers produce and
analyzers read) and one frozen dataclass per kind of thing a trace records (what
:func:`gotrace.parsers.strace.iter_events` yields, a row of that frame).

Every event keeps ``line``, the 1-based line number in its source file where it
starts, so a finding can always point back at the raw trace. Times are seconds
as floats: epoch seconds for ``-ttt`` logs, seconds since midnight of the first
line's day for ``-t``/``-tt`` logs, seconds since the first line for ``-r``
logs, and ``None`` when the log has no timestamps (``Trace.meta`` says which).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import polars as pl

#: the events frame's columns, in order, with their polars types
EVENT_SCHEMA: dict[str, pl.DataType] = {
    "line": pl.Int64(),
    "end_line": pl.Int64(),
    "kind": pl.String(),
    "pid": pl.Int64(),
    "ts": pl.Float64(),
    "end_ts": pl.Float64(),
    "syscall": pl.String(),
    "args": pl.String(),
    "ret": pl.String(),
    "retval": pl.Int64(),
    "errno": pl.String(),
    "errmsg": pl.String(),
    "ret_target": pl.String(),
    "extra": pl.String(),
    "duration": pl.Float64(),
    "in_flight": pl.Boolean(),
    "fd": pl.Int64(),
    "fd_target": pl.String(),
    "signal": pl.String(),
    "info": pl.String(),
    "status": pl.Int64(),
    "core_dumped": pl.Boolean(),
    "stopped": pl.Boolean(),
    "former_pid": pl.Int64(),
    "text": pl.String(),
    "comm": pl.String(),
    "nr": pl.Int64(),
    "ip": pl.String(),
    "stack": pl.String(),
    "source": pl.String(),
    "data": pl.String(),
}


def empty_frame() -> pl.DataFrame:
    """An events frame with no rows."""
    return pl.DataFrame(schema=EVENT_SCHEMA)


EventKind = Literal["syscall", "signal", "exit", "kill", "exec", "notice", "output", "parse_error"]

#: syscalls that by design never return to their caller; ``= ?`` is their normal result.
NO_RETURN_SYSCALLS = frozenset({"exit", "exit_group", "rt_sigreturn", "sigreturn"})


@dataclass(frozen=True, slots=True)
class Syscall:
    """One system call, with an ``<unfinished ...>``/``<... resumed>`` pair merged.

    ``args`` is the complete argument text exactly as strace printed it (the
    unfinished and resumed halves joined); use :mod:`gotrace.parsers.args` to
    decode it. ``ret`` is the raw return text (``"3</etc/passwd>"``, ``"-1"``,
    ``"?"``); ``retval`` its number. ``in_flight`` is true when the call had
    not returned when the trace ended or its process died.
    """

    line: int
    pid: int
    ts: float | None
    name: str
    args: str
    ret: str | None = None
    retval: int | None = None
    errno: str | None = None
    errmsg: str | None = None
    ret_target: str | None = None
    end_ts: float | None = None
    duration: float | None = None
    in_flight: bool = False
    end_line: int | None = None
    comm: str | None = None
    nr: int | None = None
    ip: int | None = None
    stack: tuple[str, ...] = field(default=())
    source: str | None = None

    kind: EventKind = field(default="syscall", init=False)

    @property
    def failed(self) -> bool:
        return self.errno is not None and not self.errno.startswith("ERESTART")


@dataclass(frozen=True, slots=True)
class Signal:
    """``--- SIGCHLD {si_signo=...} ---`` or ``--- stopped by SIGSTOP ---``."""

    line: int
    pid: int
    ts: float | None
    signal: str
    info: str = ""
    stopped: bool = False
    comm: str | None = None
    source: str | None = None

    kind: EventKind = field(default="signal", init=False)


@dataclass(frozen=True, slots=True)
class Exit:
    """``+++ exited with N +++``."""

    line: int
    pid: int
    ts: float | None
    status: int
    comm: str | None = None
    source: str | None = None

    kind: EventKind = field(default="exit", init=False)


@dataclass(frozen=True, slots=True)
class Kill:
    """``+++ killed by SIGKILL (core dumped) +++``."""

    line: int
    pid: int
    ts: float | None
    signal: str
    core_dumped: bool = False
    comm: str | None = None
    source: str | None = None

    kind: EventKind = field(default="kill", init=False)


@dataclass(frozen=True, slots=True)
class Exec:
    """``+++ superseded by execve in pid N +++``: thread ``former_pid`` ran execve
    and took over ``pid`` (the thread-group leader), which vanishes as a thread."""

    line: int
    pid: int
    ts: float | None
    former_pid: int
    comm: str | None = None
    source: str | None = None

    kind: EventKind = field(default="exec", init=False)


@dataclass(frozen=True, slots=True)
class Notice:
    """strace's own messages: ``strace: Process N attached``, ``[ Process PID=N runs in
    x32 mode. ]``, ``<pid changed to N ...>``."""

    line: int
    pid: int | None
    ts: float | None
    text: str
    source: str | None = None

    kind: EventKind = field(default="notice", init=False)


@dataclass(frozen=True, slots=True)
class Output:
    """What the traced program printed among strace's lines, when strace wrote to the same
    terminal (no ``-o``): ``write(1, "c\\n", 2c`` holds the program's ``c``. Whose output it
    was is not known (``pid`` is ``None``); the call it cut is joined and read as usual."""

    line: int
    pid: int | None
    ts: float | None
    text: str
    source: str | None = None

    kind: EventKind = field(default="output", init=False)


@dataclass(frozen=True, slots=True)
class ParseError:
    """A line the parser could not read. Analysis goes on; ``--strict`` stops at the first."""

    line: int
    text: str
    reason: str
    source: str | None = None
    pid: int | None = None
    ts: float | None = None

    kind: EventKind = field(default="parse_error", init=False)


Event = Syscall | Signal | Exit | Kill | Exec | Notice | Output | ParseError


class TraceParseError(ValueError):
    """Raised in strict mode for the first line that cannot be parsed."""

    def __init__(self, source: str | None, line: int, text: str, reason: str) -> None:
        self.source = source
        self.line = line
        self.text = text
        self.reason = reason
        where = f"{source or '<trace>'}:{line}"
        super().__init__(f"{where}: {reason}: {text[:120]!r}")
