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
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from gotrace.api import Trace

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
        typer.Option(help="Stop the command after this many seconds (SIGTERM, then SIGKILL)."),
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
    json_out: Annotated[bool, typer.Option("--json", help="Print the analysis as JSON.")] = False,
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
    cmd = add_go_x(command) if go_x else list(command)
    if html is not None:
        from gotrace.cli.common import output_path

        output_path(html, force=force)  # refuse before tracing, not after
    status = execute(
        cmd,
        out,
        force=force,
        timeout=timeout,
        quiet_after=quiet_after,
        string_size=string_size,
        json_out=json_out,
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
    raise typer.Exit(status)


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
    json_out: bool = False,
    redact: bool = True,
    extra_meta: dict[str, Any] | None = None,
    html: str | None = None,
    backend: str = "auto",
    sample_interval: float = 0.1,
    ci: dict[str, Any] | None = None,
) -> int:
    """Trace ``cmd`` into ``out``, print the analysis, return the command's exit status.

    The raw log is written by the tracer as the command runs, so it survives a failed
    analysis and a Ctrl-C."""
    from gotrace.errors import GotraceError
    from gotrace.tracer import make_backend
    from gotrace.tracer.sampler import ProcSampler, gomodcache_from_env
    from gotrace.tracer.strace import check_command, exit_from_returncode, first_pid

    run_env = dict(os.environ) if env is None else env
    genv = go_env(cmd, run_env, cwd)
    modcache = str((genv or {}).get("GOMODCACHE") or gomodcache_from_env(run_env) or "") or None
    tracer = make_backend(
        backend, string_size=string_size, sample_interval=sample_interval, gomodcache=modcache
    )
    check_command(cmd, run_env)
    outdir = _outdir(str(out) if out else None, force)
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
    _write_meta(outdir, meta)
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

    interrupted = timed_out = False
    tracer.start(
        cmd, log, env=run_env, cwd=str(cwd) if cwd else None, stderr_devnull=stderr_devnull
    )
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        poll_all()
        while tracer.running():
            time.sleep(0.2)
            poll_all()
            if timed_out and deadline is not None and time.monotonic() > deadline + 10:
                # the command outlived its signals (or was never found): end everything
                tracer.kill_all()
            if deadline is not None and time.monotonic() > deadline and not timed_out:
                timed_out = True
                print(
                    f"gotrace: timeout of {timeout:g} s reached: stopping the command",
                    file=sys.stderr,
                )
                if stop_signal == signal.SIGKILL:
                    tracer.signal_command(signal.SIGKILL)
                else:
                    tracer.stop_command()
    except KeyboardInterrupt:
        interrupted = True
        print("\ngotrace: interrupted: stopping the command, keeping the trace", file=sys.stderr)
        tracer.signal_command(signal.SIGINT)
        try:
            tracer.wait(timeout=5)
        except Exception:
            tracer.stop_command()
    finally:
        if tracer.running():
            try:
                tracer.wait(timeout=10)
            except Exception:
                tracer.kill_all()
        if watchdog is not None:
            watchdog.stop()
        if monitor is not None:
            monitor.poll()
            monitor.finish()
    status, sig = exit_from_returncode(tracer.wait())
    if tracer.root_pid is None and not sampler_only:
        tracer.root_pid = first_pid(log)
    if not sampler_only and status != 0 and (not log.exists() or log.stat().st_size == 0):
        # the tracer never got to trace anything: it said why on stderr just above
        raise GotraceError(
            f"{tracer.name} could not trace {cmd[0]} (its message is above): ptrace may not be "
            "permitted here (kernel.yama.ptrace_scope, or a container without CAP_SYS_PTRACE); "
            "try --backend sampler, which needs no ptrace"
        )
    meta.update(
        end=time.time(),
        exit_status=status,
        signal=sig,
        timed_out=timed_out,
        interrupted=interrupted,
        seccomp_bpf=tracer.seccomp_active,
        tracer_notes=list(getattr(tracer, "notes", [])),
        root_pid=tracer.root_pid,
    )
    _write_meta(outdir, meta)
    try:
        trace = _analyze(outdir, json_out=json_out, redact=redact, html=html)
        if ci is not None:
            from gotrace.cli.ci import finish

            finish(outdir, trace, status, redact=redact, **ci)
    except GotraceError as exc:
        print(f"gotrace: error: analysis failed: {exc}; the raw trace is in {log}", file=sys.stderr)
        return status if status else 1
    except Exception as exc:
        print(
            f"gotrace: error: analysis failed ({type(exc).__name__}: {exc}); the raw trace is in {log}",
            file=sys.stderr,
        )
        return status if status else 1
    return status


def _outdir(out: str | None, force: bool) -> Path:
    from gotrace.errors import GotraceError, UsageError

    path = Path(out) if out else Path(time.strftime("gotrace-%Y%m%d-%H%M%S"))
    if path.exists() and not force:
        raise UsageError(f"{path}: already exists (use --force to reuse it)")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise GotraceError(f"{path}: output directory not writable ({exc.strerror})") from exc
    return path


