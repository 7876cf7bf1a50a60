"""The kernel side of the ptrace backend: ptrace requests, tracee memory, the seccomp filter.

python-ptrace supplies the binding: its ``ptrace()`` call, the request, option and event
numbers, the ``siginfo`` layout, ``user_regs_struct`` and ``PTRACE_GETREGS``. What it lacks
(0.9.9) is added here: ``PTRACE_SEIZE``/``LISTEN``/``INTERRUPT`` and
``PTRACE_GET_SYSCALL_INFO`` (sent through its ``ptrace()``), ``process_vm_readv`` and
``seccomp()`` (ctypes). The syscall names are :mod:`gotrace.tracer.syscalls`.
Every request raises :class:`OSError` (``ProcessLookupError`` for ESRCH), so callers can
tell a tracee that vanished from a real failure.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
from collections.abc import Iterable
from typing import Any

from ptrace.binding import func as _pt
from ptrace.binding.linux_struct import siginfo as SigInfo
from ptrace.error import PtraceError

from gotrace.tracer.syscalls import syscall_name as syscall_name

# --- requests and options: python-ptrace's, and the ones it lacks (<linux/ptrace.h>) ----------

PTRACE_CONT = _pt.PTRACE_CONT
PTRACE_SYSCALL = _pt.PTRACE_SYSCALL
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_LISTEN = 0x4208
PTRACE_GET_SYSCALL_INFO = 0x420E

O_TRACESYSGOOD = _pt.PTRACE_O_TRACESYSGOOD
O_TRACEFORK = _pt.PTRACE_O_TRACEFORK
O_TRACEVFORK = _pt.PTRACE_O_TRACEVFORK
O_TRACECLONE = _pt.PTRACE_O_TRACECLONE
O_TRACEEXEC = _pt.PTRACE_O_TRACEEXEC
O_TRACEEXIT = _pt.PTRACE_O_TRACEEXIT
O_TRACESECCOMP = 0x80
O_EXITKILL = 0x100000

EVENT_FORK = _pt.PTRACE_EVENT_FORK
EVENT_VFORK = _pt.PTRACE_EVENT_VFORK
EVENT_CLONE = _pt.PTRACE_EVENT_CLONE
EVENT_EXEC = _pt.PTRACE_EVENT_EXEC
EVENT_EXIT = _pt.PTRACE_EVENT_EXIT
EVENT_SECCOMP = 7
EVENT_STOP = 128

#: waitpid flag: also wait for clone children (threads), and only our own tracees
WALL = _pt.THREAD_TRACE_FLAGS
WNOTHREAD = 0x20000000

#: PTRACE_GET_SYSCALL_INFO ops
OP_NONE, OP_ENTRY, OP_EXIT, OP_SECCOMP = 0, 1, 2, 3

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000

# --- libc: what python-ptrace does not bind -----------------------------------------------------

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_prctl = _libc.prctl
_prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
_prctl.restype = ctypes.c_int


class _IoVec(ctypes.Structure):
    _fields_ = (("base", ctypes.c_void_p), ("len", ctypes.c_size_t))


_vm_readv = _libc.process_vm_readv
_vm_readv.argtypes = (
    ctypes.c_int,
    ctypes.POINTER(_IoVec),
    ctypes.c_ulong,
    ctypes.POINTER(_IoVec),
    ctypes.c_ulong,
    ctypes.c_ulong,
)
_vm_readv.restype = ctypes.c_ssize_t


def _fail() -> OSError:
    err = ctypes.get_errno()
    return OSError(err, os.strerror(err))


def _oserror(exc: PtraceError) -> OSError:
    """python-ptrace's error as the OSError callers tell apart (ProcessLookupError: ESRCH)."""
    err = exc.errno or 0
    return OSError(err, os.strerror(err))


def request(req: int, pid: int, addr: int = 0, data: int = 0) -> int:
    """One ptrace request; raises OSError (ProcessLookupError when the tracee is gone)."""
    try:
        res: int = _pt.ptrace(req, pid, addr, data)
    except PtraceError as exc:
        raise _oserror(exc) from None
    return res


