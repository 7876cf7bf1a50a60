"""Issue 15 (a) and (b), on hand-built strace lines: gotrace's own signal is never the cause
(go re-raises it with tgkill, the first delivery names the real sender), and polling wake-ups
are not progress, in the offline quiet periods and in the live counter alike."""

from __future__ import annotations

import io
import re

from gotrace.analyzers.context import build
from gotrace.analyzers.diagnosis import diagnose
from gotrace.analyzers.live import LiveState
from gotrace.analyzers.quiet import quiet_periods
from gotrace.parsers.lines import parse_line
from gotrace.parsers.strace import parse_frame
from gotrace.trace import Trace

GO = "/opt/go/bin/go"


T0 = 1_700_000_000


def stamped(text: str) -> str:
    """``PID 10.5 call`` -> ``PID 1700000010.500000 call``: -ttt stamps, from short ones."""
    return re.sub(
        r"^(\d+) (\d+\.\d+) ",
        lambda m: f"{m.group(1)} {T0 + float(m.group(2)):.6f} ",
        text,
        flags=re.MULTILINE,
    )


def trace_of(text: str, **meta: object) -> Trace:
    if isinstance(meta.get("start"), float):
        meta["start"] = T0 + float(meta["start"])  # type: ignore[arg-type]
    for s in meta.get("gotrace_signals") or []:  # type: ignore[attr-defined]
        s["ts"] += T0
    return Trace(frame=parse_frame(io.StringIO(stamped(text))), meta={"clock": "epoch", **meta})


# A go that sent a request on a socket, got nothing back, and was then SIGTERMed by a process
# outside the tree (strace, pid 900); go's runtime re-raised the signal on itself.
STALLED_THEN_TERM = (
    f'100 10.000 execve("{GO}", ["go", "mod", "download"], 0x1 /* 3 vars */) = 0\n'
    "100 10.010 socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_IP) = 3<TCP:[1]>\n"
    '100 10.011 connect(3<TCP:[1]>, {sa_family=AF_INET, sin_port=htons(4000), sin_addr=inet_addr("127.0.0.1")}, 16)'
    " = -1 EINPROGRESS (Operation now in progress)\n"
    "100 10.012 getsockopt(3<TCP:[127.0.0.1:5000->127.0.0.1:4000]>, SOL_SOCKET, SO_ERROR, [0], [4]) = 0\n"
    '100 10.013 write(3<TCP:[127.0.0.1:5000->127.0.0.1:4000]>, "GET /example.com/a/@v/v1.0.0.zip HTTP/1.1\\r\\nHost: 127.0.0.1:4000\\r\\n\\r\\n", 64) = 64\n'
    "100 10.014 read(3<TCP:[127.0.0.1:5000->127.0.0.1:4000]>, 0xc000, 4096) = -1 EAGAIN (Resource temporarily unavailable)\n"
    "101 10.015 futex(0x1, FUTEX_WAIT_PRIVATE, 0, NULL <unfinished ...>\n"
    "100 20.000 --- SIGTERM {si_signo=SIGTERM, si_code=SI_USER, si_pid=900, si_uid=0} ---\n"
    "100 20.001 tgkill(100, 100, SIGTERM) = 0\n"
    "100 20.002 --- SIGTERM {si_signo=SIGTERM, si_code=SI_TKILL, si_pid=100, si_uid=0} ---\n"
    "101 20.003 <... futex resumed>) = ?\n"
    "101 20.004 +++ killed by SIGTERM +++\n"
    "100 20.005 +++ killed by SIGTERM +++\n"
)


