"""Syscall arguments and return values in strace's words (``strace -yy -s N``, x86_64).

A call is printed in two halves, as strace prints it: at entry the arguments the kernel has
not yet written (``read(3</x>, ``), at exit the rest (``"data", 20) = 5``). The split matters:
a call that blocks shows its entry half, with the fd, until it returns. Each watched syscall
has a layout, a tuple of :class:`Arg`; an argument printed at exit is marked ``out``, and
every argument after the first ``out`` one waits for the exit too.

Only the arguments the analyzers read are decoded: fds, paths, strings and buffers, socket
addresses, the flags and operations :mod:`gotrace.tracer.ptrace_names` names, argv, wait
statuses and siginfo. The others (stat and epoll structs, timespecs, mmap/access/at flags,
ioctl requests...) are printed as numbers or addresses, as ``strace -X raw`` prints them.

Reading tracee memory can fail (the tracee died, a bad pointer): the argument is then printed
as its address, as strace does.
"""

from __future__ import annotations

import re
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gotrace.tracer import ptrace_names as n
from gotrace.tracer.ptrace_fds import FdNames
from gotrace.tracer.ptrace_sys import Memory

PATH_MAX = 4096
MAX_ARGV = 4096


@dataclass(slots=True)
class Call:
    """One traced syscall between its entry and its exit."""

    tid: int
    tgid: int
    nr: int
    name: str
    args: tuple[int, ...]
    ts: int  # entry time, ns since the epoch
    layout: tuple[Arg, ...] = ()
    split: int = 0  # index of the first argument printed at exit
    saved: dict[str, Any] = field(default_factory=dict)
    unfinished: bool = False  # another line came between its two halves


Fmt = Callable[["Decoder", Call, int, int | None], str]


@dataclass(frozen=True, slots=True)
class Arg:
    """How to print argument ``index``; ``out``: only known at exit (``rval`` is then set)."""

    fmt: Fmt
    index: int
    out: bool = False


Layout = tuple[Arg, ...]
LayoutFn = Callable[["Decoder", Call], Layout]

# --- strings ---------------------------------------------------------------------------------

_PLAIN = re.compile(rb"[\x20\x21\x23-\x5b\x5d-\x7e]*")
_SPECIAL = re.compile(rb"[^\x20\x21\x23-\x5b\x5d-\x7e](?=([0-7])?)", re.DOTALL)
_NAMED = {
    0x22: '\\"',
    0x5C: "\\\\",
    0x0C: "\\f",
    0x0A: "\\n",
    0x0D: "\\r",
    0x09: "\\t",
    0x0B: "\\v",
}
#: byte -> strace's escape when no octal digit follows (str.translate does the common case)
_SHORT = {b: _NAMED.get(b, chr(b) if 0x20 <= b < 0x7F else f"\\{b:o}") for b in range(256)}
# An octal escape followed by a digit 0-7 needs all three digits ("\0001", not "\01").
_OCTAL_THEN_DIGIT = re.compile("[\x00-\x08\x0e-\x1f\x7f-\xff][0-7]")


def _escape(m: re.Match[bytes]) -> str:
    c = m.group(0)[0]
    named = _NAMED.get(c)
    if named is not None:
        return named
    if m.group(1) is not None:
        return f"\\{c:03o}"
    return f"\\{c:o}"


def quote(data: bytes, truncated: bool = False) -> str:
    """C string with strace's escapes (``\\t``, ``\\n``, octal) and ``...`` when cut."""
    if _PLAIN.fullmatch(data) is not None:
        body = data.decode("ascii")
    else:
        text = data.decode("latin-1")
        if _OCTAL_THEN_DIGIT.search(text) is None:
            body = text.translate(_SHORT)
        else:
            body = _SPECIAL.sub(lambda m: _escape(m).encode("latin-1"), data).decode("latin-1")
    return f'"{body}"...' if truncated else f'"{body}"'


# --- the decoder -----------------------------------------------------------------------------


class Decoder:
    """Formats the calls of every tracee; owns the fd-name cache."""

    def __init__(self, mem: Memory, string_size: int = 256) -> None:
        self.mem = mem
        self.strsize = string_size
        self.fds = FdNames()

    # entry/exit halves -------------------------------------------------------------------------

    def entry(self, call: Call) -> str:
        """The text after ``name(`` printed at entry (ends with ``, `` when more follows)."""
        spec = LAYOUTS.get(call.name)
        if spec is None:
            layout: Layout = tuple(Arg(fmt_hex, i) for i in range(NARGS.get(call.name, 6)))
        elif callable(spec):
            layout = spec(self, call)
        else:
            layout = spec
        call.layout = layout
        split = next((i for i, a in enumerate(layout) if a.out), len(layout))
        call.split = split
        parts = [self._one(a, call, None) for a in layout[:split]]
        text = ", ".join(parts)
        if split < len(layout) and parts:
            text += ", "
        return text

    def decoded_at_entry(self, call: Call) -> bool:
        """strace's RVAL_DECODED: nothing is left to print at exit but ``)`` and the return."""
        return call.split >= len(call.layout)

    def exit(self, call: Call, rval: int) -> tuple[str, str]:
        """(the rest of the arguments, the return value text after ``= ``)."""
        rest = ", ".join(self._one(a, call, rval) for a in call.layout[call.split :])
        return rest, self.retval(call, rval)

    def _one(self, arg: Arg, call: Call, rval: int | None) -> str:
        try:
            return arg.fmt(self, call, call.args[arg.index], rval)
        except (OSError, ValueError, struct.error, IndexError, KeyError):
            return fmt_ptr(self, call, call.args[arg.index], rval)

    # return values ------------------------------------------------------------------------------

    def retval(self, call: Call, rval: int) -> str:
        if -4096 < rval < 0:
            return n.errno_text(-rval)
        kind = RETURNS.get(call.name)
        if kind is None:
            extra = RET_EXTRA.get(call.name)
            return f"{rval} {extra(self, call, rval)}".rstrip() if extra else str(rval)
        if kind == "fd":
            # A new fd, maybe a number just closed elsewhere: never a stale name.
            self.fds.forget(call.tgid, rval)
            return self.fds.fd(call.tid, call.tgid, rval)
        if kind == "hex":
            return hex(rval & 0xFFFFFFFFFFFFFFFF)
        if kind == "fcntl":
            return _fcntl_ret(self, call, rval)
        return str(rval)

    def after(self, call: Call, rval: int) -> None:
        """Keep the fd-name cache true: what the call closed, replaced or created."""
        name = call.name
        tg = call.tgid
        fds = self.fds
        if rval < 0 and rval > -4096:
            if name == "close":
                fds.forget(tg, _s32(call.args[0]))  # closed even when close fails (EINTR)
            return
        if name == "close":
            fds.forget(tg, _s32(call.args[0]))
        elif name in ("dup2", "dup3"):
            fds.forget(tg, _s32(call.args[1]))
        elif name in ("execve", "execveat"):
            fds.forget_group(tg)
        elif name in ("chdir", "fchdir"):
            fds.forget_cwd(tg)
        elif name in _RENAMES:
            # An open fd's path follows a rename, or gains " (deleted)": read them afresh.
            fds.forget_group(tg)
        elif name in ("pipe", "pipe2", "socketpair"):
            for fd in call.saved.get("fds", ()):
                fds.forget(tg, fd)
        elif name == "recvmsg":
            fds.forget_group(tg)  # SCM_RIGHTS may have brought in fds
        elif name in ("connect", "bind", "listen", "shutdown", "accept", "accept4", "sendto"):
            fds.forget(tg, _s32(call.args[0]))
        if RETURNS.get(name) == "fd" or (name == "fcntl" and call.args[1] in (0, 1030)):
            fds.forget(tg, rval)


