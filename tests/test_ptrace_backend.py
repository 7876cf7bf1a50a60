"""The ptrace backend: the log it writes is strace's, the command ends as it would untraced,
and it never hangs. Lab equivalence tests compare it with the strace backend on the same
scenario (``-m integration``); the stress test (``-m slow``) runs the stalls 50 times each."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import LabCapture

from gotrace.parsers.strace import parse_frame, parse_text
from gotrace.tracer.ptrace import PtraceBackend, machine_supported

pytestmark = pytest.mark.skipif(machine_supported() is not None, reason=str(machine_supported()))

PY = sys.executable


def _backend(*, seccomp: bool = True) -> PtraceBackend:
    return PtraceBackend(seccomp=seccomp)


@dataclass
class Run:
    rc: int
    frame: pl.DataFrame
    log: Path
    seccomp: bool | None
    root: int | None

    def calls(self, name: str) -> pl.DataFrame:
        return self.frame.filter((pl.col("kind") == "syscall") & (pl.col("syscall") == name))


def trace(cmd: list[str], tmp: Path, *, timeout: float = 60, seccomp: bool = True) -> Run:
    b = _backend(seccomp=seccomp)
    log = tmp / "trace.strace"
    b.start(cmd, log, stderr_devnull=True)
    rc = b.wait(timeout=timeout)
    return Run(rc, parse_frame(log), log, b.seccomp_active, b.root_pid)


def no_parse_errors(frame: pl.DataFrame) -> None:
    errors = frame.filter(pl.col("kind") == "parse_error")
    assert errors.height == 0, errors.select("line", "text", "errmsg").to_dicts()[:3]


def gone(pid: int) -> bool:
    """Not running (a zombie waiting for its parent counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


# --- pure pieces ------------------------------------------------------------------------------


def _run_bpf(prog: list[tuple[int, int, int, int]], nr: int, arch: int) -> int:
    """A classic-BPF interpreter for the few instructions the filter uses."""
    data = struct.pack("<iI", nr, arch)
    a = x = pc = 0
    while True:
        code, jt, jf, k = prog[pc]
        if code == 0x20:
            a = struct.unpack_from("<I", data, k)[0]
        elif code == 0x00:
            a = k
        elif code in (0x15, 0x35, 0x45):
            hit = {0x15: a == k, 0x35: a >= k, 0x45: bool(a & k)}[code]
            pc += jt if hit else jf
        elif code == 0x06:
            return k
        elif code == 0x54:
            a &= k
        elif code == 0x6C:
            a = (a << x) & 0xFFFFFFFF
        elif code == 0x74:
            a >>= k
        elif code == 0x07:
            x = a
        elif code == 0x87:
            a = x
        else:
            raise AssertionError(f"unknown BPF code {code:#x}")
        pc += 1


def test_seccomp_filter_traces_exactly_the_watched_calls():
    from gotrace.tracer import ptrace_sys as ps

    prog = ps.bpf_program(ps.WATCHED_NRS)
    assert len(prog) < 256
    for nr in range(600):
        want = ps.SECCOMP_RET_TRACE if nr in ps.WATCHED_NRS else ps.SECCOMP_RET_ALLOW
        assert _run_bpf(prog, nr, ps.AUDIT_ARCH_X86_64) == want, nr
    # other ABIs and x32 calls are not ours
    assert _run_bpf(prog, 0, 0x40000003) == ps.SECCOMP_RET_ALLOW
    assert _run_bpf(prog, 0x40000000 | 1, ps.AUDIT_ARCH_X86_64) == ps.SECCOMP_RET_ALLOW


def test_watched_set_is_stracess_trace_set():
    from gotrace.tracer import ptrace_sys as ps

    names = {ps.syscall_name(n) for n in ps.WATCHED_NRS}
    for name in ("read", "write", "openat", "close", "flock", "connect", "sendto", "recvfrom"):
        assert name in names  # %desc, %network, %file
    for name in ("clone", "clone3", "execve", "wait4", "exit_group", "kill", "tgkill"):
        assert name in names  # %process
    assert {"futex", "nanosleep", "clock_nanosleep", "epoll_pwait", "mmap"} <= names
    assert not {"getpid", "brk", "rt_sigaction", "sched_yield", "munmap"} & names


def test_strings_are_quoted_like_strace():
    from gotrace.tracer.ptrace_decode import quote

    assert quote(b"plain text") == '"plain text"'
    # named escapes, minimal octal, three digits before an octal digit
    assert quote(b'\x00\x01\x7f\x80\xff"\\\t\n9') == r'"\0\1\177\200\377\"\\\t\n9"'
    assert quote(b"\x001") == r'"\0001"'
    assert quote(b"\x08\x07") == r'"\10\7"'
    assert quote(b"abc", truncated=True) == '"abc"...'


def test_log_writer_forms_parse_back_into_one_event_per_call():
    """Entry halves, `<unfinished ...>`, `<... resumed>`, `= ?` and exits, as strace writes."""
    from gotrace.tracer.ptrace_decode import Call
    from gotrace.tracer.ptrace_worker import LogWriter

    r, w = os.pipe()
    log = LogWriter(w)
    t0 = 1_800_000_000_000_000_000
    a = Call(10, 10, 0, "read", (3, 0, 10), t0)
    b = Call(11, 10, 202, "futex", (0, 0, 0), t0 + 1000)
    log.begin(a, "3</x>, ")
    log.begin(b, "0x1234, FUTEX_WAIT_PRIVATE, 0, NULL")
    log.finish(a, t0 + 5000, '"hi", 10', "2")
    log.line(10, t0 + 6000, "+++ exited with 0 +++")
    log.never_returned(b, t0 + 7000, decoded=True)
    c = Call(12, 12, 73, "flock", (5, 2), t0 + 8000)
    log.begin(c, "5</l>, LOCK_EX")
    log.never_returned(c, t0 + 9000, decoded=True)
    os.close(w)
    text = os.read(r, 1 << 16).decode()
    os.close(r)
    lines = text.splitlines()
    assert lines[0] == "10    1800000000.000000 read(3</x>,  <unfinished ...>"
    assert lines[1].endswith("futex(0x1234, FUTEX_WAIT_PRIVATE, 0, NULL <unfinished ...>")
    assert lines[2] == '10    1800000000.000005 <... read resumed>"hi", 10) = 2 <0.000005>'
    assert lines[4] == "11    1800000000.000007 <... futex resumed>) = ?"
    assert lines[5].startswith("12    1800000000.000008 flock(5</l>, LOCK_EX)") and lines[
        5
    ].endswith(" = ?")
    df = parse_text(text)
    no_parse_errors(df)
    sc = df.filter(pl.col("kind") == "syscall")
    assert sc["syscall"].to_list() == ["read", "futex", "flock"]
    assert sc["args"].to_list()[0] == '3</x>, "hi", 10'
    assert sc["in_flight"].to_list() == [False, True, True]
    assert sc["duration"][0] == pytest.approx(5e-6)


# --- small commands ---------------------------------------------------------------------------


def test_exit_status_and_the_log_is_straces(tmp_path: Path):
    run = trace(["sh", "-c", "exit 3"], tmp_path)
    assert run.rc == 3
    assert run.seccomp is True
    no_parse_errors(run.frame)
    first = run.frame.row(0, named=True)
    assert first["syscall"] == "execve" and first["retval"] == 0
    assert '["sh", "-c", "exit 3"]' in first["args"] and "vars */" in first["args"]
    assert first["pid"] == run.root
    assert run.frame.filter(pl.col("kind") == "exit")["status"].to_list() == [3]
    raw = run.log.read_text().splitlines()
    assert re.fullmatch(r"\d+ +\d{10}\.\d{6} execve\(.*\) = 0 <\d+\.\d{6}>", raw[0])
    assert re.fullmatch(r"\d+ +\d{10}\.\d{6} exit_group\(3\) += \?", raw[-2])
    assert re.fullmatch(r"\d+ +\d{10}\.\d{6} \+\+\+ exited with 3 \+\+\+", raw[-1])


PROGRAM = textwrap.dedent(
    """
    import os, socket, sys
    path = sys.argv[1]
    srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
    cli = socket.socket(); cli.connect(srv.getsockname())
    conn, _ = srv.accept()
    cli.sendall(b"GET /example.com/dep0/@v/v1.0.0.zip HTTP/1.1\\r\\n\\r\\n")
    conn.recv(100)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, b"\\x00\\x01tab\\there\\n" + b"x" * 300)
    os.close(fd)
    fd = os.open(path, os.O_RDONLY)
    os.read(fd, 5)
    os.close(fd)
    pid = os.fork()
    if pid == 0:
        os.execv("/bin/sh", ["sh", "-c", "exit 5"])
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status) + 2)
    """
)


def test_fork_exec_files_sockets_writes(tmp_path: Path):
    script = tmp_path / "prog.py"
    script.write_text(PROGRAM)
    data = tmp_path / "data.bin"
    run = trace([PY, str(script), str(data)], tmp_path)
    assert run.rc == 7
    no_parse_errors(run.frame)
    df = run.frame
    # files: the path decoded, the fd annotated, the buffer escaped and cut at -s 256
    opened = run.calls("openat").filter(pl.col("args").str.contains(str(data), literal=True))
    assert opened.height == 2
    assert opened["ret_target"].to_list() == [str(data)] * 2
    write = run.calls("write").filter(pl.col("fd_target") == str(data))
    assert write.height == 1
    size = len(b"\x00\x01tab\there\n") + 300
    assert r'"\0\1tab\there\nxxx' in write["args"][0]
    assert write["args"][0].endswith(f'"..., {size}') and write["retval"][0] == size
    read = run.calls("read").filter(pl.col("fd_target") == str(data))
    assert read["args"].to_list() == [f'{read["fd"][0]}<{data}>, "\\0\\1tab", 5']
    # sockets: the address, and the fd annotated with both ends once connected
    connect = run.calls("connect")
    port = int(re.search(r"htons\((\d+)\)", connect["args"][0]).group(1))
    sent = run.calls("sendto")
    assert sent.height == 1
    assert sent["fd_target"][0].startswith("TCP:[127.0.0.1:")
    assert sent["fd_target"][0].endswith(f"->127.0.0.1:{port}]")
    assert "GET /example.com/dep0/@v/v1.0.0.zip" in sent["args"][0]
    # processes: the child's execve, its exit, the parent's wait4 with the status
    child = int(run.calls("clone")["retval"][0])
    ex = run.calls("execve").filter(pl.col("pid") == child)
    assert ex["args"][0].startswith('"/bin/sh", ["sh", "-c", "exit 5"]')
    exits = df.filter(pl.col("kind") == "exit").select("pid", "status").rows()
    assert (child, 5) in exits and (run.root, 7) in exits
    assert "WEXITSTATUS(s) == 5" in run.calls("wait4")["args"][0]
    sigchld = df.filter(pl.col("kind") == "signal")
    assert sigchld["signal"].to_list() == ["SIGCHLD"]
    assert f"si_pid={child}" in sigchld["info"][0] and "CLD_EXITED" in sigchld["info"][0]


def test_threads_exec_from_a_thread_supersedes_the_leader(tmp_path: Path):
    script = tmp_path / "t.py"
    script.write_text(
        "import os, threading, time\n"
        "threading.Thread(target=lambda: (time.sleep(0.05), os.execv('/bin/true', ['true']))).start()\n"
        "time.sleep(30)\n"
    )
    t0 = time.monotonic()
    run = trace([PY, str(script)], tmp_path)
    assert run.rc == 0 and time.monotonic() - t0 < 20
    no_parse_errors(run.frame)
    df = run.frame
    exec_rows = df.filter(pl.col("kind") == "exec")
    assert exec_rows.height == 1 and exec_rows["pid"][0] == run.root
    thread = exec_rows["former_pid"][0]
    assert thread != run.root
    # as strace writes it: the call starts under the thread and returns under the leader's pid
    true = run.calls("execve").filter(pl.col("args").str.starts_with('"/bin/true"'))
    assert true["pid"].to_list() == [thread]
    back = run.calls("execve").filter((pl.col("pid") == run.root) & (pl.col("retval") == 0))
    assert back.height == 2  # the python start and the resumed /bin/true
    # the leader's sleep never returned
    sleep = run.calls("clock_nanosleep").filter(pl.col("pid") == run.root)
    assert sleep["in_flight"].to_list()[-1] is True


def test_without_seccomp_every_call_stops_and_the_log_is_the_same(tmp_path: Path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    a = trace(["sh", "-c", "echo hi >/dev/null; exit 4"], tmp_path / "a", seccomp=False)
    b = trace(["sh", "-c", "echo hi >/dev/null; exit 4"], tmp_path / "b")
    assert (a.rc, b.rc) == (4, 4)
    assert (a.seccomp, b.seccomp) == (False, True)
    names = [r.frame.filter(pl.col("kind") == "syscall")["syscall"].to_list() for r in (a, b)]
    assert names[0] == names[1]


# --- signals, stopping, in-flight calls -------------------------------------------------------


def test_killed_by_sigterm_is_status_143(tmp_path: Path):
    from gotrace.tracer.strace import exit_from_returncode

    run = trace(["sh", "-c", "kill -TERM $$"], tmp_path)
    assert exit_from_returncode(run.rc) == (143, "SIGTERM")
    kills = run.frame.filter(pl.col("kind") == "kill")
    assert kills["signal"].to_list() == ["SIGTERM"]
    sig = run.frame.filter(pl.col("kind") == "signal")
    assert sig["signal"].to_list() == ["SIGTERM"] and "SI_USER" in sig["info"][0]


def test_signals_are_delivered_not_swallowed(tmp_path: Path):
    """SIGUSR1 reaches its handler, SIGPIPE kills `yes`, SIGCHLD wakes the shell."""
    script = tmp_path / "s.py"
    script.write_text(
        "import os, signal, subprocess, sys\n"
        "got = []\n"
        "signal.signal(signal.SIGUSR1, lambda *a: got.append(1))\n"
        "os.kill(os.getpid(), signal.SIGUSR1)\n"
        "subprocess.run(['sh', '-c', 'yes | head -c 1 >/dev/null'])\n"
        "sys.exit(10 + len(got))\n"
    )
    run = trace([PY, str(script)], tmp_path)
    assert run.rc == 11
    no_parse_errors(run.frame)
    signals = set(run.frame.filter(pl.col("kind") == "signal")["signal"].to_list())
    assert {"SIGUSR1", "SIGCHLD"} <= signals
    killed = run.frame.filter(pl.col("kind") == "kill")["signal"].to_list()
    assert "SIGPIPE" in killed  # `yes` died of it, as it would untraced


def test_stop_command_interrupts_the_sleep_then_sigterm_kills(tmp_path: Path):
    from gotrace.tracer.strace import exit_from_returncode

    b = _backend()
    log = tmp_path / "trace.strace"
    b.start(["sleep", "30"], log)
    _wait_for(lambda: b"clock_nanosleep" in log.read_bytes())
    t0 = time.monotonic()
    b.stop_command(grace=3)
    rc = b.wait(timeout=10)
    assert time.monotonic() - t0 < 5
    assert exit_from_returncode(rc) == (143, "SIGTERM")
    df = parse_frame(log)
    sleeping = df.filter(pl.col("syscall") == "clock_nanosleep")
    assert sleeping.height == 1 and sleeping["errno"][0].startswith("ERESTART")
    assert df.filter(pl.col("kind") == "kill")["signal"].to_list() == ["SIGTERM"]


def test_ctrl_c_forwarded_as_sigint(tmp_path: Path):
    b = _backend()
    log = tmp_path / "trace.strace"
    b.start(["sleep", "30"], log)
    _wait_for(lambda: b"clock_nanosleep" in log.read_bytes())
    b.signal_command(signal.SIGINT)
    assert b.wait(timeout=10) == -signal.SIGINT


BLOCKED_READ = textwrap.dedent(
    """
    import os, sys
    r, w = os.pipe()
    open(sys.argv[1], "w").write("ready")
    os.read(r, 10)
    """
)


def test_a_blocked_call_is_visible_then_in_flight_after_sigkill(tmp_path: Path):
    script = tmp_path / "b.py"
    script.write_text(BLOCKED_READ)
    flag = tmp_path / "ready"
    b = _backend()
    log = tmp_path / "trace.strace"
    b.start([PY, str(script), str(flag)], log)
    _wait_for(flag.exists)
    # what the live monitor reads: the blocked call's head, no newline yet
    head = re.compile(rb"\d+ +[\d.]+ read\(\d+<pipe:\[\d+\]>, $")
    _wait_for(lambda: head.fullmatch(log.read_bytes().rsplit(b"\n", 1)[1]) is not None)
    b.signal_command(signal.SIGKILL)
    assert b.wait(timeout=10) == -signal.SIGKILL
    df = parse_frame(log)
    no_parse_errors(df)
    blocked = df.filter((pl.col("syscall") == "read") & pl.col("in_flight"))
    assert blocked.height == 1 and blocked["fd_target"][0].startswith("pipe:[")
    # strace's form for a call its thread died in: the head, then `<unfinished ...>) = ?`
    assert re.search(
        r"read\(\d+<pipe:\[\d+\]>,  <unfinished \.\.\.>\) += \?$", log.read_text().splitlines()[-2]
    )
    assert df.filter(pl.col("kind") == "kill")["signal"].to_list() == ["SIGKILL"]


def test_kill_all_never_hangs_and_leaves_nothing(tmp_path: Path):
    b = _backend()
    log = tmp_path / "trace.strace"
    # the shell ignores SIGTERM, its child sleeps on after the shell is killed
    b.start(["sh", "-c", "trap '' TERM; sleep 30 & sleep 30; wait"], log)
    _wait_for(lambda: log.read_bytes().count(b"clock_nanosleep") >= 2)
    pids = {int(p) for p in re.findall(rb"^(\d+) ", log.read_bytes(), re.M)}
    t0 = time.monotonic()
    b.kill_all()
    assert time.monotonic() - t0 < 15
    assert not b.running()
    assert b.worker_pid is not None and gone(b.worker_pid)
    _wait_for(lambda: all(gone(p) for p in pids))


def test_the_tracer_dying_takes_the_command_with_it(tmp_path: Path):
    b = _backend()
    log = tmp_path / "trace.strace"
    b.start(["sleep", "30"], log)
    _wait_for(lambda: b"clock_nanosleep" in log.read_bytes())
    assert b.worker_pid is not None and b.root_pid is not None
    os.kill(b.worker_pid, signal.SIGKILL)
    b.wait(timeout=10)
    # PTRACE_O_EXITKILL: an untraced command with a seccomp filter would get ENOSYS instead
    _wait_for(lambda: gone(b.root_pid or 0))


def test_without_seccomp_the_tracer_detaches_when_asked_to_stop(tmp_path: Path):
    """No filter to break the command: a stopped tracer leaves it running, untraced."""
    b = _backend(seccomp=False)
    log = tmp_path / "trace.strace"
    b.start(["sleep", "30"], log)
    _wait_for(lambda: b"clock_nanosleep" in log.read_bytes())
    root = b.root_pid
    assert root is not None and b.worker_pid is not None
    os.kill(b.worker_pid, signal.SIGTERM)
    b.wait(timeout=10)
    try:
        assert not gone(root)
        status = Path(f"/proc/{root}/status").read_text()
        assert re.search(r"^TracerPid:\s+0$", status, re.M)
    finally:
        os.kill(root, signal.SIGKILL)


def test_gotrace_run_with_backend_ptrace(tmp_path: Path):
    """`gotrace run --backend ptrace`: gotrace run's own loop drives the backend."""
    import json

    out = tmp_path / "cap"
    r = subprocess.run(
        [sys.executable, "-m", "gotrace", "run", "--backend", "ptrace", "-o", str(out), "--",
         "sh", "-c", "echo out; sleep 0.3; exit 6"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 6, r.stderr
    assert r.stdout == "out\n"  # the command's own output, unchanged
    meta = json.loads((out / "meta.json").read_text())
    assert meta["backend"]["name"] == "ptrace" and meta["exit_status"] == 6
    assert meta["seccomp_bpf"] is True and meta["root_pid"]
    ev = pl.read_parquet(out / "events.parquet")
    assert ev.filter(pl.col("kind") == "exit")["status"].to_list()[-1] == 6
    assert ev.filter(pl.col("kind") == "parse_error").height == 0


def _wait_for(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if cond():
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


# --- lab scenarios: the same evidence as strace -------------------------------------------------


@dataclass
class LabRun:
    rc: int
    timed_out: bool
    frame: pl.DataFrame
    port: int | None
    workdir: str
    lock: str | None


def lab_trace(name: str, backend: str, tmp: Path, *, hard_timeout: float = 90.0) -> LabRun:
    """gotrace run's loop (execute) in small: start, poll every 0.2 s, SIGKILL at the lab's
    timeout, a hard deadline for the test itself."""
    from gotrace.lab import get_scenario
    from gotrace.tracer.strace import StraceBackend

    sc = get_scenario(name)
    with sc.prepare() as prep:
        tracer = _backend() if backend == "ptrace" else StraceBackend()
        log = tmp / f"{name}-{backend}.strace"
        tracer.start(
            prep.argv, log, env=prep.env, cwd=str(prep.cwd), stderr_devnull=prep.stderr_devnull
        )
        started = time.monotonic()
        timed_out = False
        try:
            while tracer.running():
                time.sleep(0.2)
                tracer.poll_root()
                waited = time.monotonic() - started
                if prep.timeout is not None and waited > prep.timeout and not timed_out:
                    timed_out = True
                    tracer.signal_command(signal.SIGKILL)
                assert waited < hard_timeout, f"{name} under {backend} hung"
            rc = tracer.wait(timeout=10)
        finally:
            if tracer.running():
                tracer.kill_all()
        ports = [p.port for p in prep.proxies.values()]
        lock = str(prep.files["lock"]) if "lock" in prep.files else None
        frame = parse_frame(log)
        return LabRun(rc, timed_out, frame, ports[0] if ports else None, str(prep.workdir), lock)


def captured(cap: LabCapture) -> LabRun:
    """A ``gotrace lab run --keep`` directory as a LabRun: how go ended (meta.json), its
    events, the first GOPROXY entry's port and the lab's work directory."""
    import json

    meta = json.loads((cap.keep / "meta.json").read_text())
    sig = meta.get("signal")
    rc = -signal.Signals[sig].value if sig else int(meta["exit_status"])
    m = re.match(r"https?://127\.0\.0\.1:(\d+)", meta["env"].get("GOPROXY", ""))
    return LabRun(
        rc,
        bool(meta.get("timed_out")),
        parse_frame(cap.keep / "trace.strace"),
        int(m.group(1)) if m else None,
        meta["lab"]["workdir"],
        None,
    )


def evidence(run: LabRun) -> dict[str, Any]:
    """What the analyzers look at, independent of timing and scheduling."""
    df = run.frame.filter(pl.col("kind") == "syscall")

    def norm(text: str) -> str:
        text = text.replace(run.workdir, "WORK")
        return re.sub(r"\d+\.tmp", "N.tmp", text)

    port = run.port
    connects = df.filter(pl.col("syscall") == "connect")
    gets = df.filter(
        pl.col("syscall").is_in(["write", "sendto"]) & pl.col("args").str.contains(r"GET \S+\.zip ")
    )
    zips = sorted({m for a in gets["args"] for m in re.findall(r"GET (\S+\.zip) ", a)})
    flocks = df.filter(pl.col("syscall") == "flock")
    in_flight_flock = sorted(
        norm(t or "") for t in flocks.filter(pl.col("in_flight"))["fd_target"].to_list()
    )
    opened = sorted(
        {
            norm(m.group(1))
            for a in df.filter(pl.col("syscall") == "openat")["args"]
            if (m := re.search(r'"([^"]+)"', a)) and "/gopath/pkg/mod/" in m.group(1)
        }
    )
    ends = run.frame.filter(pl.col("kind").is_in(["exit", "kill"]))
    return {
        "rc": run.rc,
        "timed_out": run.timed_out,
        "connect_to_proxy": port is not None
        and connects.filter(pl.col("args").str.contains(f"htons({port})", literal=True)).height > 0,
        "zip_requests": zips,
        "flock_in_flight": in_flight_flock,
        "any_in_flight": bool(df["in_flight"].any()),
        "cache_files_opened": opened,
        "root_end": ends.select("kind", "status", "signal").row(-1),
    }


#: every lab scenario; where what go fetched before the end depends on timing, only the
#: outcome and the connections are compared
LAB_SCENARIOS = [
    "cold-ok",
    "proxy-stall",
    "lock-held",
    "up-to-date",
    "goproxy-off",
    "checksum-mismatch",
    "stderr-devnull",
    "proxy-refused",
    "body-stall",
    "slow-proxy",
    "fallback-404",
    "timeout-no-fallback",
    "pipe-fallback",
    "cache-readonly",
    "sumdb-stall",
    "killed",
    "dns-timeout",
]
# go stops the other downloads when one fails: how far they got is a race
TIMING_DEPENDENT = {"checksum-mismatch", "killed", "slow-proxy", "stderr-devnull", "proxy-refused"}


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
@pytest.mark.parametrize("name", LAB_SCENARIOS)
def test_lab_scenario_same_evidence_as_strace(
    name: str, lab_capture: Callable[..., LabCapture]
) -> None:
    """The session's ptrace and strace captures of each scenario (the ones the equivalence
    and scenario tests read too) hold the same syscall evidence."""
    from gotrace.lab import find_go, get_scenario

    try:
        find_go()
    except Exception as exc:
        pytest.skip(str(exc))
    reason = get_scenario(name).unavailable()
    if reason is not None:
        pytest.skip(reason)
    ours = captured(lab_capture(name, "ptrace"))
    theirs = captured(lab_capture(name, "strace"))
    for run in (ours, theirs):
        no_parse_errors(run.frame)
    a, b = evidence(ours), evidence(theirs)
    if name in TIMING_DEPENDENT:
        # what the other goroutines were doing when go gave up (files opened, a lock being
        # waited for) is a race; how it ended and whom it talked to is not
        for key in ("zip_requests", "cache_files_opened", "flock_in_flight", "any_in_flight"):
            a.pop(key), b.pop(key)
    assert a == b
    if name == "checksum-mismatch":
        zips = {
            m for row in ours.frame["args"].drop_nulls() for m in re.findall(r"GET (\S+) ", row)
        }
        assert "/example.com/dep1/@v/v1.0.0.zip" in zips
    if name in ("proxy-stall", "lock-held"):
        assert ours.timed_out and ours.rc == -signal.SIGKILL
        assert a["any_in_flight"] is True
    if name == "lock-held":
        assert a["flock_in_flight"] and str(a["flock_in_flight"][0]).endswith(".lock")
    if name == "proxy-stall":
        assert "/example.com/dep1/@v/v1.0.0.zip" in a["zip_requests"]
    if name == "cold-ok":
        assert a["rc"] == 0 and len(a["zip_requests"]) == 3


@pytest.mark.slow
@pytest.mark.parametrize("name", LAB_SCENARIOS)
def test_stress_fifty_runs_never_hang(name: str, tmp_path: Path):
    """50 runs of each scenario (GOTRACE_STRESS_RUNS to change it) under the ptrace backend:
    each ends as the scenario says, within its hard deadline, with a log that parses."""
    from gotrace.lab import find_go, get_scenario

    try:
        find_go()
    except Exception as exc:
        pytest.skip(str(exc))
    sc = get_scenario(name)
    if sc.unavailable():
        pytest.skip(sc.unavailable() or "")
    expect = sc.expect_exit if sc.expect_exit is not None else -signal.SIGKILL
    for i in range(int(os.environ.get("GOTRACE_STRESS_RUNS", "50"))):
        t0 = time.monotonic()
        run = lab_trace(name, "ptrace", tmp_path, hard_timeout=60)
        assert run.rc == expect, (i, run.rc)
        assert time.monotonic() - t0 < 60
        no_parse_errors(run.frame)
        for log in tmp_path.glob("*.strace"):
            log.unlink()


def test_socket_names_have_both_ends(tmp_path: Path):
    """Socket names come from a copy of the fd (pidfd_getfd), not a walk of /proc/net/tcp."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        script = tmp_path / "c.py"
        script.write_text(
            "import socket, sys\n"
            f"s = socket.create_connection(('127.0.0.1', {port}))\n"
            "s.send(b'x')\n"
        )
        run = trace([PY, str(script)], tmp_path)
    assert run.rc == 0
    sent = run.calls("sendto")
    if sent.height == 0:
        sent = run.calls("write").filter(pl.col("fd_target").str.starts_with("TCP"))
    assert sent["fd_target"][0].endswith(f"->127.0.0.1:{port}]")
