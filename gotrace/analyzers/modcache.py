"""The module cache as the syscalls show it: which module@version each path under GOMODCACHE
belongs to, what go did with it (read it, downloaded it, waited for its lock, extracted it),
and what went wrong there.

What each path is comes from :mod:`gotrace.modcachelayout` (the layout of GOMODCACHE, shared
with the doctor's cache scan and the /proc samples).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from gotrace.analyzers.context import Context
from gotrace.analyzers.findings import Finding
from gotrace.analyzers.output import MODULE_AT_VERSION, go_x, messages

# the classifier lives in the bottom layer; these names stay importable from here
from gotrace.modcachelayout import ARTIFACTS as ARTIFACTS
from gotrace.modcachelayout import CachePath as CachePath
from gotrace.modcachelayout import classify
from gotrace.modpath import unescape
from gotrace.netaddr import url_origin
from gotrace.parsers.args import decode_string, parse_socket
from gotrace.protocols import (
    HTTP_STATUS_IN_ARGS,
    HTTP_STATUS_STRACE_HEAD,
    request_line,
    request_strace_head,
)

_DENIED = ("EACCES", "EPERM", "EROFS")
_OPENERS = ("open", "openat", "openat2", "creat")
_MKDIRS = ("mkdir", "mkdirat")
_RENAMES = ("rename", "renameat", "renameat2")
_UNLINKS = ("unlink", "unlinkat", "rmdir")
_WRITES = ("write", "pwrite64", "writev", "pwritev", "pwritev2", "sendfile", "sendfile64")
# copy_file_range(in, off_in, out, ...) and splice(...): the destination is the third argument
# (a file:// GOPROXY's zip is copied into the cache's .tmp with copy_file_range)
_COPIES = ("copy_file_range", "splice")
_COPY_DEST = r"^\S+?, (?:NULL|\[[^\]]*\]), \d+<([^<>]*)>"
#: a flock wait this long (or one still waiting) becomes a lock-wait finding
LOCK_WAIT_MIN = 0.5
_FIXED_WEIGHT = 0.5
LOCK_FIX = (
    "find the holder with `gotrace cache` or /proc/locks; remove the lock file only if no "
    "process holds it"
)


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
        path=pl.when(name.is_in(_OPENERS) & ok & pl.col("ret_target").str.starts_with(root + "/"))
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
        .when(name.is_in(_OPENERS) & ok & args.str.contains("O_CREAT", literal=True))
        .then(pl.lit("create"))
        .when(name.is_in(_OPENERS) & ok & args.str.contains("O_WRONLY|O_RDWR"))
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


def _module_events(ev: pl.DataFrame) -> pl.DataFrame:
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


# -- modules ---------------------------------------------------------------------------------
_MODULE_SCHEMA: dict[str, Any] = {
    "module": pl.String, "version": pl.String, "lock_path": pl.String,
    "lock_wait_s": pl.Float64, "lock_in_flight": pl.Boolean, "source": pl.String,
    "zip_bytes": pl.Int64, "tmp_files": pl.List(pl.String), "renamed": pl.List(pl.String),
    "extracted": pl.Boolean, "result": pl.String, "error": pl.String, "leftovers": pl.List(pl.String),
    "pids": pl.List(pl.Int64), "first_line": pl.Int64, "last_line": pl.Int64,
    "start": pl.Float64, "end": pl.Float64,
}  # fmt: skip

_LOCK_EX = (
    (pl.col("op") == "flock")
    & (pl.col("artifact") == "lock")
    & pl.col("args").str.contains("LOCK_EX", literal=True)
)


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
    return _modules(ctx, cache_events(ctx))


def _modules(ctx: Context, events: pl.DataFrame) -> pl.DataFrame:
    ev = _module_events(events)
    errors = _module_errors(ctx)
    if not ev.height and not errors:
        return pl.DataFrame(schema=_MODULE_SCHEMA)
    op, art = pl.col("op"), pl.col("artifact")
    agg = (
        ev.group_by("module", "version")
        .agg(
            lock_path=pl.col("path").filter(art == "lock").first(),
            lock_wait_s=pl.col("wait").filter(_LOCK_EX).sum(),
            lock_in_flight=(_LOCK_EX & pl.col("in_flight")).any(),
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
    sources = _sources(ctx, ev, {(r[0], r[1]) for r in agg.select("module", "version").iter_rows()})
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
                "source": sources.get(key),
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


def _module_errors(ctx: Context) -> dict[tuple[str, str | None], tuple[str, int, float | None]]:
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


# -- sources ---------------------------------------------------------------------------------
_ARTIFACT_URL = re.compile(r"/@v/(?P<v>[^/]+)\.(?P<ext>zip|mod|info)$")
_SOURCE_RANK = {"zip": 0, "mod": 1, "info": 2}


def split_proxy_url(
    path: str, known: set[tuple[str, str]]
) -> tuple[str, tuple[str, str], str] | None:
    """``/prefix/example.com/dep0/@v/v1.0.0.zip`` -> (``/prefix``, (module, version), ``zip``)
    for a module@version in ``known``."""
    m = _ARTIFACT_URL.search(path)
    if m is None:
        return None
    version = unescape(m.group("v"))
    segs = path[: m.start()].split("/")
    for i in range(len(segs)):
        key = (unescape("/".join(segs[i:])), version)
        if key in known:
            return "/".join(segs[:i]), key, m.group("ext")
    return None


def _status_rank(code: int | None) -> int:
    """200 first, then a request that got no answer (it stalled: still where go was going),
    then an error status (a 404 that go fell back from)."""
    if code is None:
        return 1
    return 0 if code == 200 else 2


def _sources(
    ctx: Context, ev: pl.DataFrame, known: set[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], tuple[tuple[int, int, int], str]] = {}

    def offer(hit: tuple[str, tuple[str, str], str], base: str, code: int | None, how: int) -> None:
        prefix, key, ext = hit
        rank = (_status_rank(code), _SOURCE_RANK[ext], how)
        if key not in found or rank < found[key][0]:
            found[key] = (rank, base + prefix)

    for base, target, code in _http_requests(ctx):
        hit = split_proxy_url(target, known)
        if hit:
            offer(hit, base, code, 0)
    x = go_x(ctx)
    codes = {
        r[0]: r[1]
        for r in x.filter(pl.col("kind") == "get-status").select("url", "status_code").iter_rows()
    }
    for (url,) in x.filter(pl.col("kind") == "get").select("url").iter_rows():
        origin = url_origin(url or "")
        hit = split_proxy_url(origin[1], known) if origin else None
        if hit and origin:
            offer(hit, origin[0], codes.get(url), 1)
    gmc = (ctx.gomodcache or "").rstrip("/")
    f = ctx.frame
    reads = f.filter(
        (pl.col("kind") == "syscall")
        & pl.col("syscall").is_in(_OPENERS)
        & (pl.col("retval") >= 0)
        & pl.col("ret_target").str.contains("/@v/", literal=True)
    )
    for (path,) in reads.select("ret_target").iter_rows():
        if gmc and path.startswith(gmc + "/"):
            continue
        hit = split_proxy_url(path, known)
        if hit and hit[2] != "info":
            offer(hit, "file://", 200, 2)
    out = {k: v[1] for k, v in found.items()}
    if ev.height and ev.filter(pl.col("artifact").str.starts_with("vcs")).height:
        made = ev.filter((pl.col("op") == "rename") & (pl.col("artifact") == "tmp"))
        for key in made.select("module", "version").unique().iter_rows():
            out.setdefault((key[0], key[1]), "git")
    return out


_READ_CALLS = ("read", "readv", "recvfrom", "recvmsg")
_GET_HEAD = request_strace_head("GET")


def _http_requests(ctx: Context) -> list[tuple[str, str, int | None]]:
    """Plain-HTTP GETs written on a socket: (``http://host:port`` of its remote end, the
    request target, the status of the response read next on that connection or None)."""
    f = ctx.frame.filter(pl.col("kind") == "syscall")
    gets = f.filter(
        pl.col("syscall").is_in(["write", "writev", "sendto", "sendmsg", "send"])
        & pl.col("args").str.contains(_GET_HEAD, literal=True)
        & pl.col("target").is_not_null()
    ).select("line", "args", "target")
    if not gets.height:
        return []
    # The next response on the same connection; a read started before the request may
    # return it, so responses are placed where they returned (end_line).
    responses = (
        f.filter(
            pl.col("syscall").is_in(_READ_CALLS)
            & pl.col("args").str.contains(HTTP_STATUS_STRACE_HEAD, literal=True)
            & pl.col("target").is_not_null()
        )
        .select(
            pl.coalesce("end_line", "line").alias("line"),
            "target",
            pl.col("args").str.extract(HTTP_STATUS_IN_ARGS, 1).cast(pl.Int64).alias("code"),
        )
        .sort("line")
    )
    paired = gets.sort("line").join_asof(
        responses,
        on="line",
        by="target",
        strategy="forward",
        allow_exact_matches=False,
        check_sortedness=False,
    )
    out = []
    for args, target, code in paired.select("args", "target", "code").iter_rows():
        sock = parse_socket(target)
        data = _first_string(args)
        req = request_line(data) if data else None
        if req is None or req[0] != "GET" or sock is None or sock.remote is None:
            continue
        request = req[1]
        base = f"http://{sock.remote}"
        origin = url_origin(request)
        if origin:  # absolute form: sent to an HTTP proxy
            base, request = origin
        out.append((base, request, code))
    return out


def _first_string(args: str) -> bytes | None:
    m = re.search(r'"(?:[^"\\]|\\.)*"(?:\.\.\.)?', args)
    if m is None:
        return None
    s = decode_string(m.group(0))
    return s.value if s else None


# -- the reconstructed log -------------------------------------------------------------------
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
    ev = _module_events(events)
    out: list[tuple[float | None, int, str, str, str, str]] = []
    done_verify: set[tuple[str, str]] = set()
    done_extract: set[tuple[str, str]] = set()
    interesting = ev.filter(
        _LOCK_EX
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
    errors = _module_errors(ctx)
    failed = _modules(ctx, events).filter(pl.col("result").is_in(["failed", "incomplete"]))
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
    clock = ctx.trace.clock
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


# -- findings --------------------------------------------------------------------------------
def findings(ctx: Context) -> list[Finding]:
    """``lock-wait``, ``cache-permission`` and ``download-incomplete`` findings."""
    ev = cache_events(ctx)
    if not ev.height:
        return []
    table = _modules(ctx, ev)
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
