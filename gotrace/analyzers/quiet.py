"""Quiet periods: when the traced tree made no progress, and what it was waiting on.

Go's runtime is never silent at the syscall level: threads park in ``futex``, the
netpoller waits in ``epoll_pwait`` with timeouts, ``nanosleep``/``sched_yield`` spin,
SIGURG preempts goroutines, reads return EAGAIN, timers fire and break the netpoller through
an eventfd; curl (inside git-remote-http) wakes up in ``poll``/``pselect6`` on short timeouts.
None of that is progress: the rule is :mod:`gotrace.analyzers.progress`, the same one the
live quiet line and the /proc watchdog use. Progress is any other call (opening a file,
writing a request, reading data, creating a process), and the start and end of each. A gap
between progress points longer than
``min_quiet`` is a quiet period; its blame is the most specific thing in flight across
it: a lock, a socket with an unanswered request, a response cut mid-body, a DNS query,
a connect, a child process, a read on a pipe or terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any

import polars as pl

from gotrace.analyzers.context import Context
from gotrace.analyzers.network import Connection
from gotrace.analyzers.progress import NOISE, NOISE_SIGNALS, QUIET_TARGETS
from gotrace.modcachelayout import download_temp_url_path
from gotrace.netaddr import host_port

EPS = 1e-6
#: gaps this long are blamed even below min_quiet, so that neighbours can be joined
SHORTEST_GAP = 0.2
#: two quiet spells with the same blame this close together are one
JOIN_WITHIN = 0.1


@dataclass(frozen=True)
class QuietPeriod:
    start: float
    end: float
    kind: str  # socket-wait, body-stall, dns, lock, connect, child, read, sleep, idle
    blame: str
    objects: tuple[str, ...] = ()
    pids: tuple[int, ...] = ()
    evidence: tuple[int, ...] = ()
    trailing: bool = False  # runs to the end of the trace
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``detail`` stays internal)."""
        return {
            "start": self.start,
            "end": self.end,
            "duration": self.duration,
            "kind": self.kind,
            "blame": self.blame,
            "objects": list(self.objects),
            "pids": list(self.pids),
            "evidence": list(self.evidence),
            "trailing": self.trailing,
        }


def progress_points(ctx: Context) -> pl.DataFrame:
    """Times at which something other than runtime noise happened (``t``, ``line``): the
    calls :func:`gotrace.analyzers.progress.is_progress` accepts, and the lines
    :func:`~gotrace.analyzers.progress.is_progress_event` accepts, as one polars filter."""
    f = ctx.frame
    useful = (
        (
            (pl.col("kind") == "syscall")
            & ~pl.col("syscall").is_in(list(NOISE))
            & (pl.col("errno").fill_null("") != "EAGAIN")
            & ~pl.any_horizontal(
                [pl.col("target").fill_null("").str.starts_with(w) for w in QUIET_TARGETS]
            )
        )
        | (pl.col("kind").is_in(["exit", "kill", "exec"]))
        | ((pl.col("kind") == "signal") & ~pl.col("signal").is_in(list(NOISE_SIGNALS)))
    )
    pts = f.filter(useful & pl.col("ts").is_not_null())
    starts = pts.select(pl.col("ts").alias("t"), "line")
    ends = pts.filter(pl.col("end_ts").is_not_null() & ~pl.col("in_flight")).select(
        pl.col("end_ts").alias("t"), "line"
    )
    return pl.concat([starts, ends]).sort("t")


def trace_end(ctx: Context) -> float | None:
    f = ctx.frame
    ts = f["ts"].drop_nulls()
    if not ts.len():
        return None
    last = max(float(ts.max()), float(f["end_ts"].drop_nulls().max() or ts.max()))  # type: ignore[arg-type]
    meta_end = ctx.meta.get("end")
    if isinstance(meta_end, (int, float)) and ctx.clock == "epoch" and meta_end > last:
        # strace ran until the command ended; calls still blocked printed nothing since
        last = float(meta_end)
    return last


def quiet_periods(
    ctx: Context, conns: list[Connection] | None = None, *, min_quiet: float = 1.0
) -> list[QuietPeriod]:
    if not ctx.has_timestamps:
        return []
    pts = progress_points(ctx)
    if not pts.height:
        return []
    end = trace_end(ctx)
    times = pts["t"].to_list()
    # Shorter gaps are blamed too, then neighbours with the same blame are joined: a DNS
    # query resent every second is one quiet spell of several seconds, not several of one.
    floor = min(min_quiet, SHORTEST_GAP)
    gaps: list[tuple[float, float, bool]] = []
    for a, b in pairwise(times):
        if b - a >= floor:
            gaps.append((a, b, False))
    if end is not None and end - times[-1] >= floor:
        gaps.append((times[-1], end, True))
    if conns is None:
        from gotrace.analyzers.network import connections

        conns = connections(ctx)
    periods = [blame(ctx, conns, s, e, trailing) for s, e, trailing in gaps]
    return [p for p in _join(periods) if p.duration >= min_quiet]


