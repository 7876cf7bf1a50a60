"""dtruss (macOS DTrace) output -> the events frame of :mod:`gotrace.model.events`.

dtruss is a shell script around a D program; everything it prints goes to stderr. One
line per call, printed when the call *returns* (``syscall:::return``)::

    SYSCALL(args) \\t\\t = return                                  header, no flags
    \\tPID/THRD  RELATIVE  ELAPSD    CPU SYSCALL(args) \\t\\t = return   header, -l -d -e -o
    stat64("/AppleInternal\\0", 0x7FFEED20E350, 0x0)\\t\\t = -1 Err#2
    " 3734/0x5f21:      1234      41     26 write_nocancel(0x1, "hi\\n\\0", 0x3)\\t\\t = 3 0"
    " 3735/0x5f3a:      1301:        0:       0 fork()\\t\\t = 0 0"   child's first call (-f)
    " 27547/1:  llseek(0x3F, 0xE4E, 0x0)\\t\\t = 3662 0"           Solaris: decimal lwp id

The returned frame has exactly the columns and types of ``EVENT_SCHEMA``, so the rest
of gotrace reads it unchanged. How dtruss's fields land in it:

- ``pid`` is the **process** id (``3734`` of ``3734/0x5f21``), not the thread id: macOS
  thread ids are system-wide numbers that no fork or clone in the log ever returns, so
  as pids they would split one process into many. Lines without a prefix get the pid of
  their run (the first prefixed pid, else what an unprefixed ``getpid()`` returned, else 0).
- ``extra`` keeps what dtruss printed besides the call, as ``key=value`` words:
  ``tid=0x5f21`` (macOS thread, hex as printed) or ``lwp=1`` (Solaris),
  ``relative_us=`` (``-d``: the *thread's on-CPU* µs, ``vtimestamp``; not wall time),
  ``cpu_us=`` (``-o``: on-CPU µs in the call), and ``synthetic`` on the ``fork()``/``vfork()``
  line dtruss makes up when a child first appears (its times are printed as ``N:``).
- ``duration`` = ELAPSD (``-e``, wall-clock µs in the call) / 1e6; null without ``-e`` and on
  synthetic lines. ``ts``/``end_ts`` are always null: dtruss prints no wall clock.
- ``ret`` is the return as printed (``12``, ``-1``, ``0xFFBFFEFF``), ``retval`` its number; a
  failed call's hex ``0xFFFFFFFF`` (``(int)-1`` printed with ``%X``) gives -1.
- ``Err#N`` -> ``errno``/``errmsg`` from the BSD table below (``Err#35`` is ``EAGAIN`` on macOS,
  not ``EDEADLK``); ``Err#-1`` is the kernel's ``ERESTART`` (an interrupted call). Solaris
  logs (``PID/LWP``) map only the numbers every Unix shares (1-10, 12-34); others stay ``Err#N``.
- ``args`` is the text exactly as printed. dtruss prints strings with ``%S`` and a literal
  ``\\0`` at the end (``"/etc/hosts\\0"``); :func:`decode_dtruss_string` decodes and drops it.
  read/write buffers are ``copyin(buf, RET)`` and may show stale bytes past the real length.
  ``fd``/``fd_target`` stay null: dtruss prints fds as bare hex (``0x3``), like strace without -y.
- ``-s`` stack frames (indented ``module`func+0x1f`` lines between blank lines) go into the
  ``stack`` of the call printed before them, newline-joined.
- ``kind`` is ``syscall``, ``notice`` or ``parse_error``; ``in_flight`` is always False (see
  :data:`LIMITATIONS`). Notices: header lines, ``dtrace: ...`` messages (SIP, probe errors,
  ``N dynamic variable drops`` -- events were lost), and the ``-c`` CALL/COUNT table. Any
  other line -- the traced program's own stderr, which shares dtruss's, a pasted shell
  prompt, ``...snip...`` -- is a ``parse_error`` with a reason. Blank lines make no event.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import polars as pl

from gotrace.errors import GotraceError
from gotrace.model.events import EVENT_SCHEMA, TraceParseError, empty_frame
from gotrace.parsers.args import CString, decode_string
from gotrace.parsers.base import is_dtruss as is_dtruss
from gotrace.parsers.base import read_chunks

#: what a dtruss trace cannot show; reporters print these next to a dtruss diagnosis
LIMITATIONS: tuple[str, ...] = (
    "dtruss prints lines only when a call returns: a call still blocked is invisible",
    "SIP hides Apple-signed binaries such as /usr/bin/git",
)

#: macOS errno numbers (xnu bsd/sys/errno.h) -> (name, strerror text). Negative numbers
#: are kernel-internal codes that dtrace can see at syscall return.
BSD_ERRNO: dict[int, tuple[str, str]] = {
    -2: ("EJUSTRETURN", "Don't modify registers, just return"),
    -1: ("ERESTART", "Restart syscall"),
    1: ("EPERM", "Operation not permitted"),
    2: ("ENOENT", "No such file or directory"),
    3: ("ESRCH", "No such process"),
    4: ("EINTR", "Interrupted system call"),
    5: ("EIO", "Input/output error"),
    6: ("ENXIO", "Device not configured"),
    7: ("E2BIG", "Argument list too long"),
    8: ("ENOEXEC", "Exec format error"),
    9: ("EBADF", "Bad file descriptor"),
    10: ("ECHILD", "No child processes"),
    11: ("EDEADLK", "Resource deadlock avoided"),
    12: ("ENOMEM", "Cannot allocate memory"),
    13: ("EACCES", "Permission denied"),
    14: ("EFAULT", "Bad address"),
    15: ("ENOTBLK", "Block device required"),
    16: ("EBUSY", "Resource busy"),
    17: ("EEXIST", "File exists"),
    18: ("EXDEV", "Cross-device link"),
    19: ("ENODEV", "Operation not supported by device"),
    20: ("ENOTDIR", "Not a directory"),
    21: ("EISDIR", "Is a directory"),
    22: ("EINVAL", "Invalid argument"),
    23: ("ENFILE", "Too many open files in system"),
    24: ("EMFILE", "Too many open files"),
    25: ("ENOTTY", "Inappropriate ioctl for device"),
    26: ("ETXTBSY", "Text file busy"),
    27: ("EFBIG", "File too large"),
    28: ("ENOSPC", "No space left on device"),
    29: ("ESPIPE", "Illegal seek"),
    30: ("EROFS", "Read-only file system"),
    31: ("EMLINK", "Too many links"),
    32: ("EPIPE", "Broken pipe"),
    33: ("EDOM", "Numerical argument out of domain"),
    34: ("ERANGE", "Result too large"),
    35: ("EAGAIN", "Resource temporarily unavailable"),
    36: ("EINPROGRESS", "Operation now in progress"),
    37: ("EALREADY", "Operation already in progress"),
    38: ("ENOTSOCK", "Socket operation on non-socket"),
    39: ("EDESTADDRREQ", "Destination address required"),
    40: ("EMSGSIZE", "Message too long"),
    41: ("EPROTOTYPE", "Protocol wrong type for socket"),
    42: ("ENOPROTOOPT", "Protocol not available"),
    43: ("EPROTONOSUPPORT", "Protocol not supported"),
    44: ("ESOCKTNOSUPPORT", "Socket type not supported"),
    45: ("ENOTSUP", "Operation not supported"),
    46: ("EPFNOSUPPORT", "Protocol family not supported"),
    47: ("EAFNOSUPPORT", "Address family not supported by protocol family"),
    48: ("EADDRINUSE", "Address already in use"),
    49: ("EADDRNOTAVAIL", "Can't assign requested address"),
    50: ("ENETDOWN", "Network is down"),
    51: ("ENETUNREACH", "Network is unreachable"),
    52: ("ENETRESET", "Network dropped connection on reset"),
    53: ("ECONNABORTED", "Software caused connection abort"),
    54: ("ECONNRESET", "Connection reset by peer"),
    55: ("ENOBUFS", "No buffer space available"),
    56: ("EISCONN", "Socket is already connected"),
    57: ("ENOTCONN", "Socket is not connected"),
    58: ("ESHUTDOWN", "Can't send after socket shutdown"),
    59: ("ETOOMANYREFS", "Too many references: can't splice"),
    60: ("ETIMEDOUT", "Operation timed out"),
    61: ("ECONNREFUSED", "Connection refused"),
    62: ("ELOOP", "Too many levels of symbolic links"),
    63: ("ENAMETOOLONG", "File name too long"),
    64: ("EHOSTDOWN", "Host is down"),
    65: ("EHOSTUNREACH", "No route to host"),
    66: ("ENOTEMPTY", "Directory not empty"),
    67: ("EPROCLIM", "Too many processes"),
    68: ("EUSERS", "Too many users"),
    69: ("EDQUOT", "Disc quota exceeded"),
    70: ("ESTALE", "Stale NFS file handle"),
    71: ("EREMOTE", "Too many levels of remote in path"),
    72: ("EBADRPC", "RPC struct is bad"),
    73: ("ERPCMISMATCH", "RPC version wrong"),
    74: ("EPROGUNAVAIL", "RPC prog. not avail"),
    75: ("EPROGMISMATCH", "Program version wrong"),
    76: ("EPROCUNAVAIL", "Bad procedure for program"),
    77: ("ENOLCK", "No locks available"),
    78: ("ENOSYS", "Function not implemented"),
    79: ("EFTYPE", "Inappropriate file type or format"),
    80: ("EAUTH", "Authentication error"),
    81: ("ENEEDAUTH", "Need authenticator"),
    82: ("EPWROFF", "Device power is off"),
    83: ("EDEVERR", "Device error"),
    84: ("EOVERFLOW", "Value too large to be stored in data type"),
    85: ("EBADEXEC", "Bad executable (or shared library)"),
    86: ("EBADARCH", "Bad CPU type in executable"),
    87: ("ESHLIBVERS", "Shared library version mismatch"),
    88: ("EBADMACHO", "Malformed Mach-o file"),
    89: ("ECANCELED", "Operation canceled"),
    90: ("EIDRM", "Identifier removed"),
    91: ("ENOMSG", "No message of desired type"),
    92: ("EILSEQ", "Illegal byte sequence"),
    93: ("ENOATTR", "Attribute not found"),
    94: ("EBADMSG", "Bad message"),
    95: ("EMULTIHOP", "EMULTIHOP (Reserved)"),
    96: ("ENODATA", "No message available on STREAM"),
    97: ("ENOLINK", "ENOLINK (Reserved)"),
    98: ("ENOSR", "No STREAM resources"),
    99: ("ENOSTR", "Not a STREAM"),
    100: ("EPROTO", "Protocol error"),
    101: ("ETIME", "STREAM ioctl timeout"),
    102: ("EOPNOTSUPP", "Operation not supported on socket"),
    103: ("ENOPOLICY", "Policy not found"),
    104: ("ENOTRECOVERABLE", "State not recoverable"),
    105: ("EOWNERDEAD", "Previous owner died"),
    106: ("EQFULL", "Interface output queue is full"),
}
# Solaris numbers agree with BSD's only for the original V7 set (11 is EAGAIN there).
_SOLARIS_SHARED = frozenset(range(1, 35)) - {11}

_ID_COLUMNS = ("PID/THRD", "PID/LWP")
_TIME_COLUMNS = {"RELATIVE": "relative_us", "ELAPSD": "elapsed_us", "CPU": "cpu_us"}
# Apple DTTk/dtruss prints PID/THRD, RELATIVE, ELAPSD, CPU; TritonDataCenter/dtruss-osx
# prints ELAPSD, RELATIVE, PID/THRD, CPU. Without a header, assume Apple's order.
_APPLE_ORDER = ("relative_us", "elapsed_us", "cpu_us")

# "\tPID/THRD  RELATIVE  ELAPSD    CPU SYSCALL(args) \t\t = return"
_HEADER_RE = re.compile(
    r"^\s*(?P<cols>(?:(?:PID/THRD|PID/LWP|RELATIVE|ELAPSD|CPU)\s+)*)SYSCALL\(args\)\s+= return\s*$"
)
# The optional fields before the call: "%5d/0x%x:  " (Solaris "%5d/%d:  "), "%8d ",
# "%7d ", "%6d " -- or "%8d:  "/"%7d:  " on the synthetic fork line.
_LEAD_TOKEN = r"(?:\d+/(?:0x[0-9a-fA-F]+|\d+):|\d+:?)"
# "NAME(ARGS)\t\t = RET ERR": RET is %d or 0x%X, ERR is "0" or "Err#N". Anchored at the
# end, so a ") = " inside a string argument is never taken for the return.
_CALL_RE = re.compile(
    r"^\s*(?P<lead>(?:" + _LEAD_TOKEN + r"\s+)*)"
    r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)\((?P<args>.*)\)\s+= "
    r"(?P<ret>-?\d+|0x[0-9A-Fa-f]+) (?P<err>Err#-?\d+|-?\d+)\s*$"
)
_PID_TOKEN_RE = re.compile(r"^(?P<pid>\d+)/(?P<tid>0x[0-9a-fA-F]+|\d+):$")
# "dtrace: system integrity protection is on, ...", "dtrace: 1367 dynamic variable drops ..."
_DTRACE_RE = re.compile(r"^\s*dtrace: .*$")
# -c: printf("\n%-32s %16s\n", "CALL", "COUNT"), then printa("%-32s %@16d\n", @Counts)
_TABLE_HEAD_RE = re.compile(r"^CALL\s+COUNT\s*$")
_TABLE_ROW_RE = re.compile(r"^[A-Za-z_]\w*\s+\d+\s*$")
# -s: ustack() frames, indented: "              libsystem_kernel.dylib`__open+0xa", "0x7fff5fc01028"
_FRAME_RE = re.compile(r"^\s+(?P<frame>[^\s`]+`\S+|0x[0-9a-fA-F]+)\s*$")
NOT_DTRUSS = "not dtruss output (the traced program's stderr, or text added to the log)"


def decode_dtruss_string(arg: str) -> CString | None:
    """``"/etc/hosts\\0"`` -> b"/etc/hosts": :func:`decode_string` without dtruss's ``\\0``."""
    s = decode_string(arg)
    if s is None or not s.value.endswith(b"\0"):
        return s
    return CString(s.value[:-1], s.truncated)


