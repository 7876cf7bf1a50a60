"""The lab's workbench: what a scenario is (:class:`Scenario`), the throwaway workdir and
helpers one runs in (:class:`Lab`), and running a prepared command (:func:`run_scenario`).
The scenarios themselves are :mod:`gotrace.lab.scenarios`; their setups
:mod:`gotrace.lab.setups`.
The network rule the scenarios keep is in :mod:`gotrace.lab.scenarios`.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from gotrace.errors import GotraceError
from gotrace.lab.gotool import GoTool, find_go
from gotrace.lab.modules import (
    BuiltModule,
    build_module,
    make_specs,
    write_app,
    write_proxy_tree,
)
from gotrace.lab.proxy import Fault, ModuleProxy

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


HELPER_START_TIMEOUT = 10.0


class ScenarioUnavailable(GotraceError):
    """This machine cannot reproduce the scenario (e.g. no permission for ``ip netns``)."""


@dataclass(frozen=True, slots=True)
class RunResult:
    """How the command ended. ``exit_code`` is negative when a signal killed it."""

    exit_code: int
    stdout: str
    stderr: str
    duration: float
    timed_out: bool


class Runner(Protocol):
    """Runs a prepared command; ``gotrace run`` plugs in here to run it under strace."""

    def __call__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        timeout: float | None,
        stderr_devnull: bool,
        /,
    ) -> RunResult: ...


@dataclass(slots=True)
class Prepared:
    """A ready-to-run command and the lab around it.

    stdin is always /dev/null (``go mod download`` never reads it). When ``stderr_devnull`` is
    set the runner must send go's stderr to /dev/null: that is the failure being reproduced.
    ``timeout`` is the outer timeout; on expiry the runner kills go with SIGKILL.
    """

    scenario: Scenario
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    timeout: float | None
    stderr_devnull: bool
    workdir: Path
    gomodcache: Path
    modules: list[BuiltModule]
    proxies: dict[str, ModuleProxy] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    netns: str | None = None
    release: Callable[[], None] | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    """One reproducible failure.

    ``expect_exit`` is go's exit status on its own, or None when go never finishes and the
    outer timeout kills it. ``expect_stderr`` is a regex that go's stderr matches (without
    ``-x``); ``\\A\\Z`` means go prints nothing at all.
    """

    name: str
    description: str
    cause: str
    explanation: str
    timeout: float
    expect_exit: int | None
    expect_stderr: str
    setup: Callable[[Lab], None]
    requires: Callable[[], str | None] = lambda: None
    #: how gotrace's --timeout stops it: the lab's first scenarios use SIGKILL, the later ones
    #: SIGTERM as a user's ``gotrace run --timeout`` does (go re-raises it on itself)
    stop_signal: int = signal.SIGKILL

    def unavailable(self) -> str | None:
        """Why this machine cannot run the scenario, or None if it (probably) can."""
        return self.requires()

    @contextlib.contextmanager
    def prepare(self, *, x: bool = False, telemetry: bool = False) -> Iterator[Prepared]:
        """Build the lab, yield the command, then stop every helper and delete the workdir.

        ``x`` adds ``-x`` (go logs each HTTP request). ``telemetry`` keeps go's default
        telemetry mode, whose sidecar is a second go process in every trace; the lab turns it
        off unless asked.
        """
        reason = self.unavailable()
        if reason is not None:
            raise ScenarioUnavailable(f"{self.name}: {reason}")
        with ExitStack() as stack:
            lab = Lab(self, stack, telemetry=telemetry)
            self.setup(lab)
            argv = [*lab.argv_prefix, str(lab.go.binary), *lab.command]
            if x:
                argv.append("-x")
            yield Prepared(
                scenario=self,
                argv=argv,
                env=lab.env(),
                cwd=lab.app,
                timeout=self.timeout,
                stderr_devnull=lab.stderr_devnull,
                workdir=lab.workdir,
                gomodcache=lab.gomodcache,
                modules=lab.modules,
                proxies=lab.proxies,
                pids=lab.pids,
                files=lab.files,
                netns=lab.netns,
                release=lab.release,
            )


class Lab:
    """The mutable state a scenario's setup function fills in; everything it starts is
    registered on ``stack`` so it is undone in reverse order."""

    def __init__(self, scenario: Scenario, stack: ExitStack, *, telemetry: bool) -> None:
        self.go: GoTool = find_go()
        self.stack = stack
        self.workdir = Path(tempfile.mkdtemp(prefix=f"gotrace-lab-{scenario.name}-"))
        stack.callback(_remove_tree, self.workdir)
        # mkdtemp makes 0700; cache-readonly may run go without DAC override.
        self.workdir.chmod(0o755)
        self.home = self.workdir / "home"
        self.tmp = self.workdir / "tmp"
        self.gopath = self.workdir / "gopath"
        self.gomodcache = self.gopath / "pkg" / "mod"
        self.gocache = self.workdir / "gocache"
        for path in (self.home, self.tmp, self.gopath, self.gocache):
            path.mkdir()
        if not telemetry:
            # The mode file `go telemetry off` writes; without it go starts a telemetry sidecar.
            mode = self.home / ".config" / "go" / "telemetry" / "mode"
            mode.parent.mkdir(parents=True)
            mode.write_text("off\n")
        self.proxy_root = self.workdir / "proxy"
        self.app = self.workdir / "app"
        self.modules: list[BuiltModule] = []
        self.goproxy = "off"
        self.gosumdb = "off"
        self.argv_prefix: list[str] = []
        #: the go subcommand and its arguments
        self.command: list[str] = ["mod", "download"]
        #: variables beyond the common ones (SSL_CERT_FILE, HTTPS_PROXY, GOPRIVATE...)
        self.extra_env: dict[str, str] = {}
        self.stderr_devnull = False
        self.proxies: dict[str, ModuleProxy] = {}
        self.pids: dict[str, int] = {}
        self.files: dict[str, Path] = {}
        self.netns: str | None = None
        self.release: Callable[[], None] | None = None

    def build(
        self,
        count: int = 3,
        *,
        size: int = 4096,
        go_sum: bool = True,
        prefix: str = "example.com/dep",
    ) -> None:
        """Write ``count`` modules to the proxy tree and an app that requires them all."""
        self.modules = [build_module(spec) for spec in make_specs(count, size=size, prefix=prefix)]
        write_proxy_tree(self.proxy_root, self.modules)
        write_app(self.app, self.modules, go_sum=go_sum)

    def proxy(self, role: str, faults: Sequence[Fault] = (), *, serve: bool = True) -> str:
        """Start a proxy (serving the module tree unless ``serve`` is False); return its URL."""
        proxy = ModuleProxy(self.proxy_root if serve else None, faults)
        self.stack.enter_context(proxy)
        self.proxies[role] = proxy
        return proxy.url

    def tls_proxy(self, role: str, faults: Sequence[Fault] = ()) -> str:
        """A proxy speaking https as ``https://localhost:PORT``, with a certificate made now
        and trusted by go through SSL_CERT_FILE."""
        from gotrace.lab.tls import make_cert

        cert = make_cert(self.workdir / "tls")
        self.extra_env["SSL_CERT_FILE"] = str(cert.cert)
        proxy = ModuleProxy(self.proxy_root, faults, tls=cert.server_context(), name="localhost")
        self.stack.enter_context(proxy)
        self.proxies[role] = proxy
        return proxy.url

    def env(self, *, goproxy: str | None = None) -> dict[str, str]:
        env = {
            "PATH": f"{self.go.binary.parent}:{SYSTEM_PATH}",
            "HOME": str(self.home),
            "TMPDIR": str(self.tmp),
            "GOENV": "off",
            "GOTOOLCHAIN": "local",
            "GOFLAGS": "-modcacherw",
            "GOPATH": str(self.gopath),
            "GOMODCACHE": str(self.gomodcache),
            "GOCACHE": str(self.gocache),
            "GOPROXY": self.goproxy if goproxy is None else goproxy,
            "GOSUMDB": self.gosumdb,
        }
        if self.go.goroot is not None:
            env["GOROOT"] = str(self.go.goroot)
        env.update(self.extra_env)
        return env

    def run_go(self, *args: str, goproxy: str | None = None) -> None:
        """Run go in the app directory during setup (e.g. to warm the cache); it must succeed."""
        proc = subprocess.run(
            [str(self.go.binary), *args],
            cwd=self.app,
            env=self.env(goproxy=goproxy),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if proc.returncode != 0:
            raise GotraceError(f"lab setup: go {' '.join(args)} failed: {proc.stderr.strip()}")

    def warm(self, *modules: str) -> None:
        """Download into the cache through a throwaway proxy, so the scenario's proxies start
        with an empty request log."""
        with ModuleProxy(self.proxy_root) as warmer:
            self.run_go("mod", "download", *modules, goproxy=warmer.url)

    def spawn(self, role: str, argv: Sequence[str], *, ready: str) -> subprocess.Popen[str]:
        """Start a helper process and wait until it prints ``ready`` on stdout."""
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.stack.callback(stop_process, proc)
        self.pids[role] = proc.pid
        assert proc.stdout is not None
        line = _read_line(proc.stdout, HELPER_START_TIMEOUT)
        if line.strip() != ready:
            stop_process(proc)
            err = proc.stderr.read().strip() if proc.stderr else ""
            raise GotraceError(f"lab setup: {role} did not start: {err or line!r}")
        return proc


def _read_line(stream: IO[str], timeout: float) -> str:
    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if ready else ""


def stop_process(proc: subprocess.Popen[str]) -> None:
    """Close the helper's stdin (the lock holder's cue to exit), then make sure it is gone."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, None)):
        if proc.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def _remove_tree(path: Path) -> None:
    def make_writable(func: Callable[..., object], name: str, exc_info: object) -> None:
        # A read-only cache (cache-readonly, or go without -modcacherw) blocks unlinking
        # for a non-root user until its directory is writable again.
        parent = Path(name).parent
        parent.chmod(parent.stat().st_mode | stat.S_IWUSR | stat.S_IXUSR)
        func(name)

    if not path.exists():
        return
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=make_writable)
    else:
        shutil.rmtree(path, onerror=make_writable)