def _join(periods: list[QuietPeriod]) -> list[QuietPeriod]:
    out: list[QuietPeriod] = []
    for p in periods:
        prev = out[-1] if out else None
        if (
            prev is not None
            and p.kind == prev.kind
            and p.objects == prev.objects
            and p.kind != "idle"
            and p.start - prev.end <= JOIN_WITHIN
        ):
            out[-1] = replace(
                prev,
                end=p.end,
                trailing=p.trailing,
                evidence=tuple(dict.fromkeys(prev.evidence + p.evidence)),
                detail={**prev.detail, "spells": int(prev.detail.get("spells", 1)) + 1},
            )
        else:
            out.append(p)
    return out


def _spanning(ctx: Context, start: float, end: float) -> pl.DataFrame:
    """Calls in flight across the whole of [start, end]."""
    f = ctx.frame
    return f.filter(
        (pl.col("kind") == "syscall")
        & (pl.col("ts") <= start + EPS)
        & (pl.col("in_flight") | (pl.col("end_ts") >= end - EPS))
    )


def blame(
    ctx: Context, conns: list[Connection], start: float, end: float, trailing: bool
) -> QuietPeriod:
    span = _spanning(ctx, start, end)
    q = dict(start=start, end=end, trailing=trailing)

    locks = span.filter(pl.col("syscall") == "flock")
    if locks.height:
        r = locks.row(0, named=True)
        path = r["target"] or "a lock file"
        holder = lock_holder(ctx, path, r["tgid"], start)
        who = f"held by pid {holder}" if holder else "held by a process outside the trace"
        return QuietPeriod(
            kind="lock",
            blame=f"waited for the lock {path} ({who})",
            objects=(path,),
            pids=(r["pid"],),
            evidence=(r["line"],),
            detail={"holder": holder},
            **q,  # type: ignore[arg-type]
        )

    live = [c for c in conns if _open_across(c, start)]
    # what was unanswered across this gap, not at the end: a pause that recovered is blamed too
    waiting = sorted(
        ((w, c) for c in live if (w := c.waiting_at(start, end)) is not None),
        key=lambda x: x[0][0],
    )
    for _w, c in waiting:
        if c.is_dns:
            names = [d["name"] for d in c.dns if not d.get("answer")]
            what = names[-1] if names else "a name"
            return QuietPeriod(
                kind="dns",
                blame=f"waited for a DNS answer for {what} from {c.remote}",
                objects=(what, c.remote or "?"),
                pids=tuple(sorted(c.pids)),
                evidence=tuple(x for x in (c.waiting_line or _w[1],) if x is not None),
                detail={"connection": c.id},
                **q,  # type: ignore[arg-type]
            )
    for (since, line, unanswered), c in waiting:
        reqs = [r for r in c.requests if (r["ts"] or 0.0) <= start + EPS]
        tunnel = c.tunnel if c.tunnel_up(start) else None
        # through a tunnel, the request go waits on is the encrypted one, not the CONNECT
        req = reqs[-1]["request"] if reqs and not tunnel else None
        after = f" after sending `{req}`" if req else ""
        tls = c.tls_state(start)
        how = f" ({tls}, {unanswered} B of encrypted request sent)" if tls and not req else ""
        through = f" through the CONNECT tunnel to {tunnel}" if tunnel else ""
        return QuietPeriod(
            kind="socket-wait",
            blame=f"blocked in read on {c.endpoint}{through}{after}{how}: no response",
            objects=tuple(x for x in (c.remote, req) if x),
            pids=tuple(sorted(c.pids)),
            evidence=tuple(x for x in (reqs[-1]["line"] if req else line,) if x is not None),
            detail={
                "connection": c.id,
                "request": req,
                "host": reqs[-1].get("host") if reqs else None,
                "proto": reqs[-1].get("proto") if req else None,
                "since": since,
                "unanswered_bytes": unanswered,
                "tls": tls,
                "sni": c.sni,
                "tunnel": tunnel,
                "tunnel_status": c.tunnel_status() if tunnel else None,
            },
            **q,  # type: ignore[arg-type]
        )
    for c in live:
        resp = _response_in_progress(c, start, end)
        if resp is not None:
            reqs = [r for r in c.requests if r["line"] < resp["line"]]
            req = reqs[-1]["request"] if reqs else None
            got = resp["body_at_start"]
            return QuietPeriod(
                kind="body-stall",
                blame=(
                    f"blocked in read on {c.endpoint} in the middle of the response to `{req}`: "
                    f"{resp['status']}, {got} of {resp['content_length']} body bytes, then nothing"
                ),
                objects=tuple(x for x in (c.remote, req) if x),
                pids=tuple(sorted(c.pids)),
                evidence=(resp["line"],),
                detail={
                    "connection": c.id,
                    "request": req,
                    "received": got,
                    "expected": resp["content_length"],
                },
                **q,  # type: ignore[arg-type]
            )
    encrypted = [
        c
        for c in live
        if c.tls_state(start) == "TLS established"
        and any(r[0] <= start + EPS for r in c.recvs)
        and not any(start + EPS < r[0] < end - EPS for r in c.recvs)
    ]
    download = download_in_progress(ctx, start, end) if encrypted else None
    if encrypted and download is not None:
        # an encrypted response cut mid-body: the cache file it was being written to says which
        c = max(encrypted, key=lambda c: max(r[0] for r in c.recvs if r[0] <= start + EPS))
        req, written = download
        return QuietPeriod(
            kind="body-stall",
            blame=(
                f"blocked in read on {c.endpoint} in the middle of an encrypted response, most "
                f"likely to `{req}` ({written} B of it written to the cache), then nothing"
            ),
            objects=tuple(x for x in (c.remote, req) if x),
            pids=tuple(sorted(c.pids)),
            evidence=tuple(r[2] for r in c.recvs if r[0] <= start + EPS)[-1:],
            detail={
                "connection": c.id,
                "request": req,
                "received": written,
                "expected": None,
                "tls": c.tls_state(start),
                "sni": c.sni,
                "guessed": True,
                "tunnel": c.tunnel if c.tunnel_up(start) else None,
                "tunnel_status": c.tunnel_status() if c.tunnel_up(start) else None,
            },
            **q,  # type: ignore[arg-type]
        )
    connecting = [
        c for c in live if c.connect_result == "EINPROGRESS" and (c.connect_ts or 0) <= start + EPS
    ]
    if connecting:
        c = connecting[0]
        return QuietPeriod(
            kind="connect",
            blame=f"waited for a connection to {c.remote} to be established",
            objects=(c.remote or "?",),
            pids=tuple(sorted(c.pids)),
            evidence=tuple(c.lines[:1]),
            **q,  # type: ignore[arg-type]
        )

    waits = span.filter(pl.col("syscall").is_in(["wait4", "waitid"]))
    if waits.height:
        r = waits.row(0, named=True)
        child = _running_child(ctx, r["tgid"], start, end)
        argv = " ".join(ctx.groups.argv.get(child, [])) if child else ""
        return QuietPeriod(
            kind="child",
            blame=f"pid {r['tgid']} waited for its child {child or '?'}"
            + (f" ({argv})" if argv else ""),
            objects=tuple(x for x in (argv,) if x),
            pids=tuple(x for x in (r["tgid"], child) if x),
            evidence=(r["line"],),
            **q,  # type: ignore[arg-type]
        )
    reads = span.filter(
        pl.col("syscall").is_in(["read", "readv", "pread64"]) & pl.col("target").is_not_null()
    )
    if reads.height:
        r = reads.row(0, named=True)
        return QuietPeriod(
            kind="read",
            blame=f"pid {r['pid']} blocked in read on {r['target']}",
            objects=(r["target"],),
            pids=(r["pid"],),
            evidence=(r["line"],),
            **q,  # type: ignore[arg-type]
        )
    # a sleep that covers most of the gap (it began just after the last progress point)
    sleeps = ctx.frame.filter(
        (pl.col("kind") == "syscall")
        & pl.col("syscall").is_in(["nanosleep", "clock_nanosleep"])
        & (pl.col("ts") < end)
        & (pl.col("in_flight") | (pl.col("end_ts") > start))
        & (
            pl.min_horizontal(pl.col("end_ts").fill_null(end), pl.lit(end))
            - pl.max_horizontal(pl.col("ts"), pl.lit(start))
            >= 0.5 * (end - start)
        )
    )
    calls = sorted(set(span["syscall"].drop_nulls().to_list()))
    if sleeps.height and calls != ["futex"]:
        r = sleeps.row(0, named=True)
        if r["end_ts"] is None or r["end_ts"] - r["ts"] >= 0.5 * (end - start):
            return QuietPeriod(
                kind="sleep",
                blame=f"pid {r['pid']} slept ({r['syscall']}({r['args']}))",
                pids=(r["pid"],),
                evidence=(r["line"],),
                **q,  # type: ignore[arg-type]
            )
    threads = span["pid"].n_unique() if span.height else 0
    what = "/".join(calls) if calls else "nothing the trace shows"
    return QuietPeriod(
        kind="idle",
        blame=f"{threads} threads idle in {what}; no request, lock or child outstanding",
        pids=tuple(sorted(set(span["pid"].to_list()))[:8]),
        evidence=tuple(span["line"].head(5).to_list()),
        **q,  # type: ignore[arg-type]
    )


