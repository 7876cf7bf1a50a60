"""The output analyzer on real go runs (tests/data/captures, tests/data/strace) and on inline
strace lines for the forms the lab does not produce (closed stderr, writev, -s cuts)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import polars as pl
import pytest

import gotrace
from gotrace.analyzers import output
from gotrace.analyzers.context import Context, build
from gotrace.analyzers.findings import Finding
from gotrace.parsers.args import decode_string, split_args

DATA = Path(__file__).parent / "data"
CAPTURES = DATA / "captures"
STRACE = DATA / "strace"
SAMPLES = Path(__file__).parent.parent / "sample_traces"


@cache
def context(name: str) -> Context:
    path = CAPTURES / name if (CAPTURES / name).is_dir() else STRACE / name
    return build(gotrace.load(path))


def raw(name: str) -> list[str]:
    return (CAPTURES / name / "trace.strace").read_text().splitlines()


def kinds(found: list[Finding]) -> list[str]:
    return [f.kind for f in found]


def inline(tmp_path: Path, text: str) -> Context:
    log = tmp_path / "inline.strace"
    log.write_text(text)
    return build(gotrace.load(log))


# -- writes ---------------------------------------------------------------------------------
def test_stderr_devnull_recovers_the_error() -> None:
    name = "stderr-devnull"
    lines = raw(name)
    [n] = [i for i, ln in enumerate(lines, 1) if " write(2</dev/null" in ln]
    args = lines[n - 1].split(" write(", 1)[1].rsplit(") = ", 1)[0]
    buffer = decode_string(split_args(args)[1])
    assert buffer is not None
    ctx = context(name)
    w = output.writes(ctx).filter(pl.col("line") == n).to_dicts()
    assert len(w) == 1
    assert w[0]["fd"] == 2 and w[0]["target_kind"] == "devnull"
    assert w[0]["text"] == buffer.text()
    assert w[0]["bytes"] == len(buffer.value) and not w[0]["truncated"]
    found = output.findings(ctx)
    assert kinds(found) == ["error-to-devnull", "not-found"]
    devnull = found[0]
    first = buffer.text().splitlines()[0]
    assert devnull.summary == f"the error was written to stderr, which was /dev/null: {first}"
    assert devnull.severity == "error" and devnull.evidence == (n,)
    assert devnull.detail["messages"] == [buffer.text().rstrip("\n")]
    assert "example.com/dep1@v1.0.0" in devnull.objects
    assert found[1].detail["hidden"] is True
    assert json.loads((CAPTURES / name / "meta.json").read_text())["exit_status"] == 1


def test_checksum_mismatch() -> None:
    found = output.findings(context("checksum-mismatch"))
    assert kinds(found) == ["checksum-mismatch"]
    f = found[0]
    assert f.summary == "verifying example.com/dep1@v1.0.0: checksum mismatch"
    assert f.severity == "error" and f.objects == ("example.com/dep1@v1.0.0",)
    assert f.fix == (
        "the proxy served different content than go.sum records: check the proxy / GONOSUMDB / "
        "re-run with GOFLAGS=-mod=mod only if you trust the source"
    )
    assert "SECURITY ERROR" in f.detail["messages"][0]
    assert f.detail["targets"] == ["pipe"]
    [n] = [i for i, ln in enumerate(raw("checksum-mismatch"), 1) if " write(2<pipe:" in ln]
    assert f.evidence == (n,)


def test_goproxy_off() -> None:
    [f] = output.findings(context("goproxy-off"))
    assert f.kind == "goproxy-off"
    assert f.summary == "go: example.com/dep0@v1.0.0: module lookup disabled by GOPROXY=off"
    assert f.objects == ("example.com/dep0@v1.0.0",)


def test_cache_readonly_messages_grouped() -> None:
    [f] = output.findings(context("cache-readonly"))
    assert f.kind == "cache-permission"
    assert f.summary.startswith("go: writing go.mod cache: mkdir ")
    assert f.summary.endswith(": permission denied (+2 more)")
    assert len(f.evidence) == 3
    assert f.objects[0].endswith("/cache/download/example.com/dep2")


@pytest.mark.parametrize("name", ["cold-ok", "up-to-date", "go_mod_download.strace"])
def test_silent_success(name: str) -> None:
    ctx = context(name)
    found = output.findings(ctx)
    assert kinds(found) == ["silent-success"]
    assert "prints nothing on success" in found[0].summary
    assert found[0].severity == "info"
    end = output.outcome(ctx)
    assert end.status == 0 and end.signal is None and not end.failed


def test_telemetry_writes_to_devnull_are_not_errors() -> None:
    ctx = context("go_mod_download.strace")
    w = output.writes(ctx)
    telemetry = [pid for pid, argv in ctx.groups.argv.items() if argv[1:2] == ["** telemetry **"]]
    assert telemetry
    hidden = w.filter(pl.col("target_kind") == "devnull")
    assert hidden.height and set(hidden["tgid"]) <= set(telemetry)
    assert output.messages(ctx) == []


@pytest.mark.parametrize("name", ["killed", "lock-held"])
def test_silent_stop_when_gotrace_killed_it(name: str) -> None:
    # the lab's outer timeout is gotrace's --timeout: a stop, not a silent failure (issue 15)
    ctx = context(name)
    [f] = output.findings(ctx)
    assert f.kind == "silent-stop" and f.severity == "info"
    assert "stopped by gotrace --timeout" in f.summary and "SIGKILL" in f.summary
    lines = raw(name)
    root = json.loads((CAPTURES / name / "meta.json").read_text())["root_pid"]
    [kill] = [
        i for i, ln in enumerate(lines, 1) if ln.startswith(f"{root} ") and "+++ killed" in ln
    ]
    assert f.evidence == (kill,)


# -- go -x ----------------------------------------------------------------------------------
def test_go_x_matches_stderr_file() -> None:
    ctx = context("go_mod_download_http.strace")
    x = output.go_x(ctx)
    stderr = (STRACE / "go_mod_download_http.stderr").read_text().splitlines()
    assert stderr[-1].startswith("go mod download exit status")
    assert x["text"].to_list() == stderr[:-1]
    gets = x.filter(pl.col("kind") == "get")
    done = x.filter(pl.col("kind") == "get-status")
    assert gets.height == done.height == 9
    assert set(gets["url"]) == set(done["url"])
    assert set(done["status_code"]) == {200} and set(done["status"]) == {"200 OK"}
    assert done["seconds"].min() >= 0  # type: ignore[operator]
    assert output.findings(ctx) == []


def test_go_x_from_a_lab_capture() -> None:
    ctx = context("cold-ok-x")
    x = output.go_x(ctx)
    lines = raw("cold-ok-x")
    expected = sum(ln.count("# get ") for ln in lines if " write(2<" in ln)
    assert x.height == expected > 0
    proxy = json.loads((CAPTURES / "cold-ok-x" / "meta.json").read_text())["env"]["GOPROXY"]
    assert all(u.startswith(proxy + "/example.com/") for u in x["url"])
    assert {u.rsplit(".", 1)[-1] for u in x["url"]} == {"mod", "info", "zip"}
    # go wrote only -x lines: no message, no silent-* finding
    assert output.messages(ctx) == [] and output.findings(ctx) == []


@pytest.mark.parametrize(
    ("line", "fields"),
    [
        ("# get https://proxy.golang.org/x/@v/list", {"kind": "get", "url": "https://proxy.golang.org/x/@v/list"}),
        (
            "# get https://proxy.golang.org/x/@v/v1.0.0.zip: 404 Not Found (0.105s)",
            {"kind": "get-status", "status_code": 404, "status": "404 Not Found", "seconds": 0.105},
        ),
        (
            '# get https://p.example/x/@v/list: Get "https://p.example/x/@v/list": dial tcp: lookup p.example on 10.0.0.1:53: no such host (0.002s)',
            {"kind": "get-error", "seconds": 0.002, "url": "https://p.example/x/@v/list"},
        ),
        ("# get http://h/x: insecure", {"kind": "get-error", "error": "insecure", "seconds": None}),
        ("# lock /m/cache/vcs/abc.lock", {"kind": "lock", "path": "/m/cache/vcs/abc.lock"}),
        (
            "mkdir -p /m/cache/vcs # git3 https://github.com/a/b",
            {"kind": "mkdir", "dir": "/m/cache/vcs", "url": "https://github.com/a/b"},
        ),
        ("# /m/cache/vcs/abc for git3 https://github.com/a/b", {"kind": "vcs-dir", "dir": "/m/cache/vcs/abc"}),
        (
            "cd /m/cache/vcs/abc; git ls-remote -q origin",
            {"kind": "cmd", "dir": "/m/cache/vcs/abc", "command": "git ls-remote -q origin"},
        ),
        (
            "0.217s # cd /m/cache/vcs/abc; git fetch -f --depth=1 origin refs/tags/v1.0.0:refs/tags/v1.0.0",
            {"kind": "cmd-done", "seconds": 0.217, "dir": "/m/cache/vcs/abc"},
        ),
        ("git -c log.showsignature=false log -n1 --format=format:%H", {"kind": "cmd", "dir": None}),
    ],
)  # fmt: skip
def test_parse_x_line(line: str, fields: dict[str, object]) -> None:
    parsed = output.parse_x_line(line)
    assert parsed is not None
    for key, value in fields.items():
        assert parsed.get(key) == value, key


@pytest.mark.parametrize(
    "line",
    [
        "go: downloading example.com/a v1.0.0",
        "verifying example.com/dep1@v1.0.0: checksum mismatch",
        "# comment that is not -x",
        "go: example.com/dep0@v1.0.0: module lookup disabled by GOPROXY=off",
    ],
)
def test_not_x_lines(line: str) -> None:
    assert not output.is_x_line(line)


# -- message kinds --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "kind", "objects"),
    [
        (
            'go: example.com/dep0@v1.0.0: Get "http://goproxy.test:8080/example.com/dep0/@v/v1.0.0.mod": dial tcp: lookup goproxy.test on 127.0.0.1:53: read udp 127.0.0.1:37217->127.0.0.1:53: i/o timeout',
            "dns-timeout",
            ("example.com/dep0@v1.0.0", "goproxy.test", "127.0.0.1:53"),
        ),
        (
            'go: example.com/dep0@v1.0.0: Get "http://127.0.0.1:40211/example.com/dep0/@v/v1.0.0.mod": dial tcp 127.0.0.1:40211: connect: connection refused',
            "proxy-refused",
            ("example.com/dep0@v1.0.0", "127.0.0.1:40211"),
        ),
        (
            "go: example.com/a@v1.0.0: reading https://proxy.golang.org/example.com/a/@v/v1.0.0.mod: 404 Not Found",
            "not-found",
            ("example.com/a@v1.0.0", "https://proxy.golang.org/example.com/a/@v/v1.0.0.mod"),
        ),
        ("go: something else broke", "error-output", ()),
    ],
)  # fmt: skip
def test_classify_message(text: str, kind: str, objects: tuple[str, ...]) -> None:
    assert output.classify_message(text) == (kind, objects)


@pytest.mark.parametrize("scenario", ["proxy-refused", "dns-timeout"])
def test_sample_trace_message_kinds(scenario: str) -> None:
    path = SAMPLES / scenario
    if not (path / "trace.strace").exists():
        pytest.skip(f"sample_traces/{scenario} not captured on this machine")
    found = output.findings(build(gotrace.load(path)))
    assert kinds(found) == [scenario]
    assert found[0].severity == "error"


# -- inline forms -----------------------------------------------------------------------------
CLOSED = """\
300   1795968700.000000 execve("/usr/bin/go", ["go", "mod", "download"], 0x7ffd /* 3 vars */) = 0 <0.000100>
300   1795968700.100000 write(2, "go: example.com/a@v1.0.0: reading http://127.0.0.1:9/example.com/a/@v/v1.0.0.zip: 404 Not Found\\n", 96) = -1 EBADF (Bad file descriptor) <0.000005>
300   1795968700.200000 exit_group(1) = ?
300   1795968700.200100 +++ exited with 1 +++
"""


def test_closed_stderr(tmp_path: Path) -> None:
    ctx = inline(tmp_path, CLOSED)
    [w] = output.writes(ctx).to_dicts()
    assert (w["fd"], w["target_kind"], w["bytes"], w["errno"]) == (2, "closed", None, "EBADF")
    found = output.findings(ctx)
    assert kinds(found) == ["error-to-devnull", "not-found"]
    assert "which was closed (EBADF): go: example.com/a@v1.0.0: reading" in found[0].summary
    assert output.outcome(ctx).status == 1


def test_writev_tty_and_cut_strings(tmp_path: Path) -> None:
    text = (
        '400   1795968800.000000 execve("/usr/bin/go", ["go", "build"], 0x7ffd /* 3 vars */) = 0 <0.000100>\n'
        '400   1795968800.100000 writev(2</dev/pts/3<char 136:3>>, [{iov_base="go: ", iov_len=4}, '
        '{iov_base="boom\\n", iov_len=5}], 2) = 9 <0.000005>\n'
        '400   1795968800.200000 write(1</tmp/out.txt>, "0123456789"..., 300) = 300 <0.000005>\n'
        "400   1795968800.300000 exit_group(2) = ?\n"
        "400   1795968800.300100 +++ exited with 2 +++\n"
    )
    ctx = inline(tmp_path, text)
    w = output.writes(ctx).sort("line").to_dicts()
    assert [(r["fd"], r["target_kind"], r["text"], r["truncated"]) for r in w] == [
        (2, "tty", "go: boom\n", False),
        (1, "file", "0123456789", True),
    ]
    found = output.findings(ctx)
    assert kinds(found) == ["error-output"]
    assert found[0].summary == "go: boom" and found[0].severity == "error"


def test_silent_failure_exit_status(tmp_path: Path) -> None:
    text = (
        '500   1795968900.000000 execve("/usr/bin/go", ["go", "mod", "download"], 0x7ffd /* 3 vars */) = 0 <0.000100>\n'
        "500   1795968900.300000 exit_group(1) = ?\n"
        "500   1795968900.300100 +++ exited with 1 +++\n"
    )
    [f] = output.findings(inline(tmp_path, text))
    assert f.kind == "silent-failure" and f.severity == "error"
    assert f.summary == "go exited with status 1 and wrote no message to a visible stderr"
    assert f.evidence == (3,)


def test_unannotated_log(tmp_path: Path) -> None:
    ctx = build(gotrace.load(STRACE / "plain.strace"))
    [w] = output.writes(ctx).to_dicts()
    assert (w["fd"], w["text"]) == (1, "hello from basic\n")
    assert w["target_kind"] in ("unknown", "tty", "pipe", "file")
    assert output.findings(ctx) == []


def test_no_writes_schema(tmp_path: Path) -> None:
    ctx = inline(
        tmp_path,
        '600   1795969000.000000 openat(AT_FDCWD, "/x", O_RDONLY) = -1 ENOENT (No such file or directory) <0.000005>\n',
    )
    w = output.writes(ctx)
    assert w.height == 0 and w.columns[:3] == ["line", "ts", "pid"]
    assert output.go_x(ctx).height == 0


DOWNLOADING = """\
700   1795969100.000000 execve("/usr/bin/go", ["go", "build", "./..."], 0x7ffd /* 3 vars */) = 0 <0.000100>
700   1795969100.100000 write(2</dev/pts/3<char 136:3>>, "go: downloading example.com/dep1 v1.0.0\\n", 40) = 40 <0.000005>
700   1795969100.200000 write(2</dev/pts/3<char 136:3>>, "go: downloading example.com/Big v1.2.3-pre\\ngo: finding module for package x\\n", 75) = 75 <0.000005>
701   1795969100.250000 write(2</dev/null<char 1:3>>, "go: downloading example.com/nope v9.9.9\\n", 40) = 40 <0.000005>
700   1795969100.300000 exit_group(0) = ?
700   1795969100.300100 +++ exited with 0 +++
"""


def test_go_downloading_lines(tmp_path: Path) -> None:
    ctx = inline(tmp_path, DOWNLOADING)
    d = output.downloading(ctx)
    # pid 701 runs no go binary: its write is not go's
    assert d.select("line", "module", "version").rows() == [
        (2, "example.com/dep1", "v1.0.0"),
        (3, "example.com/Big", "v1.2.3-pre"),
    ]
    # progress lines are no messages
    assert [f.kind for f in output.findings(ctx) if f.kind != "silent-success"] == []