@dataclass
class _Layout:
    """What the current header says: which time fields, in which order, and the dialect."""

    times: tuple[str, ...] | None = None  # None until a header is seen
    solaris: bool = False


@dataclass
class _Reader:
    source: str | None
    strict: bool
    rows: list[dict[str, Any]] = field(default_factory=list)
    layout: _Layout = field(default_factory=_Layout)
    segment: int = 0
    segment_has_calls: bool = False
    in_table: bool = False
    stack_owner: int | None = None  # row index of the call that -s frames belong to

    def feed(self, line_no: int, text: str) -> None:
        if not text.strip():
            return  # blank: separates -s stacks and the -c table; no event
        owner, self.stack_owner = self.stack_owner, None
        header = _HEADER_RE.match(text)
        if header:
            self._header(line_no, text, header.group("cols").split())
            return
        call = _CALL_RE.match(text)
        if call:
            self.in_table = False
            self._call(line_no, call)
            self.stack_owner = len(self.rows) - 1
            return
        if _DTRACE_RE.match(text):
            self._notice(line_no, text)
            return
        if _TABLE_HEAD_RE.match(text) or (self.in_table and _TABLE_ROW_RE.match(text)):
            self.in_table = True
            self._notice(line_no, text)
            return
        self.in_table = False
        frame = _FRAME_RE.match(text)
        if frame and owner is not None:
            row = self.rows[owner]
            row["stack"] = "\n".join(filter(None, (row["stack"], frame.group("frame"))))
            self.stack_owner = owner
            return
        self._error(line_no, text, NOT_DTRUSS)

    def _header(self, line_no: int, text: str, cols: list[str]) -> None:
        if self.segment_has_calls:
            # A second header starts another dtruss run (logs of two runs appended).
            self.segment += 1
            self.segment_has_calls = False
        self.layout = _Layout(
            times=tuple(_TIME_COLUMNS[c] for c in cols if c not in _ID_COLUMNS),
            solaris="PID/LWP" in cols,
        )
        self.in_table = False
        self._notice(line_no, text)

    def _call(self, line_no: int, m: re.Match[str]) -> None:
        pid: int | None = None
        words: list[str] = []
        numbers: list[int] = []
        synthetic = False
        solaris = self.layout.solaris
        for token in m.group("lead").split():
            ident = _PID_TOKEN_RE.match(token)
            if ident:
                pid = int(ident.group("pid"))
                tid = ident.group("tid")
                solaris = solaris or not tid.startswith("0x")
                words.append(f"tid={tid}" if tid.startswith("0x") else f"lwp={tid}")
                continue
            synthetic = synthetic or token.endswith(":")
            numbers.append(int(token.rstrip(":")))
        times = self._label_times(numbers, words)
        # On the synthetic fork line only RELATIVE is real; ELAPSD and CPU are printed as 0.
        for key in ("relative_us",) if synthetic else ("relative_us", "cpu_us"):
            if key in times:
                words.append(f"{key}={times[key]}")
        if synthetic:
            words.append("synthetic")
        elapsed = times.get("elapsed_us")
        ret = m.group("ret")
        errno, errmsg, err_no = _errno(m.group("err"), solaris)
        retval = int(ret, 16) if ret.startswith("0x") else int(ret)
        if err_no and ret.startswith("0x") and retval in (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):
            retval = -1
        self.segment_has_calls = True
        self._add(
            line_no,
            kind="syscall",
            pid=pid,
            syscall=m.group("name"),
            args=m.group("args"),
            ret=ret,
            retval=retval,
            errno=errno,
            errmsg=errmsg,
            extra=" ".join(words) or None,
            duration=None if (synthetic or elapsed is None) else elapsed / 1e6,
        )

    def _label_times(self, numbers: list[int], words: list[str]) -> dict[str, int]:
        """Name the numeric fields by the header's order (Apple's when there is none)."""
        if not numbers:
            return {}
        order = self.layout.times
        if order is None or len(order) != len(numbers):
            if len(numbers) == 1:
                order = ("elapsed_us",)  # -e alone, as `gotrace run --backend dtruss` captures
            elif len(numbers) == 3:
                order = _APPLE_ORDER
            else:
                words.append("unlabelled_us=" + ",".join(map(str, numbers)))
                return {}
        return dict(zip(order, numbers, strict=True))

    def _notice(self, line_no: int, text: str) -> None:
        self._add(line_no, kind="notice", text=text.strip())

    def _error(self, line_no: int, text: str, reason: str) -> None:
        if self.strict:
            raise TraceParseError(self.source, line_no, text, reason)
        self._add(line_no, kind="parse_error", text=text, errmsg=reason)

    def _add(self, line_no: int, **values: Any) -> None:
        row: dict[str, Any] = dict.fromkeys(EVENT_SCHEMA)
        row.update(values, line=line_no, in_flight=False, source=self.source, _seg=self.segment)
        self.rows.append(row)

    def frame(self) -> pl.DataFrame:
        if not self.rows:
            return empty_frame()
        seg_pid = _segment_pids(self.rows)
        for row in self.rows:
            if row["pid"] is None:
                row["pid"] = seg_pid.get(row["_seg"], 0)
        data = {c: [r[c] for r in self.rows] for c in EVENT_SCHEMA}
        return pl.DataFrame(data, schema=EVENT_SCHEMA)


