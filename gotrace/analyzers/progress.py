"""Progress: the one rule for when a traced tree moved and when it only woke up.

Progress is bytes moved (on a socket, pipe, file or terminal), files opened, written, renamed
or removed, and processes started or ended. A process that only wakes up on timeouts is
quiet, however often it does: Go's runtime parks threads in ``futex`` (and its timers, such
as the 60 s ones, fire there), its netpoller waits in ``epoll_pwait`` and is woken through
an eventfd, curl inside git-remote-http wakes up in ``poll``/``pselect6`` many times a
second, reads find nothing (EAGAIN), threads start and stop.

Three places apply the rule, and all take it from here: the offline quiet periods
(:func:`gotrace.analyzers.quiet.progress_points`), the live quiet line of ``gotrace run``
(:class:`gotrace.analyzers.live.LiveState`) and the /proc watchdog
(:func:`gotrace.analyzers.samples.progress`).

- :func:`is_progress` -- one finished call of a trace.
- :func:`is_progress_event` -- one exit, kill, exec or signal line.
- :func:`samples_progress` -- two /proc samples.
"""

from __future__ import annotations

from gotrace.model.samples import ProcessSample, Sample

#: waits that return on a timeout or a wake-up, not with data: readiness waits (the read that
#: follows moves the data), Go's thread parking and timers, sleeps
WAITS = frozenset(
    {
        "futex", "futex_wait", "futex_waitv", "poll", "ppoll", "select", "pselect6",
        "epoll_wait", "epoll_pwait", "epoll_pwait2", "nanosleep", "clock_nanosleep",
        "sched_yield", "restart_syscall", "rt_sigsuspend", "pause",
    }
)  # fmt: skip
#: what Go's runtime does between waits: preemption signals, memory, clocks, timers
HOUSEKEEPING = frozenset(
    {
        "tgkill", "getpid", "gettid", "rt_sigreturn", "sigaltstack", "rt_sigprocmask",
        "madvise", "mmap", "munmap", "getrandom", "clock_gettime", "gettimeofday",
        "timerfd_settime", "timerfd_gettime", "setitimer", "getitimer",
    }
)  # fmt: skip
#: calls that are never progress, whatever they return
NOISE = WAITS | HOUSEKEEPING
#: fds whose reads and writes are wake-ups, not data: go's netpoller breaks its epoll wait
#: by writing 8 bytes to an eventfd when a timer fires, and reads them back
WAKEUP_FDS = ("anon_inode:[eventfd]", "anon_inode:[timerfd]", "anon_inode:[signalfd]")
#: signals that are housekeeping or timers, not events of interest: Go preempts goroutines
#: with SIGURG, children ending are seen by their exit, and the timer signals only wake up
NOISE_SIGNALS = frozenset({"SIGURG", "SIGCHLD", "SIGALRM", "SIGVTALRM", "SIGPROF"})
#: files Go's runtime reads by itself: sysmon re-reads the cgroup CPU quota every 60 s
RUNTIME_FILES = ("/sys/fs/cgroup/",)
#: targets whose calls are never progress
QUIET_TARGETS = WAKEUP_FDS + RUNTIME_FILES
#: /proc/PID/io bytes a sampling interval may gain from wake-ups alone, in a process that
#: holds a wake-up fd: an eventfd read or write moves 8 bytes, sysmon's cgroup quota read
#: 3 to 11. /proc/PID/io does not say which fd the bytes went through; a socket's data shows
#: in its queues and tcp_info byte counts, a download in its .tmp file, so only a real
#: write this small elsewhere (a few bytes to stderr) is missed
WAKEUP_BYTES = 16


def is_progress(name: str, errno: str | None, target: str | None) -> bool:
    """Whether one finished call is progress: not a wait or runtime housekeeping, not a poll
    for data that is not there (EAGAIN), not a wake-up through an eventfd/timerfd/signalfd."""
    if name in NOISE or errno == "EAGAIN":
        return False
    return not (target and target.startswith(QUIET_TARGETS))


def is_progress_event(kind: str, signal: str | None = None) -> bool:
    """Whether a line that is not a call is progress: a process or thread ended (``exit``,
    ``kill``), a program started (``exec``), or a signal other than Go's own housekeeping
    (SIGURG preemption, SIGCHLD) arrived."""
    if kind in ("exit", "kill", "exec"):
        return True
    return kind == "signal" and signal is not None and signal not in NOISE_SIGNALS


# --- /proc samples ------------------------------------------------------------------------------


def is_waiting(syscall: str) -> bool:
    """A thread in one of these (or on a CPU, or unreadable) is not doing anything a sample
    can tell apart from idling."""
    return syscall in WAITS or syscall in ("running", "?")


def _busy_calls(p: ProcessSample) -> frozenset[tuple[int, str, int | None]]:
    return frozenset(
        (t.tid, t.syscall, t.args[0] if t.args else None)
        for t in p.threads
        if not is_waiting(t.syscall)
    )


def _socket_view(
    p: ProcessSample,
) -> frozenset[tuple[int, str, int, int, int | None, int | None]]:
    """Each socket's state, queues and tcp_info byte counts (not its last-send/receive ages,
    which grow by themselves)."""
    return frozenset(
        (s.inode, s.state, s.tx_queue, s.rx_queue, s.bytes_acked, s.bytes_received)
        for s in p.sockets
    )


def _files_view(p: ProcessSample) -> frozenset[tuple[int, str]]:
    """Open fds other than wake-up fds. Not their sizes: a file the tree writes to grows its
    wchar, and its stdout or stderr may be a file that gotrace writes to as well."""
    return frozenset((f.fd, f.target) for f in p.fds if not f.target.startswith(WAKEUP_FDS))


def _io_moved(p: ProcessSample, q: ProcessSample) -> bool:
    """Did /proc/PID/io's byte counters move by more than wake-ups explain?"""
    if (p.rchar, p.wchar) == (q.rchar, q.wchar):
        return False
    if p.rchar is None or q.rchar is None or p.wchar is None or q.wchar is None:
        return True
    if not any(f.target.startswith(WAKEUP_FDS) for f in p.fds):
        return True
    return not (0 <= p.rchar - q.rchar <= WAKEUP_BYTES and 0 <= p.wchar - q.wchar <= WAKEUP_BYTES)


def process_moved(q: ProcessSample, p: ProcessSample) -> bool:
    """Did process ``q`` (earlier) -> ``p`` (later) make progress: bytes read or written
    beyond wake-ups, a socket opened, closed, changed state, queue or byte count, a file
    opened or closed, a thread entering or leaving a call that is not a wait."""
    return (
        _io_moved(p, q)
        or _socket_view(p) != _socket_view(q)
        or _files_view(p) != _files_view(q)
        or _busy_calls(p) != _busy_calls(q)
    )


def samples_progress(prev: Sample, cur: Sample) -> bool:
    """Did anything move from ``prev`` to ``cur``: a process started or ended, a process
    moved (:func:`process_moved`), a temporary download file grew, appeared or was renamed
    away, a lock changed hands. Threads moving between waits, wake-ups through an eventfd,
    and threads starting or stopping are not progress."""
    before = {p.pid: p for p in prev.processes}
    if before.keys() != {p.pid for p in cur.processes}:
        return True
    if any(process_moved(before[p.pid], p) for p in cur.processes):
        return True
    if {(d.path, d.size) for d in prev.downloads} != {(d.path, d.size) for d in cur.downloads}:
        return True
    return {(k.file_id, k.holder, k.waiters) for k in prev.locks} != {
        (k.file_id, k.holder, k.waiters) for k in cur.locks
    }