_RENAMES = frozenset({"rename", "renameat", "renameat2", "unlink", "unlinkat", "rmdir"})


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def _s64(v: int) -> int:
    return v - (1 << 64) if v & (1 << 63) else v


def _failed(rval: int | None) -> bool:
    return rval is not None and -4096 < rval < 0


# --- argument formats ------------------------------------------------------------------------


def fmt_int(d: Decoder, c: Call, v: int, r: int | None) -> str:
    return str(_s32(v))


def fmt_uint(d: Decoder, c: Call, v: int, r: int | None) -> str:
    return str(v & 0xFFFFFFFF)


def fmt_ulong(d: Decoder, c: Call, v: int, r: int | None) -> str:
    return str(v)


def fmt_hex(d: Decoder, c: Call, v: int, r: int | None) -> str:
    return hex(v) if v else "0"


def ptr_text(v: int) -> str:
    return hex(v) if v else "NULL"


def fmt_ptr(d: Decoder, c: Call, v: int, r: int | None) -> str:
    return hex(v) if v else "NULL"


def fmt_fd(d: Decoder, c: Call, v: int, r: int | None) -> str:
    return d.fds.fd(c.tid, c.tgid, _s32(v))


def fmt_dirfd(d: Decoder, c: Call, v: int, r: int | None) -> str:
    fd = _s32(v)
    if fd == n.AT_FDCWD:
        return d.fds.at_fdcwd(c.tid, c.tgid)
    return d.fds.fd(c.tid, c.tgid, fd)


def fmt_path(d: Decoder, c: Call, v: int, r: int | None) -> str:
    if not v:
        return "NULL"
    data, complete = d.mem.cstring(c.tid, v, PATH_MAX)
    if not data and not complete:
        return hex(v)
    return quote(data, not complete)


def fmt_str(d: Decoder, c: Call, v: int, r: int | None) -> str:
    """A NUL-terminated string cut at -s, like strace's printstr."""
    if not v:
        return "NULL"
    data, complete = d.mem.cstring(c.tid, v, d.strsize)
    if not data and not complete:
        return hex(v)
    return quote(data, not complete)


def _buf(d: Decoder, c: Call, addr: int, length: int) -> str:
    if not addr:
        return "NULL"
    if length <= 0:
        return '""'
    want = min(length, d.strsize)
    data = d.mem.read(c.tid, addr, want)
    if len(data) < want:
        return hex(addr)
    return quote(data, length > d.strsize)


def wbuf(count: int) -> Fmt:
    """A buffer the call reads: ``count`` is the index of its length argument."""

    def fmt(d: Decoder, c: Call, v: int, r: int | None) -> str:
        return _buf(d, c, v, c.args[count] & 0xFFFFFFFFFFFFFFFF)

    return fmt


def fmt_rbuf(d: Decoder, c: Call, v: int, r: int | None) -> str:
    """A buffer the call fills: as many bytes as it returned."""
    if r is None or _failed(r):
        return hex(v) if v else "NULL"
    return _buf(d, c, v, r)


def flags_of(table: n.Table, *, zero: str = "0", width: int = 32) -> Fmt:
    mask = (1 << width) - 1

    def fmt(d: Decoder, c: Call, v: int, r: int | None) -> str:
        return n.flags(v & mask, table, zero=zero)

    return fmt


def enum_of(table: dict[int, str], *, signed: bool = True) -> Fmt:
    def fmt(d: Decoder, c: Call, v: int, r: int | None) -> str:
        value = _s32(v) if signed else v & 0xFFFFFFFF
        return n.enum(value, table, signed=signed)

    return fmt


def fmt_oflags(d: Decoder, c: Call, v: int, r: int | None) -> str:
    return n.open_flags(v & 0xFFFFFFFF)


def fmt_oflags_noacc(d: Decoder, c: Call, v: int, r: int | None) -> str:
    return n.open_flags_noacc(v & 0xFFFFFFFF)


def fmt_mode(d: Decoder, c: Call, v: int, r: int | None) -> str:
    return n.umode(v & 0o7777)


def fmt_sig(d: Decoder, c: Call, v: int, r: int | None) -> str:
    return n.signame(_s32(v))


def fmt_off(d: Decoder, c: Call, v: int, r: int | None) -> str:
    return str(_s64(v))


def fmt_intptr(d: Decoder, c: Call, v: int, r: int | None) -> str:
    """``[16]``: an int the call reads or writes through a pointer."""
    if not v:
        return "NULL"
    if _failed(r):
        return hex(v)
    data = d.mem.read(c.tid, v, 4)
    if len(data) < 4:
        return hex(v)
    return f"[{struct.unpack('<i', data)[0]}]"


