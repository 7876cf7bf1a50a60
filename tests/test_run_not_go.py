"""``gotrace run`` on commands that are not go, under real strace: no go-specific verdict or
advice (no "nothing to download", no GOPROXY, no -x), stderr rebuilt from all its writes,
and the generic findings (blocked call, quiet period, lost stderr, signals) still there."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")

#: the interpreter itself, not a shim on PATH (pyenv's runs bash, which writes to /dev/null)
PY = os.path.realpath(sys.executable)
#: words that only make sense for go
GO_WORDS = ("GOPROXY", "module cache", "nothing to download", "-x", "go's", "go sets", "go has")


def run(tmp_path: Path, *argv: str, timeout: float | None = None) -> tuple[int, dict[str, Any]]:
    out, js = tmp_path / "cap", tmp_path / "a.json"
    extra = ["--timeout", str(timeout)] if timeout else []
    env = {**os.environ, "GOPROXY": "http://127.0.0.1:1", "GOFLAGS": "-x"}
    r = subprocess.run(
        [sys.executable, "-m", "gotrace", "run", "-o", str(out), "--json", str(js), *extra, "--", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )  # fmt: skip
    return r.returncode, json.loads(js.read_text())


def no_go_words(a: dict[str, Any]) -> None:
    texts = [a["verdict"], *a["settings"], *a["exchanges"]]
    texts += [t for f in a["findings"] for t in (f["summary"], f["fix"] or "")]
    for text in texts:
        for word in GO_WORDS:
            assert word not in text, (word, text)


def kinds(a: dict[str, Any]) -> list[str]:
    return [f["kind"] for f in a["findings"]]


def test_python_sleep_is_a_quiet_success(tmp_path: Path) -> None:
    code, a = run(tmp_path, PY, "-c", "import time; time.sleep(1.5)")
    assert code == 0
    assert a["verdict"].startswith("exited 0 after ") and "; quiet 1." in a["verdict"]
    assert "slept" in a["verdict"]
    assert "quiet" in kinds(a) and "silent-success" in kinds(a)
    no_go_words(a)


def test_failing_ls_every_write_of_stderr(tmp_path: Path) -> None:
    script = (
        "ls /nonexistent; "
        f'{PY} -c \'import os; os.write(2, b"part one, "); os.write(2, b"part two\\n")\'; '
        "exit 2"
    )
    code, a = run(tmp_path, "sh", "-c", script)
    assert code == 2
    assert a["verdict"] == "ls: cannot access '/nonexistent': No such file or directory (+1 more)"
    [msgs] = [f["detail"]["messages"] for f in a["findings"] if f["kind"] == "error-output"]
    assert msgs[1] == "part one, part two"  # written in two pieces
    assert "exit-status" in kinds(a)
    no_go_words(a)


def test_lost_stderr_and_a_refused_connect(tmp_path: Path) -> None:
    code, a = run(
        tmp_path, "sh", "-c", "ls /nonexistent 2>/dev/null; curl -sS http://127.0.0.1:1/; exit 3"
    )
    assert code == 3
    assert a["verdict"].startswith("the error was written to stderr, which was /dev/null: ls: ")
    # GOPROXY names the port curl tried, but curl is not go: no proxy in it
    [refused] = [f for f in a["findings"] if f["kind"] == "connect-failed"]
    assert refused["summary"] == "connect to 127.0.0.1:1 failed: ECONNREFUSED"
    assert "proxy-refused" not in kinds(a)
    no_go_words(a)


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A loopback server that reads each request and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            c.recv(4096)
            held.append(c)

    threading.Thread(target=serve, daemon=True).start()
    yield srv.getsockname()[1]
    srv.close()
    for c in held:
        c.close()


def test_http_get_that_never_gets_an_answer(tmp_path: Path, black_hole: int) -> None:
    url = f"http://127.0.0.1:{black_hole}/thing"
    code, a = run(
        tmp_path, PY, "-c", f"import urllib.request; urllib.request.urlopen({url!r})", timeout=2
    )
    assert code == 143  # gotrace's SIGTERM
    assert a["verdict"].startswith("stopped by gotrace --timeout after ")
    assert (
        "blocked " in a["verdict"]
        and f"TCP 127.0.0.1:{black_hole} after sending `GET /thing`" in a["verdict"]
    )
    assert a["findings"][0]["kind"] == "socket-stall"
    assert "stopped" in kinds(a)  # the signal: gotrace's own, not a cause
    assert a["exchanges"] == [] and a["settings"] == []
    no_go_words(a)


def test_killed_by_a_signal(tmp_path: Path) -> None:
    code, a = run(tmp_path, "sh", "-c", "kill -TERM $$")
    assert code == 143
    assert "killed by SIGTERM" in a["verdict"]
    no_go_words(a)


def test_a_success_that_wrote_to_stderr_is_still_a_success(tmp_path: Path) -> None:
    code, a = run(tmp_path, "sh", "-c", "ls /nonexistent 2>/dev/null; echo note >&2; exit 0")
    assert code == 0
    assert a["verdict"].startswith("exited 0 after ")
    # what it said is there, as information: a script's 2>/dev/null is no cause of anything
    found = {f["kind"]: f["severity"] for f in a["findings"]}
    assert found["error-to-devnull"] == "info" and found["error-output"] == "info"
    no_go_words(a)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_https_to_a_server_that_never_answers_the_client_hello(
    tmp_path: Path, black_hole: int
) -> None:
    code, a = run(tmp_path, "curl", "-sS", f"https://localhost:{black_hole}/x", timeout=2)
    assert code == 143
    assert a["findings"][0]["kind"] == "tls-handshake-stall"
    want = f"in the TLS handshake with https://localhost:{black_hole} (ClientHello sent, no answer"
    assert want in a["verdict"]
    no_go_words(a)


def test_go_version_downloads_nothing_and_says_no_more(tmp_path: Path) -> None:
    from gotrace.errors import GotraceError
    from gotrace.lab.gotool import find_go

    try:
        go = find_go()
    except GotraceError as exc:
        pytest.skip(str(exc))
    code, a = run(tmp_path, str(go.binary), "version")
    assert code == 0
    assert a["verdict"].startswith("exited 0 after ") and a["verdict"].endswith(
        "; nothing went quiet"
    )