def unanswered(
    ctx: Context, conns: list[Connection], *, min_wait: float = 1.0
) -> list[QuietPeriod]:
    """Requests still unanswered when the trace ended, each as a ``socket-wait`` spell from
    its send to the end, even while other connections kept the command busy: one stalled
    request among hundreds that succeed never makes the whole tree quiet."""
    end = trace_end(ctx)
    if end is None:
        return []
    out = []
    for c in conns:
        if c.is_dns or c.waiting_since is None or c.close_ts is not None:
            continue
        if end - c.waiting_since < min_wait:
            continue
        tunnel = c.tunnel if c.tunnel_up(c.waiting_since) else None
        req = None if tunnel else c.last_request()
        tls = c.tls_state()
        if req is None and tls is None:
            continue
        unanswered_bytes = sum(n for t, n, _ in c.sends if t >= c.waiting_since)
        out.append(
            QuietPeriod(
                start=c.waiting_since,
                end=end,
                kind="socket-wait",
                blame=f"blocked in read on {c.endpoint}"
                + (f" through the CONNECT tunnel to {tunnel}" if tunnel else "")
                + (f" after sending `{req}`" if req else "")
                + ": no response",
                objects=tuple(x for x in (c.remote, req) if x),
                pids=tuple(sorted(c.pids)),
                evidence=tuple(
                    x for x in (c.requests[-1]["line"] if req else c.waiting_line,) if x is not None
                ),
                trailing=True,
                detail={
                    "connection": c.id,
                    "request": req,
                    "host": c.requests[-1].get("host") if c.requests else None,
                    "proto": c.requests[-1].get("proto") if req else None,
                    "since": c.waiting_since,
                    "unanswered_bytes": unanswered_bytes,
                    "tls": tls,
                    "sni": c.sni,
                    "tunnel": tunnel,
                    "tunnel_status": c.tunnel_status() if tunnel else None,
                },
            )
        )
    return out


