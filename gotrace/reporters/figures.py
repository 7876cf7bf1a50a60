"""Plotly figures of a trace: the timeline (here), the network and module waterfalls
(:mod:`gotrace.reporters.waterfalls`), and what all of them share.

Each function takes the analyzers' :class:`~gotrace.analyzers.report.Report` and returns a
``plotly.graph_objects.Figure`` (or the plain-data spec of one); nothing is analysed, shown or
written here. The figures work in
Jupyter as they are and are embedded by :mod:`gotrace.reporters.html`.

Times on every x axis are seconds since the first event of the trace, so that the axes read
``0.0 … 3.2`` instead of epoch stamps. Every string taken from the trace is HTML-escaped
before it goes into a figure: plotly renders a subset of HTML in hover texts, tick labels and
annotations, and a file name like ``<b>x</b>`` must show as the text it is.
"""

from __future__ import annotations

import html
import math
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import polars as pl

from gotrace.analyzers.summary import WAIT_SYSCALLS

if TYPE_CHECKING:
    from plotly.graph_objects import Figure

    from gotrace.analyzers.context import Context
    from gotrace.analyzers.report import Report, Span

#: a figure as plain data: ``{"data": [trace dicts], "layout": {...}}`` (what plotly.js takes)
Spec = dict[str, Any]
TEMPLATE = "plotly_white"

#: syscall categories, in legend order, with their colours
CATEGORIES: dict[str, str] = {
    "file": "#4c78a8",
    "network": "#f58518",
    "process": "#54a24b",
    "lock": "#e45756",
    "wait": "#a0a0b0",
    "other": "#c9a3d6",
}
_NETWORK_CALLS = (
    "socket", "socketpair", "connect", "bind", "listen", "getsockopt", "setsockopt",
    "getsockname", "getpeername", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg",
    "recvmmsg", "shutdown",
)  # fmt: skip
_PROCESS_CALLS = (
    "clone", "clone3", "fork", "vfork", "execve", "execveat", "exit", "exit_group", "kill",
    "tkill", "tgkill", "pidfd_open", "pidfd_send_signal", "prctl", "set_tid_address",
    "setpgid", "setsid", "getpid", "getppid", "gettid",
)  # fmt: skip
_OTHER_CALLS = (
    "mmap", "munmap", "mprotect", "madvise", "brk", "mremap", "rt_sigaction",
    "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "arch_prctl", "getrandom",
    "sched_getaffinity", "sched_setaffinity", "uname", "getrlimit", "prlimit64", "setrlimit",
    "rseq", "set_robust_list", "epoll_create", "epoll_create1", "epoll_ctl", "eventfd2",
    "clock_gettime", "gettimeofday", "sysinfo", "capget", "capset",
)  # fmt: skip
_SOCKET_TARGET = r"^(TCP|UDP|UNIX|NETLINK|SOCKET|RAW|PACKET|TCPv6|UDPv6)"
_LOCK_FCNTL = r"F_(OFD_)?(SETLKW?|GETLK)"
#: a call taking more than this share of the trace's span is always drawn on its own
LONG_SHARE = 0.01
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"


def to_figure(spec: Spec) -> Figure:
    """A spec as a plotly Figure (plotly validates every property on the way)."""
    import plotly.graph_objects as go

    return go.Figure(data=spec["data"], layout=spec["layout"])


def template_json(name: str = TEMPLATE) -> dict[str, Any]:
    """A named plotly template as the plain dict plotly.js wants (it knows no names)."""
    import plotly.io as pio

    return dict(pio.templates[name].to_plotly_json())


def timeline(report: Report, *, max_bars: int = 20000) -> Figure:
    """The timeline (see :func:`timeline_spec`) as a Figure."""
    return to_figure(timeline_spec(report, max_bars=max_bars))


def network_waterfall(report: Report) -> Figure:
    """The network waterfall (see :func:`gotrace.reporters.waterfalls.network_spec`)."""
    from gotrace.reporters.waterfalls import network_spec

    return to_figure(network_spec(report))


def module_waterfall(report: Report) -> Figure:
    """The module waterfall (see :func:`gotrace.reporters.waterfalls.module_spec`)."""
    from gotrace.reporters.waterfalls import module_spec

    return to_figure(module_spec(report))


def esc(text: object, limit: int | None = None) -> str:
    """A trace string made safe for plotly's HTML-ish text (and shortened)."""
    s = "" if text is None else str(text)
    if limit is not None and len(s) > limit:
        s = s[: limit - 1] + "…"
    return html.escape(s, quote=False)


