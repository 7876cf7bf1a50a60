"""How go's settings decide what ``go mod download`` does: parsed and judged, without I/O.

The values come from a :class:`DoctorSnapshot` that :mod:`gotrace.doctor` fills in (go env,
the process environment, directory states, cache states, reachability probes); this module
reads the strings exactly as go does and turns them into :class:`Check` rows.

Sources, all in golang/go: ``path/match.go`` (``path.Match``), ``x/mod/module``
(``MatchPrefixPatterns``), ``cmd/go/internal/modfetch/proxy.go`` (``proxyList``,
``TryProxies``), ``modfetch/sumdb.go`` (``dbDial``, ``initBase``), ``x/net/http/httpproxy``
(``FromEnvironment``, ``useProxy``), ``internal/gover``, ``cmd/go/internal/toolchain``,
``net/http/transport.go`` (timeouts of ``DefaultTransport``).
"""

from __future__ import annotations

import ipaddress
import re
import stat
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["ok", "info", "warn", "fail"]
#: worst first
STATUS_RANK: Mapping[str, int] = {"fail": 0, "warn": 1, "info": 2, "ok": 3}

DEFAULT_GOPROXY = "https://proxy.golang.org,direct"
DEFAULT_GOSUMDB = "sum.golang.org"
#: GOSUMDB names go knows the key of (modfetch/key.go), and its one alias (sumdb.go)
KNOWN_SUMDB = {
    "sum.golang.org": "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
}
SUMDB_ALIASES = {"sum.golang.google.cn": ("sum.golang.org", "https://sum.golang.google.cn")}

#: How long go's HTTP client waits at each step before it reports an error
#: (net/http DefaultTransport; go sets no overall client timeout). None: forever.
GO_WAITS: Mapping[str, float | None] = {
    "tcp": 30.0,
    "proxy-tcp": 30.0,
    "proxy-connect": 60.0,
    "tls": 10.0,
    "proxy-tls": 10.0,
    "http": None,
}

#: environment variables people set believing go reads them; go does not
IGNORED_BY_GO: Mapping[str, str] = {
    "GONOSUMCHECK": "GONOSUMDB (or GOPRIVATE)",
    "GONOVERIFY": "GONOSUMDB (or GOPRIVATE)",
    "GOPROXY_INSECURE": "GOINSECURE",
}

DEVNULL = "/dev/null"  # GOMOD in module mode without a go.mod

PROXY_ENV = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy")


# --- checks ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check:
    """One row of the doctor's table: what was checked, what it is, and what to do about it."""

    name: str
    status: Status
    value: str
    why: str
    fix: str = ""
    details: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.name,
            "status": self.status,
            "value": self.value,
            "why": self.why,
            "fix": self.fix,
            "details": list(self.details),
        }


def worst_first(checks: Iterable[Check]) -> list[Check]:
    """Failures, then warnings, then notes, then what is fine; stable within each."""
    return sorted(checks, key=lambda c: STATUS_RANK[c.status])


def exit_status(checks: Iterable[Check]) -> int:
    """1 when a check failed; warnings alone still exit 0."""
    return 1 if any(c.status == "fail" for c in checks) else 0


# --- path.Match and module.MatchPrefixPatterns ------------------------------------------------


class BadPattern(ValueError):
    """path.ErrBadPattern"""


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    star = False
    while pattern.startswith("*"):
        pattern, star = pattern[1:], True
    in_range = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 < len(pattern):
                i += 1
        elif c == "[":
            in_range = True
        elif c == "]":
            in_range = False
        elif c == "*" and not in_range:
            return star, pattern[:i], pattern[i:]
        i += 1
    return star, pattern, ""


def _get_esc(chunk: str) -> tuple[str, str]:
    if not chunk or chunk[0] in "-]":
        raise BadPattern(chunk)
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise BadPattern(chunk)
    r, rest = chunk[0], chunk[1:]
    if not rest:
        raise BadPattern(chunk)
    return r, rest


def _match_chunk(chunk: str, s: str) -> tuple[str, bool]:
    """Whether ``chunk`` (no stars) matches the start of ``s``; raises BadPattern."""
    failed = False
    while chunk:
        failed = failed or not s
        c = chunk[0]
        if c == "[":
            r = ""
            if not failed:
                r, s = s[0], s[1:]
            chunk = chunk[1:]
            negated = chunk.startswith("^")
            if negated:
                chunk = chunk[1:]
            matched, nrange = False, 0
            while True:
                if chunk.startswith("]") and nrange > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _get_esc(chunk)
                hi = lo
                if chunk[0] == "-":
                    hi, chunk = _get_esc(chunk[1:])
                matched = matched or (not failed and lo <= r <= hi)
                nrange += 1
            failed = failed or matched == negated
        elif c == "?":
            if not failed:
                failed = s[0] == "/"
                s = s[1:]
            chunk = chunk[1:]
        else:
            if c == "\\":
                chunk = chunk[1:]
                if not chunk:
                    raise BadPattern("trailing backslash")
            if not failed:
                failed = chunk[0] != s[0]
                s = s[1:]
            chunk = chunk[1:]
    return ("", False) if failed else (s, True)


def path_match(pattern: str, name: str) -> bool:
    """Go's ``path.Match``: ``*`` and ``?`` never match ``/``; raises BadPattern."""
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and not chunk:
            return "/" not in name
        rest, ok = _match_chunk(chunk, name)
        if ok and (not rest or pattern):
            name = rest
            continue
        if star:
            found = False
            i = 0
            while i < len(name) and name[i] != "/":
                rest, ok = _match_chunk(chunk, name[i + 1 :])
                if ok and not (not pattern and rest):
                    name, found = rest, True
                    break
                i += 1
            if found:
                continue
        while pattern:
            _, chunk, pattern = _scan_chunk(pattern)
            _match_chunk(chunk, "")
        return False
    return not name


def match_prefix_patterns(globs: str, target: str) -> bool:
    """``module.MatchPrefixPatterns``: does any comma-separated glob match a leading run of
    ``target``'s path elements? ``golang.org/x`` matches ``golang.org/x/text``; a bad glob
    matches nothing."""
    return matching_pattern(globs, target) is not None


def matching_pattern(globs: str, target: str) -> str | None:
    """The first glob of ``globs`` that matches ``target`` (see match_prefix_patterns)."""
    for raw in globs.split(","):
        glob = raw.removesuffix("/")
        if not glob:
            continue
        n = glob.count("/")
        prefix = target
        for i, ch in enumerate(target):
            if ch == "/":
                if n == 0:
                    prefix = target[:i]
                    break
                n -= 1
        if n > 0:
            continue
        try:
            if path_match(glob, prefix):
                return raw
        except BadPattern:
            continue
    return None


# --- GOPROXY -----------------------------------------------------------------------------------

