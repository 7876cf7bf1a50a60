"""The bpftrace program of the eBPF backend, and the records it prints.

The kernel side follows the traced process tree itself: ``@pids`` holds every thread of it
(the command marks itself by closing fd ``$1``, a number no process has open;
``task_newtask`` adds children and threads, ``sched_process_exit`` drops them), so nothing
outside the tree pays more than a few map lookups per syscall. For the traced tree it
records the calls of :data:`gotrace.tracer.ptrace_sys.WATCHED_NRS` (the set the strace and
ptrace backends trace) as raw numbers, plus the user memory the log needs, read where it is
sure to be there: strings and buffers the call reads at its exit (the kernel has just read
them, so their pages are resident), buffers the call fills at its exit, argv and timeouts at
the entry (an execve's argv is gone after it returns). Every probe is on ``raw_syscalls``
or a task/signal tracepoint, never one per syscall (see :func:`program`).

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
- ``C t0 tid addr S text``: the NUL-terminated string at ``addr``, read at the entry of the
  call that entered at ``t0``; ``C t0 tid addr B len bytes``: ``len`` bytes at ``addr``
  (bpftrace's ``%r``: ``\\xNN`` for bytes that are not printable); before or after its
  ``F`` (another CPU's buffer may be read first);
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

from collections.abc import Callable
from dataclasses import dataclass

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


def _capture(cap: Cap, ref: Callable[[int], str], buf_max: int) -> str:
    """bpftrace statements recording ``cap`` at a call's entry (``C`` records); ``ref(i)``
    names argument ``i`` in the probe. (What calls record at their exit: :data:`_SLOTS`.)"""
    return f"$a{cap.arg} = {ref(cap.arg)}; {_capture_body(cap, ref, buf_max)}"


def _capture_body(cap: Cap, ref: Callable[[int], str], buf_max: int) -> str:
    a = f"$a{cap.arg}"
    head = 'printf("C %llu %d %lx '
    if cap.kind == "S":
        return f'if ({a} != 0) {{ {head}S %s\\n", $t, tid, {a}, str(uptr({a}))); }}'
    if cap.kind == "B":
        size = min(cap.size, buf_max)
        return f'if ({a} != 0) {{ {head}B {size} %r\\n", $t, tid, {a}, buf(uptr({a}), {size})); }}'
    if cap.kind == "W":  # as many bytes as argument ``size`` says (R: only at an exit)
        buf_max = min(buf_max, cap.limit) if cap.limit else buf_max
        return (
            f"$n = (uint64){ref(cap.size)}; if ($n > {buf_max}) {{ $n = {buf_max}; }} "
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


def _entry_shapes(
    names: dict[int, str],
) -> tuple[dict[int, int], list[tuple[tuple[Cap, ...], list[str]]]]:
    """The calls with memory to record at their entry, grouped by what they record:
    ``{nr: shape number (from 1)}`` and, for each shape, its captures and the names of its
    calls. (A few shapes, which fit in one program; the exit side goes by slot,
    :func:`_exit_slots`.)"""
    shapes: dict[tuple[Cap, ...], list[str]] = {}
    code: dict[int, int] = {}
    for nr, name in names.items():
        caps = tuple(c for c in CAPTURES.get(name, ()) if c.entry)
        if caps:
            shapes.setdefault(caps, []).append(name)
            code[nr] = list(shapes).index(caps) + 1
    return code, list(shapes.items())


def _dispatch(bodies: list[str]) -> str:
    """``if ($k == 1) {...} else if ($k == 2) {...}``: the body of shape ``$k``."""
    return " else ".join(f"if ($k == {i}) {{\n      {b}\n    }}" for i, b in enumerate(bodies, 1))


#: What a call records at its exit, by slot: one BPF program each, run for the calls whose
#: number is in the slot's map (``@S1[nr]`` ...), the map's value saying how: bits 0-3 the
#: argument (plus 1), bit 4 "also when the call failed", bits 8-15 a size (``B``), the
#: unit of the return value (``R``: bytes per returned item) or the argument holding the
#: length (``W``), bits 16-31 a limit (``W``). One program per slot rather than per kind of
#: call: each costs every syscall on the machine a call into BPF (20 programs that never
#: match cost go ~30% of its CPU here), and two memory reads in one program do not fit in
#: BPF's 512-byte stack (bpftrace 0.17 gives every printf and buffer a stack slot).
_SLOTS = ("S1", "S2", "R1", "W1", "B1", "B2")
_SLOT_BODIES = {
    "S": 'if ($a != 0) {{ printf("K %llu %d %lx S %s\\n", $t, tid, $a, str(uptr($a))); }}',
    "R": (
        "$n = (uint64)$r * (($v >> 8) & 255); if ($n > {max}) {{ $n = {max}; }} "
        'if ($a != 0 && $n > 0) {{ printf("K %llu %d %lx B %d %r\\n", $t, tid, $a, $n, '
        "buf(uptr($a), $n)); }}"
    ),
    "W": (
        "$l = ($v >> 8) & 15; $n = (uint64){length}; $m = ($v >> 16) & 65535; "
        "if ($m > 0 && $n > $m) {{ $n = $m; }} if ($n > {max}) {{ $n = {max}; }} "
        'if ($a != 0 && $n > 0) {{ printf("K %llu %d %lx B %d %r\\n", $t, tid, $a, $n, '
        "buf(uptr($a), $n)); }}"
    ),
    "B": (
        "$n = ($v >> 8) & 255; if ($n > {max}) {{ $n = {max}; }} "
        'if ($a != 0) {{ printf("K %llu %d %lx B %d %r\\n", $t, tid, $a, $n, buf(uptr($a), $n)); }}'
    ),
}


def _pick(index: str) -> str:
    """Argument number ``index`` (0-5) of the call in flight, read from ``@e`` (one lookup
    at run time: a choice among the elements of a tuple variable does not fit in the stack)."""
    expr = "@e[tid].5"
    for i in range(4, -1, -1):
        expr = f"({index} == {i} ? @e[tid].{i} : {expr})"
    return expr


def _exit_slots(names: dict[int, str]) -> dict[int, dict[str, int]]:
    """``{nr: {slot: value}}`` for the calls with memory to record at their exit."""
    out: dict[int, dict[str, int]] = {}
    for nr, name in names.items():
        seen: dict[str, int] = {}
        for cap in CAPTURES.get(name, ()):
            if cap.entry:
                continue
            kind = cap.kind
            seen[kind] = seen.get(kind, 0) + 1
            slot = f"{kind}{seen[kind]}"
            assert slot in _SLOTS, f"{name}: no slot for {cap}"
            value = (cap.arg + 1) | (16 if cap.always else 0)
            if kind == "B":
                value |= cap.size << 8
            elif kind == "R":
                value |= (cap.size or 1) << 8
            elif kind == "W":
                value |= cap.size << 8 | cap.limit << 16
            out.setdefault(nr, {})[slot] = value
    return out


def program(watched: frozenset[int], buf_max: int) -> str:
    """The bpftrace program; ``$1`` is the marker fd number, ``buf_max`` the most bytes of a
    buffer.

    Every watched call is stored in ``@e`` at its entry and printed once, at its exit, as an
    ``F`` record with its entry time and arguments (short waits are not printed at all).
    The call a task is in when it ends is printed then (``I``). Every probe is on
    ``raw_syscalls`` (or a task/signal tracepoint): one per syscall would be two BPF
    programs and two tracepoints for each of ~50 calls, which costs bpftrace seconds to
    compile and the kernel seconds to detach (~60 ms a tracepoint here). What a call
    records at its entry is chosen by its shape (:func:`_entry_shapes`, ``@c[nr]``, one
    program);
    at its exit by slots (:data:`_SLOTS`, one program each)."""
    names = {nr: pt.syscall_name(nr) for nr in sorted(watched)}
    numbers = {name: nr for nr, name in names.items()}
    entry_code, entry_shapes = _entry_shapes(names)
    exit_slots = _exit_slots(names)

    def aref(i: int) -> str:
        return f"(uint64)args->args[{i}]"

    entry_bodies = []
    for caps, calls in entry_shapes:
        body = " ".join(_capture(c, aref, buf_max) for c in caps)
        sleeps = {_SLEEPS[n] for n in calls if n in _SLEEPS}
        if sleeps:
            # a sleep asked for less than MIN_WAIT is (nearly always) left out
            (arg,) = sleeps
            body = (
                f"$q = {aref(arg)}; if ($q != 0 && (*(uint64 *)uptr($q) > 0 || "
                f"*(uint64 *)uptr($q + 8) >= {int(MIN_WAIT * 1e9)})) {{ {body} }}"
            )
        entry_bodies.append(f"// {', '.join(calls)}\n      {body}")
    init = " ".join(
        f"@w[{nr}] = 1;"
        + (f" @c[{nr}] = {entry_code[nr]};" if nr in entry_code else "")
        + (f" @x[{nr}] = 1;" if nr in exit_slots else "")
        + "".join(f" @{slot}[{nr}] = {v};" for slot, v in exit_slots.get(nr, {}).items())
        + (f" @wait[{nr}] = 1;" if name in WAITS else "")
        for nr, name in names.items()
    )

    def short(nr: str, now: str) -> str:
        # a wait that ended within MIN_WAIT: no record, no memory
        return f"@wait[{nr}] && {now} - $s.0 < {int(MIN_WAIT * 1e9)}"

    def among(calls: list[str]) -> str:
        # numbers compared before any map lookup: the probes run for every syscall on the
        # machine, and a comparison costs far less than a hash lookup
        return "(" + " || ".join(f"args->id == {numbers[c]}" for c in calls) + ")"

    used = {slot for slots in exit_slots.values() for slot in slots}
    exit_probes = "\n".join(
        f"tracepoint:raw_syscalls:sys_exit /@pids[tid] && @{slot}[args->id]/ {{\n"
        f"  $v = @{slot}[args->id]; $r = args->ret; $s = @s[tid];\n"
        f"  if ($s.0 != 0 && $s.1 == args->id && !({short('args->id', 'nsecs')}) && "
        "(($v & 16) || $r >= 0)) {\n"
        "    // stamped with the call's entry time, which ties them to its F record\n"
        f"    $t = $s.0; $i = ($v & 15) - 1; $a = (uint64){_pick('$i')};\n"
        f"    {_SLOT_BODIES[slot[0]].format(max=buf_max, length=_pick('$l'))}\n  }}\n}}"
        for slot in _SLOTS
        if slot in used
    )
    entry_calls = [c for _, calls in entry_shapes for c in calls]
    close = numbers.get("close", 3)  # the marker's call
    return f"""
