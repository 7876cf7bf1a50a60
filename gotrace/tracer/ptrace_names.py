"""Constant names as strace prints them (x86_64 Linux): flags, enums, errnos, signals.

Only the arguments the analyzers read are named (open/socket/fcntl flags, flock and futex
operations, clone flags, socket options for SO_ERROR, wait statuses, signals, errnos); the
ptrace backend prints every other argument as strace's raw form (``-X raw``) does, in hex.
``flags()`` and ``enum()`` fall back to hex for bits and values with no name, as strace does
(``O_RDONLY|0x40000000``). Signal names are python-ptrace's (:mod:`ptrace.signames`); python-
ptrace's own argument tables spell some names otherwise than strace (``AF_FILE``) and print
unknown bits in decimal, so they are not used here.
"""

from __future__ import annotations

import errno as _errno
import os
import signal as _signal
from collections.abc import Sequence

from ptrace.signames import SIGNAMES

Table = Sequence[tuple[int, str]]


def flags(value: int, table: Table, *, zero: str = "0") -> str:
    """``MAP_PRIVATE|MAP_ANONYMOUS``; unknown bits as ``|0x...``; ``zero`` when nothing is set."""
    if value == 0:
        return zero
    out = []
    rest = value
    for bit, name in table:
        if bit and rest & bit == bit:
            out.append(name)
            rest &= ~bit
    if rest:
        out.append(hex(rest))
    return "|".join(out)


def enum(value: int, table: dict[int, str], *, signed: bool = False) -> str:
    name = table.get(value)
    if name is not None:
        return name
    return str(value) if signed else hex(value)


#: python-ptrace's signal names, with strace's choice where a number has two (SIGIO/SIGPOLL)
_SIGNAMES: dict[int, str] = {**SIGNAMES, _signal.SIGIO: "SIGIO"}


def signame(sig: int) -> str:
    if sig == 0:
        return "0"
    if 32 <= sig <= 64:
        # The kernel's real-time range (glibc's SIGRTMIN is 34): strace counts from 32.
        return "SIGRTMIN" if sig == 32 else f"SIGRT_{sig - 32}"
    return _SIGNAMES.get(sig, str(sig))


_ERRNO_NAMES = dict(_errno.errorcode)
# Linux aliases: strace prints the first spelling.
_ERRNO_NAMES.update({11: "EAGAIN", 35: "EDEADLK", 95: "EOPNOTSUPP"})
#: kernel-internal codes a tracer sees at syscall exit (the call will be restarted)
RESTART_ERRNOS = {
    512: ("ERESTARTSYS", "To be restarted if SA_RESTART is set"),
    513: ("ERESTARTNOINTR", "To be restarted"),
    514: ("ERESTARTNOHAND", "To be restarted if no handler"),
    516: ("ERESTART_RESTARTBLOCK", "Interrupted by signal"),
}
_KERNEL_ERRNOS = {
    515: "ENOIOCTLCMD",
    517: "EPROBE_DEFER",
    518: "EOPENSTALE",
    519: "ENOPARAM",
    521: "EBADHANDLE",
    522: "ENOTSYNC",
    523: "EBADCOOKIE",
    524: "ENOTSUPP",
    525: "ETOOSMALL",
    526: "ESERVERFAULT",
    527: "EBADTYPE",
    528: "EJUKEBOX",
    529: "EIOCBQUEUED",
    530: "ERECALLCONFLICT",
}


def errno_text(err: int) -> str:
    """``-1 ENOENT (No such file or directory)``, ``? ERESTARTSYS (To be restarted ...)``."""
    if err in RESTART_ERRNOS:
        name, msg = RESTART_ERRNOS[err]
        return f"? {name} ({msg})"
    name = _ERRNO_NAMES.get(err) or _KERNEL_ERRNOS.get(err) or f"errno{err}"
    return f"-1 {name} ({os.strerror(err)})"


