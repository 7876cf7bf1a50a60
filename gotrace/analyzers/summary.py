"""The summary of a trace: process tree, syscall table, slowest and in-flight calls, failures.

Pure: a Trace in, plain data out (dicts and lists that JSON can hold).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from gotrace.analyzers.context import Capture
from gotrace.analyzers.processes import process_table

#: calls whose time is spent waiting for something else, not working: kept apart in the table
WAIT_SYSCALLS = frozenset(
    {
        "futex", "epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll", "select",
        "pselect6", "nanosleep", "clock_nanosleep", "wait4", "waitid", "rt_sigsuspend",
        "rt_sigtimedwait", "pause", "flock", "accept", "accept4", "restart_syscall",
        "sched_yield", "io_getevents", "sigsuspend",
    }
)  # fmt: skip

TOP_N = 10


def summarize(trace: Capture, *, top: int = TOP_N) -> dict[str, Any]:
    f = trace.frame
    sc = f.filter(pl.col("kind") == "syscall")
    errors = f.filter(pl.col("kind") == "parse_error")
    ts = f["ts"].drop_nulls()
    return {
        "source": trace.meta.get("source"),
        "clock": trace.meta.get("clock") or None,
        "events": f.height,
        "syscall_events": sc.height,
        "span_s": (float(ts.max()) - float(ts.min())) if ts.len() else None,  # type: ignore[arg-type]
        "start_ts": float(ts.min()) if ts.len() else None,  # type: ignore[arg-type]
        "has_durations": bool(sc["duration"].null_count() < sc.height) if sc.height else False,
        "parse_errors": {
            "count": errors.height,
            "first": [
                {"source": r["source"], "line": r["line"], "text": r["text"], "reason": r["errmsg"]}
                for r in errors.head(5).iter_rows(named=True)
            ],
        },
        "processes": _processes(trace),
        "syscalls": syscall_table(sc),
        "slowest": _calls(
            sc.filter(pl.col("duration").is_not_null()).sort("duration", descending=True).head(top)
        ),
        "in_flight": _calls(sc.filter(pl.col("in_flight"))),
        "failures": _failures(sc),
        "signals": _signals(f),
    }


def _processes(trace: Capture) -> list[dict[str, Any]]:
    return process_table(trace.frame)


def syscall_table(sc: pl.DataFrame) -> list[dict[str, Any]]:
    """Like ``strace -c``, but with in-flight calls counted and wait time kept apart."""
    if not sc.height:
        return []
    table = (
        sc.group_by("syscall")
        .agg(
            calls=pl.len(),
            errors=(
                pl.col("errno").is_not_null() & ~pl.col("errno").str.starts_with("ERESTART")
            ).sum(),
            seconds=pl.when(pl.col("duration").is_not_null().any()).then(pl.col("duration").sum()),
            max_s=pl.col("duration").max(),
            in_flight=pl.col("in_flight").sum(),
        )
        .with_columns(
            category=pl.when(pl.col("syscall").is_in(list(WAIT_SYSCALLS)))
            .then(pl.lit("wait"))
            .otherwise(pl.lit("active")),
            usecs_per_call=(pl.col("seconds") / pl.col("calls") * 1e6),
        )
        .sort(["category", "seconds", "calls", "syscall"], descending=[False, True, True, False])
    )
    return table.to_dicts()


def _calls(df: pl.DataFrame) -> list[dict[str, Any]]:
    cols = [
        "line",
        "pid",
        "ts",
        "syscall",
        "args",
        "ret",
        "errno",
        "duration",
        "in_flight",
        "fd_target",
    ]
    return df.select(cols).to_dicts()


def _failures(sc: pl.DataFrame) -> list[dict[str, Any]]:
    failed = sc.filter(pl.col("errno").is_not_null() & ~pl.col("errno").str.starts_with("ERESTART"))
    if not failed.height:
        return []
    return (
        failed.group_by("errno", "syscall")
        .agg(count=pl.len(), first_line=pl.col("line").min(), example=pl.col("args").first())
        .sort(["count", "errno", "syscall"], descending=[True, False, False])
        .to_dicts()
    )


def _signals(f: pl.DataFrame) -> list[dict[str, Any]]:
    sig = f.filter(pl.col("kind") == "signal")
    if not sig.height:
        return []
    return (
        sig.group_by("signal")
        .agg(count=pl.len(), first_line=pl.col("line").min())
        .sort("signal")
        .to_dicts()
    )
