"""Every way ``go mod download`` goes quiet or fails, reproduced on loopback.

A scenario's ``prepare()`` builds a throwaway workdir (module tree, app, GOPATH, caches, HOME),
starts what the failure needs (proxies, a lock holder, a black-hole resolver in a network
namespace) and yields a ``Prepared`` command. Leaving the ``with`` block, normally or through
KeyboardInterrupt, stops every helper and deletes the workdir.

Network rule: go only ever talks to 127.0.0.1. Module paths live under the reserved
``example.com``; GOPROXY is a loopback URL or ``off``; GOSUMDB is ``off`` or a loopback URL.
The environment is built from scratch, so nothing leaks in from the user's (no GOPRIVATE,
no HTTP(S)_PROXY, no go env file: GOENV=off).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
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

from gotrace.errors import GotraceError, UsageError
from gotrace.lab.gotool import GoTool, find_go
from gotrace.lab.modules import (
    BuiltModule,
    build_module,
    escape_path,
    make_specs,
    write_app,
    write_proxy_tree,
)
from gotrace.lab.proxy import Fault, ModuleProxy, gosumdb_value, refused_port
from gotrace.lab.tls import requires_openssl

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HELPER_START_TIMEOUT = 10.0

# A process that holds flock(LOCK_EX) on a go cache lock file until its stdin closes,
# as another go (or an IDE's gopls) holding the same module version would.
_LOCK_HOLDER = """\
import fcntl, os, sys
path = sys.argv[1]
os.makedirs(os.path.dirname(path), exist_ok=True)
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""

# A DNS server that reads every query and never answers: a resolver behind a dead link.
_BLACKHOLE_RESOLVER = """\
import socket, sys, time
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 53))
log = open(sys.argv[1], "a", buffering=1)
print("ready", flush=True)
while True:
    data, _ = sock.recvfrom(4096)
    labels, i = [], 12
    while i < len(data) and data[i]:
        labels.append(data[i + 1 : i + 1 + data[i]].decode("ascii", "replace"))
        i += 1 + data[i]
    qtype = int.from_bytes(data[i + 1 : i + 3], "big") if i + 3 <= len(data) else 0
    log.write(f"{time.time():.6f} {'.'.join(labels)} {qtype}\\n")
"""


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
    setup: Callable[[_Lab], None]
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
            lab = _Lab(self, stack, telemetry=telemetry)
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


class _Lab:
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
        self.stack.callback(_stop_process, proc)
        self.pids[role] = proc.pid
        assert proc.stdout is not None
        line = _read_line(proc.stdout, HELPER_START_TIMEOUT)
        if line.strip() != ready:
            _stop_process(proc)
            err = proc.stderr.read().strip() if proc.stderr else ""
            raise GotraceError(f"lab setup: {role} did not start: {err or line!r}")
        return proc


def _read_line(stream: IO[str], timeout: float) -> str:
    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if ready else ""


def _stop_process(proc: subprocess.Popen[str]) -> None:
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


def _make_read_only(root: Path) -> None:
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            (Path(dirpath) / name).chmod(0o444)
        Path(dirpath).chmod(0o555)


def _make_writable(root: Path) -> None:
    if not root.exists():
        return
    root.chmod(0o755)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            (Path(dirpath) / name).chmod(0o755)
        for name in filenames:
            (Path(dirpath) / name).chmod(0o644)


def _lock_path(lab: _Lab, module: BuiltModule) -> Path:
    vdir = lab.gomodcache / "cache" / "download" / escape_path(module.path) / "@v"
    return vdir / f"{escape_path(module.version)}.lock"


# --- setups ------------------------------------------------------------------------------------

STALL_TIMEOUT = 3.0


def _zip_of(index: int) -> str:
    return f"/example.com/dep{index}/@v/*.zip"


def _setup_up_to_date(lab: _Lab) -> None:
    lab.build()
    lab.warm()
    lab.goproxy = lab.proxy("proxy")


def _setup_cold_ok(lab: _Lab) -> None:
    lab.build()
    lab.goproxy = lab.proxy("proxy")