OPEN_ACCMODE = {0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR", 3: "O_ACCMODE"}
OPEN_FLAGS: Table = [
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o4010000, "O_SYNC"),
    (0o10000, "O_DSYNC"),
    (0o20000, "O_ASYNC"),
    (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"),
    (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"),
    (0o2000000, "O_CLOEXEC"),
    (0o10000000, "O_PATH"),
    (0o20200000, "O_TMPFILE"),  # includes O_DIRECTORY's bit: before it, as in strace's table
    (0o200000, "O_DIRECTORY"),
]
O_CREAT = 0o100
O_TMPFILE = 0o20200000


def open_flags(value: int) -> str:
    acc = OPEN_ACCMODE[value & 3]
    rest = flags(value & ~3, OPEN_FLAGS, zero="")
    return f"{acc}|{rest}" if rest else acc


def open_flags_noacc(value: int) -> str:
    """pipe2/dup3/inotify flags: O_* without an access mode."""
    return flags(value, OPEN_FLAGS)


AT_FDCWD = -100


AF = {
    0: "AF_UNSPEC",
    1: "AF_UNIX",
    2: "AF_INET",
    10: "AF_INET6",
    16: "AF_NETLINK",
    17: "AF_PACKET",
    38: "AF_ALG",
    40: "AF_VSOCK",
}
SOCK_TYPE = {1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 4: "SOCK_RDM", 5: "SOCK_SEQPACKET"}
SOCK_FLAGS: Table = [(0o2000000, "SOCK_CLOEXEC"), (0o4000, "SOCK_NONBLOCK")]


def sock_type(value: int) -> str:
    kind = SOCK_TYPE.get(value & 0xF, hex(value & 0xF))
    rest = flags(value & ~0xF, SOCK_FLAGS, zero="")
    return f"{kind}|{rest}" if rest else kind


SOL = {
    0: "SOL_IP",
    1: "SOL_SOCKET",
    6: "SOL_TCP",
    17: "SOL_UDP",
    41: "SOL_IPV6",
    270: "SOL_NETLINK",
}
SO = {
    1: "SO_DEBUG",
    2: "SO_REUSEADDR",
    3: "SO_TYPE",
    4: "SO_ERROR",
    5: "SO_DONTROUTE",
    6: "SO_BROADCAST",
    7: "SO_SNDBUF",
    8: "SO_RCVBUF",
    9: "SO_KEEPALIVE",
    10: "SO_OOBINLINE",
    11: "SO_NO_CHECK",
    12: "SO_PRIORITY",
    13: "SO_LINGER",
    15: "SO_REUSEPORT",
    16: "SO_PASSCRED",
    17: "SO_PEERCRED",
    18: "SO_RCVLOWAT",
    19: "SO_SNDLOWAT",
    20: "SO_RCVTIMEO_OLD",
    21: "SO_SNDTIMEO_OLD",
    25: "SO_BINDTODEVICE",
    29: "SO_TIMESTAMP_OLD",
    30: "SO_ACCEPTCONN",
    32: "SO_SNDBUFFORCE",
    33: "SO_RCVBUFFORCE",
    36: "SO_MARK",
    38: "SO_PROTOCOL",
    39: "SO_DOMAIN",
    46: "SO_BUSY_POLL",
}
#: option names by level: SOL_SOCKET only (the analyzers read getsockopt's SO_ERROR)
SOCKOPT_NAMES = {1: SO}

FCNTL_CMD = {
    0: "F_DUPFD",
    1: "F_GETFD",
    2: "F_SETFD",
    3: "F_GETFL",
    4: "F_SETFL",
    5: "F_GETLK",
    6: "F_SETLK",
    7: "F_SETLKW",
    8: "F_SETOWN",
    9: "F_GETOWN",
    10: "F_SETSIG",
    11: "F_GETSIG",
    15: "F_SETOWN_EX",
    16: "F_GETOWN_EX",
    36: "F_OFD_GETLK",
    37: "F_OFD_SETLK",
    38: "F_OFD_SETLKW",
    1024: "F_SETLEASE",
    1025: "F_GETLEASE",
    1026: "F_NOTIFY",
    1030: "F_DUPFD_CLOEXEC",
    1031: "F_SETPIPE_SZ",
    1032: "F_GETPIPE_SZ",
    1033: "F_ADD_SEALS",
    1034: "F_GET_SEALS",
}
FD_FLAGS: Table = [(1, "FD_CLOEXEC")]
FLOCK_OPS = {1: "LOCK_SH", 2: "LOCK_EX", 8: "LOCK_UN", 32: "LOCK_MAND"}


def flock_op(value: int) -> str:
    base = value & ~4
    name = FLOCK_OPS.get(base, hex(base) if base else "0")
    return f"{name}|LOCK_NB" if value & 4 else name


FUTEX_CMD = {
    0: "FUTEX_WAIT",
    1: "FUTEX_WAKE",
    2: "FUTEX_FD",
    3: "FUTEX_REQUEUE",
    4: "FUTEX_CMP_REQUEUE",
    5: "FUTEX_WAKE_OP",
    6: "FUTEX_LOCK_PI",
    7: "FUTEX_UNLOCK_PI",
    8: "FUTEX_TRYLOCK_PI",
    9: "FUTEX_WAIT_BITSET",
    10: "FUTEX_WAKE_BITSET",
    11: "FUTEX_WAIT_REQUEUE_PI",
    12: "FUTEX_CMP_REQUEUE_PI",
    13: "FUTEX_LOCK_PI2",
}


def futex_op(value: int) -> str:
    cmd = value & 127
    name = FUTEX_CMD.get(cmd, hex(cmd))
    if value & 128:
        name += "_PRIVATE"
    if value & 256:
        name += "|FUTEX_CLOCK_REALTIME"
    if value & ~(127 | 128 | 256):
        name += f"|{value & ~(127 | 128 | 256):#x}"
    return name


CLONE_FLAGS: Table = [
    (0x100, "CLONE_VM"),
    (0x200, "CLONE_FS"),
    (0x400, "CLONE_FILES"),
    (0x800, "CLONE_SIGHAND"),
    (0x1000, "CLONE_PIDFD"),
    (0x2000, "CLONE_PTRACE"),
    (0x4000, "CLONE_VFORK"),
    (0x8000, "CLONE_PARENT"),
    (0x10000, "CLONE_THREAD"),
    (0x20000, "CLONE_NEWNS"),
    (0x40000, "CLONE_SYSVSEM"),
    (0x80000, "CLONE_SETTLS"),
    (0x100000, "CLONE_PARENT_SETTID"),
    (0x200000, "CLONE_CHILD_CLEARTID"),
    (0x400000, "CLONE_DETACHED"),
    (0x800000, "CLONE_UNTRACED"),
    (0x1000000, "CLONE_CHILD_SETTID"),
    (0x2000000, "CLONE_NEWCGROUP"),
    (0x4000000, "CLONE_NEWUTS"),
    (0x8000000, "CLONE_NEWIPC"),
    (0x10000000, "CLONE_NEWUSER"),
    (0x20000000, "CLONE_NEWPID"),
    (0x40000000, "CLONE_NEWNET"),
    (0x80000000, "CLONE_IO"),
    (0x100000000, "CLONE_CLEAR_SIGHAND"),
    (0x200000000, "CLONE_INTO_CGROUP"),
]
CLONE_THREAD = 0x10000
CLONE_VFORK = 0x4000
CLONE_FILES = 0x400
CLONE_PARENT_SETTID = 0x100000
CLONE_PIDFD = 0x1000
CLONE_CHILD_SETTID = 0x1000000
CLONE_CHILD_CLEARTID = 0x200000
CLONE_SETTLS = 0x80000


def clone_flags(value: int) -> str:
    sig = value & 0xFF
    text = flags(value & ~0xFF, CLONE_FLAGS, zero="")
    if sig:
        text = f"{text}|{signame(sig)}" if text else signame(sig)
    return text or "0"


def umode(mode: int) -> str:
    """Permission bits as strace prints them: ``0644``, ``000``."""
    return "0" + f"{mode:o}".rjust(2, "0") if mode else "000"


SI_CODES = {
    0: "SI_USER",
    0x80: "SI_KERNEL",
    -1: "SI_QUEUE",
    -2: "SI_TIMER",
    -3: "SI_MESGQ",
    -4: "SI_ASYNCIO",
    -5: "SI_SIGIO",
    -6: "SI_TKILL",
    -7: "SI_DETHREAD",
    -60: "SI_ASYNCNL",
}
CLD_CODES = {
    1: "CLD_EXITED",
    2: "CLD_KILLED",
    3: "CLD_DUMPED",
    4: "CLD_TRAPPED",
    5: "CLD_STOPPED",
    6: "CLD_CONTINUED",
}
SEGV_CODES = {1: "SEGV_MAPERR", 2: "SEGV_ACCERR", 3: "SEGV_BNDERR", 4: "SEGV_PKUERR"}
BUS_CODES = {1: "BUS_ADRALN", 2: "BUS_ADRERR", 3: "BUS_OBJERR"}
TRAP_CODES = {1: "TRAP_BRKPT", 2: "TRAP_TRACE"}
POLL_CODES = {
    1: "POLL_IN",
    2: "POLL_OUT",
    3: "POLL_MSG",
    4: "POLL_ERR",
    5: "POLL_PRI",
    6: "POLL_HUP",
}
