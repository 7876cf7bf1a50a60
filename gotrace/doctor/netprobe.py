"""Can go reach a URL? DNS, TCP connect, proxy CONNECT, TLS and one HTTP request, each timed.

A probe takes the route go's HTTP client would take (``route_for``: HTTP(S)_PROXY or direct),
sends one GET for a path go itself would ask, reads only the status line and headers, and
never follows a redirect. Each step gets its own ``timeout``; a step that runs out of time is
reported as timed out, which is how a proxy that accepts and never answers shows up.
"""

from __future__ import annotations

import base64
import ipaddress
import socket
import ssl
import threading
import time
import urllib.parse

from gotrace.doctor.model import Reach, Step
from gotrace.goconfig.httpproxy import ProxyRoute

MAX_HEAD = 65536
USER_AGENT = "gotrace-doctor"


class _StepFailed(Exception):
    pass


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by peer"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate: {exc.verify_message or exc}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, socket.gaierror):
        return f"lookup failed: {exc.strerror or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class _Probe:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.steps: list[Step] = []

    def ok(self, name: str, start: float, detail: str = "") -> None:
        self.steps.append(Step(name, time.monotonic() - start, True, detail))

    def fail(self, name: str, start: float, exc: BaseException | str) -> _StepFailed:
        timed_out = isinstance(exc, TimeoutError)
        detail = (
            f"no answer within {self.timeout:g}s"
            if timed_out
            else (exc if isinstance(exc, str) else _describe(exc))
        )
        self.steps.append(Step(name, time.monotonic() - start, False, detail, timed_out))
        return _StepFailed(name)

    def resolve(self, name: str, host: str, port: int) -> list[tuple[int, tuple[str, int]]]:
        """getaddrinfo in a thread, since it has no timeout of its own."""
        if _is_ip(host):
            fam = socket.AF_INET6 if ":" in host else socket.AF_INET
            return [(fam, (host, port))]
        start = time.monotonic()
        result: list[tuple[int, tuple[str, int]]] = []
        error: list[BaseException] = []

        def lookup() -> None:
            try:
                for fam, _, _, _, addr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
                    result.append((int(fam), (str(addr[0]), int(addr[1]))))
            except OSError as exc:
                error.append(exc)

        t = threading.Thread(target=lookup, name=f"doctor-dns-{host}", daemon=True)
        t.start()
        t.join(self.timeout)
        if t.is_alive():
            raise self.fail(name, start, TimeoutError())
        if error or not result:
            raise self.fail(name, start, error[0] if error else "no addresses")
        self.ok(name, start, ", ".join(a[0] for _, a in result[:3]))
        return result

    def connect(self, name: str, addrs: list[tuple[int, tuple[str, int]]]) -> socket.socket:
        start = time.monotonic()
        last: BaseException = OSError("no address")
        for fam, addr in addrs:
            sock = socket.socket(fam, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(addr)
            except OSError as exc:
                sock.close()
                last = exc
                continue
            self.ok(name, start, f"{addr[0]}:{addr[1]}")
            return sock
        raise self.fail(name, start, last)

    def tls(self, name: str, sock: socket.socket, host: str) -> socket.socket:
        start = time.monotonic()
        ctx = ssl.create_default_context()
        try:
            wrapped = ctx.wrap_socket(sock, server_hostname=host)
        except (OSError, ssl.SSLError) as exc:
            raise self.fail(name, start, exc) from None
        self.ok(name, start, wrapped.version() or "")
        return wrapped

    def exchange(
        self, name: str, sock: socket.socket, request: bytes
    ) -> tuple[int, dict[str, str]]:
        """Send a request; read the status line and headers (never the body)."""
        start = time.monotonic()
        deadline = start + self.timeout
        buf = b""
        try:
            sock.sendall(request)
            while b"\r\n\r\n" not in buf and len(buf) < MAX_HEAD:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                sock.settimeout(left)
                chunk = sock.recv(4096)
                if not chunk:
                    raise self.fail(name, start, "connection closed before a response (EOF)")
                buf += chunk
        except (OSError, ssl.SSLError) as exc:
            raise self.fail(name, start, exc) from None
        head = buf.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        parts = head[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise self.fail(name, start, f"not an HTTP response: {head[0][:60]!r}")
        headers = {}
        for line in head[1:]:
            key, _, val = line.partition(":")
            headers[key.strip().lower()] = val.strip()
        status = int(parts[1])
        self.ok(name, start, f"HTTP {status}")
        return status, headers


def _basic(user: str | None, password: str | None) -> str:
    raw = f"{urllib.parse.unquote(user or '')}:{urllib.parse.unquote(password or '')}"
    return "Basic " + base64.b64encode(raw.encode()).decode()


def _without_userinfo(parts: urllib.parse.SplitResult) -> str:
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def probe(role: str, url: str, route: ProxyRoute, *, timeout: float, index: int = -1) -> Reach:
    """Walk the steps go's HTTP client takes to GET ``url`` along ``route``."""
    parts = urllib.parse.urlsplit(url)
    shown = _without_userinfo(parts)
    host = parts.hostname or ""
    try:
        port = parts.port or _default_port(parts.scheme)
    except ValueError:
        return Reach(role, shown, skipped="invalid port", index=index)
    if parts.scheme not in ("http", "https") or not host:
        return Reach(role, shown, skipped=f"not an http(s) URL: {url}", index=index)
    proxy = urllib.parse.urlsplit(route.proxy) if route.proxy else None
    if proxy is not None and proxy.scheme not in ("http", "https"):
        return Reach(
            role,
            shown,
            via=route.via,
            proxy=route.proxy,
            index=index,
            skipped=f"{proxy.scheme} proxy: doctor probes only http(s) proxies",
        )
    p = _Probe(timeout)
    status: int | None = None
    location = ""
    sock: socket.socket | None = None
    host_header = host if ":" not in host else f"[{host}]"
    if parts.port:
        host_header += f":{parts.port}"
    try:
        if proxy is not None:
            phost = proxy.hostname or ""
            pport = proxy.port or _default_port(proxy.scheme)
            sock = p.connect("proxy-tcp", p.resolve("proxy-dns", phost, pport))
            if proxy.scheme == "https":
                sock = p.tls("proxy-tls", sock, phost)
        else:
            sock = p.connect("tcp", p.resolve("dns", host, port))
        extra = ""
        if proxy is not None and proxy.username:
            extra = f"Proxy-Authorization: {_basic(proxy.username, proxy.password)}\r\n"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if proxy is not None and parts.scheme == "https":
            authority = f"{host if ':' not in host else f'[{host}]'}:{port}"
            req = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n{extra}\r\n"
            code, _ = p.exchange("proxy-connect", sock, req.encode())
            if code != 200:
                p.steps[-1] = Step(
                    "proxy-connect",
                    p.steps[-1].seconds,
                    False,
                    f"proxy refused the tunnel: HTTP {code}",
                )
                raise _StepFailed("proxy-connect")
            extra = ""
        elif proxy is not None:
            target = shown  # an http:// request through a proxy names the whole URL
        if parts.scheme == "https":
            sock = p.tls("tls", sock, host)
        if parts.username:
            extra += f"Authorization: {_basic(parts.username, parts.password)}\r\n"
        req = (
            f"GET {target} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {USER_AGENT}\r\n"
            f"Accept: */*\r\n{extra}Connection: close\r\n\r\n"
        )
        status, headers = p.exchange("http", sock, req.encode())
        location = headers.get("location", "")
    except _StepFailed:
        pass
    finally:
        if sock is not None:
            sock.close()
    return Reach(role, shown, tuple(p.steps), status, route.via, route.proxy, location, index=index)