EntryKind = Literal["proxy", "file", "direct", "off", "invalid"]


@dataclass(frozen=True, slots=True)
class ProxyEntry:
    """One GOPROXY entry as go uses it. ``separator`` is what follows it in the list:
    ``,`` (go moves on only after 404/410), ``|`` (go moves on after any error) or ``""``."""

    raw: str
    url: str
    kind: EntryKind
    separator: str = ""
    error: str = ""


@dataclass(frozen=True, slots=True)
class GoproxyList:
    value: str
    entries: tuple[ProxyEntry, ...]
    ignored: tuple[str, ...] = ()
    error: str = ""

    @property
    def urls(self) -> list[ProxyEntry]:
        return [e for e in self.entries if e.kind in ("proxy", "file")]

    def next_after(self, index: int) -> ProxyEntry | None:
        return self.entries[index + 1] if index + 1 < len(self.entries) else None


def _check_proxy_url(url: str) -> tuple[EntryKind, str]:
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:
        return "invalid", f"invalid proxy URL {url}: {exc}"
    if parts.scheme in ("http", "https"):
        return "proxy", ""
    if parts.scheme == "file":
        if parts.netloc or parts.query or parts.fragment:
            return "invalid", f"invalid file:// proxy URL with non-path elements: {url}"
        return "file", ""
    if not parts.scheme:
        return "invalid", f"invalid proxy URL missing scheme: {url}"
    return "invalid", f"invalid proxy URL scheme (must be https, http, file): {url}"


def parse_goproxy(value: str) -> GoproxyList:
    """Split GOPROXY as ``modfetch.proxyList`` does: entries separated by ``,`` or ``|``;
    ``direct`` and ``off`` end the list; a bare ``host/path`` gains ``https://``."""
    entries: list[ProxyEntry] = []
    ignored: list[str] = []
    rest = value
    stopped = False
    while rest:
        m = re.search(r"[,|]", rest)
        if m:
            raw, sep, rest = rest[: m.start()], m.group(0), rest[m.end() :]
        else:
            raw, sep, rest = rest, "", ""
        url = raw.strip()
        if not url:
            continue
        if stopped:
            ignored.append(url)
            continue
        if url in ("off", "direct"):
            end: EntryKind = "off" if url == "off" else "direct"
            entries.append(ProxyEntry(raw, url, end))
            stopped = True
            continue
        if re.search(r"[.:/]", url) and ":/" not in url and not url.startswith("/"):
            url = "https://" + url
        kind, error = _check_proxy_url(url)
        entries.append(ProxyEntry(raw, url, kind, sep, error))
    # the separator after the last kept entry leads nowhere
    if entries and entries[-1].separator:
        last = entries[-1]
        entries[-1] = ProxyEntry(last.raw, last.url, last.kind, "", last.error)
    error = next((e.error for e in entries if e.error), "")
    if not entries and not error:
        error = "GOPROXY list is not the empty string, but contains no entries"
    return GoproxyList(value, tuple(entries), tuple(ignored), error)


def explain_goproxy(plist: GoproxyList) -> list[str]:
    """One sentence per entry: what go does when that entry fails."""
    out: list[str] = []
    for i, e in enumerate(plist.entries):
        nxt = plist.next_after(i)
        head = f"{i + 1}. {e.url}"
        if e.kind == "off":
            out.append(
                f"{head}: downloads are disallowed; a module not in the cache fails with "
                "'module lookup disabled by GOPROXY=off'"
            )
        elif e.kind == "direct":
            out.append(
                f"{head}: go fetches from each module's origin (git, hg, ...), with no "
                "deadline; git's stderr is shown only if it fails"
            )
        elif e.kind == "invalid":
            out.append(f"{head}: {e.error}")
        elif nxt is None:
            out.append(f"{head}: the last entry; any error from it is the final error")
        elif e.separator == "|":
            out.append(
                f"{head}: on any error (also a connect timeout) go tries {nxt.url}; "
                "a proxy that never answers is no error, so go still waits forever"
            )
        else:
            out.append(
                f"{head}: only a 404 or 410 sends go on to {nxt.url}; a timeout or any "
                f"other error on {e.url} will NOT fall back to {nxt.url}"
            )
    for raw in plist.ignored:
        out.append(f"(ignored: {raw} comes after direct/off, which end the list)")
    return out


# --- GOSUMDB -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SumDB:
    """GOSUMDB as ``dbDial`` reads it: ``off``, a known name, ``key``, or ``key URL``."""

    value: str
    kind: Literal["off", "name", "key", "key+url", "invalid"]
    name: str = ""
    url: str = ""
    error: str = ""


_VKEY = re.compile(r"^(?P<name>[^+\s]+)\+(?P<hash>[0-9a-fA-F]{8})\+(?P<key>[A-Za-z0-9+/=]+)$")


def parse_gosumdb(value: str) -> SumDB:
    gosumdb = value
    if gosumdb in SUMDB_ALIASES:
        name, url = SUMDB_ALIASES[gosumdb]
        return SumDB(value, "key+url", name, url)
    if gosumdb == "off":
        return SumDB(value, "off")
    fields = gosumdb.split()
    if not fields:
        return SumDB(value, "invalid", error="missing GOSUMDB")
    if len(fields) > 2:
        return SumDB(value, "invalid", error="invalid GOSUMDB: too many fields")
    key = KNOWN_SUMDB.get(fields[0], fields[0])
    m = _VKEY.match(key)
    if m is None:
        return SumDB(
            value, "invalid", error=f"invalid GOSUMDB: malformed verifier id {fields[0]!r}"
        )
    name = m.group("name")
    if len(fields) == 2:
        url = fields[1]
        if not re.match(r"^[a-z][a-z0-9+.-]*://", url):
            return SumDB(value, "invalid", name, error=f"invalid GOSUMDB URL: {url}")
        return SumDB(value, "key+url", name, url.rstrip("/"))
    return SumDB(value, "name" if fields[0] in KNOWN_SUMDB else "key", name)


def sumdb_routes(db: SumDB, plist: GoproxyList) -> list[tuple[str, str]]:
    """The (label, URL) pairs go asks, in order, to reach the checksum database (initBase):
    each proxy's ``/sumdb/<name>/supported`` until one says 200, then the database itself."""
    if db.kind in ("off", "invalid"):
        return []
    if db.kind == "key+url":
        return [("GOSUMDB", db.url + "/latest")]
    out: list[tuple[str, str]] = []
    for e in plist.entries:
        if e.kind in ("direct", "off"):
            break
        if e.kind == "proxy":
            out.append((f"GOSUMDB via {e.url}", f"{e.url.rstrip('/')}/sumdb/{db.name}/supported"))
    out.append(("GOSUMDB direct", f"https://{db.name}/latest"))
    return out


