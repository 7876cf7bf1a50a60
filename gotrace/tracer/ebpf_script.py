"""The bpftrace program of the eBPF backend, and the records it prints.

The kernel side follows the traced process tree itself: ``@pids`` holds every thread of it
(the command marks itself by closing fd ``$1``, a number no process has open;
``task_newtask`` adds children and threads, ``sched_process_exit`` drops them), so nothing
outside the tree pays more than two map lookups per syscall. For the traced tree it records
the calls of :data:`gotrace.tracer.ptrace_sys.WATCHED_NRS` (the set the strace and ptrace
backends trace) as raw numbers, plus the user memory the log needs, read where it is sure
to be there: strings and buffers the call reads at its exit (the kernel has just read them,
so their pages are resident), buffers the call fills at its exit, argv and timeouts at the
entry (an execve's argv is gone after it returns).

What a record costs is bpftrace's (one perf event, formatted and written by bpftrace, on
the CPUs the command needs), so a call is one record, at its exit, and the waits Go's
runtime makes by the thousand are none when short. A call's entry (time, number,
arguments) waits in ``@s``/``@e`` until then; the call a task is in when it ends is printed
then (the capture ends when the last task has: every call still in flight is known). A
call that lasts is therefore known only when it returns: the log is written in time order
all the same (:class:`gotrace.tracer.ebpf_worker.EbpfWriter` sorts it at the end), and the
live view of a run shows it late. bpftrace 0.17 cannot dump a map that probes change
(``print(@s)`` dies of a key deleted while it reads) nor walk one in BPF.
Records, one line each, with CLOCK_MONOTONIC times (``nsecs``) and thread ids:

- ``F t1 tid t0 tgid nr ret a0..a5`` (arguments in hex): a call that returned (entry time
  t0, exit time t1); waits (:data:`WAITS`) shorter than :data:`MIN_WAIT` are left out;
- ``C ts tid addr S text``: the NUL-terminated string at ``addr``, read at a call's entry;
  ``C ts tid addr B len bytes``: ``len`` bytes at ``addr`` (bpftrace's ``%r``: ``\\xNN``
  for bytes that are not printable); they come before their call's ``F``;
- ``K t0 tid addr S|B ...``: the same, read at a call's exit and stamped with its entry
  time t0 (before or after its ``F``);
- ``I ts tid t0 tgid nr a0..a5``: the call a task was in when it ended (or the last it
  made, which its ``F`` then says returned);
- ``N ts tid tgid child flags``: a new task; ``Q ts tid tgid exit_code``: a task exits;
- ``G ts sender target sig code uid``: a signal sent to the tree (sender's tgid and uid);
  ``D ts tid sig code``: one delivered.

bpftrace itself prints ``Lost N events`` when its perf buffers overflowed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gotrace.tracer import ptrace_sys as pt

#: bpftrace's longest string (``BPFTRACE_STRLEN`` may not exceed 200 in 0.17)
STRLEN = 200
#: the size of a struct sockaddr_in6: enough for the inet addresses the analyzers read
SOCKADDR = 28


@dataclass(frozen=True, slots=True)
class Cap:
    """Memory to record for one argument of a call.

    ``kind``: ``S`` a string; ``B`` ``size`` bytes; ``R`` as many bytes as the call
    returned; ``W`` as many as argument ``size`` says; ``V`` an argv array (its pointers
    and their strings). ``entry``: read at the call's entry rather than its exit.
    ``always``: read even when the call failed."""

    arg: int
    kind: str
    size: int = 0
    entry: bool = False
    always: bool = False
    limit: int = 0  # at most this many bytes (else the program's buffer size)


def _paths(*idx: int) -> tuple[Cap, ...]:
    return tuple(Cap(i, "S", always=True) for i in idx)


_TIMESPEC = 16
_SUN = 112  # struct sockaddr_un

#: what to read for each call (by strace's name); calls not here are recorded as numbers
CAPTURES: dict[str, tuple[Cap, ...]] = {
    "open": _paths(0),
    "creat": _paths(0),
    "openat": _paths(1),
    "openat2": _paths(1),
    # no stat buffers: no analyzer reads a struct stat (Go makes ~25 stat calls a module)
    "stat": _paths(0),
    "lstat": _paths(0),
    "newfstatat": _paths(1),
    "statx": _paths(1),
    "access": _paths(0),
    "faccessat": _paths(1),
    "faccessat2": _paths(1),
    "mkdir": _paths(0),
    "mkdirat": _paths(1),
    "rmdir": _paths(0),
    "unlink": _paths(0),
    "unlinkat": _paths(1),
    "rename": _paths(0, 1),
    "renameat": _paths(1, 3),
    "renameat2": _paths(1, 3),
    "link": _paths(0, 1),
    "linkat": _paths(1, 3),
    "symlink": _paths(0, 1),
    "symlinkat": _paths(0, 2),
    "readlink": (*_paths(0), Cap(1, "R")),
    "readlinkat": (*_paths(1), Cap(2, "R")),
    "chdir": _paths(0),
    "chmod": _paths(0),
    "fchmodat": _paths(1),
    "chown": _paths(0),
    "lchown": _paths(0),
    "fchownat": _paths(1),
    "truncate": _paths(0),
    "utimensat": _paths(1),
    "getcwd": (Cap(0, "R"),),
    "execve": (Cap(0, "S", entry=True), Cap(1, "V", entry=True)),
    "execveat": (Cap(1, "S", entry=True), Cap(2, "V", entry=True)),
    "read": (Cap(1, "R"),),
    # pread64: Go reads zip and cache files with it; no analyzer reads what (no capture)
    "recvfrom": (Cap(1, "R"), Cap(4, "B", SOCKADDR), Cap(5, "B", 4)),
    "write": (Cap(1, "W", 2, always=True),),
    "pwrite64": (Cap(1, "W", 2, always=True),),
    "sendto": (Cap(1, "W", 2, always=True),),
    "connect": (Cap(1, "W", 2, entry=True, limit=_SUN),),
    "bind": (Cap(1, "W", 2, always=True, limit=_SUN),),
    "accept": (Cap(1, "B", SOCKADDR), Cap(2, "B", 4)),
    "accept4": (Cap(1, "B", SOCKADDR), Cap(2, "B", 4)),
    "getsockname": (Cap(1, "B", SOCKADDR), Cap(2, "B", 4)),
    "getpeername": (Cap(1, "B", SOCKADDR), Cap(2, "B", 4)),
    "getsockopt": (Cap(3, "B", 4), Cap(4, "B", 4)),
    "setsockopt": (Cap(3, "B", 4, always=True),),
    "pipe": (Cap(0, "B", 8),),
    "pipe2": (Cap(0, "B", 8),),
    "socketpair": (Cap(3, "B", 8),),
    "wait4": (Cap(1, "B", 4),),
    "clone3": (Cap(0, "B", 88, entry=True),),
    "nanosleep": (Cap(0, "B", _TIMESPEC, entry=True),),
    "clock_nanosleep": (Cap(2, "B", _TIMESPEC, entry=True),),
    "epoll_pwait": (Cap(1, "R", 12),),
    "epoll_wait": (Cap(1, "R", 12),),
}

#: calls strace traces that no analyzer reads, and that a Go program makes by the thousand
NOT_RECORDED = frozenset({"epoll_ctl", "mmap"})
#: Go's runtime sets fds non-blocking with fcntl F_GETFL/F_SETFL (and F_GETFD): left out
#: in the kernel. The fcntl commands that change fd tables (F_DUPFD*, F_SETFD) or take
#: locks are recorded.
_FCNTL_NOISE = "args->id == 72 && (args->args[1] == 1 || args->args[1] == 3 || args->args[1] == 4)"

#: argv strings recorded per execve
ARGV_MAX = 32


#: the kernel's names of the syscall tracepoints that strace names differently
KERNEL_NAMES = {"stat": "newstat", "lstat": "newlstat", "fstat": "newfstat"}
TRACEFS = Path("/sys/kernel/tracing")


def tracepoint_fields(event: str, tracefs: Path = TRACEFS) -> list[str] | None:
    """The argument names of ``syscalls:<event>`` (``sys_enter_openat``), None when the
    kernel has no such tracepoint."""
    try:
        text = (tracefs / "events" / "syscalls" / event / "format").read_text()
    except OSError:
        return None
    names = re.findall(r"field:[^;]*?(\w+)(?:\[\d*\])?;", text)
    # common_type, common_flags, common_preempt_count, common_pid, __syscall_nr, then the args
    return [n for n in names if not n.startswith("common_") and n != "__syscall_nr"]


def _capture(cap: Cap, ref: Callable[[int], str], buf_max: int, kind: str = "C") -> str:
    """bpftrace statements recording ``cap``; ``ref(i)`` names argument ``i`` in the probe;
    ``kind``: the record's letter (``C`` at entry, ``K`` at exit)."""
    return f"$a{cap.arg} = {ref(cap.arg)}; {_capture_body(cap, ref, buf_max, kind)}"


