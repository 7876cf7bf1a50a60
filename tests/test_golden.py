"""Golden tests: the diagnosis of every committed sample trace (sample_traces/, real captures
of the lab scenarios). The top finding must name the right object; the whole list must not
change unless on purpose (regenerate with GOTRACE_UPDATE_GOLDEN=1 and review the diff)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

import gotrace

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_traces"
GOLDEN = Path(__file__).parent / "golden" / "findings.json"
SCENARIOS = sorted(p.name for p in SAMPLES.iterdir() if (p / "trace.strace").exists())


def meta(name: str) -> dict:
    return json.loads((SAMPLES / name / "meta.json").read_text())


def proxy_ports(name: str) -> list[str]:
    return re.findall(r"127\.0\.0\.1:(\d+)", meta(name)["env"].get("GOPROXY", ""))


def sumdb_port(name: str) -> str:
    return re.findall(r"127\.0\.0\.1:(\d+)", meta(name)["env"].get("GOSUMDB", ""))[0]


def top(name: str) -> gotrace.Trace:
    return gotrace.load(SAMPLES / name)


def test_proxy_stall_names_the_socket_and_the_request():
    for name in ("proxy-stall", "proxy-stall-x", "timeout-no-fallback"):
        t = top(name)
        f = t.report.findings[0]
        assert f.kind == "proxy-stall", name
        port = proxy_ports(name)[0]  # the first proxy: go never tries the second
        assert f"127.0.0.1:{port}" in f.objects
        assert any(
            re.fullmatch(r"GET /example\.com/dep\d/@v/v1\.0\.0\.(zip|mod|info)", o)
            for o in f.objects
        )
        # the lab's outer timeout is gotrace's own: never the cause, the verdict says so
        assert t.verdict.startswith("stopped by gotrace --timeout after ")
        assert " while blocked " in t.verdict and f"TCP 127.0.0.1:{port}" in t.verdict
    assert "`,`" in (top("timeout-no-fallback").report.findings[0].fix or "")


def test_body_stall_names_the_partial_response():
    f = top("body-stall").report.findings[0]
    assert f.kind == "body-stall"
    assert f"127.0.0.1:{proxy_ports('body-stall')[0]}" in f.objects
    assert "4096 of" in f.summary


def test_lock_held_names_the_lock():
    f = top("lock-held").report.findings[0]
    assert f.kind == "lock-wait"
    assert f.objects[0].endswith("cache/download/example.com/dep0/@v/v1.0.0.lock")


def test_sumdb_stall_names_the_checksum_database():
    f = top("sumdb-stall").report.findings[0]
    assert f.kind == "sumdb-stall"
    assert f"127.0.0.1:{sumdb_port('sumdb-stall')}" in f.objects
    assert any(o.startswith("GET /lookup/example.com/") for o in f.objects)


def test_dns_timeout_names_the_name_and_server():
    f = top("dns-timeout").report.findings[0]
    assert f.kind == "dns-timeout"
    assert "goproxy.test" in f.objects and "127.0.0.1:53" in f.objects


def test_proxy_refused_names_errno_and_port():
    f = top("proxy-refused").report.findings[0]
    assert f.kind == "proxy-refused"
    assert (
        "ECONNREFUSED" in f.objects and f"127.0.0.1:{proxy_ports('proxy-refused')[0]}" in f.objects
    )


def test_killed_by_gotrace_is_not_the_cause():
    # the lab stops it with gotrace's --timeout (SIGKILL): that is said, but never as a cause
    t = top("killed")
    stopped = [f for f in t.report.findings if f.kind == "stopped"]
    assert stopped and stopped[0].severity == "info" and stopped[0].objects[0] == "SIGKILL"
    assert "killed" not in [f.kind for f in t.report.findings]
    assert t.verdict.startswith("stopped by gotrace --timeout after ")
    assert "slow but steady" in t.verdict


@pytest.mark.parametrize(
    ("name", "kind", "needle"),
    [
        ("stderr-devnull", "error-to-devnull", "410 Gone"),
        ("checksum-mismatch", "checksum-mismatch", "example.com/dep1@v1.0.0"),
        ("goproxy-off", "goproxy-off", "GOPROXY=off"),
        ("cache-readonly", "cache-permission", "EACCES"),
        ("slow-proxy", "slow-transfer", "KiB/s"),
    ],
)
def test_errors_and_their_object(name: str, kind: str, needle: str):
    f = top(name).report.findings[0]
    assert f.kind == kind
    assert needle in f.summary or any(needle in o for o in f.objects)


@pytest.mark.parametrize(
    "name", ["cold-ok", "cold-ok-x", "up-to-date", "fallback-404", "pipe-fallback"]
)
def test_successful_runs_have_no_error(name: str):
    t = top(name)
    assert not [f for f in t.report.findings if f.severity == "error"]
    assert t.verdict.startswith("exited 0")
    if name == "up-to-date":
        assert "without touching the network" in t.verdict


def _snapshot(name: str) -> list[dict]:
    return [
        {k: f.to_dict()[k] for k in ("kind", "severity", "summary", "objects", "evidence", "fix")}
        for f in top(name).report.findings
    ] + [{"verdict": top(name).verdict}]


def test_findings_are_stable():
    got = {name: _snapshot(name) for name in SCENARIOS}
    if os.environ.get("GOTRACE_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    want = json.loads(GOLDEN.read_text())
    assert sorted(got) == sorted(want)
    for name in SCENARIOS:
        assert got[name] == want[name], name


def _strip(text: str, pattern: str) -> str:
    return "\n".join(re.sub(pattern, "", ln) for ln in text.splitlines()) + "\n"


def test_without_durations_the_stall_is_still_found(tmp_path: Path):
    raw = (SAMPLES / "proxy-stall" / "trace.strace").read_text()
    (tmp_path / "trace.strace").write_text(_strip(raw, r" <\d+\.\d+>$"))
    (tmp_path / "meta.json").write_text((SAMPLES / "proxy-stall" / "meta.json").read_text())
    t = gotrace.load(tmp_path)
    assert not t.context.has_durations
    assert any("no -T durations" in x for x in t.context.limitations())
    assert t.report.findings[0].kind == "proxy-stall"


def test_without_timestamps_it_says_what_it_cannot_tell(tmp_path: Path):
    raw = (SAMPLES / "proxy-stall" / "trace.strace").read_text()
    p = tmp_path / "nots.strace"
    p.write_text(
        "\n".join(re.sub(r"^(\d+) +\d+\.\d+ ", r"\1 ", ln) for ln in raw.splitlines()) + "\n"
    )
    t = gotrace.load(p)
    assert not t.context.has_timestamps
    assert t.quiet_periods().empty
    assert any("no timestamps" in x for x in t.context.limitations())
    assert t.report.findings and "killed" in [f.kind for f in t.report.findings]


def test_without_fd_annotations_targets_are_rebuilt():
    t = gotrace.load(ROOT / "tests" / "data" / "strace" / "plain.strace")
    assert not t.context.has_annotations
    assert any("-y/-yy" in x for x in t.context.limitations())
    assert t.context.fd_replayed > 0


# -- issue 15: real-network scenarios (TLS, HTTP proxies, pauses, other go commands) -------
def _port(name: str, var: str) -> str:
    return re.findall(r":(\d+)", meta(name)["env"][var])[0]


def _verdict_of(name: str) -> tuple[str, gotrace.Trace]:
    t = top(name)
    return t.verdict, t


@pytest.mark.parametrize(
    ("name", "needles"),
    [
        ("tls-proxy-stall", ["GOPROXY; TLS established", "`GET /example.com/dep1/@v/v1.0.0.zip`"]),
        (
            "get-tls-stall",
            [
                "GOPROXY; TLS established",
                "example.org/pkg0/@v/v1.0.0.zip",
                # the URL is encrypted: go's own progress line says which module it was
                "(example.org/pkg0@v1.0.0, the last `go: downloading` line with no result;",
            ],
        ),
    ],
)
def test_tls_stall_names_url_setting_and_tls_state(name: str, needles: list[str]):
    verdict, t = _verdict_of(name)
    port = _port(name, "GOPROXY")
    assert verdict.startswith("stopped by gotrace --timeout after ")
    assert f"waiting for an answer from https://localhost:{port} (" in verdict
    assert "of encrypted request sent, nothing back" in verdict
    for needle in needles:
        assert needle in verdict
    assert t.report.findings[0].kind == "proxy-stall"
    assert "SIGTERM" not in verdict


def test_tls_stall_with_go_x_names_the_exact_url():
    verdict, _t = _verdict_of("tls-proxy-stall-x")
    port = _port("tls-proxy-stall-x", "GOPROXY")
    assert f"`GET https://localhost:{port}/example.com/dep1/@v/v1.0.0.zip`" in verdict
    assert "go -x shows" not in verdict


def test_tls_handshake_stall():
    verdict, t = _verdict_of("tls-handshake-stall")
    port = _port("tls-handshake-stall", "GOPROXY")
    assert t.report.findings[0].kind == "tls-handshake-stall"
    assert (
        f"in the TLS handshake with https://localhost:{port} (GOPROXY; ClientHello sent" in verdict
    )


def test_connect_proxy_stall_names_proxy_variable_and_target():
    verdict, t = _verdict_of("connect-stall")
    port = _port("connect-stall", "HTTPS_PROXY")
    assert t.report.findings[0].kind == "http-proxy-stall"
    assert f"the HTTP proxy http://127.0.0.1:{port} (set by HTTPS_PROXY)" in verdict
    assert "proxy.golang.org:443" in verdict and "never answered" in verdict
    # the tunnel was for the GOPROXY entry: the verdict says so
    assert "(for the GOPROXY entry https://proxy.golang.org)" in verdict


def test_a_stall_behind_an_established_tunnel_names_the_tunnel_and_what_stalled():
    verdict, t = _verdict_of("connect-tls-stall")
    port = _port("connect-tls-stall", "HTTPS_PROXY")
    f = t.report.findings[0]
    assert f.kind == "proxy-stall"
    for named in (f"http://127.0.0.1:{port}", "HTTPS_PROXY", "https://proxy.golang.org"):
        assert named in f.objects
    assert verdict.startswith("stopped by gotrace --timeout after ")
    assert (
        f"from https://proxy.golang.org (GOPROXY; through the HTTP proxy http://127.0.0.1:{port}"
        " (set by HTTPS_PROXY), whose CONNECT tunnel to proxy.golang.org:443 is established "
        "(200 Connection established); TLS established, "
    ) in verdict
    assert "most likely `GET /example.com/dep1/@v/v1.0.0.zip`" in verdict


def test_connect_proxy_407():
    verdict, t = _verdict_of("connect-407")
    port = _port("connect-407", "HTTPS_PROXY")
    assert t.report.findings[0].kind == "http-proxy-refused"
    assert f"http://127.0.0.1:{port} (set by HTTPS_PROXY)" in verdict
    assert (
        "`CONNECT proxy.golang.org:443` (for the GOPROXY entry https://proxy.golang.org) with "
        "407 Proxy Authentication Required"
    ) in verdict


def test_proxied_stall_names_proxy_variable_target_and_request():
    """GOPROXY=http://goproxy.test through HTTP_PROXY: go sends the whole URL to the proxy."""
    verdict, t = _verdict_of("proxied-stall")
    port = _port("proxied-stall", "HTTP_PROXY")
    f = t.report.findings[0]
    assert f.kind == "http-proxy-stall"
    request = "GET http://goproxy.test/example.com/dep1/@v/v1.0.0.zip"
    for named in (f"127.0.0.1:{port}", request, "HTTP_PROXY", "http://goproxy.test"):
        assert named in f.objects
    assert verdict.startswith("stopped by gotrace --timeout after ")
    assert f"TCP 127.0.0.1:{port} after sending `{request}`" in verdict
    assert (
        f"the HTTP proxy http://127.0.0.1:{port} (set by HTTP_PROXY) accepted the request for "
        "the GOPROXY entry http://goproxy.test and never answered"
    ) in verdict
    assert "SIGTERM" not in verdict


