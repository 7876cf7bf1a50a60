"""What tracing costs: ``go mod download`` of synthetic modules, untraced and under each backend.

    python3 benchmarks/overhead.py [--modules 300] [--rounds 5] [--size 4096]

One lab (a loopback proxy serving ``--modules`` modules) serves every run; every run starts
from an empty GOMODCACHE. Modes, alternating in a rotating order each round:

- ``untraced``: go alone;
- ``raw strace``: ``strace`` with exactly the flags gotrace's strace backend uses;
- ``gotrace strace``/``gotrace sampler``/``gotrace ptrace``/``gotrace ebpf``:
  ``gotrace run --backend X``.

For gotrace the table shows the capture (from start of the command to its end, as meta.json
records it) and the whole command including gotrace's start-up, the analysis and the report,
which is a fixed cost per run, not overhead on the traced command. Goals (issue): gotrace's
strace capture within 10% of raw strace; the sampler within 10% of untraced; ptrace
measured (the ptrace backend aims at 3x of strace); ebpf within 1.5x of untraced (bpftrace
compiles and attaches its program before the command starts, and the log is finished from
bpftrace's records after the capture's end, when every record is in: both are in the whole
command, not the capture). ebpf needs root and bpftrace; without them it is left out.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODES = (
    "untraced",
    "raw strace",
    "gotrace strace",
    "gotrace sampler",
    "gotrace ptrace",
    "gotrace ebpf",
)


def run_once(mode: str, prep: Any, out: Path) -> tuple[float, float | None]:
    """(wall seconds of the whole command, seconds of the capture alone or None)."""
    from gotrace.tracer.strace import build_argv, strace_path

    shutil.rmtree(prep.gomodcache, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    argv = list(prep.argv)
    if mode == "raw strace":
        exe = strace_path()
        assert exe is not None
        out.mkdir(parents=True)
        argv = build_argv(exe, out / "raw.strace", argv)
    elif mode.startswith("gotrace"):
        backend = mode.split()[1]
        argv = [
            sys.executable,
            "-m",
            "gotrace",
            "run",
            "--backend",
            backend,
            "-o",
            str(out),
            "--",
            *argv,
        ]
    t0 = time.perf_counter()
    rc = subprocess.run(
        argv, env=prep.env, cwd=prep.cwd, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
    ).returncode  # fmt: skip
    wall = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"{mode}: exited {rc}")
    capture = None
    if mode.startswith("gotrace"):
        meta = json.loads((out / "meta.json").read_text())
        capture = float(meta["end"]) - float(meta["start"])
    elif mode in ("untraced", "raw strace"):
        capture = wall
    return wall, capture


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modules", type=int, default=300)
    ap.add_argument("--size", type=int, default=4096, help="bytes of Go source per module")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--modes", nargs="*", default=list(MODES), choices=MODES)
    ap.add_argument(
        "--tmpdir",
        type=Path,
        help="where the lab, GOMODCACHE and the captures live (default: the system's temporary "
        "directory); a tmpfs such as /dev/shm takes the file system out of go's time",
    )
    args = ap.parse_args()
    if shutil.which("strace") is None:
        raise SystemExit("strace is not installed: apt-get install strace")
    if "gotrace ebpf" in args.modes:
        from gotrace.tracer.ebpf import unavailable

        refused = unavailable()
        if refused:
            print(f"gotrace ebpf left out: {refused}", file=sys.stderr)
            args.modes.remove("gotrace ebpf")

    if args.tmpdir is not None:
        tempfile.tempdir = str(args.tmpdir)
    from gotrace.lab import Scenario

    def setup(lab: Any) -> None:
        lab.build(args.modules, size=args.size)
        lab.goproxy = lab.proxy("proxy")

    scenario = Scenario(
        "bench-download", f"{args.modules} modules from a healthy proxy", "none", "", 600.0, 0,
        r"\A\Z", setup,
    )  # fmt: skip
    walls: dict[str, list[float]] = {m: [] for m in args.modes}
    captures: dict[str, list[float]] = {m: [] for m in args.modes}
    with scenario.prepare() as prep, tempfile.TemporaryDirectory(prefix="gotrace-overhead-") as tmp:
        out = Path(tmp) / "out"
        run_once("untraced", prep, out)  # warm-up: page cache, go's own start-up
        for i in range(args.rounds):
            order = args.modes[i % len(args.modes) :] + args.modes[: i % len(args.modes)]
            for mode in order:
                wall, capture = run_once(mode, prep, out)
                walls[mode].append(wall)
                if capture is not None:
                    captures[mode].append(capture)
                print(f"round {i + 1} {mode:<16} {wall:7.3f} s", file=sys.stderr)
    base = statistics.median(captures["untraced"]) if "untraced" in args.modes else None
    raw = statistics.median(captures["raw strace"]) if "raw strace" in args.modes else None
    where = tempfile.gettempdir()
    print(
        f"go mod download of {args.modules} modules ({args.size} B each) in {where}, "
        f"median of {args.rounds} rounds\n"
    )
    print("| mode | capture (s) | whole command (s) | capture / untraced | capture / raw strace |")
    print("|---|---:|---:|---:|---:|")
    for mode in args.modes:
        cap = statistics.median(captures[mode])
        wall = statistics.median(walls[mode])
        r_base = f"{cap / base:.2f}x" if base else "-"
        r_raw = f"{cap / raw:.2f}x" if raw else "-"
        print(f"| {mode} | {cap:.2f} | {wall:.2f} | {r_base} | {r_raw} |")


if __name__ == "__main__":
    main()
