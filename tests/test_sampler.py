"""The /proc watchdog: parsing /proc text, the pure analysis of hand-built samples, the sampler
on live (loopback-only) processes, and lab scenarios run through SamplerBackend."""

from __future__ import annotations

import dataclasses
import fcntl
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import gotrace
from gotrace.analyzers.samples import (
    SampleHistory,
    awaiting_reply,
    describe,
    download_name,
    progress,
    quiet_spans,
    quiet_summary,
)
from gotrace.analyzers.samples import findings as sample_findings
from gotrace.model.samples import (
    DownloadFile,
    FdSample,
    LockSample,
    ProcessSample,
    Sample,
    SocketSample,
    ThreadSample,
    read_samples,
)
from gotrace.tracer.procnet import parse_net_table
from gotrace.tracer.sampler import (
    ProcSampler,
    SamplerBackend,
    parse_locks,
    parse_syscall,
)
from gotrace.tracer.syscalls import syscall_name


def findings(samples: list[Sample], **kw: Any) -> list[dict[str, Any]]:
    """The sample findings as their JSON dicts."""
    return [f.to_dict() for f in sample_findings(samples, **kw)]


MODCACHE = "/home/u/go/pkg/mod"
LOCK = f"{MODCACHE}/cache/download/example.com/dep0/@v/v1.0.0.lock"
ZIP_TMP = "cache/download/example.com/dep0/@v/v1.0.0.zip2915.tmp"

# --- hand-built samples ------------------------------------------------------------------------


def th(tid: int, call: str = "futex", *args: int, state: str = "S") -> ThreadSample:
    return ThreadSample(tid, state, call, None, tuple(args), "")


def conn(fd: int, inode: int, rx: int = 0, state: str = "ESTABLISHED") -> SocketSample:
    return SocketSample(
        fd, inode, "tcp", f"127.0.0.1:{40000 + fd}", "127.0.0.1:18082", state, 0, rx
    )


def go(
    pid: int = 4646,
    *,
    threads: tuple[ThreadSample, ...] | None = None,
    sockets: tuple[SocketSample, ...] = (conn(5, 100), conn(8, 101)),
    fds: tuple[FdSample, ...] = (),
    rchar: int = 1000,
    comm: str = "go",
    ppid: int = 1,
) -> ProcessSample:
    if threads is None:
        threads = (th(pid, "epoll_pwait"), *(th(pid + i) for i in range(1, 6)))
    return ProcessSample(pid, ppid, comm, (comm,), "S", 0.1, rchar, 500, threads, fds, sockets)


def at(
    index: int,
    t: float,
    *processes: ProcessSample,
    downloads: tuple[DownloadFile, ...] = (DownloadFile(ZIP_TMP, 0, 1.0),),
    locks: tuple[LockSample, ...] = (),
) -> Sample:
    return Sample(index, 1000.0 + t, 4646, MODCACHE, processes, locks, downloads)


def stalled(seconds: int = 10) -> list[Sample]:
    """proxy-stall as the sampler sees it: nothing moves for ``seconds``."""
    return [at(i, float(i), go()) for i in range(seconds + 1)]


def lock_wait(seconds: int = 4) -> list[Sample]:
    waiting = go(
        threads=(th(4646, "epoll_pwait"), th(4647), th(4650, "flock", 11, 2)),
        fds=(FdSample(11, LOCK, 0, "fe:00:77"),),
    )
    lock = LockSample("fe:00:77", LOCK, "FLOCK", "WRITE", 999, "python3 -c hold\nit", (4646,))
    return [at(i, float(i), waiting, locks=(lock,), downloads=()) for i in range(seconds + 1)]


# --- progress ----------------------------------------------------------------------------------


def test_nothing_moved_is_not_progress():
    a, b = stalled(1)
    assert not progress(a, b)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda s: dataclasses.replace(s, processes=(go(rchar=2000),)), id="io-bytes"),
        pytest.param(
            lambda s: dataclasses.replace(s, downloads=(DownloadFile(ZIP_TMP, 4096, 2.0),)),
            id="tmp-grew",
        ),
        pytest.param(lambda s: dataclasses.replace(s, downloads=()), id="tmp-renamed-away"),
        pytest.param(
            lambda s: dataclasses.replace(s, processes=(go(sockets=(conn(5, 100, rx=10),)),)),
            id="socket-queue",
        ),
        pytest.param(
            lambda s: dataclasses.replace(
                s, processes=(go(sockets=(conn(5, 100, state="CLOSE_WAIT"), conn(8, 101))),)
            ),
            id="socket-state",
        ),
        pytest.param(
            lambda s: dataclasses.replace(s, processes=(go(), go(5000, ppid=4646, comm="git"))),
            id="new-process",
        ),
        pytest.param(
            lambda s: dataclasses.replace(
                s, processes=(go(threads=(th(4646, "epoll_pwait"), th(4647, "flock", 11))),)
            ),
            id="thread-enters-flock",
        ),
    ],
)
def test_each_kind_of_movement_is_progress(change: Callable[[Sample], Sample]):
    a, b = stalled(1)
    assert progress(a, change(b))


