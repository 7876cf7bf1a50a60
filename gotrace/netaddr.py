"""Network addresses as gotrace meets them: socket endpoints as strace prints them
(``127.0.0.1:8081``, ``[::1]:8081``) and the URLs go is configured with (GOPROXY entries,
GOSUMDB, ``-x``'s ``# get`` lines, the absolute-form target of a request to an HTTP proxy).
One home for splitting them, so a proxy URL and a connection's remote end compare alike.
"""

from __future__ import annotations

import re

#: the port a URL without one means (Go's net/http and httpproxy defaults)
DEFAULT_PORTS = {"http": 80, "https": 443, "socks5": 1080}

_ENDPOINT = re.compile(r"^\[?(?P<h>[^\[\]]*?)\]?:(?P<p>\d+)$")
# scheme://[userinfo@]host[:port]...; an IPv6 host keeps its brackets, as strace prints it
_URL_AUTHORITY = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?:[^@/]*@)?(?P<host>\[[^\]]+\]|[^/:]+)"
    r"(?::(?P<port>\d+))?"
)


def host_port(endpoint: str) -> tuple[str, int] | None:
    """``127.0.0.1:8081`` / ``[::1]:8081`` -> (host, port); the host loses its brackets."""
    m = _ENDPOINT.match(endpoint)
    if m is None:
        return None
    return m.group("h"), int(m.group("p"))


def url_endpoint(url: str) -> tuple[str, int] | None:
    """``https://user@proxy.example:8443/go`` -> (``proxy.example``, 8443): the host (an
    IPv6 literal keeps its brackets) and the port, or the scheme's default port
    (:data:`DEFAULT_PORTS`). None for a URL without a host or of another scheme."""
    m = _URL_AUTHORITY.match(url)
    if m is None:
        return None
    scheme = m.group("scheme").lower()
    if m.group("port"):
        return m.group("host"), int(m.group("port"))
    if scheme not in DEFAULT_PORTS:
        return None
    return m.group("host"), DEFAULT_PORTS[scheme]


def url_host_port(url: str) -> str | None:
    """``http://127.0.0.1:8081/mod`` -> ``127.0.0.1:8081``, ``https://proxy.golang.org`` ->
    ``proxy.golang.org:443``: an http(s) URL's host:port in the form strace prints a
    connection's remote end, to compare with it. None for other URLs (``file://``,
    ``direct``, ``off``)."""
    m = _URL_AUTHORITY.match(url)
    if m is None or m.group("scheme") not in ("http", "https"):
        return None
    hp = url_endpoint(url)
    return f"{hp[0]}:{hp[1]}" if hp else None


def url_origin(url: str) -> tuple[str, str] | None:
    """``http://127.0.0.1:8081/prefix/x?y`` -> (``http://127.0.0.1:8081``,
    ``/prefix/x?y``): the scheme and authority as written, and the rest of the URL from its
    path (``/`` when it has none). None when ``url`` is not absolute."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    authority, _, path = rest.partition("/")
    return f"{scheme}://{authority}", "/" + path