def _sockaddr(d: Decoder, c: Call, addr: int, length: int) -> str:
    if not addr:
        return "NULL"
    if length <= 0:
        return hex(addr)
    data = d.mem.read(c.tid, addr, min(length, 128))
    if len(data) < min(length, 2):
        return hex(addr)
    family = struct.unpack_from("<H", data)[0]
    fam = n.AF.get(family, str(family))
    if family == socket.AF_INET and len(data) >= 8:
        port = struct.unpack_from(">H", data, 2)[0]
        ip = socket.inet_ntop(socket.AF_INET, data[4:8])
        return f'{{sa_family=AF_INET, sin_port=htons({port}), sin_addr=inet_addr("{ip}")}}'
    if family == socket.AF_INET6 and len(data) >= 24:
        port = struct.unpack_from(">H", data, 2)[0]
        flow = struct.unpack_from(">I", data, 4)[0]
        ip = socket.inet_ntop(socket.AF_INET6, data[8:24])
        scope = struct.unpack_from("<I", data, 24)[0] if len(data) >= 28 else 0
        return (
            f"{{sa_family=AF_INET6, sin6_port=htons({port}), sin6_flowinfo=htonl({flow}), "
            f'inet_pton(AF_INET6, "{ip}", &sin6_addr), sin6_scope_id={scope}}}'
        )
    if family == socket.AF_UNIX:
        path = data[2:]
        if not path:
            return "{sa_family=AF_UNIX}"
        if path[:1] == b"\0":
            abstract = quote(path[1:].rstrip(b"\0"))
            return f"{{sa_family=AF_UNIX, sun_path=@{abstract}}}"
        named = quote(path.split(b"\0", 1)[0])
        return f"{{sa_family=AF_UNIX, sun_path={named}}}"
    if family == socket.AF_NETLINK and len(data) >= 12:
        pid, groups = struct.unpack_from("<II", data, 4)
        return f"{{sa_family=AF_NETLINK, nl_pid={pid}, nl_groups={groups:08x}}}"
    return f"{{sa_family={fam}, sa_data={quote(data[2:])}}}"


def sockaddr_in(length: int) -> Fmt:
    def fmt(d: Decoder, c: Call, v: int, r: int | None) -> str:
        return _sockaddr(d, c, v, c.args[length] & 0xFFFFFFFF)

    return fmt


def _socklen_at_entry(d: Decoder, c: Call, index: int) -> None:
    ptr = c.args[index]
    if ptr:
        data = d.mem.read(c.tid, ptr, 4)
        if len(data) == 4:
            c.saved["socklen"] = struct.unpack("<i", data)[0]


def sockaddr_out(lenptr: int) -> Fmt:
    """accept/getsockname/recvfrom: the address the kernel wrote, ``lenptr`` its length."""

    def fmt(d: Decoder, c: Call, v: int, r: int | None) -> str:
        if not v:
            return "NULL"
        if _failed(r):
            return hex(v)
        data = d.mem.read(c.tid, c.args[lenptr], 4)
        if len(data) < 4:
            return hex(v)
        got = struct.unpack("<i", data)[0]
        return _sockaddr(d, c, v, min(got, c.saved.get("socklen", got)))

    return fmt


def fmt_socklen_io(d: Decoder, c: Call, v: int, r: int | None) -> str:
    """``[16]`` or ``[110 => 2]``: the length in and out."""
    if not v:
        return "NULL"
    before = c.saved.get("socklen")
    data = d.mem.read(c.tid, v, 4)
    if len(data) < 4 or before is None:
        return hex(v)
    after = struct.unpack("<i", data)[0]
    if _failed(r) or after == before:
        return f"[{before}]"
    return f"[{before} => {after}]"


def _iov(d: Decoder, c: Call, addr: int, count: int, limit: int | None) -> str:
    if not addr:
        return "NULL"
    count = min(count, 1024)
    data = d.mem.read(c.tid, addr, 16 * count)
    if len(data) < 16 * count:
        return hex(addr)
    items = []
    left = limit
    for i in range(count):
        base, length = struct.unpack_from("<QQ", data, 16 * i)
        shown = length if left is None else max(0, min(length, left))
        if left is not None:
            left -= shown
        items.append(f"{{iov_base={_buf(d, c, base, shown)}, iov_len={length}}}")
        if i + 1 >= 32 and i + 1 < count:
            items.append("...")
            break
    return "[" + ", ".join(items) + "]"


def iov_in(count: int) -> Fmt:
    def fmt(d: Decoder, c: Call, v: int, r: int | None) -> str:
        return _iov(d, c, v, c.args[count] & 0xFFFFFFFF, None)

    return fmt


def iov_out(count: int) -> Fmt:
    def fmt(d: Decoder, c: Call, v: int, r: int | None) -> str:
        if r is None or _failed(r):
            return hex(v)
        return _iov(d, c, v, c.args[count] & 0xFFFFFFFF, r)

    return fmt


def _msghdr(d: Decoder, c: Call, addr: int, limit: int | None) -> str:
    data = d.mem.read(c.tid, addr, 56)
    if len(data) < 56:
        return hex(addr)
    name, namelen, iov, iovlen, _control, controllen, mflags = struct.unpack(
        "<QI4xQQQQi", data[:52]
    )
    sa = _sockaddr(d, c, name, namelen) if name else "NULL"
    return (
        f"{{msg_name={sa}, msg_namelen={namelen}, msg_iov={_iov(d, c, iov, iovlen, limit)}, "
        f"msg_iovlen={iovlen}, msg_controllen={controllen}, "
        f"msg_flags={n.flags(mflags & 0xFFFFFFFF, ())}}}"
    )


def fmt_msghdr_in(d: Decoder, c: Call, v: int, r: int | None) -> str:
    return _msghdr(d, c, v, None) if v else "NULL"


def fmt_msghdr_out(d: Decoder, c: Call, v: int, r: int | None) -> str:
    if r is None or _failed(r) or not v:
        return fmt_ptr(d, c, v, r)
    return _msghdr(d, c, v, r)