def test_go_runtime_idling_is_not_progress():
    a, b = stalled(1)
    flipped = go(threads=(th(4646, "futex"), th(4647, "running"), th(4648, "epoll_pwait")))
    assert not progress(
        dataclasses.replace(
            a,
            processes=(
                go(
                    threads=(th(4646), th(4647), th(4648)),
                ),
            ),
        ),
        dataclasses.replace(b, processes=(flipped,)),
    )


# --- the live sentence -------------------------------------------------------------------------


def test_quiet_summary_of_a_stalled_proxy():
    assert quiet_summary(stalled(10), 5.0) == (
        "quiet 10 s: all 6 threads of go (pid 4646) idle in epoll_pwait/futex; "
        "2 TCP connections to 127.0.0.1:18082 ESTABLISHED with empty receive queues; "
        "downloads in progress: example.com/dep0@v1.0.0 (.zip tmp 0 bytes)"
    )


def test_quiet_summary_waits_for_quiet_after():
    assert quiet_summary(stalled(3), 5.0) is None
    assert quiet_summary([], 5.0) is None


def test_quiet_is_counted_from_the_last_progress():
    samples = stalled(12)
    samples[5] = dataclasses.replace(samples[5], processes=(go(rchar=5000),))
    samples[6:] = [dataclasses.replace(s, processes=(go(rchar=5000),)) for s in samples[6:]]
    line = quiet_summary(samples, 5.0)
    assert line is not None and line.startswith("quiet 7 s: ")


def test_quiet_summary_of_a_held_lock_names_the_file_and_holder():
    assert quiet_summary(lock_wait(), 1.0) == (
        "quiet 4 s: go (pid 4646) blocked in flock on "
        "$GOMODCACHE/cache/download/example.com/dep0/@v/v1.0.0.lock "
        "held by pid 999 (python3 -c hold it)"
    )


def test_describe_names_unread_data_dns_and_a_child():
    resolver = SocketSample(9, 7, "udp", "127.0.0.1:5555", "127.0.0.1:53", "CONNECTED", 0, 0)
    parent = go(threads=(th(4646, "waitid"),), sockets=())
    child = go(5000, ppid=4646, comm="git", sockets=(conn(3, 300, rx=512), resolver))
    text = describe(at(0, 0.0, parent, child, downloads=()))
    assert "go (pid 4646) waiting for git (pid 5000)" in text
    assert (
        "1 TCP connection to 127.0.0.1:18082 ESTABLISHED with 512 bytes received but not read"
        in text
    )
    assert "1 UDP socket to 127.0.0.1:53 (DNS) with an empty receive queue" in text


def test_download_names_unescape_module_paths():
    tmp = "cache/download/github.com/!burnt!sushi/toml/@v/v1.2.0.zip881.tmp"
    assert (
        download_name(DownloadFile(tmp, 10, 0))
        == "github.com/BurntSushi/toml@v1.2.0 (.zip tmp 10 bytes)"
    )
    partial = "cache/download/example.com/a/@v/v0.1.0.partial"
    assert (
        download_name(DownloadFile(partial, 0, 0)) == "example.com/a@v0.1.0 (.partial: extracting)"
    )


def test_sample_history_keeps_bounded_memory_and_the_same_answer():
    history = SampleHistory(keep=5)
    samples = stalled(30)
    for s in samples:
        history.feed(s)
    assert len(history.samples()) == 6  # the last progress plus five
    assert history.quiet_summary(5.0) == quiet_summary(samples, 5.0)
    history.feed(dataclasses.replace(at(31, 31.0, go(rchar=9999))))
    assert history.quiet_summary(5.0) is None