def seize(pid: int, options: int) -> None:
    request(PTRACE_SEIZE, pid, 0, options)


def resume(pid: int, req: int, sig: int = 0) -> None:
    """PTRACE_CONT / PTRACE_SYSCALL / PTRACE_LISTEN with a signal to deliver (0: none)."""
    request(req, pid, 0, sig)


def interrupt(pid: int) -> None:
    request(PTRACE_INTERRUPT, pid)


def detach(pid: int, sig: int = 0) -> None:
    try:
        _pt.ptrace_detach(pid, sig)
    except PtraceError as exc:
        raise _oserror(exc) from None


def event_msg(pid: int) -> int:
    try:
        value: int = _pt.ptrace_geteventmsg(pid)
    except PtraceError as exc:
        raise _oserror(exc) from None
    return value


def get_siginfo(pid: int) -> bytes:
    """The raw 128-byte siginfo of a signal-delivery-stop (python-ptrace's layout)."""
    try:
        info = _pt.ptrace_getsiginfo(pid)
    except PtraceError as exc:
        raise _oserror(exc) from None
    return ctypes.string_at(ctypes.addressof(info), ctypes.sizeof(SigInfo))


# --- syscall entry/exit: PTRACE_GET_SYSCALL_INFO (Linux 5.3), else the registers -----------------


class _Entry(ctypes.Structure):
    _fields_ = (("nr", ctypes.c_uint64), ("args", ctypes.c_uint64 * 6))


class _Exit(ctypes.Structure):
    _fields_ = (("rval", ctypes.c_int64), ("is_error", ctypes.c_uint8))


class _Seccomp(ctypes.Structure):
    _fields_ = (
        ("nr", ctypes.c_uint64),
        ("args", ctypes.c_uint64 * 6),
        ("ret_data", ctypes.c_uint32),
    )


class _InfoUnion(ctypes.Union):
    _fields_ = (("entry", _Entry), ("exit", _Exit), ("seccomp", _Seccomp))


class _SyscallInfo(ctypes.Structure):
    _fields_ = (
        ("op", ctypes.c_uint8),
        ("pad", ctypes.c_uint8 * 3),
        ("arch", ctypes.c_uint32),
        ("ip", ctypes.c_uint64),
        ("sp", ctypes.c_uint64),
        ("u", _InfoUnion),
    )


class SyscallReader:
    """Reads a stopped tracee's syscall number and arguments, or its return value."""

    def __init__(self) -> None:
        self._info = _SyscallInfo()
        self._info_addr = ctypes.addressof(self._info)
        self._size = ctypes.sizeof(self._info)
        self.use_info = True

    def op(self, pid: int) -> int:
        """OP_ENTRY, OP_EXIT, OP_SECCOMP (OP_NONE when the kernel cannot say)."""
        if not self.use_info:
            return OP_NONE
        try:
            request(PTRACE_GET_SYSCALL_INFO, pid, self._size, self._info_addr)
        except OSError as exc:
            if isinstance(exc, ProcessLookupError):
                raise
            self.use_info = False  # EIO before Linux 5.3
            return OP_NONE
        return int(self._info.op)

    def entry(self, pid: int, op: int) -> tuple[int, tuple[int, ...], int]:
        """(nr, six arguments, arch) at a seccomp or syscall-entry stop."""
        if op in (OP_ENTRY, OP_SECCOMP):
            part = self._info.u.seccomp if op == OP_SECCOMP else self._info.u.entry
            return int(part.nr), tuple(part.args), int(self._info.arch)
        r = self._get_regs(pid)
        args = (int(r.rdi), int(r.rsi), int(r.rdx), int(r.r10), int(r.r8), int(r.r9))
        return int(r.orig_rax), args, AUDIT_ARCH_X86_64

    def exit(self, pid: int, op: int) -> int:
        """The signed return value at a syscall-exit stop."""
        if op == OP_EXIT:
            return int(self._info.u.exit.rval)
        rax = int(self._get_regs(pid).rax)
        return rax - (1 << 64) if rax >= 1 << 63 else rax

    @staticmethod
    def _get_regs(pid: int) -> Any:
        """python-ptrace's ``user_regs_struct`` (PTRACE_GETREGS), before Linux 5.3."""
        try:
            return _pt.ptrace_getregs(pid)
        except PtraceError as exc:
            raise _oserror(exc) from None


