"""The module cache log a run would have written, rebuilt from the syscalls, and matching a
log someone kept against a trace.

Go writes no such log (FACTS §4.9: no ``cache/log``; ``$GOCACHE/log.txt`` was removed in
Go 1.13); the format is the one guides describe, so a log from another tool or an older go
can be read and correlated (the design card asks for it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from gotrace.analyzers.context import Context
from gotrace.analyzers.modcache.events import LOCK_EX, cache_events, module_events
from gotrace.analyzers.modcache.table import module_errors, module_table


@dataclass(frozen=True, slots=True)
class CacheLogEntry:
    """One line of a module cache log: ``ts`` in seconds (epoch for a full ISO stamp,
    seconds since midnight for a bare time of day, None for ``-``), ``op`` (``download``,
    ``verify``, ``lock``, ``unlock``, ``extract``, ``fail``, ...), module, version, the
    rest of the line, and the 1-based line number in the text."""

    ts: float | None
    op: str
    module: str
    version: str
    detail: str = ""
    line: int = 0


def _timeline(ctx: Context) -> list[tuple[float | None, int, str, str, str, str]]:
    """(ts, trace line, op, module, version, detail), in trace order."""
    events = cache_events(ctx)
    ev = module_events(events)
    out: list[tuple[float | None, int, str, str, str, str]] = []
    done_verify: set[tuple[str, str]] = set()
    done_extract: set[tuple[str, str]] = set()
    interesting = ev.filter(
        LOCK_EX
        | ((pl.col("op") == "flock") & (pl.col("artifact") == "lock") & pl.col("args").str.contains("LOCK_UN", literal=True))
        | ((pl.col("op") == "create") & pl.col("artifact").is_in(["tmp", "ziphash", "partial"]))
        | ((pl.col("op") == "write") & (pl.col("artifact") == "ziphash"))
    )  # fmt: skip
    for r in interesting.iter_rows(named=True):
        key = (r["module"], r["version"])
        if key[1] is None:
            continue
        art, args = r["artifact"], r["args"] or ""
        if r["op"] == "flock" and "LOCK_EX" in args:
            if r["in_flight"]:
                detail = f"(still waiting after {r['wait']:.3f}s when the trace ended)"
            elif r["wait"] >= 0.1:
                detail = f"(waited {r['wait']:.3f}s)"
            else:
                detail = ""
            out.append((r["ts"], r["line"], "lock", *key, detail))
        elif r["op"] == "flock":
            out.append((r["ts"], r["line"], "unlock", *key, ""))
        elif art == "tmp" and r["tmp_of"] in ("zip", "mod", "info"):
            out.append((r["ts"], r["line"], "download", *key, "." + r["tmp_of"]))
        elif (art == "ziphash" or r["tmp_of"] == "ziphash") and key not in done_verify:
            done_verify.add(key)
            out.append((r["ts"], r["line"], "verify", *key, ""))
        elif art == "partial" and key not in done_extract:
            done_extract.add(key)
            out.append((r["ts"], r["line"], "extract", *key, ""))
    errors = module_errors(ctx)
    failed = module_table(ctx, events).filter(pl.col("result").is_in(["failed", "incomplete"]))
    for r in failed.iter_rows(named=True):
        when: tuple[float | None, int] = (r["end"], r["last_line"] or 0)
        if r["result"] == "failed":
            detail = r["error"] or "failed"
            err = errors.get((r["module"], r["version"])) or errors.get((r["module"], None))
            if err is not None:
                when = (err[2], err[1])
        else:
            detail = "incomplete: " + ", ".join(p.rsplit("/", 1)[-1] for p in r["leftovers"])
        out.append((when[0], when[1], "fail", r["module"], r["version"], detail))
    out.sort(key=lambda e: (e[1], e[0] if e[0] is not None else 0.0))
    return out


def _stamp(ts: float | None, clock: str | None) -> str:
    if ts is None:
        return "-"
    if clock == "epoch":
        d = datetime.fromtimestamp(ts, UTC)
        return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"
    secs = max(ts, 0.0)
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    return f"{int(h):02d}:{int(m):02d}:{s:06.3f}"


def cache_log(ctx: Context) -> list[str]:
    """The module cache log this run would have written, rebuilt from the syscalls.

    Go itself keeps no such log: there is no ``$GOPATH/pkg/mod/cache/log`` (guides that
    describe one are wrong), and ``$GOCACHE/log.txt`` was removed in Go 1.13. The lines use
    the format those guides describe, ``<UTC time> <op> <module>@<version> [detail]``::

        2026-11-23T19:49:10.123Z lock example.com/a@v1.2.0 (waited 2.812s)
        2026-11-23T19:49:10.130Z download example.com/a@v1.2.0 .zip
        2026-11-23T19:49:10.200Z verify example.com/a@v1.2.0
        2026-11-23T19:49:10.201Z unlock example.com/a@v1.2.0
        2026-11-23T19:49:10.202Z extract example.com/a@v1.2.0
        2026-11-23T19:49:10.210Z fail example.com/b@v1.0.0 verifying ...: checksum mismatch

    ``lock`` is stamped when go asked for the lock (flock LOCK_EX on ``<version>.lock``),
    ``download`` when a ``.tmp`` for the .zip/.mod/.info was created, ``verify`` when the
    ``.ziphash`` was written (after the go.sum check), ``extract`` when ``.partial`` was
    created, ``fail`` when go printed an error naming the module (or the module's last
    event, for a download left incomplete). Logs without ``-ttt`` get a time of day
    (``HH:MM:SS.mmm``), logs without timestamps ``-``.
    """
    clock = ctx.clock
    return [
        f"{_stamp(ts, clock)} {op} {module}@{version}" + (f" {detail}" if detail else "")
        for ts, _, op, module, version, detail in _timeline(ctx)
    ]


_LOG_LINE = re.compile(
    r"^(?P<ts>\S+)\s+(?P<op>[a-z][a-z-]*)\s+(?P<mod>[^\s@]+)@(?P<ver>\S+?)[:,]?(?:\s+(?P<detail>.*))?$"
)


def _parse_stamp(text: str) -> float | None:
    if text == "-":
        return None
    m = re.match(r"^(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)$", text)
    if m:
        return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    iso = text.replace("Z", "+00:00")
    try:
        d = datetime.fromisoformat(iso)
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return d.timestamp()


def parse_cache_log(text: str) -> list[CacheLogEntry]:
    """Read a module cache log (``<time> <op> <module>@<version> [detail]`` per line, as
    :func:`cache_log` writes and guides describe). The time is an ISO 8601 stamp (``Z`` or
    an offset; a ``T`` or a space between date and time), a bare ``HH:MM:SS[.fff]``, or
    ``-``. Blank lines, ``#`` comments and lines in any other shape are skipped."""
    out: list[CacheLogEntry] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        # "2026-11-23 19:49:10.123Z download ...": join a date and time split by a space
        line = re.sub(r"^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2})", r"\1T\2", line)
        m = _LOG_LINE.match(line)
        if m is None:
            continue
        ts = _parse_stamp(m.group("ts"))
        if ts is None and m.group("ts") != "-":
            continue
        out.append(
            CacheLogEntry(
                ts, m.group("op"), m.group("mod"), m.group("ver"), m.group("detail") or "", n
            )
        )
    return out