def tcp(
    fd: int, remote: str, sent: int, recv: int, ack: int, acked: int, received: int
) -> SocketSample:
    """A socket with tcp_info: ms since data sent / data received / ACK received, byte totals."""
    return SocketSample(
        fd, 1000 + fd, "tcp", f"127.0.0.1:{50000 + fd}", remote, "ESTABLISHED", 0, 0,
        sent, recv, ack, acked, received,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("sock", "expected"),
    [
        pytest.param(tcp(1, "a:1", 9000, 9000, 9000, 145, 0), True, id="request-never-answered"),
        pytest.param(tcp(1, "a:1", 9000, 9400, 9400, 900, 966), True, id="sent-after-received"),
        pytest.param(tcp(1, "a:1", 9816, 9816, 9772, 868, 966), True, id="same-jiffy-later-ack"),
        pytest.param(tcp(1, "a:1", 9812, 9768, 9768, 433, 9820), False, id="idle-keep-alive"),
        pytest.param(tcp(1, "a:1", 9000, 9000, 9000, 1, 0), False, id="only-the-syn-sent"),
        pytest.param(conn(1, 1), None, id="no-tcp-info"),
    ],
)
def test_awaiting_reply_from_tcp_info(sock: SocketSample, expected: bool | None):
    assert awaiting_reply(sock) is expected


def test_unanswered_requests_come_first_and_idle_pools_are_not_findings():
    """sumdb-stall: the proxy's pooled connections are idle, the checksum database's are not."""
    proxy = (tcp(5, "127.0.0.1:46805", 1996, 1992, 1992, 145, 186),)
    sumdb = (tcp(9, "127.0.0.1:35239", 1996, 1996, 1996, 145, 0),
             tcp(10, "127.0.0.1:35239", 1992, 1992, 1992, 145, 0))  # fmt: skip
    samples = [at(i, float(i), go(sockets=proxy + sumdb), downloads=()) for i in range(6)]
    assert describe(samples[-1]).endswith(
        "; 2 TCP connections to 127.0.0.1:35239 ESTABLISHED with empty receive queues "
        "(2 waiting 2 s for an answer); "
        "1 TCP connection to 127.0.0.1:46805 ESTABLISHED with an empty receive queue"
    )
    (stall,) = findings(samples)
    assert stall["objects"][0] == "tcp 127.0.0.1:35239"


# --- findings ----------------------------------------------------------------------------------


def test_findings_of_a_stalled_proxy():
    got = findings(stalled(10))
    assert [f["kind"] for f in got] == ["socket-stalled", "download-stalled"]
    sock = got[0]
    assert set(sock) >= {"kind", "severity", "summary", "start", "end", "pids", "objects",
                         "evidence", "fix"}  # fmt: skip
    assert sock["pids"] == [4646] and sock["samples"] == [0, 10] and sock["evidence"] == []
    assert (sock["start"], sock["end"]) == (1000.0, 1010.0)
    assert "tcp 127.0.0.1:18082" in sock["objects"]
    assert "waited 10 s on 2 TCP connections to 127.0.0.1:18082 ESTABLISHED" in sock["summary"]
    assert got[1]["objects"] == [ZIP_TMP]


def test_findings_are_findings_whose_evidence_is_sample_indexes():
    from gotrace.analyzers.findings import Finding

    for f in sample_findings(stalled(10)) + sample_findings(lock_wait()):
        assert isinstance(f, Finding)
        assert f.samples and not f.evidence  # sample indexes, never taken for trace lines


def test_findings_of_a_held_lock():
    (lock,) = findings(lock_wait())
    assert lock["kind"] == "lock-held" and lock["severity"] == "error"
    assert lock["pids"] == [4646, 999]
    assert LOCK in lock["objects"]
    assert "held by pid 999" in lock["summary"] and "pid 999" in lock["fix"]


def test_findings_skip_short_quiet_and_a_parent_waiting_for_its_child():
    assert findings(stalled(10), min_quiet=20.0) == []
    pipe = FdSample(0, "pipe:[77]")
    parent = go(threads=(th(4646, "wait4"),), sockets=())
    child = go(5000, ppid=4646, comm="git", threads=(th(5000, "read", 0),), fds=(pipe,), sockets=())
    samples = [at(i, float(i), parent, child, downloads=()) for i in range(6)]
    (blocked,) = findings(samples)
    assert blocked["kind"] == "process-blocked" and blocked["pids"] == [5000]
    assert (
        "git (pid 5000) thread 5000 blocked 5 s in read on fd 0 (pipe:[77])" in blocked["summary"]
    )


# --- the data model and /proc parsing ----------------------------------------------------------


def test_a_sample_survives_json():
    for s in [*stalled(1), *lock_wait(1)]:
        assert Sample.from_json(s.to_json()) == s


def test_read_samples_skips_a_line_cut_by_a_kill(tmp_path: Path):
    a, b = stalled(1)
    path = tmp_path / "samples.jsonl"
    path.write_text(a.to_json() + "\n" + b.to_json()[:50])
    assert read_samples(path) == [a]