def _capture_body(cap: Cap, ref: Callable[[int], str], buf_max: int, kind: str) -> str:
    a = f"$a{cap.arg}"
    head = f'printf("{kind} %llu %d %lx '
    if cap.kind == "S":
        return f'if ({a} != 0) {{ {head}S %s\\n", $t, tid, {a}, str(uptr({a}))); }}'
    if cap.kind == "B":
        size = min(cap.size, buf_max)
        return f'if ({a} != 0) {{ {head}B {size} %r\\n", $t, tid, {a}, buf(uptr({a}), {size})); }}'
    if cap.kind in ("R", "W"):
        buf_max = min(buf_max, cap.limit) if cap.limit else buf_max
        unit = cap.size if cap.kind == "R" and cap.size else 1
        count = "$r" if cap.kind == "R" else ref(cap.size)
        return (
            f"$n = (uint64){count} * {unit}; if ($n > {buf_max}) {{ $n = {buf_max}; }} "
            f'if ({a} != 0 && $n > 0) {{ {head}B %d %r\\n", $t, tid, {a}, $n, buf(uptr({a}), $n)); }}'
        )
    assert cap.kind == "V"
    size = min(8 * ARGV_MAX, buf_max)
    slots = size // 8
    return (
        f'if ({a} != 0) {{ {head}B {size} %r\\n", $t, tid, {a}, buf(uptr({a}), {size})); '
        f"$i = (uint64)0; unroll({slots}) {{ $p = *(uint64 *)uptr({a} + $i * 8); "
        f'if ($p == 0) {{ $i = {slots}; }} else {{ {head}S %s\\n", $t, tid, $p, str(uptr($p))); }} '
        "$i = $i + 1; } }"
    )


