"""One row per module@version the trace touches in the module cache: its lock wait, where
it came from, what was written and renamed, what was left, and how it ended."""

from __future__ import annotations

import re
from typing import Any

import polars as pl

from gotrace.analyzers.context import Context
from gotrace.analyzers.modcache.events import LOCK_EX, cache_events, module_events
from gotrace.analyzers.modcache.sources import module_sources
from gotrace.analyzers.output import MODULE_AT_VERSION, messages
from gotrace.modcachelayout import classify

_MODULE_SCHEMA: dict[str, Any] = {
    "module": pl.String, "version": pl.String, "lock_path": pl.String,
    "lock_wait_s": pl.Float64, "lock_in_flight": pl.Boolean, "source": pl.String,
    "zip_bytes": pl.Int64, "tmp_files": pl.List(pl.String), "renamed": pl.List(pl.String),
    "extracted": pl.Boolean, "result": pl.String, "error": pl.String, "leftovers": pl.List(pl.String),
    "pids": pl.List(pl.Int64), "first_line": pl.Int64, "last_line": pl.Int64,
    "start": pl.Float64, "end": pl.Float64,
}  # fmt: skip


def modules(ctx: Context) -> pl.DataFrame:
    """One row per module@version the trace touches in the cache (or names in an error).

    ``lock_wait_s`` is the time spent in flock(LOCK_EX) on the version's ``.lock``; a wait
    still in flight counts until its process died or the trace ended (``lock_in_flight``).
    ``source`` is where the ``.zip``/``.mod`` came from: ``http://host:port[/prefix]`` (the
    remote end of the socket the GET was written on, or go -x's ``# get`` URL), ``file://DIR``
    (a file:// GOPROXY read), or ``git`` (direct mode: activity in cache/vcs).
    ``zip_bytes`` are the bytes written to the zip's ``.tmp`` file; ``renamed`` the artifacts
    whose tmp file was renamed into place; ``extracted`` whether files were created in the
    extracted tree or its ``.partial`` marker was removed; ``leftovers`` the ``.tmp`` files
    never renamed or removed and a ``.partial`` never removed.

    ``result``: ``failed`` (go printed an error naming the module or one of its paths, or a
    call on its files was denied; ``error`` says what), ``incomplete`` (leftovers, and the
    process that made them ended), ``in-progress`` (leftovers of a process still alive when
    the trace ended, or a call on its files still in flight), ``downloaded`` (something was
    renamed into place or extracted; ``renamed`` says which files), ``cached`` (only read),
    else ``missing`` (go looked for its files, found none, and exited before doing more
    about it; ``in-progress`` instead when its process was killed or outlived the trace).
    """
    return module_table(ctx, cache_events(ctx))


