"""``gotrace run``: trace a command live, say what it waits on, and pass its exit status through."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from gotrace.trace import Trace
    from gotrace.tracer import Backend
    from gotrace.tracer.sampler import ProcSampler
    from gotrace.tracer.tree import RunTree

#: environment variables recorded in meta.json (values of secret-looking names are redacted)
ENV_PREFIXES = ("GO", "GIT_", "CGO_")
ENV_CONTAINS = ("PROXY",)


def run(
    command: Annotated[list[str], typer.Argument(help="The command to trace, after --.")],
    out: Annotated[
        str | None,
        typer.Option("--out", "-o", help="Output directory (default gotrace-YYYYmmdd-HHMMSS)."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Reuse an existing output directory.")] = False,
    backend: Annotated[
        str,
        typer.Option(
            help="auto (strace when installed, else ptrace), strace, ptrace (python-ptrace), "
            "sampler (/proc only: no ptrace, near-zero overhead) or dtruss (macOS)."
        ),
    ] = "auto",
    sample_interval: Annotated[
        float, typer.Option(help="Seconds between /proc samples of the watchdog.")
    ] = 0.1,
    timeout: Annotated[
        float | None,
        typer.Option(
            help="Stop the command after this many seconds (SIGTERM, then SIGKILL).",
        ),
    ] = None,
    quiet_after: Annotated[
        float,
        typer.Option(
            help="Say what the command waits on after this many seconds without progress."
        ),
    ] = 5.0,
    go_x: Annotated[
        bool,
        typer.Option(
            "--go-x", help="Add -x to go's flags so its HTTP and git steps land in the trace."
        ),
    ] = False,
    string_size: Annotated[
        int, typer.Option(help="strace -s: bytes of each buffer to keep.")
    ] = 256,
    json_file: Annotated[
        str | None,
        typer.Option(
            "--json",
            metavar="FILE",
            help="Also write the analysis as one JSON object to FILE ('-': stdout, after the "
            "command's own output). The text report always goes to stderr.",
        ),
    ] = None,
    no_redact: Annotated[
        bool, typer.Option("--no-redact", help="Keep secrets in the saved events and report.")
    ] = False,
    html: Annotated[
        str | None,
        typer.Option("--html", help="Also write the HTML report (as gotrace report) to FILE."),
    ] = None,
    summary: Annotated[
        str | None,
        typer.Option(
            help="Append a Markdown summary to FILE (default: $GITHUB_STEP_SUMMARY when set)."
        ),
    ] = None,
    keep_on_success: Annotated[
        bool,
        typer.Option(help="Keep the capture when the command succeeds (see --keep-on-failure)."),
    ] = False,
    keep_on_failure: Annotated[
        bool,
        typer.Option(
            help="Keep the capture only when the command fails (with neither flag: always)."
        ),
    ] = False,
) -> None:
    """Run COMMAND under a syscall tracer, save the raw trace, meta.json and events.parquet
    into the output directory, print the analysis, and exit with COMMAND's exit status."""
    from gotrace.errors import UsageError

    if not command:
        raise UsageError("no command given: gotrace run -- go mod download")
    for option, value in (("--timeout", timeout), ("--quiet-after", quiet_after)):
        if value is not None and not value > 0:
            raise UsageError(f"{option} {value:g}: must be more than 0 seconds")
    if not sample_interval > 0:
        raise UsageError(f"--sample-interval {sample_interval:g}: must be more than 0 seconds")
    if string_size < 1:
        raise UsageError(f"--string-size {string_size}: must be at least 1")
    cmd = add_go_x(command) if go_x else list(command)
    from gotrace.cli.common import output_path

    for target in (html, json_file):
        if target is not None:
            output_path(target, force=force)  # refuse before tracing, not after
    outcome = execute(
        cmd,
        out,
        force=force,
        timeout=timeout,
        quiet_after=quiet_after,
        string_size=string_size,
        json_file=json_file,
        redact=not no_redact,
        html=html,
        backend=backend,
        sample_interval=sample_interval,
        ci={
            "summary": summary,
            "keep_on_success": keep_on_success,
            "keep_on_failure": keep_on_failure,
        },
    )
    raise typer.Exit(outcome.status)


