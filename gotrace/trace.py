"""The Trace model: the events of one capture plus what is known about it.

``gotrace.load(path)`` reads any of: a raw strace log, an ``-ff`` set
(``LOG`` or ``LOG.<pid>``), a ``gotrace run`` output directory (``trace.strace``,
``meta.json``, ``events.parquet``), or a saved events file (Parquet).

``Trace.events`` is a pandas DataFrame (one row per event; categorical kind,
syscall and errno; pyarrow-backed strings); ``Trace.frame`` is the same data as
a polars DataFrame for code that wants speed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from gotrace.errors import GotraceError
from gotrace.events import Event
from gotrace.parsers import strace as strace_parser
from gotrace.parsers.args import decode_string, split_args
from gotrace.redact import redact_env, redact_frame

if TYPE_CHECKING:
    import pandas as pd

META_KEY = b"gotrace.meta"
CATEGORICAL = ("kind", "syscall", "errno", "signal")


@dataclass
class Trace:
    """Events plus metadata. Build one with :func:`load` or :meth:`from_frame`."""

    frame: pl.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_frame(cls, frame: pl.DataFrame, meta: dict[str, Any] | None = None) -> Trace:
        return cls(frame=frame, meta=dict(meta or {}))

    # -- views -----------------------------------------------------------------
    @cached_property
    def events(self) -> pd.DataFrame:
        """One row per event; see the README for the columns."""
        return to_pandas(self.frame)

    @cached_property
    def processes(self) -> pd.DataFrame:
        """One row per process (thread group): pid, parent, argv, start, end, exit, threads."""
        import pandas as pd

        rows = process_table(self.frame)
        cols = [
            "pid",
            "parent",
            "argv",
            "start",
            "end",
            "exit_status",
            "signal",
            "threads",
            "syscalls",
        ]
        return pd.DataFrame(rows, columns=cols).astype(
            {"pid": "int64", "parent": "Int64", "exit_status": "Int64", "threads": "int64"}
        )

    @property
    def parse_errors(self) -> pl.DataFrame:
        return self.frame.filter(pl.col("kind") == "parse_error").select(
            "source", "line", "text", "errmsg"
        )

    @property
    def clock(self) -> str | None:
        """``epoch``, ``time_of_day``, ``relative`` or ``None`` (no timestamps)."""
        value = self.meta.get("clock")
        return str(value) if value else None

    def iter_events(self) -> Any:
        """The events as :mod:`gotrace.events` dataclasses."""
        return strace_parser.frame_to_events(self.frame)

    def event_at(self, line: int) -> Event | None:
        rows = self.frame.filter(pl.col("line") == line)
        if not rows.height:
            return None
        return strace_parser.row_to_event(rows.row(0, named=True))

    # -- persistence -------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the events to Parquet, with ``meta`` in the file's key-value metadata."""
        import pyarrow.parquet as pq

        path = Path(path)
        table = self.frame.to_arrow()
        meta = json.dumps(self.meta, sort_keys=True, default=str).encode()
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY: meta})
        pq.write_table(table, path, compression="zstd")
        return path

    # -- display -------------------------------------------------------------------
    def summary_line(self) -> str:
        n = self.frame.height
        procs = self.frame["pid"].n_unique() if n else 0
        errs = int((self.frame["kind"] == "parse_error").sum()) if n else 0
        span = ""
        ts = self.frame["ts"].drop_nulls()
        if ts.len():
            span = f", {float(ts.max()) - float(ts.min()):.3f} s"  # type: ignore[arg-type]
        src = self.meta.get("source", "")
        return f"Trace({src!s}: {n} events, {procs} threads/processes{span}, {errs} parse errors)"

    def __repr__(self) -> str:
        return self.summary_line()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        import html

        counts = self.frame.group_by("kind").len().sort("kind").rows()
        items = "".join(f"<li>{html.escape(str(k))}: {v}</li>" for k, v in counts)
        body = f"<div><b>{html.escape(self.summary_line())}</b><ul>{items}</ul></div>"
        return {"text/plain": self.summary_line(), "text/html": body}


