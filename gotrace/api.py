"""The public, notebook-friendly API: ``gotrace.load(path)`` gives a Trace that also knows
its analysis.

``Trace`` (here) extends the model of :mod:`gotrace.trace` with the analyzers' results as
pandas DataFrames (``findings``, ``connections``, ``modules``, ``quiet_periods()``) and
plotly figures (``timeline()``, ``network_waterfall()``, ``module_waterfall()``), and
renders itself in Jupyter with its verdict. It sits above the analyzers and reporters,
so the model below them stays free of them.
"""

from __future__ import annotations

import html
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from gotrace import trace as model
from gotrace.analyzers.context import CacheSnapshot, Context, build
from gotrace.analyzers.diagnosis import Analysis, diagnose

if TYPE_CHECKING:
    import pandas as pd
    from plotly.graph_objects import Figure


class Trace(model.Trace):
    """A loaded trace plus its analysis, computed on first use."""

    cache: CacheSnapshot | None = None
    #: the /proc watchdog's samples (samples.jsonl of a ``gotrace run`` directory)
    samples: tuple[Any, ...] = ()

    @cached_property
    def context(self) -> Context:
        return build(self, self.cache, samples=self.samples)

    @cached_property
    def analysis(self) -> Analysis:
        return diagnose(self.context)

    @property
    def verdict(self) -> str:
        """One line: where it went quiet and why."""
        return self.analysis.verdict

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
        rows = [{k: f.to_dict()[k] for k in cols} for f in self.analysis.findings]
        return pd.DataFrame(rows, columns=cols)

    @cached_property
    def connections(self) -> pd.DataFrame:
        from gotrace.analyzers.network import connection_frame

        return connection_frame(self.analysis.connections).to_pandas()

    @cached_property
    def modules(self) -> pd.DataFrame:
        """One row per module@version the trace touched (the module-cache analyzer)."""
        import importlib

        import pandas as pd

        try:
            modcache = importlib.import_module("gotrace.analyzers.modcache")
        except ImportError:
            return pd.DataFrame()
        frame = modcache.modules(self.context)
        return frame.to_pandas() if isinstance(frame, pl.DataFrame) else pd.DataFrame(frame)

    def quiet_periods(self, min_quiet: float = 1.0) -> pd.DataFrame:
        """Intervals without progress (Go's runtime noise does not count), with their blame."""
        from gotrace.analyzers.quiet import quiet_periods, to_frame

        periods = (
            self.analysis.quiet
            if min_quiet == 1.0
            else quiet_periods(self.context, self.analysis.connections, min_quiet=min_quiet)
        )
        return to_frame(periods).to_pandas()

    # -- figures (plotly) -------------------------------------------------------------
    def timeline(self, *, max_bars: int = 20000) -> Figure:
        from gotrace.reporters import figures

        return figures.timeline(self.context, self.analysis, max_bars=max_bars)

    def network_waterfall(self) -> Figure:
        from gotrace.reporters import figures

        return figures.network_waterfall(self.context, self.analysis)

    def module_waterfall(self) -> Figure:
        from gotrace.reporters import figures

        return figures.module_waterfall(self.context, self.modules)

    # -- display ------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"{self.summary_line()}\nverdict: {self.verdict}"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        rows = "".join(
            f"<li><b>{html.escape(f.severity)}</b> {html.escape(f.kind)}: {html.escape(f.summary)}</li>"
            for f in self.analysis.findings[:8]
        )
        body = (
            f"<div class='gotrace'><p><b>verdict:</b> {html.escape(self.verdict)}</p>"
            f"<p>{html.escape(self.summary_line())}</p><ul>{rows}</ul></div>"
        )
        return {"text/plain": repr(self), "text/html": body}


def load(
    path: str | Path,
    *,
    strict: bool = False,
    redact: bool = True,
    cache: CacheSnapshot | None = None,
) -> Trace:
    """Load a strace log, an ``-ff`` set, a ``gotrace run`` directory or saved events."""
    base = model.load(path, strict=strict, redact=redact)
    t = Trace(frame=base.frame, meta=base.meta)
    t.cache = cache
    samples_file = Path(path) / "samples.jsonl"
    if Path(path).is_dir() and samples_file.exists():
        from gotrace.tracer.sampler import read_samples

        t.samples = tuple(read_samples(samples_file))
    return t


def compare(a: Trace, b: Trace, *, names: tuple[str, str] = ("a", "b")) -> pd.DataFrame:
    """Two traces side by side (e.g. a cold and a warm cache): per measure, each value."""
    import pandas as pd

    def measures(t: Trace) -> dict[str, Any]:
        f = t.frame
        sc = f.filter(pl.col("kind") == "syscall")
        ts = f["ts"].drop_nulls()
        conns = t.analysis.connections
        return {
            "verdict": t.verdict,
            "duration_s": (float(ts.max()) - float(ts.min())) if ts.len() else None,  # type: ignore[arg-type]
            "events": f.height,
            "syscalls": sc.height,
            "processes": len(set(t.context.groups.tgid.values())),
            "threads": f["pid"].n_unique(),
            "connections": len(conns),
            "http_requests": sum(len(c.requests) for c in conns),
            "bytes_received": sum(c.bytes_recv for c in conns),
            "failed_calls": sc.filter(
                pl.col("errno").is_not_null() & ~pl.col("errno").str.starts_with("ERESTART")
            ).height,
            "quiet_s": sum(q.duration for q in t.analysis.quiet),
            "findings": len(t.analysis.findings),
            "top_finding": t.analysis.findings[0].kind if t.analysis.findings else None,
        }

    ma, mb = measures(a), measures(b)
    return pd.DataFrame(
        {"measure": list(ma), names[0]: list(ma.values()), names[1]: list(mb.values())}
    ).set_index("measure")
