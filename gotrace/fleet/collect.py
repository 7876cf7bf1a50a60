"""``gotrace fleet collect``: captures in, rows of the fleet dataset out.

Each capture is loaded and analysed exactly as ``gotrace analyze`` does it
(:func:`gotrace.load`, then its ``report``); this module only turns that report into rows
and appends them to the dataset, one batch per call.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import shlex
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from gotrace.errors import GotraceError
from gotrace.fleet.schema import PARTITIONS, SCHEMA_VERSION, TABLES, schema
from gotrace.redact import redact_text
from gotrace.terminal import StatusLine

if TYPE_CHECKING:
    from gotrace.analyzers.findings import Finding
    from gotrace.trace import Trace

#: files that make a directory a capture (``gotrace run`` / ``gotrace lab run --keep`` output)
CAPTURE_FILES = ("trace.strace", "events.parquet", "trace.dtruss", "samples.jsonl")
#: loose files inside a folder that are saved traces
TRACE_SUFFIXES = (".strace", ".parquet")
#: settings copied into ``runs`` (redacted), column name -> environment variable
SETTINGS = {
    "goproxy": "GOPROXY",
    "gosumdb": "GOSUMDB",
    "goprivate": "GOPRIVATE",
    "gonoproxy": "GONOPROXY",
    "gonosumdb": "GONOSUMDB",
    "goflags": "GOFLAGS",
    "http_proxy": "HTTP_PROXY",
    "https_proxy": "HTTPS_PROXY",
    "no_proxy": "NO_PROXY",
}


@dataclass
class Collected:
    """What one ``collect`` did."""

    added: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already in the dataset
    failed: list[tuple[str, str]] = field(default_factory=list)  # (input, one-line reason)
    batch: str = ""


# -- inputs -----------------------------------------------------------------------------------
def find_captures(inputs: list[str]) -> list[Path]:
    """Run directories and saved traces named by ``inputs``; a folder that is not a capture
    itself is searched (sorted, recursively) for captures and ``*.strace``/``*.parquet`` files."""
    out: list[Path] = []
    for raw in inputs:
        p = Path(raw)
        if not p.exists():
            raise GotraceError(f"{raw}: no such file or directory")
        if p.is_file() or _is_capture(p):
            out.append(p)
            continue
        found = list(_walk(p))
        if not found:
            raise GotraceError(f"{raw}: holds no gotrace capture and no saved trace")
        out.extend(found)
    seen: set[Path] = set()
    return [p for p in out if not (p.resolve() in seen or seen.add(p.resolve()))]  # type: ignore[func-returns-value]


def _is_capture(p: Path) -> bool:
    return p.is_dir() and any((p / f).exists() for f in CAPTURE_FILES)


def _walk(folder: Path) -> Iterator[Path]:
    for child in sorted(folder.iterdir()):
        if child.is_dir():
            if _is_capture(child):
                yield child
            else:
                yield from _walk(child)
        elif child.suffix in TRACE_SUFFIXES:
            yield child


def run_id(path: Path, meta: dict[str, Any]) -> str:
    """meta.json's ``run_id`` when gotrace run wrote one, else a hash of the raw trace's bytes
    (the same capture collected twice, or from two copies, gets the same id)."""
    rid = meta.get("run_id")
    if isinstance(rid, str) and rid:
        return rid
    target = path
    if path.is_dir():
        target = next((path / f for f in CAPTURE_FILES if (path / f).exists()), path)
    h = hashlib.sha256()
    with open(target, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:24]


# -- rows of one run ----------------------------------------------------------------------------
def run_rows(
    trace: Trace,
    rid: str,
    *,
    host: str | None = None,
    labels: dict[str, str] | None = None,
    batch: str = "",
) -> dict[str, list[dict[str, Any]] | pa.Table]:
    """Every table's rows for one analysed capture (events as an Arrow table)."""
    import polars as pl

    from gotrace.analyzers import settings as goset
    from gotrace.analyzers.stalls import rel
    from gotrace.goconfig.goproxy import proxy_list
    from gotrace.netaddr import url_host_port

    an = trace.report
    ctx = an.context
    meta = trace.meta
    env = {k: redact_text(v) for k, v in goset.go_env(ctx).items()}
    host = host or str(meta.get("host") or "unknown")
    common = {"schema_version": SCHEMA_VERSION, "run_id": rid}
    frame = ctx.frame
    ts = frame["ts"].drop_nulls()
    t_first = float(ts.min()) if ts.len() and trace.clock == "epoch" else None  # type: ignore[arg-type]
    t_last = float(ts.max()) if ts.len() and trace.clock == "epoch" else None  # type: ignore[arg-type]
    start = _num(meta.get("start")) or t_first or _mtime(meta)
    end = _num(meta.get("end")) or t_last or start
    serious = [f for f in an.findings if f.severity in ("error", "warning")]
    cause = serious[0] if serious else None

    def norm(obj: str) -> str:
        return redact_text(rel(ctx, obj))

    mods = an.modules
    results = mods["result"].to_list() if mods.height else []
    exit_status = meta.get("exit_status")
    if exit_status is None:
        root = min(ctx.groups.exit_status) if ctx.groups.exit_status else None
        exit_status = ctx.groups.exit_status.get(root) if root is not None else None
    signal = meta.get("signal") or (next(iter(ctx.groups.killed.values()), None))
    backend = meta.get("backend") if isinstance(meta.get("backend"), dict) else {}
    go_env = meta.get("go_env") if isinstance(meta.get("go_env"), dict) else {}
    argv = meta.get("argv") or []
    run = {
        **common,
        "batch": batch,
        "host": host,
        "labels": json.dumps(dict(sorted((labels or {}).items()))),
        "source": str(meta.get("source") or ""),
        "command": redact_text(shlex.join(str(a) for a in argv)) if argv else None,
        "cwd": meta.get("cwd"),
        "start": _stamp(start),
        "end": _stamp(end),
        "duration_s": (end - start) if start is not None and end is not None else None,
        "exit_status": exit_status if isinstance(exit_status, int) else None,
        "signal": signal,
        "timed_out": bool(meta.get("timed_out")),
        "failed": bool(signal) or (isinstance(exit_status, int) and exit_status != 0),
        "backend": (backend or {}).get("name") or meta.get("format"),
        "backend_version": (backend or {}).get("version"),
        "go_version": (go_env or {}).get("GOVERSION"),
        "verdict": redact_text(an.verdict),
        "cause_kind": cause.kind if cause else None,
        "cause_severity": cause.severity if cause else None,
        "cause_object": _cause_object(cause, norm) if cause else None,
        "cause_detail": norm(cause.objects[1]) if cause and len(cause.objects) > 1 else None,
        **{col: env.get(var) or env.get(var.lower()) for col, var in SETTINGS.items()},
        "modules": len(results),
        "modules_downloaded": results.count("downloaded"),
        "modules_cached": results.count("cached"),
        "modules_failed": sum(r in ("failed", "incomplete") for r in results),
        "events": frame.height,
        "syscalls": frame.filter(pl.col("kind") == "syscall").height,
        "connections": len(an.connections),
        "findings": len(an.findings),
        "parse_errors": int(meta.get("parse_errors") or 0),
        "quiet_s": float(sum(q.duration for q in an.quiet)),
    }
    row_common = {**common, "host": host}
    findings = [
        {
            **row_common,
            "rank": i,
            "kind": f.kind,
            "severity": f.severity,
            "summary": redact_text(f.summary),
            "object": norm(f.objects[0]) if f.objects else None,
            "objects": [norm(o) for o in f.objects],
            "start_ts": f.start,
            "end_ts": f.end,
            "weight": f.weight,
            "pids": list(f.pids),
            "evidence": list(f.evidence),
            "samples": list(f.samples),
            "fix": redact_text(f.fix) if f.fix else None,
        }
        for i, f in enumerate(an.findings)
    ]
    proxies_of = {}
    proxies = []
    for pos, (url, sep) in enumerate(proxy_list(env.get("GOPROXY", ""))):
        if url in ("direct", "off"):
            continue
        hp = url_host_port(url)
        proxies_of[hp] = url
        conns = [c for c in an.connections if hp and c.remote == hp]
        blamed = next(
            (f for f in an.findings if f.severity == "error" and _names(f, url, hp)), None
        )
        proxies.append(
            {
                **row_common,
                "position": pos,
                "proxy": url,
                "host_port": hp,
                "separator": sep,
                "used": bool(conns),
                "connections": len(conns),
                "requests": sum(len(c.requests) for c in conns),
                "failed": blamed is not None,
                "cause_kind": blamed.kind if blamed else None,
            }
        )
    sumdb = env.get("GOSUMDB", "").split()
    sumdb_hp = url_host_port(sumdb[1]) if len(sumdb) == 2 else None
    connections = []
    for c in an.connections:
        r = c.to_row()
        role = (
            "proxy"
            if c.remote in proxies_of
            else (
                "sumdb" if sumdb_hp and c.remote == sumdb_hp else ("dns" if c.is_dns else "other")
            )
        )
        connections.append(
            {
                **row_common,
                "conn": r["id"],
                **{k: r[k] for k in _CONN_COPY},
                "role": role,
                "requests": [redact_text(x) for x in r["requests"]],
                "statuses": [str(x) for x in r["statuses"] if x is not None],
                "dns": list(r["dns"]),
            }
        )
    modules = [
        {
            **row_common,
            **{k: m[k] for k in _MOD_COPY},
            "start_ts": m["start"],
            "end_ts": m["end"],
            "duration_s": (m["end"] - m["start"])
            if m["start"] is not None and m["end"] is not None
            else None,
            "error": redact_text(m["error"]) if m["error"] else None,
        }
        for m in mods.iter_rows(named=True)
    ]
    events = frame.select(schema("events").names[2:]).to_arrow()
    n = events.num_rows
    events = events.add_column(0, "run_id", pa.array([rid] * n, pa.string()))
    events = events.add_column(0, "schema_version", pa.array([SCHEMA_VERSION] * n, pa.int32()))
    return {
        "runs": [run],
        "findings": findings,
        "connections": connections,
        "modules": modules,
        "proxies": proxies,
        "events": events,
    }