def to_pandas(frame: pl.DataFrame) -> pd.DataFrame:
    import pandas as pd

    df = frame.to_pandas(use_pyarrow_extension_array=True)
    for col in CATEGORICAL:
        if col in df.columns:
            df[col] = df[col].astype("string").astype("category")
    for col in ("line", "pid"):
        if col in df.columns:
            df[col] = df[col].astype("int64")
    for col in ("ts", "end_ts", "duration"):
        if col in df.columns:
            df[col] = df[col].astype("float64")
    df["in_flight"] = df["in_flight"].astype("bool")
    return pd.DataFrame(df)


# -- processes ---------------------------------------------------------------------
_FORKS = ("clone", "clone3", "fork", "vfork")


@dataclass
class ThreadGroups:
    """Who is whose thread, child and argv, replayed from clone/fork/execve and exits."""

    tgid: dict[int, int] = field(default_factory=dict)
    parent: dict[int, int | None] = field(default_factory=dict)
    argv: dict[int, list[str]] = field(default_factory=dict)
    exit_status: dict[int, int] = field(default_factory=dict)
    killed: dict[int, str] = field(default_factory=dict)


def thread_groups(frame: pl.DataFrame) -> ThreadGroups:
    groups = ThreadGroups()
    if not frame.height:
        return groups
    rel = frame.filter(
        (pl.col("syscall").is_in([*_FORKS, "execve", "execveat"]) & (pl.col("kind") == "syscall"))
        | pl.col("kind").is_in(["exit", "kill", "exec"])
    ).select("kind", "pid", "syscall", "args", "retval", "signal", "status", "former_pid", "ts")
    tgid = groups.tgid
    for r in rel.iter_rows(named=True):
        pid = r["pid"]
        group = tgid.setdefault(pid, pid)
        if r["kind"] == "syscall" and r["syscall"] in _FORKS and (r["retval"] or 0) > 0:
            child = int(r["retval"])
            if "CLONE_THREAD" in (r["args"] or ""):
                tgid[child] = group
            else:
                tgid[child] = child
                groups.parent[child] = group
        elif r["kind"] == "syscall" and r["syscall"] in ("execve", "execveat") and r["retval"] == 0:
            groups.argv[group] = execve_argv(r["args"] or "", r["syscall"])
        elif r["kind"] == "exec" and r["former_pid"] is not None:
            tgid[int(r["former_pid"])] = group
        elif r["kind"] == "exit" and pid == group:
            groups.exit_status[group] = int(r["status"])
        elif r["kind"] == "kill" and pid == group:
            groups.killed[group] = r["signal"]
    # a null pid is a process the log never names: one group of its own (program output,
    # whose writer is unknown, is no process)
    for pid in frame.filter(pl.col("kind") != "output")["pid"].unique().to_list():
        tgid.setdefault(pid, pid)
    return groups