# --- HTTP_PROXY / HTTPS_PROXY / NO_PROXY --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProxyEnv:
    """``httpproxy.FromEnvironment``: the upper-case name wins when both are non-empty."""

    http: str = ""
    http_from: str = ""
    https: str = ""
    https_from: str = ""
    no_proxy: str = ""
    no_proxy_from: str = ""
    cgi: bool = False
    shadowed: tuple[str, ...] = ()


def proxy_env(environ: Mapping[str, str]) -> ProxyEnv:
    def pick(upper: str, lower: str) -> tuple[str, str, str | None]:
        u, lo = environ.get(upper, ""), environ.get(lower, "")
        if u:
            return u, upper, (lower if lo and lo != u else None)
        return (lo, lower, None) if lo else ("", "", None)

    http, http_from, s1 = pick("HTTP_PROXY", "http_proxy")
    https, https_from, s2 = pick("HTTPS_PROXY", "https_proxy")
    no, no_from, s3 = pick("NO_PROXY", "no_proxy")
    shadowed = tuple(s for s in (s1, s2, s3) if s)
    cgi = bool(environ.get("REQUEST_METHOD"))
    return ProxyEnv(http, http_from, https, https_from, no, no_from, cgi, shadowed)


def _proxy_url(value: str) -> str:
    """parseProxy: a value without a scheme is taken as ``http://value``."""
    parts = urllib.parse.urlsplit(value)
    if not parts.scheme or not parts.netloc:
        return "http://" + value
    return value


def _host_port(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = str(parts.port) if parts.port is not None else ""
    except ValueError:
        port = ""
    if not port:
        port = {"http": "80", "https": "443", "socks5": "1080"}.get(parts.scheme, "")
    return host, port


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _no_proxy_match(no_proxy: str, host: str, port: str) -> str | None:
    """The NO_PROXY entry that exempts host:port, as ``httpproxy.config.useProxy`` decides."""
    ip = _ip(host)
    for raw in no_proxy.split(","):
        p = raw.strip().lower()
        if not p:
            continue
        if p == "*":
            return raw.strip()
        if "/" in p:
            try:
                if ip is not None and ip in ipaddress.ip_network(p, strict=False):
                    return raw.strip()
            except ValueError:
                pass
            continue
        phost, pport = p, ""
        m = re.match(r"^\[(?P<h>[^\]]*)\]:(?P<p>\d+)$|^(?P<h4>[^:]*):(?P<p4>\d+)$", p)
        if m:
            phost = m.group("h") if m.group("h") is not None else m.group("h4")
            pport = m.group("p") or m.group("p4")
            if not phost:
                continue
        pip = _ip(phost)
        if pip is not None:
            if ip is not None and pip == ip and (not pport or pport == port):
                return raw.strip()
            continue
        if ip is not None:
            continue
        if phost.startswith("*."):
            phost = phost[1:]
        match_host = not phost.startswith(".")
        dotted = phost if phost.startswith(".") else "." + phost
        if (host.endswith(dotted) or (match_host and host == dotted[1:])) and (
            not pport or pport == port
        ):
            return raw.strip()
    return None


@dataclass(frozen=True, slots=True)
class ProxyRoute:
    """How go's HTTP client reaches ``url``: through ``proxy`` (from env var ``via``) or not."""

    url: str
    proxy: str = ""
    via: str = ""
    reason: str = ""


def route_for(url: str, env: ProxyEnv) -> ProxyRoute:
    """``http.ProxyFromEnvironment`` for one URL go will request."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme == "https":
        proxy, via = env.https, env.https_from
    elif scheme == "http":
        proxy, via = env.http, env.http_from
        if proxy and env.cgi:
            return ProxyRoute(url, reason="REQUEST_METHOD is set: go refuses HTTP_PROXY (CGI)")
    else:
        return ProxyRoute(url, reason=f"{scheme}: not HTTP")
    if not proxy:
        name = "HTTPS_PROXY" if scheme == "https" else "HTTP_PROXY"
        return ProxyRoute(url, reason=f"no {name} set")
    host, port = _host_port(url)
    ip = _ip(host)
    if host == "localhost" or (ip is not None and ip.is_loopback):
        return ProxyRoute(url, reason=f"{host} is loopback: go never uses a proxy for it")
    exempt = _no_proxy_match(env.no_proxy, host, port)
    if exempt is not None:
        return ProxyRoute(url, reason=f"exempt by {env.no_proxy_from}={exempt}")
    return ProxyRoute(url, _proxy_url(proxy), via)


# --- go versions and GOTOOLCHAIN ---------------------------------------------------------------

_GOVER = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:(alpha|beta|rc)(\d+))?$")


def _gover_key(v: str) -> tuple[int, int, int, int, int]:
    """internal/gover order: "1.21" (a language version) < "1.21rc1" < "1.21.0"; a missing
    patch or prerelease number sorts before any number."""
    m = _GOVER.match(v.removeprefix("go").split("-")[0])
    if m is None:
        return (0, 0, -2, 0, 0)
    major, minor, patch, kind, pre = m.groups()
    kinds = {None: 0, "alpha": 1, "beta": 2, "rc": 3}
    return (
        int(major),
        int(minor) if minor is not None else -1,
        int(patch) if patch is not None else -1,
        kinds[kind],
        int(pre) if pre is not None else -1,
    )


def compare_go(a: str, b: str) -> int:
    ka, kb = _gover_key(a), _gover_key(b)
    return (ka > kb) - (ka < kb)


@dataclass(frozen=True, slots=True)
class ToolchainPlan:
    """What GOTOOLCHAIN makes go run for this module: ``target`` (``""``: the local go)."""

    mode: Literal["local", "auto", "path", "fixed", "invalid"]
    target: str = ""
    reason: str = ""
    error: str = ""


def plan_toolchain(gotoolchain: str, local: str, mod_go: str, mod_toolchain: str) -> ToolchainPlan:
    """toolchain.Select, reduced to its decision: which go ends up running, and why."""
    local_v = local.removeprefix("go")
    value = gotoolchain or "auto"
    mode: Literal["local", "auto", "path", "fixed"]
    if value == "auto" or value == "path":
        minimum, mode = local_v, ("auto" if value == "auto" else "path")
    else:
        base, plus, suffix = value.partition("+")
        if plus and suffix not in ("auto", "path"):
            return ToolchainPlan(
                "invalid",
                error=f"invalid GOTOOLCHAIN {value!r}: only version suffixes are +auto and +path",
            )
        if base == "local":
            minimum = local_v
        elif base.startswith("go") and _GOVER.match(base.removeprefix("go").split("-")[0]):
            minimum = base.removeprefix("go")
        else:
            return ToolchainPlan("invalid", error=f"invalid GOTOOLCHAIN {value!r}")
        if plus:
            mode = "auto" if suffix == "auto" else "path"
        else:
            mode = "local" if base == "local" else "fixed"
    target, reason = minimum, f"GOTOOLCHAIN={value}"
    if mode in ("auto", "path"):
        if mod_toolchain and mod_toolchain != "default":
            tv = mod_toolchain.removeprefix("go")
            if compare_go(tv, target) > 0:
                target, reason = tv, f"toolchain {mod_toolchain} line in go.mod"
        if mod_go and compare_go(mod_go, target) > 0:
            lang = re.fullmatch(r"\d+\.\d+", mod_go) is not None
            target = mod_go + (".0" if lang and compare_go(mod_go, "1.21") >= 0 else "")
            reason = f"go {mod_go} line in go.mod"
    if mod_go and compare_go(mod_go, target) > 0:
        return ToolchainPlan(
            mode,
            "",
            reason,
            error=f"go.mod requires go >= {mod_go} (running go {target}; GOTOOLCHAIN={value})",
        )
    if compare_go(target, local_v) == 0:
        return ToolchainPlan(mode, "", reason)
    return ToolchainPlan(mode, "go" + target, reason)


# --- the snapshot the doctor gathers -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Requirement:
    """A ``require`` line of go.mod and what go actually downloads for it after ``replace``:
    ``fetch_path``/``fetch_version``, or ``local`` when it is replaced by a directory."""

    path: str
    version: str
    indirect: bool = False
    fetch_path: str = ""
    fetch_version: str = ""
    local: str = ""


@dataclass(frozen=True, slots=True)
class ModFile:
    path: str
    module: str = ""
    go: str = ""
    toolchain: str = ""
    requires: tuple[Requirement, ...] = ()
    error: str = ""


@dataclass(frozen=True, slots=True)
class LockHolder:
    """A process in /proc/locks on a cache lock file; ``waiting`` when it is blocked on it."""

    pid: int
    command: str
    kind: str
    mode: str
    waiting: bool = False

    @property
    def short(self) -> str:
        """The command on one line, cut to a readable length."""
        cmd = " ".join(self.command.split()) or "?"
        return cmd if len(cmd) <= 80 else cmd[:77] + "..."

    def describe(self) -> str:
        verb = "waits for" if self.waiting else "holds"
        return f"pid {self.pid} ({self.short}) {verb} it ({self.kind} {self.mode})"


@dataclass(frozen=True, slots=True)
class CachedModule:
    """What GOMODCACHE holds of one module version (modfetch/cache.go, fetch.go)."""

    path: str
    version: str
    info: bool = False
    mod: bool = False
    zip: bool = False
    ziphash: bool = False
    extracted: bool = False
    partial: bool = False
    tmp: tuple[str, ...] = ()
    lock: bool = False
    holders: tuple[LockHolder, ...] = ()

    @property
    def complete(self) -> bool:
        """All that ``go mod download`` leaves for a module: nothing left for it to do."""
        return (
            self.info
            and self.mod
            and self.zip
            and self.ziphash
            and self.extracted
            and not self.partial
        )

    @property
    def missing(self) -> list[str]:
        names = ("info", "mod", "zip", "ziphash", "extracted")
        out = [n for n in names if not getattr(self, n)]
        if self.partial:
            out.append("partial extraction")
        return out


@dataclass(frozen=True, slots=True)
class DirState:
    """A directory go must write to, as this process sees it."""

    role: str
    path: str
    exists: bool
    is_dir: bool = False
    checked: str = ""  # the path the rest describes: path, or its nearest existing ancestor
    uid: int = -1
    owner: str = ""
    mode: int = 0
    euid: int = -1
    access_write: bool = False
    mode_write: bool = False
    dac_override: bool = False
    free_bytes: int | None = None
    mount_point: str = ""
    mount_readonly: bool = False
    error: str = ""


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a reachability probe; ``seconds`` is how long it took or waited."""

    name: str
    seconds: float
    ok: bool
    detail: str = ""
    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class Reach:
    """A probe of one URL go would ask: its steps, in order, and the HTTP status if any."""

    role: str
    url: str
    steps: tuple[Step, ...] = ()
    status: int | None = None
    via: str = ""
    proxy: str = ""
    location: str = ""
    skipped: str = ""
    index: int = -1  # the GOPROXY entry probed, -1 for the checksum database

    @property
    def failed_step(self) -> Step | None:
        return next((s for s in self.steps if not s.ok), None)

    def timings(self) -> str:
        parts = []
        for s in self.steps:
            t = f"{s.seconds * 1000:.1f}ms" if s.seconds < 1 else f"{s.seconds:.2f}s"
            state = s.detail if s.ok else f"FAILED: {s.detail}"
            parts.append(f"{s.name} {t} {state}".rstrip())
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class DoctorSnapshot:
    """Everything the doctor saw; ``reach`` is None when the network was not probed."""

    directory: str
    go_binary: str = ""
    go_version: str = ""
    go_error: str = ""
    goenv: Mapping[str, str] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict)
    gotoolchain: str = ""
    modfile: ModFile | None = None
    workspace: tuple[str, ...] = ()
    gosum: frozenset[str] | None = None
    vendor: bool = False
    dirs: tuple[DirState, ...] = ()
    modules: tuple[CachedModule, ...] = ()
    reach: tuple[Reach, ...] | None = None
    timeout: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["gosum"] = sorted(self.gosum) if self.gosum is not None else None
        return d


