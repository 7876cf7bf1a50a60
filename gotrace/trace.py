"""The Trace: one capture, loaded from any form gotrace knows, with its analysis.

``gotrace.load(path)`` reads any of: a raw strace log, an ``-ff`` set (``LOG`` or
``LOG.<pid>``), a ``gotrace run`` output directory (``trace.strace``, ``meta.json``,
``events.parquet``, ``samples.jsonl``), a dtruss log, or a file written by
:meth:`Trace.save`; every form gives the same type. ``Trace.save`` keeps everything ``load``
needs in one Parquet file: the events as rows, ``meta`` and the /proc watchdog's samples in
the file's key-value metadata (``gotrace.meta``, ``gotrace.samples``: JSON), so a saved
capture gives the same verdict as its run directory.

A Trace is immutable: its inputs (events, meta, the /proc samples) are set
when it is made, and ``report`` (the analyzers' one :class:`~gotrace.analyzers.report.Report`)
is computed once, on first use. ``Trace.events`` is a pandas DataFrame (one row per event;
categorical kind, syscall and errno; pyarrow-backed strings); ``Trace.frame`` is the same data
as a polars DataFrame for code that wants speed. The DataFrames (``findings``,
``connections``, ``modules``, ``quiet_periods()``) and plotly figures (``timeline()``,
``network_waterfall()``, ``module_waterfall()``) are views of the report.

This module is the facade: it sits above the parsers, the analyzers and the reporters and
calls them; they never import it (the analyzers read a trace through
:class:`~gotrace.analyzers.context.Capture`).
"""

from __future__ import annotations

import dataclasses
import html
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from gotrace.analyzers.context import Context
from gotrace.analyzers.processes import process_table
from gotrace.analyzers.report import Report, build_report
from gotrace.analyzers.summary import TOP_N
from gotrace.errors import GotraceError
from gotrace.model.events import EVENT_SCHEMA, Event, empty_frame
from gotrace.model.samples import Sample, read_samples
from gotrace.parsers import strace as strace_parser
from gotrace.parsers.base import file_format
from gotrace.redact import redact_env, redact_frame, redact_text

if TYPE_CHECKING:
    import pandas as pd
    from plotly.graph_objects import Figure

META_KEY = b"gotrace.meta"
SAMPLES_KEY = b"gotrace.samples"
CATEGORICAL = ("kind", "syscall", "errno", "signal")