#: waits that are left out when they end within :data:`MIN_WAIT` (Go's runtime parks and
#: wakes its threads in futex, its netpoller in epoll_pwait, by the thousand): no analyzer
#: reads a short wait (waits are never progress: the read that follows moves the data)
WAITS = ("futex", "epoll_wait", "epoll_pwait", "nanosleep", "clock_nanosleep", "poll", "ppoll",
         "select", "pselect6")  # fmt: skip
#: a wait shorter than this is not recorded
MIN_WAIT = 0.1
#: the sleeps, and their argument that says for how long
_SLEEPS = {"nanosleep": 0, "clock_nanosleep": 2}

# the call in flight: @s[tid] = (entry time, number, tgid), @e[tid] = its six arguments (two
# maps: one tuple of nine and the record's printf do not fit in BPF's 512-byte stack)
_INFLIGHT = ('printf("I %llu %d %llu %d %d %lx %lx %lx %lx %lx %lx\\n", {t}, tid, $s.0, $s.2, '
             "$s.1, $e.0, $e.1, $e.2, $e.3, $e.4, $e.5);")  # fmt: skip


def _record(nr: str) -> str:
    """The one record of a call, at its exit: exit time, tid, entry time, tgid, number,
    return value, its six arguments."""
    fmt = " %lx" * 6
    vals = "".join(f", $e.{i}" for i in range(6))
    nr_fmt, nr_val = ("%d", f", {nr}") if nr.startswith("$") else (nr, "")
    return (
        f'printf("F %llu %d %llu %d {nr_fmt} %ld{fmt}\\n", $t, tid, $s.0, pid{nr_val}, $r{vals});'
    )


def _exit_body() -> str:
    """The end of every exit probe: the call's one record, unless it is a short wait
    (``@wait[nr]``)."""
    short = f"@wait[$nr] && $t - $s.0 < {int(MIN_WAIT * 1e9)}"
    return (
        f"if ($s.0 != 0 && $s.1 == $nr && !({short})) {{ $e = @e[tid]; {_record('$nr')} }} "
        "delete(@s[tid]); delete(@e[tid]);"
    )