def test_regression_sigterm_reraised_by_go_is_not_blamed_on_go():
    # old captures: no gotrace_signals, but the run timed out and the sender is outside the tree
    t = trace_of(STALLED_THEN_TERM, argv=["go", "mod", "download"], timed_out=True, start=9.9)
    a = diagnose(build(t))
    kinds = [f.kind for f in a.findings]
    assert "killed" not in kinds and "silent-failure" not in kinds
    stopped = next(f for f in a.findings if f.kind == "stopped")
    assert stopped.severity == "info" and stopped.detail["sender"] == 900
    assert a.verdict.startswith("stopped by gotrace --timeout after 10.1 s while blocked ")
    assert "127.0.0.1:4000" in a.verdict and "GET /example.com/a/@v/v1.0.0.zip" in a.verdict


def test_recorded_gotrace_signals_give_the_reason_and_time():
    sent = [{"ts": 18.5, "signal": "SIGTERM", "pid": 100, "why": "forwarded"}]
    t = trace_of(STALLED_THEN_TERM, argv=["go"], start=10.0, gotrace_signals=sent)
    a = diagnose(build(t))
    assert a.verdict.startswith("stopped by a SIGTERM gotrace forwarded")
    assert "after 8.5 s while blocked" in a.verdict


def test_a_signal_from_inside_the_tree_is_named_with_its_sender():
    # a wrapper in the tree (pid 50, `timeout 10 go ...`) killed go: that is a real cause
    text = (
        '50 9.000 execve("/usr/bin/timeout", ["timeout", "10", "go"], 0x1 /* 3 vars */) = 0\n'
        "50 9.001 clone(child_stack=NULL, flags=SIGCHLD) = 100\n"
        + STALLED_THEN_TERM.replace("si_pid=900", "si_pid=50")
        + "50 20.010 kill(100, SIGTERM) = 0\n"
    )
    t = trace_of(text)
    ctx = build(t)
    from gotrace.analyzers.signals import gotrace_stop, real_delivery

    d = real_delivery(ctx, 100, "SIGTERM")
    assert d is not None and d.sender == 50 and d.code == "SI_USER"
    assert gotrace_stop(ctx, 100, "SIGTERM") is None


def test_the_reraise_alone_is_skipped():
    t = trace_of(STALLED_THEN_TERM)
    from gotrace.analyzers.signals import deliveries, real_delivery

    ctx = build(t)
    assert [d.sender for d in deliveries(ctx, 100, "SIGTERM")] == [900, 100]
    assert real_delivery(ctx, 100, "SIGTERM").line == 8  # type: ignore[union-attr]


# -- progress -----------------------------------------------------------------------------
def _curl_polling(n: int) -> str:
    """git-remote-http's curl: a request sent, then poll/pselect6 timeouts, nothing read."""
    lines = [
        '200 1.000 execve("/usr/lib/git-core/git-remote-http", ["git-remote-http", "origin"], 0x1 /* 3 vars */) = 0\n',
        '200 1.010 sendto(5<TCP:[127.0.0.1:6000->127.0.0.1:80]>, "GET /m.git/info/refs?service=git-upload-pack HTTP/1.1\\r\\n", 56, MSG_NOSIGNAL, NULL, 0) = 56\n',
    ]
    t = 1.02
    for _ in range(n):
        lines.append(
            f"200 {t:.3f} poll([{{fd=5<TCP:[127.0.0.1:6000->127.0.0.1:80]>, events=POLLIN}}], 1, 200) = 0 (Timeout) <0.200>\n"
        )
        lines.append(
            f"200 {t + 0.2:.3f} pselect6(0, NULL, NULL, NULL, {{tv_sec=0, tv_nsec=1000000}}, NULL) = 0 (Timeout) <0.001>\n"
        )
        t += 0.25
    lines.append(f"200 {t:.3f} +++ killed by SIGKILL +++\n")
    return "".join(lines)


def test_regression_curl_polling_on_timeouts_is_quiet():
    t = trace_of(_curl_polling(40))
    periods = quiet_periods(build(t), min_quiet=1.0)
    assert periods, "polling hid the quiet period"
    q = max(periods, key=lambda p: p.duration)
    assert q.duration > 9.0
    assert q.kind == "socket-wait" and "127.0.0.1:80" in q.objects