def fmt_fdpair(d: Decoder, c: Call, v: int, r: int | None) -> str:
    """pipe2/socketpair: ``[3<pipe:[1]>, 4<pipe:[1]>]``."""
    if _failed(r):
        return hex(v)
    data = d.mem.read(c.tid, v, 8)
    if len(data) < 8:
        return hex(v)
    a, b = struct.unpack("<ii", data)
    c.saved["fds"] = (a, b)
    d.fds.forget(c.tgid, a)
    d.fds.forget(c.tgid, b)
    return f"[{d.fds.fd(c.tid, c.tgid, a)}, {d.fds.fd(c.tid, c.tgid, b)}]"


def fmt_wstatus(d: Decoder, c: Call, v: int, r: int | None) -> str:
    if not v:
        return "NULL"
    if r is None or r <= 0:
        return hex(v)
    data = d.mem.read(c.tid, v, 4)
    if len(data) < 4:
        return hex(v)
    s = struct.unpack("<i", data)[0]
    if s & 0x7F == 0:
        return f"[{{WIFEXITED(s) && WEXITSTATUS(s) == {(s >> 8) & 0xFF}}}]"
    if s & 0xFF == 0x7F:
        return f"[{{WIFSTOPPED(s) && WSTOPSIG(s) == {n.signame((s >> 8) & 0xFF)}}}]"
    if s == 0xFFFF:
        return "[{WIFCONTINUED(s)}]"
    core = " && WCOREDUMP(s)" if s & 0x80 else ""
    return f"[{{WIFSIGNALED(s) && WTERMSIG(s) == {n.signame(s & 0x7F)}{core}}}]"


def siginfo_text(signo: int, code: int, fields: dict[str, int]) -> str:
    """``{si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=1, ...}`` from decoded fields."""
    sig = n.signame(signo)
    if code <= 0 or code == 0x80:
        cname = n.SI_CODES.get(code, str(code))
    elif signo == 17:
        cname = n.CLD_CODES.get(code, str(code))
    elif signo == 11:
        cname = n.SEGV_CODES.get(code, str(code))
    elif signo == 7:
        cname = n.BUS_CODES.get(code, str(code))
    elif signo == 5:
        cname = n.TRAP_CODES.get(code, str(code))
    elif signo == 29:
        cname = n.POLL_CODES.get(code, str(code))
    else:
        cname = str(code)
    head = f"si_signo={sig}, si_code={cname}"
    if code in (0, -6, -7):  # SI_USER, SI_TKILL: the sender
        return f"{{{head}, si_pid={fields['pid']}, si_uid={fields['uid']}}}"
    if code == -1:
        return (
            f"{{{head}, si_pid={fields['pid']}, si_uid={fields['uid']}, "
            f"si_int={_s32(fields['int'])}, si_ptr={ptr_text(fields['ptr'])}}}"
        )
    if signo == 17 and code > 0:
        status = fields["status"]
        st = str(status) if code == 1 else n.signame(status)
        return (
            f"{{{head}, si_pid={fields['pid']}, si_uid={fields['uid']}, si_status={st}, "
            f"si_utime={fields['utime']}, si_stime={fields['stime']}}}"
        )
    if signo in (4, 7, 8, 11) and code > 0:
        return f"{{{head}, si_addr={ptr_text(fields['addr'])}}}"
    return f"{{{head}}}"


def siginfo_fields(raw: bytes) -> tuple[int, int, dict[str, int]]:
    signo, _errno, code = struct.unpack_from("<iii", raw, 0)
    pid, uid = struct.unpack_from("<iI", raw, 16)
    status = struct.unpack_from("<i", raw, 24)[0]
    utime, stime = struct.unpack_from("<qq", raw, 32)
    sival = struct.unpack_from("<Q", raw, 24)[0]
    addr = struct.unpack_from("<Q", raw, 16)[0]
    fields = {
        "pid": pid,
        "uid": uid,
        "status": status,
        "utime": utime,
        "stime": stime,
        "int": sival,
        "ptr": sival,
        "addr": addr,
    }
    return signo, code, fields


def fmt_siginfo_out(d: Decoder, c: Call, v: int, r: int | None) -> str:
    if not v:
        return "NULL"
    if _failed(r):
        return hex(v)
    raw = d.mem.read(c.tid, v, 48)
    if len(raw) < 48:
        return hex(v)
    signo, code, fields = siginfo_fields(raw)
    if signo == 0:
        return "{}"
    return siginfo_text(signo, code, fields)


def fmt_argv(d: Decoder, c: Call, v: int, r: int | None) -> str:
    if not v:
        return "NULL"
    items: list[str] = []
    addr = v
    while len(items) <= MAX_ARGV:
        ptrs = d.mem.words(c.tid, addr, 32)
        if not ptrs:
            return hex(v) if not items else "[" + ", ".join(items) + "]"
        for p in ptrs:
            if p == 0:
                return "[" + ", ".join(items) + "]"
            if len(items) >= d.strsize:
                return "[" + ", ".join(items) + ", ...]"
            items.append(fmt_str(d, c, p, r))
        addr += 8 * len(ptrs)
    return "[" + ", ".join(items) + ", ...]"


def fmt_envp(d: Decoder, c: Call, v: int, r: int | None) -> str:
    if not v:
        return "NULL"
    count = 0
    addr = v
    while count < 1 << 16:
        ptrs = d.mem.words(c.tid, addr, 64)
        if not ptrs:
            break
        if 0 in ptrs:
            count += ptrs.index(0)
            break
        count += len(ptrs)
        addr += 8 * len(ptrs)
    return f"{v:#x} /* {count} vars */"


def fmt_sockopt_out(d: Decoder, c: Call, v: int, r: int | None) -> str:
    if not v:
        return "NULL"
    if _failed(r):
        return hex(v)
    got = d.mem.read(c.tid, c.args[4], 4)
    length = struct.unpack("<i", got)[0] if len(got) == 4 else 0
    if length == 4:
        data = d.mem.read(c.tid, v, 4)
        if len(data) == 4:
            return f"[{struct.unpack('<i', data)[0]}]"
    return _buf(d, c, v, length)


