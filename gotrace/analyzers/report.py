"""The one value the analyzers make of a trace: :class:`Report`.

:func:`build_report` runs every analyzer once (the diagnosis, the summary tables, the
module table, the module phases, the reconstructed module-cache log) and returns a frozen
Report. Every reporter (text, JSON, HTML, figures, Perfetto, the CI summary) takes a Report
and only formats it; none of them calls an analyzer. ``Report.to_dict()`` is the
``--json`` object, so a notebook gets exactly what ``gotrace analyze --json`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from gotrace.analyzers import modcache
from gotrace.analyzers.context import Capture, Context, build
from gotrace.analyzers.diagnosis import diagnose
from gotrace.analyzers.findings import Finding
from gotrace.analyzers.modphases import Phases, module_phases
from gotrace.analyzers.network import Connection
from gotrace.analyzers.quiet import QuietPeriod, trace_end
from gotrace.analyzers.summary import TOP_N, summarize


@dataclass(frozen=True)
class Span:
    """The time frame of a trace: ``t0`` is the first stamp, ``end`` the last moment seen."""

    t0: float
    end: float

    @property
    def length(self) -> float:
        return max(self.end - self.t0, 1e-9)

    def rel(self, ts: float | None) -> float | None:
        return None if ts is None or ts != ts else round(ts - self.t0, 6)


def trace_span(ctx: Context) -> Span | None:
    """First and last moment of the trace, or None when the log has no timestamps."""
    ts = ctx.frame["ts"].drop_nulls()
    if not ts.len():
        return None
    t0 = float(ts.min())  # type: ignore[arg-type]
    end = trace_end(ctx)
    return Span(t0, float(end) if end is not None else t0)


@dataclass(frozen=True)
class Report:
    """Everything gotrace says about one trace. Built once by :func:`build_report`."""

    #: the events as the analyzers saw them (with ``tgid`` and resolved fd ``target``)
    context: Context
    #: one line: where the command went quiet and why, naming the object
    verdict: str
    findings: list[Finding]
    quiet: list[QuietPeriod]
    connections: list[Connection]
    #: the settings that matter (GOPROXY ``,`` vs ``|``, GOSUMDB, GOPRIVATE...), explained
    settings: list[str]
    #: HTTP answers per path and how go fell back
    exchanges: list[str]
    #: what this log cannot show
    limitations: list[str]
    #: source, clock, processes, the strace -c-like table, slowest/in-flight calls, failures
    summary: dict[str, Any]
    #: one row per module@version (the module-cache analyzer)
    modules: pl.DataFrame
    #: per module@version, its lock / fetch / write / extract phases
    module_phases: Phases
    #: the module-cache log reconstructed from the trace (Go writes none since 1.13)
    cache_log: list[str]
    #: the given module-cache log matched to the trace, when one was given
    cache_log_correlation: list[dict[str, Any]] | None = None
    span: Span | None = None

    @property
    def meta(self) -> dict[str, Any]:
        return self.context.meta

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` object: the summary, then the analysis."""
        out: dict[str, Any] = {
            **self.summary,
            "verdict": self.verdict,
            "findings": [f.to_dict() for f in self.findings],
            "quiet_periods": [q.to_dict() for q in self.quiet],
            "connections": [c.to_row() for c in self.connections],
            "settings": self.settings,
            "exchanges": self.exchanges,
            "limitations": self.limitations,
            "modules": self.modules.to_dicts(),
            "cache_log": self.cache_log,
        }
        if self.cache_log_correlation is not None:
            out["cache_log_correlation"] = self.cache_log_correlation
        return out

    def redacted(self) -> Report:
        """The report with its words redacted: they can quote meta.json's environment (a
        GOPROXY URL with a token, say), which a hand-made or old capture may hold in clear."""
        from gotrace.redact import redact_text as r

        def opt(text: str | None) -> str | None:
            return None if text is None else r(text)

        return replace(
            self,
            verdict=r(self.verdict),
            findings=[
                replace(
                    f, summary=r(f.summary), fix=opt(f.fix), objects=tuple(r(o) for o in f.objects)
                )
                for f in self.findings
            ],
            quiet=[
                replace(q, blame=r(q.blame), objects=tuple(r(o) for o in q.objects))
                for q in self.quiet
            ],
            settings=[r(s) for s in self.settings],
        )


def build_report(
    trace: Capture,
    *,
    top: int = TOP_N,
    min_quiet: float = 1.0,
    cache_log: str | None = None,
    context: Context | None = None,
) -> Report:
    """Run every analyzer once over ``trace``. ``cache_log`` is the text of a module-cache
    log to correlate with the trace; ``context`` one already built from this trace."""
    ctx = context if context is not None else build(trace)
    an = diagnose(ctx, min_quiet=min_quiet)
    span = trace_span(ctx)
    modules = modcache.modules(ctx)
    known = (
        {
            (str(m), str(v))
            for m, v in modules.select("module", "version").iter_rows()
            if m is not None and v is not None
        }
        if modules.height
        else set()
    )
    correlation = None
    if cache_log is not None:
        entries = modcache.parse_cache_log(cache_log)
        correlation = modcache.correlate(ctx, entries).to_dicts()
    return Report(
        context=ctx,
        verdict=an.verdict,
        findings=an.findings,
        quiet=an.quiet,
        connections=an.connections,
        settings=an.settings,
        exchanges=an.exchanges,
        limitations=ctx.limitations(),
        summary=summarize(trace, top=top),
        modules=modules,
        module_phases=module_phases(ctx, an.connections, span.end, known) if span else {},
        cache_log=modcache.cache_log(ctx),
        cache_log_correlation=correlation,
        span=span,
    )
