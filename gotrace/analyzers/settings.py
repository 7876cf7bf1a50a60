"""The go settings of a trace as they apply to what it shows: which endpoint a connection
went to (a GOPROXY entry, the checksum database, an HTTP proxy), what GOPROXY, GOSUMDB,
GOPRIVATE and the proxy variables mean here, and how go moved between proxies per path.
The grammar of each setting is Go's own, ported in :mod:`gotrace.goconfig`."""

from __future__ import annotations

from gotrace.analyzers.context import Context
from gotrace.analyzers.network import Connection
from gotrace.goconfig.envvars import IGNORED_BY_GO
from gotrace.goconfig.goproxy import goproxy_notes, proxy_list
from gotrace.goconfig.gosumdb import parse_gosumdb
from gotrace.goconfig.httpproxy import PROXY_ENV, proxy_env, proxy_url
from gotrace.netaddr import url_host_port
from gotrace.protocols import request_target

_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


def go_env(ctx: Context) -> dict[str, str]:
    """The go settings of the run: ``go env`` from meta.json, the environment over it."""
    env: dict[str, str] = {}
    recorded = ctx.meta.get("go_env")
    if isinstance(recorded, dict):
        env.update({k: str(v) for k, v in recorded.items() if isinstance(v, (str, int))})
    raw = ctx.meta.get("env")
    if isinstance(raw, dict):
        env.update({k: str(v) for k, v in raw.items()})
    return env


def _same_endpoint(url_hp: str | None, remote: str, sni: str | None) -> bool:
    """Whether a URL's host:port is the connection's remote end: the same address, or the
    same port and the name go sent as SNI (or ``localhost`` for a loopback address)."""
    if url_hp is None:
        return False
    if url_hp == remote:
        return True
    host, _, port = url_hp.rpartition(":")
    rhost, _, rport = remote.rpartition(":")
    if port != rport:
        return False
    if sni is not None and host == sni:
        return True
    return host in _LOOPBACK_NAMES and rhost in _LOOPBACK_NAMES


def role(
    remote: str | None, env: dict[str, str], sni: str | None = None, request: str | None = None
) -> tuple[str, str | None, str | None]:
    """(role, url, separator after it) of a remote endpoint: proxy, sumdb, http-proxy
    (separator: the variable that set it) or other. ``request`` (as sent on the connection)
    tells apart HTTPS_PROXY and HTTP_PROXY naming one proxy: go sends a CONNECT to the
    first and plain http URLs in the absolute form to the second."""
    if not remote:
        return ("other", None, None)
    for entry, sep in proxy_list(env.get("GOPROXY", "")):
        if _same_endpoint(url_host_port(entry), remote, sni):
            return ("proxy", entry, sep)
    sumdb = parse_gosumdb(env["GOSUMDB"]) if env.get("GOSUMDB") else None
    if sumdb is not None and sumdb.url and _same_endpoint(url_host_port(sumdb.url), remote, sni):
        return ("sumdb", sumdb.url, None)
    proxies = proxy_env(env)
    candidates = [(proxies.https, proxies.https_from), (proxies.http, proxies.http_from)]
    if request is not None and request_target(request.partition(" ")[2])[0] is not None:
        candidates.reverse()
    for value, var in candidates:
        if value and _same_endpoint(url_host_port(proxy_url(value)), remote, sni):
            return ("http-proxy", proxy_url(value), var)
    return ("other", None, None)


def proxied_for(origin: str, env: dict[str, str]) -> tuple[str, str | None]:
    """What an HTTP proxy was asked to reach (the origin of an absolute-form request, or a
    CONNECT's ``host:443`` as ``https://host:443``): (the GOPROXY entry or GOSUMDB URL it
    is, as written, and that variable), else (``origin``, None)."""
    hp = url_host_port(origin)
    for entry, _sep in proxy_list(env.get("GOPROXY", "")):
        if hp is not None and url_host_port(entry) == hp:
            return entry, "GOPROXY"
    sumdb = parse_gosumdb(env["GOSUMDB"]) if env.get("GOSUMDB") else None
    if sumdb is not None and sumdb.url and url_host_port(sumdb.url) == hp:
        return sumdb.url, "GOSUMDB"
    return origin, None