def fmt_sockopt_name(d: Decoder, c: Call, v: int, r: int | None) -> str:
    names = n.SOCKOPT_NAMES.get(_s32(c.args[1]), {})
    return n.enum(_s32(v), names, signed=True)


def fmt_sock_type(d: Decoder, c: Call, v: int, r: int | None) -> str:
    return n.sock_type(v & 0xFFFFFFFF)


def fmt_flock_op(d: Decoder, c: Call, v: int, r: int | None) -> str:
    return n.flock_op(v & 0xFFFFFFFF)


def fmt_futex_op(d: Decoder, c: Call, v: int, r: int | None) -> str:
    return n.futex_op(v & 0xFFFFFFFF)


def fmt_clone3(d: Decoder, c: Call, v: int, r: int | None) -> str:
    size = min(c.args[1], 88)
    data = d.mem.read(c.tid, v, size)
    if len(data) < 64:
        return hex(v)
    flg, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls = struct.unpack_from(
        "<8Q", data
    )
    parts = [f"flags={n.flags(flg, n.CLONE_FLAGS)}"]
    if flg & n.CLONE_PIDFD:
        parts.append(f"pidfd={fmt_ptr(d, c, pidfd, r)}")
    if flg & (n.CLONE_CHILD_SETTID | n.CLONE_CHILD_CLEARTID):
        parts.append(f"child_tid={fmt_ptr(d, c, child_tid, r)}")
    if flg & n.CLONE_PARENT_SETTID:
        parts.append(f"parent_tid={fmt_ptr(d, c, parent_tid, r)}")
    parts.append(f"exit_signal={n.signame(exit_signal)}")
    parts.append(f"stack={fmt_ptr(d, c, stack, r)}")
    parts.append(f"stack_size={stack_size:#x}")
    if flg & n.CLONE_SETTLS:
        parts.append(f"tls={fmt_ptr(d, c, tls, r)}")
    return "{" + ", ".join(parts) + "}"


# --- layouts ---------------------------------------------------------------------------------


def A(fmt: Fmt, index: int, out: bool = False) -> Arg:
    return Arg(fmt, index, out)


FD = fmt_fd
DIRFD = fmt_dirfd
PATH = fmt_path
INT = fmt_int
UINT = fmt_uint
ULONG = fmt_ulong
HEX = fmt_hex
PTR = fmt_ptr
OFF = fmt_off


def _open(d: Decoder, c: Call) -> Layout:
    base = (A(PATH, 0), A(fmt_oflags, 1))
    if c.args[1] & n.O_CREAT or c.args[1] & n.O_TMPFILE == n.O_TMPFILE:
        return (*base, A(fmt_mode, 2))
    return base


def _openat(d: Decoder, c: Call) -> Layout:
    base = (A(DIRFD, 0), A(PATH, 1), A(fmt_oflags, 2))
    if c.args[2] & n.O_CREAT or c.args[2] & n.O_TMPFILE == n.O_TMPFILE:
        return (*base, A(fmt_mode, 3))
    return base


def _fcntl(d: Decoder, c: Call) -> Layout:
    cmd = c.args[1] & 0xFFFFFFFF
    head = (A(FD, 0), A(enum_of(n.FCNTL_CMD), 1))
    if cmd in (1, 3, 9, 11, 1025, 1032, 1034):
        return head
    if cmd == 2:
        return (*head, A(flags_of(n.FD_FLAGS), 2))
    if cmd == 4:
        return (*head, A(fmt_oflags, 2))
    if cmd in (5, 36):
        return (*head, A(PTR, 2, True))
    if cmd in (6, 7, 37, 38):
        return (*head, A(PTR, 2))
    return (*head, A(INT, 2))


def _fcntl_ret(d: Decoder, c: Call, rval: int) -> str:
    cmd = c.args[1] & 0xFFFFFFFF
    if cmd in (0, 1030):
        d.fds.forget(c.tgid, rval)
        return d.fds.fd(c.tid, c.tgid, rval)
    if cmd == 3:
        return f"{rval:#x} (flags {n.open_flags(rval)})" if rval else "0"
    if cmd == 1:
        return f"{rval:#x} (flags {n.flags(rval, n.FD_FLAGS)})" if rval else "0"
    return str(rval)


def _futex(d: Decoder, c: Call) -> Layout:
    cmd = c.args[1] & 127
    head = (A(PTR, 0), A(fmt_futex_op, 1), A(INT, 2))
    if cmd in (0, 11):  # WAIT, WAIT_REQUEUE_PI
        return (*head, A(PTR, 3)) if cmd == 0 else (*head, A(PTR, 3), A(PTR, 4))
    if cmd in (1, 7):
        return head if cmd == 1 else head[:2]
    if cmd == 9:
        return (*head, A(PTR, 3), A(HEX, 5))
    if cmd == 10:
        return (*head, A(HEX, 5))
    if cmd == 3:
        return (*head, A(UINT, 3), A(PTR, 4))
    if cmd in (4, 12):
        return (*head, A(UINT, 3), A(PTR, 4), A(INT, 5))
    if cmd == 5:
        return (*head, A(UINT, 3), A(PTR, 4), A(HEX, 5))
    if cmd in (6, 13, 8):
        return (A(PTR, 0), A(fmt_futex_op, 1), A(PTR, 3))
    return (*head, A(HEX, 3), A(PTR, 4), A(HEX, 5))


def _clone(d: Decoder, c: Call) -> Layout:
    flg = c.args[0]
    out = [A(lambda d, c, v, r: f"child_stack={fmt_ptr(d, c, v, r)}", 1)]
    out.append(A(lambda d, c, v, r: f"flags={n.clone_flags(v)}", 0))
    if flg & (n.CLONE_PARENT_SETTID | n.CLONE_PIDFD):
        out.append(A(lambda d, c, v, r: f"parent_tid={fmt_ptr(d, c, v, r)}", 2))
    if flg & (n.CLONE_CHILD_SETTID | n.CLONE_CHILD_CLEARTID):
        out.append(A(lambda d, c, v, r: f"child_tidptr={fmt_ptr(d, c, v, r)}", 3))
    if flg & n.CLONE_SETTLS:
        out.append(A(lambda d, c, v, r: f"tls={fmt_ptr(d, c, v, r)}", 4))
    return tuple(out)


