"""Forms the parser once rejected or read as parse errors (issue 12): -ttt -r, -e read=/write=
hexdumps, calls cut by the program's own output, strace 4.x signals and notices, -z, and
logs that do not say their pid. Real strace 6.1 output made by tests/data/strace/capture.sh
where strace here can make it; older forms are quoted lines with their source named."""

from __future__ import annotations

import io
import re

import polars as pl
from conftest import DATA, parse, raw_lines

from gotrace.model.events import Output
from gotrace.parsers.args import decode_string
from gotrace.parsers.lines import splice_cut
from gotrace.parsers.strace import iter_events, parse_frame, parse_frames, parse_text


def kinds(df: pl.DataFrame) -> dict[str, int]:
    return dict(df["kind"].value_counts().iter_rows())


# ---------------------------------------------------------------- -ttt -r


def test_ttt_r_keeps_the_absolute_stamp():
    for name in ("ttt_r.strace", "f_ttt_r.strace"):
        df = parse(name)
        lines = raw_lines(name)
        assert "parse_error" not in kinds(df), name
        stamps = [
            float(m.group(1)) for m in (re.search(r"(\d{10}\.\d+) \(\+", ln) for ln in lines) if m
        ]
        assert df.filter(pl.col("kind") == "syscall")["ts"].min() == min(stamps)
        first = df.row(0, named=True)
        assert first["syscall"] == "execve" and first["retval"] == 0


def test_f_ttt_r_has_every_pid_of_the_log():
    df = parse("f_ttt_r.strace")
    pids = {int(ln.split()[0]) for ln in raw_lines("f_ttt_r.strace")}
    assert set(df["pid"].to_list()) == pids and len(pids) == 3


# ---------------------------------------------------------------- -e read= / -e write=


def dumped(name: str) -> list[tuple[int, bytes]]:
    """(line of the call, bytes) from the raw log, read independently of the parser."""
    out: list[tuple[int, bytes]] = []
    for i, ln in enumerate(raw_lines(name), start=1):
        if ln.startswith(" | "):
            hexpart = ln[3:].split("  ", 1)[1][:49]
            out[-1] = (out[-1][0], out[-1][1] + bytes.fromhex(hexpart.replace(" ", "")))
        else:
            out.append((i, b""))
    return [(i, b) for i, b in out if b]


def test_hexdump_lines_are_the_bytes_of_the_call_above():
    name = "e_read_write.strace"
    df = parse(name)
    assert "parse_error" not in kinds(df)
    want = dumped(name)
    assert len(want) >= 8
    got = df.filter(pl.col("data").is_not_null()).select("line", "data").rows()
    assert [(line, bytes.fromhex(h)) for line, h in got] == want
    # no event comes from a dump line
    dump_lines = {i for i, ln in enumerate(raw_lines(name), 1) if ln.startswith(" | ")}
    assert not dump_lines & set(df["line"].to_list())


def test_hexdump_has_the_whole_buffer_that_s_cut():
    df = parse("e_read_write.strace")
    ping = df.filter(pl.col("args").str.contains('"pi"...', literal=True)).row(0, named=True)
    cut = decode_string(ping["args"].split(", ")[1])
    assert cut is not None and cut.truncated and cut.value == b"pi"
    assert bytes.fromhex(ping["data"]) == b"ping"
    recv = df.filter(pl.col("syscall") == "recvfrom").row(0, named=True)
    assert bytes.fromhex(recv["data"]).startswith(b"dgram")


def test_dump_of_an_unfinished_call_goes_to_the_joined_call():
    # synthetic, in the shape strace prints: the dump follows the resumed half
    log = (
        "7  1.000000 read(3<TCP:[1.2.3.4:5->6.7.8.9:10]>,  <unfinished ...>\n"
        "8  1.000100 getpid() = 8\n"
        '7  1.000200 <... read resumed>"HT"..., 4096) = 4\n'
        " | 00000  48 54 54 50                                       HTTP             |\n"
        "8  1.000300 getpid() = 8\n"
    )
    df = parse_text(log)
    read = df.filter(pl.col("syscall") == "read").row(0, named=True)
    assert (read["line"], read["end_line"], read["data"]) == (1, 3, b"HTTP".hex())
    assert "parse_error" not in kinds(df)


def test_dump_at_a_chunk_boundary_stays_with_its_call():
    text = (DATA / "e_read_write.strace").read_text()
    whole = parse_text(text)
    for size in (1, 2, 3, 7):
        frames = list(parse_frames(io.StringIO(text), chunk_lines=size))
        cut = pl.concat(frames)
        assert cut.select("line", "data").rows() == whole.select("line", "data").rows(), size


# ---------------------------------------------------------------- program output cut into lines