def category_expr() -> pl.Expr:
    """A syscall event's category: file, network, process, lock, wait or other."""
    name = pl.col("syscall").cast(pl.String)
    target = pl.coalesce(pl.col("target"), pl.col("fd_target")).fill_null("")
    return (
        pl.when((name == "flock") | ((name == "fcntl") & pl.col("args").str.contains(_LOCK_FCNTL)))
        .then(pl.lit("lock"))
        .when(name.is_in(list(WAIT_SYSCALLS)))
        .then(pl.lit("wait"))
        .when(name.is_in(list(_NETWORK_CALLS)) | target.str.contains(_SOCKET_TARGET))
        .then(pl.lit("network"))
        .when(name.is_in(list(_PROCESS_CALLS)))
        .then(pl.lit("process"))
        .when(name.is_in(list(_OTHER_CALLS)))
        .then(pl.lit("other"))
        .otherwise(pl.lit("file"))
    )


def is_nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def empty_figure(title: str, message: str) -> Spec:
    layout: dict[str, Any] = dict(
        title={"text": title},
        template=TEMPLATE,
        height=220,
        xaxis={"visible": False},
        yaxis={"visible": False},
        font={"family": FONT},
        annotations=[
            {
                "text": esc(message),
                "showarrow": False,
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
                "font": {"size": 14, "color": "#666"},
            }
        ],
    )
    return {"data": [], "layout": layout}


def heading(text: str) -> dict[str, Any]:
    """A title pinned to the top left, above the legend (which sits just over the plot)."""
    return {
        "text": text,
        "font": {"size": 15},
        "x": 0.01,
        "xanchor": "left",
        "yref": "container",
        "y": 1,
        "yanchor": "top",
        "pad": {"t": 12},
    }