def module_table(ctx: Context, events: pl.DataFrame) -> pl.DataFrame:
    ev = module_events(events)
    errors = module_errors(ctx)
    if not ev.height and not errors:
        return pl.DataFrame(schema=_MODULE_SCHEMA)
    op, art = pl.col("op"), pl.col("artifact")
    agg = (
        ev.group_by("module", "version")
        .agg(
            lock_path=pl.col("path").filter(art == "lock").first(),
            lock_wait_s=pl.col("wait").filter(LOCK_EX).sum(),
            lock_in_flight=(LOCK_EX & pl.col("in_flight")).any(),
            zip_bytes=pl.col("retval").filter((op == "write") & (pl.col("tmp_of") == "zip")).sum(),
            tmp_files=pl.col("path").filter((op == "create") & (art == "tmp")).unique(maintain_order=True),
            renamed=pl.col("tmp_of").filter((op == "rename") & (art == "tmp")).unique(maintain_order=True),
            renamed_from=pl.col("path").filter((op == "rename") & (art == "tmp")),
            unlinked=pl.col("path").filter(op == "unlink"),
            partial_made=pl.col("line").filter((op == "create") & (art == "partial")).max(),
            partial_gone=pl.col("line").filter((op == "unlink") & (art == "partial")).max(),
            made_files=((op.is_in(["create", "mkdir"])) & (art == "extracted") & (pl.col("inner") != "")).any(),
            denied=pl.format("{}({}) = -1 {} ({})", "syscall", "path", "errno", "errmsg").filter(op == "denied").first(),
            in_flight=pl.col("in_flight").any(),
            found=(op != "miss").any(),
            pids=pl.col("tgid").unique().sort(),
            first_line=pl.col("line").min(),
            last_line=pl.max_horizontal("line", "end_line").max(),
            start=pl.col("ts").min(),
            end=pl.max_horizontal("ts", "end_ts").max(),
        )
        .sort("first_line")
    )  # fmt: skip
    found = module_sources(
        ctx, ev, {(r[0], r[1]) for r in agg.select("module", "version").iter_rows()}
    )
    ended = {
        **{p: "exit" for p in ctx.groups.exit_status},
        **{p: "kill" for p in ctx.groups.killed},
    }
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str | None]] = set()
    for r in agg.iter_rows(named=True):
        key = (r["module"], r["version"])
        seen.add(key)
        gone = set(r["renamed_from"]) | set(r["unlinked"])
        leftovers = [p for p in r["tmp_files"] if p not in gone]
        if r["partial_made"] is not None and (r["partial_gone"] or 0) < r["partial_made"]:
            leftovers.append(_partial_path(r["lock_path"], ev, key))
        err = errors.get(key) or errors.get((r["module"], None))
        error = err[0] if err else r["denied"]
        alive = any(p not in ended for p in r["pids"])
        killed = any(ended.get(p) == "kill" for p in r["pids"])
        if error:
            result = "failed"
        elif leftovers:
            result = "in-progress" if alive else "incomplete"
        elif r["in_flight"]:
            result = "in-progress"
        elif r["renamed"] or r["made_files"] or r["partial_gone"] is not None:
            result = "downloaded"
        elif r["found"]:
            result = "cached"
        else:
            result = "in-progress" if alive or killed else "missing"
        rows.append(
            {
                "module": r["module"],
                "version": r["version"],
                "lock_path": r["lock_path"],
                "lock_wait_s": float(r["lock_wait_s"] or 0.0),
                "lock_in_flight": bool(r["lock_in_flight"]),
                "source": found.get(key),
                "zip_bytes": int(r["zip_bytes"] or 0),
                "tmp_files": r["tmp_files"],
                "renamed": r["renamed"],
                "extracted": bool(r["made_files"] or r["partial_gone"] is not None),
                "result": result,
                "error": error,
                "leftovers": [p for p in leftovers if p],
                "pids": r["pids"],
                "first_line": r["first_line"],
                "last_line": r["last_line"],
                "start": r["start"],
                "end": r["end"],
            }
        )
    for (module, version), (text, line, ts) in errors.items():
        if version is None or (module, version) in seen:
            continue
        rows.append(
            {
                **{k: None for k in _MODULE_SCHEMA},
                "module": module,
                "version": version,
                "lock_wait_s": 0.0,
                "lock_in_flight": False,
                "zip_bytes": 0,
                "tmp_files": [],
                "renamed": [],
                "extracted": False,
                "result": "failed",
                "error": text,
                "leftovers": [],
                "pids": [],
                "first_line": line,
                "last_line": line,
                "start": ts,
                "end": ts,
            }
        )
    return pl.DataFrame(rows, schema=_MODULE_SCHEMA).sort("first_line", nulls_last=True)


def _partial_path(lock_path: str | None, ev: pl.DataFrame, key: tuple[str, str | None]) -> str:
    rows = ev.filter(
        (pl.col("module") == key[0])
        & (pl.col("version") == key[1])
        & (pl.col("artifact") == "partial")
    )
    return (
        str(rows["path"][0])
        if rows.height
        else (lock_path or "").removesuffix(".lock") + ".partial"
    )


def module_errors(ctx: Context) -> dict[tuple[str, str | None], tuple[str, int, float | None]]:
    """Errors go printed (:func:`gotrace.analyzers.output.messages`), by the module@version
    they name, or the module whose cache directory they name: the line naming it, the
    write's line, its time."""
    gmc = ctx.gomodcache
    out: dict[tuple[str, str | None], tuple[str, int, float | None]] = {}
    for msg in messages(ctx):
        for raw in msg.text.splitlines():
            text = raw.strip()
            keys: list[tuple[str, str | None]] = [
                (m.group("m"), m.group("v")) for m in MODULE_AT_VERSION.finditer(text)
            ]
            if gmc:
                for p in re.findall(re.escape(gmc.rstrip("/")) + r"/[^\s:\"']+", text):
                    cp = classify(p, gmc)
                    if cp and cp.module and not cp.artifact.startswith("sumdb"):
                        keys.append((cp.module, cp.version))
            for key in keys:
                out.setdefault(key, (text, msg.line, msg.ts))
    return out
