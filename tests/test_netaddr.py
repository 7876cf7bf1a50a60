"""gotrace.netaddr: socket endpoints as strace prints them and the URLs go is given."""

from __future__ import annotations

import pytest

from gotrace.netaddr import host_port, url_endpoint, url_host_port, url_origin


def test_host_port() -> None:
    assert host_port("127.0.0.1:8081") == ("127.0.0.1", 8081)
    assert host_port("[::1]:8081") == ("::1", 8081)
    assert host_port("/run/x.sock") is None


@pytest.mark.parametrize(
    ("url", "want"),
    [
        ("http://127.0.0.1:8081/mod", "127.0.0.1:8081"),
        ("https://proxy.golang.org", "proxy.golang.org:443"),
        ("http://user:pw@proxy.example/go", "proxy.example:80"),
        ("https://[::1]:9443/", "[::1]:9443"),
        ("file:///srv/goproxy", None),
        ("direct", None),
        ("socks5://127.0.0.1:1080", None),
    ],
)
def test_url_host_port(url: str, want: str | None) -> None:
    assert url_host_port(url) == want


def test_url_endpoint_default_ports() -> None:
    assert url_endpoint("socks5://proxy") == ("proxy", 1080)
    assert url_endpoint("ftp://proxy") is None


def test_url_origin() -> None:
    assert url_origin("http://127.0.0.1:8081/prefix/x?y") == (
        "http://127.0.0.1:8081",
        "/prefix/x?y",
    )
    assert url_origin("https://h") == ("https://h", "/")
    assert url_origin("/example.com/a/@v/list") is None