def clock_note(ctx: Context, span: Span) -> str:
    if ctx.clock == "epoch":
        import datetime as dt

        when = dt.datetime.fromtimestamp(span.t0, dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
        return f"seconds since {when}"
    return "seconds since the first event"


# -- timeline ---------------------------------------------------------------------------------
def _lane_label(ctx: Context, tgid: int) -> str:
    argv = ctx.groups.argv.get(tgid)
    if argv:
        words = [PurePosixPath(argv[0]).name, *argv[1:]]
        return f"{tgid} {esc(' '.join(words), 32)}"
    return str(tgid)


def timeline_spec(
    report: Report,
    *,
    max_bars: int = 20000,
    max_lanes: int = 24,
    buckets: int = 400,
) -> Spec:
    """One lane per process (its threads side by side inside it), each syscall a bar coloured
    by category, quiet periods shaded and labelled with their blame, calls still in flight at
    the end drawn open (dotted, ending in an open arrow).

    With more than ``max_bars`` calls the short ones are counted into ``buckets`` time buckets
    per lane and category (drawn as a density band); calls longer than 1% of the span and
    calls in flight are still drawn one by one. Processes beyond ``max_lanes`` share one lane.
    """
    ctx, span = report.context, report.span
    if span is None:
        return empty_figure("Timeline", "this log has no timestamps: there is no time axis to draw")
    sc = call_spans(ctx, span)
    if not sc.height:
        return empty_figure("Timeline", "no system calls in this trace")
    lanes, lane_of = _lanes(ctx, sc, max_lanes)
    sc = sc.with_columns(lane=pl.col("tgid").replace_strict(lane_of, default=len(lanes) - 1))
    aggregate = sc.height > max_bars
    long_cut = span.length * LONG_SHARE
    if aggregate:
        single = sc.filter(pl.col("in_flight") | (pl.col("stop") - pl.col("start") > long_cut))
        rest = sc.filter(~(pl.col("in_flight") | (pl.col("stop") - pl.col("start") > long_cut)))
        rows = _category_rows()
        single = single.with_columns(
            y=pl.col("lane") + pl.col("category").replace_strict(rows, return_dtype=pl.Float64)
        )
    else:
        single, rest = sc, sc.clear()
        single = single.join(_thread_rows(single), on="pid", how="left")
    data: list[dict[str, Any]] = []
    min_width = span.length / 1500
    for cat, colour in CATEGORIES.items():
        done = single.filter((pl.col("category") == cat) & ~pl.col("in_flight"))
        if done.height:
            data.append(_segments(done, cat, colour, min_width, open_end=False))
        if aggregate:
            counts = rest.filter(pl.col("category") == cat)
            if counts.height:
                data.append(_density(counts, cat, colour, len(lanes), span, buckets))
        flying = single.filter((pl.col("category") == cat) & pl.col("in_flight"))
        if flying.height:
            data.append(_segments(flying, cat, colour, min_width, open_end=True))
    shapes, notes = _quiet_marks(report, span)
    title = "Timeline"
    if aggregate:
        title += (
            f" ({sc.height:,} calls: short calls counted per {span.length / buckets:.3g} s bucket;"
            f" {single.height:,} long or in-flight calls drawn one by one)"
        )
    layout: dict[str, Any] = dict(
        title=heading(title),
        template=TEMPLATE,
        font={"family": FONT},
        height=max(320, min(1600, 150 + 60 * len(lanes))),
        margin={"l": 10, "r": 10, "t": 105, "b": 50},
        hovermode="closest",
        legend={
            "orientation": "h",
            "y": 1.0,
            "yanchor": "bottom",
            "x": 0,
            "groupclick": "togglegroup",
        },
        xaxis={
            "title": {"text": clock_note(ctx, span)},
            "range": [0, round(span.length * 1.01, 6)],
            "zeroline": False,
            "showspikes": True,
            "spikemode": "across",
            "spikethickness": 1,
        },
        yaxis={
            "tickmode": "array",
            "tickvals": list(range(len(lanes))),
            "ticktext": lanes,
            "range": [len(lanes) - 0.5, -0.5],
            "automargin": True,
            "zeroline": False,
            "showgrid": False,
        },
        shapes=shapes,
        annotations=notes,
    )
    return {"data": data, "layout": layout}


def call_spans(ctx: Context, span: Span) -> pl.DataFrame:
    """Every timestamped syscall with ``start`` and ``stop`` in seconds since ``span.t0`` (a
    call still in flight stops at the end of the trace) and its ``category``; the timeline and
    the Perfetto export draw these."""
    sc = ctx.frame.filter((pl.col("kind") == "syscall") & pl.col("ts").is_not_null())
    end_abs = pl.coalesce(
        pl.col("end_ts"),
        pl.col("ts") + pl.col("duration"),
        pl.when(pl.col("in_flight")).then(pl.lit(span.end)),
        pl.col("ts"),
    )
    return sc.select(
        "line",
        "pid",
        "tgid",
        "syscall",
        "args",
        "ret",
        "errno",
        "duration",
        "in_flight",
        start=(pl.col("ts") - span.t0),
        stop=(end_abs - span.t0),
        category=category_expr(),
    )


def _lanes(ctx: Context, sc: pl.DataFrame, max_lanes: int) -> tuple[list[str], dict[int, int]]:
    """Lane labels and tgid -> lane; the busiest processes get their own lane, in order of
    first appearance; the rest share the last one."""
    per = (
        sc.group_by("tgid")
        .agg(n=pl.len(), first=pl.col("start").min())
        .sort(["first", "tgid"])
        .to_dicts()
    )
    if len(per) > max_lanes:
        keep = {
            r["tgid"] for r in sorted(per, key=lambda r: (-r["n"], r["first"]))[: max_lanes - 1]
        }
        own = [r for r in per if r["tgid"] in keep]
        others = len(per) - len(own)
        labels = [_lane_label(ctx, r["tgid"]) for r in own] + [f"{others} other processes"]
        mapping = {r["tgid"]: i for i, r in enumerate(own)}
        return labels, mapping
    return [_lane_label(ctx, r["tgid"]) for r in per], {r["tgid"]: i for i, r in enumerate(per)}


def _thread_rows(sc: pl.DataFrame) -> pl.DataFrame:
    """pid -> y: the threads of a lane spread over its height, in order of appearance."""
    threads = (
        sc.group_by("pid").agg(lane=pl.col("lane").first(), first=pl.col("start").min())
    ).sort(["lane", "first", "pid"])
    ys: list[float] = []
    lanes = threads["lane"].to_list()
    count: dict[int, int] = {}
    for lane in lanes:
        count[lane] = count.get(lane, 0) + 1
    seen: dict[int, int] = {}
    for lane in lanes:
        k = min(count[lane], 12)
        j = seen.get(lane, 0) % 12
        seen[lane] = seen.get(lane, 0) + 1
        step = min(0.8 / k, 0.16)
        ys.append(round(lane + (j - (k - 1) / 2) * step, 4))
    return pl.DataFrame({"pid": threads["pid"], "y": ys}, schema={"pid": pl.Int64, "y": pl.Float64})


def _category_rows() -> dict[str, float]:
    n = len(CATEGORIES)
    return {c: round((i - (n - 1) / 2) * 0.14, 4) for i, c in enumerate(CATEGORIES)}


def _hover(df: pl.DataFrame) -> list[str]:
    rows = df.select(
        "syscall", "args", "ret", "errno", "duration", "pid", "line", "in_flight"
    ).iter_rows()
    out = []
    for name, args, ret, errno, dur, pid, line, flying in rows:
        result = "in flight at the end" if flying else f"= {ret if ret is not None else '?'}"
        if errno and not flying:
            result += f" {errno}"
        took = f" <{dur:.6f}s>" if dur is not None and not is_nan(dur) else ""
        out.append(f"{esc(name)}({esc(args, 90)}) {esc(result)}{took}<br>pid {pid}, line {line}")
    return out


def _segments(
    df: pl.DataFrame, cat: str, colour: str, min_width: float, *, open_end: bool
) -> dict[str, Any]:
    """Calls as horizontal segments of one scatter trace (a single SVG path, so thousands of
    calls stay cheap), hover text on both ends."""
    df = df.sort("start", "line")
    starts = [round(v, 6) for v in df["start"].to_list()]
    stops = [
        round(max(b, a + min_width), 6) for a, b in zip(starts, df["stop"].to_list(), strict=True)
    ]
    ys = df["y"].to_list()
    texts = _hover(df)
    x: list[float | None] = []
    y: list[float | None] = []
    text: list[str | None] = []
    for a, b, row, t in zip(starts, stops, ys, texts, strict=True):
        x += [a, b, None]
        y += [row, row, None]
        text += [t, t, None]
    line: dict[str, Any] = {"color": colour, "width": 7 if not open_end else 4}
    marker: dict[str, Any] = {"size": 1, "opacity": 0}
    if open_end:
        line["dash"] = "dot"
        marker = {
            "symbol": ["line-ns", "triangle-right-open", "line-ns"] * df.height,
            "size": 11,
            "color": colour,
            "line": {"width": 2, "color": colour},
        }
    return dict(
        type="scatter",
        x=x,
        y=y,
        mode="lines+markers" if open_end else "lines",
        name=f"{cat} (in flight)" if open_end else cat,
        legendgroup=cat,
        line=line,
        marker=marker,
        text=text,
        hovertemplate="%{text}<extra>" + cat + "</extra>",
        connectgaps=False,
    )


def _density(
    df: pl.DataFrame, cat: str, colour: str, n_lanes: int, span: Span, buckets: int
) -> dict[str, Any]:
    """Counts of short calls per lane and time bucket, as a band of one heatmap (an image:
    cheap to draw however many calls it stands for)."""
    width = span.length / buckets
    counts = (
        df.with_columns(b=(pl.col("start") / width).floor().cast(pl.Int64).clip(0, buckets - 1))
        .group_by("lane", "b")
        .agg(n=pl.len())
    )
    grid: list[list[int | None]] = [[None] * buckets for _ in range(2 * n_lanes - 1)]
    for lane, b, n in counts.iter_rows():
        grid[2 * lane][b] = n
    off = _category_rows()[cat]
    edges: list[float] = []
    for lane in range(n_lanes):
        edges += [round(lane + off - 0.06, 4), round(lane + off + 0.06, 4)]
    top = max(int(counts["n"].max() or 1), 1)  # type: ignore[arg-type]
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    scale = [
        [0.0, f"rgba({r},{g},{b},0.25)"],
        [
            min(1.0, round(math.log10(2) / math.log10(top + 1), 4)) if top > 1 else 0.5,
            f"rgba({r},{g},{b},0.5)",
        ],
        [1.0, f"rgba({r},{g},{b},1)"],
    ]
    return dict(
        type="heatmap",
        z=grid,
        x=[round(i * width, 6) for i in range(buckets + 1)],
        y=edges,
        zmin=1,
        zmax=top,
        colorscale=scale,
        showscale=False,
        hoverongaps=False,
        name=f"{cat} (counted)",
        legendgroup=cat,
        showlegend=True,
        hovertemplate="%{z} " + cat + " calls<br>from %{x:.3f} s<extra>counted</extra>",
    )


def _quiet_marks(report: Report, span: Span) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for i, q in enumerate(report.quiet):
        x0, x1 = span.rel(q.start), span.rel(q.end)
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": x0,
                "x1": x1,
                "y0": 0,
                "y1": 1,
                "fillcolor": "rgba(228,87,86,0.10)"
                if q.kind != "idle"
                else "rgba(120,120,120,0.10)",
                "line": {"width": 1, "color": "rgba(228,87,86,0.45)", "dash": "dot"},
                "layer": "below",
                "name": f"quiet-{i}",
            }
        )
        notes.append(
            {
                "x": x0,
                "xref": "x",
                "y": 1 - 0.07 * (i % 3),
                "yref": "paper",
                "xanchor": "left",
                "yanchor": "top",
                "showarrow": False,
                "align": "left",
                "text": f"<b>quiet {q.duration:.1f} s</b>: {esc(q.blame, 70)}",
                "hovertext": esc(q.blame),
                "font": {"size": 11, "color": "#a33"},
                "bgcolor": "rgba(255,255,255,0.8)",
            }
        )
    return shapes, notes
