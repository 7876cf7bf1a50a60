"""Parse benchmark: gotrace vs. a per-line regex baseline, side by side, in one run.

    python3 benchmarks/parse.py [--lines 1000000] [--ten-million] [--repeat 3] [--keep DIR]
                                [--results FILE] [--no-time]

Builds a ~1,000,000-line log out of real ``go mod download`` captures (see biglog.py),
then times, each as its own subprocess, median of --repeat runs:

  (a) ``wc -l big.strace``                           reading speed of the disk/page cache
  (b) ``python3 benchmarks/baseline_regex.py``       one Python regex per line
  (c) ``gotrace events big.strace -o x.parquet --force``
  (d) with --ten-million: the same three on a 10,000,000-line log (is memory bounded?)

plus ``gotrace events`` on a 3-line log: the CLI's fixed start-up cost.

Peak RSS is that of the measured process alone: a small runner process starts it and
reads the rusage that ``os.wait4`` returns for that one child (not deltas of
RUSAGE_CHILDREN: its ru_maxrss is a maximum over all children ever waited for, not a
sum). When ``/usr/bin/time`` exists the command runs under ``time -v`` and its
"Maximum resident set size" is reported too, as a cross-check.

The table is printed and written to benchmarks/results.md. Goal: gotrace at least
2.5x the baseline's lines/s, at least 1,000,000 lines/s, peak RSS under 1 GB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from biglog import build_log  # noqa: E402

GOAL_RATIO = 2.5
GOAL_LPS = 1_000_000
GOAL_RSS_MB = 1024
TIME_BIN = "/usr/bin/time"
_OUT_PATH = re.compile(r" to \S+$")  # "wrote N events to /tmp/...": the temp path is noise


@dataclass
class Run:
    wall: float
    rss_mb: float  # from os.wait4
    time_rss_mb: float | None  # from /usr/bin/time -v, when available
    out: str


@dataclass
class Step:
    label: str
    lines: int
    runs: list[Run] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(r.wall for r in self.runs)

    @property
    def lps(self) -> float:
        return self.lines / self.wall

    @property
    def rss_mb(self) -> float:
        return max(r.rss_mb for r in self.runs)


# Runs one command and reports its wall time and rusage. It is started as a fresh, small
# Python (-I -S) so the child it forks begins with a small RSS: on Linux ru_maxrss also
# counts what the forking process had mapped before exec (with vfork: its high-water
# mark), so forking straight from this script would put a floor of this script's RSS
# under every measurement.
RUNNER = """
import json, os, resource, subprocess, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
t0 = time.perf_counter()
proc = subprocess.Popen(cmd)
_, status, ru = os.wait4(proc.pid, 0)
wall = time.perf_counter() - t0
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with open(out, "w") as fh:
    json.dump({"wall": wall, "rc": os.waitstatus_to_exitcode(status),
               "maxrss": ru.ru_maxrss, "runner_maxrss": own}, fh)