_CORRELATE_SCHEMA: dict[str, Any] = {
    "entry_line": pl.Int64, "ts": pl.Float64, "op": pl.String, "module": pl.String,
    "version": pl.String, "detail": pl.String, "matched": pl.Boolean, "trace_line": pl.Int64,
    "trace_ts": pl.Float64, "trace_op": pl.String, "delta_s": pl.Float64, "offset_s": pl.Float64,
}  # fmt: skip


def correlate(
    ctx: Context, entries: Iterable[CacheLogEntry], *, tolerance: float = 2.0
) -> pl.DataFrame:
    """Match log entries to what the trace shows for the same module@version.

    The log's clock may differ from the trace's (another machine, local time against UTC, a
    bare time of day): the offset is estimated as the median of (entry time - trace time)
    over the k-th entry and the k-th trace event of each module@version and op, and every
    entry is then
    matched to the event of its module@version (same op preferred) nearest to
    ``entry time - offset``. ``matched`` when that is within ``tolerance`` seconds (or, for
    an entry without a time, when its module@version and op occur at all). ``delta_s`` is
    the residual after removing the offset."""
    entries = list(entries)
    timeline = _timeline(ctx)
    by_key: dict[tuple[str, str], list[tuple[float | None, int, str]]] = {}
    for ts, line, op, module, version, _ in timeline:
        by_key.setdefault((module, version), []).append((ts, line, op))
    # the k-th entry of a module@version and op against the k-th such event in the trace
    ordinal: dict[tuple[str, str, str], int] = {}
    diffs: list[float] = []
    for e in entries:
        k = (e.module, e.version, e.op)
        n = ordinal.get(k, 0)
        ordinal[k] = n + 1
        same_op = [t for t, _, op in by_key.get((e.module, e.version), []) if op == e.op]
        if e.ts is not None and n < len(same_op) and same_op[n] is not None:
            diffs.append(e.ts - same_op[n])  # type: ignore[operator]
    diffs.sort()
    offset = diffs[len(diffs) // 2] if diffs else 0.0
    rows: list[dict[str, Any]] = []
    for e in entries:
        cands = by_key.get((e.module, e.version), [])
        same = [c for c in cands if c[2] == e.op] or cands
        best: tuple[float | None, int, str] | None = None
        delta: float | None = None
        if e.ts is not None:
            timed = [c for c in same if c[0] is not None]
            if timed:
                best = min(timed, key=lambda c: abs(e.ts - offset - c[0]))  # type: ignore[operator]
                delta = e.ts - offset - best[0]  # type: ignore[operator]
        elif same:
            best = same[0]
        matched = (
            best is not None and best[2] == e.op and (delta is None or abs(delta) <= tolerance)
        )
        rows.append(
            {
                "entry_line": e.line,
                "ts": e.ts,
                "op": e.op,
                "module": e.module,
                "version": e.version,
                "detail": e.detail,
                "matched": matched,
                "trace_line": best[1] if best else None,
                "trace_ts": best[0] if best else None,
                "trace_op": best[2] if best else None,
                "delta_s": delta,
                "offset_s": offset if diffs else None,
            }
        )
    return pl.DataFrame(rows, schema=_CORRELATE_SCHEMA)