def test_a_call_cut_by_the_programs_output_is_one_call_and_the_text_is_output():
    name = "spliced.strace"
    lines = raw_lines(name)
    at = next(i for i, ln in enumerate(lines, 1) if ln.startswith('write(1, "hello from basic'))
    df = parse(name)
    assert "parse_error" not in kinds(df)
    write = df.filter(pl.col("line") == at, pl.col("kind") == "syscall").row(0, named=True)
    assert write["args"] == '1, "hello from basic\\n", 17'
    assert write["retval"] == 17 and not write["in_flight"]
    out = df.filter(pl.col("kind") == "output")
    assert out.select("line", "text").rows() == [(at, "hello from basic")]
    assert out["pid"].to_list() == [None]
    events = [e for e in iter_events(DATA / name) if isinstance(e, Output)]
    assert [e.text for e in events] == ["hello from basic"]


def test_cut_calls_with_f_pair_up_and_all_program_text_is_output():
    name = "spliced_f.strace"
    df = parse(name)
    assert "parse_error" not in kinds(df)
    texts = df.filter(pl.col("kind") == "output")["text"].to_list()
    # the program printed exactly these seven lines (sh -c '... echo outN; echo errN ...; echo main')
    assert sorted(texts) == sorted(
        [*(f"out{i}" for i in (1, 2, 3)), *(f"err{i}" for i in (1, 2, 3)), "main"]
    )
    # a line that the output cut and that ended in " <unfinished ...>" is stitched
    lines = raw_lines(name)
    cut = [i for i, ln in enumerate(lines, 1) if ln == " <unfinished ...>"]
    assert cut
    calls = df.filter(pl.col("kind") == "syscall")
    assert calls.filter(pl.col("line").is_in([c - 1 for c in cut]))["end_line"].null_count() == 0
    assert calls.filter(pl.col("in_flight")).height == 0


def test_splice_cut_tells_the_count_from_the_text():
    assert splice_cut('1, "c\\n", 2c') == len('1, "c\\n", 2')
    # the program's text starts with a digit: the buffer's length decides
    assert splice_cut('1, "5\\n", 25') == len('1, "5\\n", 2')
    assert splice_cut("1, F_DUPFD, 10main") == len("1, F_DUPFD, 10")
    assert splice_cut("[], 8hello") == len("[], 8")
    assert splice_cut('3</x>, "ab"..., 100xyz') == len('3</x>, "ab"..., 100')


# ---------------------------------------------------------------- strace 4.x


def test_strace_4_signal_and_notice_forms():
    # "Process N attached - interrupt to quit": strace 4.x stderr message (its strace.c:
    # "Process %u attached - interrupt to quit\n"), as quoted in an xmms/JACK futex-hang
    # report on LKML (2005); "--- SIGCHLD (Child exited) @ 0 (0) ---" and the pid-prefixed
    # "<... execve resumed> )" from the LKML thread "BUG: NTPL: waitpid() doesn't return?"
    # (2004); the "{si_signo=...} (Child exited)" form from a comment in a public Python
    # strace parser ("#[pid  1114] 03:51:33 --- {si_signo=SIGCHLD, ...} (Child exited) ---").
    log = "\n".join(
        [
            "Process 7935 attached - interrupt to quit",
            "Process 3094 attached with 3 threads - interrupt to quit",
            '31346 execve("/usr/bin/apt-ftparchive", ["apt-ftparchive", "packages", "testing/all"], [/* 12 vars */] <unfinished ...>',
            "31346 <... execve resumed> )            = 0",
            "31340 --- SIGCHLD (Child exited) @ 0 (0) ---",
            "[pid  1114] 03:51:33 --- {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=1115, si_status=0, si_utime=0, si_stime=1} (Child exited) ---",
            "[pid 10629] waitpid(10631, Process 10629 suspended",
            " <unfinished ...>",
            "[pid  2804] wait4(-1, [WIFEXITED(s) && WEXITSTATUS(s) == 0], 0, NULL) = 2806",
            "Process 4135 detached",
        ]
    )
    df = parse_text(log + "\n")
    assert "parse_error" not in kinds(df)
    notices = df.filter(pl.col("kind") == "notice")["text"].to_list()
    assert "Process 7935 attached - interrupt to quit" in notices
    assert "Process 10629 suspended" in notices and "Process 4135 detached" in notices
    sigs = df.filter(pl.col("kind") == "signal")
    assert sigs["signal"].to_list() == ["SIGCHLD", "SIGCHLD"]
    assert sigs["pid"].to_list() == [31340, 1114]
    assert sigs["info"][1].startswith("{si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=1115")
    execve = df.filter(pl.col("syscall") == "execve").row(0, named=True)
    assert execve["retval"] == 0 and execve["end_line"] == 4
    waitpid = df.filter(pl.col("syscall") == "waitpid").row(0, named=True)
    assert waitpid["args"] == "10631, " and waitpid["in_flight"]
    assert df.filter(pl.col("syscall") == "wait4")["retval"].to_list() == [2806]


