"""How each lab scenario sets up its failure: the module tree, the proxies and their faults,
a lock holder, a black-hole resolver or a git server in a private network namespace (only
``lo``, its own /etc/hosts and resolv.conf), the go command to run."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from gotrace.lab.modules import (
    BuiltModule,
    escape_path,
    write_app,
)
from gotrace.lab.proxy import Fault, gosumdb_value, refused_port
from gotrace.lab.workbench import (
    Lab,
    ScenarioUnavailable,
    make_read_only,
    make_writable,
    rmdir_if_empty,
    stop_process,
)

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


def _lock_path(lab: Lab, module: BuiltModule) -> Path:
    vdir = lab.gomodcache / "cache" / "download" / escape_path(module.path) / "@v"
    return vdir / f"{escape_path(module.version)}.lock"


STALL_TIMEOUT = 3.0


def _zip_of(index: int) -> str:
    return f"/example.com/dep{index}/@v/*.zip"


def setup_up_to_date(lab: Lab) -> None:
    lab.build()
    lab.warm()
    lab.goproxy = lab.proxy("proxy")


def setup_cold_ok(lab: Lab) -> None:
    lab.build()
    lab.goproxy = lab.proxy("proxy")


def setup_proxy_stall(lab: Lab) -> None:
    lab.build()
    lab.goproxy = lab.proxy("proxy", [Fault("stall", _zip_of(1))])


def setup_body_stall(lab: Lab) -> None:
    lab.build(size=16384)
    lab.goproxy = lab.proxy("proxy", [Fault("body_stall", _zip_of(1), partial=4096)])


def setup_slow_proxy(lab: Lab) -> None:
    lab.build(size=4096)
    lab.goproxy = lab.proxy("proxy", [Fault("slow", "*.zip", rate=4096)])


def setup_proxy_refused(lab: Lab) -> None:
    lab.build()
    port = lab.stack.enter_context(refused_port())
    lab.goproxy = f"http://127.0.0.1:{port}"


def setup_goproxy_off(lab: Lab) -> None:
    lab.build()
    lab.goproxy = "off"


def setup_fallback_404(lab: Lab) -> None:
    lab.build()
    first = lab.proxy("first", [Fault("404")])
    second = lab.proxy("second")
    lab.goproxy = f"{first},{second}"


def setup_timeout_no_fallback(lab: Lab) -> None:
    lab.build()
    first = lab.proxy("first", [Fault("stall")])
    second = lab.proxy("second")
    lab.goproxy = f"{first},{second}"


def setup_pipe_fallback(lab: Lab) -> None:
    lab.build()
    first = lab.proxy("first", [Fault("reset", "*.zip"), Fault("500")])
    second = lab.proxy("second")
    lab.goproxy = f"{first}|{second}"


def setup_lock_held(lab: Lab) -> None:
    lab.build()
    lab.goproxy = lab.proxy("proxy")
    lock = _lock_path(lab, lab.modules[0])
    holder = lab.spawn(
        "lock-holder", [sys.executable, "-c", _LOCK_HOLDER, str(lock)], ready="locked"
    )
    lab.files["lock"] = lock

    def release() -> None:
        stop_process(holder)

    lab.release = release


def requires_cache_readonly() -> str | None:
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return "running as root, and setpriv (util-linux) is missing to drop CAP_DAC_OVERRIDE"
    return None


def setup_cache_readonly(lab: Lab) -> None:
    lab.build()
    lab.warm(*(m.path for m in lab.modules[:-1]))
    make_read_only(lab.gomodcache)
    lab.stack.callback(make_writable, lab.gomodcache)
    lab.goproxy = lab.proxy("proxy")
    if os.geteuid() == 0:
        # Root ignores mode bits through CAP_DAC_OVERRIDE; without it (and its read-only
        # sibling, and CAP_FOWNER) root is held to the owner bits of its own 0555 cache.
        setpriv = shutil.which("setpriv") or "setpriv"
        caps = "-dac_override,-dac_read_search,-fowner"
        lab.argv_prefix = [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}", "--"]


def setup_stderr_devnull(lab: Lab) -> None:
    lab.build()
    lab.goproxy = lab.proxy("proxy", [Fault("410", _zip_of(1))])
    lab.stderr_devnull = True


def setup_checksum_mismatch(lab: Lab) -> None:
    lab.build()
    lab.goproxy = lab.proxy("proxy", [Fault("corrupt", _zip_of(1))])


def setup_sumdb_stall(lab: Lab) -> None:
    # No go.sum: go must ask the checksum database about every module it downloads.
    lab.build(go_sum=False)
    lab.goproxy = lab.proxy("proxy")
    lab.gosumdb = gosumdb_value(lab.proxy("sumdb", [Fault("stall")], serve=False))


def setup_killed(lab: Lab) -> None:
    lab.build(size=65536)
    lab.goproxy = lab.proxy("proxy", [Fault("slow", "*.zip", rate=8192)])


def requires_netns() -> str | None:
    if sys.platform != "linux":
        return "network namespaces are Linux-only"
    if os.geteuid() != 0:
        return "ip netns needs root"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is missing"
    if not Path("/etc/resolv.conf").exists():
        return "/etc/resolv.conf is missing, so ip netns exec cannot bind a resolv.conf over it"
    return None


def requires_netns_and_openssl() -> str | None:
    from gotrace.lab.tls import requires_openssl

    return requires_netns() or requires_openssl()


def _run_ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise ScenarioUnavailable(f"dns-timeout: ip {' '.join(args)}: {proc.stderr.strip()}")


def _netns(lab: Lab, resolv: str, hosts: str | None = None) -> str:
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
        lab.stack.callback(rmdir_if_empty, netns_etc)
    etc = netns_etc / name
    etc.mkdir()
    lab.stack.callback(shutil.rmtree, etc, True)
    (etc / "resolv.conf").write_text(resolv)
    if hosts is not None:
        (etc / "hosts").write_text(hosts)
    _run_ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
    lab.argv_prefix = ["ip", "netns", "exec", name]
    return name


def setup_dns_timeout(lab: Lab) -> None:
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


# An HTTP proxy for CONNECT tunnels: ``stall`` reads the CONNECT and never answers; ``407``
# asks for credentials go does not have; ``tunnel:PORT`` answers 200 and relays the tunnel to
# 127.0.0.1:PORT (whatever misbehaves is behind it). It logs each request head.
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
    elif mode.startswith("tunnel:"):
        up = socket.create_connection(("127.0.0.1", int(mode.split(":")[1])))
        conn.sendall(b"HTTP/1.1 200 Connection established\\r\\n\\r\\n")
        threading.Thread(target=relay, args=(up, conn), daemon=True).start()
        relay(conn, up)
    else:
        hold.append(conn)
def relay(src, dst):
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


#: what go asks the CONNECT proxy for: a real name, so that go uses the proxy at all (it
#: never proxies localhost); in the namespace it resolves only to 127.0.0.1, and go asks
#: the proxy, not DNS, anyway
CONNECT_TARGET = "proxy.golang.org"


def _proxy_in_netns(
    lab: Lab,
    label: str,
    host: str,
    helper: Callable[[int, Path], list[str]],
    before: Callable[[str], object] | None = None,
) -> int:
    """Build the modules, make a namespace where ``host`` resolves to 127.0.0.1 only, and
    start in it the proxy ``helper(port, log)`` gives the argv of, on a random port; its
    log is the lab's ``proxy-log``. ``before(namespace)`` starts what the proxy relies on
    (a server behind it). Returns the port."""
    lab.build()
    name = _netns(
        lab,
        "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
        f"127.0.0.1 localhost {host}\n::1 localhost\n",
    )
    if before is not None:
        before(name)
    port = 20000 + secrets.randbelow(20000)
    log = lab.workdir / f"{label}.log"
    log.touch()
    lab.spawn(label, ["ip", "netns", "exec", name, *helper(port, log)], ready="ready")
    lab.files["proxy-log"] = log
    return port


def setup_connect(lab: Lab, mode: str) -> None:
    port = _proxy_in_netns(
        lab,
        "connect-proxy",
        CONNECT_TARGET,
        lambda port, log: [sys.executable, "-c", _CONNECT_PROXY, mode, str(port), str(log)],
    )
    lab.goproxy = f"https://{CONNECT_TARGET}"
    lab.extra_env["HTTPS_PROXY"] = f"http://127.0.0.1:{port}"


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


def setup_forward_proxy(lab: Lab, *faults: str) -> None:
    """GOPROXY=http://goproxy.test and HTTP_PROXY=http://127.0.0.1:P, a forward proxy that
    serves the module tree itself with ``faults`` (``KIND:PATTERN``)."""
    package_root = str(Path(__file__).resolve().parents[2])
    port = _proxy_in_netns(
        lab,
        "forward-proxy",
        FORWARD_TARGET,
        lambda port, log: [
            *(sys.executable, "-c", _FORWARD_PROXY, package_root),
            *(str(lab.proxy_root), str(port), str(log), *faults),
        ],
    )
    lab.goproxy = f"http://{FORWARD_TARGET}"
    lab.extra_env["HTTP_PROXY"] = f"http://127.0.0.1:{port}"


def setup_proxied_stall(lab: Lab) -> None:
    setup_forward_proxy(lab, f"stall:{_zip_of(1)}")


def setup_proxy_502(lab: Lab) -> None:
    setup_forward_proxy(lab, f"502:{_zip_of(1)}")


def setup_connect_tls_stall(
    lab: Lab,
    *,
    fault: str = "stall",
    stalled: int = 1,
    target: str = CONNECT_TARGET,
    command: list[str] | None = None,
) -> None:
    """GOPROXY=https://TARGET through HTTPS_PROXY, a CONNECT proxy that answers 200 and
    relays the tunnel to a TLS module proxy (a certificate for TARGET, trusted through
    SSL_CERT_FILE) with ``fault`` on dep``stalled``'s zip (``handshake_stall``: on every
    connection, before the ServerHello); ``command``: the go subcommand, if not
    ``mod download``."""
    from gotrace.lab.tls import make_cert

    package_root = str(Path(__file__).resolve().parents[2])
    cert = make_cert(lab.workdir / "tls", (target,))
    lab.extra_env["SSL_CERT_FILE"] = str(cert.cert)
    upstream = 20000 + secrets.randbelow(20000)
    port = _proxy_in_netns(
        lab,
        "connect-proxy",
        target,
        lambda port, log: [
            *(sys.executable, "-c", _CONNECT_PROXY),
            *(f"tunnel:{upstream}", str(port), str(log)),
        ],
        before=lambda name: lab.spawn(
            "tls-proxy",
            [
                *("ip", "netns", "exec", name, sys.executable, "-c", _FORWARD_PROXY),
                *(package_root, str(lab.proxy_root), str(upstream)),
                *(str(lab.workdir / "tls-proxy.log"), "--tls", str(cert.cert), str(cert.key)),
                f"{fault}:{_zip_of(stalled)}",
            ],
            ready="ready",
        ),
    )
    lab.goproxy = f"https://{target}"
    lab.extra_env["HTTPS_PROXY"] = f"http://127.0.0.1:{port}"
    if command:
        lab.command = list(command)


#: the git host of the direct-mode scenarios: dotted, so go treats it as a real host; in the
#: namespace it resolves, through its own /etc/hosts, to 127.0.0.1 only
GIT_HOST = "git.example.test"


def requires_git() -> str | None:
    from gotrace.lab.gitserver import HTTP_BACKEND

    if shutil.which("git") is None or not Path(HTTP_BACKEND).exists():
        return "git and git-http-backend (Debian's git) are missing"
    return requires_netns()


def setup_git(lab: Lab, mode: str, repo: str) -> None:
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


def setup_git_stall(lab: Lab, *, mode: str = "stall", repo: str = "m") -> None:
    """``mode``: ``stall`` (git's smart-HTTP request unanswered), ``daemon-stall`` (a git://
    remote), ``ssh-stall`` (an ssh:// remote): see :mod:`gotrace.lab.gitserver`."""
    setup_git(lab, mode, repo)


def setup_git_ok(lab: Lab, *, mode: str = "serve", repo: str = "tools") -> None:
    """``mode``: ``serve`` (git http-backend) or ``daemon`` (``git daemon``, a git:// remote)."""
    setup_git(lab, mode, repo)


def setup_connect_stall(lab: Lab) -> None:
    setup_connect(lab, "stall")


def setup_connect_407(lab: Lab) -> None:
    setup_connect(lab, "407")


def setup_tls_proxy_stall(lab: Lab) -> None:
    lab.build()
    lab.goproxy = lab.tls_proxy("proxy", [Fault("stall", _zip_of(1))])


def setup_tls_handshake_stall(lab: Lab) -> None:
    lab.build()
    lab.goproxy = lab.tls_proxy("proxy", [Fault("handshake_stall")])


def setup_tls_ok(lab: Lab) -> None:
    lab.build()
    lab.goproxy = lab.tls_proxy("proxy")


def setup_pause_recover(lab: Lab) -> None:
    lab.build(size=16384)
    lab.goproxy = lab.proxy("proxy", [Fault("pause", _zip_of(2), partial=4096, seconds=3.0)])


def setup_pipe_stall(lab: Lab) -> None:
    lab.build()
    first = lab.proxy("first", [Fault("stall", _zip_of(0))])
    second = lab.proxy("second")
    lab.goproxy = f"{first}|{second}"


def setup_build_stall(lab: Lab) -> None:
    lab.build(prefix="example.com/lib")
    lab.goproxy = lab.proxy("proxy", [Fault("stall", "/example.com/lib2/@v/*.zip")])
    lab.command = ["build", "./..."]


def setup_get_tls_stall(lab: Lab) -> None:
    lab.build(prefix="example.org/pkg")
    lab.goproxy = lab.tls_proxy("proxy", [Fault("stall", "/example.org/pkg0/@v/*.zip")])
    lab.command = ["get", "example.org/pkg0@v1.0.0"]


SCALE_MODULES = 200


SCALE_STALLED = 23


def setup_scale_stall(lab: Lab) -> None:
    lab.build(SCALE_MODULES, size=1024, prefix="example.com/m")
    lab.goproxy = lab.proxy("proxy", [Fault("stall", f"/example.com/m{SCALE_STALLED}/@v/*.zip")])


def setup_list_stall(lab: Lab, *, prefix: str = "example.net/lst", stalled: int = 2) -> None:
    """``go list -m all`` needs every requirement's go.mod: the proxy never answers one."""
    lab.build(4, prefix=prefix)
    lab.goproxy = lab.proxy("proxy", [Fault("stall", f"/{prefix}{stalled}/@v/*.mod")])
    lab.command = ["list", "-m", "all"]


def setup_test_stall(
    lab: Lab, *, prefix: str = "example.com/tdep", stalled: int = 1, tls: bool = False
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