def _write_meta(outdir: Path, meta: dict[str, Any]) -> None:
    from gotrace.redact import redact_env

    safe = dict(meta)
    safe["env"] = redact_env(meta.get("env") or {})
    if isinstance(meta.get("go_env"), dict):
        safe["go_env"] = redact_env(meta["go_env"])
    (outdir / "meta.json").write_text(json.dumps(safe, indent=2, sort_keys=True) + "\n")


def _analyze(outdir: Path, *, json_out: bool, redact: bool, html: str | None = None) -> Trace:
    """Save events.parquet, then print exactly what ``gotrace analyze DIR`` prints (and write
    the page ``gotrace report DIR`` writes, when ``html`` names a file)."""
    from gotrace.api import load
    from gotrace.cli.common import report

    trace = load(outdir, redact=redact)
    if trace.frame.height or (outdir / "trace.strace").exists():
        trace.save(outdir / "events.parquet")
    sys.stderr.write(report(trace, json_out=json_out))
    if html is not None:
        from gotrace.cli.common import write_text
        from gotrace.reporters.html import render_html

        page = render_html(trace, context=trace.context, analysis=trace.analysis, redact=redact)
        write_text(page, None if html == "-" else Path(html))
        if html != "-":
            print(f"gotrace: wrote the report to {html}", file=sys.stderr)
    return trace


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


#: "PID EPOCH.USEC name(" or "PID EPOCH.USEC <... name resumed>" (the -f -ttt leader gotrace uses)
_QUICK_LEADER = re.compile(rb"^(\d+) +(\d+\.\d+) (<\.\.\. )?([a-z_0-9]+)[( ]")


class Monitor:
    """Reads the log as it grows; shows progress on a TTY and says what the command waits on
    once it has been quiet for ``quiet_after`` seconds."""

    def __init__(self, log: Path, *, quiet_after: float, tty: bool) -> None:
        from gotrace.analyzers.live import LiveState

        self.log = log
        self.quiet_after = quiet_after
        self.tty = tty
        self.state = LiveState()
        self.offset = 0
        self.partial = b""
        self.started = time.time()
        self.quiet_said_at: float | None = None
        self.last_status = 0.0
        self.quiet = False
        from gotrace.analyzers.live import NOISE

        self._noise = frozenset(n.encode() for n in NOISE)

    def poll(self) -> None:
        from gotrace.parsers.lines import parse_line

        try:
            with open(self.log, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return
        self.offset += len(data)
        buf = self.partial + data
        *lines, self.partial = buf.split(b"\n")
        noise = self._noise
        for raw in lines:
            quick = _QUICK_LEADER.match(raw)
            if quick is not None and quick.group(4) in noise:
                # most of a Go trace: parsed from its leader alone, not line by line in full
                rk = (
                    "resumed"
                    if quick.group(3)
                    else ("unfinished" if raw.endswith(b"<unfinished ...>") else "call")
                )
                self.state.feed_noise(
                    int(quick.group(1)), float(quick.group(2)), quick.group(4).decode(), rk
                )
                continue
            rec = parse_line(raw.decode("utf-8", "replace"))
            ts = float(rec["num"]) if rec.get("num") else None
            self.state.feed(rec, ts)
        if self.state.last_progress is None and self.state.lines:
            self.state.last_progress = time.time()
        now = time.time()
        quiet = self.state.quiet_for(now)
        self.quiet = quiet >= self.quiet_after
        if quiet >= self.quiet_after:
            if self.quiet_said_at is None or now - self.quiet_said_at >= max(self.quiet_after, 5.0):
                tail = parse_line(self.partial.decode("utf-8", "replace")) if self.partial else None
                self._say(f"quiet for {quiet:.0f} s: {self.state.blame(tail)}", final=True)
                self.quiet_said_at = now
        else:
            self.quiet_said_at = None
            if self.tty and now - self.last_status > 0.5:
                self._say(f"{now - self.started:5.1f} s  {self.state.progress()}", final=False)
                self.last_status = now

    def _say(self, text: str, *, final: bool) -> None:
        if self.tty:
            sys.stderr.write("\r\033[K" + text + ("\n" if final else ""))
        else:
            sys.stderr.write(f"gotrace: {text}\n")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.tty:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


class SampleMonitor:
    """Says what /proc shows once the process tree has been quiet for ``quiet_after`` s."""

    def __init__(self, *, quiet_after: float, tty: bool, prefix: str = "") -> None:
        from gotrace.analyzers.samples import SampleHistory

        self.history = SampleHistory()
        self.quiet_after = quiet_after
        self.tty = tty
        self.prefix = prefix
        self.said_at: float | None = None

    def poll(self, samples: list[Any], *, quiet: bool = True) -> None:
        for s in samples:
            self.history.feed(s)
        line = self.history.quiet_summary(self.quiet_after) if quiet else None
        now = time.time()
        if line is None:
            self.said_at = None
        elif self.said_at is None or now - self.said_at >= max(self.quiet_after, 5.0):
            sys.stderr.write(("\r\033[K" if self.tty else "gotrace: ") + self.prefix + line + "\n")
            sys.stderr.flush()
            self.said_at = now