# --- judging -----------------------------------------------------------------------------------


def _fmt_bytes(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _are(n: int) -> str:
    return "is" if n == 1 else "are"


def _were(n: int) -> str:
    return "was" if n == 1 else "were"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _env(s: DoctorSnapshot, key: str, default: str = "") -> str:
    return s.goenv.get(key, default)


def fetched(s: DoctorSnapshot) -> list[Requirement]:
    """Requirements go downloads (those replaced by a directory are not)."""
    if s.modfile is None:
        return []
    return [r for r in s.modfile.requires if not r.local]


def judge_go(s: DoctorSnapshot) -> Check:
    if s.go_error:
        return Check(
            "go",
            "fail",
            s.go_error,
            "Without go, doctor falls back to the process "
            "environment and go's defaults; nothing it says about go env is certain.",
            "Put go on PATH (or run doctor where your go runs).",
        )
    return Check(
        "go",
        "ok",
        f"{s.go_version} ({s.go_binary})",
        "The go whose settings everything below comes from.",
    )


def judge_module_mode(s: DoctorSnapshot) -> Check:
    mode = _env(s, "GO111MODULE")
    gomod = _env(s, "GOMOD")
    gowork = _env(s, "GOWORK")
    value = f"GO111MODULE={mode or '(unset)'}, GOMOD={gomod or '(none)'}"
    if gowork and gowork != "off":
        value += f", GOWORK={gowork}"
    if mode == "off":
        return Check(
            "module mode",
            "fail",
            value,
            "Module mode is off: go mod download fails "
            "with 'go: modules disabled by GO111MODULE=off'.",
            "Unset GO111MODULE (or set it to on).",
        )
    if not gomod:
        return Check(
            "module mode",
            "fail",
            value,
            f"go is not in module mode in {s.directory}.",
            "Run in a module directory, or set GO111MODULE=on.",
        )
    if gomod == DEVNULL and not (gowork and gowork != "off"):
        return Check(
            "module mode",
            "warn",
            value,
            f"No go.mod in {s.directory} or above: "
            "go mod download without arguments only says 'no modules specified'.",
            "Run it where go.mod is (-C DIR), or name modules: go mod download m@v.",
        )
    return Check(
        "module mode", "ok", value, "Module mode is on; go mod download reads this go.mod."
    )


def judge_goflags(s: DoctorSnapshot) -> Check:
    flags = _env(s, "GOFLAGS")
    notes: list[str] = []
    status: Status = "ok"
    fix = ""

    def raise_to(level: Status) -> None:
        nonlocal status
        if STATUS_RANK[level] < STATUS_RANK[status]:
            status = level

    words = flags.split()
    for w in words:
        name, _, val = w.lstrip("-").partition("=")
        if name == "mod" and val == "vendor":
            raise_to("warn")
            fix = "Drop -mod=vendor from GOFLAGS, or refresh vendor/ with go mod vendor."
            notes.append(
                "-mod=vendor: builds read vendor/ and never the module cache, so what go mod "
                "download fetches is not what go build uses (and download ignores -mod)"
            )
        elif name == "mod":
            raise_to("info")
            notes.append(f"-mod={val}: how builds may update go.mod; go mod download ignores it")
        elif name == "modcacherw":
            notes.append("-modcacherw: extracted modules stay writable (harmless)")
        elif name == "modfile":
            raise_to("warn")
            fix = fix or f"Make sure {val} is the go.mod you mean."
            notes.append(f"-modfile={val}: go reads requirements from {val}, not go.mod")
        elif name == "x":
            raise_to("info")
            notes.append("-x: go prints each command and HTTP request it makes")
        elif name == "insecure":
            raise_to("warn")
            fix = "Remove -insecure; use GOINSECURE for the hosts that need it."
            notes.append("-insecure: no longer supported; GOINSECURE replaced it")
        else:
            raise_to("info")
            notes.append(f"{w}: passed to every go command")
    if s.vendor and not any(w.lstrip("-").startswith("mod=") for w in words):
        raise_to("info")
        notes.append(
            "vendor/modules.txt exists: builds default to -mod=vendor (go >= 1.14 in go.mod), "
            "so builds do not read the module cache"
        )
    why = "; ".join(notes) or "No flags; nothing changes what go mod download does."
    return Check("GOFLAGS", status, flags or "(empty)", why, fix)


def judge_toolchain(s: DoctorSnapshot) -> Check:
    mf = s.modfile
    plan = plan_toolchain(
        s.gotoolchain, s.go_version, mf.go if mf else "", mf.toolchain if mf else ""
    )
    value = f"GOTOOLCHAIN={s.gotoolchain or 'auto'}"
    if mf is not None and (mf.go or mf.toolchain):
        value += f"; go.mod: go {mf.go or '?'}" + (
            f", toolchain {mf.toolchain}" if mf.toolchain else ""
        )
    if plan.error:
        return Check(
            "GOTOOLCHAIN",
            "fail",
            value,
            f"go refuses to run: {plan.error}.",
            "Install a newer go, or allow switching: GOTOOLCHAIN=auto.",
        )
    if not plan.target:
        return Check(
            "GOTOOLCHAIN",
            "ok",
            value,
            f"The local {s.go_version or 'go'} runs; no "
            "toolchain switch, so no toolchain download.",
        )
    if plan.mode == "path":
        return Check(
            "GOTOOLCHAIN",
            "warn",
            value,
            f"go re-executes {plan.target} found on PATH "
            f"({plan.reason}); if it is not there, go fails.",
            f"Install {plan.target} on PATH, or use GOTOOLCHAIN=auto.",
        )
    return Check(
        "GOTOOLCHAIN",
        "warn",
        value,
        f"go first downloads toolchain {plan.target} "
        f"({plan.reason}) as module golang.org/toolchain through GOPROXY, then re-runs "
        "itself: another download that prints at most one line.",
        f"Install {plan.target} locally, or set GOTOOLCHAIN=local to forbid switching.",
    )


def judge_goproxy(s: DoctorSnapshot) -> Check:
    value = _env(s, "GOPROXY")
    plist = parse_goproxy(value)
    details = tuple(explain_goproxy(plist))
    missing = [m for m in s.modules if not m.complete]
    if plist.error:
        return Check(
            "GOPROXY",
            "fail",
            value or "(empty)",
            f"go rejects it: {plist.error}.",
            f"Set GOPROXY to a valid list, e.g. {DEFAULT_GOPROXY}.",
            details,
        )
    first = plist.entries[0]
    if first.kind == "off":
        if missing:
            names = ", ".join(f"{m.path}@{m.version}" for m in missing[:5])
            return Check(
                "GOPROXY",
                "fail",
                value,
                f"GOPROXY=off forbids downloads, and "
                f"{_plural(len(missing), 'requirement')} ({names}) {_are(len(missing))} not in the cache: "
                "go mod download fails with 'module lookup disabled by GOPROXY=off'.",
                f"Set GOPROXY (e.g. {DEFAULT_GOPROXY}) or fill the cache first.",
                details,
            )
        return Check(
            "GOPROXY",
            "info",
            value,
            "GOPROXY=off: nothing may be downloaded; every "
            "requirement is already in the cache, so go mod download has nothing to do.",
            "",
            details,
        )
    why = "The order go tries module sources in; see details for what each failure does."
    for i, e in enumerate(plist.entries):
        nxt = plist.next_after(i)
        if e.kind == "proxy" and e.separator == "," and nxt is not None:
            why = (
                f"',' after {e.url}: a timeout or any error other than 404/410 on it will NOT "
                f"fall back to {nxt.url}; go reports that error, or waits forever if the "
                "proxy never answers."
            )
            break
    return Check("GOPROXY", "info", value, why, "", details)


def judge_private(s: DoctorSnapshot) -> list[Check]:
    reqs = fetched(s)
    out: list[Check] = []
    goprivate = _env(s, "GOPRIVATE")
    effects = {
        "GONOPROXY": "fetched directly from their origin (git), not through GOPROXY",
        "GONOSUMDB": "not checked against the checksum database (go.sum only)",
        "GOPRIVATE": "the default for GONOPROXY and GONOSUMDB",
        "GOINSECURE": "fetched without TLS verification / over plain HTTP",
    }
    for var in ("GOPRIVATE", "GONOPROXY", "GONOSUMDB", "GOINSECURE"):
        globs = _env(s, var)
        if not globs:
            continue
        inherited = var in ("GONOPROXY", "GONOSUMDB") and globs == goprivate
        matched = [r for r in reqs if match_prefix_patterns(globs, r.fetch_path)]
        details = tuple(
            f"{r.fetch_path} (matched by {matching_pattern(globs, r.fetch_path)})" for r in matched
        )
        value = f"{globs}" + (" (from GOPRIVATE)" if inherited else "")
        value += f": matches {len(matched)} of {len(reqs)} requirements"
        status: Status = "info"
        why = f"Modules matching {var} are {effects[var]}."
        fix = ""
        if var == "GONOPROXY" and matched:
            plist = parse_goproxy(_env(s, "GOPROXY"))
            why += (
                " For these go runs git with stdin closed and stderr kept until it fails, "
                "with no deadline: a stalled clone is completely silent."
            )
            if plist.entries and plist.entries[0].kind == "off":
                why += " GOPROXY=off does not stop them: GONOPROXY modules still go direct."
        if var == "GOINSECURE" and matched:
            status = "warn"
            fix = "Prefer fixing the server's TLS certificate to GOINSECURE."
        out.append(Check(var, status, value, why, fix, details))
    for var, instead in IGNORED_BY_GO.items():
        if s.environ.get(var):
            out.append(
                Check(
                    var,
                    "warn",
                    s.environ[var],
                    f"go does not read {var}; it has no effect. Perhaps {instead} was meant.",
                    f"Use {instead} instead, and unset {var}.",
                )
            )
    return out


def judge_sumdb(s: DoctorSnapshot) -> Check:
    value = _env(s, "GOSUMDB")
    db = parse_gosumdb(value)
    reqs = fetched(s)
    nosum = _env(s, "GONOSUMDB")
    unsummed = [r for r in reqs if s.gosum is None or not _in_gosum(s.gosum, r)]
    need = [r for r in unsummed if not match_prefix_patterns(nosum, r.fetch_path)]
    if db.kind == "invalid":
        return Check(
            "GOSUMDB",
            "fail",
            value,
            f"go rejects it: {db.error}.",
            f"Set GOSUMDB={DEFAULT_GOSUMDB}, a valid key [URL], or off.",
        )
    if db.kind == "off":
        why = (
            "Checksum database disabled: go trusts go.sum and, for modules missing from it, "
            "whatever the proxy serves."
        )
        if need:
            why += (
                f" {_plural(len(need), 'requirement')} {_are(len(need))} not in go.sum and go "
                "will not verify them."
            )
        return Check("GOSUMDB", "info", "off", why)
    routes = sumdb_routes(db, parse_goproxy(_env(s, "GOPROXY")))
    shown = value if value == db.name else f"{value} ({db.name})"
    if db.kind == "key+url":
        how = f"go asks {db.url} directly (an explicit URL bypasses GOPROXY)"
    else:
        how = (
            "go asks each GOPROXY entry for /sumdb/" + db.name + "/supported and, if none "
            f"says 200, {db.name} directly"
        )
    details = tuple(f"{label}: {url}" for label, url in routes)
    if need:
        gosum = "there is no go.sum" if s.gosum is None else "they are missing from go.sum"
        return Check(
            "GOSUMDB",
            "info",
            shown,
            f"go must ask the checksum "
            f"database about {_plural(len(need), 'requirement')}, because {gosum}; {how}. "
            "A stalled database stalls go mod download silently.",
            "Commit a complete go.sum (go mod tidy), so go asks the database nothing.",
            details,
        )
    return Check(
        "GOSUMDB",
        "ok",
        shown,
        "Every requirement is in go.sum (or "
        f"GONOSUMDB), so go will not contact the checksum database; {how}.",
        "",
        details,
    )


def _in_gosum(gosum: frozenset[str], r: Requirement) -> bool:
    return (
        f"{r.fetch_path} {r.fetch_version}" in gosum
        and f"{r.fetch_path} {r.fetch_version}/go.mod" in gosum
    )


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    """A URL go may request: ``index`` is its GOPROXY entry (-1 for the checksum database)."""

    role: str
    index: int
    base: str
    url: str


def probe_targets(goenv: Mapping[str, str], ask: str = "") -> list[ProbeTarget]:
    """Every HTTP server go may contact for this module: the GOPROXY entries, asked for
    ``<proxy>/<ask>/@v/list`` (``ask``: an escaped module path; "" asks for the root), and the
    checksum database routes."""
    plist = parse_goproxy(goenv.get("GOPROXY", ""))
    out = []
    for i, e in enumerate(plist.entries):
        if e.kind != "proxy":
            continue
        url = f"{e.url.rstrip('/')}/{ask}/@v/list" if ask else e.url.rstrip("/") + "/"
        out.append(ProbeTarget(f"GOPROXY[{i + 1}]", i, e.url, url))
    db = parse_gosumdb(goenv.get("GOSUMDB", ""))
    out += [ProbeTarget(label, -1, url, url) for label, url in sumdb_routes(db, plist)]
    return out


def judge_proxy_env(s: DoctorSnapshot) -> Check | None:
    env = proxy_env(s.environ)
    set_vars = [k for k in (*PROXY_ENV, "ALL_PROXY", "all_proxy") if s.environ.get(k)]
    if not set_vars:
        return None
    value = ", ".join(f"{k}={s.environ[k]}" for k in set_vars)
    details: list[str] = []
    applied = []
    for t in probe_targets(s.goenv):
        route = route_for(t.base, env)
        if route.proxy:
            applied.append(t)
            details.append(f"{t.role} {t.base}: through {route.via}={route.proxy}")
        else:
            details.append(f"{t.role} {t.base}: not proxied ({route.reason})")
    notes = []
    if env.shadowed:
        notes.append(f"{', '.join(env.shadowed)} is ignored: the upper-case name wins")
    if any(k in set_vars for k in ("ALL_PROXY", "all_proxy")):
        notes.append("go ignores ALL_PROXY (git, in direct mode, honours it)")
    if env.cgi and env.http:
        notes.append("REQUEST_METHOD is set, so go ignores HTTP_PROXY for http:// URLs")
    if applied:
        why = (
            f"go sends {len(applied)} of its HTTP destinations through a proxy; a stalled "
            "proxy stalls go with no message (see the reachability rows)."
        )
    else:
        why = "Set, but none of go's HTTP destinations here go through it."
    if notes:
        why += " " + "; ".join(notes) + "."
    return Check("proxy env", "info", value, why, "", tuple(details))


def judge_dir(d: DirState) -> Check:
    name = d.role
    if d.error == "not set":
        return Check(
            name,
            "fail",
            "(empty)",
            f"{name} is empty: go cannot download (it fails "
            "with 'missing $GOPATH' or 'GOMODCACHE not set').",
            "Set GOPATH (or GOMODCACHE) to an absolute directory.",
        )
    if d.error:
        return Check(name, "fail", d.path, f"Cannot inspect it: {d.error}.", "")
    if d.exists and not d.is_dir:
        return Check(
            name,
            "fail",
            d.path,
            "It exists but is not a directory; go cannot use it.",
            f"Remove {d.path} or point {name} elsewhere.",
        )
    where = d.path if d.exists else f"{d.path} (missing; go creates it under {d.checked})"
    facts = (
        f"owner {d.owner or d.uid}, mode {stat.filemode(d.mode)}, "
        f"{_fmt_bytes(d.free_bytes)} free on {d.mount_point or '?'}"
    )
    value = f"{where}; {facts}"
    if d.mount_readonly:
        return Check(
            name,
            "fail",
            value,
            f"{d.mount_point} is mounted read-only: go cannot "
            "write there and fails with 'read-only file system'.",
            f"Point {name.split()[0]} at a writable directory.",
        )
    if not d.access_write:
        return Check(
            name,
            "fail",
            value,
            f"This user (uid {d.euid}) may not write to "
            f"{d.checked}: go fails with 'permission denied'.",
            f"chown -R {d.euid} {d.checked} (or chmod u+w), or point {name.split()[0]} elsewhere.",
        )
    if not d.mode_write:
        bypass = (
            "root bypasses file permissions (CAP_DAC_OVERRIDE)"
            if d.euid == 0
            else "this process has CAP_DAC_OVERRIDE"
        )
        return Check(
            name,
            "warn",
            value,
            f"Writable only because {bypass}: the mode bits deny "
            f"writing to {d.checked}, so go run as another user, or with capabilities "
            "dropped (containers, setpriv), fails with 'permission denied'.",
            f"chmod -R u+w {d.checked} (and check its owner).",
        )
    if d.free_bytes is not None and d.free_bytes < 100 * 1024 * 1024:
        return Check(
            name,
            "warn",
            value,
            "Less than 100 MiB free: downloads can fail with 'no space left on device'.",
            "Free space, or move the cache.",
        )
    return Check(name, "ok", value, "go can create files here.")


def judge_gomod(s: DoctorSnapshot) -> list[Check]:
    mf = s.modfile
    gomod = _env(s, "GOMOD")
    if mf is None:
        if gomod and gomod != DEVNULL:
            return [Check("go.mod", "fail", gomod, "go reports a go.mod that could not be read.")]
        return []
    if mf.error:
        return [
            Check(
                "go.mod",
                "fail",
                mf.path,
                f"go cannot parse it: {mf.error}.",
                "Fix go.mod (go mod edit -json shows the error).",
            )
        ]
    reqs = mf.requires
    local = [r for r in reqs if r.local]
    value = f"{mf.path}: module {mf.module or '?'}, {_plural(len(reqs), 'requirement')}"
    if local:
        value += f" ({len(local)} replaced by local directories)"
    if s.workspace:
        value += f"; workspace of {_plural(len(s.workspace), 'module')}"
    checks = [
        Check(
            "go.mod",
            "ok",
            value,
            "The requirements go mod download fetches "
            "(without arguments, go >= 1.17: exactly these; older go.mod: all of the "
            "module graph).",
        )
    ]
    fetch = fetched(s)
    if s.gosum is None:
        if fetch:
            checks.append(
                Check(
                    "go.sum",
                    "warn",
                    "missing",
                    "Without go.sum, go verifies every "
                    "download with the checksum database (GOSUMDB), or accepts it "
                    "unverified when GOSUMDB=off.",
                    "Run go mod tidy and commit go.sum.",
                )
            )
    else:
        missing = [r for r in fetch if not _in_gosum(s.gosum, r)]
        status: Status = "info" if missing else "ok"
        checks.append(
            Check(
                "go.sum",
                status,
                f"{len(s.gosum)} lines; "
                f"{len(fetch) - len(missing)} of {len(fetch)} requirements listed",
                "Requirements missing from go.sum need the checksum database."
                if missing
                else "Every requirement has its hashes here.",
                "go mod tidy" if missing else "",
                tuple(f"{r.fetch_path} {r.fetch_version}" for r in missing),
            )
        )
    return checks


def judge_cache(s: DoctorSnapshot) -> Check | None:
    if s.modfile is None or s.modfile.error:
        return None
    mods = list(s.modules)
    if not mods:
        return Check(
            "cache",
            "info",
            "no requirements to download",
            "go mod download says 'no module dependencies to download' and exits.",
        )
    done = [m for m in mods if m.complete]
    held = [m for m in mods if not m.complete and any(not h.waiting for h in m.holders)]
    broken = [m for m in mods if m.partial or m.tmp or (m.zip and not m.ziphash)]
    value = f"{len(done)} of {len(mods)} requirements complete in {_env(s, 'GOMODCACHE')}"
    details = []
    for m in mods:
        if m.complete:
            continue
        state = f"{m.path}@{m.version}: missing {', '.join(m.missing)}"
        if m.tmp:
            state += f"; leftover {', '.join(m.tmp)}"
        for h in m.holders:
            state += f"; lock: {h.describe()}"
        details.append(state)
    if held:
        h = next(x for x in held[0].holders if not x.waiting)
        return Check(
            "cache",
            "fail",
            value,
            f"{held[0].path}@{held[0].version} is not in the "
            f"cache and its lock is held by pid {h.pid} ({h.short}): go mod "
            "download waits for it silently, with no deadline.",
            f"Let pid {h.pid} finish, or stop it if it is stuck.",
            tuple(details),
        )
    if len(done) == len(mods):
        return Check(
            "cache",
            "ok",
            value,
            "Everything is already in the module cache: go mod "
            "download has nothing to do, so it prints nothing and exits 0 at once.",
            "",
            tuple(details),
        )
    why = f"go mod download will fetch {_plural(len(mods) - len(done), 'module')}."
    fix = ""
    if broken:
        why += (
            f" {_plural(len(broken), 'module')} {_were(len(broken))} cut short by an interrupted go "
            "(tmp/partial files); go redoes them."
        )
        fix = "gotrace cache --fix removes the leftovers (go also does, under the lock)."
    return Check("cache", "info", value, why, fix, tuple(details))


def _needed(s: DoctorSnapshot, r: Reach) -> str:
    """Why a failing route may not matter now ("" when it does)."""
    if s.modfile is not None and s.modules and all(m.complete for m in s.modules):
        return "every requirement is already cached, so go mod download will not ask it now"
    if r.role.startswith("GOSUMDB"):
        db = parse_gosumdb(_env(s, "GOSUMDB"))
        nosum = _env(s, "GONOSUMDB")
        need = [
            x
            for x in fetched(s)
            if (s.gosum is None or not _in_gosum(s.gosum, x))
            and not match_prefix_patterns(nosum, x.fetch_path)
        ]
        if s.modfile is not None and not need and db.kind != "off":
            return "go.sum already has every requirement, so go will not ask the database now"
    if r.role.startswith("GOPROXY[") and s.reach is not None:
        plist = parse_goproxy(_env(s, "GOPROXY"))
        before = sorted(
            (x for x in s.reach if x.role.startswith("GOPROXY[") and 0 <= x.index < r.index),
            key=lambda x: x.index,
        )
        for x in before:
            step = x.failed_step
            if step is None and x.status in (404, 410):
                continue
            if step is None and x.status == 200:
                return f"{x.url} answers first; go asks this entry only after a 404/410 there"
            if step is not None and step.timed_out and step.name == "http":
                return f"go never gets past {x.url}, which stalls"
            if plist.entries[x.index].separator == "|":
                continue
            return f"go never gets past {x.url}: its error ends the search (',')"
    if r.role == "GOSUMDB direct":
        served = [
            x for x in (s.reach or ()) if x.role.startswith("GOSUMDB via") and x.status == 200
        ]
        if served:
            return f"{served[0].url} serves the database, so go never asks it directly"
    return ""


def judge_reach(s: DoctorSnapshot, r: Reach) -> Check:
    """A probe's outcome, and what go does next: wait, fail, or try the next entry."""
    plist = parse_goproxy(_env(s, "GOPROXY"))
    nxt = plist.next_after(r.index) if r.index >= 0 else None
    sep = plist.entries[r.index].separator if 0 <= r.index < len(plist.entries) else ""
    name = f"reach {r.role}"
    via = f" through {r.via}={r.proxy}" if r.via else ""
    if r.skipped:
        return Check(name, "info", f"{r.url}{via}: not probed ({r.skipped})", "")
    value = f"{r.url}{via}: {r.timings()}"
    step = r.failed_step
    if step is None:
        code = r.status if r.status is not None else 0
        if code in (200, 404, 410):
            meaning = ""
            if r.role.startswith("GOSUMDB via"):
                meaning = (
                    " This proxy serves the checksum database; go uses only it."
                    if code == 200
                    else " This proxy does not serve the database; go tries the next route."
                )
            elif code != 200 and nxt is not None:
                meaning = f" A {code} sends go on to {nxt.url}."
            return Check(name, "ok", value, f"Answered HTTP {code}.{meaning}")
        if 300 <= code < 400:
            return Check(
                name,
                "warn",
                value,
                f"Redirects to {r.location or '?'} (doctor does "
                "not follow redirects to other hosts); go follows up to 10, never from "
                "https to http.",
                "Point GOPROXY at the final URL.",
            )
        auth = " (credentials come from GOAUTH/.netrc)" if code in (401, 403) else ""
        what = f"Answered HTTP {code}{auth}; {_fallback_text(r, sep, nxt, immediate=True)}"
        status: Status = "warn" if sep == "|" and nxt is not None else "fail"
        fix = "Fix the server, or change GOPROXY."
    else:
        through = f"{r.via}={r.proxy}" if r.via else ""
        target = through if through and step.name.startswith("proxy") else r.url
        if step.timed_out and step.name == "http":
            who = f"{r.url} (through {through})" if through else r.url
            if r.index < 0:
                then = "every download that needs a checksum lookup waits with it"
            elif nxt is None:
                then = "there is no next entry anyway"
            elif sep == "|":
                then = f"no error ever arrives, so not even '|' moves it on to {nxt.url}"
            else:
                then = (
                    f"it never tries {nxt.url}: after ',' go falls back only on 404/410, "
                    "and a stall is not even an error"
                )
            what = (
                f"{who} accepted the connection and sent no response in "
                f"{step.seconds:.1f}s. go has no response-header timeout, so it waits "
                f"forever, silently; {then}."
            )
            status = "fail"
            fix = (
                "Fix or remove the stalled server"
                + (f" (or unset {r.via})" if through else "")
                + "; meanwhile run go under a timeout."
            )
        else:
            wait = GO_WAITS.get(step.name)
            if step.timed_out:
                gives_up = f"go gives up after {wait:.0f}s" if wait else "go waits out its timeouts"
                what = (
                    f"{step.name} to {target} did not finish in {step.seconds:.1f}s "
                    f"({step.detail}); {gives_up}, then "
                    f"{_fallback_text(r, sep, nxt, immediate=False)}"
                )
            else:
                what = (
                    f"{step.name} to {target} failed: {step.detail}; go fails at once, "
                    f"then {_fallback_text(r, sep, nxt, immediate=True)}"
                )
            status = "warn" if sep == "|" and nxt is not None else "fail"
            fix = (
                "Fix the server or the network path to it"
                + (f", or unset {r.via}" if through else ", or change GOPROXY/GOSUMDB")
                + "."
            )
    if status == "fail":
        moot = _needed(s, r)
        if moot:
            status, what = "warn", f"{what} (Not fatal now: {moot}.)"
    return Check(name, status, value, what, fix)


def _fallback_text(r: Reach, sep: str, nxt: ProxyEntry | None, *, immediate: bool) -> str:
    if r.role.startswith("GOSUMDB via"):
        if sep == "|" and nxt is not None:
            return "'|' lets go try the next route to the checksum database."
        return "any answer but 200/404/410 makes go treat the checksum database as unavailable."
    if r.index < 0:
        return "the checksum lookup fails, and with it the download."
    if nxt is None:
        return "this is the last GOPROXY entry, so go mod download fails with that error."
    if sep == "|":
        return f"'|' makes go try {nxt.url}{'' if immediate else ' after that wait'}."
    return f"',' means go will NOT fall back to {nxt.url}: it fails with this error."


def diagnose(s: DoctorSnapshot) -> list[Check]:
    """Every check, worst first."""
    checks = [judge_go(s), judge_module_mode(s), judge_goflags(s), judge_toolchain(s)]
    checks.append(judge_goproxy(s))
    checks += judge_private(s)
    checks.append(judge_sumdb(s))
    pe = judge_proxy_env(s)
    if pe is not None:
        checks.append(pe)
    checks += [judge_dir(d) for d in s.dirs]
    checks += judge_gomod(s)
    cache = judge_cache(s)
    if cache is not None:
        checks.append(cache)
    if s.reach is None:
        checks.append(
            Check(
                "reachability",
                "info",
                "not probed (--no-network)",
                "Nothing was resolved or contacted.",
            )
        )
    else:
        checks += [judge_reach(s, r) for r in s.reach]
    return worst_first(checks)


def summary_counts(checks: Sequence[Check]) -> dict[str, int]:
    return {k: sum(1 for c in checks if c.status == k) for k in STATUS_RANK}