def _accept(d: Decoder, c: Call) -> Layout:
    _socklen_at_entry(d, c, 2)
    base = (A(FD, 0), A(sockaddr_out(2), 1, True), A(fmt_socklen_io, 2, True))
    if c.name == "accept4":
        return (*base, A(flags_of(n.SOCK_FLAGS), 3, True))
    return base


def _getname(d: Decoder, c: Call) -> Layout:
    _socklen_at_entry(d, c, 2)
    return (A(FD, 0), A(sockaddr_out(2), 1, True), A(fmt_socklen_io, 2, True))


def _recvfrom(d: Decoder, c: Call) -> Layout:
    _socklen_at_entry(d, c, 5)
    return (
        A(FD, 0),
        A(fmt_rbuf, 1, True),
        A(ULONG, 2, True),
        A(HEX, 3, True),
        A(sockaddr_out(5), 4, True),
        A(fmt_socklen_io, 5, True),
    )


def _ioctl(d: Decoder, c: Call) -> Layout:
    if c.args[1] & 0xFFFFFFFF in (0x5450, 0x5451):  # FIONCLEX, FIOCLEX take no argument
        return (A(FD, 0), A(HEX, 1))
    return (A(FD, 0), A(HEX, 1), A(PTR if c.args[2] > 4096 else HEX, 2, True))


SIG = fmt_sig