# --- tracee memory ---------------------------------------------------------------------------

PAGE = os.sysconf("SC_PAGE_SIZE")


class Memory:
    """Reads tracee memory with process_vm_readv, or /proc/PID/mem where that is refused."""

    def __init__(self) -> None:
        self._buf = ctypes.create_string_buffer(65536)
        self._buf_addr = ctypes.addressof(self._buf)
        self._local = _IoVec(self._buf_addr, 0)
        self._remote = _IoVec(0, 0)
        self._vm = True

    def read(self, pid: int, addr: int, size: int) -> bytes:
        """Up to ``size`` bytes at ``addr`` (fewer where the mapping ends); b"" if unreadable."""
        if size <= 0 or addr == 0:
            return b""
        size = min(size, len(self._buf))
        if self._vm:
            data = self._vm_read(pid, addr, size)
            if data is not None and (len(data) == size or size <= PAGE - addr % PAGE):
                return data
            if self._vm:
                # The read crossed into an unmapped page: what was readable, page by page,
                # as strace's umoven gives.
                out = b""
                while len(out) < size:
                    chunk = min(size - len(out), PAGE - (addr + len(out)) % PAGE)
                    part = self._vm_read(pid, addr + len(out), chunk)
                    if not part:
                        break
                    out += part
                    if len(part) < chunk:
                        break
                return out
        try:
            fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
        except OSError:
            return b""
        try:
            return os.pread(fd, size, addr)
        except OSError:
            return b""
        finally:
            os.close(fd)

    def _vm_read(self, pid: int, addr: int, size: int) -> bytes | None:
        self._local.len = size
        self._remote.base = addr
        self._remote.len = size
        n = _vm_readv(pid, ctypes.byref(self._local), 1, ctypes.byref(self._remote), 1, 0)
        if n < 0:
            if ctypes.get_errno() in (1, 38):  # EPERM / ENOSYS: use /proc/PID/mem from now on
                self._vm = False
            return None
        return ctypes.string_at(self._buf_addr, n)

    def cstring(self, pid: int, addr: int, limit: int) -> tuple[bytes, bool]:
        """The NUL-terminated string at ``addr``: (bytes, whether the NUL was found within
        ``limit`` bytes)."""
        out = b""
        first = True
        while len(out) < limit:
            # Most strings are short: a small first read, then whole pages.
            want = min(limit + 1 - len(out), PAGE - (addr % PAGE), 256 if first else PAGE)
            first = False
            chunk = self.read(pid, addr, want)
            if not chunk:
                return out, False
            nul = chunk.find(b"\0")
            if nul >= 0:
                return out + chunk[:nul], len(out) + nul <= limit
            out += chunk
            addr += len(chunk)
        return out[:limit], False

    def words(self, pid: int, addr: int, count: int) -> list[int]:
        data = self.read(pid, addr, 8 * count)
        n = len(data) // 8
        return list(struct.unpack(f"<{n}Q", data[: 8 * n]))


#: strace 6.1's ``-e trace=%process,%network,%file,%desc,futex,nanosleep,clock_nanosleep`` on
#: x86_64 (read off ``strace -d --seccomp-bpf``'s filter): the calls the analyzers need.
WATCHED_NRS: frozenset[int] = frozenset(
    [
        *range(0, 10), *range(16, 24), 32, 33, 35, *range(40, 63), *range(72, 95),
        129, 132, 133, 134, 137, 138, 155, 161, 163, 165, 166, 167, 168, 179, 181, 182,
        *range(187, 201), 202, 213, 217, 221, *range(230, 236), 240, 242, 243, 245, 247,
        253, 254, 255, *range(257, 272), *range(275, 279), *range(280, 302), 303, 304,
        306, 307, 308, 313, 316, 319, 320, 321, 322, 323, 326, 327, 328, 332,
        *range(424, 436), *range(437, 449),
    ]
)  # fmt: skip


NR_FUTEX = 202


