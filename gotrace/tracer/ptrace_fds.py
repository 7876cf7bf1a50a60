"""What ``strace -yy`` prints after an fd: ``3</path>``, ``0</dev/null<char 1:3>>``,
``5<TCP:[127.0.0.1:41877->127.0.0.1:8081]>``, ``AT_FDCWD</srv>``.

Targets come from ``/proc/TID/fd/N``; sockets are looked up by inode in the tracee's own
network namespace (``/proc/TID/net/{tcp,tcp6,udp,udp6,unix}``), the protocol name from the
``system.sockprotoname`` attribute as strace does. Names are cached per thread group and fd and
dropped when the fd is closed, replaced (dup2/dup3) or handed out again; a socket's name is
cached only once both its ends are known, since connect/bind change it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import stat
import struct

_NET_FILES = {
    "TCP": ("tcp",),
    "TCPv6": ("tcp6",),
    "UDP": ("udp",),
    "UDPv6": ("udp6",),
    "UDPLITE": ("udplite",),
    "UDPLITEv6": ("udplite6",),
}


def escape_target(text: str) -> str:
    """strace escapes non-printable characters and ``<``/``>`` in -y paths (octal)."""
    if text.isprintable() and text.isascii() and "<" not in text and ">" not in text:
        return text
    out = []
    for b in text.encode("utf-8", "surrogateescape"):
        c = chr(b)
        if 0x20 <= b < 0x7F and c not in "<>":
            out.append(c)
        else:
            out.append(f"\\{b:o}")
    return "".join(out)


def _inet4(hexaddr: str) -> str:
    addr, port = hexaddr.split(":")
    ip = socket.inet_ntop(socket.AF_INET, struct.pack("<I", int(addr, 16)))
    return f"{ip}:{int(port, 16)}"


def _inet6(hexaddr: str) -> str:
    addr, port = hexaddr.split(":")
    raw = b"".join(struct.pack("<I", int(addr[i : i + 8], 16)) for i in range(0, 32, 8))
    return f"[{socket.inet_ntop(socket.AF_INET6, raw)}]:{int(port, 16)}"


def _read(path: str) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return b""
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return b""
    finally:
        os.close(fd)


def inet_socket(tid: int, proto: str, inode: int) -> tuple[str, bool] | None:
    """``127.0.0.1:41877->127.0.0.1:8081`` for a socket inode, and whether both ends are known."""
    files = _NET_FILES.get(proto)
    if files is None:
        return None
    needle = f" {inode} ".encode()
    v6 = proto.endswith("v6")
    for name in files:
        data = _read(f"/proc/{tid}/net/{name}")
        at = data.find(needle)
        if at < 0:
            continue
        start = data.rfind(b"\n", 0, at) + 1
        end = data.find(b"\n", at)
        fields = data[start : end if end >= 0 else len(data)].decode().split()
        # sl local_address rem_address st tx:rx tr:tm retrnsmt uid timeout inode
        if len(fields) < 10 or fields[9] != str(inode):
            continue
        conv = _inet6 if v6 else _inet4
        local, remote = conv(fields[1]), conv(fields[2])
        if remote.endswith(":0") and remote.rsplit(":", 1)[0] in ("0.0.0.0", "[::]"):
            return local, False
        return f"{local}->{remote}", True
    return None


def unix_socket(tid: int, inode: int) -> str | None:
    data = _read(f"/proc/{tid}/net/unix")
    needle = f" {inode} ".encode()
    at = data.find(needle)
    if at < 0:
        tail = f" {inode}\n".encode()
        at = data.find(tail)
        if at < 0:
            return None
    start = data.rfind(b"\n", 0, at) + 1
    end = data.find(b"\n", at)
    fields = data[start : end if end >= 0 else len(data)].decode("utf-8", "replace").split(None, 7)
    # Num RefCount Protocol Flags Type St Inode Path
    if len(fields) < 7 or fields[6] != str(inode):
        return None
    if len(fields) > 7:
        return f'{inode},"{fields[7].strip()}"'
    return str(inode)


_NR_PIDFD_GETFD = 438
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _pidfd_getfd(pidfd: int, fd: int) -> int:
    """A copy of another process's fd (Linux 5.6; the tracer may take it)."""
    res: int = _libc.syscall(_NR_PIDFD_GETFD, pidfd, fd, 0)
    if res < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return res


def _endpoint(family: int, addr: object) -> str | None:
    """``127.0.0.1:8080`` / ``[::1]:8080`` from a getsockname() result; None when unbound."""
    if not isinstance(addr, tuple) or len(addr) < 2:
        return None
    host, port = str(addr[0]), int(addr[1])
    if port == 0 and host in ("0.0.0.0", "::"):
        return None
    return f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"


_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_UDIAG_SHOW_NAME = 1
_UDIAG_SHOW_PEER = 4
_UNIX_DIAG_NAME = 0
_UNIX_DIAG_PEER = 2
_NLMSG_ERROR = 2


