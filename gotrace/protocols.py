"""What the bytes on a connection say: HTTP/1.x request and status lines, DNS messages, and
TLS record framing (in the clear even when the content is not), from the buffers strace
printed, and the paths of the GOPROXY protocol. One home for wire formats; the analyzers
ask it, they do not parse bytes.

TLS (RFC 8446 5.1): each record starts with a 5-byte header, content type (0x16 handshake,
0x17 application data, 0x15 alert, 0x14 change_cipher_spec), version, length. The first
handshake record a client sends is the ClientHello, which carries the server name (SNI; go
sends none for an IP literal) and the ALPN protocols it offers (``h2``, ``http/1.1``).
"""

from __future__ import annotations

import re
import struct
from typing import Any

from gotrace.modpath import escape, unescape
from gotrace.netaddr import host_port, url_origin

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS")
REQUEST = re.compile(rb"^(" + "|".join(HTTP_METHODS).encode() + rb") (\S+) HTTP/1\.[01]\r?\n")
HOST = re.compile(rb"\r\nHost: ([^\r\n]+)", re.IGNORECASE)
STATUS = re.compile(rb"^HTTP/1\.[01] (\d{3})(?: ([^\r\n]*))?")
CONTENT_LENGTH = re.compile(rb"\r\nContent-Length: (\d+)", re.IGNORECASE)


#: how strace prints the start of a buffer that holds a request line (``"GET ``), and one
#: that holds a status line: enough to pick the calls worth decoding from a whole frame
def request_strace_head(method: str) -> str:
    """``"GET `` for ``GET``."""
    return f'"{method} '


HTTP_REQUEST_STRACE_HEADS = tuple(request_strace_head(method) for method in HTTP_METHODS)
HTTP_STATUS_STRACE_HEAD = '"HTTP/1.'
#: the status code of a status line inside a call's arguments as strace printed them
#: (a pattern for a frame-wide ``str.extract``; group 1 is the code)
HTTP_STATUS_IN_ARGS = r'"HTTP/1\.[01] (\d{3})'


def request_line(data: bytes) -> tuple[str, str] | None:
    """``(method, target)`` of the HTTP/1.x request line ``data`` starts with, or None.
    The target is as sent: a path, or an absolute URL (a request to an HTTP proxy)."""
    m = REQUEST.match(data)
    if m is None:
        return None
    return m.group(1).decode(), m.group(2).decode("utf-8", "replace")


def request_target(target: str) -> tuple[str | None, str]:
    """(origin, path) of a request target: (``http://goproxy.test``, ``/example.com/...``)
    for the absolute form (RFC 9112 3.2.2) go sends to an HTTP proxy, (None, target) for a
    path (the origin form) or a CONNECT's ``host:port`` (the authority form)."""
    split = None if target.startswith("/") else url_origin(target)
    return (None, target) if split is None else split


def request_host(data: bytes) -> str | None:
    """The ``Host:`` header of a request, or None."""
    m = HOST.search(data)
    return m.group(1).decode("utf-8", "replace") if m else None


def status_line(data: bytes) -> tuple[int, str] | None:
    """``(code, reason)`` of the HTTP/1.x status line ``data`` starts with, or None."""
    m = STATUS.match(data)
    if m is None:
        return None
    return int(m.group(1)), (m.group(2) or b"").decode("utf-8", "replace")


def content_length(data: bytes) -> int | None:
    """The ``Content-Length:`` of a response head, or None."""
    m = CONTENT_LENGTH.search(data)
    return int(m.group(1)) if m else None


def header_end(data: bytes) -> int | None:
    """Where the body starts (just past the blank line ending the head), or None when the
    head does not end in ``data`` (cut by -s, or split across reads)."""
    end = data.find(b"\r\n\r\n")
    return end + 4 if end >= 0 else None


# -- the GOPROXY protocol (``go help goproxy``) ------------------------------------------------
#: what a proxy serves for a module version: ``$base/$module/@v/$version.{info,mod,zip}``
#: (module path and version escaped: ``!x`` for ``X``), besides ``@v/list`` and ``@latest``
_PROXY_FILE = re.compile(r"/@v/(?P<v>[^/]+)\.(?P<ext>zip|mod|info)$")


def proxy_path(module: str, version: str, ext: str) -> str:
    """(``github.com/BurntSushi/toml``, ``v1.2.0``, ``zip``) ->
    ``/github.com/!burnt!sushi/toml/@v/v1.2.0.zip``: the path under a proxy's base URL."""
    return f"/{escape(module)}/@v/{escape(version)}.{ext}"