def setting(role_name: str, sep: str | None) -> str | None:
    """The variable behind a role: GOPROXY, GOSUMDB, or the proxy variable that set it."""
    return {"proxy": "GOPROXY", "sumdb": "GOSUMDB"}.get(role_name) or (
        sep if role_name == "http-proxy" else None
    )


def explain_settings(env: dict[str, str]) -> list[str]:
    """What GOPROXY, GOSUMDB, GOPRIVATE/GONOSUMDB/GONOPROXY, GOFLAGS and HTTP(S)_PROXY mean here."""
    out = []
    gp = env.get("GOPROXY")
    if gp is not None:
        out += goproxy_notes(gp)
    sumdb = env.get("GOSUMDB")
    if sumdb is not None:
        if sumdb == "off":
            out.append(
                "GOSUMDB=off: downloaded modules are not checked against a checksum database"
            )
        else:
            out.append(f"GOSUMDB={sumdb.split()[0]}: go asks it for every module not in go.sum")
    for key in ("GOPRIVATE", "GONOSUMDB", "GONOPROXY", "GOINSECURE"):
        if env.get(key):
            out.append(
                f"{key}={env[key]}: matching modules skip the proxy and/or checksum database"
            )
    for key, instead in IGNORED_BY_GO.items():
        if env.get(key):
            out.append(f"{key}={env[key]}: go does not read it (it reads {instead})")
    if env.get("GOFLAGS"):
        out.append(f"GOFLAGS={env['GOFLAGS']} applies to every go command")
    for key in PROXY_ENV:
        if env.get(key):
            out.append(f"{key}={env[key]}: go's HTTP requests go through this proxy setting")
    return out


def _base_of(remote: str | None, env: dict[str, str], sni: str | None) -> str:
    _role_name, url, _ = role(remote, env, sni)
    return url or (f"http://{remote}" if remote else "?")


def explain_exchanges(conns: list[Connection], env: dict[str, str]) -> list[str]:
    """One line per request path that did not simply succeed at the first try: each answer
    (or silence) in order, with where it came from and how go moved on (``,`` after a
    404/410, ``|`` after an error). Plain HTTP only: a TLS request is not visible."""
    by_path: dict[str, list[tuple[float, str, str, str]]] = {}
    for c in conns:
        here = _base_of(c.remote, env, c.sni)
        for i, req in enumerate(c.requests):
            parts = str(req["request"]).split(" ")
            if len(parts) < 2 or parts[0] == "CONNECT" or req.get("proto", "http") != "http":
                continue
            resp = c.responses[i] if i < len(c.responses) else None
            status = str(resp["status"]).split(" ")[0] if resp else (c.error or "no answer")
            path = str(req.get("path") or parts[1])
            base, via = here, ""
            if req.get("origin"):
                # through an HTTP proxy: the answer is for the URL asked for
                base, via = proxied_for(str(req["origin"]), env)[0], f" (via {here})"
            prefix = base.split("/", 3)[3] if base.count("/") >= 3 else ""
            if prefix and path.lstrip("/").startswith(prefix.strip("/") + "/"):
                path = "/" + path.lstrip("/")[len(prefix.strip("/")) + 1 :]
            by_path.setdefault(path, []).append((req["ts"] or 0.0, status, base, via))
    seps = {e: sep for e, sep in proxy_list(env.get("GOPROXY", ""))}
    out = []
    for path, tries in by_path.items():
        tries.sort()
        if all(t[1].startswith("2") for t in tries):
            continue
        words = []
        for i, (_t, status, base, via) in enumerate(tries):
            piece = f"{status} from {base}{via}"
            if i:
                prev = tries[i - 1]
                sep = seps.get(prev[2])
                how = {",": " after the comma", "|": " after the pipe"}.get(sep or "", "")
                piece = f"then {piece}{how if prev[2] != base else ' (again)'}"
            words.append(piece)
        out.append(f"{path.lstrip('/')}: " + ", ".join(words))
    return out