def _errno(err: str, solaris: bool) -> tuple[str | None, str | None, int]:
    """``Err#2`` -> ("ENOENT", "No such file or directory", 2); ``0`` -> (None, None, 0)."""
    number = int(err.removeprefix("Err#"))
    if number == 0:
        return None, None, 0
    known = BSD_ERRNO.get(number)
    if known is None or (solaris and number not in _SOLARIS_SHARED):
        return f"Err#{number}", None, number
    return known[0], known[1], number


def _segment_pids(rows: Iterable[dict[str, Any]]) -> dict[int, int]:
    """The pid of each run's lines that carry none: its first prefixed pid, else the value
    an unprefixed ``getpid()`` returned (without -f/-l dtruss traces one process)."""
    prefixed: dict[int, int] = {}
    getpid: dict[int, int] = {}
    for row in rows:
        seg = row["_seg"]
        if row["pid"] is not None:
            prefixed.setdefault(seg, row["pid"])
        elif row["syscall"] == "getpid" and row["errno"] is None and (row["retval"] or 0) > 0:
            getpid.setdefault(seg, row["retval"])
    return {**getpid, **prefixed}


def parse_frame(source: str | Path | IO[str] | IO[bytes], *, strict: bool = False) -> pl.DataFrame:
    """The events of one dtruss log (a path, ``-`` for stdin, or an open stream).

    ``strict`` raises :class:`~gotrace.model.events.TraceParseError` at the first line that is
    not dtruss output. An unreadable file raises :class:`~gotrace.errors.GotraceError`.
    """
    name = str(source) if isinstance(source, (str, Path)) else getattr(source, "name", None)
    reader = _Reader(source=name if isinstance(name, str) else None, strict=strict)
    line_no = 0
    try:
        for chunk in read_chunks(source):
            for text in chunk:
                line_no += 1
                reader.feed(line_no, text)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise GotraceError(f"{source}: cannot read ({exc.strerror or exc})") from exc
    return reader.frame()


def parse_text(text: str, *, strict: bool = False) -> pl.DataFrame:
    """The events of a dtruss log given as a string (tests, notebooks)."""
    return parse_frame(io.StringIO(text), strict=strict)