def program(watched: frozenset[int], buf_max: int, tracefs: Path = TRACEFS) -> str:
    """The bpftrace program; ``$1`` is the marker fd number, ``buf_max`` the most bytes of a
    buffer.

    Every watched call is stored in ``@e`` at its entry and printed once, at its exit, as an
    ``F`` record with its entry time and arguments (short waits are not printed at all).
    The call a task is in when it ends is printed then (``I``). Calls with memory to record get probes of their own
    (``syscalls:sys_enter_X`` / ``sys_exit_X``): one BPF program each keeps each within the
    512-byte stack, and only that call pays for it."""
    names = {nr: pt.syscall_name(nr) for nr in sorted(watched)}
    special_entry: dict[int, str] = {}
    special_exit: dict[int, str] = {}
    for nr, name in names.items():
        caps = CAPTURES.get(name, ())
        event = KERNEL_NAMES.get(name, name)
        entry_caps = [c for c in caps if c.entry]
        if entry_caps:
            fields = tracepoint_fields(f"sys_enter_{event}", tracefs)
            if fields is not None and len(fields) >= 1:

                def ref(i: int, fields: list[str] = fields) -> str:
                    return f"(uint64)args->{fields[i]}" if i < len(fields) else "(uint64)0"

                body = " ".join(_capture(c, ref, buf_max) for c in entry_caps)
                if name in _SLEEPS:
                    # a sleep asked for less than MIN_WAIT is (nearly always) left out
                    q = ref(_SLEEPS[name])
                    body = (
                        f"$q = {q}; if ($q != 0 && (*(uint64 *)uptr($q) > 0 || "
                        f"*(uint64 *)uptr($q + 8) >= {int(MIN_WAIT * 1e9)})) {{ {body} }}"
                    )
                special_entry[nr] = (
                    f"tracepoint:syscalls:sys_enter_{event} /@pids[tid]/ {{\n"
                    f"  $t = nsecs; {body}\n}}"
                )
        exit_caps = [c for c in caps if not c.entry]
        if exit_caps and tracepoint_fields(f"sys_exit_{event}", tracefs) is not None:

            def eref(i: int) -> str:
                return f"$e.{i}"

            always = " ".join(_capture(c, eref, buf_max, "K") for c in exit_caps if c.always)
            ok = " ".join(_capture(c, eref, buf_max, "K") for c in exit_caps if not c.always)
            body = always + (f" if ($r >= 0) {{ {ok} }}" if ok else "")
            long = f" && nsecs - $s.0 >= {int(MIN_WAIT * 1e9)}" if name in WAITS else ""
            head = (
                f"tracepoint:syscalls:sys_exit_{event} /@pids[tid]/ {{\n"
                f"  $r = args->ret; $s = @s[tid];\n  if ($s.0 != 0 && $s.1 == {nr}{long}) {{ "
            )
            # Two programs on the exit (one would not fit in BPF's 512-byte stack): the
            # record, and what the call read or wrote as ``K`` records stamped with the
            # call's entry time, which ties them to it whichever of the two runs first.
            # Neither deletes @s/@e (the other may not have read them yet): the next call
            # overwrites them, and the writer knows a call that had its record.
            special_exit[nr] = (
                f"{head}$t = nsecs; $e = @e[tid]; {_record(str(nr))} }}\n}}\n"
                f"{head}$t = $s.0; $e = @e[tid];\n    {body} }}\n}}"
            )
    init = " ".join(
        f"@w[{nr}] = 1;"
        + (f" @x[{nr}] = 1;" if nr in special_exit else "")
        + (f" @wait[{nr}] = 1;" if name in WAITS else "")
        for nr, name in names.items()
    )
    probes = "\n".join([*special_entry.values(), *special_exit.values()])
    return f"""
BEGIN {{ {init} printf("READY\\n"); }}
tracepoint:syscalls:sys_enter_close /args->fd == $1/ {{ @pids[tid] = 1; }}
tracepoint:task:task_newtask /@pids[tid]/ {{
  @pids[args->pid] = 1;
  printf("N %llu %d %d %d %llx\\n", nsecs, tid, pid, args->pid, args->clone_flags);
}}
tracepoint:sched:sched_process_exit /@pids[tid]/ {{
  $s = @s[tid];
  if ($s.0 != 0) {{ $e = @e[tid]; {_INFLIGHT.format(t="nsecs")} }}
  delete(@pids[tid]); delete(@s[tid]); delete(@e[tid]);
  printf("Q %llu %d %d %d\\n", nsecs, tid, pid, curtask->exit_code);
}}
tracepoint:signal:signal_generate /@pids[args->pid]/ {{
  printf("G %llu %d %d %d %d %d\\n", nsecs, pid, args->pid, args->sig, args->code, uid);
}}
tracepoint:signal:signal_deliver /@pids[tid]/ {{
  printf("D %llu %d %d %d\\n", nsecs, tid, args->sig, args->code);
}}
tracepoint:raw_syscalls:sys_enter /@pids[tid] && @w[args->id]/ {{
  if (!({_FCNTL_NOISE})) {{
    @s[tid] = (nsecs, args->id, pid);
    @e[tid] = (args->args[0], args->args[1], args->args[2], args->args[3], args->args[4],
               args->args[5]);
  }}
}}
tracepoint:raw_syscalls:sys_exit /@pids[tid] && @w[args->id] && !@x[args->id]/ {{
  $t = nsecs; $r = args->ret; $nr = args->id; $s = @s[tid];
  {_exit_body()}
}}
{probes}
END {{ clear(@pids); clear(@w); clear(@x); clear(@s); clear(@e); clear(@wait); }}
"""
