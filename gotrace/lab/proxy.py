"""A loopback GOPROXY that serves a module tree and misbehaves on request.

Faults are chosen per request path with fnmatch (``*`` also matches ``/``); the first matching
rule wins and unmatched paths are served normally. Stalls wait on an event, so ``stop()``
releases every stalled connection at once and shutdown never hangs.
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import hashlib
import http.server
import ipaddress
import socket
import ssl
import struct
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, cast, get_args

from gotrace.lab.modules import corrupt_bytes

FaultKind = Literal[
    "normal",
    "stall",
    "body_stall",
    "slow",
    "reset",
    "404",
    "410",
    "500",
    "502",
    "corrupt",
    "pause",
    "handshake_stall",
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)

_STATUS_TEXT = {404: "not found", 410: "gone", 500: "internal server error", 502: "bad gateway"}
_CONTENT_TYPES = {".info": "application/json", ".zip": "application/zip"}


@dataclass(frozen=True, slots=True)
class Fault:
    """Misbehave on request paths matching ``pattern``.

    ``rate`` is the bytes per second of ``slow``; ``partial`` is how many body bytes
    ``body_stall`` and ``pause`` send before they stop sending; ``pause`` then waits
    ``seconds`` and sends the rest. ``handshake_stall`` (a TLS proxy only) accepts the
    connection and never answers the ClientHello; its pattern is ignored.
    """

    kind: FaultKind
    pattern: str = "*"
    rate: int = 2048
    partial: int = 1024
    seconds: float = 5.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; expected one of {FAULT_KINDS}")


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as it arrived: wall-clock time, method, path and the fault applied."""

    time: float
    method: str
    path: str
    fault: FaultKind


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, proxy: ModuleProxy) -> None:
        self.proxy = proxy
        super().__init__((proxy.host, proxy.listen_port), _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without TCP_NODELAY every response on a kept-alive connection waits ~40 ms for a
    # delayed ACK (Nagle): downloads would measure that, not go.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        proxy = self.server.proxy
        proxy._track(self.request, add=True)
        if proxy.tls is not None:
            if any(f.kind == "handshake_stall" for f in proxy.faults):
                # read the ClientHello, never answer it: a TLS middlebox that hangs
                with contextlib.suppress(OSError):
                    self.request.recv(4096)
                proxy.stopping.wait()
                raise ConnectionAbortedError("handshake stalled on purpose")
            self.request = proxy.tls.wrap_socket(self.request, server_side=True)
            proxy._track(self.request, add=True)
        super().setup()

    def handle(self) -> None:
        with contextlib.suppress(OSError):
            super().handle()

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.proxy._track(self.request, add=False)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _serve(self, *, head: bool) -> None:
        proxy = self.server.proxy
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        fault = proxy.fault_for(path)
        proxy._record(RequestRecord(time.time(), self.command, path, fault.kind))
        try:
            self._apply(fault, path, head=head)
        except OSError:
            # The client went away (go was killed, or gave up): nothing left to tell it.
            self.close_connection = True

    def _apply(self, fault: Fault, path: str, *, head: bool) -> None:
        stopping = self.server.proxy.stopping
        if fault.kind == "stall":
            # Read the request, never answer: what a wedged proxy or middlebox looks like.
            stopping.wait()
            self.close_connection = True
            return
        if fault.kind == "reset":
            # SO_LINGER 0 turns close() into an RST instead of a FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if fault.kind in ("404", "410", "500", "502"):
            self._send_error(int(fault.kind), path)
            return
        data = self.server.proxy.read(path)
        if data is None:
            self._send_error(404, path)
            return
        if fault.kind == "corrupt":
            data = corrupt_bytes(path, data)
        self.send_response(200)
        ext = path[path.rfind(".") :] if "." in path.rsplit("/", 1)[-1] else ""
        self.send_header("Content-Type", _CONTENT_TYPES.get(ext, "text/plain; charset=utf-8"))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if head:
            return
        if fault.kind in ("body_stall", "pause"):
            cut = min(fault.partial, max(0, len(data) - 1))
            self.wfile.write(data[:cut])
            self.wfile.flush()
            if stopping.wait(None if fault.kind == "body_stall" else fault.seconds):
                self.close_connection = True
                return
            self.wfile.write(data[cut:])
        elif fault.kind == "slow":
            chunk = max(1, fault.rate // 10)
            for start in range(0, len(data), chunk):
                if stopping.wait(chunk / fault.rate):
                    self.close_connection = True
                    return
                self.wfile.write(data[start : start + chunk])
                self.wfile.flush()
        else:
            self.wfile.write(data)

    def _send_error(self, status: int, path: str) -> None:
        body = f"{_STATUS_TEXT[status]}: {path} (gotrace lab)\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class ModuleProxy:
    """A GOPROXY on 127.0.0.1 serving the files under ``root`` (or nothing if ``root`` is None).

    Use it as a context manager, or call ``start()`` and ``stop()``. ``requests`` lists every
    request received so far.
    """

    def __init__(
        self,
        root: Path | None = None,
        faults: Sequence[Fault] = (),
        *,
        host: str = "127.0.0.1",
        tls: ssl.SSLContext | None = None,
        name: str | None = None,
        port: int = 0,
    ) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the lab proxy only listens on loopback, not {host}")
        self.root = root.resolve() if root is not None else None
        self.faults = tuple(faults)
        self.host = host
        #: the port to listen on; 0 picks a free one
        self.listen_port = port
        #: a server-side TLS context: the proxy speaks https, as ``https://{name}:{port}``
        self.tls = tls
        self.name = name or host
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._requests: list[RequestRecord] = []
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the proxy is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{self.name}:{self.port}"

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    def paths(self, fault: FaultKind | None = None) -> list[str]:
        """Request paths so far, optionally only those that got ``fault``."""
        return [r.path for r in self.requests if fault is None or r.fault == fault]

    def fault_for(self, path: str) -> Fault:
        for fault in self.faults:
            if fnmatch.fnmatchcase(path, fault.pattern):
                return fault
        return Fault("normal")

    def read(self, path: str) -> bytes | None:
        if self.root is None:
            return None
        target = (self.root / path.lstrip("/")).resolve()
        if not target.is_relative_to(self.root) or not target.is_file():
            return None
        return target.read_bytes()

    def start(self) -> ModuleProxy:
        if self._server is not None:
            raise RuntimeError("the proxy is already running")
        self.stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"lab-proxy-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release every stalled or open connection."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._server = None
        self._thread = None

    def __enter__(self) -> ModuleProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)


def serve_main(argv: Sequence[str]) -> None:
    """``ROOT PORT LOG [--tls CERT KEY] [KIND:PATTERN...]``: serve ROOT on 127.0.0.1:PORT
    with those faults (over TLS with that certificate when ``--tls``), appending ``METHOD
    PATH FAULT`` per request to LOG, print ``ready`` and serve until stdin closes. A lab
    helper that runs inside a network namespace, where go is: also an HTTP proxy for plain
    http URLs, since a request's target is taken by its path (the absolute form ``GET
    http://host/path`` a client sends to a proxy included)."""
    import sys

    from gotrace.lab.tls import LabCert

    root, port, log_path, *specs = argv
    tls = None
    if specs[:1] == ["--tls"]:
        cert, key, *specs = specs[1:]
        tls = LabCert(Path(cert), Path(key), ()).server_context()
    # Fault checks the kind
    faults = [
        Fault(cast(FaultKind, kind), pattern or "*")
        for kind, _, pattern in (spec.partition(":") for spec in specs)
    ]
    with open(log_path, "a", buffering=1) as log:

        class _Logged(ModuleProxy):
            def _record(self, record: RequestRecord) -> None:
                super()._record(record)
                log.write(f"{record.method} {record.path} {record.fault}\n")

        with _Logged(Path(root), faults, port=int(port), tls=tls):
            print("ready", flush=True)
            sys.stdin.read()


@contextlib.contextmanager
def refused_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A loopback port where connect() is refused: bound, so nobody else takes it, not listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        yield int(sock.getsockname()[1])


def sumdb_vkey(name: str = "sum.example.com", public_key: bytes | None = None) -> str:
    """A checksum-database verifier key go accepts (golang.org/x/mod/sumdb/note.NewVerifier).

    Format ``<name>+<hash>+<base64(0x01 || ed25519 public key)>``, where ``hash`` is the first
    four bytes of sha256(name + "\\n" + key) in hex. go only checks the key's shape until it
    has a signed tree head to verify, so the default key is 32 arbitrary, fixed bytes.
    """
    raw = public_key if public_key is not None else hashlib.sha256(name.encode()).digest()
    if len(raw) != 32:
        raise ValueError("an ed25519 public key is 32 bytes")
    key = b"\x01" + raw
    key_hash = hashlib.sha256(name.encode() + b"\n" + key).digest()[:4].hex()
    return f"{name}+{key_hash}+{base64.b64encode(key).decode()}"


def gosumdb_value(url: str, name: str = "sum.example.com") -> str:
    """A GOSUMDB value that sends lookups straight to ``url``, bypassing GOPROXY."""
    return f"{sumdb_vkey(name)} {url}"