def _setup_proxy_stall(lab: _Lab) -> None:
    lab.build()
    lab.goproxy = lab.proxy("proxy", [Fault("stall", _zip_of(1))])


def _setup_body_stall(lab: _Lab) -> None:
    lab.build(size=16384)
    lab.goproxy = lab.proxy("proxy", [Fault("body_stall", _zip_of(1), partial=4096)])


def _setup_slow_proxy(lab: _Lab) -> None:
    lab.build(size=4096)
    lab.goproxy = lab.proxy("proxy", [Fault("slow", "*.zip", rate=4096)])


def _setup_proxy_refused(lab: _Lab) -> None:
    lab.build()
    port = lab.stack.enter_context(refused_port())
    lab.goproxy = f"http://127.0.0.1:{port}"


def _setup_goproxy_off(lab: _Lab) -> None:
    lab.build()
    lab.goproxy = "off"


def _setup_fallback_404(lab: _Lab) -> None:
    lab.build()
    first = lab.proxy("first", [Fault("404")])
    second = lab.proxy("second")
    lab.goproxy = f"{first},{second}"


def _setup_timeout_no_fallback(lab: _Lab) -> None:
    lab.build()
    first = lab.proxy("first", [Fault("stall")])
    second = lab.proxy("second")
    lab.goproxy = f"{first},{second}"


def _setup_pipe_fallback(lab: _Lab) -> None:
    lab.build()
    first = lab.proxy("first", [Fault("reset", "*.zip"), Fault("500")])
    second = lab.proxy("second")
    lab.goproxy = f"{first}|{second}"


def _setup_lock_held(lab: _Lab) -> None:
    lab.build()
    lab.goproxy = lab.proxy("proxy")
    lock = _lock_path(lab, lab.modules[0])
    holder = lab.spawn(
        "lock-holder", [sys.executable, "-c", _LOCK_HOLDER, str(lock)], ready="locked"
    )
    lab.files["lock"] = lock

    def release() -> None:
        _stop_process(holder)

    lab.release = release


def _requires_cache_readonly() -> str | None:
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return "running as root, and setpriv (util-linux) is missing to drop CAP_DAC_OVERRIDE"
    return None


def _setup_cache_readonly(lab: _Lab) -> None:
    lab.build()
    lab.warm(*(m.path for m in lab.modules[:-1]))
    _make_read_only(lab.gomodcache)
    lab.stack.callback(_make_writable, lab.gomodcache)
    lab.goproxy = lab.proxy("proxy")
    if os.geteuid() == 0:
        # Root ignores mode bits through CAP_DAC_OVERRIDE; without it (and its read-only
        # sibling, and CAP_FOWNER) root is held to the owner bits of its own 0555 cache.
        setpriv = shutil.which("setpriv") or "setpriv"
        caps = "-dac_override,-dac_read_search,-fowner"
        lab.argv_prefix = [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}", "--"]


def _setup_stderr_devnull(lab: _Lab) -> None:
    lab.build()
    lab.goproxy = lab.proxy("proxy", [Fault("410", _zip_of(1))])
    lab.stderr_devnull = True


def _setup_checksum_mismatch(lab: _Lab) -> None:
    lab.build()
    lab.goproxy = lab.proxy("proxy", [Fault("corrupt", _zip_of(1))])


def _setup_sumdb_stall(lab: _Lab) -> None:
    # No go.sum: go must ask the checksum database about every module it downloads.
    lab.build(go_sum=False)
    lab.goproxy = lab.proxy("proxy")
    lab.gosumdb = gosumdb_value(lab.proxy("sumdb", [Fault("stall")], serve=False))


def _setup_killed(lab: _Lab) -> None:
    lab.build(size=65536)
    lab.goproxy = lab.proxy("proxy", [Fault("slow", "*.zip", rate=8192)])


def _requires_netns() -> str | None:
    if sys.platform != "linux":
        return "network namespaces are Linux-only"
    if os.geteuid() != 0:
        return "ip netns needs root"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is missing"
    if not Path("/etc/resolv.conf").exists():
        return "/etc/resolv.conf is missing, so ip netns exec cannot bind a resolv.conf over it"
    return None


