"""Module-cache findings: ``lock-wait`` (with the traced process holding the lock, when
there is one), ``cache-permission`` and ``download-incomplete``."""

from __future__ import annotations

from typing import Any

import polars as pl

from gotrace.analyzers.context import Context
from gotrace.analyzers.findings import Finding
from gotrace.analyzers.modcache.events import cache_events
from gotrace.analyzers.modcache.table import module_table

#: a flock wait this long (or one still waiting) becomes a lock-wait finding
LOCK_WAIT_MIN = 0.5
_FIXED_WEIGHT = 0.5
LOCK_FIX = (
    "find the holder with `gotrace cache` or /proc/locks; remove the lock file only if no "
    "process holds it"
)


def findings(ctx: Context) -> list[Finding]:
    """``lock-wait``, ``cache-permission`` and ``download-incomplete`` findings."""
    ev = cache_events(ctx)
    if not ev.height:
        return []
    table = module_table(ctx, ev)
    return [
        *_lock_findings(ctx, ev),
        *_permission_findings(ctx, ev),
        *_incomplete_findings(ctx, table),
    ]


def _lock_findings(ctx: Context, ev: pl.DataFrame) -> list[Finding]:
    locks = ev.filter(
        (pl.col("syscall") == "flock")
        & pl.col("artifact").is_in(
            ["lock", "vcs-lock", "cache-lock", "list", "list-lock", "ziphash"]
        )
    )
    waits = locks.filter(
        (pl.col("in_flight") | (pl.col("wait") >= LOCK_WAIT_MIN))
        & pl.col("args").str.contains("LOCK_EX|LOCK_SH")
    )
    out = []
    for w in waits.iter_rows(named=True):
        holder = _lock_holder(ctx, locks, w)
        what = f" ({w['module']}@{w['version']})" if w["module"] and w["version"] else ""
        mode = "LOCK_EX" if "LOCK_EX" in (w["args"] or "") else "LOCK_SH"
        until = " and was still waiting when the trace ended" if w["in_flight"] else ""
        who = (
            f"held by pid {holder}" if holder is not None else "held by a process outside the trace"
        )
        objects = [w["path"]]
        if what:
            objects.append(f"{w['module']}@{w['version']}")
        if holder is not None:
            objects.append(f"pid {holder}")
        end = (w["ts"] or 0.0) + w["wait"] if w["ts"] is not None else None
        out.append(
            Finding(
                kind="lock-wait",
                severity="error" if w["in_flight"] else "warning",
                summary=f"go waited {w['wait']:.1f} s for {mode} on {w['path']}{what}{until}: {who}",
                start=w["ts"],
                end=end,
                pids=tuple(p for p in (w["tgid"], holder) if p is not None),
                objects=tuple(objects),
                evidence=tuple(sorted({w["line"], w["end_line"] or w["line"]})),
                fix=LOCK_FIX,
                weight=float(w["wait"]),
                detail={
                    "path": w["path"],
                    "module": w["module"],
                    "version": w["version"],
                    "wait_s": float(w["wait"]),
                    "in_flight": bool(w["in_flight"]),
                    "holder_pid": holder,
                    "mode": mode,
                },
            )
        )
    return out


def _lock_holder(ctx: Context, locks: pl.DataFrame, wait: dict[str, Any]) -> int | None:
    """The traced process that held ``wait``'s lock file when the wait began: one whose
    flock(LOCK_EX) on the same path succeeded before then, through another fd or process,
    and was not released (LOCK_UN, close of that fd, or the process's end) before it."""
    t0 = wait["ts"]
    if t0 is None:
        return None
    path = wait["path"]
    f = ctx.frame
    held = locks.filter(
        (pl.col("path") == path)
        & pl.col("args").str.contains("LOCK_EX", literal=True)
        & (pl.col("retval") == 0)
        & (pl.col("line") != wait["line"])
        & (pl.coalesce("end_ts", "ts") <= t0)
    )
    for h in held.sort("line", descending=True).iter_rows(named=True):
        if h["tgid"] == wait["tgid"] and h["fd"] == wait["fd"]:
            continue
        after = f.filter(
            (pl.col("tgid") == h["tgid"]) & (pl.col("line") > h["line"]) & (pl.col("ts") <= t0)
        )
        released = after.filter(
            (
                (pl.col("syscall") == "flock")
                & pl.col("args").str.contains("LOCK_UN", literal=True)
                & (pl.col("target") == path)
                & (pl.col("fd") == h["fd"])
            )
            | (
                (pl.col("syscall") == "close")
                & (pl.col("target") == path)
                & (pl.col("fd") == h["fd"])
            )
            | (pl.col("kind").is_in(["exit", "kill"]) & (pl.col("pid") == h["tgid"]))
        )
        if not released.height:
            return int(h["tgid"])
    return None