def test_syscall_numbers():
    assert [syscall_name(n) for n in (0, 61, 73, 202, 232, 281, 334, 435, 441)] == [
        "read", "wait4", "flock", "futex", "epoll_wait", "epoll_pwait", "rseq", "clone3",
        "epoll_pwait2",
    ]  # fmt: skip
    # one table, strace's spelling for what it does not know (the sampler had syscall_400)
    assert syscall_name(400) == "syscall_0x190"
    assert syscall_name(0, "aarch64") == "syscall_0x0"


def test_parse_syscall_file():
    assert parse_syscall("running\n", "x86_64") == ("running", None, ())
    assert parse_syscall("-1 0x7ffd 0x4012\n", "x86_64") == ("running", None, ())
    line = "73 0xb 0x2 0x0 0x0 0x0 0x0 0x7ffd3bbbdfe8 0x7f4765de0503\n"
    assert parse_syscall(line, "x86_64") == ("flock", 73, (11, 2, 0, 0, 0, 0))
    assert parse_syscall(None, "x86_64")[0] == "?"


def test_parse_net_tables():
    head = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    tcp = head + (
        "   3: 0100007F:8712 0100007F:4692 01 00000010:00000200 00:00000000 00000000     0        0 57261 1 0 20 4 8 16 -1\n"
        "   4: 0100007F:B489 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 57254 1 0 100 0 0 10 0\n"
    )
    got = parse_net_table("tcp", tcp, {57261, 57254, 1})
    assert got[57261] == SocketSample(
        -1, 57261, "tcp", "127.0.0.1:34578", "127.0.0.1:18066", "ESTABLISHED", 16, 512
    )
    assert got[57254].state == "LISTEN" and set(got) == {57261, 57254}
    tcp6 = head + (
        "   0: 0000000000000000FFFF00000100007F:9563 0000000000000000FFFF00000100007F:9196 "
        "02 00000000:00000000 00:00000000 00000000     0        0 58128 1 0\n"
        "   1: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 "
        "0A 00000000:00000000 00:00000000 00000000     0        0 58129 1 0\n"
    )
    got6 = parse_net_table("tcp6", tcp6, {58128, 58129})
    assert (got6[58128].local, got6[58128].state) == ("127.0.0.1:38243", "SYN_SENT")
    assert got6[58129].local == "[::1]:80"
    udp = head + (
        "  12: 0100007F:D431 0100007F:0035 01 00000000:00000000 00:00000000 00000000     0        0 4242 2 0 0\n"
    )
    assert parse_net_table("udp", udp, {4242})[4242].remote == "127.0.0.1:53"
    unix = (
        "Num       RefCount Protocol Flags    Type St Inode Path\n"
        "000000004a76eaf1: 00000003 00000000 00000000 0001 03  1577 /run/x.sock\n"
        "00000000debab68e: 00000003 00000000 00000000 0001 03  1578\n"
    )
    got_unix = parse_net_table("unix", unix, {1577, 1578})
    assert (got_unix[1577].local, got_unix[1577].state, got_unix[1578].local) == (
        "/run/x.sock", "CONNECTED", "",
    )  # fmt: skip


def test_parse_locks_groups_waiters_under_the_holder():
    text = (
        "1: FLOCK  ADVISORY  WRITE 13509 fe:00:2155337 0 EOF\n"
        "2: FLOCK  ADVISORY  WRITE 13455 fe:00:2155304 0 EOF\n"
        "2: -> FLOCK  ADVISORY  WRITE 13456 fe:00:2155304 0 EOF\n"
        "2: -> FLOCK  ADVISORY  WRITE 13460 fe:00:2155304 0 EOF\n"
        "3: OFDLCK ADVISORY  READ  -1 00:05:12 0 EOF\n"
    )
    assert parse_locks(text) == [
        ("fe:00:2155337", "FLOCK", "WRITE", 13509, ()),
        ("fe:00:2155304", "FLOCK", "WRITE", 13455, (13456, 13460)),
        ("00:05:12", "OFDLCK", "READ", -1, ()),
    ]


