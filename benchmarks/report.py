"""HTML report benchmark: how long ``render_html`` takes and how big the page gets.

    python3 benchmarks/report.py [--events 1000000] [--source DIR] [--keep DIR]

Two traces:

  (a) the largest capture under sample_traces/ (by events; tests/data/strace's HTTP
      capture when there are none),
  (b) a synthetic trace of --events events (1,000,000 by default) made by repeating that
      capture: each copy's timestamps are shifted past the previous copy (plus 1 ms),
      its pids and the pids returned by clone/fork by ``copy * stride``, and its line
      numbers by the capture's line count, so copies never mix.

For each: the time to load the events (for (b): to build them), the time of the analysis
the report needs (``build`` + ``diagnose``: the analyzers' cost, which ``gotrace analyze``
pays too), the time of ``render_html`` given that analysis (summary, module table, the three
figures, the page; median of --repeat runs), and the page size with plotly.js inlined and
with --cdn. Goal for (b): render under 5 s, page under 10 MB.
Nothing is written unless --keep is given (then the pages go there).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from gotrace.trace import Trace

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 5.0
GOAL_MB = 10.0
_FORKS = ["clone", "clone3", "fork", "vfork"]


def largest_capture() -> Path:
    import gotrace

    dirs = sorted(p.parent for p in (ROOT / "sample_traces").glob("*/trace.strace"))
    if not dirs:
        return ROOT / "tests/data/strace/go_mod_download_http.strace"
    return max(dirs, key=lambda d: (gotrace.load(d).frame.height, d.name))


def synthetic(frame: pl.DataFrame, events: int) -> pl.DataFrame:
    """``frame`` repeated until it has ``events`` rows (the last copy cut short)."""
    ts = frame["ts"].drop_nulls()
    span = float(ts.max()) - float(ts.min()) + 0.001  # type: ignore[arg-type]
    pids = frame["pid"]
    stride = ((int(pids.max()) - int(pids.min())) // 100 + 1) * 100  # type: ignore[arg-type]
    lines = int(frame["line"].max()) + int(frame["end_line"].max() or 0)  # type: ignore[arg-type]
    copies = -(-events // frame.height)
    out = []
    for k in range(copies):
        fork = pl.col("syscall").cast(pl.String).is_in(_FORKS) & (pl.col("retval") > 0)
        out.append(
            frame.with_columns(
                pid=pl.col("pid") + k * stride,
                ts=pl.col("ts") + k * span,
                end_ts=pl.col("end_ts") + k * span,
                line=pl.col("line") + k * lines,
                end_line=pl.col("end_line") + k * lines,
                retval=pl.when(fork)
                .then(pl.col("retval") + k * stride)
                .otherwise(pl.col("retval")),
                former_pid=pl.col("former_pid") + k * stride,
            )
        )
    return pl.concat(out).head(events)


def measure(name: str, trace: Trace, *, repeat: int, keep: Path | None) -> dict[str, Any]:
    from gotrace.reporters.html import render_html

    t0 = time.perf_counter()
    report = trace.report
    analysis_s = time.perf_counter() - t0
    runs = []
    page = ""
    for _ in range(repeat):
        t0 = time.perf_counter()
        page = render_html(report)
        runs.append(time.perf_counter() - t0)
    cdn_page = render_html(report, cdn=True)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        (keep / f"{name}.html").write_text(page)
        (keep / f"{name}-cdn.html").write_text(cdn_page)
    return {
        "name": name,
        "events": trace.frame.height,
        "analysis_s": analysis_s,
        "render_s": statistics.median(runs),
        "runs": runs,
        "mb": len(page.encode()) / 1e6,
        "cdn_mb": len(cdn_page.encode()) / 1e6,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--source", type=Path, help="the capture to render and repeat")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="write the pages into this directory")
    args = ap.parse_args(argv)

    import gotrace
    from gotrace.trace import Trace

    source = args.source or largest_capture()
    t0 = time.perf_counter()
    real = gotrace.load(source)
    load_s = time.perf_counter() - t0
    results = [measure(source.name, real, repeat=args.repeat, keep=args.keep)]
    results[0]["load_s"] = load_s

    t0 = time.perf_counter()
    frame = synthetic(real.frame, args.events)
    big = Trace(
        frame=frame,
        meta={
            **real.meta,
            "source": f"synthetic: {source.name} x{-(-args.events // real.frame.height)}",
        },
    )
    build_s = time.perf_counter() - t0
    results.append(measure(f"synthetic-{args.events}", big, repeat=args.repeat, keep=args.keep))
    results[1]["load_s"] = build_s

    head = ("trace", "events", "load s", "analysis s", "render s", "runs", "page MB", "--cdn MB")
    print("{:<24} {:>10} {:>7} {:>10} {:>9} {:<20} {:>8} {:>8}".format(*head))
    for r in results:
        runs = ", ".join(f"{x:.2f}" for x in r["runs"])
        print(
            f"{r['name']:<24} {r['events']:>10,} {r['load_s']:>7.2f} {r['analysis_s']:>10.2f} "
            f"{r['render_s']:>9.2f} {runs:<20} {r['mb']:>8.2f} {r['cdn_mb']:>8.2f}"
        )
    big_r = results[1]
    ok_time = big_r["render_s"] < GOAL_S
    ok_size = big_r["mb"] < GOAL_MB
    print(
        f"\n{args.events:,} events: render {big_r['render_s']:.2f} s (goal < {GOAL_S:g} s: "
        f"{'yes' if ok_time else 'NO'}), page {big_r['mb']:.2f} MB (goal < {GOAL_MB:g} MB: "
        f"{'yes' if ok_size else 'NO'}); before it, the analysis (context + diagnosis, "
        f"which gotrace report also runs) took {big_r['analysis_s']:.2f} s"
    )
    return 0 if ok_time and ok_size else 1


if __name__ == "__main__":
    sys.exit(main())
