"""Per module@version, when each phase of its download happened: the lock, the fetch (GET
sent -> answered), writing the downloaded files, extraction. The module waterfall draws
these; they are worked out here, once, from the module-cache events and the connections."""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from gotrace.analyzers.context import Context
from gotrace.analyzers.modcache import cache_events
from gotrace.analyzers.network import Connection
from gotrace.protocols import split_proxy_url

#: (phase, start, stop, still open at the end)
Phases = dict[tuple[str, str | None], list[tuple[str, float, float, bool]]]

_PHASE_CALLS = (
    "flock", "open", "openat", "openat2", "creat", "write", "writev", "pwrite64", "mkdir",
    "mkdirat", "unlink", "unlinkat", "rename", "renameat", "renameat2",
)  # fmt: skip


def module_phases(
    ctx: Context, conns: list[Connection], end: float, known: set[tuple[str, str]]
) -> Phases:
    """(module, version) -> [(phase, start, stop, open)] from the calls on the module's cache
    files (lock, writes of the downloaded files, extraction) and the HTTP requests for it.
    ``known``: the (module, version) pairs of the module table, which tell where a proxy
    URL's base path ends."""
    phases: dict[tuple[str, str | None], list[tuple[str, float, float, bool]]] = {}
    # only the calls that make these phases: a tenth of a big trace, and cache_events'
    # work grows with what it is given
    few = replace(
        ctx, frame=ctx.frame.filter(pl.col("syscall").cast(pl.String).is_in(_PHASE_CALLS))
    )
    ev = cache_events(few)
    if ev.height and {"module", "version", "op", "artifact", "ts", "wait"} <= set(ev.columns):
        ev = ev.filter(
            pl.col("module").is_not_null()
            & pl.col("version").is_not_null()
            & pl.col("ts").is_not_null()
        )
        is_lock = (
            (pl.col("op") == "flock")
            & (pl.col("artifact") == "lock")
            & pl.col("args").str.contains("LOCK_EX", literal=True)
        )
        is_write = (pl.col("op") == "write") & (pl.col("artifact") == "tmp")
        is_extract = pl.col("artifact").is_in(["extracted", "partial", "extracted-tmp"]) & pl.col(
            "op"
        ).is_in(["create", "mkdir", "write", "unlink", "rename"])
        agg = ev.group_by("module", "version").agg(
            lock_a=pl.col("ts").filter(is_lock).min(),
            lock_b=pl.coalesce("end_ts", pl.lit(end)).filter(is_lock).max(),
            lock_open=pl.col("in_flight").filter(is_lock).any(),
            write_a=pl.col("ts").filter(is_write).min(),
            write_b=pl.max_horizontal("ts", "end_ts").filter(is_write).max(),
            ext_a=pl.col("ts").filter(is_extract).min(),
            ext_b=pl.max_horizontal("ts", "end_ts").filter(is_extract).max(),
        )
        for r in agg.iter_rows(named=True):
            key = (r["module"], r["version"])
            out = phases.setdefault(key, [])
            if (
                r["lock_a"] is not None
                and r["lock_b"] is not None
                and r["lock_b"] - r["lock_a"] > 0
            ):
                out.append(("lock", r["lock_a"], r["lock_b"], bool(r["lock_open"])))
            if r["write_a"] is not None:
                out.append(("write", r["write_a"], r["write_b"] or r["write_a"], False))
            if r["ext_a"] is not None:
                out.append(("extract", r["ext_a"], r["ext_b"] or r["ext_a"], False))
    for key, spans in fetches(conns, end, known).items():
        a = min(s[0] for s in spans)
        b = max(s[1] for s in spans)
        phases.setdefault(key, []).append(("fetch", a, b, any(s[2] for s in spans)))
    return phases


def fetches(
    conns: list[Connection], end: float, known: set[tuple[str, str]]
) -> dict[tuple[str, str | None], list[tuple[float, float, bool]]]:
    """(module, version) -> [(sent, answered, still waiting)] for each GET of a known
    module's ``.info``/``.mod``/``.zip``, under any proxy base path."""
    out: dict[tuple[str, str | None], list[tuple[float, float, bool]]] = {}
    for c in conns:
        reqs = [r for r in c.requests if r.get("ts") is not None]
        for i, r in enumerate(reqs):
            method, _, target = r["request"].partition(" ")
            # a proxied request's target is a URL: its path is what a module proxy serves
            path = r.get("path") or target
            hit = split_proxy_url(path, known) if method == "GET" else None
            if hit is None or hit[2] not in ("info", "mod", "zip"):
                continue
            # the answer ends before the next request on the keep-alive connection
            nxt = reqs[i + 1]["ts"] if i + 1 < len(reqs) else None
            answered = any(resp["line"] > r["line"] for resp in c.responses)
            if nxt is not None:
                stop, waiting = nxt, False
            elif answered:
                stop, waiting = max(c.last_byte_ts or r["ts"], r["ts"]), False
            else:
                stop, waiting = (c.close_ts if c.close_ts is not None else end), True
            out.setdefault(hit[1], []).append((r["ts"], stop, waiting))
    return out