LAYOUTS: dict[str, Layout | LayoutFn] = {
    "read": (A(FD, 0), A(fmt_rbuf, 1, True), A(ULONG, 2, True)),
    "write": (A(FD, 0), A(wbuf(2), 1), A(ULONG, 2)),
    "open": _open,
    "openat": _openat,
    "creat": (A(PATH, 0), A(fmt_mode, 1)),
    "close": (A(FD, 0),),
    "stat": (A(PATH, 0), A(PTR, 1, True)),
    "lstat": (A(PATH, 0), A(PTR, 1, True)),
    "fstat": (A(FD, 0), A(PTR, 1, True)),
    "newfstatat": (A(DIRFD, 0), A(PATH, 1), A(PTR, 2, True), A(HEX, 3, True)),
    "statx": (
        A(DIRFD, 0),
        A(PATH, 1),
        A(HEX, 2),
        A(HEX, 3),
        A(PTR, 4, True),
    ),
    "poll": (A(PTR, 0), A(UINT, 1), A(INT, 2)),
    "ppoll": (A(PTR, 0), A(UINT, 1), A(PTR, 2), A(PTR, 3), A(ULONG, 4)),
    "lseek": (A(FD, 0), A(OFF, 1), A(UINT, 2)),
    "mmap": (
        A(PTR, 0),
        A(ULONG, 1),
        A(HEX, 2),
        A(HEX, 3),
        A(FD, 4),
        A(HEX, 5),
    ),
    "ioctl": _ioctl,
    "pread64": (A(FD, 0), A(fmt_rbuf, 1, True), A(ULONG, 2, True), A(OFF, 3, True)),
    "pwrite64": (A(FD, 0), A(wbuf(2), 1), A(ULONG, 2), A(OFF, 3)),
    "readv": (A(FD, 0), A(iov_out(2), 1, True), A(UINT, 2, True)),
    "writev": (A(FD, 0), A(iov_in(2), 1), A(UINT, 2)),
    "preadv": (A(FD, 0), A(iov_out(2), 1, True), A(UINT, 2, True), A(OFF, 3, True)),
    "pwritev": (A(FD, 0), A(iov_in(2), 1), A(UINT, 2), A(OFF, 3)),
    "preadv2": (
        A(FD, 0),
        A(iov_out(2), 1, True),
        A(UINT, 2, True),
        A(OFF, 3, True),
        A(HEX, 5, True),
    ),
    "pwritev2": (A(FD, 0), A(iov_in(2), 1), A(UINT, 2), A(OFF, 3), A(HEX, 5)),
    "access": (A(PATH, 0), A(HEX, 1)),
    "faccessat": (A(DIRFD, 0), A(PATH, 1), A(HEX, 2)),
    "faccessat2": (A(DIRFD, 0), A(PATH, 1), A(HEX, 2), A(HEX, 3)),
    "pipe": (A(fmt_fdpair, 0, True),),
    "pipe2": (A(fmt_fdpair, 0, True), A(fmt_oflags_noacc, 1, True)),
    "dup": (A(FD, 0),),
    "dup2": (A(FD, 0), A(FD, 1)),
    "dup3": (A(FD, 0), A(FD, 1), A(fmt_oflags_noacc, 2)),
    "nanosleep": (A(PTR, 0), A(PTR, 1, True)),
    "clock_nanosleep": (A(INT, 0), A(HEX, 1), A(PTR, 2), A(PTR, 3, True)),
    "sendfile": (A(FD, 0), A(FD, 1), A(PTR, 2), A(ULONG, 3)),
    "socket": (A(enum_of(n.AF), 0), A(fmt_sock_type, 1), A(INT, 2)),
    "connect": (A(FD, 0), A(sockaddr_in(2), 1), A(UINT, 2)),
    "bind": (A(FD, 0), A(sockaddr_in(2), 1), A(UINT, 2)),
    "listen": (A(FD, 0), A(INT, 1)),
    "accept": _accept,
    "accept4": _accept,
    "getsockname": _getname,
    "getpeername": _getname,
    "sendto": (
        A(FD, 0),
        A(wbuf(2), 1),
        A(ULONG, 2),
        A(HEX, 3),
        A(sockaddr_in(5), 4),
        A(UINT, 5),
    ),
    "recvfrom": _recvfrom,
    "sendmsg": (A(FD, 0), A(fmt_msghdr_in, 1), A(HEX, 2)),
    "recvmsg": (A(FD, 0), A(fmt_msghdr_out, 1, True), A(HEX, 2, True)),
    "shutdown": (A(FD, 0), A(INT, 1)),
    "socketpair": (
        A(enum_of(n.AF), 0),
        A(fmt_sock_type, 1),
        A(INT, 2),
        A(fmt_fdpair, 3, True),
    ),
    "setsockopt": (A(FD, 0), A(INT, 1), A(INT, 2), A(PTR, 3), A(UINT, 4)),
    "getsockopt": (
        A(FD, 0),
        A(enum_of(n.SOL), 1),
        A(fmt_sockopt_name, 2),
        A(fmt_sockopt_out, 3, True),
        A(fmt_intptr, 4, True),
    ),
    "clone": _clone,
    "clone3": (A(fmt_clone3, 0), A(ULONG, 1)),
    "fork": (),
    "vfork": (),
    "execve": (A(PATH, 0), A(fmt_argv, 1), A(fmt_envp, 2)),
    "execveat": (A(DIRFD, 0), A(PATH, 1), A(fmt_argv, 2), A(fmt_envp, 3), A(HEX, 4)),
    "exit": (A(INT, 0),),
    "exit_group": (A(INT, 0),),
    "wait4": (
        A(INT, 0),
        A(fmt_wstatus, 1, True),
        A(HEX, 2, True),
        A(PTR, 3, True),
    ),
    "waitid": (
        A(INT, 0),
        A(INT, 1),
        A(fmt_siginfo_out, 2, True),
        A(HEX, 3, True),
        A(PTR, 4, True),
    ),
    "kill": (A(INT, 0), A(SIG, 1)),
    "tkill": (A(INT, 0), A(SIG, 1)),
    "tgkill": (A(INT, 0), A(INT, 1), A(SIG, 2)),
    "rt_sigqueueinfo": (A(INT, 0), A(SIG, 1), A(PTR, 2)),
    "rt_tgsigqueueinfo": (A(INT, 0), A(INT, 1), A(SIG, 2), A(PTR, 3)),
    "pidfd_send_signal": (A(FD, 0), A(SIG, 1), A(PTR, 2), A(UINT, 3)),
    "pidfd_open": (A(INT, 0), A(UINT, 1)),
    "pidfd_getfd": (A(FD, 0), A(INT, 1), A(UINT, 2)),
    "fcntl": _fcntl,
    "flock": (A(FD, 0), A(fmt_flock_op, 1)),
    "fsync": (A(FD, 0),),
    "fdatasync": (A(FD, 0),),
    "syncfs": (A(FD, 0),),
    "truncate": (A(PATH, 0), A(OFF, 1)),
    "ftruncate": (A(FD, 0), A(OFF, 1)),
    "fallocate": (A(FD, 0), A(HEX, 1), A(OFF, 2), A(OFF, 3)),
    "fadvise64": (A(FD, 0), A(OFF, 1), A(OFF, 2), A(INT, 3)),
    "readahead": (A(FD, 0), A(OFF, 1), A(ULONG, 2)),
    "getdents": (A(FD, 0), A(PTR, 1, True), A(UINT, 2, True)),
    "getdents64": (A(FD, 0), A(PTR, 1, True), A(UINT, 2, True)),
    "getcwd": (A(PTR, 0, True), A(ULONG, 1, True)),
    "chdir": (A(PATH, 0),),
    "fchdir": (A(FD, 0),),
    "chroot": (A(PATH, 0),),
    "rename": (A(PATH, 0), A(PATH, 1)),
    "renameat": (A(DIRFD, 0), A(PATH, 1), A(DIRFD, 2), A(PATH, 3)),
    "renameat2": (A(DIRFD, 0), A(PATH, 1), A(DIRFD, 2), A(PATH, 3), A(HEX, 4)),
    "mkdir": (A(PATH, 0), A(fmt_mode, 1)),
    "mkdirat": (A(DIRFD, 0), A(PATH, 1), A(fmt_mode, 2)),
    "rmdir": (A(PATH, 0),),
    "link": (A(PATH, 0), A(PATH, 1)),
    "linkat": (A(DIRFD, 0), A(PATH, 1), A(DIRFD, 2), A(PATH, 3), A(HEX, 4)),
    "unlink": (A(PATH, 0),),
    "unlinkat": (A(DIRFD, 0), A(PATH, 1), A(HEX, 2)),
    "symlink": (A(PATH, 0), A(PATH, 1)),
    "symlinkat": (A(PATH, 0), A(DIRFD, 1), A(PATH, 2)),
    "readlink": (A(PATH, 0), A(PTR, 1, True), A(ULONG, 2, True)),
    "readlinkat": (A(DIRFD, 0), A(PATH, 1), A(PTR, 2, True), A(ULONG, 3, True)),
    "chmod": (A(PATH, 0), A(fmt_mode, 1)),
    "fchmod": (A(FD, 0), A(fmt_mode, 1)),
    "fchmodat": (A(DIRFD, 0), A(PATH, 1), A(fmt_mode, 2)),
    "fchmodat2": (A(DIRFD, 0), A(PATH, 1), A(fmt_mode, 2), A(HEX, 3)),
    "chown": (A(PATH, 0), A(INT, 1), A(INT, 2)),
    "lchown": (A(PATH, 0), A(INT, 1), A(INT, 2)),
    "fchown": (A(FD, 0), A(INT, 1), A(INT, 2)),
    "fchownat": (A(DIRFD, 0), A(PATH, 1), A(INT, 2), A(INT, 3), A(HEX, 4)),
    "utime": (A(PATH, 0), A(PTR, 1)),
    "utimes": (A(PATH, 0), A(PTR, 1)),
    "futimesat": (A(DIRFD, 0), A(PATH, 1), A(PTR, 2)),
    "utimensat": (A(DIRFD, 0), A(PATH, 1), A(PTR, 2), A(HEX, 3)),
    "mknod": (A(PATH, 0), A(HEX, 1), A(HEX, 2)),
    "mknodat": (A(DIRFD, 0), A(PATH, 1), A(HEX, 2), A(HEX, 3)),
    "statfs": (A(PATH, 0), A(PTR, 1, True)),
    "fstatfs": (A(FD, 0), A(PTR, 1, True)),
    "futex": _futex,
    "epoll_create": (A(INT, 0),),
    "epoll_create1": (A(HEX, 0),),
    "epoll_ctl": (A(FD, 0), A(INT, 1), A(FD, 2), A(PTR, 3)),
    "epoll_wait": (A(FD, 0), A(PTR, 1, True), A(INT, 2, True), A(INT, 3, True)),
    "epoll_pwait": (
        A(FD, 0),
        A(PTR, 1, True),
        A(INT, 2, True),
        A(INT, 3, True),
        A(PTR, 4, True),
        A(ULONG, 5, True),
    ),
    "epoll_pwait2": (
        A(FD, 0),
        A(PTR, 1, True),
        A(INT, 2, True),
        A(PTR, 3, True),
        A(PTR, 4, True),
        A(ULONG, 5, True),
    ),
    "eventfd": (A(UINT, 0),),
    "eventfd2": (A(UINT, 0), A(HEX, 1)),
    "timerfd_create": (A(INT, 0), A(HEX, 1)),
    "inotify_init": (),
    "inotify_init1": (A(HEX, 0),),
    "inotify_add_watch": (A(FD, 0), A(PATH, 1), A(HEX, 2)),
    "inotify_rm_watch": (A(FD, 0), A(INT, 1)),
    "memfd_create": (A(fmt_str, 0), A(HEX, 1)),
    "openat2": (A(DIRFD, 0), A(PATH, 1), A(PTR, 2), A(ULONG, 3)),
    "splice": (A(FD, 0), A(PTR, 1), A(FD, 2), A(PTR, 3), A(ULONG, 4), A(HEX, 5)),
    "tee": (A(FD, 0), A(FD, 1), A(ULONG, 2), A(HEX, 3)),
    "vmsplice": (A(FD, 0), A(PTR, 1), A(ULONG, 2), A(HEX, 3)),
    "copy_file_range": (A(FD, 0), A(PTR, 1), A(FD, 2), A(PTR, 3), A(ULONG, 4), A(HEX, 5)),
    "sync_file_range": (A(FD, 0), A(OFF, 1), A(OFF, 2), A(HEX, 3)),
    "select": (A(INT, 0), A(PTR, 1), A(PTR, 2), A(PTR, 3), A(PTR, 4)),
    "pselect6": (A(INT, 0), A(PTR, 1), A(PTR, 2), A(PTR, 3), A(PTR, 4), A(PTR, 5)),
    "setns": (A(FD, 0), A(HEX, 1)),
    "fgetxattr": (A(FD, 0), A(fmt_str, 1), A(PTR, 2, True), A(ULONG, 3, True)),
    "getxattr": (A(PATH, 0), A(fmt_str, 1), A(PTR, 2, True), A(ULONG, 3, True)),
    "lgetxattr": (A(PATH, 0), A(fmt_str, 1), A(PTR, 2, True), A(ULONG, 3, True)),
    "mount": (A(fmt_str, 0), A(PATH, 1), A(fmt_str, 2), A(HEX, 3), A(PTR, 4)),
    "umount2": (A(PATH, 0), A(HEX, 1)),
}

