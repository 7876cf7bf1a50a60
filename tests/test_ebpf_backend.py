"""The eBPF backend: bpftrace's records -> the strace-format log, the program it loads, the
one-line refusals, and (where the kernel allows it) a real capture."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

import gotrace
from gotrace.errors import GotraceError
from gotrace.tracer import ebpf
from gotrace.tracer import ptrace_sys as pt
from gotrace.tracer.ebpf_script import program
from gotrace.tracer.ebpf_worker import EbpfWriter, unescape

ROOT = 100


def _writer(tmp_path: Path) -> tuple[EbpfWriter, Path]:
    log = tmp_path / "trace.strace"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    w = EbpfWriter(
        fd, ROOT, string_size=256, strlen=200, epoch_offset=1_700_000_000 * 10**9, path=str(log)
    )
    w.fds.seed(ROOT, {0: "/dev/null<char 1:3>", 2: "pipe:[77]"}, "/srv")
    return w, log


def _feed(w: EbpfWriter, *lines: str) -> None:
    for line in lines:
        w.feed(line.encode())


def _call(
    t0: int, t1: int, nr: int, ret: int, *args: str, tid: int = ROOT, tgid: int = ROOT
) -> str:
    """An ``F`` record: a call that returned (entry time t0, exit time t1)."""
    a = [*args, *["0"] * (6 - len(args))]
    return f"F {t1} {tid} {t0} {tgid} {nr} {ret} {' '.join(a)}"


def _hex(data: bytes) -> str:
    return "".join(f"\\x{b:02x}" for b in data)


def _execve(t0: int, t1: int) -> list[str]:
    argv = struct.pack("<QQQ", 0x2000, 0x2010, 0)
    return [
        # execve's path and argv are read at its entry (they are gone after it)
        f"C {t0} {ROOT} 1000 S /bin/go",
        f"C {t0} {ROOT} 1500 B 24 {_hex(argv)}",
        f"C {t0} {ROOT} 2000 S go",
        f"C {t0} {ROOT} 2010 S version",
        _call(t0, t1, 59, 0, "1000", "1500", "3000"),
    ]


def test_unescape_reads_bpftrace_hex_escapes():
    assert unescape(b"GET / HTTP/1.1\\x0d\\x0a") == b"GET / HTTP/1.1\r\n"
    assert unescape(b"\\x16\\x03\\x01") == b"\x16\x03\x01"
    assert unescape(b"plain text") == b"plain text"


def test_records_become_strace_lines_with_fd_targets(tmp_path: Path):
    w, log = _writer(tmp_path)
    _feed(
        w,
        # the marker close before exec is hidden, as ptrace hides the command before execve
        _call(10, 11, 3, -9, "7fff0000"),
        *_execve(100, 200),
        # what a call read comes as K records stamped with its entry time, before or after
        # its record (two BPF programs, either may run first)
        f"K 300 {ROOT} 4000 S /etc/hostname",
        _call(300, 400, 257, 3, "ffffff9c", "4000", "80000"),
        _call(500, 600, 0, 3, "3", "5000", "1000"),
        f"K 500 {ROOT} 5000 B 3 vm\\x0a",
        _call(700, 800, 1, 5, "2", "6000", "5"),
        f"K 700 {ROOT} 6000 B 5 oops\\x0a",
        # flock in flight when the process died: bpftrace says so (I) before the exit (Q)
        f"I 1000 {ROOT} 900 {ROOT} 73 3 2 0 0 0 0",
        f"Q 1000 {ROOT} {ROOT} 768",
        "Lost 7 events",
    )
    w.finish()
    text = log.read_text()
    assert "close(" not in text.splitlines()[0]
    assert 'execve("/bin/go", ["go", "version"], 0x3000' in text
    assert 'openat(AT_FDCWD</srv>, "/etc/hostname", O_RDONLY|O_CLOEXEC) = 3</etc/hostname>' in text
    assert 'read(3</etc/hostname>, "vm\\n", 4096) = 3' in text
    assert 'write(2<pipe:[77]>, "oops\\n", 5) = 5' in text
    # flock in flight when the process died: strace's "= ?", then the exit
    assert "flock(3</etc/hostname>, LOCK_EX) = ?" in text
    assert text.rstrip().endswith("+++ exited with 3 +++")
    assert w.lost == 7
    # the parser reads it as it reads strace's own logs
    trace = gotrace.load(tmp_path)
    assert trace.frame.height > 0


@pytest.mark.parametrize("order", ["caps first", "record first", "mixed"])
def test_entry_memory_joins_its_call_whichever_comes_first(tmp_path: Path, order: str):
    """Each CPU has its own perf buffer, and an execve moves its task to another CPU: the
    memory read at the call's entry (C records, on the first CPU) may be read after the call's
    own record (on the second). Both carry the entry time, which joins them."""
    w, log = _writer(tmp_path)
    lines = _execve(100, 200)
    caps, record = lines[:-1], lines[-1]
    fed = {
        "caps first": lines,
        "record first": [record, *caps],
        "mixed": [caps[0], record, *caps[1:]],
    }[order]
    # a C record of another call of the same task (a later one) is not this one's
    _feed(w, *fed, f"C 300 {ROOT} 1000 S /bin/other", _call(300, 310, 59, -2, "1000", "1500"))
    _feed(w, f"Q 900 {ROOT} {ROOT} 0")
    w.finish()
    text = log.read_text()
    assert 'execve("/bin/go", ["go", "version"], 0x3000 /* 0 vars */) = 0' in text, text
    assert 'execve("/bin/other", ' in text, text


def test_a_call_known_only_when_it_returns_is_put_in_time_order(tmp_path: Path):
    w, log = _writer(tmp_path)
    t = 10**9
    _feed(w, *_execve(t, t + 100), "E_UNUSED")  # not a record: counted, never written
    # a read that waits 2 s while another thread goes on: the log has been written past
    # its entry by the time its record comes
    _feed(w, _call(t + 6 * 10**8, t + 6 * 10**8 + 50, 39, ROOT, tid=ROOT + 1))
    w.flush(t + 10**9)
    _feed(w, _call(t + 1000, t + 2 * 10**9 + 1000, 0, 0, "3", "5000", "1000"))
    w.finish()
    lines = log.read_text().splitlines()
    read = next(i for i, ln in enumerate(lines) if " read(" in ln)
    getpid = next(i for i, ln in enumerate(lines) if " getpid(" in ln)
    assert w.late == 1 and read < getpid, lines
    assert lines[read].endswith("<2.000000>")
    assert w.bad == 1


def test_fork_copies_the_fd_table_and_connect_names_the_peer(tmp_path: Path):
    w, log = _writer(tmp_path)
    sa = struct.pack("<H", 2) + struct.pack("!H4s", 8081, bytes([127, 0, 0, 1])) + bytes(8)
    local = struct.pack("<H", 2) + struct.pack("!H4s", 40000, bytes([127, 0, 0, 1])) + bytes(8)
    _feed(
        w,
        *_execve(100, 200),
        _call(300, 310, 41, 5, "2", "80801"),
        # connect's sockaddr is read at its entry
        f"C 400 {ROOT} 7000 B 16 {_hex(sa)}",
        _call(400, 410, 42, -115, "5", "7000", "10"),
        _call(420, 430, 51, 0, "5", "7100", "7200"),
        f"K 420 {ROOT} 7100 B 16 {_hex(local)}",
        f"K 420 {ROOT} 7200 B 4 \\x10\\x00\\x00\\x00",
        # a child process (no CLONE_THREAD) gets a copy of the table
        f"N 500 {ROOT} {ROOT} 101 4111",
        _call(600, 610, 1, 3, "5", "8000", "3", tid=101, tgid=101),
        "K 600 101 8000 B 3 GET",
        "Q 700 101 101 0",
        f"Q 800 {ROOT} {ROOT} 9",
    )
    w.finish()
    text = log.read_text()
    assert 'sin_port=htons(8081), sin_addr=inet_addr("127.0.0.1")}, 16) = -1 EINPROGRESS' in text
    assert 'write(5<TCP:[127.0.0.1:40000->127.0.0.1:8081]>, "GET", 3) = 3' in text
    assert "101   " in text
    assert text.rstrip().endswith("+++ killed by SIGKILL +++")


def test_program_records_memory_by_slot_on_raw_syscalls_only():
    text = program(pt.WATCHED_NRS, 200)
    # no probe per syscall: each one costs a tracepoint to attach and to detach
    assert "tracepoint:syscalls:" not in text
    assert "tracepoint:task:task_newtask" in text
    # few programs on sys_exit: each costs every syscall on the machine a call into BPF
    assert text.count("tracepoint:raw_syscalls:sys_exit ") <= 7
    # openat (257) and newfstatat (262) record their path, argument 1 (value 2), even when
    # they fail (16); rename (82) its two paths, arguments 0 and 1; write (1) argument 1,
    # as many bytes as argument 2 says; read (0) as many as it returned, only when it did
    for nr in (257, 262):
        assert f"@S1[{nr}] = {2 | 16};" in text
    assert f"@S1[82] = {1 | 16};" in text and f"@S2[82] = {2 | 16};" in text
    assert f"@W1[1] = {2 | 16 | 2 << 8};" in text
    assert f"@R1[0] = {2 | 1 << 8};" in text
    probe = re.search(r"sys_exit /@pids\[tid\] && @S1\[args->id\]/ \{(.*?)\n\}", text, re.S)
    assert probe is not None and "str(uptr($a))" in probe.group(1)
    # execve (59) records its path and argv at its entry
    assert re.search(r"@c\[59\] = \d+;", text) and "@x[59]" not in text
    # the waits are marked for the short-wait rule; a task's call in flight is printed at
    # its end
    futex = 202  # x86_64
    assert f"@wait[{futex}] = 1;" in text and 'printf("I ' in text
    # a call with no memory to record has no slot
    assert "@w[202] = 1;" in text and "@x[202]" not in text and "@c[202]" not in text


@pytest.mark.parametrize(
    ("patch", "words"),
    [
        ("root", "needs root"),
        ("bpftrace", "apt-get install bpftrace"),
        ("btf", "no BTF"),
    ],
)
def test_refusals_are_one_line_naming_another_backend(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, patch: str, words: str
):
    monkeypatch.setattr(ebpf.sys, "platform", "linux")
    monkeypatch.setattr(ebpf.os, "geteuid", lambda: 1000 if patch == "root" else 0)
    monkeypatch.setattr(ebpf, "bpftrace_path", lambda: None if patch == "bpftrace" else "/bin/true")
    monkeypatch.setattr(ebpf, "BTF", tmp_path / ("none" if patch == "btf" else ""))
    reason = ebpf.unavailable(tracefs=tmp_path)
    assert reason is not None
    assert words in reason
    assert "--backend strace" in reason
    assert "\n" not in reason


def test_missing_tracepoints_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setattr(ebpf.sys, "platform", "linux")
    monkeypatch.setattr(ebpf.os, "geteuid", lambda: 0)
    monkeypatch.setattr(ebpf, "bpftrace_path", lambda: "/bin/true")
    monkeypatch.setattr(ebpf, "BTF", tmp_path)
    (tmp_path / "events").mkdir()
    reason = ebpf.unavailable(tracefs=tmp_path)
    assert reason is not None and "raw_syscalls:sys_enter" in reason


def test_tracefs_that_cannot_be_mounted_says_how(tmp_path: Path):
    where = tmp_path / "no-such-dir" / "tracing"
    with pytest.raises(GotraceError) as exc:
        ebpf.mount_tracefs(where)
    text = str(exc.value)
    assert f"mount -t tracefs nodev {where}" in text and "--backend strace" in text
    assert "\n" not in text and "dmesg" not in text


def test_cli_refusal_is_one_line(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(ebpf, "unavailable", lambda: "the ebpf backend needs root: use strace")
    with pytest.raises(GotraceError, match="needs root"):
        ebpf.EbpfBackend()


@pytest.mark.integration
def test_real_capture(tmp_path: Path):
    refused = ebpf.unavailable()
    if refused:
        pytest.skip(f"this machine refuses the ebpf backend: {refused}")
    out = tmp_path / "out"
    r = subprocess.run(
        [sys.executable, "-m", "gotrace", "run", "--backend", "ebpf", "-o", str(out), "--",
         "/bin/sh", "-c", "cat /etc/hostname > /dev/null; echo to-stderr >&2; exit 3"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 3, r.stderr[-2000:]
    text = (out / "trace.strace").read_text()
    assert 'execve("/bin/sh", ["/bin/sh", "-c", "cat /etc/hostname' in text
    assert '"/etc/hostname", O_RDONLY' in text
    # sh writes its stderr through fd 1 after dup2(2, 1): the pipe it inherited
    assert "<pipe:[" in text and '"to-stderr\\n", 10) = 10' in text
    assert "+++ exited with 3 +++" in text
    meta = json.loads((out / "meta.json").read_text())
    assert meta["backend"]["name"] == "ebpf"
    assert meta["exit_status"] == 3
    if ebpf.wake_library() is not None:
        assert "wake their reader every 256 records" in meta["backend"]["version"]


@pytest.mark.integration
def test_wake_library_loses_no_record_and_keeps_them_flowing(tmp_path: Path):
    """bpftrace with gotrace's wake-up library: every record of a burst arrives, the last
    ones (fewer than the wake-up count) too, while bpftrace still runs (they are read and
    flushed within 20 ms, not left until a buffer fills or bpftrace exits)."""
    refused = ebpf.unavailable()
    if refused:
        pytest.skip(f"this machine refuses the ebpf backend: {refused}")
    wake = ebpf.wake_library()
    if wake is None:
        pytest.skip("gotrace/tracer/_bpfwake.c was not built (no C compiler at install)")
    getpid = 39  # x86_64
    prog = tmp_path / "p.bt"
    prog.write_text(
        'BEGIN { printf("READY\\n"); }\n'
        f"tracepoint:raw_syscalls:sys_enter /pid == $1 && args->id == {getpid}/ "
        '{ printf("R %d\\n", args->args[0]); }\n'
    )
    records = tmp_path / "records"
    env = dict(os.environ, LD_PRELOAD=str(wake), GOTRACE_BPF_WAKEUP=str(ebpf.WAKEUP_EVENTS))
    with open(records, "wb") as out, open(tmp_path / "err", "wb") as err:
        proc = subprocess.Popen(
            ["bpftrace", "-B", "line", str(prog), str(os.getpid())], stdout=out, stderr=err,
            env=env,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while b"READY" not in records.read_bytes():
            assert proc.poll() is None and time.monotonic() < deadline, (
                tmp_path / "err"
            ).read_text()
            time.sleep(0.02)
        n = 10 * ebpf.WAKEUP_EVENTS + 7  # not a multiple of the wake-up count
        for _ in range(n):
            os.getpid()
        deadline = time.monotonic() + 5
        while records.read_bytes().count(b"\nR ") < n and time.monotonic() < deadline:
            time.sleep(0.02)
        got = records.read_bytes()
        assert proc.poll() is None  # still running: the records were flushed, not left at exit
    finally:
        proc.kill()
        proc.wait()
    assert got.count(b"\nR ") == n, got[-300:]
    assert b"Lost" not in got
    assert (
        "gotrace-bpfwake: perf buffers wake their reader every 256 records"
        in (tmp_path / "err").read_text()
    )


def test_tree_watch_follows_tasks_across_cuts_in_the_records(tmp_path: Path):
    """The worker's watch of live tasks reads the records as bpftrace writes them: in blocks
    that may end inside a line."""
    from gotrace.tracer.ebpf_worker import _TreeWatch

    records = tmp_path / "records"
    text = (
        "Attaching 29 probes...\nREADY\n"
        f"N 10 {ROOT} {ROOT} 101 11\n"
        + _call(20, 30, 0, 3, "3", "5000", "1000", tid=101)
        + "\nK 20 101 5000 B 3 abc\n"
        f"N 40 101 {ROOT} 102 3d0f00\nQ 50 101 {ROOT} 0\nQ 60 102 {ROOT} 0\n"
    ).encode()
    seen = []
    with open(records, "wb") as out:
        watch = _TreeWatch(str(records), ROOT)
        for i in range(0, len(text), 7):  # cut every 7 bytes
            out.write(text[i : i + 7])
            out.flush()
            watch.scan()
            seen.append(frozenset(watch.live))
    assert frozenset({ROOT, 101}) in seen and frozenset({ROOT, 101, 102}) in seen
    assert watch.live == {ROOT}
