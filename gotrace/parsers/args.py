"""Decode strace argument text on demand: split arguments, C strings, fd annotations.

The parser keeps each call's arguments as the text strace printed; the few
analyzers that need a value decode just the calls they look at, with these.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = set(_OPEN.values())


def split_args(text: str) -> list[str]:
    """Split at top-level commas: not inside strings, brackets, ``/* comments */`` or
    ``<...>`` fd annotations (``3</tmp/a,b>``)."""
    out: list[str] = []
    depth = 0
    angle = 0
    start = 0
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 1
        elif c == "<" and i > 0 and (text[i - 1].isalnum() or text[i - 1] in ">]"):
            angle += 1
        elif c == ">" and angle and text[i - 1] != "-":
            angle -= 1
        elif c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
        elif c == "," and depth == 0 and angle == 0:
            out.append(text[start:i].strip())
            start = i + 1
        i += 1
    last = text[start:].strip()
    if last or out:
        out.append(last)
    return out


_ESCAPES = {"n": 10, "t": 9, "r": 13, "v": 11, "f": 12, "a": 7, "b": 8, "\\": 92, '"': 34, "'": 39}


@dataclass(frozen=True, slots=True)
class CString:
    """A decoded string argument; ``truncated`` when strace cut it at ``-s`` (``"..."...``)."""

    value: bytes
    truncated: bool

    def text(self) -> str:
        return self.value.decode("utf-8", "replace")


def decode_string(arg: str) -> CString | None:
    """``"GET /x HTTP/1.1\\r\\n"...`` -> bytes. Octal (``\\33``), hex (``\\x1b``, ``-x``/``-xx``)
    and the usual C escapes. ``None`` when the argument is not a string."""
    arg = arg.strip()
    truncated = arg.endswith('"...')
    if truncated:
        arg = arg[:-3]
    if len(arg) < 2 or arg[0] != '"' or arg[-1] != '"':
        return None
    body = arg[1:-1]
    out = bytearray()
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c != "\\" or i + 1 >= n:
            out += c.encode("utf-8", "surrogateescape")
            i += 1
            continue
        e = body[i + 1]
        if e == "x":
            m = re.match(r"[0-9a-fA-F]{1,2}", body[i + 2 : i + 4])
            if m:
                out.append(int(m.group(0), 16))
                i += 2 + len(m.group(0))
                continue
        if e in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i + 1 : i + 4])
            assert m is not None
            out.append(int(m.group(0), 8) & 0xFF)
            i += 1 + len(m.group(0))
            continue
        out.append(_ESCAPES.get(e, ord(e) if ord(e) < 256 else 63))
        i += 2
    return CString(bytes(out), truncated)


@dataclass(frozen=True, slots=True)
class FdRef:
    """An fd argument or return: ``0</dev/null<char 1:3>>`` -> fd 0, target ``/dev/null``,
    detail ``char 1:3``; ``AT_FDCWD</srv>`` -> fd ``None`` (AT_FDCWD), target ``/srv``."""

    fd: int | None
    target: str | None
    detail: str | None = None


_FD_RE = re.compile(r"^(?P<fd>-?\d+|AT_FDCWD)(?:<(?P<body>(?:->|[^<>]|<(?:->|[^<>])*>)*)>)?$")


def parse_fd(arg: str) -> FdRef | None:
    m = _FD_RE.match(arg.strip())
    if m is None:
        return None
    fd = None if m.group("fd") == "AT_FDCWD" else int(m.group("fd"))
    body = m.group("body")
    if body is None:
        return FdRef(fd, None)
    nested = re.match(r"^(?P<t>(?:->|[^<>])*)<(?P<d>(?:->|[^<>])*)>$", body)
    if nested:
        return FdRef(fd, nested.group("t"), nested.group("d"))
    return FdRef(fd, body)


@dataclass(frozen=True, slots=True)
class SocketRef:
    """``TCP:[127.0.0.1:41877->127.0.0.1:8081]`` -> proto TCP, local, remote;
    ``TCP:[14763]`` (inode only) -> inode."""

    proto: str
    local: str | None = None
    remote: str | None = None
    inode: int | None = None


_SOCK_RE = re.compile(
    r"^(?P<proto>TCPv6|TCP|UDPv6|UDP|UNIX|UDPLITE|NETLINK|[A-Z0-9v]+):\[(?P<body>.*)\]$"
)


def parse_socket(target: str) -> SocketRef | None:
    m = _SOCK_RE.match(target)
    if m is None:
        return None
    proto, body = m.group("proto"), m.group("body")
    if body.isdigit():
        return SocketRef(proto, inode=int(body))
    if "->" in body:
        local, remote = body.split("->", 1)
        return SocketRef(proto, local or None, remote or None)
    # UNIX:[123,"/run/x"] or UNIX:[123->456] or TCP:[127.0.0.1:80]
    head = body.split(",", 1)
    if head[0].isdigit():
        rest = head[1].strip('"') if len(head) > 1 else None
        return SocketRef(proto, local=rest, inode=int(head[0]))
    return SocketRef(proto, local=body)