def test_a_process_vanishing_mid_read_is_skipped(tmp_path: Path):
    """A fake /proc: thread 11 is listed but gone, child 12 is listed but reaped."""
    proc = tmp_path / "proc"
    task = proc / "10" / "task"
    for tid in ("10", "11"):
        (task / tid).mkdir(parents=True)
    (proc / "10" / "stat").write_text("10 (go (x)) S 1 10 10 0 -1 0 0 0 0 0 7 3 0 0 20 0 2 0\n")
    (proc / "10" / "io").write_text("rchar: 5\nwchar: 6\nsyscr: 1\n")
    (proc / "10" / "cmdline").write_bytes(b"go\0mod\0download\0")
    (task / "10" / "stat").write_text("10 (go) S 1 10 10 0 -1 0 0 0 0 0 7 3 0 0 20 0 2 0\n")
    (task / "10" / "syscall").write_text("202 0x1 0x80 0x0 0x0 0x0 0x0 0x1 0x2\n")
    (task / "10" / "wchan").write_text("futex_do_wait")
    (task / "10" / "children").write_text("12 ")
    fd = proc / "10" / "fd"
    fd.mkdir()
    data = tmp_path / "v1.0.0.zip77.tmp"
    data.write_bytes(b"x" * 42)
    (fd / "3").symlink_to(data)
    (fd / "4").symlink_to("socket:[9001]")
    (proc / "10" / "net").mkdir()
    (proc / "10" / "net" / "tcp").write_text(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   3: 0100007F:8712 0100007F:4692 01 00000000:00000000 00:00000000 00000000     0        0 9001 1 0\n"
    )
    s = ProcSampler(10, None, proc=str(proc)).sample()
    (p,) = s.processes
    assert (p.comm, p.ppid, p.cmdline, p.rchar, p.wchar) == (
        "go (x)",
        1,
        ("go", "mod", "download"),
        5,
        6,
    )
    assert p.threads == (
        ThreadSample(10, "S", "futex", 202, (1, 128, 0, 0, 0, 0), "futex_do_wait"),
    )
    assert p.fds[0].target == str(data) and p.fds[0].size == 42
    assert p.sockets[0].remote == "127.0.0.1:18066" and p.sockets[0].fd == 4
    assert ProcSampler(424242, None, proc=str(proc)).sample().processes == ()


# --- the sampler on live processes (loopback, no go) -------------------------------------------


def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_sampler_sees_a_blocked_thread_and_unread_socket_data():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        code = (
            "import socket, time\n"
            f"s = socket.create_connection(('127.0.0.1', {port}))\n"
            "print('connected', flush=True)\n"
            "time.sleep(60)\n"
        )
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        try:
            peer, _ = server.accept()
            peer.sendall(b"z" * 300)
            assert child.stdout is not None and child.stdout.readline() == "connected\n"
            sampler = ProcSampler(child.pid)
            wait_for(
                lambda: (
                    "clock_nanosleep" in {t.syscall for t in sampler.sample().processes[0].threads}
                )
            )
            (p,) = sampler.sample().processes
            (sock,) = [s for s in p.sockets if s.proto == "tcp"]
            assert (sock.remote, sock.state, sock.rx_queue) == (
                f"127.0.0.1:{port}",
                "ESTABLISHED",
                300,
            )
            assert f"1 TCP connection to 127.0.0.1:{port} ESTABLISHED with 300 bytes" in describe(
                sampler.sample()
            )
            peer.close()
        finally:
            child.kill()
            child.wait()
    assert ProcSampler(child.pid).sample().processes == ()


def test_sampler_names_the_holder_of_a_lock_the_tree_waits_for(tmp_path: Path):
    lock = tmp_path / "v1.0.0.lock"
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        code = "import fcntl, sys\nfcntl.flock(open(sys.argv[1]), fcntl.LOCK_EX)\n"
        child = subprocess.Popen([sys.executable, "-c", code, str(lock)])
        try:
            sampler = ProcSampler(child.pid)
            wait_for(lambda: any(k.waiters for k in sampler.sample().locks))
            s = sampler.sample()
            (k,) = s.locks
            assert (k.path, k.holder, k.waiters) == (str(lock), os.getpid(), (child.pid,))
            assert f"blocked in flock on {lock} held by pid {os.getpid()} (" in describe(s)
        finally:
            child.kill()
            child.wait()


def test_background_mode_writes_flushed_json_lines(tmp_path: Path):
    child = subprocess.Popen(["sleep", "30"])
    try:
        sampler = ProcSampler(child.pid, interval=0.05)
        out = tmp_path / "samples.jsonl"
        sampler.start(out)
        wait_for(lambda: len(read_samples(out)) >= 3)  # readable while it runs
        sampler.stop()
        got = read_samples(out)
        assert [s.index for s in got] == list(range(len(got)))
        assert got[-1].processes[0].threads[0].syscall == "clock_nanosleep"
        assert len(sampler.drain()) == len(got) and sampler.errors == []
        sampler.stop()  # idempotent
    finally:
        child.kill()
        child.wait()