def _open_across(c: Connection, start: float) -> bool:
    opened = c.open_ts if c.open_ts is not None else c.connect_ts
    return (opened is None or opened <= start + EPS) and (c.close_ts is None or c.close_ts >= start)


def download_in_progress(ctx: Context, start: float, end: float) -> tuple[str, int] | None:
    """The module file go was downloading across [start, end]: a cache ``.tmp`` file written
    before ``start`` and written to, closed or renamed again only at ``end`` or later (or
    never). Returns (``GET /<module>/@v/<file>``, bytes written to it by ``start``)."""
    f = ctx.frame.filter(
        (pl.col("kind") == "syscall")
        & pl.col("syscall").is_in(["write", "pwrite64", "close"])
        & pl.col("target").fill_null("").str.contains(r"/cache/download/.+\.tmp$")
    ).select("ts", "syscall", "target", "retval")
    best: tuple[str, int] | None = None
    for target, rows in f.group_by("target"):
        ts = rows["ts"].to_list()
        before = rows.filter(pl.col("ts") <= start + EPS)
        after = rows.filter(pl.col("ts") >= end - EPS)
        inside = [t for t in ts if t is not None and start + EPS < t < end - EPS]
        if not before.height or inside:
            continue
        if not after.height and "close" in before["syscall"].to_list():
            continue
        url_path = download_temp_url_path(str(target[0]))
        if url_path:
            written = int(before.filter(pl.col("syscall") != "close")["retval"].fill_null(0).sum())
            best = (f"GET /{url_path}", written)
    return best


