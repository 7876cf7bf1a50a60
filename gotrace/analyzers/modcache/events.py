"""Every syscall the trace shows on a path under GOMODCACHE, one row each, with what the path
is (:mod:`gotrace.modcachelayout`) and what the call did to it (``op``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import polars as pl

from gotrace.analyzers.context import Context
from gotrace.modcachelayout import classify

_DENIED = ("EACCES", "EPERM", "EROFS")
OPENERS = ("open", "openat", "openat2", "creat")
_MKDIRS = ("mkdir", "mkdirat")
_RENAMES = ("rename", "renameat", "renameat2")
_UNLINKS = ("unlink", "unlinkat", "rmdir")
_WRITES = ("write", "pwrite64", "writev", "pwritev", "pwritev2", "sendfile", "sendfile64")
# copy_file_range(in, off_in, out, ...) and splice(...): the destination is the third argument
# (a file:// GOPROXY's zip is copied into the cache's .tmp with copy_file_range)
_COPIES = ("copy_file_range", "splice")
_COPY_DEST = r"^\S+?, (?:NULL|\[[^\]]*\]), \d+<([^<>]*)>"


# -- the events on cache paths ---------------------------------------------------------------
_PATH_SCHEMA = {
    "path": pl.String,
    "artifact": pl.String,
    "module": pl.String,
    "version": pl.String,
    "tmp_of": pl.String,
    "inner": pl.String,
}


def trace_end(ctx: Context) -> float | None:
    """The last moment the trace shows (the latest start or end of any event)."""
    f = ctx.frame
    if not f.height:
        return None
    value = f.select(pl.max_horizontal(pl.col("ts").max(), pl.col("end_ts").max())).item()
    return float(value) if value is not None else None


def cache_events(ctx: Context) -> pl.DataFrame:
    """Every syscall on a path under GOMODCACHE, one row each: the event's columns plus
    ``path`` (the cache path it acts on: the fd's target for fd calls, the path argument
    otherwise, the returned fd's target for a successful open), ``path2`` (a rename's new
    name), ``op`` (``create``, ``open-write``, ``mkdir``, ``rename``, ``unlink``, ``write``,
    ``flock``, ``denied`` (EACCES/EPERM/EROFS), ``read``, ``miss`` (another failure)),
    ``wait`` (seconds in the call; in-flight calls count to their end or the trace end),
    the classification of ``path`` (:class:`CachePath` fields) and ``artifact2``/``tmp_of2``
    for ``path2``."""
    gmc = ctx.gomodcache
    f = ctx.frame
    if gmc is None or not f.height:
        return _empty_events(f)
    root = gmc.rstrip("/")
    end = trace_end(ctx)
    sc = f.filter(
        (pl.col("kind") == "syscall")
        & (
            pl.col("args").str.contains(root, literal=True)
            | pl.col("target").str.starts_with(root + "/")
        )
    )
    if not sc.height:
        return _empty_events(f)
    quoted = (
        pl.col("args")
        .str.extract_all(r'"(?:[^"\\]|\\.)*"')
        .list.eval(pl.element().str.slice(1, pl.element().str.len_chars() - 2))
        .list.eval(pl.element().filter(pl.element().str.starts_with(root + "/")))
    )
    fd_call = pl.col("args").str.contains(r"^\d+")
    ok = pl.col("retval").is_not_null() & (pl.col("retval") >= 0)
    name = pl.col("syscall")
    dest = pl.col("args").str.extract(_COPY_DEST, 1)
    sc = sc.with_columns(_paths=quoted).with_columns(
        path=pl.when(name.is_in(OPENERS) & ok & pl.col("ret_target").str.starts_with(root + "/"))
        .then(pl.col("ret_target"))
        .when(name.is_in(_COPIES))
        .then(pl.when(dest.str.starts_with(root + "/")).then(dest))
        .when(fd_call)
        .then(pl.when(pl.col("target").str.starts_with(root + "/")).then(pl.col("target")))
        .otherwise(pl.col("_paths").list.get(0, null_on_oob=True)),
        path2=pl.when(name.is_in(_RENAMES)).then(pl.col("_paths").list.get(1, null_on_oob=True)),
    )
    sc = sc.filter(pl.col("path").is_not_null())
    args = pl.col("args")
    op = (
        pl.when(pl.col("errno").is_in(_DENIED))
        .then(pl.lit("denied"))
        .when(name.is_in(OPENERS) & ok & args.str.contains("O_CREAT", literal=True))
        .then(pl.lit("create"))
        .when(name.is_in(OPENERS) & ok & args.str.contains("O_WRONLY|O_RDWR"))
        .then(pl.lit("open-write"))
        .when(name.is_in(_MKDIRS) & ok)
        .then(pl.lit("mkdir"))
        .when(name.is_in(_RENAMES) & ok)
        .then(pl.lit("rename"))
        .when(name.is_in(_UNLINKS) & ok)
        .then(pl.lit("unlink"))
        .when(name.is_in([*_WRITES, *_COPIES]) & ok)
        .then(pl.lit("write"))
        .when(name == "flock")
        .then(pl.lit("flock"))
        .when(ok)
        .then(pl.lit("read"))
        .otherwise(pl.lit("miss"))
    )
    until = pl.coalesce(pl.col("end_ts"), pl.lit(end, dtype=pl.Float64))
    wait = (
        pl.when(pl.col("in_flight"))
        .then(until - pl.col("ts"))
        .otherwise(pl.coalesce(pl.col("duration"), pl.col("end_ts") - pl.col("ts")))
        .fill_null(0.0)
    )
    sc = sc.with_columns(op=op, wait=wait).drop("_paths")
    paths = pl.concat([sc["path"], sc["path2"].drop_nulls()]).unique().to_list()
    table = _path_table(paths, root)
    sc = sc.join(table, on="path", how="left")
    second = table.select(
        pl.col("path").alias("path2"),
        pl.col("artifact").alias("artifact2"),
        pl.col("tmp_of").alias("tmp_of2"),
    )
    return sc.join(second, on="path2", how="left").sort("line")


def _path_table(paths: Iterable[str], root: str) -> pl.DataFrame:
    rows: dict[str, list[Any]] = {k: [] for k in _PATH_SCHEMA}
    for p in paths:
        cp = classify(p, root)
        if cp is None:
            continue
        for k in _PATH_SCHEMA:
            rows[k].append(getattr(cp, k))
    return pl.DataFrame(rows, schema=_PATH_SCHEMA)


def _empty_events(frame: pl.DataFrame) -> pl.DataFrame:
    added: dict[str, Any] = {
        "path": pl.String, "path2": pl.String, "op": pl.String, "wait": pl.Float64,
        **{k: v for k, v in _PATH_SCHEMA.items() if k != "path"},
        "artifact2": pl.String, "tmp_of2": pl.String,
    }  # fmt: skip
    return frame.head(0).with_columns(
        [pl.lit(None, dtype=dtype).alias(name) for name, dtype in added.items()]
    )


def module_events(ev: pl.DataFrame) -> pl.DataFrame:
    """Events of a module's cache files, keyed by (module, version). Module-level paths
    (``@v/list``, the module's directory) count for every version of the module seen, and
    are dropped for a "module" no version was seen of (``cache/download/example.com`` is a
    parent directory, not a module); checksum-database entries are left out (they are not
    the module's files)."""
    ev = ev.filter(
        pl.col("module").is_not_null()
        & ~pl.col("artifact").is_in(["sumdb", "sumdb-lookup", "sumdb-tile"])
    )
    versioned = ev.filter(pl.col("version").is_not_null())
    versions = versioned.select("module", "version").unique()
    level = ev.filter(pl.col("version").is_null()).drop("version")
    level = level.join(versions, on="module", how="inner").select(versioned.columns)
    return pl.concat([versioned, level]).sort("line")


#: a successful or pending flock(LOCK_EX) on a version's ``.lock``
LOCK_EX = (
    (pl.col("op") == "flock")
    & (pl.col("artifact") == "lock")
    & pl.col("args").str.contains("LOCK_EX", literal=True)
)
