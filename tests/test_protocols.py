"""gotrace.protocols: TLS ClientHello (SNI, ALPN) and record framing, as a trace shows them
(buffers cut by strace's -s included)."""

from __future__ import annotations

from gotrace.protocols import tls_client_hello, tls_record_kind


def _ext(kind: int, body: bytes) -> bytes:
    return kind.to_bytes(2, "big") + len(body).to_bytes(2, "big") + body


def client_hello(sni: bytes | None, alpn: list[bytes]) -> bytes:
    exts = b""
    if sni is not None:
        entry = b"\x00" + len(sni).to_bytes(2, "big") + sni
        exts += _ext(0, len(entry).to_bytes(2, "big") + entry)
    if alpn:
        names = b"".join(len(n).to_bytes(1, "big") + n for n in alpn)
        exts += _ext(16, len(names).to_bytes(2, "big") + names)
    body = (
        b"\x03\x03" + b"\x00" * 32 + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
        + len(exts).to_bytes(2, "big") + exts
    )  # fmt: skip
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(hs).to_bytes(2, "big") + hs


def test_client_hello_sni_and_alpn():
    hello = client_hello(b"localhost", [b"h2", b"http/1.1"])
    assert tls_client_hello(hello) == {
        "sni": "localhost",
        "alpn": ["h2", "http/1.1"],
        "alpn_cut": False,
    }


def test_ip_literal_has_no_sni_and_a_cut_alpn_name_is_dropped():
    hello = client_hello(None, [b"h2", b"http/1.1"])
    assert tls_client_hello(hello) == {"sni": None, "alpn": ["h2", "http/1.1"], "alpn_cut": False}
    # strace -s cut the buffer in the middle of "http/1.1": the list is known to be cut
    assert tls_client_hello(hello[:-3]) == {"sni": None, "alpn": ["h2"], "alpn_cut": True}
    # ... or right after "h2": the extension's length still says more was offered
    assert tls_client_hello(hello[:-9]) == {"sni": None, "alpn": ["h2"], "alpn_cut": True}
    assert tls_client_hello(b"GET / HTTP/1.1\r\n") is None


def server_hello(version: int | None, alpn: bytes | None, random: bytes = b"\x01" * 32) -> bytes:
    """A ServerHello: TLS 1.2's legacy_version, supported_versions for TLS 1.3, ALPN."""
    exts = b""
    if version is not None:
        exts += _ext(43, version.to_bytes(2, "big"))
    if alpn is not None:
        name = len(alpn).to_bytes(1, "big") + alpn
        exts += _ext(16, len(name).to_bytes(2, "big") + name)
    body = (
        b"\x03\x03" + random + b"\x00" + b"\xc0\x2f" + b"\x00"
        + len(exts).to_bytes(2, "big") + exts
    )  # fmt: skip
    hs = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + len(hs).to_bytes(2, "big") + hs


def test_server_hello_shows_the_chosen_protocol_only_below_tls_1_3():
    from gotrace.protocols import tls_server_hello

    h12 = tls_server_hello(server_hello(None, b"h2"))
    assert h12 == {"version": "TLS 1.2", "alpn": "h2", "alpn_visible": True, "retry": False}
    h13 = tls_server_hello(server_hello(0x0304, None))
    assert h13 == {"version": "TLS 1.3", "alpn": None, "alpn_visible": False, "retry": False}
    retry = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
    assert tls_server_hello(server_hello(0x0304, None, retry))["retry"] is True  # type: ignore[index]
    # cut by -s before the extensions end: an unseen extension may be supported_versions
    assert tls_server_hello(server_hello(0x0304, None)[:-2]) is None
    assert tls_server_hello(client_hello(b"x", [b"h2"])) is None


def test_http_version_from_alpn():
    from gotrace.protocols import http_version_note

    assert http_version_note(["h2", "http/1.1"], False, "h2", "TLS 1.2") == (
        "HTTP/2 (ALPN h2 chosen by the server, TLS 1.2)"
    )
    assert http_version_note(["h2", "http/1.1"], False, None, "TLS 1.2") == (
        "HTTP/1.1 (the server chose no ALPN protocol, TLS 1.2)"
    )
    # TLS 1.3: never a guess, only what was offered
    note = http_version_note(["h2", "http/1.1"], False, None, "TLS 1.3")
    assert note == (
        "ALPN offered h2,http/1.1, the server's choice encrypted (TLS 1.3 EncryptedExtensions)"
    )
    assert http_version_note(["h2"], True, None, None) == (
        "ALPN offered h2,… (the rest cut by strace -s)"
    )
    assert http_version_note([], False, None, None) is None
    assert http_version_note([], True, None, "TLS 1.3") == "ALPN list cut by strace -s"


def test_record_kind_from_strace_buffers():
    # go's CCS + Finished write, an application-data write, a ClientHello, as strace prints them
    assert tls_record_kind('"\\24\\3\\3\\0\\1\\1\\27\\3\\3\\0E') == "change_cipher_spec"
    assert tls_record_kind('"\\27\\3\\3\\0\\241M') == "application_data"
    assert tls_record_kind('"\\x16\\x03\\x01\\x05') == "handshake"
    assert tls_record_kind('"GET / HTTP/1.1') is None


