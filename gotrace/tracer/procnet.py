"""The process tree's sockets as the sampler sees them: the /proc/net tables
(``tcp``, ``tcp6``, ``udp``, ``udp6``, ``unix``) and, for TCP in our own network namespace,
a NETLINK_SOCK_DIAG dump with each connection's tcp_info. Each socket is a
:class:`gotrace.model.samples.SocketSample` (``fd`` -1, filled in by the caller).
"""

from __future__ import annotations

import socket
import struct

from gotrace.model.samples import SocketSample

_TCP_STATES = {
    1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
    6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING",
    12: "NEW_SYN_RECV",
}  # fmt: skip
_UNIX_STATES = {1: "UNCONNECTED", 2: "CONNECTING", 3: "CONNECTED", 4: "DISCONNECTING"}


def _addr(hexaddr: str) -> str:
    """``0100007F:1F90`` -> ``127.0.0.1:8080``; IPv6 ``[::1]:8080`` (v4-mapped shown as v4).
    The address is the kernel's 32-bit words printed in host byte order."""
    host, _, port_hex = hexaddr.partition(":")
    port = int(port_hex, 16)
    try:
        raw = b"".join(struct.pack("=I", int(host[i : i + 8], 16)) for i in range(0, len(host), 8))
    except ValueError:
        return hexaddr
    if len(raw) not in (4, 16):
        return hexaddr
    return _endpoint(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw, port)


def parse_net_table(kind: str, text: str, inodes: set[int]) -> dict[int, SocketSample]:
    """The sockets of ``inodes`` in one /proc/net table (``fd`` is filled in by the caller)."""
    out: dict[int, SocketSample] = {}
    for line in text.splitlines()[1:]:
        f = line.split()
        try:
            if kind == "unix":
                inode = int(f[6])
                if inode in inodes:
                    path = f[7] if len(f) > 7 else ""
                    state = _UNIX_STATES.get(int(f[5], 16), f[5])
                    out[inode] = SocketSample(-1, inode, "unix", path, "", state)
                continue
            inode = int(f[9])
            if inode not in inodes:
                continue
            tx, _, rx = f[4].partition(":")
            st = int(f[3], 16)
            state = _TCP_STATES.get(st, f[3]) if kind.startswith("tcp") else _udp_state(st)
            out[inode] = SocketSample(
                -1, inode, kind, _addr(f[1]), _addr(f[2]), state, int(tx, 16), int(rx, 16)
            )
        except (IndexError, ValueError):
            continue
    return out


def _udp_state(st: int) -> str:
    return "CONNECTED" if st == 1 else "UNCONNECTED"


_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST_DUMP = 0x1 | 0x300
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_NLMSG_HDR = struct.Struct("=IHHII")
# inet_diag_msg: family, state, timer, retrans; sport, dport (big-endian); src[16], dst[16];
# if, cookie[2]; expires, rqueue, wqueue, uid, inode
_INET_DIAG_MSG = struct.Struct("=BBBB")
_INET_DIAG_QUEUES = struct.Struct("=IIIII")
_INET_DIAG_MSG_SIZE = 72
_INET_DIAG_INFO = 2  # the attribute holding struct tcp_info
_RTA_HDR = struct.Struct("=HH")
# tcp_info: tcpi_last_data_sent at byte 44, tcpi_last_data_recv at 52, tcpi_last_ack_recv
# at 56 (ms ago); tcpi_bytes_acked at 120 and tcpi_bytes_received at 128 (Linux 4.1+)
_TCP_INFO_TIMES = struct.Struct("=I4xII")
_TCP_INFO_BYTES = struct.Struct("=QQ")
_LISTEN = 10  # its wqueue is the backlog limit; /proc/net/tcp shows 0


def tcp_sockets(inodes: set[int]) -> dict[int, SocketSample] | None:
    """The TCP sockets of ``inodes`` in this process's network namespace, from a
    NETLINK_SOCK_DIAG dump; None when netlink is not available here."""
    out: dict[int, SocketSample] = {}
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as nl:
            nl.settimeout(2.0)
            for family, kind in ((socket.AF_INET, "tcp"), (socket.AF_INET6, "tcp6")):
                # inet_diag_req_v2: family, protocol, ext (ask for tcp_info), pad, states
                # (all), sockid (zeros: every socket)
                ext = 1 << (_INET_DIAG_INFO - 1)
                req = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, ext, 0, 0xFFFFFFFF)
                req += bytes(48)
                hdr = _NLMSG_HDR.pack(
                    16 + len(req), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST_DUMP, 1, 0
                )
                nl.send(hdr + req)
                _read_diag_dump(nl, kind, inodes, out)
    except OSError:
        return None
    return out


def _read_diag_dump(
    nl: socket.socket, kind: str, inodes: set[int], out: dict[int, SocketSample]
) -> None:
    af = socket.AF_INET if kind == "tcp" else socket.AF_INET6
    size = 4 if kind == "tcp" else 16
    while True:
        data = nl.recv(1 << 16)
        off = 0
        while off + 16 <= len(data):
            length, kind_nr, _, _, _ = _NLMSG_HDR.unpack_from(data, off)
            if kind_nr == _NLMSG_DONE:
                return
            if kind_nr == _NLMSG_ERROR:
                raise OSError("sock_diag dump refused")
            msg = off + 16
            _, state, _, _ = _INET_DIAG_MSG.unpack_from(data, msg)
            _, rqueue, wqueue, _, inode = _INET_DIAG_QUEUES.unpack_from(data, msg + 52)
            if inode in inodes:
                sport, dport = struct.unpack_from(">HH", data, msg + 4)
                src, dst = data[msg + 8 : msg + 8 + size], data[msg + 24 : msg + 24 + size]
                info = _tcp_info(data, msg + _INET_DIAG_MSG_SIZE, off + length)
                out[inode] = SocketSample(
                    -1, inode, kind, _endpoint(af, src, sport), _endpoint(af, dst, dport),
                    _TCP_STATES.get(state, str(state)), 0 if state == _LISTEN else wqueue, rqueue,
                    *info,
                )  # fmt: skip
            off += (length + 3) & ~3
        if not data:
            return


def _tcp_info(
    data: bytes, at: int, end: int
) -> tuple[int | None, int | None, int | None, int | None, int | None]:
    """(last_send_ms, last_recv_ms, last_ack_recv_ms, bytes_acked, bytes_received) from the
    message's INET_DIAG_INFO attribute (struct tcp_info), as far as this kernel has them."""
    while at + 4 <= end:
        length, kind = _RTA_HDR.unpack_from(data, at)
        if length < 4:
            break
        size = length - 4
        if kind == _INET_DIAG_INFO and size >= 44 + _TCP_INFO_TIMES.size:
            sent, recv, ack = _TCP_INFO_TIMES.unpack_from(data, at + 4 + 44)
            if size < 120 + _TCP_INFO_BYTES.size:
                return sent, recv, ack, None, None
            acked, received = _TCP_INFO_BYTES.unpack_from(data, at + 4 + 120)
            return sent, recv, ack, acked, received
        at += (length + 3) & ~3
    return None, None, None, None, None


def _endpoint(af: int, raw: bytes, port: int) -> str:
    if af == socket.AF_INET6 and raw[:12] == b"\0" * 10 + b"\xff\xff":
        af, raw = socket.AF_INET, raw[12:]
    host = socket.inet_ntop(af, raw)
    return f"{host}:{port}" if af == socket.AF_INET else f"[{host}]:{port}"