# --- seccomp-bpf ----------------------------------------------------------------------------

_BPF_LD_W_ABS = 0x20
_BPF_LD_IMM = 0x00
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_JSET_K = 0x45
_BPF_RET_K = 0x06
_BPF_AND_K = 0x54
_BPF_LSH_X = 0x6C
_BPF_RSH_K = 0x74
_BPF_TAX = 0x07
_BPF_TXA = 0x87
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_TRACE = 0x7FF00000
_NR_OFF, _ARCH_OFF = 0, 4


def bpf_program(numbers: Iterable[int]) -> list[tuple[int, int, int, int]]:
    """A classic-BPF filter that returns SECCOMP_RET_TRACE for ``numbers`` (x86_64) and
    SECCOMP_RET_ALLOW for everything else, with a bitmap test per 32 syscalls as strace's
    filter does: X = 1 << (nr & 31); A = nr >> 5; then one compare per word."""
    words: dict[int, int] = {}
    for nr in numbers:
        words[nr >> 5] = words.get(nr >> 5, 0) | (1 << (nr & 31))
    body: list[tuple[int, int, int, int]] = []
    # Targets are patched once the program's length is known: ("ALLOW"/"TRACE" markers).
    fixups: list[tuple[int, str, str]] = []
    for word, mask in sorted(words.items()):
        if mask == 0xFFFFFFFF:
            fixups.append((len(body), "TRACE", "next"))
            body.append((_BPF_JEQ_K, 0, 0, word))
        else:
            body.append((_BPF_JEQ_K, 0, 2, word))
            body.append((_BPF_TXA, 0, 0, 0))
            fixups.append((len(body), "TRACE", "ALLOW"))
            body.append((_BPF_JSET_K, 0, 0, mask))
    head = [
        (_BPF_LD_W_ABS, 0, 0, _ARCH_OFF),
        (_BPF_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        (_BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),  # another ABI (i386 int 0x80): not ours
        (_BPF_LD_W_ABS, 0, 0, _NR_OFF),
        (_BPF_JGE_K, 0, 0, X32_SYSCALL_BIT),  # x32 calls: allowed (patched below)
        (_BPF_AND_K, 0, 0, 31),
        (_BPF_TAX, 0, 0, 0),
        (_BPF_LD_IMM, 0, 0, 1),
        (_BPF_LSH_X, 0, 0, 0),
        (_BPF_TAX, 0, 0, 0),
        (_BPF_LD_W_ABS, 0, 0, _NR_OFF),
        (_BPF_RSH_K, 0, 0, 5),
    ]
    start = len(head)
    allow = start + len(body)
    trace = allow + 1
    prog = [
        *head,
        *body,
        (_BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
        (_BPF_RET_K, 0, 0, SECCOMP_RET_TRACE),
    ]
    jge = 4
    prog[jge] = (_BPF_JGE_K, allow - jge - 1, 0, X32_SYSCALL_BIT)
    for at, jt, jf in fixups:
        pos = start + at
        code, _, _, k = prog[pos]
        t = (trace if jt == "TRACE" else allow) - pos - 1
        f = 0 if jf == "next" else (allow if jf == "ALLOW" else trace) - pos - 1
        prog[pos] = (code, t, f, k)
    return prog


class _SockFilter(ctypes.Structure):
    _fields_ = (
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    )


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter)))


PR_SET_NO_NEW_PRIVS = 38
SECCOMP_SET_MODE_FILTER = 1
_NR_SECCOMP = 317


def install_seccomp(numbers: Iterable[int]) -> None:
    """In the (future) tracee: no new privileges, then the filter. Raises OSError."""
    prog = bpf_program(numbers)
    array = (_SockFilter * len(prog))(*(_SockFilter(*ins) for ins in prog))
    fprog = _SockFprog(len(prog), ctypes.cast(array, ctypes.POINTER(_SockFilter)))
    if _prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise _fail()
    ctypes.set_errno(0)
    if _syscall(_NR_SECCOMP, SECCOMP_SET_MODE_FILTER, 0, ctypes.byref(fprog)) != 0:
        raise _fail()