_CONN_COPY = (
    "tgid",
    "proto",
    "local",
    "remote",
    "state",
    "connect_result",
    "error",
    "open_ts",
    "connect_ts",
    "first_byte_ts",
    "last_byte_ts",
    "close_ts",
    "waiting_since",
    "bytes_sent",
    "bytes_recv",
    "sni",
)
_MOD_COPY = (
    "module",
    "version",
    "source",
    "result",
    "lock_wait_s",
    "lock_in_flight",
    "zip_bytes",
    "extracted",
)


def _names(f: Finding, url: str, hp: str | None) -> bool:
    """Does the finding name this proxy (its URL, a URL under it, or its host:port)?"""
    base = url.rstrip("/") + "/"
    return any(o in (url, hp) or o.startswith(base) for o in f.objects)


def _cause_object(f: Finding, norm: Any) -> str | None:
    if not f.objects:
        return None
    obj = str(norm(f.objects[0]))
    errno = f.detail.get("errno") if isinstance(f.detail, dict) else None
    return f"{errno} {obj}" if isinstance(errno, str) and errno not in f.objects else obj


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _mtime(meta: dict[str, Any]) -> float | None:
    src = meta.get("source")
    try:
        return Path(str(src)).stat().st_mtime if src else None
    except OSError:
        return None