def download_awaited(ctx: Context, since: float) -> str | None:
    """The module file an unanswered request was most likely for: the cache ``.tmp`` file
    created last before the request went out (``since``) that never got a byte and was
    never renamed into place (``GET /<module>/@v/<file>``)."""
    f = ctx.frame.filter(
        (pl.col("kind") == "syscall")
        & pl.col("target").fill_null("").str.contains(r"/cache/download/.+\.tmp$")
    ).select("ts", "syscall", "target", "retval", "args")
    created = (
        ctx.frame.filter(
            (pl.col("kind") == "syscall")
            & (pl.col("syscall") == "openat")
            & pl.col("args").str.contains("O_CREAT", literal=True)
            & pl.col("ret_target").fill_null("").str.contains(r"/cache/download/.+\.tmp$")
            & (pl.col("ts") <= since + 0.05)
        )
        .select("ts", pl.col("ret_target").alias("target"))
        .sort("ts")
    )
    wrote = set(
        f.filter(pl.col("syscall").is_in(["write", "pwrite64"]) & (pl.col("retval") > 0))[
            "target"
        ].to_list()
    )
    renames = "\n".join(
        ctx.frame.filter(pl.col("syscall").is_in(["rename", "renameat", "renameat2"]))["args"]
        .drop_nulls()
        .to_list()
    )
    best = None
    for target in created["target"].to_list():
        url_path = download_temp_url_path(str(target))
        if url_path and target not in wrote and f'"{target}"' not in renames:
            best = f"GET /{url_path}"
    return best


def _response_in_progress(c: Connection, start: float, end: float) -> dict[str, Any] | None:
    """The response whose body was short of its Content-Length at ``start``, when nothing
    came in on the connection across [start, end] (``body_at_start`` added)."""
    if any(start + EPS < r[0] < end - EPS for r in c.recvs):
        return None
    began = [r for r in c.responses if (r["ts"] or 0.0) <= start + EPS]
    if not began or began[-1]["content_length"] is None:
        return None
    resp = began[-1]
    if (
        c.requests
        and c.requests[-1]["line"] > resp["line"]
        and (c.requests[-1]["ts"] or 0.0) <= start
    ):
        return None  # a newer request was sent: that response had ended
    body = resp["first_body_bytes"] + sum(
        n for t, n, line in c.recvs if line > resp["line"] and t <= start + EPS
    )
    if body >= resp["content_length"]:
        return None
    return {**resp, "body_at_start": body}


def lock_holder(ctx: Context, path: str, waiter: int, at: float) -> int | None:
    """A traced process other than ``waiter`` that took LOCK_EX/LOCK_SH on ``path`` before
    ``at`` and had not released it (LOCK_UN or closing the fd)."""
    f = ctx.frame.filter(
        (pl.col("syscall").is_in(["flock", "close"]))
        & (pl.col("target") == path)
        & (pl.col("tgid") != waiter)
        & (pl.col("ts") <= at)
    ).sort("line")
    holder: int | None = None
    for r in f.iter_rows(named=True):
        if r["syscall"] == "flock" and r["retval"] == 0 and "LOCK_UN" not in (r["args"] or ""):
            holder = r["tgid"]
        elif holder == r["tgid"]:
            holder = None
    return holder


def _running_child(ctx: Context, parent: int, start: float, end: float) -> int | None:
    for child, p in ctx.groups.parent.items():
        if p != parent:
            continue
        rows = ctx.frame.filter(pl.col("tgid") == child)
        if not rows.height:
            continue
        first = rows.select(pl.col("ts").min()).item()
        last = rows.select(pl.max_horizontal(pl.col("ts").max(), pl.col("end_ts").max())).item()
        if first is not None and float(first) <= end and (last is None or float(last) >= start):
            return child
    return None


def describe_remote(remote: str | None) -> str:
    hp = host_port(remote) if remote else None
    return f"{hp[0]}:{hp[1]}" if hp else (remote or "?")


def to_frame(periods: list[QuietPeriod]) -> pl.DataFrame:
    rows = [
        {
            "start": p.start,
            "end": p.end,
            "duration": p.duration,
            "kind": p.kind,
            "blame": p.blame,
            "objects": list(p.objects),
            "pids": list(p.pids),
            "evidence": list(p.evidence),
            "trailing": p.trailing,
        }
        for p in periods
    ]
    schema: dict[str, Any] = {
        "start": pl.Float64, "end": pl.Float64, "duration": pl.Float64, "kind": pl.String,
        "blame": pl.String, "objects": pl.List(pl.String), "pids": pl.List(pl.Int64),
        "evidence": pl.List(pl.Int64), "trailing": pl.Boolean,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema)