def test_http_request_and_status_lines():
    from gotrace.protocols import (
        HTTP_REQUEST_STRACE_HEADS,
        content_length,
        header_end,
        request_host,
        request_line,
        status_line,
    )

    req = b"GET /example.com/dep0/@v/v1.0.0.zip HTTP/1.1\r\nHost: 127.0.0.1:8081\r\n\r\n"
    assert request_line(req) == ("GET", "/example.com/dep0/@v/v1.0.0.zip")
    assert request_host(req) == "127.0.0.1:8081"
    # the absolute form a client sends to an HTTP proxy, and CONNECT
    assert request_line(b"GET http://h:1/x HTTP/1.1\r\n") == ("GET", "http://h:1/x")
    assert request_line(b"CONNECT proxy.golang.org:443 HTTP/1.1\r\n")[0] == "CONNECT"  # type: ignore[index]
    assert request_line(b"\x16\x03\x01\x00") is None
    assert request_line(b"GET /x") is None  # cut by -s before the version
    resp = b"HTTP/1.1 404 Not Found\r\nContent-Length: 19\r\n\r\nnot found: nothing\n"
    assert status_line(resp) == (404, "Not Found")
    assert status_line(b"HTTP/1.0 200\r\n") == (200, "")
    assert content_length(resp) == 19
    assert header_end(resp) == len(resp) - 19
    assert header_end(b"HTTP/1.1 200 OK\r\nContent-Le") is None
    assert status_line(b"GET / HTTP/1.1\r\n") is None
    assert '"GET ' in HTTP_REQUEST_STRACE_HEADS


def test_request_targets_absolute_form_and_others():
    from gotrace.protocols import request_target

    url = "http://goproxy.test/example.com/dep0/@v/v1.0.0.mod"
    assert request_target(url) == ("http://goproxy.test", "/example.com/dep0/@v/v1.0.0.mod")
    assert request_target("http://h:8080") == ("http://h:8080", "/")
    assert request_target("/x?next=http://a/b") == (None, "/x?next=http://a/b")
    assert request_target("proxy.golang.org:443") == (None, "proxy.golang.org:443")


def test_goproxy_paths():
    from gotrace.protocols import proxy_path, split_proxy_url

    path = proxy_path("github.com/BurntSushi/toml", "v1.2.0", "zip")
    assert path == "/github.com/!burnt!sushi/toml/@v/v1.2.0.zip"
    known = {("github.com/BurntSushi/toml", "v1.2.0")}
    assert split_proxy_url("/base" + path, known) == (
        "/base",
        ("github.com/BurntSushi/toml", "v1.2.0"),
        "zip",
    )
    assert split_proxy_url(path, set()) is None
    assert split_proxy_url("/github.com/x/@v/list", known) is None


def test_dns_servers_are_port_53():
    from gotrace.protocols import is_dns_server

    assert is_dns_server("127.0.0.53:53") and is_dns_server("[::1]:53")
    assert not is_dns_server("127.0.0.1:1053") and not is_dns_server(None)


def test_git_daemon_requests_with_and_without_the_pkt_line_length():
    from gotrace.protocols import git_daemon_request, git_request_text

    req = b"git-upload-pack /m.git\x00host=git.example.test\x00\x00version=2\x00"
    parsed = git_daemon_request(req)
    assert parsed == {
        "service": "git-upload-pack",
        "path": "/m.git",
        "host": "git.example.test",
        "extra": ["version=2"],
    }
    assert git_daemon_request(b"003c" + req) == parsed
    assert git_request_text(parsed) == "git-upload-pack /m.git host=git.example.test version=2"
    assert git_daemon_request(b"git-upload-pack /m.git") is None  # no NUL: not the protocol
    assert git_daemon_request(b"git-frobnicate /m.git\x00") is None
    assert git_daemon_request(b"GET / HTTP/1.1\r\n") is None


def test_ssh_banners_and_the_remote_of_gits_ssh_command():
    from gotrace.protocols import git_ssh_remote, ssh_banner

    assert ssh_banner(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6\r\n") == (
        "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6"
    )
    assert ssh_banner(b"SSH-2.0-Go\r\n\x00\x00\x01") == "SSH-2.0-Go"
    assert ssh_banner(b"HTTP/1.1 200 OK\r\n") is None
    ssh = ["/usr/bin/ssh", "-o", "SendEnv=GIT_PROTOCOL", "git@git.example.test"]
    assert git_ssh_remote([*ssh, "git-upload-pack '/m.git'"]) == "ssh://git@git.example.test/m.git"
    # go's GIT_SSH_COMMAND options, a port, and an scp-like relative path
    argv = ["ssh", "-o", "ControlMaster=no", "-o", "BatchMode=yes", "-p", "2222", "git@h"]
    assert git_ssh_remote([*argv, "git-upload-pack 'org/m.git'"]) == "git@h:org/m.git"
    assert git_ssh_remote([*argv, "git-upload-pack '/org/m.git'"]) == "ssh://git@h:2222/org/m.git"
    assert git_ssh_remote(["ssh", "host", "uptime"]) is None
