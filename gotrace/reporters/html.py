"""The HTML report: one self-contained page that says where the go command went quiet and why.

:func:`render_html` takes the analyzers' :class:`~gotrace.analyzers.report.Report` and
returns the page as a string; the CLI writes it; nothing is analysed here. The page holds the
verdict and the findings (each links to its span on the timeline), the timeline, the
network and module waterfalls, a ``strace -c``-like table with wait time kept apart from
active time, the calls in flight at the end, the slowest and the failed calls, and the
environment of the run.

The output is deterministic: the same trace gives the same bytes (no render time, no random
ids; the chart divs have fixed ids and the embedded JSON has sorted keys). plotly.js is
inlined, so the page works offline and loads nothing; ``cdn=True`` links it instead.

Every string that comes from a trace is escaped: ``html.escape`` in the markup, and in the
JSON data block ``<``, ``>``, ``&`` and U+2028/2029 become ``\\uXXXX`` escapes, so that no
file name can close the script element or start a tag.
"""

from __future__ import annotations

import html
import json
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plotly.graph_objects import Figure

    from gotrace.analyzers.findings import Finding
    from gotrace.analyzers.report import Report

#: chart div ids, in page order
CHARTS = ("timeline", "network", "modules")
#: go env keys shown outside the collapsed full listing
GO_ENV_KEYS = (
    "GOPROXY", "GOSUMDB", "GOPRIVATE", "GONOPROXY", "GONOSUMDB", "GOINSECURE", "GOFLAGS",
    "GOMODCACHE", "GOPATH", "GOCACHE", "GOTOOLCHAIN", "GOVERSION", "GOOS", "GOARCH",
)  # fmt: skip


def e(value: object) -> str:
    """Markup-escape any value (None -> empty)."""
    return "" if value is None else html.escape(str(value), quote=True)