def test_z_bare_tail_closes_the_unfinished_call_of_its_pid():
    # strace -z (--successful-only) in strace 5.x: the resumed half of a successful call
    # printed as a bare ")   = 0" (the form as the issue quotes it from a public log)
    log = (
        "2300  futex(0x55d0c8, FUTEX_WAIT_PRIVATE, 2, NULL <unfinished ...>\n"
        "2301  futex(0x55d0c8, FUTEX_WAKE_PRIVATE, 1) = 1\n"
        "2300  )                                 = 0\n"
        "2300  +++ exited with 0 +++\n"
    )
    df = parse_text(log)
    assert "parse_error" not in kinds(df)
    wait = df.filter(pl.col("pid") == 2300, pl.col("kind") == "syscall").row(0, named=True)
    assert (wait["args"], wait["retval"], wait["end_line"], wait["in_flight"]) == (
        "0x55d0c8, FUTEX_WAIT_PRIVATE, 2, NULL",
        0,
        3,
        False,
    )


# ---------------------------------------------------------------- process identity


def test_a_log_without_pids_takes_the_pid_the_process_reported():
    df = parse("plain.strace")
    tid = next(
        int(m.group(1))
        for m in (
            re.match(r"^set_tid_address\(.*\) += (\d+)", ln) for ln in raw_lines("plain.strace")
        )
        if m
    )
    assert df["pid"].unique().to_list() == [tid]


def test_a_log_that_never_says_its_pid_has_none_not_zero():
    df = parse_text('openat(AT_FDCWD, "/etc/hosts", O_RDONLY) = 3\nclose(3) = 0\n')
    assert df["pid"].to_list() == [None, None]


def test_an_attached_log_takes_the_pid_from_the_attach_notice():
    df = parse_frame(DATA / "attach_stderr.strace")
    pid = int(re.search(r"Process (\d+) attached", raw_lines("attach_stderr.strace")[0]).group(1))
    assert df.filter(pl.col("kind") == "syscall")["pid"].to_list() == [pid]


def hexdump(data: bytes) -> list[str]:
    """strace's -e write= dump of ``data`` (" | %05x  %-48s  %-16s |")."""
    out = []
    for off in range(0, len(data), 16):
        chunk = data[off : off + 16]
        hx = " ".join(f"{c:02x}" for c in chunk[:8])
        if len(chunk) > 8:
            hx += "  " + " ".join(f"{c:02x}" for c in chunk[8:])
        text = "".join(chr(c) if 32 <= c < 127 else "." for c in chunk)
        out.append(f" | {off:05x}  {hx:<48}  {text:<16} |")
    return out


def test_hexdump_helper_writes_what_strace_writes():
    lines = raw_lines("e_read_write.strace")
    at = next(i for i, ln in enumerate(lines) if '"pi"..., 4)' in ln)
    assert hexdump(b"ping") == [lines[at + 1]]


def test_http_is_read_from_the_dump_where_s_cut_the_string(tmp_path):
    import gotrace

    req = b"GET /example.com/dep1/@v/list HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
    resp = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nv1.0.0\n"
    sock = "TCP:[127.0.0.1:40000->127.0.0.1:8080]"
    log = [
        "100 1700000000.000000 socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP)"
        " = 3<TCP:[1]> <0.000010>",
        "100 1700000000.000100 connect(3<TCP:[1]>, {sa_family=AF_INET, sin_port=htons(8080),"
        ' sin_addr=inet_addr("127.0.0.1")}, 16) = 0 <0.000010>',
        f'100 1700000000.000200 write(3<{sock}>, "GET /exa"..., {len(req)}) = {len(req)} <0.000010>',
        *hexdump(req),
        f'100 1700000000.000300 read(3<{sock}>, "HTTP/1.1"..., 4096) = {len(resp)} <0.000010>',
        *hexdump(resp),
        f"100 1700000000.000400 close(3<{sock}>) = 0 <0.000010>",
        "100 1700000000.000500 +++ exited with 0 +++",
    ]
    path = tmp_path / "http.strace"
    path.write_text("\n".join(log) + "\n")
    conn = gotrace.load(path).connections.iloc[0]
    assert list(conn["requests"]) == ["GET /example.com/dep1/@v/list"]
    assert list(conn["statuses"]) == ["200 OK"]
    assert conn["truncated_payloads"] == 0
