"""Who really sent the signal that ended a process, and whether it was gotrace itself.

Go's runtime catches SIGTERM and SIGINT, then re-raises them on itself, so a trace shows two
deliveries (strace's ``--- SIG... {...} ---`` lines)::

    --- SIGTERM {si_signo=SIGTERM, si_code=SI_USER, si_pid=10228, si_uid=0} ---   # the sender
    tgkill(10259, 10259, SIGTERM) = 0
    --- SIGTERM {si_signo=SIGTERM, si_code=SI_TKILL, si_pid=10259, si_uid=0} ---  # go itself

The sender is the first. gotrace writes every signal it sends into meta.json
(``gotrace_signals``: ``{"ts", "signal", "pid", "why"}``, ``why`` one of ``timeout``,
``forwarded``, ``cleanup``); older captures only say ``timed_out``/``interrupted``, and then a
sender outside the traced tree (strace, or gotrace's ptrace worker) is taken for the tracer.
A SIGKILL is never delivered to a handler, so it has no ``---`` line: only meta can name it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import polars as pl

from gotrace.analyzers.context import Context

_SI_CODE = re.compile(r"si_code=(?P<code>\w+)")
_SI_PID = re.compile(r"si_pid=(?P<pid>\d+)")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One ``--- SIG... ---`` line: the signal, who sent it and how."""

    signal: str
    pid: int  # the receiving thread
    ts: float | None
    line: int
    code: str | None  # SI_USER (kill), SI_TKILL (tgkill), SI_KERNEL, ...
    sender: int | None


@dataclass(frozen=True, slots=True)
class Stop:
    """gotrace ended the command: why (``timeout``, ``forwarded``, ``cleanup``), with what,
    when (seconds after the command started) and the trace lines that show it arrive."""

    why: str
    signal: str
    after: float | None
    evidence: tuple[int, ...] = ()
    sender: int | None = None

    @property
    def by(self) -> str:
        """``gotrace --timeout``, ``Ctrl-C (forwarded by gotrace)``..., for a sentence."""
        if self.why == "timeout":
            return "gotrace --timeout"
        if self.why == "forwarded":
            return f"a {self.signal} gotrace forwarded (Ctrl-C, or a signal sent to gotrace)"
        return "gotrace's cleanup"

    @property
    def phrase(self) -> str:
        took = f" after {self.after:.1f} s" if self.after is not None else ""
        return f"stopped by {self.by}{took}"


def deliveries(ctx: Context, tgid: int, signal: str | None = None) -> list[Delivery]:
    """Signals delivered to any thread of process ``tgid``, in trace order."""
    f = ctx.frame.filter((pl.col("kind") == "signal") & (pl.col("tgid") == tgid))
    if signal is not None:
        f = f.filter(pl.col("signal") == signal)
    out = []
    for r in f.select("signal", "pid", "ts", "line", "info").iter_rows(named=True):
        info = r["info"] or ""
        code = _SI_CODE.search(info)
        sender = _SI_PID.search(info)
        out.append(
            Delivery(
                signal=str(r["signal"]),
                pid=int(r["pid"]),
                ts=r["ts"],
                line=int(r["line"]),
                code=code.group("code") if code else None,
                sender=int(sender.group("pid")) if sender else None,
            )
        )
    return out


def real_delivery(ctx: Context, tgid: int, signal: str) -> Delivery | None:
    """The first delivery of ``signal`` to ``tgid`` that the process did not send itself
    (go's re-raise is ``SI_TKILL`` from its own pid)."""
    for d in deliveries(ctx, tgid, signal):
        if d.sender is not None and ctx.groups.tgid.get(d.sender, d.sender) == tgid:
            continue
        return d
    return None


def in_tree(ctx: Context, pid: int) -> bool:
    """Whether ``pid`` is a thread or process of the traced tree."""
    return pid in ctx.groups.tgid or pid in set(ctx.groups.tgid.values())


def recorded(ctx: Context) -> list[dict[str, Any]]:
    """meta.json's ``gotrace_signals``, the well-formed entries, in time order."""
    raw = ctx.meta.get("gotrace_signals")
    if not isinstance(raw, list):
        return []
    out = [
        s
        for s in raw
        if isinstance(s, dict) and isinstance(s.get("signal"), str) and s.get("why") is not None
    ]
    return sorted(out, key=lambda s: float(s.get("ts") or 0.0))


def _start(ctx: Context) -> float | None:
    start = ctx.meta.get("start")
    if isinstance(start, (int, float)) and ctx.clock == "epoch":
        return float(start)
    ts = ctx.frame["ts"].drop_nulls()
    return float(ts.min()) if ts.len() else None  # type: ignore[arg-type]


def gotrace_stop(ctx: Context, root: int | None, signal: str | None) -> Stop | None:
    """How gotrace stopped the command, when it did: from meta's ``gotrace_signals``, else
    (older captures) from ``timed_out``/``interrupted`` and a sender outside the tree."""
    start = _start(ctx)
    delivery = real_delivery(ctx, root, signal) if root is not None and signal else None
    evidence = (delivery.line,) if delivery else ()
    sent = recorded(ctx)
    if sent:
        first = sent[0]
        ts = first.get("ts")
        after = float(ts) - start if isinstance(ts, (int, float)) and start is not None else None
        if delivery is not None and delivery.sender is not None and in_tree(ctx, delivery.sender):
            return None  # a process of the tree sent it, whatever gotrace did later
        ended = _end_ts(ctx, root)
        if signal is None and ended is not None and isinstance(ts, (int, float)) and ended < ts:
            return None  # the command had ended on its own; gotrace only cleaned up after it
        return Stop(str(first["why"]), str(first["signal"]), after, evidence, _sender(delivery))
    timed_out, interrupted = bool(ctx.meta.get("timed_out")), bool(ctx.meta.get("interrupted"))
    if signal is None or not (timed_out or interrupted):
        return None
    if delivery is not None and delivery.sender is not None and in_tree(ctx, delivery.sender):
        return None
    when = delivery.ts if delivery is not None else _kill_ts(ctx, root)
    after = when - start if when is not None and start is not None else None
    return Stop("timeout" if timed_out else "forwarded", signal, after, evidence, _sender(delivery))


def _sender(d: Delivery | None) -> int | None:
    return d.sender if d is not None else None


def _kill_ts(ctx: Context, root: int | None) -> float | None:
    return _end_ts(ctx, root, ("kill",))


def _end_ts(
    ctx: Context, root: int | None, kinds: tuple[str, ...] = ("kill", "exit")
) -> float | None:
    """When the process ``root`` itself (its leader thread) was killed or exited."""
    if root is None:
        return None
    ev = ctx.frame.filter(pl.col("kind").is_in(list(kinds)) & (pl.col("pid") == root))
    ts = ev["ts"].drop_nulls()
    return float(ts[0]) if ts.len() else None