def test_proxy_502_names_proxy_variable_target_request_and_answer():
    verdict, t = _verdict_of("proxy-502")
    port = _port("proxy-502", "HTTP_PROXY")
    f = t.report.findings[0]
    assert f.kind == "http-proxy-refused"
    request = "GET http://goproxy.test/example.com/dep1/@v/v1.0.0.zip"
    for named in (f"127.0.0.1:{port}", request, "HTTP_PROXY", "http://goproxy.test"):
        assert named in f.objects
    assert "502 Bad Gateway" in f.objects
    assert verdict == (
        f"the HTTP proxy http://127.0.0.1:{port} (set by HTTP_PROXY) answered `{request}` "
        "(for the GOPROXY entry http://goproxy.test) with 502 Bad Gateway"
    )
    # the HTTP answers section says where the 502 came from and through what
    assert t.report.exchanges == [
        f"example.com/dep1/@v/v1.0.0.zip: 502 from http://goproxy.test (via http://127.0.0.1:{port})"
    ]


def test_pause_then_success_tells_the_truth():
    verdict, t = _verdict_of("pause-recover")
    port = proxy_ports("pause-recover")[0]
    assert verdict.startswith("exited 0 after ")
    assert (
        f"; paused 3.0 s in the middle of example.com/dep2/@v/v1.0.0.zip from http://127.0.0.1:{port}"
        in verdict
    )
    assert not [f for f in t.report.findings if f.severity == "error"]


