"""HTTP_PROXY / HTTPS_PROXY / NO_PROXY as ``x/net/http/httpproxy`` reads them, and which
URLs go's HTTP client sends through a proxy."""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

PROXY_ENV = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy")


@dataclass(frozen=True, slots=True)
class ProxyEnv:
    """``httpproxy.FromEnvironment``: the upper-case name wins when both are non-empty."""

    http: str = ""
    http_from: str = ""
    https: str = ""
    https_from: str = ""
    no_proxy: str = ""
    no_proxy_from: str = ""
    cgi: bool = False
    shadowed: tuple[str, ...] = ()


def proxy_env(environ: Mapping[str, str]) -> ProxyEnv:
    def pick(upper: str, lower: str) -> tuple[str, str, str | None]:
        u, lo = environ.get(upper, ""), environ.get(lower, "")
        if u:
            return u, upper, (lower if lo and lo != u else None)
        return (lo, lower, None) if lo else ("", "", None)

    http, http_from, s1 = pick("HTTP_PROXY", "http_proxy")
    https, https_from, s2 = pick("HTTPS_PROXY", "https_proxy")
    no, no_from, s3 = pick("NO_PROXY", "no_proxy")
    shadowed = tuple(s for s in (s1, s2, s3) if s)
    cgi = bool(environ.get("REQUEST_METHOD"))
    return ProxyEnv(http, http_from, https, https_from, no, no_from, cgi, shadowed)


def proxy_url(value: str) -> str:
    """parseProxy: a value without a scheme is taken as ``http://value``."""
    parts = urllib.parse.urlsplit(value)
    if not parts.scheme or not parts.netloc:
        return "http://" + value
    return value


def _host_port(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = str(parts.port) if parts.port is not None else ""
    except ValueError:
        port = ""
    if not port:
        port = {"http": "80", "https": "443", "socks5": "1080"}.get(parts.scheme, "")
    return host, port


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _no_proxy_match(no_proxy: str, host: str, port: str) -> str | None:
    """The NO_PROXY entry that exempts host:port, as ``httpproxy.config.useProxy`` decides."""
    ip = _ip(host)
    for raw in no_proxy.split(","):
        p = raw.strip().lower()
        if not p:
            continue
        if p == "*":
            return raw.strip()
        if "/" in p:
            try:
                if ip is not None and ip in ipaddress.ip_network(p, strict=False):
                    return raw.strip()
            except ValueError:
                pass
            continue
        phost, pport = p, ""
        m = re.match(r"^\[(?P<h>[^\]]*)\]:(?P<p>\d+)$|^(?P<h4>[^:]*):(?P<p4>\d+)$", p)
        if m:
            phost = m.group("h") if m.group("h") is not None else m.group("h4")
            pport = m.group("p") or m.group("p4")
            if not phost:
                continue
        pip = _ip(phost)
        if pip is not None:
            if ip is not None and pip == ip and (not pport or pport == port):
                return raw.strip()
            continue
        if ip is not None:
            continue
        if phost.startswith("*."):
            phost = phost[1:]
        match_host = not phost.startswith(".")
        dotted = phost if phost.startswith(".") else "." + phost
        if (host.endswith(dotted) or (match_host and host == dotted[1:])) and (
            not pport or pport == port
        ):
            return raw.strip()
    return None


@dataclass(frozen=True, slots=True)
class ProxyRoute:
    """How go's HTTP client reaches ``url``: through ``proxy`` (from env var ``via``) or not."""

    url: str
    proxy: str = ""
    via: str = ""
    reason: str = ""


def route_for(url: str, env: ProxyEnv) -> ProxyRoute:
    """``http.ProxyFromEnvironment`` for one URL go will request."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme == "https":
        proxy, via = env.https, env.https_from
    elif scheme == "http":
        proxy, via = env.http, env.http_from
        if proxy and env.cgi:
            return ProxyRoute(url, reason="REQUEST_METHOD is set: go refuses HTTP_PROXY (CGI)")
    else:
        return ProxyRoute(url, reason=f"{scheme}: not HTTP")
    if not proxy:
        name = "HTTPS_PROXY" if scheme == "https" else "HTTP_PROXY"
        return ProxyRoute(url, reason=f"no {name} set")
    host, port = _host_port(url)
    ip = _ip(host)
    if host == "localhost" or (ip is not None and ip.is_loopback):
        return ProxyRoute(url, reason=f"{host} is loopback: go never uses a proxy for it")
    exempt = _no_proxy_match(env.no_proxy, host, port)
    if exempt is not None:
        return ProxyRoute(url, reason=f"exempt by {env.no_proxy_from}={exempt}")
    return ProxyRoute(url, proxy_url(proxy), via)
