"""The waterfalls: one row per connection (like a browser's network panel) and one row per
module@version (lock, fetch, write, extract, result). Plain-data specs of plotly figures,
made from a :class:`~gotrace.analyzers.report.Report`; :mod:`gotrace.reporters.figures` turns
them into Figures and holds what all the figures share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from gotrace.reporters.figures import (
    FONT,
    TEMPLATE,
    Spec,
    clock_note,
    empty_figure,
    esc,
    heading,
)

if TYPE_CHECKING:
    from gotrace.analyzers.network import Connection
    from gotrace.analyzers.report import Report

# -- network waterfall ------------------------------------------------------------------------
#: (phase, colour, legend text)
NET_PHASES = (
    ("connect", "#f58518", "connect"),
    ("wait", "#9ecae9", "request sent → first byte"),
    ("receive", "#4c78a8", "first byte → last byte"),
    ("unanswered", "#e45756", "sent, never answered"),
    ("idle", "#d9d9d9", "idle until close (or the end)"),
)


def _conn_phases(c: Connection, end: float) -> list[tuple[str, float, float]]:
    out: list[tuple[str, float, float]] = []
    closed = c.close_ts if c.close_ts is not None else end
    if c.connect_ts is not None:
        done = c.connected_ts if c.connected_ts is not None else closed
        out.append(("connect", c.connect_ts, done))
    sent = c.requests[0]["ts"] if c.requests and c.requests[0].get("ts") is not None else None
    if sent is None and c.dns:
        sent = c.dns[0].get("ts")
    if sent is not None and c.first_byte_ts is not None and c.first_byte_ts >= sent:
        out.append(("wait", sent, c.first_byte_ts))
    if c.first_byte_ts is not None:
        out.append(("receive", c.first_byte_ts, c.last_byte_ts or c.first_byte_ts))
    if c.waiting_since is not None:
        out.append(("unanswered", c.waiting_since, closed))
    last = max(
        (t for t in (c.last_byte_ts, c.last_send_ts, c.connected_ts, c.open_ts) if t is not None),
        default=None,
    )
    if last is not None and c.waiting_since is None and closed > last:
        out.append(("idle", last, closed))
    return out


def network_spec(report: Report, *, max_rows: int = 300) -> Spec:
    """One row per connection, like a browser's network panel: connect, request sent → first
    byte, first → last byte, a request sent and never answered (red), idle until close; the
    HTTP requests, responses and the close as markers."""
    ctx, span = report.context, report.span
    conns = list(report.connections)
    if span is None:
        return empty_figure("Network", "this log has no timestamps")
    if not conns:
        return empty_figure("Network", "no network connections in this trace")
    shown = conns
    if len(conns) > max_rows:
        # keep the ones that explain something: unanswered, failed, erroring; then the first
        keep = {
            c.id for c in conns if c.waiting_since is not None or c.error or c.state() == "failed"
        }
        picked = [c for c in conns if c.id in keep][:max_rows]
        rest = [c for c in conns if c.id not in keep][: max_rows - len(picked)]
        shown = sorted(picked + rest, key=lambda c: c.id)
    labels = [
        f"#{c.id} {esc(c.proto)} {esc(c.remote or c.local or '?')}"
        + (f" ({esc(c.sni)})" if c.sni else "")
        for c in shown
    ]
    data: list[dict[str, Any]] = []
    # per phase: rows, starts, lengths, hover texts
    phases: dict[str, tuple[list[int], list[float | None], list[float], list[str]]] = {
        name: ([], [], [], []) for name, _, _ in NET_PHASES
    }
    marks: dict[str, tuple[list[float | None], list[int], list[str]]] = {
        "request": ([], [], []),
        "response": ([], [], []),
        "close": ([], [], []),
    }
    for row, c in enumerate(shown):
        for name, a, b in _conn_phases(c, span.end):
            ys, base, length, hover = phases[name]
            ys.append(row)
            base.append(span.rel(a))
            length.append(round(max(b - a, 0.0), 6))
            hover.append(
                f"{labels[row]}<br>{name}: {b - a:.6f} s"
                f" (from {a - span.t0:.6f} s)<br>sent {c.bytes_sent} B, received {c.bytes_recv} B"
            )
        for r in c.requests:
            if r.get("ts") is not None:
                marks["request"][0].append(span.rel(r["ts"]))
                marks["request"][1].append(row)
                marks["request"][2].append(f"{esc(r['request'], 120)}<br>line {r['line']}")
        for q in c.dns:
            if q.get("ts") is not None:
                kind = "response" if q.get("answer") else "request"
                marks[kind][0].append(span.rel(q["ts"]))
                marks[kind][1].append(row)
                what = f"DNS {q.get('qtype')} {q.get('name')}"
                if q.get("answer"):
                    what += f" → {q.get('rcode')} {' '.join(q.get('addresses') or [])}"
                marks[kind][2].append(f"{esc(what, 120)}<br>line {q['line']}")
        for r in c.responses:
            if r.get("ts") is not None:
                marks["response"][0].append(span.rel(r["ts"]))
                marks["response"][1].append(row)
                marks["response"][2].append(f"{esc(r['status'])}<br>line {r['line']}")
        if c.close_ts is not None:
            marks["close"][0].append(span.rel(c.close_ts))
            marks["close"][1].append(row)
            marks["close"][2].append(
                f"close (line {c.close_line})" + (f", {esc(c.error)}" if c.error else "")
            )
    for name, colour, legend in NET_PHASES:
        ys, base, length, hover = phases[name]
        if not ys:
            continue
        data.append(
            dict(
                type="bar",
                y=ys,
                base=base,
                x=length,
                orientation="h",
                name=legend,
                marker={"color": colour, "line": {"width": 0}},
                width=0.55,
                hovertext=hover,
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
    styles = {
        "request": ("triangle-right", "#333", "HTTP request / DNS query"),
        "response": ("circle", "#2ca02c", "HTTP response / DNS answer"),
        "close": ("x-thin-open", "#555", "close"),
    }
    for name, (symbol, colour, legend) in styles.items():
        xs, ys, texts = marks[name]
        if xs:
            data.append(
                dict(
                    type="scatter",
                    x=xs,
                    y=ys,
                    mode="markers",
                    name=legend,
                    marker={
                        "symbol": symbol,
                        "size": 9,
                        "color": colour,
                        "line": {"width": 1.5, "color": colour},
                    },
                    text=texts,
                    hovertemplate="%{text}<extra></extra>",
                )
            )
    title = "Network"
    if len(shown) < len(conns):
        title += f" ({len(shown)} of {len(conns)} connections)"
    layout = _waterfall_layout(
        title, clock_note(ctx, span), labels, row=26, x_end=span.length * 1.01
    )
    return {"data": data, "layout": layout}


def _waterfall_layout(
    title: str, x_title: str, labels: list[str], *, row: int, x_end: float
) -> dict[str, Any]:
    """One row per label, top to bottom, time along x: the layout both waterfalls share."""
    n = len(labels)
    return dict(
        title=heading(title),
        template=TEMPLATE,
        font={"family": FONT},
        barmode="overlay",
        height=max(260, min(2000, 140 + row * n)),
        margin={"l": 10, "r": 10, "t": 105, "b": 50},
        hovermode="closest",
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0},
        xaxis={"title": {"text": x_title}, "range": [0, round(x_end, 6)], "zeroline": False},
        yaxis={
            "tickmode": "array",
            "tickvals": list(range(n)),
            "ticktext": labels,
            "range": [n - 0.5, -0.5],
            "automargin": True,
            "showgrid": False,
            "zeroline": False,
        },
    )


# -- module waterfall -------------------------------------------------------------------------
MODULE_PHASES = (
    ("lock", "#e45756", "lock wait"),
    ("fetch", "#f58518", "fetch (GET → answered)"),
    ("write", "#4c78a8", "write to the cache"),
    ("extract", "#54a24b", "extract"),
)
RESULT_COLOURS = {
    "downloaded": "#54a24b",
    "cached": "#4c78a8",
    "failed": "#e45756",
    "incomplete": "#e45756",
    "in-progress": "#f58518",
}


def records(modules: Any) -> list[dict[str, Any]]:
    """Rows of the module table, whether it came as polars or pandas; NaN/NaT -> None."""
    if modules is None:
        return []
    if isinstance(modules, pl.DataFrame):
        rows = modules.to_dicts()
    elif hasattr(modules, "to_dict"):
        rows = list(modules.to_dict("records"))
    else:
        rows = [dict(r) for r in modules]
    out = []
    for r in rows:
        clean: dict[str, Any] = {}
        for k, v in r.items():
            try:
                missing = v is None or bool(v != v)  # NaN, NaT, pd.NA
            except (TypeError, ValueError):
                missing = False
            clean[str(k)] = None if missing else v
        out.append(clean)
    return out


def module_spec(report: Report) -> Spec:
    """One row per module@version: lock wait, fetch (GET sent → answered), writing the
    downloaded files, extraction, and the result at the end of the row (the report's module
    table and module phases); no module gives an empty figure that says so."""
    ctx, span = report.context, report.span
    rows = [r for r in records(report.modules) if r.get("module")]
    if span is None:
        return empty_figure("Modules", "this log has no timestamps")
    if not rows:
        return empty_figure("Modules", "no module in the module cache was touched in this trace")
    phases = report.module_phases
    labels = [
        esc(f"{r['module']}@{r['version']}" if r.get("version") else r["module"], 60) for r in rows
    ]
    data: list[dict[str, Any]] = []
    bars: dict[str, tuple[list[int], list[float | None], list[float], list[str], list[bool]]] = {
        name: ([], [], [], [], []) for name, _, _ in (("span", "", ""), *MODULE_PHASES)
    }
    ends: dict[str, tuple[list[float | None], list[int], list[str]]] = {}
    for row, r in enumerate(rows):
        start, stop = r.get("start"), r.get("end")
        info = (
            f"{labels[row]}<br>result: {esc(r.get('result'))}"
            + (f"<br>source: {esc(r.get('source'), 80)}" if r.get("source") else "")
            + (f"<br>zip bytes written: {int(r['zip_bytes'])}" if r.get("zip_bytes") else "")
            + (f"<br>lock wait: {float(r['lock_wait_s']):.3f} s" if r.get("lock_wait_s") else "")
            + (f"<br>error: {esc(r.get('error'), 120)}" if r.get("error") else "")
            + (
                f"<br>lines {r.get('first_line')}–{r.get('last_line')}"
                if r.get("first_line") is not None
                else ""
            )
        )
        if start is not None and stop is not None:
            ys, base, length, hover, _open = bars["span"]
            ys.append(row)
            base.append(span.rel(float(start)))
            length.append(round(max(float(stop) - float(start), 0.0), 6))
            hover.append(info)
            _open.append(False)
        key = (str(r["module"]), r.get("version"))
        for name, a, b, still in phases.get(key, []):
            ys, base, length, hover, _open = bars[name]
            ys.append(row)
            base.append(span.rel(a))
            length.append(round(max(b - a, 0.0), 6))
            hover.append(
                f"{labels[row]}<br>{name}: {b - a:.6f} s"
                + (" (still waiting at the end)" if still else "")
            )
            _open.append(still)
        result = str(r.get("result") or "?")
        ends_at = [float(t) for t in (start, stop) if t is not None]
        ends_at += [b for _, _, b, _ in phases.get(key, [])]
        at = max(ends_at) if ends_at else None
        if at is not None:
            xs, ys2, texts = ends.setdefault(result, ([], [], []))
            xs.append(span.rel(float(at)))
            ys2.append(row)
            texts.append(info)
    legends = {"span": ("#e6e6e6", "first → last call on its files")} | {
        n: (c, t) for n, c, t in MODULE_PHASES
    }
    for name, (colour, legend) in legends.items():
        ys, base, length, hover, flags = bars[name]
        if not ys:
            continue
        data.append(
            dict(
                type="bar",
                y=ys,
                base=base,
                x=length,
                orientation="h",
                name=legend,
                width=0.7 if name == "span" else 0.45,
                marker={
                    "color": colour,
                    "line": {"width": [2 if s else 0 for s in flags], "color": colour},
                    "pattern": {"shape": ["/" if s else "" for s in flags], "fgcolor": "#ffffff"},
                },
                hovertext=hover,
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
    for result in sorted(ends):
        xs, ys2, texts = ends[result]
        data.append(
            dict(
                type="scatter",
                x=xs,
                y=ys2,
                mode="markers+text",
                name=f"result: {esc(result)}",
                text=[esc(result)] * len(xs),
                textposition="middle right",
                textfont={"size": 11, "color": RESULT_COLOURS.get(result, "#555")},
                marker={
                    "symbol": "diamond",
                    "size": 9,
                    "color": RESULT_COLOURS.get(result, "#555"),
                },
                hovertext=texts,
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
    layout = _waterfall_layout(
        "Modules", clock_note(ctx, span), labels, row=28, x_end=span.length * 1.08
    )
    return {"data": data, "layout": layout}