"""


def run_once(cmd: list[str], workdir: Path, use_time: bool) -> Run:
    """Run ``cmd`` as a child; its wall time and its own peak RSS."""
    out_path = workdir / "step.out"
    err_path = workdir / "step.err"
    res_path = workdir / "step.json"
    full = [TIME_BIN, "-v", *cmd] if use_time else cmd
    runner = [sys.executable, "-I", "-S", "-c", RUNNER, str(res_path)]
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        subprocess.run([*runner, *full], stdout=out, stderr=err, check=False)
    stdout = out_path.read_text(errors="replace")
    stderr = err_path.read_text(errors="replace")
    try:
        res = json.loads(res_path.read_text())
        res_path.unlink()
    except (OSError, ValueError) as exc:
        raise SystemExit(f"runner failed: {' '.join(full)}\n{stdout}{stderr}") from exc
    if res["rc"] != 0:
        raise SystemExit(f"failed ({res['rc']}): {' '.join(full)}\n{stdout}{stderr}")
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    unit = 2**20 if sys.platform == "darwin" else 2**10
    time_rss = None
    if use_time:
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
        time_rss = int(m[1]) / 1024 if m else None
        stderr = "\n".join(ln for ln in stderr.splitlines() if not ln.startswith(("\t", "Command")))
    return Run(res["wall"], res["maxrss"] / unit, time_rss, (stdout + stderr).strip())


def gotrace_cmd() -> list[str]:
    exe = shutil.which("gotrace")
    return [exe] if exe else [sys.executable, "-m", "gotrace"]


def commands(log: Path, workdir: Path) -> dict[str, list[str]]:
    parquet = workdir / "x.parquet"
    return {
        "wc -l": ["wc", "-l", str(log)],
        "baseline regex": [sys.executable, str(HERE / "baseline_regex.py"), str(log)],
        "gotrace events": [*gotrace_cmd(), "events", str(log), "-o", str(parquet), "--force"],
    }


def measure(
    cmds: dict[str, list[str]], lines: int, workdir: Path, repeat: int, use_time: bool
) -> list[Step]:
    steps = {label: Step(label, lines) for label in cmds}
    # Interleave the steps so a burst of other load on the machine hits all of them.
    for i in range(repeat):
        for label, cmd in cmds.items():
            r = run_once(cmd, workdir, use_time)
            steps[label].runs.append(r)
            extra = f" (time -v: {r.time_rss_mb:.0f} MB)" if r.time_rss_mb is not None else ""
            print(
                f"  [{i + 1}/{repeat}] {label:<15} {r.wall:7.2f} s  {r.rss_mb:7.0f} MB{extra}"
                f"  {r.out.splitlines()[-1] if r.out else ''}",
                flush=True,
            )
    return list(steps.values())


def table(rows: list[tuple[str, Step]]) -> str:
    out = [
        "| log | step | lines | wall, median (s) | runs (s) | lines/s | peak RSS (MB) |",
        "|---|---|---:|---:|---|---:|---:|",
    ]
    for log, s in rows:
        runs = ", ".join(f"{r.wall:.2f}" for r in s.runs)
        out.append(
            f"| {log} | {s.label} | {s.lines:,} | {s.wall:.2f} | {runs} "
            f"| {s.lps:,.0f} | {s.rss_mb:,.0f} |"
        )
    return "\n".join(out)


def verdict(steps: list[Step], log: str) -> list[str]:
    by = {s.label: s for s in steps}
    g, b = by["gotrace events"], by["baseline regex"]
    ratio = g.lps / b.lps
    ok = "yes" if ratio >= GOAL_RATIO else "NO"
    ok_lps = "yes" if g.lps >= GOAL_LPS else "NO"
    ok_rss = "yes" if g.rss_mb < GOAL_RSS_MB else "NO"
    return [
        f"- {log}: gotrace lines/s ÷ baseline lines/s = **{ratio:.2f}x** "
        f"(goal ≥ {GOAL_RATIO}x: {ok}); gotrace {g.lps:,.0f} lines/s "
        f"(goal ≥ {GOAL_LPS:,}: {ok_lps}); peak RSS {g.rss_mb:,.0f} MB "
        f"(goal < {GOAL_RSS_MB:,} MB: {ok_rss})",
        f"  - baseline: {b.runs[-1].out.splitlines()[-1]}",
        f"  - gotrace: {_OUT_PATH.sub('', g.runs[-1].out.splitlines()[-1])}",
    ]


def human(n: int) -> str:
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if n >= size:
            return f"{n / size:g}{unit}"
    return str(n)


def machine() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    try:
        pv = f"polars {importlib.metadata.version('polars')}"
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        pv = "polars ?"
    pv += f", POLARS_MAX_THREADS={os.environ.get('POLARS_MAX_THREADS', 'unset')}"
    return (
        f"{platform.node() or 'host'}: {os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}, {pv}, load average at start {load}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000, help="size of the main log")
    ap.add_argument("--ten-million", action="store_true", help="also run on a 10M-line log")
    ap.add_argument("--repeat", type=int, default=3, help="runs per step (median reported)")
    ap.add_argument("--keep", type=Path, help="keep the logs and outputs in this directory")
    ap.add_argument(
        "--results", type=Path, default=HERE / "results.md", help="where to write the table"
    )
    ap.add_argument("--no-time", action="store_true", help="do not cross-check /usr/bin/time")
    a = ap.parse_args()

    use_time = not a.no_time and os.access(TIME_BIN, os.X_OK)
    if a.keep:
        a.keep.mkdir(parents=True, exist_ok=True)
        workdir = a.keep
        tmp = None
    else:
        tmp = tempfile.TemporaryDirectory(prefix="gotrace-bench-")
        workdir = Path(tmp.name)
    started = dt.datetime.now().astimezone()
    header = machine()
    print(header)
    try:
        sizes = [(human(a.lines), a.lines)]
        if a.ten_million:
            sizes.append((human(10 * a.lines), 10 * a.lines))
        rows: list[tuple[str, Step]] = []
        notes: list[str] = []
        sources = ""
        for name, want in sizes:
            log = workdir / f"big_{name}.strace"
            t0 = time.perf_counter()
            built = build_log(log, want)
            n = built.lines
            size_mb = log.stat().st_size / 2**20
            print(f"{name}: {n:,} lines, {size_mb:,.0f} MB in {time.perf_counter() - t0:.1f} s")
            if not sources:
                sources = f"- log: {built.copies} alternating copies of {built.sources}"
            if not rows:
                # The fixed cost of the CLI (interpreter, polars/pyarrow/typer imports).
                tiny = workdir / "tiny.strace"
                with open(log, "rb") as src:
                    tiny.write_bytes(b"".join(src.readline() for _ in range(3)))
                cmd = commands(tiny, workdir)["gotrace events"]
                startup = measure({"gotrace events": cmd}, 3, workdir, a.repeat, use_time)[0]
                startup.label = "gotrace events (startup)"
                rows.append(("3 lines", startup))
            steps = measure(commands(log, workdir), n, workdir, a.repeat, use_time)
            rows += [(f"{name} ({size_mb:,.0f} MB)", s) for s in steps]
            notes += verdict(steps, name)
            if not a.keep:
                log.unlink()
        if a.ten_million:
            g = [s for _, s in rows if s.label == "gotrace events"]
            grew = g[1].rss_mb / g[0].rss_mb
            notes.append(
                f"- memory bounded? gotrace peak RSS {sizes[1][0]} / {sizes[0][0]} = {grew:.2f} "
                f"({'yes' if grew < 1.5 else 'NO'}: streaming should keep it about flat)"
            )
        if use_time:
            worst = max(
                abs(r.rss_mb - r.time_rss_mb)
                for _, s in rows
                for r in s.runs
                if r.time_rss_mb is not None
            )
            notes.append(
                f"- peak RSS from os.wait4() in a small runner; /usr/bin/time -v agrees "
                f"within {worst:.0f} MB"
            )
        text = "\n".join(
            [
                f"Run {started:%Y-%m-%d %H:%M %Z}; {header}.",
                "Other work may have been running on the machine.",
                "",
                table(rows),
                "",
                *notes,
                sources,
                "",
            ]
        )
        print()
        print(text)
        a.results.write_text(text)
        print(f"(written to {a.results})")
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