def test_backend_passes_exit_status_through(tmp_path: Path):
    b = SamplerBackend()
    b.start(["sh", "-c", "sleep 0.3; exit 3"], tmp_path / "s.jsonl")
    assert b.poll_root() == b.root_pid and b.seccomp_active is None and b.name == "sampler"
    assert b.wait(timeout=10) == 3
    assert not b.running()
    assert read_samples(tmp_path / "s.jsonl")[0].processes[0].comm in ("sh", "sleep")
    killed = SamplerBackend()
    killed.start(["sleep", "30"], tmp_path / "k.jsonl")
    killed.stop_command(grace=2)
    assert killed.wait(timeout=10) == -signal.SIGTERM


def test_backend_kill_all_leaves_no_descendant(tmp_path: Path):
    b = SamplerBackend()
    b.start(["sh", "-c", "sleep 60 & sleep 60; wait"], tmp_path / "s.jsonl")
    assert b.sampler is not None
    sampler = b.sampler
    wait_for(lambda: len(sampler.sample().processes) == 3)
    pids = [p.pid for p in sampler.sample().processes]
    b.kill_all()
    time.sleep(0.2)
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().split(")")[-1].split()[0] == "Z"
    assert not b.running() and not sampler.running()


# --- lab scenarios through SamplerBackend (real go, loopback) ----------------------------------


def watch(
    name: str, tmp_path: Path, quiet_after: float = 1.0
) -> tuple[list[tuple[float, str]], list[Sample], dict[str, int], int]:
    """Run a lab scenario under SamplerBackend with the live loop gotrace run would use;
    returns (seconds, quiet line) pairs, the saved samples, the lab's pids and the port."""
    from gotrace.lab import get_scenario

    with get_scenario(name).prepare() as prep:
        backend = SamplerBackend(gomodcache=prep.gomodcache)
        log = tmp_path / "samples.jsonl"
        history = SampleHistory()
        lines: list[tuple[float, str]] = []
        t0 = time.monotonic()
        backend.start(
            prep.argv, log, env=prep.env, cwd=str(prep.cwd), stderr_devnull=prep.stderr_devnull
        )
        try:
            while backend.running():
                time.sleep(0.2)
                for s in backend.drain():
                    history.feed(s)
                line = history.quiet_summary(quiet_after)
                if line:
                    lines.append((time.monotonic() - t0, line))
                if prep.timeout is not None and time.monotonic() - t0 > prep.timeout:
                    backend.signal_command(signal.SIGKILL)
        finally:
            backend.kill_all()
        port = prep.proxies["proxy"].port if "proxy" in prep.proxies else 0
        return lines, read_samples(log), dict(prep.pids), port


@pytest.mark.integration
def test_proxy_stall_names_the_established_connection_live(tmp_path: Path):
    lines, samples, _, port = watch("proxy-stall", tmp_path)
    assert lines, "no quiet line before the scenario's 3 s timeout"
    when, line = lines[0]
    assert when < 3.0
    assert (
        f"TCP connection{'s' if 'connections' in line else ''} to 127.0.0.1:{port} ESTABLISHED"
        in line
    )
    assert "empty receive queue" in line
    assert "example.com/dep1@v1.0.0 (.zip tmp 0 bytes)" in line
    kinds = {f["kind"]: f for f in findings(samples)}
    assert f"tcp 127.0.0.1:{port}" in kinds["socket-stalled"]["objects"]


@pytest.mark.integration
def test_lock_held_names_the_lock_file_and_the_holder_live(tmp_path: Path):
    lines, samples, pids, _ = watch("lock-held", tmp_path)
    holder = pids["lock-holder"]
    assert lines and lines[0][0] < 3.0
    line = lines[0][1]
    assert "blocked in flock on $GOMODCACHE/cache/download/example.com/dep0/@v/v1.0.0.lock" in line
    assert f"held by pid {holder} (" in line
    (lock,) = [f for f in findings(samples) if f["kind"] == "lock-held"]
    assert lock["pids"][-1] == holder


