"""Fleet benchmark: collecting N sample-size runs, and the fleet report over them on DuckDB
and on a 2-worker Dask LocalCluster.

    python3 benchmarks/fleet.py [--runs 1000] [--steps 4] [--repeat 3] [--keep DIR]

The runs are the captures under sample_traces/ (19 real ``go mod download`` captures of
0.2k-1.9k events each), repeated: run k is sample k mod 19 with its own meta.json (a new
run_id, one of 25 hosts, a start spread over 14 days); its trace.strace and events.parquet
are symlinks to the sample's, so every run is loaded and analysed in full, as
``gotrace fleet collect`` does with real captures.

The dataset grows in --steps equal collects (e.g. 250, 500, 750, 1000 runs: each collect
is incremental, appending one batch); after each, the report is timed on DuckDB (median of
--repeat) and on Dask. Then the report is timed once more with events/ moved away, to show
what the report's cost depends on. Everything lives in a temporary directory unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_traces"
HOSTS = 25
DAYS = 14


def make_runs(dest: Path, n: int) -> list[Path]:
    samples = sorted(p for p in SAMPLES.iterdir() if (p / "meta.json").exists())
    base = 1795000000.0
    out = []
    for k in range(n):
        src = samples[k % len(samples)]
        run = dest / f"run-{k:05d}"
        run.mkdir(parents=True)
        for name in ("trace.strace", "events.parquet"):
            (run / name).symlink_to(src / name)
        # events.parquet must not look older than trace.strace (the loader would re-parse)
        os.utime(run / "events.parquet", follow_symlinks=False)
        meta = json.loads((src / "meta.json").read_text())
        span = float(meta.get("end", 0) or 0) - float(meta.get("start", 0) or 0)
        start = base + (k * DAYS * 86400.0) / n
        meta.update(
            run_id=f"bench-{k:05d}", host=f"ci-{k % HOSTS:02d}", start=start, end=start + span
        )
        (run / "meta.json").write_text(json.dumps(meta))
        out.append(run)
    return out


def timed(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path)
    args = ap.parse_args()

    from distributed import LocalCluster

    from gotrace.fleet.collect import collect
    from gotrace.fleet.report import comparable, fleet_report, make_query

    work = args.keep or Path(tempfile.mkdtemp(prefix="gotrace-fleet-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    runs = make_runs(work / "runs", args.runs)
    ds = work / "ds"
    query = make_query()
    rows = []
    t0 = time.perf_counter()
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    cluster_s = time.perf_counter() - t0
    try:
        step = max(1, args.runs // args.steps)
        done = 0
        while done < args.runs:
            part = [str(p) for p in runs[done : done + step]]
            t0 = time.perf_counter()
            res = collect(part, ds)
            collect_s = time.perf_counter() - t0
            assert len(res.added) == len(part) and not res.failed, res.failed
            done += len(part)
            duck = timed(lambda: fleet_report(ds, query), args.repeat)
            dask = timed(
                lambda: fleet_report(ds, query, scheduler=cluster.scheduler_address), args.repeat
            )
            a = fleet_report(ds, query)
            b = fleet_report(ds, query, scheduler=cluster.scheduler_address)
            assert comparable(a) == comparable(b), "the engines disagree"
            events = sum(1 for _ in (ds / "events").rglob("*.parquet"))
            rows.append((done, len(part), collect_s, duck, dask, a["runs"], events))
            print(
                f"{done:6d} runs: collect {len(part)} in {collect_s:.1f} s ({len(part) / collect_s:.1f} runs/s); "
                f"report duckdb {duck:.2f} s, dask {dask:.2f} s",
                file=sys.stderr,
            )
        size = sum(f.stat().st_size for f in ds.rglob("*.parquet"))
        per_table = {
            t.name: sum(f.stat().st_size for f in t.rglob("*.parquet"))
            for t in ds.iterdir()
            if t.is_dir()
        }
        # what the report reads: move events/ away and time it again
        shutil.move(str(ds / "events"), str(work / "events-aside"))
        without = timed(lambda: fleet_report(ds, query), args.repeat)
        shutil.move(str(work / "events-aside"), str(ds / "events"))
        t0 = time.perf_counter()
        again = collect([str(runs[0])], ds)
        skip_s = time.perf_counter() - t0
        assert again.skipped
    finally:
        cluster.close()
    events_rows = (
        __import__("pyarrow.dataset", fromlist=["dataset"])
        .dataset(ds / "events", partitioning="hive")
        .count_rows()
    )
    print()
    print(
        f"machine: {os.cpu_count()} CPUs; Dask LocalCluster: 2 worker processes x 1 thread (start-up {cluster_s:.1f} s)"
    )
    print(
        f"dataset: {args.runs} runs, {events_rows:,} event rows, {size / 1e6:.1f} MB of Parquet "
        + "("
        + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(per_table.items()))
        + ")"
    )
    print()
    print(
        "| runs in dataset | collected in this step | collect (runs/s) | report, DuckDB (s) | report, Dask 2 workers (s) |"
    )
    print("|---:|---:|---:|---:|---:|")
    for done, n, c, d, k, _, _ in rows:
        print(f"| {done:,} | {n} | {n / c:.1f} | {d:.2f} | {k:.2f} |")
    print()
    print(
        f"report on DuckDB with events/ moved away: {without:.2f} s (with it: {rows[-1][3]:.2f} s)"
    )
    print(f"collect of a run already in the {args.runs}-run dataset (skipped): {skip_s:.2f} s")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
