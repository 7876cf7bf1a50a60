"""Constant names as strace prints them (x86_64 Linux): flags, enums, errnos, signals.

Only what the watched calls (``TRACE_SET``) need. ``flags()`` and ``enum()`` fall back to hex
for bits and values with no name, as strace does (``O_RDONLY|0x40000000``).
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
AT_FLAGS: Table = [
    (0x100, "AT_SYMLINK_NOFOLLOW"),
    (0x200, "AT_REMOVEDIR"),
    (0x400, "AT_SYMLINK_FOLLOW"),
    (0x800, "AT_NO_AUTOMOUNT"),
    (0x1000, "AT_EMPTY_PATH"),
    (0x2000, "AT_STATX_FORCE_SYNC"),
    (0x4000, "AT_STATX_DONT_SYNC"),
    (0x8000, "AT_RECURSIVE"),
]
AT_EACCESS_FLAGS: Table = [(0x200, "AT_EACCESS"), *[f for f in AT_FLAGS if f[0] != 0x200]]
ACCESS_MODES: Table = [(4, "R_OK"), (2, "W_OK"), (1, "X_OK")]
RENAME_FLAGS: Table = [(1, "RENAME_NOREPLACE"), (2, "RENAME_EXCHANGE"), (4, "RENAME_WHITEOUT")]

PROT: Table = [
    (1, "PROT_READ"),
    (2, "PROT_WRITE"),
    (4, "PROT_EXEC"),
    (0x8, "PROT_SEM"),
    (0x01000000, "PROT_GROWSDOWN"),
    (0x02000000, "PROT_GROWSUP"),
]
MAP_TYPE = {1: "MAP_SHARED", 2: "MAP_PRIVATE", 3: "MAP_SHARED_VALIDATE"}
MAP_FLAGS: Table = [
    (0x10, "MAP_FIXED"),
    (0x20, "MAP_ANONYMOUS"),
    (0x40, "MAP_32BIT"),
    (0x100, "MAP_GROWSDOWN"),
    (0x800, "MAP_DENYWRITE"),
    (0x1000, "MAP_EXECUTABLE"),
    (0x2000, "MAP_LOCKED"),
    (0x4000, "MAP_NORESERVE"),
    (0x8000, "MAP_POPULATE"),
    (0x10000, "MAP_NONBLOCK"),
    (0x20000, "MAP_STACK"),
    (0x40000, "MAP_HUGETLB"),
    (0x80000, "MAP_SYNC"),
    (0x100000, "MAP_FIXED_NOREPLACE"),
    (0x4000000, "MAP_UNINITIALIZED"),
]


def mmap_flags(value: int) -> str:
    kind = MAP_TYPE.get(value & 0xF, hex(value & 0xF))
    rest = flags(value & ~0xF, MAP_FLAGS, zero="")
    return f"{kind}|{rest}" if rest else kind


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
IPPROTO = {
    0: "IPPROTO_IP",
    1: "IPPROTO_ICMP",
    6: "IPPROTO_TCP",
    17: "IPPROTO_UDP",
    41: "IPPROTO_IPV6",
    58: "IPPROTO_ICMPV6",
    132: "IPPROTO_SCTP",
    255: "IPPROTO_RAW",
}
NETLINK_PROTO = {
    0: "NETLINK_ROUTE",
    4: "NETLINK_SOCK_DIAG",
    9: "NETLINK_AUDIT",
    15: "NETLINK_KOBJECT_UEVENT",
}


def sock_type(value: int) -> str:
    kind = SOCK_TYPE.get(value & 0xF, hex(value & 0xF))
    rest = flags(value & ~0xF, SOCK_FLAGS, zero="")
    return f"{kind}|{rest}" if rest else kind


MSG_FLAGS: Table = [
    (0x1, "MSG_OOB"),
    (0x2, "MSG_PEEK"),
    (0x4, "MSG_DONTROUTE"),
    (0x8, "MSG_CTRUNC"),
    (0x10, "MSG_PROXY"),
    (0x20, "MSG_TRUNC"),
    (0x40, "MSG_DONTWAIT"),
    (0x80, "MSG_EOR"),
    (0x100, "MSG_WAITALL"),
    (0x200, "MSG_FIN"),
    (0x400, "MSG_SYN"),
    (0x800, "MSG_CONFIRM"),
    (0x1000, "MSG_RST"),
    (0x2000, "MSG_ERRQUEUE"),
    (0x4000, "MSG_NOSIGNAL"),
    (0x8000, "MSG_MORE"),
    (0x10000, "MSG_WAITFORONE"),
    (0x40000, "MSG_BATCH"),
    (0x4000000, "MSG_ZEROCOPY"),
    (0x20000000, "MSG_FASTOPEN"),
    (0x40000000, "MSG_CMSG_CLOEXEC"),
]
SHUT = {0: "SHUT_RD", 1: "SHUT_WR", 2: "SHUT_RDWR"}
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
TCP_OPT = {
    1: "TCP_NODELAY",
    2: "TCP_MAXSEG",
    3: "TCP_CORK",
    4: "TCP_KEEPIDLE",
    5: "TCP_KEEPINTVL",
    6: "TCP_KEEPCNT",
    7: "TCP_SYNCNT",
    8: "TCP_LINGER2",
    9: "TCP_DEFER_ACCEPT",
    10: "TCP_WINDOW_CLAMP",
    11: "TCP_INFO",
    12: "TCP_QUICKACK",
    13: "TCP_CONGESTION",
    18: "TCP_USER_TIMEOUT",
    23: "TCP_FASTOPEN",
    30: "TCP_FASTOPEN_CONNECT",
}
IP_OPT = {
    1: "IP_TOS",
    2: "IP_TTL",
    3: "IP_HDRINCL",
    4: "IP_OPTIONS",
    10: "IP_MTU_DISCOVER",
    11: "IP_RECVERR",
    14: "IP_MTU",
}
IPV6_OPT = {
    16: "IPV6_UNICAST_HOPS",
    23: "IPV6_MTU_DISCOVER",
    25: "IPV6_RECVERR",
    26: "IPV6_V6ONLY",
    67: "IPV6_TCLASS",
}
SOCKOPT_NAMES = {0: IP_OPT, 1: SO, 6: TCP_OPT, 41: IPV6_OPT}

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
LOCK_TYPE = {0: "F_RDLCK", 1: "F_WRLCK", 2: "F_UNLCK"}
SEEK = {0: "SEEK_SET", 1: "SEEK_CUR", 2: "SEEK_END", 3: "SEEK_DATA", 4: "SEEK_HOLE"}
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


WAIT_OPTIONS: Table = [
    (1, "WNOHANG"),
    (2, "WSTOPPED"),
    (4, "WEXITED"),
    (8, "WCONTINUED"),
    (0x1000000, "WNOWAIT"),
    (0x20000000, "__WNOTHREAD"),
    (0x40000000, "__WALL"),
    (0x80000000, "__WCLONE"),
]
IDTYPE = {0: "P_ALL", 1: "P_PID", 2: "P_PGID", 3: "P_PIDFD"}

EPOLL_EVENTS: Table = [
    (0x1, "EPOLLIN"),
    (0x2, "EPOLLPRI"),
    (0x4, "EPOLLOUT"),
    (0x8, "EPOLLERR"),
    (0x10, "EPOLLHUP"),
    (0x20, "EPOLLNVAL"),
    (0x40, "EPOLLRDNORM"),
    (0x80, "EPOLLRDBAND"),
    (0x100, "EPOLLWRNORM"),
    (0x200, "EPOLLWRBAND"),
    (0x400, "EPOLLMSG"),
    (0x2000, "EPOLLRDHUP"),
    (0x10000000, "EPOLLEXCLUSIVE"),
    (0x20000000, "EPOLLWAKEUP"),
    (0x40000000, "EPOLLONESHOT"),
    (0x80000000, "EPOLLET"),
]
EPOLL_CTL = {1: "EPOLL_CTL_ADD", 2: "EPOLL_CTL_DEL", 3: "EPOLL_CTL_MOD"}
EPOLL_CREATE_FLAGS: Table = [(0o2000000, "EPOLL_CLOEXEC")]
POLL_EVENTS: Table = [
    (0x1, "POLLIN"),
    (0x2, "POLLPRI"),
    (0x4, "POLLOUT"),
    (0x8, "POLLERR"),
    (0x10, "POLLHUP"),
    (0x20, "POLLNVAL"),
    (0x40, "POLLRDNORM"),
    (0x80, "POLLRDBAND"),
    (0x100, "POLLWRNORM"),
    (0x200, "POLLWRBAND"),
    (0x400, "POLLMSG"),
    (0x2000, "POLLRDHUP"),
]
EFD_FLAGS: Table = [(1, "EFD_SEMAPHORE"), (0o2000000, "EFD_CLOEXEC"), (0o4000, "EFD_NONBLOCK")]
TFD_FLAGS: Table = [(0o2000000, "TFD_CLOEXEC"), (0o4000, "TFD_NONBLOCK")]
IN_FLAGS: Table = [(0o2000000, "IN_CLOEXEC"), (0o4000, "IN_NONBLOCK")]
MFD_FLAGS: Table = [(1, "MFD_CLOEXEC"), (2, "MFD_ALLOW_SEALING"), (4, "MFD_HUGETLB")]
CLOCKS = {
    0: "CLOCK_REALTIME",
    1: "CLOCK_MONOTONIC",
    2: "CLOCK_PROCESS_CPUTIME_ID",
    3: "CLOCK_THREAD_CPUTIME_ID",
    4: "CLOCK_MONOTONIC_RAW",
    5: "CLOCK_REALTIME_COARSE",
    6: "CLOCK_MONOTONIC_COARSE",
    7: "CLOCK_BOOTTIME",
    8: "CLOCK_REALTIME_ALARM",
    9: "CLOCK_BOOTTIME_ALARM",
    11: "CLOCK_TAI",
}
TIMER_FLAGS: Table = [(1, "TIMER_ABSTIME")]
FADVISE = {
    0: "POSIX_FADV_NORMAL",
    1: "POSIX_FADV_RANDOM",
    2: "POSIX_FADV_SEQUENTIAL",
    3: "POSIX_FADV_WILLNEED",
    4: "POSIX_FADV_DONTNEED",
    5: "POSIX_FADV_NOREUSE",
}
IOCTL = {
    0x5401: "TCGETS",
    0x5402: "TCSETS",
    0x5403: "TCSETSW",
    0x5404: "TCSETSF",
    0x540E: "TIOCSCTTY",
    0x540F: "TIOCGPGRP",
    0x5410: "TIOCSPGRP",
    0x5413: "TIOCGWINSZ",
    0x5414: "TIOCSWINSZ",
    0x541B: "FIONREAD",
    0x5421: "FIONBIO",
    0x5450: "FIONCLEX",
    0x5451: "FIOCLEX",
    0x5452: "FIOASYNC",
    0x80045430: "TIOCGPTN",
    0x40045431: "TIOCSPTLCK",
}

S_IFMT = 0o170000
S_IFMT_NAMES = {
    0o140000: "S_IFSOCK",
    0o120000: "S_IFLNK",
    0o100000: "S_IFREG",
    0o060000: "S_IFBLK",
    0o040000: "S_IFDIR",
    0o020000: "S_IFCHR",
    0o010000: "S_IFIFO",
}


def file_mode(mode: int) -> str:
    """``S_IFREG|0644``; setuid/setgid/sticky by name as strace prints them."""
    parts = []
    kind = mode & S_IFMT
    if kind:
        parts.append(S_IFMT_NAMES.get(kind, f"{kind:#o}"))
    for bit, name in ((0o4000, "S_ISUID"), (0o2000, "S_ISGID"), (0o1000, "S_ISVTX")):
        if mode & bit:
            parts.append(name)
    parts.append(f"{mode & 0o777:#05o}".replace("0o", "0"))
    return "|".join(parts)


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
