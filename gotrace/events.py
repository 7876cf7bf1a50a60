"""Moved to :mod:`gotrace.model.events`. This name stays only for gotrace/trace.py until the
lead's rewrite of it; new code imports :mod:`gotrace.model.events`."""

from gotrace.model.events import (
    NO_RETURN_SYSCALLS,
    Event,
    EventKind,
    Exec,
    Exit,
    Kill,
    Notice,
    Output,
    ParseError,
    Signal,
    Syscall,
    TraceParseError,
)

__all__ = [
    "NO_RETURN_SYSCALLS",
    "Event",
    "EventKind",
    "Exec",
    "Exit",
    "Kill",
    "Notice",
    "Output",
    "ParseError",
    "Signal",
    "Syscall",
    "TraceParseError",
]