@pytest.mark.integration
def test_body_stall_names_the_tmp_zip_that_stopped_growing(tmp_path: Path):
    lines, samples, _, port = watch("body-stall", tmp_path)
    assert lines and lines[0][0] < 3.0
    line = lines[0][1]
    assert "downloads in progress: example.com/dep1@v1.0.0 (.zip tmp 4096 bytes)" in line
    assert f"127.0.0.1:{port} ESTABLISHED" in line
    sizes = [d.size for s in samples[-10:] for d in s.downloads if ".zip" in d.path]
    assert sizes == [4096] * 10  # the partial body arrived, then nothing more
    assert any(f["kind"] == "download-stalled" for f in findings(samples))


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_watchdog_beside_strace_sees_what_the_sampler_backend_sees(tmp_path: Path):
    """What gotrace run would do: strace traces go, and a ProcSampler watches strace's child."""
    from gotrace.lab import get_scenario
    from gotrace.tracer.strace import StraceBackend

    with get_scenario("proxy-stall").prepare() as prep:
        tracer = StraceBackend()
        tracer.start(prep.argv, tmp_path / "trace.strace", env=prep.env, cwd=str(prep.cwd))
        watchdog: ProcSampler | None = None
        history = SampleHistory()
        t0 = time.monotonic()
        try:
            while tracer.running() and time.monotonic() - t0 < prep.timeout:
                time.sleep(0.2)
                root = tracer.poll_root()
                if watchdog is None and root is not None:
                    watchdog = ProcSampler(root, prep.gomodcache)
                    watchdog.start(tmp_path / "samples.jsonl")
                for s in watchdog.drain() if watchdog else []:
                    history.feed(s)
        finally:
            tracer.kill_all()
            if watchdog is not None:
                watchdog.stop()
        line = history.quiet_summary(1.0)
        port = prep.proxies["proxy"].port
    assert line is not None and f"127.0.0.1:{port} ESTABLISHED" in line
    assert "(.zip tmp 0 bytes)" in line


@pytest.mark.integration
def test_dns_timeout_in_a_network_namespace_names_the_resolver(tmp_path: Path):
    """go runs under ``ip netns exec``: its sockets are only in /proc/PID/net/*."""
    from gotrace.lab import get_scenario

    reason = get_scenario("dns-timeout").unavailable()
    if reason is not None:
        pytest.skip(reason)
    lines, _, _, _ = watch("dns-timeout", tmp_path, quiet_after=0.5)
    assert any("to 127.0.0.1:53 (DNS) with" in line for _, line in lines), lines


# --- wake-ups are not progress (the rule of gotrace.analyzers.progress) -----------------------

EVENTFD = FdSample(7, "anon_inode:[eventfd]")
CGROUP = FdSample(3, "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", 4096, "0:1a:5")


def _woken(rchar: int, wchar: int = 500, **kw: Any) -> ProcessSample:
    return dataclasses.replace(go(rchar=rchar, fds=(CGROUP, EVENTFD), **kw), wchar=wchar)


def test_eventfd_bytes_of_each_wakeup_are_not_progress():
    # go's netpoller woken through its eventfd: 8 bytes written and read back per wake-up
    a, b = at(0, 0.0, _woken(1000)), at(1, 0.1, _woken(1008, 508))
    assert not progress(a, b)
    samples = [at(i, 0.05 * i, _woken(1000 + 8 * i, 500 + 8 * i)) for i in range(101)]
    line = quiet_summary(samples, 4.0)
    assert line is not None and line.startswith("quiet 5 s: ")


def test_go_sysmon_reading_the_cgroup_quota_every_60s_is_not_progress():
    # measured on proxy-stall at +60 s: pread64 of cpu.cfs_quota_us, rchar +3
    samples = [at(i, float(i), _woken(1000 if i < 60 else 1003)) for i in range(76)]
    assert not any(progress(x, y) for x, y in itertools.pairwise(samples))
    assert quiet_summary(samples, 5.0).startswith("quiet 75 s: ")  # type: ignore[union-attr]


def test_data_beyond_wakeups_is_progress():
    def sock(received: int) -> SocketSample:
        return dataclasses.replace(conn(5, 100), bytes_received=received, bytes_acked=1)

    before = _woken(1000, sockets=(sock(0),))
    moved = {
        "socket-read": _woken(1000, sockets=(sock(4096),)),  # tcp_info: data came in
        "big-read": _woken(5096, sockets=(sock(0),)),
        "file-write": _woken(1000, 4596, sockets=(sock(0),)),
        "file-opened": dataclasses.replace(
            before, fds=(CGROUP, EVENTFD, FdSample(9, "/home/u/go.sum", 0, "0:1:9"))
        ),
    }
    for name, after in moved.items():
        assert progress(at(0, 0.0, before), at(1, 0.1, after)), name


def test_a_few_bytes_through_a_process_without_wakeup_fds_are_progress():
    # git passing a pkt-line to its helper over a pipe: no eventfd, so every byte counts
    a = at(0, 0.0, go(5000, comm="git", rchar=100, sockets=()))
    b = at(1, 0.1, go(5000, comm="git", rchar=104, sockets=()))
    assert progress(a, b)