def _run_ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise ScenarioUnavailable(f"dns-timeout: ip {' '.join(args)}: {proc.stderr.strip()}")


def _netns(lab: _Lab, resolv: str, hosts: str | None = None) -> str:
    """A network namespace with only ``lo`` (up), its own resolv.conf and, if given, its own
    /etc/hosts (``ip netns exec`` bind-mounts /etc/netns/NAME/* over /etc); removed with
    the lab. Every command of the scenario runs in it through ``lab.argv_prefix``."""
    name = f"gotrace-lab-{os.getpid()}-{secrets.token_hex(3)}"
    _run_ip("netns", "add", name)
    lab.stack.callback(subprocess.run, ["ip", "netns", "delete", name], capture_output=True)
    lab.netns = name
    netns_etc = Path("/etc/netns")
    if not netns_etc.exists():
        netns_etc.mkdir(mode=0o755)
        lab.stack.callback(_rmdir_if_empty, netns_etc)
    etc = netns_etc / name
    etc.mkdir()
    lab.stack.callback(shutil.rmtree, etc, True)
    (etc / "resolv.conf").write_text(resolv)
    if hosts is not None:
        (etc / "hosts").write_text(hosts)
    _run_ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
    lab.argv_prefix = ["ip", "netns", "exec", name]
    return name