def script_json(obj: Any) -> str:
    """JSON that is safe inside a ``<script>`` element: sorted keys, no NaN, and no ``<``,
    ``>``, ``&``, U+2028 or U+2029 left as such (they become ``\\uXXXX`` escapes)."""
    text = json.dumps(_clean(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


_SCALARS = (int, str, bool, type(None))


def _clean(v: Any) -> Any:
    """NaN and infinities -> None (JSON has neither), numpy values -> Python's."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        # coordinate arrays are long: one pass for the common all-scalar case
        if all(isinstance(x, _SCALARS) or (isinstance(x, float) and math.isfinite(x)) for x in v):
            return list(v)
        return [_clean(x) for x in v]
    if hasattr(v, "tolist"):  # numpy arrays and scalars
        return _clean(v.tolist())
    return v


def figure_json(fig: Figure | dict[str, Any]) -> dict[str, Any]:
    """A figure (or a figure spec of :mod:`gotrace.reporters.figures`) as plain data and
    layout dicts for ``Plotly.newPlot``, its named template expanded."""
    from gotrace.reporters.figures import template_json

    d = fig if isinstance(fig, dict) else fig.to_plotly_json()
    layout = dict(d.get("layout", {}))
    if isinstance(layout.get("template"), str):
        layout["template"] = template_json(layout["template"])
    return {"data": _clean(d.get("data", [])), "layout": _clean(layout)}


def render_html(
    report: Report,
    *,
    cdn: bool = False,
    redact: bool = True,
    max_bars: int = 20000,
) -> str:
    """The report page of ``report``."""
    from gotrace.reporters import figures, waterfalls

    an = report.redacted() if redact else report
    summary = report.summary
    span = report.span
    figs = {
        "timeline": figures.timeline_spec(an, max_bars=max_bars),
        "network": waterfalls.network_spec(an),
        "modules": waterfalls.module_spec(an),
    }
    data = {
        "figures": {k: figure_json(v) for k, v in figs.items()},
        "findings": [_finding_range(f, span) for f in an.findings],
    }
    meta = _meta(report.meta, redact=redact)
    title = " ".join(meta["argv"]) if meta["argv"] else str(report.meta.get("source") or "trace")
    parts = [
        _head(title, cdn=cdn),
        "<body>\n<main>\n",
        _header(summary, meta, an),
        _findings(an, span),
        _section(
            "timeline",
            "Timeline",
            "One lane per process (its threads side by side); drag to zoom, double-click to "
            "see all. Shaded: quiet periods and what they waited on. Dotted with an open "
            "arrow: calls still in flight when the trace ended.",
            _quiet_table(an, span),
        ),
        _section(
            "network",
            "Network",
            "One row per connection: connect, request sent → first byte, first → last byte, "
            "requests never answered (red), idle until close.",
            _connection_table(an, span),
        ),
        _section(
            "modules",
            "Modules",
            "One row per module@version: lock wait, fetch, write to the module cache, "
            "extract, and the result.",
            _module_table(report.modules),
        ),
        _syscall_tables(summary),
        _calls_tables(summary),
        _environment(meta, an),
        _footer(cdn=cdn, source=str(report.meta.get("source") or "CAPTURE")),
        "</main>\n",
        f'<script type="application/json" id="gotrace-data">{script_json(data)}</script>\n',
        f"<script>{_SCRIPT}</script>\n",
        "</body>\n</html>\n",
    ]
    return "".join(parts)


# -- data --------------------------------------------------------------------------------------
def _finding_range(f: Finding, span: Any) -> list[float] | None:
    if span is None or f.start is None:
        return None
    a = f.start - span.t0
    b = (f.end if f.end is not None else f.start) - span.t0
    pad = max((b - a) * 0.15, span.length * 0.02)
    return [round(a - pad, 6), round(b + pad, 6), round(a, 6), round(b, 6)]


def _meta(meta: dict[str, Any], *, redact: bool) -> dict[str, Any]:
    from gotrace.redact import redact_env, redact_text

    def env_of(value: Any) -> dict[str, str]:
        if not isinstance(value, dict):
            return {}
        flat = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}
        return redact_env(flat) if redact else flat

    argv = [str(a) for a in meta.get("argv") or []]
    text = redact_text if redact else str
    return {
        "argv": [text(a) for a in argv],
        "cwd": text(str(meta["cwd"])) if meta.get("cwd") else None,
        "env": env_of(meta.get("env")),
        "go_env": env_of(meta.get("go_env")),
        "exit_status": meta.get("exit_status"),
        "signal": meta.get("signal"),
        "timed_out": meta.get("timed_out"),
        "interrupted": meta.get("interrupted"),
        "backend": meta.get("backend") if isinstance(meta.get("backend"), dict) else None,
        "source": meta.get("source"),
        "format": meta.get("format"),
        "lab": meta.get("lab"),
    }


# -- markup ------------------------------------------------------------------------------------
_CSS = """
:root{--fg:#1d1d1f;--muted:#666;--line:#e3e3e8;--err:#c62828;--warn:#b26a00;--info:#1565c0}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:#fafafc}
main{max-width:1400px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:20px;margin:8px 0 4px}h2{font-size:17px;margin:28px 0 6px;border-bottom:1px solid var(--line);padding-bottom:4px}
code,pre,.mono{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12.5px}
.cmd{background:#fff;border:1px solid var(--line);border-radius:6px;padding:6px 10px;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
.facts{color:var(--muted);margin:6px 0}
.verdict{background:#fff;border-left:5px solid var(--err);padding:10px 14px;margin:12px 0;font-size:16px;border-radius:4px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.verdict.ok{border-left-color:#2e7d32}
.findings{list-style:none;padding:0;margin:0}
.findings li{background:#fff;border:1px solid var(--line);border-radius:6px;padding:8px 12px;margin:8px 0}
.findings li:target{outline:2px solid var(--info)}
.sev{display:inline-block;font-size:11px;font-weight:700;text-transform:uppercase;padding:1px 6px;border-radius:3px;color:#fff;margin-right:6px}
.sev.error{background:var(--err)}.sev.warning{background:var(--warn)}.sev.info{background:var(--info)}
.kind{font-weight:600;margin-right:6px}
.fix{color:#2e4a2e;margin-top:4px}.fix:before{content:"fix: ";font-weight:600}
.small{font-size:12px;color:var(--muted)}
a.zoom{font-size:12px;margin-left:8px}
.chart{background:#fff;border:1px solid var(--line);border-radius:6px;min-height:200px}
.note{color:var(--muted);margin:4px 0 8px}
table{border-collapse:collapse;background:#fff;margin:8px 0;font-size:13px}
th,td{border:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f7;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.text{max-width:760px;overflow-wrap:anywhere}
tr.total td{font-weight:600;background:#f8f8fb}
details{margin:8px 0}summary{cursor:pointer;color:var(--info)}
button{font:inherit;font-size:12px;padding:2px 8px;margin:4px 0}
.missing{padding:16px;color:var(--err)}
footer{margin-top:32px;color:var(--muted);font-size:12px}
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("gotrace-data").textContent);
  if (typeof Plotly === "undefined") {
    document.querySelectorAll(".chart").forEach(function (el) {
      el.innerHTML = '<p class="missing">plotly.js could not be loaded, so this chart is not shown ' +
        '(the report was written with --cdn and the page is offline).</p>';
    });
    return;
  }
  var config = {responsive: true, displaylogo: false, scrollZoom: false};
  Object.keys(data.figures).sort().forEach(function (id) {
    var fig = data.figures[id];
    Plotly.newPlot(id, fig.data, fig.layout, config);
  });
  var base = null;
  function zoom(i) {
    var r = data.findings[i];
    var el = document.getElementById("timeline");
    if (!r || !el || !el.layout) { return; }
    if (base === null) { base = (el.layout.shapes || []).slice(); }
    var mark = {type: "rect", xref: "x", yref: "paper", x0: r[2], x1: r[3] > r[2] ? r[3] : r[2] + (r[1] - r[0]) * 0.005,
                y0: 0, y1: 1, fillcolor: "rgba(21,101,192,0.12)", line: {color: "rgba(21,101,192,0.9)", width: 2},
                layer: "above", name: "finding"};
    Plotly.relayout(el, {"xaxis.range": [r[0], r[1]], "shapes": base.concat([mark])});
    el.scrollIntoView({block: "start"});
  }
  function fromHash() {
    var m = /^#finding-(\d+)$/.exec(window.location.hash);
    if (m) { zoom(parseInt(m[1], 10) - 1); }
  }
  document.querySelectorAll("a.zoom").forEach(function (a) {
    a.addEventListener("click", function (ev) {
      ev.preventDefault();
      var i = parseInt(a.getAttribute("data-finding"), 10);
      if (window.history && window.history.replaceState) { window.history.replaceState(null, "", "#finding-" + (i + 1)); }
      zoom(i);
    });
  });
  var reset = document.getElementById("reset-timeline");
  if (reset) {
    reset.addEventListener("click", function () {
      var el = document.getElementById("timeline");
      var upd = {"xaxis.autorange": true};
      if (base !== null) { upd.shapes = base; }
      Plotly.relayout(el, upd);
    });
  }
  window.addEventListener("hashchange", fromHash);
  fromHash();
})();
"""


def _head(title: str, *, cdn: bool) -> str:
    from plotly.offline import get_plotlyjs, get_plotlyjs_version

    if cdn:
        src = f"https://cdn.plot.ly/plotly-{get_plotlyjs_version()}.min.js"
        plotly = f'<script src="{e(src)}" charset="utf-8"></script>\n'
    else:
        js = get_plotlyjs()
        if "</script" in js.lower():  # never seen; keep the page well-formed regardless
            js = js.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")
        plotly = f'<script type="text/javascript">{js}</script>\n'
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="gotrace">\n'
        f"<title>gotrace: {e(title[:200])}</title>\n"
        f"<style>{_CSS}</style>\n"
        f"{plotly}"
        "</head>\n"
    )


def _seconds(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{float(v):.{digits}f}"


def _header(summary: dict[str, Any], meta: dict[str, Any], an: Report) -> str:
    out = ["<header>\n<h1>gotrace report</h1>\n"]
    if meta["argv"]:
        out.append(f'<div class="cmd mono">$ {e(" ".join(meta["argv"]))}</div>\n')
    facts = []
    if meta["exit_status"] is not None or meta["signal"]:
        if meta["signal"]:
            facts.append(f"killed by {e(meta['signal'])}")
        else:
            facts.append(f"exit status {e(meta['exit_status'])}")
    if meta["timed_out"]:
        facts.append("stopped by --timeout")
    if summary.get("span_s") is not None:
        facts.append(f"{summary['span_s']:.3f} s traced")
    facts.append(f"{summary['events']:,} events")
    facts.append(f"{len(summary['processes'])} processes")
    if summary["parse_errors"]["count"]:
        facts.append(f"{summary['parse_errors']['count']} unparsed lines")
    if meta["source"]:
        facts.append(f"source: <span class=mono>{e(meta['source'])}</span>")
    out.append(f'<div class="facts">{" · ".join(facts)}</div>\n')
    ok = not an.findings or all(f.severity == "info" for f in an.findings)
    out.append(
        f'<div class="verdict{" ok" if ok else ""}" id="verdict"><b>Verdict:</b> {e(an.verdict)}</div>\n'
    )
    out.append("</header>\n")
    return "".join(out)


def _findings(an: Report, span: Any) -> str:
    out = ['<section id="findings">\n<h2>Findings</h2>\n']
    if not an.findings:
        out.append('<p class="note">Nothing to report: no quiet period, failure or stall.</p>\n')
    else:
        out.append('<ol class="findings">\n')
        for i, f in enumerate(an.findings):
            link = ""
            if span is not None and f.start is not None:
                when = f"{f.start - span.t0:.3f} s"
                if f.end is not None and f.end > f.start:
                    when += f" – {f.end - span.t0:.3f} s"
                link = f'<a class="zoom" href="#finding-{i + 1}" data-finding="{i}">show on the timeline ({when})</a>'
            evidence = ", ".join(str(n) for n in f.evidence[:12])
            if len(f.evidence) > 12:
                evidence += f", … ({len(f.evidence)} lines)"
            extra = []
            if f.pids:
                extra.append("pids " + ", ".join(str(p) for p in f.pids[:8]))
            if evidence:
                extra.append(f"trace lines {evidence}")
            if f.samples:
                shown = ", ".join(str(n) for n in f.samples[:12])
                extra.append(f"/proc samples {shown} (samples.jsonl lines, from 0)")
            out.append(
                f'<li id="finding-{i + 1}"><span class="sev {e(f.severity)}">{e(f.severity)}</span>'
                f'<span class="kind">{e(f.kind)}</span>{e(f.summary)}{link}'
                + (f'<div class="fix">{e(f.fix)}</div>' if f.fix else "")
                + (f'<div class="small">{e("; ".join(extra))}</div>' if extra else "")
                + "</li>\n"
            )
        out.append("</ol>\n")
    out.append("</section>\n")
    return "".join(out)


def _section(chart: str, title: str, note: str, after: str = "") -> str:
    button = (
        '<button id="reset-timeline" type="button">show the whole trace</button>'
        if chart == "timeline"
        else ""
    )
    return (
        f'<section id="section-{chart}">\n<h2>{e(title)}</h2>\n<p class="note">{e(note)} {button}</p>\n'
        f'<div class="chart" id="{chart}"></div>\n{after}</section>\n'
    )


def _table(
    headers: list[str],
    rows: list[list[str]],
    *,
    numeric: set[int] | None = None,
    total_last: bool = False,
) -> str:
    """A table from already-escaped cell markup."""
    numeric = numeric or set()
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = []
    for n, row in enumerate(rows):
        cls = ' class="total"' if total_last and n == len(rows) - 1 else ""
        cells = "".join(
            f'<td class="{"num" if i in numeric else "text"}">{c}</td>' for i, c in enumerate(row)
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>\n"


def _quiet_table(an: Report, span: Any) -> str:
    if not an.quiet:
        return '<p class="note">No quiet period of a second or more.</p>\n'
    rows = []
    for q in an.quiet:
        start = _seconds(q.start - span.t0) if span else ""
        rows.append(
            [
                start,
                _seconds(q.duration),
                e(q.kind) + (" (to the end)" if q.trailing else ""),
                e(q.blame),
                e(", ".join(str(n) for n in q.evidence[:8])),
            ]
        )
    return "<h3>Quiet periods</h3>\n" + _table(
        ["start (s)", "quiet for (s)", "kind", "waiting on", "trace lines"], rows, numeric={0, 1}
    )


def _connection_table(an: Report, span: Any, limit: int = 60) -> str:
    def rel(t: float | None) -> str:
        return _seconds(t - span.t0) if t is not None and span is not None else ""

    conns = an.connections
    if not conns:
        return ""
    rows = []
    for c in conns[:limit]:
        reqs = "<br>".join(e(r["request"]) for r in c.requests[:6])
        if len(c.requests) > 6:
            reqs += f"<br>… {len(c.requests)} requests"
        if not reqs and c.dns:
            reqs = "<br>".join(
                e(f"DNS {q.get('qtype')} {q.get('name')}") for q in c.dns[:4] if q.get("name")
            )
        # who made it (a child: git, ssh...), the tunnel it is, what TLS shows
        notes = [
            f"by {' '.join(c.child_argv[:6])}" if c.child_argv else "",
            f"CONNECT tunnel to {c.tunnel}" if c.tunnel else "",
            " ".join(x for x in (c.tls_state(), c.tls_version, c.sni and f"SNI {c.sni}") if x),
            c.http_version() or "",
            f"server banner {c.ssh_server_banner}" if c.ssh_server_banner else "",
        ]
        extra = "<br>".join(f'<span class="note">{e(n)}</span>' for n in notes if n)
        reqs = "<br>".join(x for x in (reqs, extra) if x)
        rows.append(
            [
                str(c.id),
                e(c.proto),
                e(c.remote or c.local or "?"),
                e(c.state()) + (f" ({e(c.error)})" if c.error else ""),
                rel(c.connect_ts),
                rel(c.first_byte_ts),
                rel(c.last_byte_ts),
                rel(c.close_ts),
                str(c.bytes_sent),
                str(c.bytes_recv),
                reqs,
            ]
        )
    more = (
        f'<p class="note">… and {len(conns) - limit} more connections.</p>\n'
        if len(conns) > limit
        else ""
    )
    return (
        "<details><summary>Connections as a table</summary>\n"
        + _table(
            [
                "#",
                "proto",
                "remote",
                "state",
                "connect (s)",
                "first byte (s)",
                "last byte (s)",
                "close (s)",
                "sent B",
                "received B",
                "requests",
            ],
            rows,
            numeric={0, 4, 5, 6, 7, 8, 9},
        )
        + more
        + "</details>\n"
    )


def _module_table(modules: Any) -> str:
    from gotrace.reporters.waterfalls import records

    rows = [r for r in records(modules) if r.get("module")]
    if not rows:
        return ""
    body = []
    for r in rows:
        body.append(
            [
                e(f"{r['module']}@{r['version']}" if r.get("version") else r["module"]),
                e(r.get("result")),
                e(r.get("source")),
                _seconds(r.get("lock_wait_s")),
                str(int(r["zip_bytes"])) if r.get("zip_bytes") is not None else "",
                e(r.get("error")),
                e(f"{r.get('first_line')}–{r.get('last_line')}")
                if r.get("first_line") is not None
                else "",
            ]
        )
    return (
        "<details><summary>Modules as a table</summary>\n"
        + _table(
            [
                "module@version",
                "result",
                "source",
                "lock wait (s)",
                "zip bytes",
                "error",
                "trace lines",
            ],
            body,
            numeric={3, 4},
        )
        + "</details>\n"
    )


def _syscall_tables(summary: dict[str, Any]) -> str:
    rows = summary.get("syscalls") or []
    out = [
        '<section id="syscalls">\n<h2>System calls</h2>\n'
        '<p class="note">Like <code>strace -c</code>, but calls still in flight are counted and '
        "time spent waiting (futex, epoll, sleeps, flock, wait4, …) is kept apart from time "
        "spent working: a stalled go command spends its time waiting.</p>\n"
    ]
    if not rows:
        out.append('<p class="note">No system calls.</p>\n</section>\n')
        return "".join(out)
    for cat, title in (("active", "Active calls"), ("wait", "Waiting calls")):
        part = [r for r in rows if r["category"] == cat]
        if not part:
            continue
        total = sum(r["seconds"] or 0.0 for r in part)
        body = []
        for r in part:
            share = (r["seconds"] or 0.0) / total * 100 if total else 0.0
            body.append(
                [
                    _seconds(share, 2) if r["seconds"] is not None else "",
                    _seconds(r["seconds"], 6),
                    _seconds(r["usecs_per_call"], 0),
                    _seconds(r["max_s"], 6),
                    str(r["calls"]),
                    str(r["errors"] or ""),
                    str(r["in_flight"] or ""),
                    f"<code>{e(r['syscall'])}</code>",
                ]
            )
        body.append(
            [
                "100.00" if total else "",
                _seconds(total, 6),
                "",
                "",
                str(sum(r["calls"] for r in part)),
                str(sum(r["errors"] or 0 for r in part) or ""),
                str(sum(r["in_flight"] or 0 for r in part) or ""),
                "<b>total</b>",
            ]
        )
        out.append(f"<h3>{e(title)}</h3>\n")
        out.append(
            _table(
                [
                    "% time",
                    "seconds",
                    "usecs/call",
                    "max (s)",
                    "calls",
                    "errors",
                    "in flight",
                    "syscall",
                ],
                body,
                numeric={0, 1, 2, 3, 4, 5, 6},
                total_last=True,
            )
        )
    out.append("</section>\n")
    return "".join(out)


def _call_rows(calls: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for c in calls:
        ret = "in flight" if c.get("in_flight") else (c.get("ret") or "")
        if c.get("errno") and not c.get("in_flight"):
            ret += f" {c['errno']}"
        rows.append(
            [
                str(c["line"]),
                str(c["pid"]),
                _seconds(c.get("duration"), 6),
                f"<code>{e(c['syscall'])}({e(_short(c.get('args'), 300))})</code>",
                e(ret),
            ]
        )
    return rows


def _short(text: Any, width: int) -> str:
    s = "" if text is None else str(text)
    return s if len(s) <= width else s[: width - 1] + "…"


def _calls_tables(summary: dict[str, Any]) -> str:
    out = ['<section id="calls">\n<h2>Calls</h2>\n']
    heads = ["line", "pid", "seconds", "call", "result"]
    flying = summary.get("in_flight") or []
    out.append("<h3>In flight when the trace ended</h3>\n")
    out.append(
        _table(heads, _call_rows(flying[:50]), numeric={0, 1, 2})
        if flying
        else '<p class="note">None: every call returned.</p>\n'
    )
    slow = summary.get("slowest") or []
    if slow:
        out.append("<h3>Slowest calls</h3>\n")
        out.append(_table(heads, _call_rows(slow), numeric={0, 1, 2}))
    failures = summary.get("failures") or []
    out.append("<h3>Failed calls</h3>\n")
    if failures:
        rows = [
            [
                str(f["count"]),
                f"<code>{e(f['errno'])}</code>",
                f"<code>{e(f['syscall'])}</code>",
                str(f["first_line"]),
                f"<code>{e(_short(f.get('example'), 300))}</code>",
            ]
            for f in failures[:60]
        ]
        out.append(
            _table(
                ["count", "errno", "syscall", "first line", "example arguments"],
                rows,
                numeric={0, 3},
            )
        )
    else:
        out.append('<p class="note">None.</p>\n')
    out.append("</section>\n")
    return "".join(out)


def _environment(meta: dict[str, Any], an: Report) -> str:
    out = ['<section id="environment">\n<h2>Environment</h2>\n']
    if an.settings:
        out.append("<h3>What the settings mean here</h3>\n<ul>\n")
        out.extend(f"<li>{e(s)}</li>\n" for s in an.settings)
        out.append("</ul>\n")
    limits = an.limitations
    if limits:
        out.append("<h3>What this log cannot show</h3>\n<ul>\n")
        out.extend(f"<li>{e(s)}</li>\n" for s in limits)
        out.append("</ul>\n")
    facts = []
    if meta["cwd"]:
        facts.append(["working directory", f"<code>{e(meta['cwd'])}</code>"])
    backend = meta["backend"]
    if backend:
        facts.append(
            ["tracer", e(" ".join(str(backend.get(k) or "") for k in ("name", "version")).strip())]
        )
    if meta["format"]:
        facts.append(["log format", e(meta["format"])])
    if isinstance(meta["lab"], dict) and meta["lab"].get("scenario"):
        facts.append(["lab scenario", e(meta["lab"]["scenario"])])
    if facts:
        out.append(_table(["", ""], facts))
    env = meta["env"]
    out.append("<h3>Variables (as recorded in meta.json, secrets redacted)</h3>\n")
    if env:
        out.append(
            _table(
                ["name", "value"],
                [[f"<code>{e(k)}</code>", f"<code>{e(v)}</code>"] for k, v in sorted(env.items())],
            )
        )
    else:
        out.append(
            '<p class="note">No environment was recorded (not a <code>gotrace run</code> capture).</p>\n'
        )
    go_env = meta["go_env"]
    if go_env:
        main = [
            [f"<code>{e(k)}</code>", f"<code>{e(go_env[k])}</code>"]
            for k in GO_ENV_KEYS
            if k in go_env
        ]
        out.append("<h3><code>go env</code> before the run</h3>\n")
        if main:
            out.append(_table(["name", "value"], main))
        out.append("<details><summary>all of <code>go env</code></summary>\n")
        out.append(
            _table(
                ["name", "value"],
                [
                    [f"<code>{e(k)}</code>", f"<code>{e(v)}</code>"]
                    for k, v in sorted(go_env.items())
                ],
            )
        )
        out.append("</details>\n")
    out.append("</section>\n")
    return "".join(out)


def _footer(*, cdn: bool, source: str = "CAPTURE") -> str:
    import shlex
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("gotrace")
    except PackageNotFoundError:
        v = "dev"
    how = "plotly.js is linked from its CDN" if cdn else "this page loads nothing"
    export = f"gotrace export {shlex.quote(source)} --format perfetto -o trace.json"
    return (
        f"<footer>Made by gotrace {e(v)} from the trace alone; {how}. "
        f'<span id="open-in-perfetto">Open in Perfetto: <code>{e(export)}</code> writes every '
        "thread's syscalls, the quiet periods and findings as Chrome trace-event JSON; load "
        "trace.json in ui.perfetto.dev or chrome://tracing.</span></footer>\n"
    )