@pytest.mark.integration
def test_git_stall_polling_in_pselect6_is_quiet_live(tmp_path: Path):
    """curl inside git-remote-http wakes up in pselect6/poll every 50 ms and moves nothing:
    the quiet line comes within the lab's 3 s, and the span is not cut by the wake-ups."""
    from gotrace.lab import get_scenario

    if reason := get_scenario("git-stall").unavailable():
        pytest.skip(reason)
    lines, samples, _, _ = watch("git-stall", tmp_path)
    assert lines and lines[0][0] < 3.0, lines
    assert "git-remote-http" in lines[-1][1] and "pselect6" in lines[-1][1]
    quiet = [int(line.split()[1]) for _, line in lines]
    assert quiet == sorted(quiet), "the live quiet counter went back"
    assert any(samples[b].time - samples[a].time >= 2.0 for a, b in quiet_spans(samples))


# --- a /proc-only capture: the setting behind a stalled socket ---------------------------------


def _proc_only(samples: list[Sample], env: dict[str, str]) -> gotrace.Trace:
    from gotrace.model.events import empty_frame

    meta = {"format": "samples", "argv": ["go", "mod", "download"], "env": env}
    return gotrace.Trace.from_frame(empty_frame(), meta, samples=tuple(samples))


def test_a_stalled_socket_in_samples_names_the_goproxy_entry():
    """tls-proxy-stall under the sampler: /proc shows an address, meta.json the setting."""
    t = _proc_only(stalled(10), {"GOPROXY": "https://localhost:18082", "GOSUMDB": "off"})
    f = t.report.findings[0]
    assert f.kind == "proxy-stall" and "https://localhost:18082" in f.objects
    assert t.verdict.endswith(
        "— the module proxy https://localhost:18082 (GOPROXY) never answered; /proc shows no "
        "request: a syscall backend (strace, ptrace) or --go-x names it"
    )
    # another address: not the proxy's, so nothing is claimed
    other = _proc_only(stalled(10), {"GOPROXY": "https://localhost:9999"})
    assert other.report.findings[0].kind == "socket-stalled"


def test_a_stalled_git_remote_helper_in_samples_names_the_remote_and_the_setting():
    """git-stall under the sampler, behind `ip netns exec` (meta's argv is not go's)."""
    helper = ProcessSample(
        4700, 4690, "git-remote-http",
        ("/usr/lib/git-core/git-remote-http", "origin", "http://git.example.test/m.git"),
        "S", 0.1, 1000, 500, (th(4700, "poll"),), (),
        (SocketSample(5, 300, "tcp", "127.0.0.1:40100", "127.0.0.1:80", "ESTABLISHED", 0, 0),),
    )  # fmt: skip
    gocmd = go(sockets=(), comm="go", threads=(th(4646, "epoll_pwait"),))
    gocmd = dataclasses.replace(gocmd, cmdline=("/opt/go/bin/go", "mod", "download"))
    samples = [at(i, float(i), gocmd, helper, downloads=()) for i in range(6)]
    env = {"GOPROXY": "direct", "GOPRIVATE": "git.example.test"}
    t = _proc_only(samples, env)
    t = t.replace(meta={**t.meta, "argv": ["ip", "netns", "exec", "ns", "/opt/go/bin/go"]})
    f = next(f for f in t.report.findings if f.pids == (4700,))
    assert f.kind == "git-stall"
    assert (
        "— the git server http://git.example.test/m.git never answered (git-remote-http, run by "
        "go in direct mode: GOPRIVATE=git.example.test)"
    ) in f.summary


def test_gotrace_analyze_reads_a_sampler_capture_directory(tmp_path: Path):
    """The sampler backend writes meta.json and samples.jsonl only: analyze reads it."""
    import json

    (tmp_path / "samples.jsonl").write_text("".join(s.to_json() + "\n" for s in stalled(10)))
    meta = {"argv": ["go", "mod", "download"], "env": {"GOPROXY": "https://localhost:18082"}}
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    r = subprocess.run(
        [sys.executable, "-m", "gotrace", "analyze", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("verdict: go (pid 4646) waited 10 s on 2 TCP connections")
    assert "the module proxy https://localhost:18082 (GOPROXY) never answered" in r.stdout


def test_a_stalled_https_proxy_socket_in_samples_may_be_a_tunnel():
    """connect-tls-stall under the sampler: /proc cannot tell an unanswered CONNECT from a
    stall behind the open tunnel, so the verdict names both and claims neither."""
    env = {"GOPROXY": "https://proxy.golang.org", "HTTPS_PROXY": "http://127.0.0.1:18082"}
    t = _proc_only(stalled(10), env)
    assert t.report.findings[0].kind == "http-proxy-stall"
    assert (
        "— nothing came back from the HTTP proxy http://127.0.0.1:18082 (set by HTTPS_PROXY) "
        "or from the server behind its CONNECT tunnel (GOPROXY https://proxy.golang.org)"
    ) in t.verdict
