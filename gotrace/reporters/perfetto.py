"""The capture as Chrome trace-event JSON, the format Perfetto (ui.perfetto.dev) and
chrome://tracing open.

One process per traced process and one track per thread, with every syscall a complete
(``X``) slice, so a blocked call is a long slice and one still blocked at the end runs to
the end. gotrace's own process (:data:`ANALYSIS_PID`) holds two tracks: the quiet periods,
and the findings (slices when they span time, instant events otherwise). Module downloads
and connections are async slices (``b``/``e``) on their process. Timestamps are
microseconds since the trace's first stamp (``otherData.t0`` is that stamp); pids and tids
are integers.

As on the HTML timeline, a trace with more than ``max_slices`` calls keeps the long ones
(over 1% of the span) and those in flight as slices, and counts the short ones per time
bucket, process and category on a counter track.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import polars as pl

from gotrace.errors import GotraceError
from gotrace.redact import redact_text
from gotrace.reporters.figures import LONG_SHARE, call_spans
from gotrace.reporters.jsonout import _clean

if TYPE_CHECKING:
    from gotrace.analyzers.report import Report

#: Linux's pid_max is at most 2**22, so no traced process has this pid
ANALYSIS_PID = 2**22 + 1
QUIET_TID, FINDINGS_TID = 1, 2
ARG_CHARS = 256


def _us(seconds: float) -> float:
    return round(seconds * 1e6, 3)


def render_perfetto(
    report: Report,
    *,
    max_slices: int = 20000,
    buckets: int = 400,
    redact: bool = True,
) -> str:
    """The trace-event JSON document (a ``str``; sorted keys, so the same trace gives the
    same bytes)."""
    ctx, analysis, modules = report.context, report, report.modules
    span = report.span
    if span is None:
        raise GotraceError(
            "the trace has no timestamps (-t/-tt/-ttt/-r): there is no time axis to export"
        )
    t0 = span.t0

    def words(text: str | None) -> str | None:
        return redact_text(text) if redact and text else text

    sc = call_spans(ctx, span)
    decimated = sc.height > max_slices
    if decimated:
        long_call = pl.col("in_flight") | (
            pl.col("stop") - pl.col("start") > span.length * LONG_SHARE
        )
        single, rest = sc.filter(long_call), sc.filter(~long_call)
    else:
        single, rest = sc, sc.clear()
    events: list[dict[str, Any]] = []
    # -- names of processes and threads
    tgids = sorted(set(ctx.frame["tgid"].drop_nulls().to_list()))
    for order, tgid in enumerate(tgids):
        argv = ctx.groups.argv.get(tgid)
        name = " ".join(argv) if argv else f"pid {tgid}"
        events.append(_meta("process_name", tgid, 0, {"name": name[:120]}))
        events.append(_meta("process_sort_index", tgid, 0, {"sort_index": order}))
    threads = ctx.frame.select("pid", "tgid").unique().sort("pid")
    for pid, tgid in threads.iter_rows():
        events.append(
            _meta(
                "thread_name", tgid, pid, {"name": f"{'main' if pid == tgid else 'thread'} {pid}"}
            )
        )
    events.append(
        _meta("process_name", ANALYSIS_PID, 0, {"name": "gotrace: quiet periods and findings"})
    )
    events.append(_meta("process_sort_index", ANALYSIS_PID, 0, {"sort_index": -1}))
    events.append(_meta("thread_name", ANALYSIS_PID, QUIET_TID, {"name": "quiet periods"}))
    events.append(_meta("thread_name", ANALYSIS_PID, FINDINGS_TID, {"name": "findings"}))
    # -- syscalls
    for r in single.iter_rows(named=True):
        args: dict[str, Any] = {
            "args": (r["args"] or "")[:ARG_CHARS],
            "ret": r["ret"],
            "line": r["line"],
        }
        if r["errno"]:
            args["errno"] = r["errno"]
        if r["in_flight"]:
            args["in_flight"] = True
        events.append(
            {
                "ph": "X",
                "name": r["syscall"] or "?",
                "cat": f"syscall,{r['category']}" + (",in_flight" if r["in_flight"] else ""),
                "pid": int(r["tgid"]),
                "tid": int(r["pid"]),
                "ts": _us(r["start"]),
                "dur": _us(max(r["stop"] - r["start"], 0.0)),
                "args": args,
            }
        )
    if rest.height:
        width = span.length / buckets
        counts = (
            rest.with_columns(bucket=(pl.col("start") / width).floor().cast(pl.Int64))
            .group_by("tgid", "bucket", "category")
            .len()
            .sort("tgid", "bucket", "category")
        )
        per: dict[tuple[int, int], dict[str, int]] = {}
        for tgid, bucket, cat, n in counts.iter_rows():
            per.setdefault((tgid, bucket), {})[cat] = n
        for (tgid, bucket), cats in sorted(per.items()):
            events.append(
                {
                    "ph": "C",
                    "name": "short calls per bucket",
                    "pid": int(tgid),
                    "tid": 0,
                    "ts": _us(bucket * width),
                    "args": cats,
                }
            )
    # -- quiet periods and findings
    for q in analysis.quiet:
        events.append(
            {
                "ph": "X",
                "name": f"quiet: {q.kind}",
                "cat": "quiet",
                "pid": ANALYSIS_PID,
                "tid": QUIET_TID,
                "ts": _us(q.start - t0),
                "dur": _us(q.duration),
                "args": {
                    "blame": words(q.blame),
                    "objects": [words(o) for o in q.objects],
                    "lines": list(q.evidence),
                },
            }
        )
    for f in analysis.findings:
        if f.start is None:
            continue
        args = {
            "summary": words(f.summary),
            "fix": words(f.fix),
            "objects": [words(o) for o in f.objects],
            "lines": list(f.evidence),
            "samples": list(f.samples),
            "severity": f.severity,
        }
        base = {
            "name": f"{f.severity}: {f.kind}",
            "cat": f"finding,{f.severity}",
            "pid": ANALYSIS_PID,
            "tid": FINDINGS_TID,
            "ts": _us(f.start - t0),
            "args": args,
        }
        if f.end is not None and f.end > f.start:
            events.append({**base, "ph": "X", "dur": _us(f.end - f.start)})
        else:
            events.append({**base, "ph": "i", "s": "g"})
    # -- module downloads and connections (async slices)
    if modules is not None and modules.height:
        for i, m in enumerate(modules.sort("start", nulls_last=True).iter_rows(named=True)):
            if m["start"] is None or m["end"] is None:
                continue
            pid = int(m["pids"][0]) if m["pids"] else ANALYSIS_PID
            tgid = ctx.groups.tgid.get(pid, pid)
            name = f"{m['module']}@{m['version']}" if m["version"] else str(m["module"])
            ident = f"module-{i}"
            margs = {
                "result": m["result"],
                "source": m["source"],
                "lock_wait_s": m["lock_wait_s"],
                "error": words(m["error"]),
            }
            events.extend(
                _async("module", ident, name, tgid, m["start"] - t0, m["end"] - t0, margs)
            )
    for c in analysis.connections:
        begin = c.open_ts if c.open_ts is not None else c.connect_ts
        if begin is None:
            continue
        end = c.close_ts or c.last_byte_ts or c.last_send_ts
        if c.close_ts is None:
            end = span.end
        row = c.to_row()
        cargs = {
            "state": row["state"],
            "requests": [words(x) for x in row["requests"]],
            "statuses": row["statuses"],
            "bytes_sent": c.bytes_sent,
            "bytes_recv": c.bytes_recv,
            "sni": c.sni,
            "dns": row["dns"],
        }
        events.extend(
            _async(
                "connection",
                f"conn-{c.id}",
                c.endpoint,
                c.tgid,
                begin - t0,
                (end or begin) - t0,
                cargs,
            )
        )
    events.sort(key=lambda e: (e["ph"] != "M", e.get("ts", 0.0), e["pid"], e["tid"]))
    doc = {
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {
            "generator": "gotrace",
            "source": str(ctx.meta.get("source") or ""),
            "verdict": words(analysis.verdict),
            "t0": t0,
            "clock": ctx.clock,
            "calls": sc.height,
            "call_slices": single.height,
            "decimated": decimated,
        },
    }
    return json.dumps(_clean(doc), sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n"


def _meta(name: str, pid: int, tid: int, args: dict[str, Any]) -> dict[str, Any]:
    return {"ph": "M", "name": name, "pid": int(pid), "tid": int(tid), "args": args}


def _async(
    cat: str, ident: str, name: str, pid: int, start: float, end: float, args: dict[str, Any]
) -> list[dict[str, Any]]:
    common = {"cat": cat, "id": ident, "name": name, "pid": int(pid), "tid": int(pid)}
    return [
        {**common, "ph": "b", "ts": _us(start), "args": args},
        {**common, "ph": "e", "ts": _us(max(end, start))},
    ]