def make_read_only(root: Path) -> None:
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            (Path(dirpath) / name).chmod(0o444)
        Path(dirpath).chmod(0o555)


def make_writable(root: Path) -> None:
    if not root.exists():
        return
    root.chmod(0o755)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            (Path(dirpath) / name).chmod(0o755)
        for name in filenames:
            (Path(dirpath) / name).chmod(0o644)


def rmdir_if_empty(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.rmdir()


def subprocess_runner(
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: Path,
    timeout: float | None,
    stderr_devnull: bool,
    /,
) -> RunResult:
    """Run the command in its own process group; on timeout kill the group with SIGKILL."""
    start = time.monotonic()
    proc = subprocess.Popen(
        list(argv),
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL if stderr_devnull else subprocess.PIPE,
        start_new_session=True,
    )
    timed_out = False
    try:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            out, err = proc.communicate()
    except BaseException:
        _kill_group(proc)
        proc.wait()
        raise
    return RunResult(
        exit_code=proc.returncode,
        stdout=(out or b"").decode(errors="replace"),
        stderr=(err or b"").decode(errors="replace"),
        duration=time.monotonic() - start,
        timed_out=timed_out,
    )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_scenario(prepared: Prepared, runner: Runner | None = None) -> RunResult:
    """Run a prepared command with ``runner`` (default: plain subprocess, no tracing)."""
    run = runner if runner is not None else subprocess_runner
    return run(prepared.argv, prepared.env, prepared.cwd, prepared.timeout, prepared.stderr_devnull)


def matches_expectation(scenario: Scenario, result: RunResult) -> bool:
    """Whether an un-traced run without -x ended as the scenario says go ends."""
    if scenario.expect_exit is None:
        ended = result.timed_out
    else:
        ended = not result.timed_out and result.exit_code == scenario.expect_exit
    return ended and re.search(scenario.expect_stderr, result.stderr) is not None