@pytest.mark.parametrize(
    ("name", "request_"),
    [
        ("pipe-stall", "GET /example.com/dep0/@v/v1.0.0.zip"),
        ("build-stall", "GET /example.com/lib2/@v/v1.0.0.zip"),
        ("list-stall", "GET /example.net/lst2/@v/v1.0.0.mod"),
        ("test-stall", "GET /example.com/tdep1/@v/v1.0.0.zip"),
    ],
)
def test_plain_stalls_of_other_variants(name: str, request_: str):
    verdict, t = _verdict_of(name)
    port = proxy_ports(name)[0]
    assert verdict.startswith("stopped by gotrace --timeout after ")
    assert f"TCP 127.0.0.1:{port} after sending `{request_}`" in verdict
    if name == "pipe-stall":
        assert "`|`" in (t.report.findings[0].fix or "")
    # go build, go list -m all, go test: the same diagnosis as go mod download's
    assert t.report.findings[0].kind == "proxy-stall"
    assert "the module proxy accepted the request and never answered" in verdict
    assert f"http://127.0.0.1:{port}" in t.report.findings[0].objects
    if name in ("build-stall", "test-stall"):
        [stop] = [f for f in t.report.findings if f.kind == "silent-stop"]
        assert stop.summary.endswith(
            "before it printed any message (only 3 `go: downloading` lines)"
        )