def process_table(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Thread groups from clone/fork/vfork/execve and exits, in order of appearance."""
    if not frame.height:
        return []
    groups = thread_groups(frame)
    tgid = groups.tgid
    mapping = pl.DataFrame(
        {"pid": list(tgid), "tgid": list(tgid.values())}, schema={"pid": pl.Int64, "tgid": pl.Int64}
    )
    stats = (
        frame.filter(pl.col("kind") != "output")
        .join(mapping, on="pid", how="left", nulls_equal=True)
        .group_by("tgid")
        .agg(
            start=pl.col("ts").min(),
            end=pl.max_horizontal(pl.col("ts").max(), pl.col("end_ts").max()),
            threads=pl.col("pid").n_unique(),
            syscalls=(pl.col("kind") == "syscall").sum(),
            first=pl.col("line").min(),
        )
        .sort("first")
    )
    rows = []
    for s in stats.iter_rows(named=True):
        g = s["tgid"]
        rows.append(
            {
                "pid": g,
                "parent": groups.parent.get(g),
                "argv": groups.argv.get(g),
                "start": s["start"],
                "end": s["end"],
                "exit_status": groups.exit_status.get(g),
                "signal": groups.killed.get(g),
                "threads": s["threads"],
                "syscalls": s["syscalls"],
            }
        )
    return rows


def execve_argv(args: str, syscall: str = "execve") -> list[str]:
    """``"/usr/bin/cat", ["cat", "/etc/hostname"], 0x55.. /* 39 vars */`` -> ["cat", "/etc/hostname"]."""
    parts = split_args(args)
    idx = 2 if syscall == "execveat" else 1
    if len(parts) <= idx:
        return []
    arr = parts[idx].strip()
    if not (arr.startswith("[") and arr.endswith("]")):
        return []
    out = []
    for item in split_args(arr[1:-1]):
        s = decode_string(item)
        out.append((s.text() + ("..." if s.truncated else "")) if s else item)
    return out


# -- loading ---------------------------------------------------------------------------
def load(
    path: str | Path,
    *,
    strict: bool = False,
    redact: bool = True,
    meta: dict[str, Any] | None = None,
) -> Trace:
    """Load a trace from any of the forms gotrace knows (see the module docstring)."""
    p = Path(path)
    if str(path) == "-":
        st = strace_parser.ParseState(source="<stdin>", strict=strict)
        frame = strace_parser.parse_frame("-", strict=strict, state=st)
        if st.lines == 0 or (frame.height and (frame["kind"] == "parse_error").all()):
            what = "empty input" if st.lines == 0 else "no line could be read as strace output"
            raise GotraceError(f"<stdin>: not a strace log ({what})")
        return _finish(frame, {"source": "<stdin>", "clock": st.clock, **(meta or {})}, redact)
    if p.is_dir():
        return _load_dir(p, strict=strict, redact=redact)
    if not p.exists():
        ff = strace_parser.ff_files(p) if p.parent.is_dir() else []
        if ff:
            return load_ff(p, ff, strict=strict, redact=redact)
        raise GotraceError(f"{path}: no such file")
    if not p.is_file():
        # a FIFO, `<(zcat log.gz)` or a character device: read it once, as a stream
        return _load_stream(p, strict=strict, redact=redact, meta=meta)
    return _load_file(p, str(path), strict=strict, redact=redact, meta=meta)


def _load_stream(p: Path, *, strict: bool, redact: bool, meta: dict[str, Any] | None) -> Trace:
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="gotrace-stream-") as tmp:
        copy = Path(tmp) / "stream"
        try:
            with open(p, "rb") as src, open(copy, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except OSError as exc:
            raise GotraceError(f"{p}: cannot read ({exc.strerror})") from exc
        t = _load_file(copy, str(p), strict=strict, redact=redact, meta=meta)
    t.meta["source"] = str(p)
    return t


def _load_file(
    p: Path, name: str, *, strict: bool, redact: bool, meta: dict[str, Any] | None
) -> Trace:
    """A regular file; ``name`` is what messages call it (a stream's own path)."""
    kind = file_format(p, name)
    if kind == "parquet":
        return load_parquet(p, redact=redact)
    if kind == "dtruss":
        from gotrace.parsers import dtruss

        frame = dtruss.parse_frame(p, strict=strict)
        if frame.height and (frame["kind"] == "parse_error").all():
            raise GotraceError(f"{name}: not a dtruss log (no line could be read as dtruss output)")
        dmeta = {
            "source": name,
            "format": "dtruss",
            "clock": None,
            "limitations": list(dtruss.LIMITATIONS),
        }
        return _finish(frame, {**dmeta, **(meta or {})}, redact)
    st = strace_parser.ParseState(source=name, strict=strict)
    frame = strace_parser.parse_frame(p, strict=strict, state=st)
    if frame.height and (frame["kind"] == "parse_error").all():
        raise GotraceError(f"{name}: not a strace log (no line could be read as strace output)")
    return _finish(
        frame, {"source": name, "format": "strace", "clock": st.clock, **(meta or {})}, redact
    )


def file_format(p: Path, name: str | None = None) -> str:
    """``parquet``, ``dtruss`` or ``strace`` for a file that can be read; one clear
    GotraceError for an empty, binary or unreadable one (``name`` is what to call it)."""
    name = name or str(p)
    try:
        if p.stat().st_size == 0:
            raise GotraceError(f"{name}: empty file, not a trace")
        with open(p, "rb") as fh:
            head = fh.read(4)
    except PermissionError as exc:
        raise GotraceError(f"{name}: permission denied") from exc
    except OSError as exc:
        raise GotraceError(f"{name}: cannot read ({exc.strerror})") from exc
    if head == b"PAR1":
        return "parquet"
    kind = strace_parser.file_kind(p)
    if kind == "binary":
        raise GotraceError(f"{name}: binary file, not a strace or dtruss log")
    return kind


def load_ff(p: Path, ff: list[tuple[Path, int]], *, strict: bool, redact: bool) -> Trace:
    frame = strace_parser.parse_ff(ff, strict=strict)
    clock = None
    if frame.height and frame["ts"].null_count() < frame.height:
        clock = "epoch" if float(frame["ts"].drop_nulls()[0]) > 1e8 else "time_of_day"
    return _finish(
        frame, {"source": str(p), "format": "strace-ff", "files": len(ff), "clock": clock}, redact
    )


def _load_dir(p: Path, *, strict: bool, redact: bool) -> Trace:
    meta: dict[str, Any] = {}
    meta_path = p / "meta.json"
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as exc:
            raise GotraceError(f"{meta_path}: not valid JSON ({exc.msg})") from exc
        except OSError as exc:
            raise GotraceError(f"{meta_path}: cannot read ({exc.strerror})") from exc
    raw = p / "trace.strace"
    parquet = p / "events.parquet"
    if parquet.exists() and (not raw.exists() or parquet.stat().st_mtime >= raw.stat().st_mtime):
        t = load_parquet(parquet, redact=redact)
        t.meta = {**t.meta, **meta, "source": str(p)}
        return t
    if raw.exists():
        t = load(raw, strict=strict, redact=redact)
        t.meta = {**t.meta, **meta, "source": str(p)}
        return t
    dtruss_log = p / "trace.dtruss"
    if dtruss_log.exists():
        t = load(dtruss_log, strict=strict, redact=redact)
        t.meta = {**t.meta, **meta, "source": str(p)}
        return t
    if (p / "samples.jsonl").exists():
        # a capture of the sampler backend: no syscalls, only /proc samples
        return _finish(
            strace_parser.empty_frame(), {**meta, "source": str(p), "format": "samples"}, redact
        )
    raise GotraceError(f"{p}: directory holds no trace.strace or events.parquet")


def load_parquet(path: Path, *, redact: bool = True) -> Trace:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise GotraceError(f"{path}: unreadable Parquet file ({exc})") from exc
    raw_meta = (table.schema.metadata or {}).get(META_KEY)
    meta = json.loads(raw_meta) if raw_meta else {}
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    missing = set(strace_parser.EVENT_SCHEMA) - set(frame.columns)
    if missing:
        raise GotraceError(
            f"{path}: not a gotrace events file (missing {', '.join(sorted(missing))})"
        )
    return _finish(frame, meta, redact)


def _finish(frame: pl.DataFrame, meta: dict[str, Any], redact: bool) -> Trace:
    if redact:
        frame = redact_frame(frame)
        if isinstance(meta.get("env"), dict):
            meta["env"] = redact_env(meta["env"])
        meta["redacted"] = True
    meta["parse_errors"] = int((frame["kind"] == "parse_error").sum()) if frame.height else 0
    unnamed = pl.col("pid").is_null() & (pl.col("kind") != "output")
    if frame.height and frame.select(unnamed.any()).item():
        # The parser leaves the pid of a process the log never names null; the analysis
        # needs a key for it and uses 0, which is never a traced process.
        frame = frame.with_columns(pid=pl.when(unnamed).then(0).otherwise(pl.col("pid")))
        meta["pid_unknown"] = True
    return Trace(frame=frame, meta=meta)