BEGIN {{ {init} printf("READY\\n"); }}
tracepoint:raw_syscalls:sys_enter /args->id == {close} && args->args[0] == $1/ {{ @pids[tid] = 1; }}
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
tracepoint:raw_syscalls:sys_enter /@pids[tid] && @w[args->id] && !@c[args->id]/ {{
  if (!({_FCNTL_NOISE})) {{
    @s[tid] = (nsecs, args->id, pid);
    @e[tid] = (args->args[0], args->args[1], args->args[2], args->args[3], args->args[4],
               args->args[5]);
  }}
}}
// a call with memory to record at its entry: stored here, its C records stamped with the
// same entry time (they may reach bpftrace after its F record: another CPU's buffer)
tracepoint:raw_syscalls:sys_enter /{among(entry_calls)} && @pids[tid]/ {{
  $t = nsecs; $k = @c[args->id];
  @s[tid] = ($t, args->id, pid);
  @e[tid] = (args->args[0], args->args[1], args->args[2], args->args[3], args->args[4],
             args->args[5]);
  {_dispatch(entry_bodies)}
}}
tracepoint:raw_syscalls:sys_exit /@pids[tid] && @w[args->id]/ {{
  $t = nsecs; $r = args->ret; $nr = args->id; $s = @s[tid];
  if ($s.0 != 0 && $s.1 == $nr && !({short("$nr", "$t")})) {{ $e = @e[tid]; {_record("$nr")} }}
  // a call with memory to record keeps @s/@e for the programs below (which may run before
  // or after this one); the next call overwrites them, and the writer knows a call that
  // had its record
  if (!@x[$nr]) {{ delete(@s[tid]); delete(@e[tid]); }}
}}
{exit_probes}
END {{ clear(@pids); clear(@w); clear(@c); clear(@x); clear(@s); clear(@e); clear(@wait); }}
"""
