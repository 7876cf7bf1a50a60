"""What tracing costs: ``go mod download`` of N synthetic modules from the lab proxy,
untraced, under ``strace -f --seccomp-bpf`` and under gotrace's ptrace backend.

    python3 benchmarks/ptrace_overhead.py [--modules 200] [--rounds 5] [--size 2048]
                                          [--no-futex] [--keep DIR]

All on loopback: one lab ``ModuleProxy`` (127.0.0.1) serves N modules; every run gets a fresh
GOPATH/GOMODCACHE/GOCACHE/HOME, GOTOOLCHAIN=local, GOFLAGS=-modcacherw, GOSUMDB=off. Modes:

  untraced   go mod download, nothing else
  strace     StraceBackend: strace -f -ttt -T -yy -s 256 -e trace=TRACE_SET --seccomp-bpf
  ptrace     PtraceBackend: the same syscall set through its own seccomp filter

With ``--no-futex`` two more modes trace the same set without futex (strace and ptrace), to
see what the futex stops cost. Modes alternate within each round (rotated each round), so a
slow minute hits every mode alike; the table shows the median wall time of each mode, its
ratio to untraced and the ptrace/strace ratio (goal: within 3x). Each traced log is parsed
(``parse_frame``) and its parse errors counted: they must be 0. CPU is user+sys of go and
its tracer (RUSAGE_CHILDREN).

The lab proxy writes headers and body in two sends; with Nagle's algorithm on, every body
then waits ~40 ms for go's delayed ACK and untraced runs measure mostly that, so the
benchmark turns TCP_NODELAY on in the proxy's handler (``--nagle`` keeps the default).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from gotrace.lab.gotool import find_go
from gotrace.lab.modules import build_module, make_specs, write_app, write_proxy_tree
from gotrace.lab.proxy import ModuleProxy
from gotrace.tracer.ptrace import PtraceBackend
from gotrace.tracer.strace import TRACE_SET, StraceBackend

RUN_TIMEOUT = 600.0


def fresh_env(root: Path, proxy_url: str) -> dict[str, str]:
    go = find_go()
    home = root / "home"
    mode = home / ".config" / "go" / "telemetry" / "mode"
    mode.parent.mkdir(parents=True)
    mode.write_text("off\n")  # no telemetry sidecar process
    for name in ("gopath", "gocache", "tmp"):
        (root / name).mkdir()
    env = {
        "PATH": f"{go.binary.parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(root / "tmp"),
        "GOENV": "off",
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-modcacherw",
        "GOPATH": str(root / "gopath"),
        "GOMODCACHE": str(root / "gopath" / "pkg" / "mod"),
        "GOCACHE": str(root / "gocache"),
        "GOPROXY": proxy_url,
        "GOSUMDB": "off",
    }
    if go.goroot is not None:
        env["GOROOT"] = str(go.goroot)
    return env


def run_untraced(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> int:
    proc = subprocess.run(
        argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, timeout=RUN_TIMEOUT
    )
    return proc.returncode


def run_backend(
    backend: StraceBackend | PtraceBackend,
    argv: list[str],
    env: dict[str, str],
    cwd: Path,
    log: Path,
) -> int:
    backend.start(argv, log, env=env, cwd=str(cwd), stderr_devnull=True)
    try:
        return backend.wait(timeout=RUN_TIMEOUT)
    except BaseException:
        backend.kill_all()
        raise


def strace_runner(trace_set: str) -> Callable[[list[str], dict[str, str], Path, Path], int]:
    def run(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> int:
        backend = StraceBackend()
        # StraceBackend always uses TRACE_SET; a narrower set needs its own argv.
        if trace_set == TRACE_SET:
            return run_backend(backend, argv, env, cwd, log)
        from gotrace.tracer.strace import build_argv

        full = build_argv(backend.exe, log, argv, trace_set=trace_set)
        proc = subprocess.run(
            full,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=RUN_TIMEOUT,
        )
        return proc.returncode

    return run


def ptrace_runner(trace_futex: bool) -> Callable[[list[str], dict[str, str], Path, Path], int]:
    def run(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> int:
        return run_backend(PtraceBackend(trace_futex=trace_futex), argv, env, cwd, log)

    return run


def count_parse_errors(log: Path) -> tuple[int, int]:
    from gotrace.parsers.strace import parse_frame

    df = parse_frame(log)
    return df.height, int((df["kind"] == "parse_error").sum())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modules", type=int, default=200)
    ap.add_argument("--size", type=int, default=2048, help="bytes of Go source per module")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-futex", action="store_true", help="also trace without futex")
    ap.add_argument("--keep", type=Path, help="keep the logs of the last round here")
    ap.add_argument(
        "--nagle",
        action="store_true",
        help="leave Nagle's algorithm on in the proxy (each response then waits ~40 ms for "
        "a delayed ACK and the runs measure mostly that)",
    )
    args = ap.parse_args()
    if not args.nagle:
        # The lab proxy writes headers and body separately; with Nagle on, the body waits for
        # go's delayed ACK. A real proxy sets TCP_NODELAY; so does this benchmark's.
        from gotrace.lab import proxy as lab_proxy

        lab_proxy._Handler.disable_nagle_algorithm = True
    if shutil.which("strace") is None:
        print("strace is not installed; the comparison needs it", file=sys.stderr)
        return 1
    go = find_go()
    print(f"{go.version}, {args.modules} modules of {args.size} bytes, {args.rounds} rounds")
    modes: dict[str, Callable[[list[str], dict[str, str], Path, Path], int]] = {
        "untraced": run_untraced,
        "strace": strace_runner(TRACE_SET),
        "ptrace": ptrace_runner(True),
    }
    if args.no_futex:
        no_futex = ",".join(s for s in TRACE_SET.split(",") if s != "futex")
        modes["strace-nofutex"] = strace_runner(no_futex)
        modes["ptrace-nofutex"] = ptrace_runner(False)
    times: dict[str, list[float]] = {m: [] for m in modes}
    cpu: dict[str, list[float]] = {m: [] for m in modes}
    lines: dict[str, int] = {}
    errors: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="gotrace-bench-") as tmp:
        work = Path(tmp)
        modules = [build_module(s) for s in make_specs(args.modules, size=args.size)]
        write_proxy_tree(work / "proxy", modules)
        with ModuleProxy(work / "proxy") as proxy:
            names = list(modes)
            for rnd in range(args.rounds):
                order = names[rnd % len(names) :] + names[: rnd % len(names)]
                for mode in order:
                    root = work / f"run-{rnd}-{mode}"
                    root.mkdir()
                    env = fresh_env(root, proxy.url)
                    app = write_app(root / "app", modules)
                    log = root / "trace.strace"
                    argv = [str(go.binary), "mod", "download"]
                    before = resource.getrusage(resource.RUSAGE_CHILDREN)
                    t0 = time.perf_counter()
                    rc = modes[mode](argv, env, app, log)
                    elapsed = time.perf_counter() - t0
                    after = resource.getrusage(resource.RUSAGE_CHILDREN)
                    # go + its tracer (strace, or the forked ptrace tracer that reaps go)
                    cpu[mode].append(
                        after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                    )
                    if rc != 0:
                        print(f"round {rnd} {mode}: go exited {rc}", file=sys.stderr)
                        return 1
                    times[mode].append(elapsed)
                    if log.exists():
                        lines[mode], errors[mode] = count_parse_errors(log)
                        if args.keep is not None and rnd == args.rounds - 1:
                            args.keep.mkdir(parents=True, exist_ok=True)
                            shutil.copy(log, args.keep / f"{mode}.strace")
                    print(
                        f"  round {rnd} {mode:15s} {elapsed:7.3f} s  cpu {cpu[mode][-1]:6.3f} s",
                        flush=True,
                    )
                    _chmod_rm(root)
    base = statistics.median(times["untraced"])
    print(f"\n{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end")
    print(
        "| mode | median wall s | vs untraced | vs strace | median CPU s | events | parse errors |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for mode in modes:
        med = statistics.median(times[mode])
        ref = statistics.median(times["strace-nofutex" if "nofutex" in mode else "strace"])
        vs = f"{med / ref:.2f}x" if mode != "untraced" else ""
        print(
            f"| {mode} | {med:.3f} | {med / base:.2f}x | {vs} | "
            f"{statistics.median(cpu[mode]):.3f} | {lines.get(mode, '')} | {errors.get(mode, '')} |"
        )
    ratio = statistics.median(times["ptrace"]) / statistics.median(times["strace"])
    print(f"\nptrace / strace = {ratio:.2f}x wall (goal: within 3x)")
    return 0 if all(v == 0 for v in errors.values()) else 1


def _chmod_rm(path: Path) -> None:
    for dirpath, dirnames, _ in os.walk(path):
        for d in dirnames:
            os.chmod(os.path.join(dirpath, d), 0o755)
    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