#: arguments strace prints for the calls with no layout above (as hex), from its syscall table
NARGS: dict[str, int] = {
    "sendmmsg": 4,
    "recvmmsg": 5,
    "mq_open": 4,
    "mq_timedsend": 5,
    "mq_timedreceive": 5,
    "mq_getsetattr": 3,
    "signalfd": 3,
    "signalfd4": 4,
    "timerfd_settime": 4,
    "timerfd_gettime": 2,
    "perf_event_open": 5,
    "fanotify_init": 2,
    "fanotify_mark": 5,
    "name_to_handle_at": 5,
    "open_by_handle_at": 3,
    "finit_module": 3,
    "kexec_file_load": 5,
    "bpf": 3,
    "userfaultfd": 1,
    "io_uring_setup": 2,
    "io_uring_enter": 6,
    "io_uring_register": 4,
    "open_tree": 3,
    "move_mount": 5,
    "fsopen": 2,
    "fsconfig": 5,
    "fsmount": 3,
    "fspick": 3,
    "process_madvise": 5,
    "mount_setattr": 5,
    "quotactl_fd": 4,
    "landlock_create_ruleset": 3,
    "landlock_add_rule": 4,
    "landlock_restrict_self": 2,
    "memfd_secret": 1,
    "process_mrelease": 2,
    "uselib": 1,
    "pivot_root": 2,
    "acct": 1,
    "swapon": 2,
    "swapoff": 1,
    "quotactl": 4,
    "getpmsg": 5,
    "putpmsg": 5,
    "setxattr": 5,
    "lsetxattr": 5,
    "fsetxattr": 5,
    "listxattr": 3,
    "llistxattr": 3,
    "flistxattr": 3,
    "removexattr": 2,
    "lremovexattr": 2,
    "fremovexattr": 2,
}

#: return values printed as an fd (``= 3</path>``), in hex, or by a special rule
RETURNS: dict[str, str] = {
    **dict.fromkeys(
        [
            "open",
            "openat",
            "openat2",
            "creat",
            "socket",
            "accept",
            "accept4",
            "dup",
            "dup2",
            "dup3",
            "epoll_create",
            "epoll_create1",
            "eventfd",
            "eventfd2",
            "signalfd",
            "signalfd4",
            "timerfd_create",
            "inotify_init",
            "inotify_init1",
            "memfd_create",
            "pidfd_open",
            "pidfd_getfd",
            "fanotify_init",
            "userfaultfd",
            "perf_event_open",
            "open_by_handle_at",
            "io_uring_setup",
            "fsopen",
            "fsmount",
            "fspick",
            "open_tree",
            "mq_open",
            "memfd_secret",
            "landlock_create_ruleset",
        ],
        "fd",
    ),
    "mmap": "hex",
    "fcntl": "fcntl",
}


def _timeout_extra(d: Decoder, c: Call, rval: int) -> str:
    return "(Timeout)" if rval == 0 else ""


RET_EXTRA: dict[str, Callable[[Decoder, Call, int], str]] = {
    "poll": _timeout_extra,
    "ppoll": _timeout_extra,
    "select": _timeout_extra,
    "pselect6": _timeout_extra,
}