class UnixDiag:
    """``UNIX-STREAM:[ino->peer]`` as strace gets it: a sock_diag query for one inode (in the
    tracer's network namespace; None when the socket is not found there)."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._seq = 0
        self._broken = False

    def lookup(self, inode: int) -> str | None:
        if self._broken:
            return None
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG)
                self._sock.settimeout(1.0)
            self._seq += 1
            req = struct.pack(
                "<BBHIIIII",
                socket.AF_UNIX,
                0,
                0,
                0xFFFFFFFF,
                inode,
                _UDIAG_SHOW_NAME | _UDIAG_SHOW_PEER,
                0xFFFFFFFF,
                0xFFFFFFFF,
            )
            hdr = struct.pack("<IHHII", 16 + len(req), _SOCK_DIAG_BY_FAMILY, 1, self._seq, 0)
            self._sock.send(hdr + req)
            data = self._sock.recv(8192)
        except OSError:
            self._broken = self._sock is None
            return None
        if len(data) < 32:
            return None
        _, mtype, _, seq, _ = struct.unpack_from("<IHHII", data)
        if mtype == _NLMSG_ERROR or seq != self._seq:
            return None
        ino = struct.unpack_from("<I", data, 20)[0]
        if ino != inode:
            return None
        peer = name = None
        pos = 32
        while pos + 4 <= len(data):
            alen, atype = struct.unpack_from("<HH", data, pos)
            if alen < 4:
                break
            payload = data[pos + 4 : pos + alen]
            if atype == _UNIX_DIAG_PEER and len(payload) >= 4:
                peer = struct.unpack_from("<I", payload)[0]
            elif atype == _UNIX_DIAG_NAME:
                name = payload
            pos += (alen + 3) & ~3
        text = str(inode)
        if peer:
            text += f"->{peer}"
        if name:
            shown = (
                "@" + escape_target(name[1:].decode("utf-8", "surrogateescape"))
                if name[:1] == b"\0"
                else escape_target(name.decode("utf-8", "surrogateescape"))
            )
            text += f',"{shown}"'
        return text


class FdNames:
    """The -yy annotation of fds, cached per (thread group, fd)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, int], str] = {}
        self._cwd: dict[int, str] = {}
        self._pidfds: dict[int, int] = {}
        self._getfd = True  # pidfd_getfd works (else: /proc/TID/net)
        self._unix = UnixDiag()

    def fd(self, tid: int, tgid: int, fd: int) -> str:
        """``3</etc/passwd>``, or just ``3`` when the fd is not open."""
        if fd < 0:
            return str(fd)
        key = (tgid, fd)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        target, final = self._target(tid, tgid, fd)
        text = f"{fd}<{target}>" if target is not None else str(fd)
        if final and target is not None:
            self._cache[key] = text
        return text

    def at_fdcwd(self, tid: int, tgid: int) -> str:
        cwd = self._cwd.get(tgid)
        if cwd is None:
            try:
                cwd = escape_target(os.readlink(f"/proc/{tid}/cwd"))
            except OSError:
                return "AT_FDCWD"
            self._cwd[tgid] = cwd
        return f"AT_FDCWD<{cwd}>"

    def forget(self, tgid: int, fd: int) -> None:
        self._cache.pop((tgid, fd), None)

    def forget_group(self, tgid: int) -> None:
        """After execve (close-on-exec) or close_range: every fd of the group may have changed."""
        for key in [k for k in self._cache if k[0] == tgid]:
            del self._cache[key]

    def forget_cwd(self, tgid: int) -> None:
        self._cwd.pop(tgid, None)

    def forget_process(self, tgid: int) -> None:
        """The thread group is gone."""
        self.forget_group(tgid)
        self._cwd.pop(tgid, None)
        pidfd = self._pidfds.pop(tgid, None)
        if pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(pidfd)

    def _target(self, tid: int, tgid: int, fd: int) -> tuple[str | None, bool]:
        link = f"/proc/{tid}/fd/{fd}"
        try:
            target = os.readlink(link)
        except OSError:
            return None, False
        if target.startswith("socket:["):
            return self._socket(tid, tgid, fd, link, target)
        if target.startswith("/dev/"):
            try:
                st = os.stat(link)
            except OSError:
                return escape_target(target), True
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                kind = "char" if stat.S_ISCHR(st.st_mode) else "block"
                dev = f"{kind} {os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
                return f"{escape_target(target)}<{dev}>", True
        return escape_target(target), True

    def _socket(self, tid: int, tgid: int, fd: int, link: str, target: str) -> tuple[str, bool]:
        inode = int(target[len("socket:[") : -1])
        try:
            proto = os.getxattr(link, "system.sockprotoname").rstrip(b"\0").decode()
        except OSError:
            return target, False
        if proto.startswith("UNIX"):
            body = self._unix.lookup(inode) or unix_socket(tid, inode)
            return f"{proto}:[{body or inode}]", body is not None and ("->" in body or "," in body)
        if proto not in _NET_FILES:
            return f"{proto}:[{inode}]", False
        found = self._inet_by_fd(tgid, fd) if self._getfd else None
        if found is None:
            found = inet_socket(tid, proto, inode)
        if found is None or found[0] is None:
            return f"{proto}:[{inode}]", False
        ends, complete = found
        return f"{proto}:[{ends}]", complete

    def _inet_by_fd(self, tgid: int, fd: int) -> tuple[str | None, bool] | None:
        """The socket's ends from a copy of it: getsockname/getpeername are O(1), where
        /proc/net/tcp walks the whole hash table (milliseconds on a big machine).
        (None, False) for a socket not bound yet; None when the copy cannot be made."""
        pidfd = self._pidfds.get(tgid)
        try:
            if pidfd is None:
                pidfd = os.pidfd_open(tgid)
                self._pidfds[tgid] = pidfd
            mine = _pidfd_getfd(pidfd, fd)
        except OSError as exc:
            if exc.errno in (38, 1):  # ENOSYS, EPERM: not on this kernel
                self._getfd = False
            return None
        try:
            sock = socket.socket(fileno=mine)
        except OSError:
            os.close(mine)
            return None
        try:
            local = _endpoint(sock.family, sock.getsockname())
            try:
                remote = _endpoint(sock.family, sock.getpeername())
            except OSError:
                remote = None
        except OSError:
            return None
        finally:
            sock.close()
        if remote is None:
            return local, False
        return f"{local}->{remote}", True
