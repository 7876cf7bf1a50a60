"""The lab proxy's faults, seen from a plain HTTP client on 127.0.0.1 (no go needed)."""

from __future__ import annotations

import base64
import hashlib
import http.client
import socket
import threading
import time
from pathlib import Path

import pytest

from gotrace.lab.modules import build_module, make_specs, write_proxy_tree, zip_hash
from gotrace.lab.proxy import (
    Fault,
    FaultKind,
    ModuleProxy,
    gosumdb_value,
    refused_port,
    sumdb_vkey,
)

ZIP = "/example.com/dep0/@v/v1.0.0.zip"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    write_proxy_tree(tmp_path, [build_module(s) for s in make_specs(1, size=20000)])
    return tmp_path


def _conn(proxy: ModuleProxy, timeout: float = 5.0) -> http.client.HTTPConnection:
    # http.client, not urllib: urllib would honour an inherited HTTP_PROXY.
    return http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=timeout)


def _get(proxy: ModuleProxy, path: str) -> tuple[int, bytes]:
    conn = _conn(proxy)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_serves_the_tree_and_logs_requests(tree: Path) -> None:
    with ModuleProxy(tree) as proxy:
        status, body = _get(proxy, ZIP)
        assert status == 200
        assert (tree / ZIP.lstrip("/")).read_bytes() == body
        assert _get(proxy, "/example.com/dep0/@v/list") == (200, b"v1.0.0\n")
        assert _get(proxy, "/example.com/nope/@v/list")[0] == 404
        assert _get(proxy, "/../../etc/passwd")[0] == 404
    assert [(r.method, r.path, r.fault) for r in proxy.requests] == [
        ("GET", ZIP, "normal"),
        ("GET", "/example.com/dep0/@v/list", "normal"),
        ("GET", "/example.com/nope/@v/list", "normal"),
        ("GET", "/../../etc/passwd", "normal"),
    ]
    assert all(r.time > 0 for r in proxy.requests)


@pytest.mark.parametrize("kind", ["404", "410", "500"])
def test_status_faults(tree: Path, kind: FaultKind) -> None:
    with ModuleProxy(tree, [Fault(kind, "*.zip")]) as proxy:
        code, body = _get(proxy, ZIP)
        assert str(code) == kind and b"gotrace lab" in body
        assert _get(proxy, "/example.com/dep0/@v/v1.0.0.mod")[0] == 200
    assert proxy.paths(kind) == [ZIP]


def test_first_matching_fault_wins(tree: Path) -> None:
    with ModuleProxy(tree, [Fault("410", "*dep0*.zip"), Fault("500")]) as proxy:
        assert _get(proxy, ZIP)[0] == 410
        assert _get(proxy, "/example.com/dep0/@v/list")[0] == 500


def test_corrupt_serves_a_zip_with_another_hash(tree: Path) -> None:
    with ModuleProxy(tree, [Fault("corrupt")]) as proxy:
        status, body = _get(proxy, ZIP)
    assert status == 200
    assert zip_hash(body) != zip_hash((tree / ZIP.lstrip("/")).read_bytes())


def test_reset_sends_rst(tree: Path) -> None:
    with ModuleProxy(tree, [Fault("reset")]) as proxy:
        conn = _conn(proxy)
        conn.request("GET", ZIP)
        with pytest.raises(ConnectionResetError):
            conn.getresponse().read()
        conn.close()


def test_stall_answers_nothing_and_stop_releases_it(tree: Path) -> None:
    proxy = ModuleProxy(tree, [Fault("stall")]).start()
    conn = _conn(proxy, timeout=0.5)
    conn.request("GET", ZIP)
    with pytest.raises(TimeoutError):
        conn.getresponse()
    assert proxy.paths("stall") == [ZIP]
    started = time.monotonic()
    proxy.stop()
    assert time.monotonic() - started < 2
    conn.close()


def test_stop_returns_promptly_with_a_client_waiting(tree: Path) -> None:
    baseline = threading.active_count()
    proxy = ModuleProxy(tree, [Fault("stall")]).start()
    errors: list[BaseException] = []

    def client() -> None:
        try:
            _get(proxy, ZIP)
        except (OSError, http.client.HTTPException) as exc:
            errors.append(exc)

    thread = threading.Thread(target=client)
    thread.start()
    deadline = time.monotonic() + 5
    while not proxy.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    proxy.stop()
    thread.join(timeout=5)
    assert time.monotonic() - started < 2
    assert not thread.is_alive() and errors  # the client saw the connection close
    deadline = time.monotonic() + 2
    while threading.active_count() > baseline and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == baseline
    with pytest.raises(RuntimeError):
        _ = proxy.port


def test_body_stall_sends_headers_and_part_of_the_body(tree: Path) -> None:
    with ModuleProxy(tree, [Fault("body_stall", partial=1000)]) as proxy:
        conn = _conn(proxy, timeout=0.5)
        conn.request("GET", ZIP)
        resp = conn.getresponse()
        assert resp.status == 200
        assert int(resp.headers["Content-Length"]) > 1000
        assert len(resp.read1(65536)) <= 1000
        with pytest.raises(TimeoutError):
            resp.read()
        conn.close()


def test_slow_paces_the_body(tree: Path) -> None:
    with ModuleProxy(tree, [Fault("slow", rate=40000)]) as proxy:
        started = time.monotonic()
        status, body = _get(proxy, ZIP)
        elapsed = time.monotonic() - started
    assert status == 200 and len(body) > 20000
    assert elapsed >= len(body) / 40000 * 0.8


def test_refused_port_refuses() -> None:
    with refused_port() as port, pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_only_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        ModuleProxy(None, host="0.0.0.0")


def test_unknown_fault_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        Fault("hang")  # type: ignore[arg-type]


def test_sumdb_key_hash_matches_the_real_sum_golang_org_key() -> None:
    # The verifier key built into cmd/go (modfetch/key.go): its hash field must come out the same.
    real = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
    key = base64.b64decode(real.split("+", 2)[2])
    assert sumdb_vkey("sum.golang.org", key[1:]) == real


def test_sumdb_vkey_is_what_note_new_verifier_accepts() -> None:
    name, key_hash, key64 = sumdb_vkey("sum.example.com").split("+")
    key = base64.b64decode(key64)
    assert name == "sum.example.com"
    assert key[0] == 1 and len(key) == 33
    assert key_hash == hashlib.sha256(b"sum.example.com\n" + key).digest()[:4].hex()
    assert gosumdb_value("http://127.0.0.1:9").endswith(" http://127.0.0.1:9")