@dataclass(frozen=True, eq=False)
class Trace:
    """One capture: events, metadata, /proc samples. Build one with :func:`load` or
    :meth:`from_frame`; make a changed copy with :meth:`replace`."""

    frame: pl.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    #: the /proc watchdog's samples (samples.jsonl of a ``gotrace run`` directory)
    samples: tuple[Sample, ...] = ()

    @classmethod
    def from_frame(
        cls,
        frame: pl.DataFrame,
        meta: dict[str, Any] | None = None,
        *,
        samples: tuple[Sample, ...] = (),
    ) -> Trace:
        return cls(frame=frame, meta=dict(meta or {}), samples=tuple(samples))

    def replace(self, **changes: Any) -> Trace:
        """A copy with some inputs changed (and its own, fresh analysis)."""
        return dataclasses.replace(self, **changes)

    # -- the analysis --------------------------------------------------------------------
    @cached_property
    def report(self) -> Report:
        """Everything the analyzers say about this trace, computed once."""
        return build_report(self)

    def analyze(
        self, *, top: int = TOP_N, min_quiet: float = 1.0, cache_log: str | None = None
    ) -> Report:
        """The report with other settings: how many slowest calls to list, the shortest
        quiet period, a module-cache log's text to correlate with the trace."""
        if (top, min_quiet, cache_log) == (TOP_N, 1.0, None):
            return self.report
        return build_report(
            self, top=top, min_quiet=min_quiet, cache_log=cache_log, context=self.context
        )

    @property
    def context(self) -> Context:
        """The events as the analyzers see them (with process ids and fd targets)."""
        return self.report.context

    @property
    def verdict(self) -> str:
        """One line: where it went quiet and why."""
        return self.report.verdict

    # -- views ---------------------------------------------------------------------------
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

    @cached_property
    def findings(self) -> pd.DataFrame:
        import pandas as pd

        cols = [
            "kind",
            "severity",
            "summary",
            "start",
            "end",
            "pids",
            "objects",
            "evidence",
            "fix",
            "weight",
        ]
        rows = [{k: f.to_dict()[k] for k in cols} for f in self.report.findings]
        return pd.DataFrame(rows, columns=cols)

    @cached_property
    def connections(self) -> pd.DataFrame:
        from gotrace.analyzers.network import connection_frame

        return connection_frame(self.report.connections).to_pandas()

    @cached_property
    def modules(self) -> pd.DataFrame:
        """One row per module@version the trace touched (the module-cache analyzer)."""
        return self.report.modules.to_pandas()

    def quiet_periods(self, min_quiet: float = 1.0) -> pd.DataFrame:
        """Intervals without progress (Go's runtime noise does not count), with their blame."""
        from gotrace.analyzers.quiet import to_frame

        return to_frame(self.analyze(min_quiet=min_quiet).quiet).to_pandas()

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
        """The events as :mod:`gotrace.model.events` dataclasses."""
        return strace_parser.frame_to_events(self.frame)

    def event_at(self, line: int) -> Event | None:
        rows = self.frame.filter(pl.col("line") == line)
        if not rows.height:
            return None
        return strace_parser.row_to_event(rows.row(0, named=True))

    # -- figures (plotly) ------------------------------------------------------------------
    def timeline(self, *, max_bars: int = 20000) -> Figure:
        from gotrace.reporters import figures

        return figures.timeline(self.report, max_bars=max_bars)

    def network_waterfall(self) -> Figure:
        from gotrace.reporters import figures

        return figures.network_waterfall(self.report)

    def module_waterfall(self) -> Figure:
        from gotrace.reporters import figures

        return figures.module_waterfall(self.report)

    # -- persistence -----------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write one Parquet file that :func:`load` reads back into the same Trace: the
        events as rows, ``meta`` and the samples (JSON) in the key-value metadata."""
        import pyarrow.parquet as pq

        path = Path(path)
        table = self.frame.to_arrow()
        meta = json.dumps(self.meta, sort_keys=True, default=str).encode()
        extra = {META_KEY: meta}
        if self.samples:
            extra[SAMPLES_KEY] = ("\n".join(s.to_json() for s in self.samples) + "\n").encode()
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
        pq.write_table(table, path, compression="zstd")
        return path

    # -- display ---------------------------------------------------------------------------
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
        return f"{self.summary_line()}\nverdict: {self.verdict}"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        rows = "".join(
            f"<li><b>{html.escape(f.severity)}</b> {html.escape(f.kind)}: "
            f"{html.escape(f.summary)}</li>"
            for f in self.report.findings[:8]
        )
        body = (
            f"<div class='gotrace'><p><b>verdict:</b> {html.escape(self.verdict)}</p>"
            f"<p>{html.escape(self.summary_line())}</p><ul>{rows}</ul></div>"
        )
        return {"text/plain": repr(self), "text/html": body}


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


# -- loading ---------------------------------------------------------------------------
def load(
    path: str | Path,
    *,
    strict: bool = False,
    redact: bool = True,
    meta: dict[str, Any] | None = None,
) -> Trace:
    """Load a trace from any of the forms gotrace knows (see the module docstring).
    ``meta`` adds to what the input says of itself."""
    return _load(path, strict=strict, redact=redact, meta=meta)


def _load(path: str | Path, *, strict: bool, redact: bool, meta: dict[str, Any] | None) -> Trace:
    p = Path(path)
    if str(path) == "-":
        st = strace_parser.ParseState(source="<stdin>", strict=strict)
        frame = strace_parser.parse_frame("-", strict=strict, state=st, redact=redact)
        if st.lines == 0 or (frame.height and (frame["kind"] == "parse_error").all()):
            what = "empty input" if st.lines == 0 else "no line could be read as strace output"
            raise GotraceError(f"<stdin>: not a strace log ({what})")
        meta = {"source": "<stdin>", "clock": st.clock, **(meta or {})}
        return _finish(frame, meta, redact, frame_redacted=redact)
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
    return t.replace(meta={**t.meta, "source": str(p)})


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
    frame = strace_parser.parse_frame(p, strict=strict, state=st, redact=redact)
    if frame.height and (frame["kind"] == "parse_error").all():
        raise GotraceError(f"{name}: not a strace log (no line could be read as strace output)")
    meta = {"source": name, "format": "strace", "clock": st.clock, **(meta or {})}
    return _finish(frame, meta, redact, frame_redacted=redact)


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
    samples_path = p / "samples.jsonl"
    samples = _read_samples_file(samples_path) if samples_path.exists() else None
    raw = p / "trace.strace"
    parquet = p / "events.parquet"
    if parquet.exists() and (not raw.exists() or parquet.stat().st_mtime >= raw.stat().st_mtime):
        t = load_parquet(parquet, redact=redact)
    elif raw.exists():
        t = _load(raw, strict=strict, redact=redact, meta=None)
    elif (p / "trace.dtruss").exists():
        t = _load(p / "trace.dtruss", strict=strict, redact=redact, meta=None)
    elif samples is not None:
        # a capture of the sampler backend: no syscalls, only /proc samples
        return _finish(
            empty_frame(),
            {**meta, "source": str(p), "format": "samples"},
            redact,
            samples=samples,
        )
    else:
        raise GotraceError(f"{p}: directory holds no trace.strace or events.parquet")
    meta = {**t.meta, **meta, "source": str(p)}
    if samples is None:
        # the directory's samples.jsonl is the watchdog's own file; the copy saved in
        # events.parquet stands in only when it is gone (also when the trace is newer)
        if t.samples or not parquet.exists():
            return t.replace(meta=meta)
        samples = _parquet_samples(parquet)
    return t.replace(meta=meta, samples=_redacted_samples(samples, redact))


def _read_samples_file(path: Path) -> tuple[Sample, ...]:
    try:
        return tuple(read_samples(path))
    except OSError as exc:
        raise GotraceError(f"{path}: cannot read ({exc.strerror})") from exc


def _redacted_samples(samples: tuple[Sample, ...], redact: bool) -> tuple[Sample, ...]:
    return tuple(redact_sample(s) for s in samples) if redact else samples


def redact_sample(s: Sample) -> Sample:
    """A sample with the secrets in its command lines and file names redacted."""
    procs = tuple(
        dataclasses.replace(
            p,
            cmdline=tuple(redact_text(a) for a in p.cmdline),
            fds=tuple(dataclasses.replace(f, target=redact_text(f.target)) for f in p.fds),
        )
        for p in s.processes
    )
    locks = tuple(
        dataclasses.replace(lk, holder_cmdline=redact_text(lk.holder_cmdline)) for lk in s.locks
    )
    return dataclasses.replace(s, processes=procs, locks=locks)


def _kv_samples(kv: dict[bytes, bytes]) -> tuple[Sample, ...]:
    """The samples :meth:`Trace.save` wrote into a Parquet file's key-value metadata."""
    return tuple(Sample.from_json(line) for line in kv.get(SAMPLES_KEY, b"").decode().splitlines())