def _stamp(t: float | None) -> datetime | None:
    return datetime.fromtimestamp(t, UTC) if t is not None else None


# -- the dataset --------------------------------------------------------------------------------
def existing_ids(dataset: Path) -> set[str]:
    """Run ids already in the dataset (read from the ``run_id`` column of ``runs`` only)."""
    import pyarrow.dataset as ds

    runs = dataset / "runs"
    if not runs.is_dir() or not any(runs.rglob("*.parquet")):
        return set()
    check_version(dataset)
    table = ds.dataset(runs, format="parquet", partitioning="hive").to_table(columns=["run_id"])
    return set(table.column("run_id").to_pylist())


def check_version(dataset: Path) -> int:
    """The dataset's schema version; one clear error when this gotrace cannot read it."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    runs = dataset / "runs"
    if not dataset.exists():
        raise GotraceError(f"{dataset}: no such directory")
    if not runs.is_dir():
        raise GotraceError(f"{dataset}: not a gotrace fleet dataset (no runs/ directory)")
    table = ds.dataset(runs, format="parquet", partitioning="hive").to_table(
        columns=["schema_version"]
    )
    if not table.num_rows:
        return SCHEMA_VERSION
    require_version(str(dataset), set(pc.unique(table.column("schema_version")).to_pylist()))
    return SCHEMA_VERSION


def require_version(dataset: str, versions: set[int]) -> None:
    """The schema versions found in ``runs``: one clear error unless they are this gotrace's."""
    if versions and versions != {SCHEMA_VERSION}:
        found = ", ".join(str(v) for v in sorted(versions))
        raise GotraceError(
            f"{dataset}: fleet dataset of schema version {found}; this gotrace reads version "
            f"{SCHEMA_VERSION} (collect into a new dataset)"
        )