@dataclass
class RunOutcome:
    """What one traced run gave: the exit status gotrace passes on, the capture's directory,
    and the analysed trace (None when the analysis failed; the raw trace is still there)."""

    status: int
    outdir: Path
    trace: Trace | None = None


class _Signalled(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _SignalGuard:
    """SIGINT, SIGTERM and SIGHUP to gotrace all do what Ctrl-C does: the first one raises
    :class:`_Signalled` in the main loop; later ones only make the stop more urgent."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.received: list[int] = []
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _SignalGuard:
        try:
            for sig in self.SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        except ValueError:  # not the main thread: signals stay as they are
            self.__exit__()
        return self

    def _handle(self, signum: int, frame: object) -> None:
        self.received.append(signum)
        if len(self.received) == 1:
            raise _Signalled(signum)

    @property
    def urgent(self) -> bool:
        return len(self.received) > 1

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()


class _Stopper:
    """Every signal gotrace sends, recorded for meta.json (``gotrace_signals``): the analysis
    must never blame gotrace's own timeout or forwarding for what the command did."""

    def __init__(self, tracer: Backend, tree: RunTree, guard: _SignalGuard) -> None:
        self.tracer = tracer
        self.tree = tree
        self.guard = guard
        self.sent: list[dict[str, Any]] = []

    def _record(self, sig: int, pid: int | None, why: str) -> None:
        self.sent.append(
            {"ts": time.time(), "signal": signal.Signals(sig).name, "pid": pid, "why": why}
        )

    def command(self, sig: int, why: str) -> None:
        root = self.tracer.poll_root()
        self._record(sig, root, why)
        self.tracer.signal_command(sig)

    def end_tree(self, why: str, *, grace: float = 2.0) -> None:
        """SIGTERM everything of the run that is left (git, ssh, the tracer), then SIGKILL."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self.tree.signal_all(sig):
                self._record(sig, pid, why)
            if sig == signal.SIGKILL or (self.wait(grace) and not self.tree.pids()):
                break

    def wait(self, seconds: float) -> bool:
        """Wait for the capture to end by itself; True when it did. A second signal to
        gotrace cuts the wait short."""
        deadline = time.monotonic() + seconds
        while self.tracer.running():
            if self.guard.urgent or (
                time.monotonic() >= deadline and self.tracer.captured_at is None
            ):
                # a capture that is complete is only writing its log: never cut that short
                return False
            time.sleep(0.05)
        return True


def execute(
    cmd: list[str],
    out: str | Path | None,
    *,
    force: bool = False,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
    stop_signal: int = signal.SIGTERM,
    quiet_after: float = 5.0,
    stderr_devnull: bool = False,
    string_size: int = 256,
    json_file: str | None = None,
    redact: bool = True,
    extra_meta: dict[str, Any] | None = None,
    html: str | None = None,
    backend: str = "auto",
    sample_interval: float = 0.1,
    label: str | None = None,
    ci: dict[str, Any] | None = None,
) -> RunOutcome:
    """Trace ``cmd`` into ``out``, print the analysis, return the command's exit status.

    The raw log is written by the tracer as the command runs, so it survives a failed
    analysis, a signal to gotrace and a full disk. A SIGINT, SIGTERM or SIGHUP to gotrace is
    forwarded to the command; whatever of the traced tree is left after a grace period is
    ended; the capture is analysed; the status is then 128+N for signal N. ``label`` names
    the capture in the report instead of its directory (one that will not be kept)."""
    from gotrace.errors import GotraceError
    from gotrace.tracer import make_backend
    from gotrace.tracer.sampler import ProcSampler, gomodcache_from_env
    from gotrace.tracer.strace import check_command, exit_from_returncode, first_pid
    from gotrace.tracer.tree import RunTree

    run_env = dict(os.environ) if env is None else env
    genv = go_env(cmd, run_env, cwd)
    modcache = str((genv or {}).get("GOMODCACHE") or gomodcache_from_env(run_env) or "") or None
    tracer = make_backend(
        backend, string_size=string_size, sample_interval=sample_interval, gomodcache=modcache
    )
    check_command(cmd, run_env)
    outdir, made = _outdir(str(out) if out else None, force)
    samples_log = outdir / "samples.jsonl"
    sampler_only = tracer.name == "sampler"
    log = (
        samples_log
        if sampler_only
        else outdir / ("trace.dtruss" if tracer.name == "dtruss" else "trace.strace")
    )
    meta: dict[str, Any] = {
        "argv": cmd,
        "cwd": str(cwd or os.getcwd()),
        "env": selected_env(run_env),
        "go_env": genv,
        "backend": {
            "name": tracer.name,
            "version": tracer.version,
            "exe": tracer.exe,
            "string_size": string_size,
        },
        "watchdog": {"samples": samples_log.name, "interval": sample_interval},
        "start": time.time(),
        "run_id": uuid.uuid4().hex,
        "host": socket.gethostname(),
        "stderr": "/dev/null" if stderr_devnull else "inherited",
        **(extra_meta or {}),
    }
    try:
        _write_meta(outdir, meta)
    except OSError as exc:
        _remove_made(outdir, made)
        raise GotraceError(
            f"{outdir / 'meta.json'}: cannot write ({exc.strerror}); nothing was run"
        ) from exc
    from gotrace.cli.monitor import Monitor, SampleMonitor

    tty = sys.stderr.isatty()
    monitor = (
        None
        if sampler_only or tracer.name == "dtruss"
        else Monitor(log, quiet_after=quiet_after, tty=tty)
    )
    watch = SampleMonitor(
        quiet_after=quiet_after, tty=tty, prefix="" if sampler_only else "/proc: "
    )
    watchdog: ProcSampler | None = None

    def poll_all() -> None:
        # the trace's view, and the /proc watchdog's (it sees lock holders and socket
        # queues, which no syscall shows); with the sampler backend, only the latter
        nonlocal watchdog
        root = tracer.poll_root()
        drain = getattr(tracer, "drain", None)
        if drain is not None:
            watch.poll(drain())
            return
        if watchdog is None and root is not None:
            watchdog = ProcSampler(root, modcache, sample_interval)
            watchdog.start(samples_log)
        if monitor is not None:
            monitor.poll()
        watch.poll(
            watchdog.drain() if watchdog is not None else [], quiet=monitor is None or monitor.quiet
        )

    timed_out = False
    received: int | None = None
    tree = RunTree()
    with _SignalGuard() as guard:
        stopper = _Stopper(tracer, tree, guard)
        try:
            try:
                # the capture starts with the command (not with gotrace's own set-up)
                meta["start"] = time.time()
                tracer.start(
                    cmd,
                    log,
                    env=run_env,
                    cwd=str(cwd) if cwd else None,
                    stderr_devnull=stderr_devnull,
                )
            except BaseException:
                _close_relay(tracer)
                tree.close()
                _remove_made(outdir, made)
                raise
            deadline = None if timeout is None else time.monotonic() + timeout
            end_at: float | None = None
            poll_all()
            while tracer.running():
                time.sleep(0.2)
                poll_all()
                now = time.monotonic()
                if deadline is not None and now > deadline and not timed_out:
                    timed_out = True
                    print(
                        f"gotrace: timeout of {timeout:g} s reached: stopping the command",
                        file=sys.stderr,
                    )
                    stopper.command(stop_signal, "timeout")
                    end_at = now + 3.0
                if end_at is not None and now > end_at and tracer.captured_at is None:
                    # the command (or git, ssh...) outlived its signal: end the whole tree
                    stopper.end_tree("timeout")
                    end_at = None
        except _Signalled as sig:
            received = sig.signum
            print(
                f"\ngotrace: interrupted by {sig}: stopping the command, keeping the trace",
                file=sys.stderr,
            )
            stopper.command(received, "forwarded")
            if not stopper.wait(5.0):
                stopper.end_tree("cleanup")
        finally:
            if tracer.running() and not stopper.wait(10.0):
                stopper.end_tree("cleanup")
                if tracer.running():
                    tracer.kill_all()
            if watchdog is not None:
                watchdog.stop()
            _close_relay(tracer)
            if monitor is not None:
                monitor.poll()
                monitor.finish()
            tree.close()
    status, sig_name = exit_from_returncode(tracer.wait())
    if tracer.root_pid is None and not sampler_only:
        tracer.root_pid = first_pid(log)
    if not sampler_only and status != 0 and (not log.exists() or log.stat().st_size == 0):
        # the tracer never got to trace anything: it said why on stderr just above
        _remove_made(outdir, made)
        raise GotraceError(
            f"{tracer.name} could not trace {cmd[0]} (its message is above): ptrace may not be "
            "permitted here (kernel.yama.ptrace_scope, or a container without CAP_SYS_PTRACE); "
            "try --backend sampler, which needs no ptrace"
        )
    problems = _write_problems(tracer, watchdog, samples_log)
    meta.update(
        # the capture's end; a backend that writes its log after it says when it was
        end=tracer.captured_at or time.time(),
        exit_status=status,
        signal=sig_name,
        timed_out=timed_out,
        interrupted=received is not None,
        received_signal=signal.Signals(received).name if received is not None else None,
        gotrace_signals=stopper.sent,
        seccomp_bpf=tracer.seccomp_active,
        tracer_notes=list(getattr(tracer, "notes", [])) + problems,
        root_pid=tracer.root_pid,
    )
    try:
        _write_meta(outdir, meta)
    except OSError as exc:
        problems.append(f"{outdir / 'meta.json'}: {os_reason(exc)}: the run's end was not recorded")
    for line in problems:
        print(f"gotrace: error: {line}", file=sys.stderr)
    final = 128 + received if received is not None else status
    from gotrace.cli.ci import finish

    try:
        trace = _analyze(outdir, json_file=json_file, redact=redact, html=html, label=label)
        if ci is not None:
            finish(outdir, trace, final, redact=redact, **ci)
    except GotraceError as exc:
        print(f"gotrace: error: analysis failed: {exc}; the raw trace is in {log}", file=sys.stderr)
        return RunOutcome(final if final else 1, outdir)
    except Exception as exc:
        print(
            f"gotrace: error: analysis failed ({type(exc).__name__}: {exc}); the raw trace is in {log}",
            file=sys.stderr,
        )
        return RunOutcome(final if final else 1, outdir)
    return RunOutcome(final, outdir, trace)


def _close_relay(tracer: Backend) -> None:
    relay = getattr(tracer, "relay", None)
    if relay is not None:
        relay.close()


def _write_problems(tracer: Backend, watchdog: ProcSampler | None, samples: Path) -> list[str]:
    """What could not be written during the run (a full disk), one line each."""
    out = []
    relay = getattr(tracer, "relay", None)
    trace_problem = relay.describe_error() if relay is not None else None
    if trace_problem is not None:
        out.append(trace_problem)
    if watchdog is not None and watchdog.write_error is not None:
        out.append(f"{samples}: {os_reason(watchdog.write_error)}: the /proc samples stop there")
    return out


def _remove_made(outdir: Path, made: bool) -> None:
    """A run that never started leaves nothing behind that would block the next one."""
    import shutil

    if made:
        shutil.rmtree(outdir, ignore_errors=True)
    else:
        for name in ("meta.json", "trace.strace", "trace.dtruss", "samples.jsonl"):
            (outdir / name).unlink(missing_ok=True)


def _outdir(out: str | None, force: bool) -> tuple[Path, bool]:
    """The output directory, absolute (the command and the tracer may run elsewhere), and
    whether we made it (a failed start then removes it again)."""
    from gotrace.errors import GotraceError, UsageError

    path = (Path(out) if out else Path(time.strftime("gotrace-%Y%m%d-%H%M%S"))).absolute()
    if path.exists() and not force:
        raise UsageError(f"{path}: already exists (use --force to reuse it)")
    made = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        if made:
            _remove_made(path, made)
        raise GotraceError(f"{path}: output directory not writable ({exc.strerror})") from exc
    return path, made


def _write_meta(outdir: Path, meta: dict[str, Any]) -> None:
    from gotrace.redact import redact_env

    safe = dict(meta)
    safe["env"] = redact_env(meta.get("env") or {})
    if isinstance(meta.get("go_env"), dict):
        safe["go_env"] = redact_env(meta["go_env"])
    (outdir / "meta.json").write_text(json.dumps(safe, indent=2, sort_keys=True) + "\n")


def _analyze(
    outdir: Path,
    *,
    json_file: str | None,
    redact: bool,
    html: str | None = None,
    label: str | None = None,
) -> Trace:
    """Save events.parquet, then print exactly what ``gotrace analyze DIR`` prints to stderr
    (the command's own stdout stays its own); write the JSON ``gotrace analyze --json DIR``
    prints to ``json_file`` and the page ``gotrace report DIR`` writes to ``html``."""
    from gotrace.cli.common import report, write_text
    from gotrace.trace import load

    trace = load(outdir, redact=redact)
    if trace.frame.height or (outdir / "trace.strace").exists():
        try:
            trace.save(outdir / "events.parquet")
        except OSError as exc:
            print(
                f"gotrace: error: {outdir / 'events.parquet'}: {os_reason(exc)}: not written "
                "(the raw trace is complete up to where the disk filled)",
                file=sys.stderr,
            )
    if label is not None:
        trace = trace.replace(meta={**trace.meta, "source": label})
    sys.stderr.write(report(trace, json_out=False))
    if json_file is not None:
        write_text(report(trace, json_out=True), None if json_file == "-" else Path(json_file))
    if html is not None:
        from gotrace.reporters.html import render_html

        page = render_html(trace.report, redact=redact)
        write_text(page, None if html == "-" else Path(html))
        if html != "-":
            print(f"gotrace: wrote the report to {html}", file=sys.stderr)
    return trace


def os_reason(exc: OSError) -> str:
    """The errno's message, also for pyarrow, which puts it only in the text."""
    if exc.strerror:
        return exc.strerror
    m = re.search(r"\[errno (\d+)\]", str(exc))
    return os.strerror(int(m.group(1))) if m else str(exc)


def selected_env(env: dict[str, str]) -> dict[str, str]:
    return {
        k: v
        for k, v in sorted(env.items())
        if k.startswith(ENV_PREFIXES) or any(s in k.upper() for s in ENV_CONTAINS)
    }


def go_env(cmd: list[str], env: dict[str, str], cwd: Path | None) -> dict[str, Any] | None:
    """``go env -json`` before the run, in the same directory and environment, when the
    command is go (also behind ``ip netns exec NS``)."""
    import subprocess

    go = next((c for c in cmd if Path(c).name == "go"), None)
    if go is None:
        return None
    try:
        r = subprocess.run(
            [go, "env", "-json"], capture_output=True, text=True, timeout=20, env=env, cwd=cwd
        )
        value = json.loads(r.stdout) if r.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def add_go_x(cmd: list[str]) -> list[str]:
    """``go mod download`` -> ``go mod download -x``: -x goes after the (sub)command."""
    if not cmd or Path(cmd[0]).name != "go" or len(cmd) < 2 or "-x" in cmd:
        return list(cmd)
    at = 3 if cmd[1] in ("mod", "work") and len(cmd) > 2 else 2
    return [*cmd[:at], "-x", *cmd[at:]]