def test_live_counter_does_not_reset_on_timer_wakeups():
    s = LiveState()
    lines = [
        (
            1.0,
            '100 1.0 write(3<TCP:[127.0.0.1:5000->127.0.0.1:4000]>, "GET /x HTTP/1.1\\r\\n\\r\\n", 19) = 19',
        ),
        # go's 60 s timer fires: futex times out, the netpoller is woken through its eventfd
        (61.0, "101 61.0 futex(0x1, FUTEX_WAIT_PRIVATE, 0, {tv_sec=60, tv_nsec=0}) = -1 ETIMEDOUT"),
        (61.0, '101 61.0 write(7<anon_inode:[eventfd]>, "\\1\\0\\0\\0\\0\\0\\0\\0", 8) = 8'),
        (61.1, '102 61.1 read(7<anon_inode:[eventfd]>, "\\1\\0\\0\\0\\0\\0\\0\\0", 8) = 8'),
        (61.1, "102 61.1 epoll_pwait(4<anon_inode:[eventpoll]>, [], 128, 0, NULL, 0) = 0"),
        (61.2, "103 61.2 poll([{fd=3, events=POLLIN}], 1, 100) = 0 (Timeout)"),
    ]
    for ts, raw in lines:
        s.feed(parse_line(stamped(raw)), ts)
    assert s.last_progress == 1.0
    assert s.quiet_for(70.0) == 69.0
    s.feed(
        parse_line(
            '100 71.0 read(3<TCP:[127.0.0.1:5000->127.0.0.1:4000]>, "HTTP/1.1 200 OK\\r\\n", 4096) = 17'
        ),
        71.0,
    )
    assert s.last_progress == 71.0


def test_live_line_names_the_tls_server_when_the_request_is_encrypted():
    s = LiveState()
    hello = (
        "\\26\\3\\1\\0\\200\\1\\0\\0|\\3\\3"
        + "\\0" * 32
        + "\\0\\0\\2\\23\\1\\1\\0\\0\\16\\0\\0\\0\\n\\0\\10\\0\\0\\5proxy"
    )
    conn = "5<TCP:[127.0.0.1:5000->127.0.0.1:4443]>"
    for ts, raw in [
        (1.0, f'100 1.0 write({conn}, "{hello}", 133) = 133'),
        (1.1, f'100 1.1 read({conn}, "\\26\\3\\3\\0z", 4096) = 127'),
        (1.2, f'100 1.2 write({conn}, "\\27\\3\\3\\0\\241M", 166) = 166'),
    ]:
        s.feed(parse_line(stamped(raw)), ts)
    line = s.blame()
    assert "TCP 127.0.0.1:4443" in line and "TLS to proxy; the request is encrypted" in line


def test_live_counts_a_module_when_its_zip_is_renamed_into_place():
    s = LiveState()
    v = "/root/go/pkg/mod/cache/download/github.com/!burnt!sushi/toml/@v"
    for ts, raw in [
        (
            1.0,
            f'100 1.0 renameat(AT_FDCWD, "{v}/v1.2.0.mod77.tmp", AT_FDCWD, "{v}/v1.2.0.mod") = 0',
        ),
        (1.1, f'100 1.1 renameat(AT_FDCWD, "{v}/v1.2.0.zip5.tmp", AT_FDCWD, "{v}/v1.2.0.zip") = 0'),
    ]:
        s.feed(parse_line(stamped(raw)), ts)
    assert s.modules_done == {"github.com/BurntSushi/toml@v1.2.0"}
    assert s.progress().endswith("1 modules fetched")


