"""dtruss (macOS) logs and the dtruss capture backend.

The first tests read the two real dtruss outputs in ``tests/data/dtruss`` (provenance in
its SOURCES.tsv) and check every parsed value against the raw lines. Forms those files do
not contain are tested on SYNTHETIC lines, built below with the exact printf formats of
Apple's ``DTTk/dtruss`` and ``TritonDataCenter/dtruss-osx`` (quoted next to each helper).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import gotrace
from gotrace.analyzers.processes import process_table
from gotrace.errors import GotraceError
from gotrace.model.events import EVENT_SCHEMA, TraceParseError
from gotrace.parsers import dtruss
from gotrace.parsers.base import file_kind
from gotrace.tracer import dtruss as dtruss_tracer

DATA = Path(__file__).parent / "data" / "dtruss"
STRACE_DATA = Path(__file__).parent / "data" / "strace"
MACOS = DATA / "macos_10_13_f_hello.txt"
SOLARIS = DATA / "solaris_example.txt"
# dtruss's call line: "NAME(ARGS)\t\t = RET ERR" (the Solaris example has spaces for the tabs)
CALL_LINE = re.compile(r"^\s*(?:\d+/\S+:\s+)?(?:\d+\s+)*(\w+)\(.*\)\s+= (\S+) (0|Err#\d+)$")


def raw(path: Path) -> list[str]:
    return path.read_text().splitlines()


def rows_by_line(df: pl.DataFrame) -> dict[int, dict[str, object]]:
    return {r["line"]: r for r in df.iter_rows(named=True)}


# -- the real macOS 10.13 sample -----------------------------------------------------------
def test_macos_sample_every_call_line_is_one_syscall_event():
    df = dtruss.parse_frame(MACOS)
    assert list(df.schema.items()) == list(EVENT_SCHEMA.items())
    lines = raw(MACOS)
    calls = {i: m for i, text in enumerate(lines, 1) if (m := CALL_LINE.match(text))}
    sc = df.filter(pl.col("kind") == "syscall")
    assert sc["line"].to_list() == sorted(calls)
    by_line = rows_by_line(sc)
    for n, m in calls.items():
        row = by_line[n]
        assert row["syscall"] == m.group(1)
        assert row["ret"] == m.group(2)
        assert row["retval"] == int(m.group(2))
        assert row["args"] == lines[n - 1][len(m.group(1)) + 1 : lines[n - 1].rindex(")")]
    assert not sc["in_flight"].any()
    assert sc["ts"].null_count() == sc.height and sc["end_ts"].null_count() == sc.height
    assert sc["duration"].null_count() == sc.height  # no -e in this capture
    assert set(df["source"].to_list()) == {str(MACOS)}


def test_macos_sample_err_numbers_are_bsd_errnos():
    df = rows_by_line(dtruss.parse_frame(MACOS))
    lines = raw(MACOS)
    expected = {"Err#2": "ENOENT", "Err#22": "EINVAL", "Err#25": "ENOTTY"}
    seen = 0
    for n, text in enumerate(lines, 1):
        m = CALL_LINE.match(text)
        if not m:
            continue
        row = df[n]
        if m.group(3) == "0":
            assert row["errno"] is None and row["errmsg"] is None
            continue
        seen += 1
        assert row["errno"] == expected[m.group(3)]
        assert row["retval"] == -1
    assert seen == sum(text.endswith(tuple(expected)) for text in lines) == 6
    assert df[5]["errmsg"] == "No such file or directory"


def test_macos_sample_write_and_path_strings():
    df = rows_by_line(dtruss.parse_frame(MACOS))
    write = df[12]
    assert write["syscall"] == "write_nocancel"
    assert write["args"] == '0x1, "hello world\\n\\0", 0xC'
    assert write["retval"] == 12 and write["errno"] is None
    # args keep dtruss's "\0"; the helper drops it
    buf = dtruss.decode_dtruss_string('"hello world\\n\\0"')
    assert buf is not None and buf.value == b"hello world\n"
    path = dtruss.decode_dtruss_string('"/AppleInternal\\0"')
    assert path is not None and path.text() == "/AppleInternal"
    assert dtruss.decode_dtruss_string("0x7FFEED20E350") is None


def test_macos_sample_unprefixed_runs_take_the_pid_getpid_returned():
    df = dtruss.parse_frame(MACOS)
    # Two runs, each after its own header; the first calls getpid() = 3734, the second never
    # says its pid. Nothing of the second run may be given the first run's pid.
    first = df.filter(pl.col("line") < 13)
    second = df.filter(pl.col("line") >= 14)
    assert set(first["pid"].to_list()) == {3734}
    assert set(second["pid"].to_list()) == {0}


def test_macos_sample_prompts_and_snips_are_parse_errors_headers_are_notices():
    df = dtruss.parse_frame(MACOS)
    lines = raw(MACOS)
    errors = df.filter(pl.col("kind") == "parse_error")
    assert errors["line"].to_list() == [
        n for n, t in enumerate(lines, 1) if t.startswith("$ ") or t == "...snip..."
    ]
    assert errors["text"].to_list() == [lines[n - 1] for n in errors["line"]]
    assert all(r == dtruss.NOT_DTRUSS for r in errors["errmsg"])
    notices = df.filter(pl.col("kind") == "notice")
    assert notices["line"].to_list() == [2, 14]
    assert notices["text"].to_list() == ["SYSCALL(args) \t\t = return"] * 2


def test_strict_stops_at_the_first_line_that_is_not_dtruss():
    with pytest.raises(TraceParseError) as exc:
        dtruss.parse_frame(MACOS, strict=True)
    assert exc.value.line == 1 and exc.value.text == "$ sudo dtruss -f ./hello"


# -- the real Solaris example ----------------------------------------------------------------
def test_solaris_sample_pid_lwp_prefix():
    df = rows_by_line(dtruss.parse_frame(SOLARIS))
    lines = raw(SOLARIS)
    prefixed = [n for n, t in enumerate(lines, 1) if re.match(r"^\s*27547/1:\s", t)]
    assert len(prefixed) == 8
    for n in prefixed:
        assert df[n]["kind"] == "syscall"
        assert df[n]["pid"] == 27547
        assert df[n]["extra"] == "lwp=1"
    assert df[37]["syscall"] == "lwp_sigmask"
    assert df[37]["ret"] == "0xFFBFFEFF" and df[37]["retval"] == 0xFFBFFEFF
    assert df[37]["errno"] is None
    assert df[38]["args"] == '"/usr/bin/ls\\0", 0x8047A00, 0xFEC1D444'


def test_solaris_sample_elapsed_and_cpu_columns():
    """The -eon section: header "PID/LWP ELAPSD CPU"; ELAPSD (wall µs) becomes duration."""
    df = rows_by_line(dtruss.parse_frame(SOLARIS))
    lines = raw(SOLARIS)
    row_re = re.compile(r"^\s*3911/1:\s+(\d+)\s+(\d+) (\w+)\(")
    matched = [(n, m) for n, t in enumerate(lines, 1) if (m := row_re.match(t))]
    assert len(matched) == 13
    for n, m in matched:
        row = df[n]
        assert row["pid"] == 3911 and row["syscall"] == m.group(3)
        assert row["duration"] == pytest.approx(int(m.group(1)) / 1e6)
        assert row["extra"] == f"lwp=1 cpu_us={m.group(2)}"
    # the keystroke reads are the slow calls: ~1 s each
    assert df[53]["duration"] == pytest.approx(1.001579)


def test_solaris_sample_prose_is_reported_not_dropped():
    df = dtruss.parse_frame(SOLARIS)
    lines = raw(SOLARIS)
    nonblank = sum(1 for t in lines if t.strip())
    assert df.height == nonblank
    assert df.filter(pl.col("kind") == "notice")["line"].to_list() == [31, 51]
    assert df.filter(pl.col("line") == 40)["text"].to_list() == [" [...]"]


# -- format detection and loading ------------------------------------------------------------
def test_both_samples_are_detected_and_strace_logs_are_not():
    for path in (MACOS, SOLARIS):
        assert dtruss.is_dtruss(path.read_text()[:4096])
        assert file_kind(path) == "dtruss"
    # every real strace output: *.strace, *.stderr and the -ff LOG.<pid> files
    strace_logs = [
        p
        for p in STRACE_DATA.rglob("*")
        if p.is_file() and (p.suffix in (".strace", ".stderr") or p.suffix[1:].isdigit())
    ]
    assert len(strace_logs) > 50
    for path in strace_logs:
        head = path.read_bytes()[:4096].decode("utf-8", "replace")
        assert not dtruss.is_dtruss(head), path


def test_load_dispatches_to_the_dtruss_parser():
    t = gotrace.load(MACOS)
    assert t.meta["format"] == "dtruss"
    assert t.frame.equals(dtruss.parse_frame(MACOS))
    assert t.meta["parse_errors"] == 4
    procs = t.processes
    assert 3734 in procs["pid"].to_list()


def test_analyze_cli_reads_a_dtruss_log():
    r = subprocess.run(
        [sys.executable, "-m", "gotrace", "analyze", "--json", str(SOLARIS)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert '"events": 88' in r.stdout


def test_unreadable_input_is_one_error_naming_it(tmp_path: Path):
    with pytest.raises(GotraceError, match=re.escape(str(tmp_path / "nope.txt"))):
        dtruss.parse_frame(tmp_path / "nope.txt")
    with pytest.raises(GotraceError, match=re.escape(str(tmp_path))):
        dtruss.parse_frame(tmp_path)


def test_limitations_are_stated():
    assert (
        "dtruss prints lines only when a call returns: a call still blocked is invisible"
        in dtruss.LIMITATIONS
    )
    assert "SIP hides Apple-signed binaries such as /usr/bin/git" in dtruss.LIMITATIONS


# -- SYNTHETIC lines, from the documented printf formats ---------------------------------------
def printf(fmt: str, *args: object) -> str:
    """C printf, as the D program prints (Python's % follows the same conversions)."""
    return fmt % args


# Apple DTTk/dtruss header: printf("\t%-8s  ","PID/THRD"); printf("%8s ","RELATIVE");
# printf("%7s ","ELAPSD"); printf("%6s ","CPU"); printf("SYSCALL(args) \t\t = return\n")
APPLE_HEADER = (
    printf("\t%-8s  ", "PID/THRD")
    + printf("%8s ", "RELATIVE")
    + printf("%7s ", "ELAPSD")
    + printf("%6s ", "CPU")
    + "SYSCALL(args) \t\t = return"
)
# TritonDataCenter/dtruss-osx: ELAPSD, RELATIVE, PID/THRD, CPU
TRITON_HEADER = (
    printf("%7s ", "ELAPSD")
    + printf("%8s ", "RELATIVE")
    + printf("\t%-8s  ", "PID/THRD")
    + printf("%6s ", "CPU")
    + "SYSCALL(args) \t\t = return"
)


def call(name: str, args: str, ret: str, errno: int = 0) -> str:
    """printf("%s(...)\\t\\t = %d %s%d\\n", probefunc, ..., (int)arg0, self->code, (int)errno)"""
    return printf("%s(%s)\t\t = %s %s%d", name, args, ret, "Err#" if errno else "", errno)


def apple(pid: int, tid: int, rel: int, elapsed: int, cpu: int, body: str) -> str:
    """printf("%5d/0x%x:  ",pid,tid); printf("%8d ",vtimestamp/1000);
    printf("%7d ",this->elapsed/1000); printf("%6d ",this->cpu/1000)"""
    return (
        printf("%5d/0x%x:  ", pid, tid)
        + printf("%8d ", rel)
        + printf("%7d ", elapsed)
        + printf("%6d ", cpu)
        + body
    )


def apple_child(pid: int, tid: int, rel: int, name: str = "fork", ret: int = 0) -> str:
    """A child's first appearance under -f: printf("%8d:  ",vtimestamp/1000);
    printf("%7d:  ",0); printf("%6d ",0); printf("%s()\\t\\t = %d %s%d\\n","fork",0,...)"""
    return (
        printf("%5d/0x%x:  ", pid, tid)
        + printf("%8d:  ", rel)
        + printf("%7d:  ", 0)
        + printf("%6d ", 0)
        + printf("%s()\t\t = %d %s%d", name, ret, "", 0)
    )


def triton(pid: int, tid: int, rel: int, elapsed: int, cpu: int, body: str) -> str:
    """dtruss-osx order: "%7d " elapsed, "%8d " relative, "%5d/0x%x:  ", "%6d " cpu"""
    return (
        printf("%7d ", elapsed)
        + printf("%8d ", rel)
        + printf("%5d/0x%x:  ", pid, tid)
        + printf("%6d ", cpu)
        + body
    )


def test_synthetic_apple_columns_pid_thread_relative_elapsed_cpu():
    """SYNTHETIC from the documented format: dtruss -a (PID/THRD RELATIVE ELAPSD CPU)."""
    text = "\n".join(
        [
            APPLE_HEADER,
            apple(812, 0x1A2B, 1500, 30000000, 12, call("kevent", "0x4, 0x0, 0x0", "1")),
            apple(
                812,
                0x1A2C,
                77,
                3,
                2,
                call("connect", "0x7, 0x70000F2A1B30, 0x10", "-1", errno=36),
            ),
        ]
    )
    df = dtruss.parse_text(text)
    assert df["kind"].to_list() == ["notice", "syscall", "syscall"]
    kev, conn = df.row(1, named=True), df.row(2, named=True)
    assert kev["pid"] == 812 and kev["syscall"] == "kevent"
    assert kev["duration"] == pytest.approx(30.0)  # ELAPSD, not RELATIVE
    assert kev["extra"] == "tid=0x1a2b relative_us=1500 cpu_us=12"
    assert kev["ts"] is None and kev["in_flight"] is False
    assert conn["errno"] == "EINPROGRESS" and conn["retval"] == -1
    assert conn["errmsg"] == "Operation now in progress"


def test_synthetic_older_column_order_is_read_from_the_header():
    """SYNTHETIC from the documented format: TritonDataCenter order ELAPSD RELATIVE PID CPU."""
    text = TRITON_HEADER + "\n" + triton(812, 0x10, 999999, 250, 7, call("read", "0x3", "0"))
    row = dtruss.parse_text(text).row(1, named=True)
    assert row["pid"] == 812
    assert row["duration"] == pytest.approx(250e-6)
    assert row["extra"] == "tid=0x10 relative_us=999999 cpu_us=7"


def test_synthetic_fork_children_and_process_table():
    """SYNTHETIC from the documented format: -f, the parent's fork() returns the child pid,
    the child's first line is dtruss's made-up "fork() = 0 0" with "N:" time fields."""
    text = "\n".join(
        [
            APPLE_HEADER,
            apple(500, 0x1, 100, 350, 80, call("fork", "", "501")),
            apple_child(501, 0x2, 5),
            apple(501, 0x2, 9, 40, 3, call("execve", '"/usr/local/bin/git\\0", 0x1, 0x2', "0")),
        ]
    )
    df = dtruss.parse_text(text)
    parent, child = df.row(1, named=True), df.row(2, named=True)
    assert parent["retval"] == 501 and parent["duration"] == pytest.approx(350e-6)
    assert child["pid"] == 501 and child["syscall"] == "fork" and child["retval"] == 0
    assert child["duration"] is None  # printed as "0:", not measured
    assert child["extra"] == "tid=0x2 relative_us=5 synthetic"
    procs = {p["pid"]: p for p in process_table(df)}
    assert procs[501]["parent"] == 500


def test_synthetic_stack_frames_attach_to_the_call_before_them():
    """SYNTHETIC from the documented format: -s prints ustack() after each line: a blank
    line, frames indented 14 spaces, then trace("\\n")."""
    frames = ["libsystem_kernel.dylib`__open+0xa", "go`syscall.syscall+0x1f", "0x1003f2a10"]
    text = "\n".join(
        [
            "SYSCALL(args) \t\t = return",
            call("open", '"/tmp/x.lock\\0", 0x0, 0x0', "3"),
            "",
            *(" " * 14 + f for f in frames),
            "",
            call("close", "0x3", "0"),
        ]
    )
    df = dtruss.parse_text(text)
    assert df["syscall"].to_list() == [None, "open", "close"]
    assert df["stack"].to_list() == [None, "\n".join(frames), None]


def test_synthetic_count_table_and_dtrace_messages_are_notices():
    """SYNTHETIC from the documented format: dtrace's own messages and -c's
    printf("\\n%-32s %16s\\n","CALL","COUNT"); printa("%-32s %@16d\\n",@Counts)."""
    drops = "dtrace: 1367 dynamic variable drops with non-empty dirty list"
    sip = "dtrace: system integrity protection is on, some features will not be available"
    text = "\n".join(
        [
            sip,
            "",
            "SYSCALL(args) \t\t = return",
            drops,
            call("read", '0x0, "\\0", 0x1', "0"),
            "",
            printf("%-32s %16s", "CALL", "COUNT"),
            printf("%-32s %16d", "read", 1),
            printf("%-32s %16d", "write_nocancel", 12),
        ]
    )
    df = dtruss.parse_text(text)
    assert df.filter(pl.col("kind") == "parse_error").height == 0
    notices = df.filter(pl.col("kind") == "notice")["text"].to_list()
    assert notices == [
        sip,
        "SYSCALL(args) \t\t = return",
        drops,
        "CALL" + " " * 29 + " " * 11 + "COUNT",
        "read" + " " * 28 + " " * 16 + "1",
        "write_nocancel" + " " * 18 + " " * 15 + "12",
    ]


def test_synthetic_errnos_hex_returns_and_interrupted_calls():
    """SYNTHETIC from the documented format: BSD Err# numbers, mmap's "= 0x%X" return."""
    text = "\n".join(
        [
            call("read", '0x5, "\\0", 0x1000', "-1", errno=35),
            call("psynch_cvwait", "0x1, 0x2, 0x3", "-1", errno=60),
            call("connect", "0x7, 0x1, 0x10", "-1", errno=61),
            call("select", "0x0, 0x0, 0x0", "-1", errno=4),
            call("kevent", "0x4, 0x0, 0x0", "-1", errno=-1),
            call("mmap", "0x0, 0x1000, 0x3, 0x1002, 0xFFFFFFFF, 0x0", "0xFFFFFFFF", errno=12),
            call("mmap", "0x0, 0x1000, 0x3, 0x1002, 0xFFFFFFFF, 0x0", "0x5A3000"),
            call("frob", "0x0", "-1", errno=250),
        ]
    )
    df = dtruss.parse_text(text)
    assert df["errno"].to_list() == [
        "EAGAIN",  # 35 on macOS (11 on Linux)
        "ETIMEDOUT",
        "ECONNREFUSED",
        "EINTR",
        "ERESTART",
        "ENOMEM",
        None,
        "Err#250",
    ]
    assert df["retval"].to_list() == [-1, -1, -1, -1, -1, -1, 0x5A3000, -1]
    assert df["ret"][5] == "0xFFFFFFFF"


def test_synthetic_solaris_errnos_are_not_read_as_bsd_ones():
    """SYNTHETIC from the documented format: Solaris "%5d/%d:  " lines. Solaris numbers
    agree with BSD's only for the V7 set: Err#11 is EAGAIN there, EDEADLK on macOS."""
    text = "\n".join(
        [
            printf("%-8s  ", "PID/LWP") + "SYSCALL(args) \t\t = return",
            printf("%5d/%d:  ", 27547, 1) + call("stat64", '"/nope\\0", 0x0, 0x0', "-1", errno=2),
            printf("%5d/%d:  ", 27547, 1) + call("read", '0x3, "\\0", 0x400', "-1", errno=11),
        ]
    )
    df = dtruss.parse_text(text)
    assert df["errno"].to_list() == [None, "ENOENT", "Err#11"]
    assert df["extra"].to_list() == [None, "lwp=1", "lwp=1"]


def test_synthetic_program_output_between_calls():
    """SYNTHETIC: the traced program's stderr shares dtruss's; a string argument may hold
    text that looks like a return ("x) = 1 0"); a frame-like line with no call before it."""
    text = "\n".join(
        [
            "SYSCALL(args) \t\t = return",
            call("write", '0x2, "go: x) = 1 0\\n\\0", 0xE', "14"),
            "go: downloading example.com/m v1.0.0",
            "              0x1003f2a10",
            call("close", "0x3", "0"),
        ]
    )
    df = dtruss.parse_text(text)
    assert df["kind"].to_list() == ["notice", "syscall", "parse_error", "parse_error", "syscall"]
    write = df.row(1, named=True)
    assert write["args"] == '0x2, "go: x) = 1 0\\n\\0", 0xE' and write["retval"] == 14


# -- the capture backend ---------------------------------------------------------------------
@pytest.mark.skipif(sys.platform == "darwin", reason="the refusal is for Linux")
def test_backend_refuses_on_linux():
    with pytest.raises(GotraceError) as exc:
        dtruss_tracer.DtrussBackend()
    assert str(exc.value) == (
        "--backend dtruss works only on macOS (dtruss is a DTrace script); "
        "on Linux use --backend strace"
    )
    assert exc.value.exit_code == 1


def test_backend_refuses_whenever_the_platform_is_not_macos(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(dtruss_tracer, "is_macos", lambda: False)
    with pytest.raises(GotraceError, match="works only on macOS"):
        dtruss_tracer.DtrussBackend()


def test_build_argv():
    cmd = ["/usr/local/go/bin/go", "mod", "download", "-x"]
    assert dtruss_tracer.build_argv("/usr/bin/dtruss", cmd) == [
        "sudo",
        "-E",
        "/usr/bin/dtruss",
        "-e",
        "-l",
        "-f",
        "-b",
        "32m",
        *cmd,
    ]
    assert dtruss_tracer.build_argv("/usr/bin/dtruss", cmd, sudo=None, follow=False) == [
        "/usr/bin/dtruss",
        "-e",
        "-l",
        "-b",
        "32m",
        *cmd,
    ]


@pytest.mark.parametrize("bad", [[], ["go", "mod", "download", "example.com/a b"], ["go", ""]])
def test_build_argv_refuses_what_dtrace_c_would_split(bad: list[str]):
    with pytest.raises(GotraceError):
        dtruss_tracer.build_argv("/usr/bin/dtruss", bad)


def test_command_pid_is_dtraces_child_below_our_sudo():
    rows = [
        (1, 0, "/sbin/launchd"),
        (900, 1, "/usr/sbin/dtrace"),  # someone else's dtrace
        (901, 900, "other"),
        (100, 50, "sudo"),
        (101, 100, "/bin/sh"),
        (102, 101, "/usr/sbin/dtrace"),
        (103, 102, "/usr/local/go/bin/go"),
        (104, 103, "/usr/local/bin/git"),
    ]
    assert dtruss_tracer.command_pid(rows, 100) == 103
    assert dtruss_tracer.command_pid(rows[:6], 100) is None
