"""Sampler overhead: ``go mod download`` of synthetic modules, untraced vs under the /proc sampler.

    python3 benchmarks/sampler_overhead.py [--modules 200] [--size 4096] [--rounds 7]
                                           [--interval 0.1]

One lab (loopback proxy serving ``--modules`` modules, the lab's environment) serves every run;
each run starts from an empty GOMODCACHE. Each run is a child process
(``--child plain|sampler``) so the sampler thread never shares a GIL with the proxy's
threads, as it would not in real use; the child times Popen-to-exit of go alone (Python's
start-up is outside the measurement) and reports its own CPU time, which is the sampler's
cost in the ``sampler`` mode. Runs alternate (plain, sampler, then sampler, plain, ...), and
the medians are compared. Goal: sampled wall time within 10% of untraced.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GOAL_RATIO = 1.10


def child(mode: str, spec_path: Path, interval: float) -> None:
    """Run go once (``plain``) or under SamplerBackend (``sampler``); print one JSON line."""
    spec = json.loads(spec_path.read_text())
    samples = 0
    took: list[float] = []
    log = Path(spec["log"])
    if mode == "plain":
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            spec["argv"], env=spec["env"], cwd=spec["cwd"], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        rc = proc.wait()
        wall = time.perf_counter() - t0
    else:
        from gotrace.model.samples import read_samples
        from gotrace.tracer.sampler import SamplerBackend

        backend = SamplerBackend(interval=interval, gomodcache=spec["gomodcache"])
        t0 = time.perf_counter()
        backend.start(spec["argv"], log, env=spec["env"], cwd=spec["cwd"], stderr_devnull=True)
        rc = backend.wait()
        wall = time.perf_counter() - t0
        got = read_samples(log)
        samples = len(got)
        took = [s.took for s in got]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "mode": mode,
                "wall": wall,
                "rc": rc,
                "self_cpu": usage.ru_utime + usage.ru_stime,
                "samples": samples,
                "took_median": statistics.median(took) if took else None,
                "took_max": max(took) if took else None,
            }
        )
    )


def run_child(mode: str, spec_path: Path, interval: float) -> dict[str, Any]:
    r = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--spec", str(spec_path),
         "--interval", str(interval)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if r.returncode != 0:
        raise SystemExit(f"child {mode} failed: {r.stderr.strip()}")
    result: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
    return result


def count_zips(gomodcache: Path) -> int:
    root = gomodcache / "cache" / "download"
    return sum(1 for _ in root.rglob("*.zip")) if root.exists() else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modules", type=int, default=200)
    ap.add_argument("--size", type=int, default=4096, help="bytes of Go source per module")
    ap.add_argument("--rounds", type=int, default=7, help="runs of each mode")
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--child", choices=("plain", "sampler"), help=argparse.SUPPRESS)
    ap.add_argument("--spec", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.spec, args.interval)
        return

    from gotrace.lab import Scenario

    def setup(lab: Any) -> None:
        lab.build(args.modules, size=args.size)
        lab.goproxy = lab.proxy("proxy")

    scenario = Scenario(
        "bench-download", f"{args.modules} modules from a healthy proxy", "none", "", 300.0, 0,
        r"\A\Z", setup,
    )  # fmt: skip
    results: dict[str, list[dict[str, Any]]] = {"plain": [], "sampler": []}
    with scenario.prepare() as prep, tempfile.TemporaryDirectory(prefix="sampler-bench-") as tmp:
        spec_path = Path(tmp) / "spec.json"
        log = Path(tmp) / "samples.jsonl"
        spec = {
            "argv": prep.argv,
            "env": prep.env,
            "cwd": str(prep.cwd),
            "gomodcache": str(prep.gomodcache),
            "log": str(log),
        }
        spec_path.write_text(json.dumps(spec))

        def fresh() -> None:
            shutil.rmtree(prep.gomodcache, ignore_errors=True)
            log.unlink(missing_ok=True)

        fresh()
        run_child("plain", spec_path, args.interval)  # warm-up: page cache, go's own start-up
        for i in range(args.rounds):
            order = ("plain", "sampler") if i % 2 == 0 else ("sampler", "plain")
            for mode in order:
                fresh()
                res = run_child(mode, spec_path, args.interval)
                zips = count_zips(prep.gomodcache)
                if res["rc"] != 0 or zips != args.modules:
                    raise SystemExit(f"{mode} run {i}: go exited {res['rc']}, {zips} zips")
                results[mode].append(res)
                print(
                    f"round {i + 1} {mode:<7} {res['wall']:.3f} s"
                    + (
                        f"  ({res['samples']} samples, {res['took_median'] * 1000:.2f} ms "
                        f"median each, gotrace CPU {res['self_cpu']:.2f} s)"
                        if mode == "sampler"
                        else ""
                    ),
                    file=sys.stderr,
                )
        fresh()
    plain = statistics.median(r["wall"] for r in results["plain"])
    sampled = statistics.median(r["wall"] for r in results["sampler"])
    ratio = sampled / plain
    cpu_plain = statistics.median(r["self_cpu"] for r in results["plain"])
    cpu_sampled = statistics.median(r["self_cpu"] for r in results["sampler"])
    took = statistics.median(r["took_median"] for r in results["sampler"])
    print(f"go mod download of {args.modules} modules ({args.size} B each), {args.rounds} rounds,")
    print(f"interval {args.interval * 1000:.0f} ms, {os.cpu_count()} CPUs")
    print(f"  untraced       median {plain:.3f} s")
    print(f"  sampler        median {sampled:.3f} s   ratio {ratio:.3f}")
    print(f"  one sample     median {took * 1000:.2f} ms")
    print(f"  gotrace CPU    {cpu_sampled:.2f} s sampled vs {cpu_plain:.2f} s untraced")
    verdict = "meets" if ratio <= GOAL_RATIO else "MISSES"
    print(f"  {verdict} the goal (ratio <= {GOAL_RATIO:.2f})")


if __name__ == "__main__":
    main()