def _permission_findings(ctx: Context, ev: pl.DataFrame) -> list[Finding]:
    denied = ev.filter(pl.col("op") == "denied")
    out = []
    for (errno,), group in denied.group_by(["errno"], maintain_order=True):
        paths = group["path"].unique(maintain_order=True).to_list()
        first = group.row(0, named=True)
        more = f" (and {len(paths) - 1} more paths)" if len(paths) > 1 else ""
        calls = ", ".join(group["syscall"].unique(maintain_order=True).to_list())
        # where each call starts and, for a split call, where its error is printed
        lines = sorted(set(group["line"]) | set(group["end_line"].drop_nulls()))
        if errno == "EROFS":
            fix = (
                "GOMODCACHE is on a read-only file system: remount it read-write, or point "
                "GOMODCACHE at a writable directory (go env -w GOMODCACHE=...)"
            )
        else:
            fix = (
                "make GOMODCACHE writable by the user running go (it is usually another "
                "user's or root's cache, e.g. after `sudo go ...`: chown it back or run "
                "`go clean -modcache` as its owner), or point GOMODCACHE at a writable "
                "directory; go leaves extracted modules read-only unless -modcacherw"
            )
        out.append(
            Finding(
                kind="cache-permission",
                severity="error",
                summary=f"{calls} on {first['path']} failed with {errno} ({first['errmsg']}){more}",
                start=group["ts"].min(),  # type: ignore[arg-type]
                end=group["ts"].max(),  # type: ignore[arg-type]
                pids=tuple(sorted(set(group["tgid"].to_list()))),
                objects=tuple(paths[:20]),
                evidence=tuple(lines[:100]),
                fix=fix,
                weight=_FIXED_WEIGHT,
                detail={"errno": errno, "paths": paths, "calls": group.height},
            )
        )
    return out


def _incomplete_findings(ctx: Context, table: pl.DataFrame) -> list[Finding]:
    out = []
    for r in table.filter(pl.col("result") == "incomplete").iter_rows(named=True):
        names = ", ".join(p.rsplit("/", 1)[-1] for p in r["leftovers"])
        how = []
        for pid in r["pids"]:
            sig = ctx.groups.killed.get(pid)
            if sig:
                how.append(f"go (pid {pid}) was killed by {sig}")
            elif pid in ctx.groups.exit_status:
                how.append(f"go (pid {pid}) exited with status {ctx.groups.exit_status[pid]}")
        size = f" after {r['zip_bytes']} bytes of the zip" if r["zip_bytes"] else ""
        out.append(
            Finding(
                kind="download-incomplete",
                severity="warning",
                summary=(
                    f"{r['module']}@{r['version']} was left half-done{size}: {names} never "
                    f"renamed or removed; "
                    + ("; ".join(how) or "the process ended")
                    + " mid-download"
                ),
                start=r["start"],
                end=r["end"],
                pids=tuple(r["pids"]),
                objects=(f"{r['module']}@{r['version']}", *r["leftovers"]),
                evidence=(r["first_line"], r["last_line"]),
                fix=(
                    "re-run the command: go removes stale .tmp files under the version's lock "
                    "and re-extracts when a .partial is left; if it is killed again, find what "
                    "kills it (a CI step timeout, the OOM killer, an impatient wrapper)"
                ),
                weight=_FIXED_WEIGHT,
                detail={"leftovers": r["leftovers"], "zip_bytes": r["zip_bytes"]},
            )
        )
    return out