def split_proxy_url(
    path: str, known: set[tuple[str, str]]
) -> tuple[str, tuple[str, str], str] | None:
    """``/prefix/example.com/dep0/@v/v1.0.0.zip`` -> (``/prefix``, (module, version), ``zip``)
    for a module@version in ``known`` (unescaped); the prefix is the proxy's base path. A
    path alone cannot say where the base ends, so the module must be one of ``known``."""
    m = _PROXY_FILE.search(path)
    if m is None:
        return None
    version = unescape(m.group("v"))
    segs = path[: m.start()].split("/")
    for i in range(len(segs)):
        key = (unescape("/".join(segs[i:])), version)
        if key in known:
            return "/".join(segs[:i]), key, m.group("ext")
    return None


# -- TLS ---------------------------------------------------------------------------------------
TLS_HANDSHAKE, TLS_APPLICATION_DATA, TLS_ALERT, TLS_CHANGE_CIPHER_SPEC = 0x16, 0x17, 0x15, 0x14
TLS_CONTENT_TYPES = {
    TLS_HANDSHAKE: "handshake",
    TLS_APPLICATION_DATA: "application_data",
    TLS_ALERT: "alert",
    TLS_CHANGE_CIPHER_SPEC: "change_cipher_spec",
}


#: how strace prints the first bytes of a record of each type in a write's buffer (octal
#: escapes by default, hex with -x): enough to follow a TLS client that writes whole records
TLS_STRACE_HEADS = {
    name: (f'"\\{code:o}\\3', f'"\\x{code:02x}\\x03') for code, name in TLS_CONTENT_TYPES.items()
}


#: the heads a write's buffer starts with when it holds a TLS handshake record
TLS_HANDSHAKE_STRACE_HEADS = TLS_STRACE_HEADS["handshake"]


def tls_record_kind(buffer: str) -> str | None:
    """The content type of the TLS record a write's buffer (as strace printed it) starts
    with, or None."""
    for name, heads in TLS_STRACE_HEADS.items():
        if buffer.startswith(heads):
            return name
    return None


def tls_client_hello(data: bytes) -> dict[str, Any] | None:
    """``{"sni": name or None, "alpn": [protocols], "alpn_cut": bool}`` of a TLS
    ClientHello, or None (not a ClientHello, or cut by -s before its extensions).
    ``alpn_cut``: strace's -s cut the ALPN list, so ``alpn`` holds only the names seen
    whole (go's ClientHello is ~1.5 kB with its post-quantum key share; at -s 256 the cut
    falls inside ``http/1.1``, the second name go offers)."""
    try:
        if data[0] != TLS_HANDSHAKE or data[5] != 0x01:
            return None
        pos = 5 + 4 + 2 + 32  # handshake header, version, random
        sid = data[pos]
        pos += 1 + sid
        cs = struct.unpack(">H", data[pos : pos + 2])[0]
        pos += 2 + cs
        comp = data[pos]
        pos += 1 + comp
        ext_total = struct.unpack(">H", data[pos : pos + 2])[0]
        pos += 2
    except (IndexError, struct.error):
        return None
    end = pos + ext_total
    out: dict[str, Any] = {"sni": None, "alpn": [], "alpn_cut": False}
    while pos + 4 <= min(end, len(data)):
        etype, elen = struct.unpack(">HH", data[pos : pos + 4])
        body = data[pos + 4 : pos + 4 + elen]
        pos += 4 + elen
        try:
            if etype == 0:
                name_len = struct.unpack(">H", body[3:5])[0]
                out["sni"] = body[5 : 5 + name_len].decode("ascii", "replace")
            elif etype == _EXT_ALPN:
                out["alpn"], out["alpn_cut"] = _alpn_names(body, elen)
        except (IndexError, struct.error):
            break
    return out


#: TLS extension numbers (RFC 8446 4.2, RFC 7301)
_EXT_ALPN, _EXT_SUPPORTED_VERSIONS = 16, 43
#: a ServerHello with this random is a HelloRetryRequest (RFC 8446 4.1.3), no real answer
_HELLO_RETRY_RANDOM = bytes.fromhex(
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
)
TLS_VERSIONS = {0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}


