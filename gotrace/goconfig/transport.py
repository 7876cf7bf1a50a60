"""How long go's HTTP client waits (``net/http`` ``DefaultTransport``)."""

from __future__ import annotations

from collections.abc import Mapping

#: How long go's HTTP client waits at each step before it reports an error
#: (net/http DefaultTransport; go sets no overall client timeout). None: forever.
GO_WAITS: Mapping[str, float | None] = {
    "tcp": 30.0,
    "proxy-tcp": 30.0,
    "proxy-connect": 60.0,
    "tls": 10.0,
    "proxy-tls": 10.0,
    "http": None,
}