@contextlib.contextmanager
def _locked(dataset: Path) -> Iterator[None]:
    """One collect at a time per dataset."""
    dataset.mkdir(parents=True, exist_ok=True)
    with open(dataset / ".collect.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise GotraceError(f"{dataset}: another gotrace fleet collect is writing it") from exc
        yield


def _drop_orphans(dataset: Path) -> None:
    """Remove files of a batch whose ``runs`` part never got written (a collect that died)."""
    import pyarrow.dataset as ds

    runs = dataset / "runs"
    batches: set[str] = set()
    if runs.is_dir() and any(runs.rglob("*.parquet")):
        t = ds.dataset(runs, format="parquet", partitioning="hive").to_table(columns=["batch"])
        batches = set(t.column("batch").to_pylist())
    for table in TABLES:
        if table == "runs":
            continue
        for f in (dataset / table).rglob("part-*.parquet"):
            if f.name.split("-")[1] not in batches:
                f.unlink()


def collect(
    inputs: list[str],
    dataset: str | Path,
    *,
    host: str | None = None,
    labels: dict[str, str] | None = None,
    progress: bool = False,
) -> Collected:
    """Analyse each capture not yet in ``dataset`` and append its rows, as one batch."""
    from gotrace.trace import load

    dest = Path(dataset)
    if dest.exists() and not dest.is_dir():
        raise GotraceError(f"{dataset}: exists and is not a directory")
    captures = find_captures(inputs)
    result = Collected(batch=uuid.uuid4().hex[:16])
    with _locked(dest):
        _drop_orphans(dest)
        known = existing_ids(dest)
        rows: dict[str, list[Any]] = {t: [] for t in TABLES}
        status = StatusLine(tty=progress)
        try:
            for i, path in enumerate(captures):
                status.show(f"{i + 1}/{len(captures)} {path}")
                try:
                    trace = load(path)
                    rid = run_id(path, trace.meta)
                    if rid in known:
                        result.skipped.append(str(path))
                        continue
                    got = run_rows(trace, rid, host=host, labels=labels, batch=result.batch)
                except GotraceError as exc:
                    result.failed.append((str(path), str(exc)))
                    continue
                except (OSError, UnicodeDecodeError) as exc:
                    result.failed.append((str(path), f"{path}: {exc}"))
                    continue
                known.add(rid)
                result.added.append(rid)
                for t in TABLES:
                    rows[t].append(got[t])
        finally:
            status.close()
        if result.added:
            # the partition keys of each run: its UTC start day, and its host
            keys = {
                r["run_id"]: (
                    r["start"].strftime("%Y-%m-%d") if r["start"] else "unknown",
                    r["host"],
                )
                for part in rows["runs"]
                for r in part
            }
            # runs last: a batch is part of the dataset once its runs file exists
            for t in (*[t for t in TABLES if t != "runs"], "runs"):
                _write(dest, t, rows[t], result.batch, keys)
    return result


def _write(
    dataset: Path, table: str, parts: list[Any], batch: str, keys: dict[str, tuple[str, str]]
) -> None:
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    s = schema(table)
    if table == "events":
        data = pa.concat_tables(parts) if parts else s.empty_table()
    else:
        data = pa.Table.from_pylist([r for p in parts for r in p], schema=s)
    if not data.num_rows:
        return
    ids = data.column("run_id").to_pylist()
    data = data.append_column("date", pa.array([keys[r][0] for r in ids], pa.string()))
    if "host" in PARTITIONS[table] and "host" not in data.column_names:
        data = data.append_column("host", pa.array([keys[r][1] for r in ids], pa.string()))
    sort = [("run_id", "ascending")] + ([("ts", "ascending")] if table == "events" else [])
    data = data.take(pc.sort_indices(data, sort_keys=sort))
    part_schema = pa.schema([pa.field(k, pa.string()) for k in PARTITIONS[table]])
    ds.write_dataset(
        data,
        dataset / table,
        format="parquet",
        partitioning=ds.partitioning(part_schema, flavor="hive"),
        basename_template=f"part-{batch}-{{i}}.parquet",
        existing_data_behavior="overwrite_or_ignore",
        file_options=ds.ParquetFileFormat().make_write_options(compression="zstd"),
        max_rows_per_group=128 * 1024,
    )