# -- one rule for progress (gotrace.analyzers.progress), offline and live ----------------------
#: Go's sysmon every 60 s, as captured on proxy-stall: the cgroup CPU quota re-read
SYSMON_60S = [
    "101 61.0 futex(0x132fe00, FUTEX_WAIT_PRIVATE, 0, {tv_sec=60, tv_nsec=0}) = -1 ETIMEDOUT (Connection timed out) <60.0>",
    '101 61.1 pread64(3</sys/fs/cgroup/cpu/cpu.cfs_quota_us>, "-1\\n", 64, 0) = 3 <0.000016>',
    "101 61.1 nanosleep({tv_sec=0, tv_nsec=10000000}, NULL) = 0 <0.010179>",
    '101 61.2 write(7<anon_inode:[eventfd]>, "\\1\\0\\0\\0\\0\\0\\0\\0", 8) = 8 <0.000010>',
    '102 61.2 read(7<anon_inode:[eventfd]>, "\\1\\0\\0\\0\\0\\0\\0\\0", 8) = 8 <0.000010>',
    "102 61.3 --- SIGALRM {si_signo=SIGALRM, si_code=SI_KERNEL} ---",
]
REQUEST = '100 1.0 write(3<TCP:[127.0.0.1:5000->127.0.0.1:4000]>, "GET /x HTTP/1.1\\r\\n\\r\\n", 19) = 19 <0.000050>'
ANSWER = '100 71.0 read(3<TCP:[127.0.0.1:5000->127.0.0.1:4000]>, "HTTP/1.1 200 OK\\r\\n", 4096) = 17 <0.000040>'
FILE_WRITE = '100 71.0 write(9</home/u/go/pkg/mod/cache/download/x/@v/v1.zip123.tmp>, "PK", 2) = 2 <0.000040>'


def _poll_every_50ms(seconds: float) -> list[str]:
    """A thread woken from poll every 50 ms, nothing read."""
    n = int(seconds / 0.05)
    return [
        f"103 {1.0 + 0.05 * (i + 1):.3f} poll([{{fd=3<TCP:[127.0.0.1:5000->127.0.0.1:4000]>, "
        "events=POLLIN}], 1, 50) = 0 (Timeout) <0.050>"
        for i in range(n)
    ]


def _live(lines: list[str]) -> LiveState:
    s = LiveState()
    for raw in lines:
        rec = parse_line(stamped(raw))
        s.feed(rec, float(rec["num"]))
    return s


def _offline_progress(lines: list[str]) -> list[float]:
    from gotrace.analyzers.quiet import progress_points

    return [
        round(t - T0, 3)
        for t in progress_points(build(trace_of("\n".join(lines) + "\n"))).get_column("t").to_list()
    ]


def test_polling_every_50ms_with_no_data_is_quiet_offline_and_live():
    lines = [REQUEST, *_poll_every_50ms(5.0)]
    assert _offline_progress(lines) == [1.0, 1.0]  # the request's start and end
    assert _live(lines).quiet_for(T0 + 6.0) >= 5.0


def test_go_sysmon_and_eventfd_wakeups_are_not_progress_offline_or_live():
    lines = [REQUEST, *SYSMON_60S]
    assert _offline_progress(lines) == [1.0, 1.0]
    s = _live(lines)
    assert s.last_progress == T0 + 1.0
    assert s.quiet_for(T0 + 70.0) == 69.0


def test_a_socket_read_with_data_or_a_file_write_is_progress_offline_and_live():
    for moved in (ANSWER, FILE_WRITE):
        lines = [REQUEST, *SYSMON_60S, moved]
        assert 71.0 in _offline_progress(lines), moved
        assert _live(lines).last_progress == T0 + 71.0, moved


def test_the_three_places_share_one_rule():
    from gotrace.analyzers import live, progress, quiet, samples

    assert live.NOISE is progress.NOISE and live.is_progress is progress.is_progress
    assert quiet.NOISE is progress.NOISE and quiet.QUIET_TARGETS is progress.QUIET_TARGETS
    assert samples.IDLE_CALLS is progress.WAITS
    assert progress.WAITS <= progress.NOISE
