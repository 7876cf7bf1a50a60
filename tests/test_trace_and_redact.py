from __future__ import annotations

from pathlib import Path

import polars as pl
from conftest import DATA

import gotrace
from gotrace.parsers.args import decode_string, parse_fd, parse_socket, split_args
from gotrace.redact import MASK, redact_env, redact_text

SECRET_LOG = (
    '100 1.000000 write(3<TCP:[127.0.0.1:1->127.0.0.1:2]>, "GET /x HTTP/1.1\\r\\nAuthorization: Basic '
    'dXNlcjpzM2NyZXQ=\\r\\n\\r\\n", 60) = 60 <0.000010>\n'
    '100 1.000100 execve("/usr/bin/git", ["git", "fetch", "https://bob:tok123@example.com/r"], '
    '["GITHUB_TOKEN=ghp_zzz", "HOME=/root"]) = 0 <0.000100>\n'
    '100 1.000200 read(4</root/.netrc>, "machine example.com login bob password hunter2\\n", 4096) = 47 '
    "<0.000010>\n"
)


def test_save_and_load_round_trip(tmp_path: Path):
    t = gotrace.load(DATA / "go_mod_download.strace")
    path = t.save(tmp_path / "ev.parquet")
    again = gotrace.load(path)
    assert again.frame.equals(t.frame)
    assert again.meta["source"] == t.meta["source"]
    ev = again.events
    assert str(ev["syscall"].dtype) == "category"
    assert ev["in_flight"].dtype == bool
    assert "string" in str(ev["args"].dtype)


def test_processes_and_repr():
    t = gotrace.load(DATA / "f_pid.strace")
    procs = t.processes
    root = procs[procs["parent"].isna()].iloc[0]
    assert root["exit_status"] == 0
    children = procs[procs["parent"] == root["pid"]]
    assert len(children) >= 1
    assert "events" in repr(t)
    bundle = t._repr_mimebundle_()
    assert "text/html" in bundle and "text/plain" in bundle


def test_secrets_are_redacted_on_load_and_in_saved_files(tmp_path: Path):
    p = tmp_path / "s.strace"
    p.write_text(SECRET_LOG)
    t = gotrace.load(p)
    text = " ".join(t.frame["args"].to_list())
    for secret in ("dXNlcjpzM2NyZXQ=", "tok123", "ghp_zzz", "hunter2"):
        assert secret not in text
    assert MASK in text
    t.save(tmp_path / "ev.parquet")
    saved = " ".join(pl.read_parquet(tmp_path / "ev.parquet")["args"].to_list())
    assert "hunter2" not in saved and "tok123" not in saved
    raw = gotrace.load(p, redact=False)
    assert "hunter2" in " ".join(raw.frame["args"].to_list())


def test_secrets_are_redacted_when_the_log_comes_on_stdin(monkeypatch) -> None:
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(SECRET_LOG.encode())))
    t = gotrace.load("-")
    text = " ".join(t.frame["args"].to_list())
    for secret in ("dXNlcjpzM2NyZXQ=", "tok123", "ghp_zzz", "hunter2"):
        assert secret not in text
    assert t.meta["redacted"] is True and t.frame.height == 3


def test_redact_helpers():
    assert redact_text("https://u:p@h/x") == f"https://{MASK}@h/x"
    assert redact_env({"NPM_TOKEN": "x", "GOPROXY": "https://a:b@p"}) == {
        "NPM_TOKEN": MASK,
        "GOPROXY": f"https://{MASK}@p",
    }


def test_credential_variables_are_redacted():
    """sample_traces/capture.py dropped *CREDENTIAL* variables from meta.json while the
    redactor kept them: one list now, in gotrace.redact."""
    import polars as pl

    from gotrace.redact import SECRET_NAME, redact_frame

    assert redact_env({"AWS_CREDENTIALS": "x", "GOFLAGS": "-mod=mod"}) == {
        "AWS_CREDENTIALS": MASK,
        "GOFLAGS": "-mod=mod",
    }
    args = '"/usr/bin/git", ["git"], ["GIT_CREDENTIAL_TOKEN2=abc", "HOME=/root"]'
    assert redact_text(args) == args.replace("=abc", "=" + MASK)
    frame = pl.DataFrame({"args": ['["MY_CREDENTIAL=s3cr3t", "PATH=/bin"]']})
    assert redact_frame(frame)["args"][0] == f'["MY_CREDENTIAL={MASK}", "PATH=/bin"]'
    assert SECRET_NAME.search("google_application_credentials")


def test_argument_decoding():
    assert split_args('3</a,b>, "x, y", {a=1, b=[2, 3]}, 0') == [
        "3</a,b>",
        '"x, y"',
        "{a=1, b=[2, 3]}",
        "0",
    ]
    s = decode_string('"GET / HTTP/1.1\\r\\n\\33\\x41"...')
    assert s is not None and s.value == b"GET / HTTP/1.1\r\n\x1bA" and s.truncated
    fd = parse_fd("0</dev/null<char 1:3>>")
    assert fd is not None and (fd.fd, fd.target, fd.detail) == (0, "/dev/null", "char 1:3")
    sock = parse_socket("TCP:[127.0.0.1:41877->127.0.0.1:8081]")
    assert sock is not None and sock.remote == "127.0.0.1:8081" and sock.local == "127.0.0.1:41877"
    assert parse_socket("TCP:[14763]") is not None and parse_socket("TCP:[14763]").inode == 14763  # type: ignore[union-attr]