def test_fallback_statuses_are_in_the_report():
    a = top("fallback-404").report
    first, second = proxy_ports("fallback-404")
    line = f"example.com/dep1/@v/v1.0.0.zip: 404 from http://127.0.0.1:{first}, then 200 from http://127.0.0.1:{second} after the comma"
    assert line in a.exchanges


def test_git_stall_names_the_git_server_and_the_setting():
    verdict, t = _verdict_of("git-stall")
    assert t.report.findings[0].kind == "git-stall"
    assert "`GET /m.git/info/refs?service=git-upload-pack`" in verdict
    assert "the git server http://git.example.test/m.git" in verdict
    assert "GOPRIVATE=git.example.test" in verdict
    # the https probe go recovered from over http is shown, but never as the cause
    probe = [f for f in t.report.findings if f.kind == "https-probe-refused"]
    assert probe and probe[0].severity == "info"


def test_git_ok_is_a_success():
    verdict, t = _verdict_of("git-ok")
    assert verdict.startswith("exited 0")
    assert not [f for f in t.report.findings if f.severity == "error"]


def test_tls_connections_say_what_alpn_shows_and_no_more():
    """go offers h2 and http/1.1 (-s 256 cuts the list after h2: the ClientHello is ~1.5 kB);
    TLS 1.3 encrypts the server's choice, so none is claimed."""
    t = top("tls-ok")
    tls = [c for c in t.report.connections if c.tls]
    assert tls and all(c.tls_version == "TLS 1.3" for c in tls)
    assert all((c.alpn, c.alpn_cut, c.alpn_chosen) == (["h2"], True, None) for c in tls)
    assert tls[0].http_version() == (
        "ALPN offered h2,… (the rest cut by strace -s), the server's choice encrypted "
        "(TLS 1.3 EncryptedExtensions)"
    )
