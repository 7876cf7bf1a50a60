"""Start-up benchmark: what a user waits for before gotrace does anything.

    python3 benchmarks/startup.py [--repeat 15]

Measured side by side in one run, each as a fresh process (median of --repeat, wall time):

  * ``python -c 'import typer'``     the floor: the CLI framework alone;
  * ``gotrace --help``               goal: within 1.5x of that floor;
  * ``python -c 'import gotrace.cli.app'``, the command table without parsing;
  * ``gotrace analyze`` of a ~1,000-line trace (a lab sample), and which of polars, pandas,
    pyarrow and plotly that run imported (goal: not plotly).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL = 1.5


def timed(argv: list[str], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def small_trace() -> Path:
    best = None
    for p in sorted((ROOT / "sample_traces").glob("*/trace.strace")):
        n = sum(1 for _ in p.open("rb"))
        if best is None or abs(n - 1000) < abs(best[1] - 1000):
            best = (p, n)
    if best is None:
        sys.exit("no sample_traces/*/trace.strace to analyse")
    return best[0]


def imported_by_analyze(trace: Path) -> list[str]:
    code = (
        "import sys\n"
        "from gotrace.cli.app import main\n"
        f"try:\n    main(['analyze', {str(trace)!r}])\nexcept SystemExit:\n    pass\n"
        "print(','.join(m for m in ('polars', 'pandas', 'pyarrow', 'plotly') if m in sys.modules),"
        " file=sys.stderr)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    return [m for m in r.stderr.strip().splitlines()[-1].split(",") if m]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    py = sys.executable
    trace = small_trace()
    lines = sum(1 for _ in trace.open("rb"))
    floor = timed([py, "-c", "import typer"], args.repeat)
    script = Path(py).parent / "gotrace"  # the console script users run
    gotrace = [str(script)] if script.exists() else [py, "-m", "gotrace"]
    helpt = timed([*gotrace, "--help"], args.repeat)
    table = timed([py, "-c", "import gotrace.cli.app"], args.repeat)
    analyze = timed([*gotrace, "analyze", str(trace)], max(3, args.repeat // 3))
    mods = imported_by_analyze(trace)
    rows = [
        ("python -c 'import typer'", floor, ""),
        ("gotrace --help", helpt, f"{helpt / floor:.2f}x of typer (goal <= {GOAL}x)"),
        ("import gotrace.cli.app", table, f"{table / floor:.2f}x of typer"),
        (f"gotrace analyze ({lines} lines)", analyze, "imports: " + (", ".join(mods) or "none")),
    ]
    print(f"python {sys.version.split()[0]}, median of {args.repeat} fresh processes")
    print(f"{'what':<36} {'seconds':>8}  note")
    for what, secs, note in rows:
        print(f"{what:<36} {secs:8.3f}  {note}")
    ok = helpt / floor <= GOAL and "plotly" not in mods
    print("goal met" if ok else "goal NOT met")


if __name__ == "__main__":
    main()
