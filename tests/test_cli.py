"""The CLI end to end: real processes, real exit codes, one-line errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from conftest import DATA, raw_lines


def gotrace(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gotrace", *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_analyze_prints_process_tree_and_table():
    r = gotrace("analyze", str(DATA / "f_pid.strace"))
    assert r.returncode == 0, r.stderr
    assert "Processes" in r.stdout and "syscall" in r.stdout
    assert "Traceback" not in r.stderr


def test_analyze_json_numbers_match_the_log():
    name = "go_mod_download.strace"
    r = gotrace("analyze", "--json", str(DATA / name))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    lines = raw_lines(name)
    for key in (
        "events",
        "parse_errors",
        "processes",
        "syscalls",
        "slowest",
        "in_flight",
        "failures",
    ):
        assert key in out
    assert out["parse_errors"]["count"] == 0
    # syscall counts, checked against the raw log: every call starts on a line that is
    # either complete or unfinished ("<... x resumed>" lines continue one)
    starts = [re.match(r"^\d+ +[\d.]+ (\w+)\(", ln) for ln in lines]
    counts: dict[str, int] = {}
    for m in starts:
        if m:
            counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    got = {row["syscall"]: row["calls"] for row in out["syscalls"]}
    assert got == counts
    errors = sum(1 for ln in lines if re.search(r"= -1 E(?!RESTART)[A-Z]+ \(", ln))
    assert sum(row["errors"] for row in out["syscalls"]) == errors
    # process tree: every execve'd go / git process appears with its argv
    execs = [ln for ln in lines if re.search(r"execve\(", ln)]
    assert execs
    procs = out["processes"]
    roots = [p for p in procs if p["parent"] is None]
    assert len(roots) == 1
    assert roots[0]["argv"][0].endswith("go") and roots[0]["argv"][1:3] == ["mod", "download"]
    assert roots[0]["exit_status"] == 0
    # threads: Go starts many; strace saw one tid per thread
    tids = {int(ln.split()[0]) for ln in lines if re.match(r"^\d+ ", ln)}
    assert sum(p["threads"] for p in procs) == len(tids)


def test_analyze_reads_stdin():
    data = (DATA / "f_pid.strace").read_bytes()
    r = gotrace("analyze", "--json", "-", stdin=data)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["events"] > 0


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.strace", "no such file"),
        (lambda d: d, "is a directory"),
        (lambda d: _file(d / "empty.strace", b""), "empty file"),
        (lambda d: _file(d / "bin.strace", b"\x00\x01\x02ELF"), "binary file"),
        (lambda d: _file(d / "words.txt", b"hello\nworld\n"), "not a strace log"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(tmp_path: Path, make, message: str):
    path = make(tmp_path)
    r = gotrace("analyze", str(path))
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and str(path) in lines[0]


def test_strict_stops_at_first_bad_line(tmp_path: Path):
    p = tmp_path / "t.strace"
    p.write_text("123 getpid() = 123\nnot strace\n123 getpid() = 123\n")
    r = gotrace("analyze", "--strict", str(p))
    assert r.returncode == 1
    assert ":2:" in r.stderr and "Traceback" not in r.stderr
    r = gotrace("analyze", "--json", str(p))
    assert r.returncode == 0
    pe = json.loads(r.stdout)["parse_errors"]
    assert pe["count"] == 1 and pe["first"][0]["line"] == 2


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_events_writes_each_format_with_filters(tmp_path: Path, fmt: str):
    out = tmp_path / f"x.{fmt}"
    r = gotrace(
        "events",
        str(DATA / "go_mod_download.strace"),
        "-o",
        str(out),
        "--syscall",
        "openat",
        "--failed",
    )
    assert r.returncode == 0, r.stderr
    if fmt == "parquet":
        df = pl.read_parquet(out)
    elif fmt == "csv":
        df = pl.read_csv(out)
    else:
        df = pl.read_ndjson(out)
    lines = raw_lines("go_mod_download.strace")
    complete = sum(1 for ln in lines if re.match(r"^\d+ +[\d.]+ openat\(.*= -1 E", ln))
    resumed = sum(
        1 for ln in lines if re.match(r"^\d+ +[\d.]+ <\.\.\. openat resumed>.*= -1 E", ln)
    )
    expect = complete + resumed
    assert df.height == expect > 0
    assert set(df["syscall"].unique().to_list()) == {"openat"}
    for col in (
        "line",
        "kind",
        "pid",
        "ts",
        "end_ts",
        "syscall",
        "args",
        "ret",
        "errno",
        "duration",
        "in_flight",
    ):
        assert col in df.columns


def test_events_pid_filter_and_no_overwrite(tmp_path: Path):
    out = tmp_path / "x.parquet"
    first_pid = raw_lines("f_pid.strace")[0].split()[0]
    assert (
        gotrace("events", str(DATA / "f_pid.strace"), "-o", str(out), "--pid", first_pid).returncode
        == 0
    )
    assert set(pl.read_parquet(out)["pid"].to_list()) == {int(first_pid)}
    r = gotrace("events", str(DATA / "f_pid.strace"), "-o", str(out))
    assert r.returncode == 2 and "already exists" in r.stderr
    assert gotrace("events", str(DATA / "f_pid.strace"), "-o", str(out), "--force").returncode == 0


SECRETS = (
    '7 1700000000.000001 write(3<TCP:[127.0.0.1:1->127.0.0.1:2]>, "GET / HTTP/1.1\\r\\n'
    'Proxy-Authorization: Basic czNjcmV0\\r\\n", 48) = 48 <0.000010>\n'
    '7 1700000000.000002 execve("/usr/bin/git", ["git", "fetch", "https://bob:tok123@h/r"], '
    '["NPM_TOKEN=npm_zzz"]) = 0 <0.000100>\n'
    "7 1700000000.000003 getpid() = 7 <0.000001>\n"
)


@pytest.mark.parametrize("source", ["file", "stdin", "saved"])
def test_events_are_redacted_unless_asked_not_to(tmp_path: Path, source: str):
    src = tmp_path / "s.strace"
    src.write_text(SECRETS)
    arg, stdin = (str(src), None) if source == "file" else ("-", SECRETS.encode())
    if source == "saved":  # events saved with their secrets, read back
        arg = str(tmp_path / "raw.parquet")
        assert gotrace("events", str(src), "-o", arg, "--no-redact").returncode == 0
        stdin = None
    for flags, kept in (([], False), (["--no-redact"], True)):
        out = tmp_path / "x.jsonl"
        r = gotrace("events", arg, "-o", str(out), "--force", *flags, stdin=stdin)
        assert r.returncode == 0, r.stderr
        text = out.read_text()
        assert len(text.splitlines()) == 3
        for secret in ("czNjcmV0", "tok123", "npm_zzz"):
            assert (secret in text) is kept, (flags, secret)
        assert ("[REDACTED]" in text) is not kept


def test_ff_set_given_as_files_is_one_trace():
    files = sorted(str(p) for p in (DATA / "ff").glob("trace.*"))
    r = gotrace("analyze", "--json", *files)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert isinstance(out, dict) and len(out["processes"]) >= 2


def test_help_is_quick_and_lists_commands():
    r = gotrace("--help")
    assert r.returncode == 0 and "analyze" in r.stdout and "events" in r.stdout


@pytest.mark.parametrize(
    ("data", "message"), [(b"", "empty file"), (b"\x00\x01ELF", "binary file")]
)
def test_events_refuses_bad_input_in_one_line(tmp_path: Path, data: bytes, message: str):
    src = _file(tmp_path / "in.strace", data)
    r = gotrace("events", str(src), "-o", str(tmp_path / "x.parquet"))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"gotrace: error: {src}: {message}")
    assert not (tmp_path / "x.parquet").exists()