def _setup_dns_timeout(lab: _Lab) -> None:
    lab.build()
    # Short timeouts keep the quiet period to a couple of seconds (Go's defaults are
    # timeout:5 attempts:2).
    name = _netns(lab, "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    log = lab.workdir / "dns-queries.log"
    log.touch()
    resolver = [sys.executable, "-c", _BLACKHOLE_RESOLVER, str(log)]
    lab.spawn("resolver", ["ip", "netns", "exec", name, *resolver], ready="ready")
    lab.files["dns-log"] = log
    # .test is reserved (RFC 2606) and the namespace has nothing but lo: the query can only
    # reach the black hole on the namespace's own 127.0.0.1.
    lab.goproxy = "http://goproxy.test:8080"


# An HTTP proxy for CONNECT tunnels that misbehaves: ``stall`` reads the CONNECT and never
# answers; ``407`` asks for credentials go does not have. It logs each request head.
_CONNECT_PROXY = """\
import socket, sys, threading
mode, port, log = sys.argv[1], int(sys.argv[2]), open(sys.argv[3], "a", buffering=1)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(64)
print("ready", flush=True)
hold = []
def serve(conn):
    head = b""
    while b"\\r\\n\\r\\n" not in head:
        data = conn.recv(4096)
        if not data:
            return
        head += data
    log.write(head.split(b"\\r\\n", 1)[0].decode("latin-1") + "\\n")
    if mode == "407":
        conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\\r\\n"
                     b"Proxy-Authenticate: Basic realm=\\"gotrace lab\\"\\r\\n"
                     b"Content-Length: 0\\r\\n\\r\\n")
        conn.close()
    else:
        hold.append(conn)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""
#: what go asks the CONNECT proxy for: a real name, so that go uses the proxy at all (it
#: never proxies localhost); in the namespace it resolves only to 127.0.0.1, and go asks
#: the proxy, not DNS, anyway
CONNECT_TARGET = "proxy.golang.org"


def _setup_connect(lab: _Lab, mode: str) -> None:
    lab.build()
    name = _netns(
        lab,
        "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
        f"127.0.0.1 localhost {CONNECT_TARGET}\n::1 localhost\n",
    )
    port = 20000 + secrets.randbelow(20000)
    log = lab.workdir / "connect-proxy.log"
    log.touch()
    helper = [sys.executable, "-c", _CONNECT_PROXY, mode, str(port), str(log)]
    lab.spawn("connect-proxy", ["ip", "netns", "exec", name, *helper], ready="ready")
    lab.files["proxy-log"] = log
    lab.goproxy = f"https://{CONNECT_TARGET}"
    lab.extra_env["HTTPS_PROXY"] = f"http://127.0.0.1:{port}"


# --- HTTP proxies for plain http URLs (issue 15) --------------------------------------------------

#: the GOPROXY host of the forward-proxy scenarios: a real-looking name, so that go uses
#: HTTP_PROXY at all (it never proxies localhost); go sends the whole URL to the proxy and
#: resolves nothing itself (the namespace's /etc/hosts maps it to 127.0.0.1 all the same)
FORWARD_TARGET = "goproxy.test"

# The lab's ModuleProxy, run inside the namespace where go is: it takes a request by its
# path, so it is also a forward proxy for ``GET http://goproxy.test/...`` (the absolute form).
_FORWARD_PROXY = """\
import sys
sys.path.insert(0, sys.argv[1])
from gotrace.lab.proxy import serve_main
serve_main(sys.argv[2:])
"""


def _setup_forward_proxy(lab: _Lab, *faults: str) -> None:
    """GOPROXY=http://goproxy.test and HTTP_PROXY=http://127.0.0.1:P, a forward proxy that
    serves the module tree itself with ``faults`` (``KIND:PATTERN``)."""
    lab.build()
    name = _netns(
        lab,
        "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
        f"127.0.0.1 localhost {FORWARD_TARGET}\n::1 localhost\n",
    )
    port = 20000 + secrets.randbelow(20000)
    log = lab.workdir / "forward-proxy.log"
    log.touch()
    package_root = str(Path(__file__).resolve().parents[2])
    helper = [sys.executable, "-c", _FORWARD_PROXY, package_root]
    helper += [str(lab.proxy_root), str(port), str(log), *faults]
    lab.spawn("forward-proxy", ["ip", "netns", "exec", name, *helper], ready="ready")
    lab.files["proxy-log"] = log
    lab.goproxy = f"http://{FORWARD_TARGET}"
    lab.extra_env["HTTP_PROXY"] = f"http://127.0.0.1:{port}"


def _setup_proxied_stall(lab: _Lab) -> None:
    _setup_forward_proxy(lab, f"stall:{_zip_of(1)}")


def _setup_proxy_502(lab: _Lab) -> None:
    _setup_forward_proxy(lab, f"502:{_zip_of(1)}")


#: the git host of the direct-mode scenarios: dotted, so go treats it as a real host; in the
#: namespace it resolves, through its own /etc/hosts, to 127.0.0.1 only
GIT_HOST = "git.example.test"


def _requires_git() -> str | None:
    from gotrace.lab.gitserver import HTTP_BACKEND

    if shutil.which("git") is None or not Path(HTTP_BACKEND).exists():
        return "git and git-http-backend (Debian's git) are missing"
    return _requires_netns()


def _setup_git(lab: _Lab, mode: str, repo: str) -> None:
    from gotrace.lab import gitserver

    module = f"{GIT_HOST}/{repo}"
    root = lab.workdir / "git"
    gitserver.make_repo(root, module, "v1.0.0")
    write_app(lab.app, [], go_sum=False, main_go=False)
    (lab.app / "go.mod").write_text(
        f"module example.com/app\n\ngo 1.21\n\nrequire {module} v1.0.0\n"
    )
    name = _netns(
        lab,
        "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
        f"127.0.0.1 localhost {GIT_HOST}\n::1 localhost\n",
    )
    log = lab.workdir / "git-server.log"
    log.touch()
    server = [sys.executable, gitserver.__file__, str(root), GIT_HOST, "80", mode, str(log)]
    lab.spawn("git-server", ["ip", "netns", "exec", name, *server], ready="ready")
    lab.files["git-log"] = log
    # nothing listens on :443, so go's https lookup is refused; GOINSECURE lets it retry
    # over http, which is what the server speaks
    lab.goproxy = "direct"
    lab.extra_env.update(
        {"GOPRIVATE": GIT_HOST, "GOINSECURE": GIT_HOST, "GIT_CONFIG_NOSYSTEM": "1"}
    )


def _setup_git_stall(lab: _Lab) -> None:
    _setup_git(lab, "stall", "m")


def _setup_git_ok(lab: _Lab) -> None:
    _setup_git(lab, "serve", "tools")


def _setup_connect_stall(lab: _Lab) -> None:
    _setup_connect(lab, "stall")


def _setup_connect_407(lab: _Lab) -> None:
    _setup_connect(lab, "407")


def _setup_tls_proxy_stall(lab: _Lab) -> None:
    lab.build()
    lab.goproxy = lab.tls_proxy("proxy", [Fault("stall", _zip_of(1))])


def _setup_tls_handshake_stall(lab: _Lab) -> None:
    lab.build()
    lab.goproxy = lab.tls_proxy("proxy", [Fault("handshake_stall")])


def _setup_tls_ok(lab: _Lab) -> None:
    lab.build()
    lab.goproxy = lab.tls_proxy("proxy")


def _setup_pause_recover(lab: _Lab) -> None:
    lab.build(size=16384)
    lab.goproxy = lab.proxy("proxy", [Fault("pause", _zip_of(2), partial=4096, seconds=3.0)])


def _setup_pipe_stall(lab: _Lab) -> None:
    lab.build()
    first = lab.proxy("first", [Fault("stall", _zip_of(0))])
    second = lab.proxy("second")
    lab.goproxy = f"{first}|{second}"


def _setup_build_stall(lab: _Lab) -> None:
    lab.build(prefix="example.com/lib")
    lab.goproxy = lab.proxy("proxy", [Fault("stall", "/example.com/lib2/@v/*.zip")])
    lab.command = ["build", "./..."]


def _setup_get_tls_stall(lab: _Lab) -> None:
    lab.build(prefix="example.org/pkg")
    lab.goproxy = lab.tls_proxy("proxy", [Fault("stall", "/example.org/pkg0/@v/*.zip")])
    lab.command = ["get", "example.org/pkg0@v1.0.0"]


SCALE_MODULES = 200
SCALE_STALLED = 23


def _setup_scale_stall(lab: _Lab) -> None:
    lab.build(SCALE_MODULES, size=1024, prefix="example.com/m")
    lab.goproxy = lab.proxy("proxy", [Fault("stall", f"/example.com/m{SCALE_STALLED}/@v/*.zip")])


# --- other go commands: go list -m all, go test ./... (issue 15, item 7) -----------------------


def _setup_list_stall(lab: _Lab, *, prefix: str = "example.net/lst", stalled: int = 2) -> None:
    """``go list -m all`` needs every requirement's go.mod: the proxy never answers one."""
    lab.build(4, prefix=prefix)
    lab.goproxy = lab.proxy("proxy", [Fault("stall", f"/{prefix}{stalled}/@v/*.mod")])
    lab.command = ["list", "-m", "all"]


def _setup_test_stall(
    lab: _Lab, *, prefix: str = "example.com/tdep", stalled: int = 1, tls: bool = False
) -> None:
    """``go test ./...``: main.go imports every module but one, which only a test imports;
    the proxy never answers that module's zip."""
    lab.build(3, prefix=prefix)
    test_only = f"{prefix}{stalled}"
    imports = "".join(f'\t_ "{m.path}"\n' for m in lab.modules if m.path != test_only)
    (lab.app / "main.go").write_text(f"package main\n\nimport (\n{imports})\n\nfunc main() {{}}\n")
    # a test file that imports no std package keeps go's walk of GOROOT out of the trace
    (lab.app / "main_test.go").write_text(f'package main\n\nimport _ "{test_only}"\n')
    faults = [Fault("stall", f"/{test_only}/@v/*.zip")]
    lab.goproxy = lab.tls_proxy("proxy", faults) if tls else lab.proxy("proxy", faults)
    lab.command = ["test", "./..."]


def _rmdir_if_empty(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.rmdir()


_SILENT = r"\A\Z"

_ALL = [
    Scenario(
        "up-to-date",
        "Everything is already in the module cache.",
        "cache-hit",
        "All modules are cached, so go needs no network and, as always, prints nothing.",
        30.0,
        0,
        _SILENT,
        _setup_up_to_date,
    ),
    Scenario(
        "cold-ok",
        "An empty cache and a healthy proxy.",
        "none",
        "go downloads every module from the proxy and, as mod download does, prints nothing.",
        30.0,
        0,
        _SILENT,
        _setup_cold_ok,
    ),
    Scenario(
        "proxy-stall",
        "The proxy accepts the zip request and never answers.",
        "proxy-stall",
        "The proxy read the request but never answered; go has no response-header timeout, "
        "so it waits forever.",
        STALL_TIMEOUT,
        None,
        _SILENT,
        _setup_proxy_stall,
    ),
    Scenario(
        "body-stall",
        "The proxy sends headers and part of a zip, then stops sending.",
        "proxy-body-stall",
        "The proxy stopped sending in the middle of a response body; go waits for the rest "
        "forever.",
        STALL_TIMEOUT,
        None,
        _SILENT,
        _setup_body_stall,
    ),
    Scenario(
        "slow-proxy",
        "The proxy sends zips at 4 KiB/s.",
        "proxy-slow",
        "The proxy is slow; go is making progress and finishes, without saying so.",
        30.0,
        0,
        _SILENT,
        _setup_slow_proxy,
    ),
    Scenario(
        "proxy-refused",
        "Nothing listens on the GOPROXY port.",
        "proxy-refused",
        "connect() to the proxy was refused, so go fails at once.",
        30.0,
        1,
        r"connect: connection refused",
        _setup_proxy_refused,
    ),
    Scenario(
        "goproxy-off",
        "GOPROXY=off with an empty cache.",
        "goproxy-off",
        "GOPROXY=off forbids downloads, so go fails without touching the network.",
        30.0,
        1,
        r"module lookup disabled by GOPROXY=off",
        _setup_goproxy_off,
    ),
    Scenario(
        "fallback-404",
        "GOPROXY=A,B where A answers 404 to everything.",
        "proxy-fallback",
        "The first proxy said 404, so go tried the next one after the comma and succeeded.",
        30.0,
        0,
        _SILENT,
        _setup_fallback_404,
    ),
    Scenario(
        "timeout-no-fallback",
        "GOPROXY=A,B where A accepts and never answers.",
        "proxy-stall-no-fallback",
        "After a comma go falls back only on 404/410; the first proxy stalls, so go never "
        "tries the second.",
        STALL_TIMEOUT,
        None,
        _SILENT,
        _setup_timeout_no_fallback,
    ),
    Scenario(
        "pipe-fallback",
        "GOPROXY=A|B where A resets zip connections and answers 500 otherwise.",
        "proxy-fallback-on-error",
        "After a pipe go falls back on any error, so the second proxy served everything.",
        30.0,
        0,
        _SILENT,
        _setup_pipe_fallback,
    ),
    Scenario(
        "lock-held",
        "Another process holds flock(LOCK_EX) on dep0's v1.0.0.lock in the cache.",
        "lock-held",
        "go waits, silently and without a deadline, for a cache lock another process holds.",
        STALL_TIMEOUT,
        None,
        _SILENT,
        _setup_lock_held,
    ),
    Scenario(
        "cache-readonly",
        "The module cache exists but go may not write to it (EACCES).",
        "cache-not-writable",
        "go cannot create files in GOMODCACHE (permission denied) and fails.",
        30.0,
        1,
        r"permission denied",
        _setup_cache_readonly,
        _requires_cache_readonly,
    ),
    Scenario(
        "stderr-devnull",
        "The proxy answers 410 to a zip and go's stderr is /dev/null.",
        "stderr-lost",
        "go failed and said why, but its stderr went to /dev/null.",
        30.0,
        1,
        _SILENT,
        _setup_stderr_devnull,
    ),
    Scenario(
        "checksum-mismatch",
        "The proxy serves a zip whose content differs from go.sum.",
        "checksum-mismatch",
        "The downloaded zip does not match go.sum, so go refuses it.",
        30.0,
        1,
        r"checksum mismatch",
        _setup_checksum_mismatch,
    ),
    Scenario(
        "sumdb-stall",
        "No go.sum, and GOSUMDB points at a server that never answers.",
        "sumdb-stall",
        "go must verify new modules with the checksum database, which never answers.",
        STALL_TIMEOUT,
        None,
        _SILENT,
        _setup_sumdb_stall,
    ),
    Scenario(
        "killed",
        "A slow download is cut short by an outer timeout's SIGKILL.",
        "killed",
        "go was still downloading when something outside killed it with SIGKILL.",
        2.0,
        None,
        _SILENT,
        _setup_killed,
    ),
    Scenario(
        "dns-timeout",
        "GOPROXY=http://goproxy.test:8080 and a resolver that drops every query.",
        "dns-timeout",
        "The resolver never answered the proxy's name lookup, so go waited out the DNS "
        "timeouts and failed.",
        15.0,
        1,
        r"lookup goproxy\.test.*i/o timeout",
        _setup_dns_timeout,
        _requires_netns,
    ),
]

_SIGTERM = signal.SIGTERM
_ALL += [
    Scenario(
        "tls-proxy-stall",
        "GOPROXY=https://localhost:P: the TLS handshake completes, the zip request is never answered.",
        "proxy-stall",
        "The TLS proxy read the (encrypted) request and never answered; go waits forever.",
        STALL_TIMEOUT,
        None,
        _SILENT,
        _setup_tls_proxy_stall,
        requires_openssl,
        _SIGTERM,
    ),
    Scenario(
        "tls-handshake-stall",
        "GOPROXY=https://localhost:P: the proxy accepts and never answers the ClientHello.",
        "tls-handshake-stall",
        "The proxy accepted the connection and never answered the ClientHello; go's 10 s "
        "handshake timeout then fails the request, and go retries.",
        STALL_TIMEOUT,
        None,
        _SILENT,
        _setup_tls_handshake_stall,
        requires_openssl,
        _SIGTERM,
    ),
    Scenario(
        "tls-ok",
        "A healthy TLS proxy (https://localhost:P, a certificate made at run time).",
        "none",
        "go downloads every module over TLS and prints nothing.",
        30.0,
        0,
        _SILENT,
        _setup_tls_ok,
        requires_openssl,
        _SIGTERM,
    ),
    Scenario(
        "pause-recover",
        "The proxy stops 3 s in the middle of a zip, then finishes it.",
        "proxy-pause",
        "The proxy paused mid-body and recovered; go succeeded, 3 s late.",
        30.0,
        0,
        _SILENT,
        _setup_pause_recover,
        stop_signal=_SIGTERM,
    ),
    Scenario(
        "pipe-stall",
        "GOPROXY=A|B where A accepts a zip request and never answers.",
        "proxy-stall-no-fallback",
        "`|` falls back on errors, but a stall is no error: go never tries B.",
        STALL_TIMEOUT,
        None,
        _SILENT,
        _setup_pipe_stall,
        stop_signal=_SIGTERM,
    ),
    Scenario(
        "build-stall",
        "go build ./... with a proxy that never answers one zip request.",
        "proxy-stall",
        "go build downloads what it needs (printing `go: downloading`) and stalls on one zip.",
        STALL_TIMEOUT,
        None,
        r"go: downloading",
        _setup_build_stall,
        stop_signal=_SIGTERM,
    ),
    Scenario(
        "get-tls-stall",
        "go get example.org/pkg0@v1.0.0 from a TLS proxy that never answers its zip request.",
        "proxy-stall",
        "go get stalls on the zip over TLS.",
        STALL_TIMEOUT,
        None,
        r"go: downloading|\A\Z",
        _setup_get_tls_stall,
        requires_openssl,
        _SIGTERM,
    ),
    Scenario(
        "scale-stall",
        f"{SCALE_MODULES} modules; the proxy never answers one zip request (m{SCALE_STALLED}).",
        "proxy-stall",
        "Hundreds of requests succeed and one never gets an answer: that one is the cause.",
        10.0,
        None,
        _SILENT,
        _setup_scale_stall,
        stop_signal=_SIGTERM,
    ),
]

_ALL += [
    Scenario(
        "connect-stall",
        "HTTPS_PROXY=http://127.0.0.1:P accepts `CONNECT proxy.golang.org:443` and never answers.",
        "http-proxy-stall",
        "go asks the HTTP proxy for a tunnel to the module proxy; the proxy never answers.",
        STALL_TIMEOUT,
        None,
        _SILENT,
        _setup_connect_stall,
        _requires_netns,
        _SIGTERM,
    ),
    Scenario(
        "connect-407",
        "HTTPS_PROXY=http://127.0.0.1:P answers CONNECT with 407 Proxy Authentication Required.",
        "http-proxy-refused",
        "The HTTP proxy wants credentials go was not given; go fails at once.",
        30.0,
        1,
        r"Proxy Authentication Required",
        _setup_connect_407,
        _requires_netns,
        _SIGTERM,
    ),
]

_ALL += [
    Scenario(
        "git-stall",
        f"GOPROXY=direct: {GIT_HOST}/m's go-import tag is found, then git's "
        "info/refs request is never answered.",
        "git-stall",
        "go runs git ls-remote, whose git-remote-http sends its request and polls forever; "
        "go prints nothing (it holds git's stderr until git fails).",
        STALL_TIMEOUT,
        None,
        _SILENT,
        _setup_git_stall,
        _requires_git,
        _SIGTERM,
    ),
    Scenario(
        "git-ok",
        f"GOPROXY=direct: {GIT_HOST}/tools served by git http-backend.",
        "none",
        "go looks up the go-import tag (https refused, then http: GOINSECURE), runs git and "
        "succeeds.",
        60.0,
        0,
        _SILENT,
        _setup_git_ok,
        _requires_git,
        _SIGTERM,
    ),
]

_ALL += [
    Scenario(
        "proxied-stall",
        f"GOPROXY=http://{FORWARD_TARGET} through HTTP_PROXY=http://127.0.0.1:P, which reads "
        "the proxied GET of dep1's zip and never answers.",
        "http-proxy-stall",
        "go sends the whole URL to the HTTP proxy; the proxy never answers, and go has no "
        "response-header timeout.",
        STALL_TIMEOUT,
        None,
        _SILENT,
        _setup_proxied_stall,
        _requires_netns,
        _SIGTERM,
    ),
    Scenario(
        "proxy-502",
        f"GOPROXY=http://{FORWARD_TARGET} through HTTP_PROXY=http://127.0.0.1:P, which answers "
        "dep1's zip with 502 Bad Gateway.",
        "http-proxy-refused",
        "The HTTP proxy could not reach the module proxy (502); go prints the error and exits 1.",
        30.0,
        1,
        r"502 Bad Gateway",
        _setup_proxy_502,
        _requires_netns,
        _SIGTERM,
    ),
    Scenario(
        "list-stall",
        "go list -m all with an empty cache; the proxy never answers lst2's go.mod request.",
        "proxy-stall",
        "go list -m all fetches every requirement's go.mod (printing nothing: it downloads no "
        "zip) and waits forever for one.",
        STALL_TIMEOUT,
        None,
        _SILENT,
        _setup_list_stall,
        stop_signal=_SIGTERM,
    ),
    Scenario(
        "test-stall",
        "go test ./... where only a test imports tdep1, whose zip the proxy never answers.",
        "proxy-stall",
        "go test downloads the test's imports too (printing `go: downloading`) and stalls on "
        "the test-only module's zip.",
        STALL_TIMEOUT,
        None,
        r"go: downloading",
        _setup_test_stall,
        stop_signal=_SIGTERM,
    ),
]

SCENARIOS: Mapping[str, Scenario] = {s.name: s for s in _ALL}


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise UsageError(
            f"unknown scenario {name!r}; choose one of: {', '.join(SCENARIOS)}"
        ) from None


# --- running -----------------------------------------------------------------------------------


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