def _alpn_names(body: bytes, declared: int) -> tuple[list[str], bool]:
    """The protocol names of an ALPN extension's body (``declared`` bytes long as sent;
    ``body`` may be shorter, cut by -s), and whether the list was cut."""
    names: list[str] = []
    i = 2
    while i < len(body):
        n = body[i]
        if i + 1 + n > len(body):
            return names, True  # a partial name is no name
        names.append(body[i + 1 : i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    return names, len(body) < declared


def tls_server_hello(data: bytes) -> dict[str, Any] | None:
    """``{"version": "TLS 1.3", "alpn": chosen protocol or None, "alpn_visible": bool,
    "retry": bool}`` of the ServerHello a server's first bytes start with, or None (not a
    ServerHello, or cut by -s before its extensions).

    TLS 1.2 puts the chosen ALPN protocol in the ServerHello, in the clear (no extension:
    the server chose none, so HTTP/1.1). TLS 1.3 (``supported_versions`` = 0x0304) moves
    it into EncryptedExtensions: ``alpn_visible`` is then False and nothing can be said."""
    try:
        if data[0] != TLS_HANDSHAKE or data[5] != 0x02:
            return None
        legacy = struct.unpack(">H", data[9:11])[0]
        random = data[11:43]
        pos = 43
        sid = data[pos]
        pos += 1 + sid + 2 + 1  # session id, cipher suite, compression method
        ext_total = struct.unpack(">H", data[pos : pos + 2])[0]
        pos += 2
    except (IndexError, struct.error):
        return None
    end = pos + ext_total
    if end > len(data):
        return None  # cut: an extension not seen may be the one that matters
    version, alpn = legacy, None
    while pos + 4 <= end:
        etype, elen = struct.unpack(">HH", data[pos : pos + 4])
        body = data[pos + 4 : pos + 4 + elen]
        pos += 4 + elen
        if etype == _EXT_SUPPORTED_VERSIONS and elen == 2:
            version = struct.unpack(">H", body)[0]
        elif etype == _EXT_ALPN:
            names, _cut = _alpn_names(body, elen)
            alpn = names[0] if names else None
    tls13 = version >= 0x0304
    return {
        "version": TLS_VERSIONS.get(version, f"0x{version:04x}"),
        "alpn": alpn,
        "alpn_visible": not tls13,
        "retry": random == _HELLO_RETRY_RANDOM,
    }


#: what ALPN's protocol names mean (RFC 7301's registry)
ALPN_HTTP = {"h2": "HTTP/2", "http/1.1": "HTTP/1.1", "http/1.0": "HTTP/1.0"}


def http_version_note(
    offered: list[str], offered_cut: bool, chosen: str | None, version: str | None
) -> str | None:
    """What a TLS connection says of HTTP/2 vs HTTP/1.1: the protocol the server chose when
    its ServerHello shows it (TLS 1.2), else what the client offered and why the choice is
    not visible. None when nothing is known (no ClientHello seen)."""
    shown = ",".join(offered) + (",… (the rest cut by strace -s)" if offered_cut else "")
    if version is not None and version != "TLS 1.3":
        if chosen is not None:
            return (
                f"{ALPN_HTTP.get(chosen, chosen)} (ALPN {chosen} chosen by the server, {version})"
            )
        return f"HTTP/1.1 (the server chose no ALPN protocol, {version})"
    if not offered and not offered_cut:
        return None
    if not offered:
        # a long server name pushes the ALPN extension past strace's -s: nothing to say
        return "ALPN list cut by strace -s"
    hidden = ", the server's choice encrypted (TLS 1.3 EncryptedExtensions)" if version else ""
    return f"ALPN offered {shown}{hidden}"


def tls_sni(data: bytes) -> str | None:
    """The server_name of a TLS ClientHello, or None (not a ClientHello, or cut by -s)."""
    hello = tls_client_hello(data)
    return hello["sni"] if hello else None


# -- git's own transports: git:// (git daemon) and ssh -------------------------------------------
#: where ``git://`` and ``ssh://`` remotes connect by default
GIT_DAEMON_PORT, SSH_PORT = 9418, 22
#: the services a git client asks a git daemon (or an ssh server's shell) to run
GIT_SERVICES = ("git-upload-pack", "git-receive-pack", "git-upload-archive")
#: how strace prints the start of a write that holds a git:// request (git writes the
#: pkt-line's 4 hex digits of length in a write of their own, then the request) or an ssh
#: banner
GIT_DAEMON_STRACE_HEADS = tuple(f'"{svc} ' for svc in GIT_SERVICES)
SSH_BANNER_STRACE_HEAD = '"SSH-'
_PKT_LEN = re.compile(rb"^[0-9a-f]{4}")


def git_daemon_request(data: bytes) -> dict[str, Any] | None:
    """``{"service", "path", "host", "extra"}`` of the request a git client sends a git
    daemon (gitprotocol-pack: ``git-upload-pack /m.git\0host=HOST\0`` in one pkt-line, with
    ``\0version=2\0`` after it for protocol v2), with or without the pkt-line's 4-digit
    length in front; None when ``data`` is no such request."""
    if _PKT_LEN.match(data) and data[4:8] == b"git-":
        data = data[4:]
    head, sep, rest = data.partition(b"\0")
    service, _, path = head.partition(b" ")
    if not sep or service.decode("ascii", "replace") not in GIT_SERVICES or not path:
        return None
    fields = [f.decode("utf-8", "replace") for f in rest.split(b"\0") if f]
    host = next((f[5:] for f in fields if f.startswith("host=")), None)
    return {
        "service": service.decode(),
        "path": path.decode("utf-8", "replace"),
        "host": host,
        "extra": [f for f in fields if not f.startswith("host=")],
    }


def git_request_text(request: dict[str, Any]) -> str:
    """A git:// request as one line: ``git-upload-pack /m.git host=git.example.test``."""
    fields = [f"host={request['host']}"] if request.get("host") else []
    return " ".join([request["service"], request["path"], *fields, *request["extra"]])


def ssh_banner(data: bytes) -> str | None:
    """The identification line an ssh client or server sends first (RFC 4253 4.2:
    ``SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6``), without its CR LF; None otherwise."""
    if not data.startswith(b"SSH-"):
        return None
    line = data.split(b"\n", 1)[0].rstrip(b"\r")
    return line.decode("utf-8", "replace")


def git_ssh_remote(argv: list[str]) -> str | None:
    """``ssh://git@host/m.git`` from the argv git runs ssh with (``ssh [-o OPT]... [-p PORT]
    git@host "git-upload-pack '/m.git'"``); None when it is not git's ssh command."""
    if not argv or argv[-1].split(" ", 1)[0] not in GIT_SERVICES:
        return None
    path = argv[-1].split(" ", 1)[1].strip("'\"") if " " in argv[-1] else ""
    port, dest, i = None, None, 1
    while i < len(argv) - 1:
        arg = argv[i]
        if arg in ("-o", "-p", "-i", "-F", "-l", "-J") and i + 1 < len(argv) - 1:
            port = argv[i + 1] if arg == "-p" else port
            i += 2
            continue
        if not arg.startswith("-"):
            dest = arg
        i += 1
    if dest is None:
        return None
    if not path.startswith("/"):
        return f"{dest}:{path}"  # scp-like: relative to the remote user's home
    return f"ssh://{dest}{f':{port}' if port else ''}{path}"


#: where a resolver listens (go's resolver and the libc one both send to port 53)
DNS_PORT = 53


def is_dns_server(endpoint: str | None) -> bool:
    """Whether a socket's remote end (``127.0.0.53:53``, ``[::1]:53``) is a DNS server."""
    hp = host_port(endpoint) if endpoint else None
    return bool(hp and hp[1] == DNS_PORT)


_QTYPES = {
    1: "A",
    28: "AAAA",
    5: "CNAME",
    15: "MX",
    16: "TXT",
    33: "SRV",
    12: "PTR",
    2: "NS",
    6: "SOA",
    65: "HTTPS",
}
_RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def parse_dns(data: bytes) -> dict[str, Any] | None:
    """A DNS message's question (and, for answers, rcode and addresses). None if not DNS."""
    if len(data) < 12:
        return None
    ident, flags, qd, an, _ns, _ar = struct.unpack(">HHHHHH", data[:12])
    if qd != 1 or (flags >> 11) & 0xF != 0:
        return None
    pos = 12
    labels = []
    while pos < len(data):
        n = data[pos]
        if n == 0:
            pos += 1
            break
        if n & 0xC0 or pos + 1 + n > len(data):
            return None
        labels.append(data[pos + 1 : pos + 1 + n].decode("ascii", "replace"))
        pos += 1 + n
    else:
        return None
    if pos + 4 > len(data):
        return None
    qtype = struct.unpack(">H", data[pos : pos + 2])[0]
    pos += 4
    answer = bool(flags & 0x8000)
    out: dict[str, Any] = {
        "id": ident,
        "name": ".".join(labels),
        "qtype": _QTYPES.get(qtype, str(qtype)),
        "answer": answer,
        "rcode": _RCODES.get(flags & 0xF, str(flags & 0xF)) if answer else None,
        "addresses": [],
    }
    if answer:
        for _ in range(an):
            if pos + 12 > len(data):
                break
            if data[pos] & 0xC0:
                pos += 2
            else:
                while pos < len(data) and data[pos]:
                    pos += 1 + data[pos]
                pos += 1
            if pos + 10 > len(data):
                break
            rtype, _cls, _ttl, rdlen = struct.unpack(">HHIH", data[pos : pos + 10])
            pos += 10
            rdata = data[pos : pos + rdlen]
            pos += rdlen
            if rtype == 1 and rdlen == 4:
                out["addresses"].append(".".join(str(b) for b in rdata))
            elif rtype == 28 and rdlen == 16:
                out["addresses"].append(
                    ":".join(f"{rdata[i] << 8 | rdata[i + 1]:x}" for i in range(0, 16, 2))
                )
    return out