def _parquet_samples(path: Path) -> tuple[Sample, ...]:
    """The samples saved in a Parquet file's metadata, without reading its rows."""
    import pyarrow.parquet as pq

    try:
        return _kv_samples(pq.read_schema(path).metadata or {})
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise GotraceError(f"{path}: unreadable gotrace metadata ({exc})") from exc


def load_parquet(path: Path, *, redact: bool = True) -> Trace:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise GotraceError(f"{path}: unreadable Parquet file ({exc})") from exc
    kv = table.schema.metadata or {}
    try:
        meta = json.loads(kv[META_KEY]) if META_KEY in kv else {}
        samples = _kv_samples(kv)
    except (ValueError, KeyError, TypeError) as exc:
        raise GotraceError(f"{path}: damaged gotrace metadata ({exc})") from exc
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    missing = set(EVENT_SCHEMA) - set(frame.columns)
    if missing:
        raise GotraceError(
            f"{path}: not a gotrace events file (missing {', '.join(sorted(missing))})"
        )
    return _finish(frame, meta, redact, samples=samples)


def _finish(
    frame: pl.DataFrame,
    meta: dict[str, Any],
    redact: bool,
    *,
    samples: tuple[Sample, ...] = (),
    frame_redacted: bool = False,
) -> Trace:
    if redact:
        if not frame_redacted:  # (the parser redacts as it reads, when asked)
            frame = redact_frame(frame)
        samples = _redacted_samples(samples, redact)
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
    return Trace(frame=frame, meta=meta, samples=samples)


def compare(a: Trace, b: Trace, *, names: tuple[str, str] = ("a", "b")) -> pd.DataFrame:
    """Two traces side by side (e.g. a cold and a warm cache): per measure, each value."""
    import pandas as pd

    def measures(t: Trace) -> dict[str, Any]:
        f = t.frame
        sc = f.filter(pl.col("kind") == "syscall")
        ts = f["ts"].drop_nulls()
        conns = t.report.connections
        return {
            "verdict": t.verdict,
            "duration_s": (float(ts.max()) - float(ts.min())) if ts.len() else None,  # type: ignore[arg-type]
            "events": f.height,
            "syscalls": sc.height,
            "processes": len(set(t.report.context.groups.tgid.values())),
            "threads": f["pid"].n_unique(),
            "connections": len(conns),
            "http_requests": sum(len(c.requests) for c in conns),
            "bytes_received": sum(c.bytes_recv for c in conns),
            "failed_calls": sc.filter(
                pl.col("errno").is_not_null() & ~pl.col("errno").str.starts_with("ERESTART")
            ).height,
            "quiet_s": sum(q.duration for q in t.report.quiet),
            "findings": len(t.report.findings),
            "top_finding": t.report.findings[0].kind if t.report.findings else None,
        }

    ma, mb = measures(a), measures(b)
    return pd.DataFrame(
        {"measure": list(ma), names[0]: list(ma.values()), names[1]: list(mb.values())}
    ).set_index("measure")
