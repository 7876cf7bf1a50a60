"""The diagnosis: every analyzer's findings, ordered, and the one-line verdict.

The verdict answers "why was it quiet" and names the object: the socket and the request
it waits on, the lock and who holds it, the DNS name and server, the signal that ended it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from gotrace.analyzers import modcache, output
from gotrace.analyzers.context import Context
from gotrace.analyzers.findings import Finding, order
from gotrace.analyzers.network import Connection, connections
from gotrace.analyzers.quiet import QuietPeriod, quiet_periods, unanswered
from gotrace.goconfig.goproxy import goproxy_notes, proxy_list
from gotrace.modcachelayout import download_temp_url_path
from gotrace.netaddr import url_host_port
from gotrace.protocols import proxy_path

SLOW_BYTES_PER_S = 64 * 1024


@dataclass
class Analysis:
    verdict: str
    findings: list[Finding]
    quiet: list[QuietPeriod]
    connections: list[Connection]
    context: Context
    settings: list[str] = field(default_factory=list)
    #: HTTP answers per path and how go fell back: ``404 from A, then 200 from B after the comma``
    exchanges: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "findings": [f.to_dict() for f in self.findings],
            "quiet_periods": [
                {
                    "start": q.start,
                    "end": q.end,
                    "duration": q.duration,
                    "kind": q.kind,
                    "blame": q.blame,
                    "objects": list(q.objects),
                    "pids": list(q.pids),
                    "evidence": list(q.evidence),
                    "trailing": q.trailing,
                }
                for q in self.quiet
            ],
            "connections": [c.to_row() for c in self.connections],
            "settings": self.settings,
            "exchanges": self.exchanges,
            "limitations": self.context.limitations(),
        }


def diagnose(ctx: Context, *, min_quiet: float = 1.0) -> Analysis:
    conns = connections(ctx)
    quiet = quiet_periods(ctx, conns, min_quiet=min_quiet)
    env = _env(ctx)
    from_samples = _sample_findings(ctx)
    holders = {
        f.objects[0]: (
            f.pids[-1] if len(f.pids) > 1 else None,
            f.objects[1] if len(f.objects) > 1 else None,
        )
        for f in from_samples
        if f.kind == "lock-held" and f.objects
    }
    findings: list[Finding] = []
    # a request left unanswered while the rest kept going (hundreds of modules, one stalls):
    # its whole wait, not only the quiet end of it
    waits = {u.detail["connection"]: u for u in unanswered(ctx, conns, min_wait=min_quiet)}
    told = [
        waits[q.detail["connection"]]
        if q.kind == "socket-wait"
        and q.detail.get("connection") in waits
        and waits[q.detail["connection"]].start < q.start - 1.0
        else q
        for q in quiet
    ]
    findings += _quiet_findings(ctx, told, env, holders)
    if not any(q.kind in ("socket-wait", "body-stall", "lock", "dns") for q in quiet):
        findings += _quiet_findings(ctx, list(waits.values()), env, holders)
    findings += _connection_findings(conns, env)
    findings += _process_findings(ctx)
    findings += _slow_findings(ctx, conns, quiet)
    findings = _fold(findings, _extra_findings(ctx))
    if not ctx.frame.height:
        # a /proc-only capture: the samples are all there is
        findings += from_samples
    findings = order(_dedupe(findings))
    verdict = _verdict(ctx, findings, quiet)
    return Analysis(
        verdict,
        findings,
        quiet,
        conns,
        ctx,
        settings=explain_settings(env),
        exchanges=explain_exchanges(conns, env),
    )


def _env(ctx: Context) -> dict[str, str]:
    env: dict[str, str] = {}
    go_env = ctx.meta.get("go_env")
    if isinstance(go_env, dict):
        env.update({k: str(v) for k, v in go_env.items() if isinstance(v, (str, int))})
    raw = ctx.meta.get("env")
    if isinstance(raw, dict):
        env.update({k: str(v) for k, v in raw.items()})
    return env


# -- GOPROXY / GOSUMDB -------------------------------------------------------------------


_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")


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


def _role(
    remote: str | None, env: dict[str, str], sni: str | None = None
) -> tuple[str, str | None, str | None]:
    """(role, url, separator after it) of a remote endpoint: proxy, sumdb, http-proxy
    (separator: the variable that set it) or other."""
    if not remote:
        return ("other", None, None)
    for entry, sep in proxy_list(env.get("GOPROXY", "")):
        if _same_endpoint(url_host_port(entry), remote, sni):
            return ("proxy", entry, sep)
    sumdb = env.get("GOSUMDB", "")
    parts = sumdb.split()
    if len(parts) == 2 and _same_endpoint(url_host_port(parts[1]), remote, sni):
        return ("sumdb", parts[1], None)
    for var in _PROXY_VARS:
        value = env.get(var)
        if value:
            url = value if "://" in value else f"http://{value}"
            if _same_endpoint(url_host_port(url), remote, sni):
                return ("http-proxy", url, var)
    return ("other", None, None)


def _setting(role: str, sep: str | None) -> str | None:
    return {"proxy": "GOPROXY", "sumdb": "GOSUMDB"}.get(role) or (
        sep if role == "http-proxy" else None
    )


def _size(n: int) -> str:
    return f"{n} B" if n < 1000 else f"{n / 1000:.1f} kB"


def _likely_request(
    ctx: Context, url: str | None, since: float | None = None
) -> tuple[str | None, str]:
    """The URL (or request) an encrypted stall most likely was, and how that is known: go
    -x's last ``# get`` line with no answer, else the zip download left half-done."""
    from gotrace.analyzers.output import go_x

    x = go_x(ctx)
    if x.height:
        answered = set(x.filter(pl.col("kind").is_in(["get-status", "get-error"]))["url"].to_list())
        open_ = [
            u
            for u in x.filter(pl.col("kind") == "get")["url"].to_list()
            if u not in answered and (url is None or u.startswith(url.rstrip("/")))
        ]
        if open_:
            return open_[-1], "go -x"
    if since is not None:
        from gotrace.analyzers.quiet import download_awaited

        awaited = download_awaited(ctx, since)
        if awaited is not None:
            return awaited, "guess"
    from gotrace.analyzers.modcache import modules

    m = modules(ctx)
    if m.height:
        for row in m.filter(pl.col("result").is_in(["incomplete", "in-progress"])).iter_rows(
            named=True
        ):
            for left in row["leftovers"] or []:
                url_path = download_temp_url_path(left, ("zip",))
                if url_path:
                    return f"GET /{url_path}", "guess"
        # go fetches a version's .mod before its zip: one module still waiting for both
        waiting = m.filter(
            (pl.col("result") == "in-progress")
            & (pl.col("renamed").list.len() == 0)
            & (pl.col("tmp_files").list.len() == 0)
        )
        if waiting.height == 1:
            mod, ver = waiting.row(0, named=True)["module"], waiting.row(0, named=True)["version"]
            if ver:
                return f"GET {proxy_path(mod, ver, 'mod')}", "guess"
    return None, "unknown"


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
    for key in ("GOPRIVATE", "GONOSUMDB", "GONOPROXY", "GONOSUMCHECK", "GOINSECURE"):
        if env.get(key):
            out.append(
                f"{key}={env[key]}: matching modules skip the proxy and/or checksum database"
            )
    if env.get("GOFLAGS"):
        out.append(f"GOFLAGS={env['GOFLAGS']} applies to every go command")
    for key in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        if env.get(key):
            out.append(f"{key}={env[key]}: go's HTTP requests go through this proxy setting")
    return out


def _base_of(remote: str | None, env: dict[str, str], sni: str | None) -> str:
    _role_name, url, _ = _role(remote, env, sni)
    return url or (f"http://{remote}" if remote else "?")


def explain_exchanges(conns: list[Connection], env: dict[str, str]) -> list[str]:
    """One line per request path that did not simply succeed at the first try: each answer
    (or silence) in order, with where it came from and how go moved on (``,`` after a
    404/410, ``|`` after an error). Plain HTTP only: a TLS request is not visible."""
    by_path: dict[str, list[tuple[float, str, str]]] = {}
    for c in conns:
        base = _base_of(c.remote, env, c.sni)
        for i, req in enumerate(c.requests):
            parts = str(req["request"]).split(" ")
            if len(parts) < 2 or parts[0] == "CONNECT":
                continue
            resp = c.responses[i] if i < len(c.responses) else None
            status = str(resp["status"]).split(" ")[0] if resp else (c.error or "no answer")
            path = parts[1]
            prefix = base.split("/", 3)[3] if base.count("/") >= 3 else ""
            if prefix and path.lstrip("/").startswith(prefix.strip("/") + "/"):
                path = "/" + path.lstrip("/")[len(prefix.strip("/")) + 1 :]
            by_path.setdefault(path, []).append((req["ts"] or 0.0, status, base))
    seps = {e: sep for e, sep in proxy_list(env.get("GOPROXY", ""))}
    out = []
    for path, tries in by_path.items():
        tries.sort()
        if all(t[1].startswith("2") for t in tries):
            continue
        words = []
        for i, (_t, status, base) in enumerate(tries):
            piece = f"{status} from {base}"
            if i:
                prev = tries[i - 1]
                sep = seps.get(prev[2])
                how = {",": " after the comma", "|": " after the pipe"}.get(sep or "", "")
                piece = f"then {piece}{how if prev[2] != base else ' (again)'}"
            words.append(piece)
        out.append(f"{path.lstrip('/')}: " + ", ".join(words))
    return out


# -- findings ------------------------------------------------------------------------------
def _rel(ctx: Context, path: str) -> str:
    if ctx.gomodcache and path.startswith(ctx.gomodcache.rstrip("/") + "/"):
        return path[len(ctx.gomodcache.rstrip("/")) + 1 :]
    return path


def _sample_findings(ctx: Context) -> list[Finding]:
    if not ctx.samples:
        return []
    from gotrace.analyzers.samples import findings

    return findings(list(ctx.samples))


def _quiet_findings(
    ctx: Context,
    quiet: list[QuietPeriod],
    env: dict[str, str],
    holders: dict[str, tuple[int | None, str | None]] | None = None,
) -> list[Finding]:
    out: list[Finding] = []
    dns = [q for q in quiet if q.kind == "dns"]
    if dns:
        total = sum(q.duration for q in dns)
        name, server = dns[0].objects[0], dns[0].objects[1]
        tries = sum(int(q.detail.get("spells", 1)) for q in dns)
        out.append(
            Finding(
                kind="dns-timeout",
                severity="error",
                summary=f"waited {total:.1f} s for DNS answers for {name} from {server} ({tries} waits, no answer)",
                start=dns[0].start,
                end=dns[-1].end,
                pids=dns[0].pids,
                objects=(name, server),
                evidence=tuple(e for q in dns for e in q.evidence),
                fix=f"the resolver {server} does not answer: check /etc/resolv.conf (or the network namespace's), or put an IP address in GOPROXY",
                weight=total,
            )
        )
    root = _root(ctx)
    ok = root is not None and ctx.groups.exit_status.get(root) == 0
    for q in quiet:
        if q.kind == "dns":
            continue
        dur = q.duration
        common: dict[str, Any] = dict(
            start=q.start, end=q.end, pids=q.pids, evidence=q.evidence, weight=dur
        )
        if ok and not q.trailing and q.kind in ("socket-wait", "body-stall"):
            out.append(_pause(q, env, common))
            continue
        if q.kind == "socket-wait":
            remote = q.objects[0] if q.objects else None
            req = q.detail.get("request")
            role, url, sep = _role(remote, env, q.detail.get("sni"))
            if role == "proxy":
                why = "the module proxy accepted the request and never answered"
                fix = (
                    "go sets no response-header timeout, so it waits forever: fix or replace the proxy at "
                    f"{url}"
                )
                if sep == ",":
                    fix += "; GOPROXY uses `,` after it, so a timeout never falls back: use `|` to fall back on errors"
                elif sep == "|":
                    fix += "; GOPROXY uses `|` after it, but a stall is no error: go never falls back to the next entry"
                kind = "proxy-stall"
            elif role == "sumdb":
                why = "the checksum database accepted the request and never answered"
                fix = (
                    f"the checksum database {url} stalls: point GOSUMDB at a reachable one, or list private "
                    "modules in GONOSUMDB/GOPRIVATE (GOSUMDB=off turns verification off)"
                )
                kind = "sumdb-stall"
            elif role == "other" and _git_remote(ctx, q.pids) is not None:
                url, helper = _git_remote(ctx, q.pids) or ("?", "git")
                direct = _direct_setting(env, url)
                why = (
                    f"the git server {url} accepted the request and never answered ({helper}, "
                    f"run by go in direct mode: {direct})"
                )
                fix = (
                    f"go waits for git without a deadline and git waits for {url} forever: fix "
                    "that server; go holds git's stderr until git fails, so nothing is printed"
                )
                kind = "git-stall"
            elif role == "http-proxy":
                target = req.split(" ", 2)[1] if req and req.startswith("CONNECT ") else None
                why = (
                    f"the HTTP proxy {url} (set by {sep}) accepted "
                    + (f"the tunnel request to {target}" if target else "the request")
                    + " and never answered"
                )
                fix = (
                    f"the proxy in {sep} does not answer: fix it, or list the host in NO_PROXY "
                    "if it should be reached directly"
                )
                kind = "http-proxy-stall"
            else:
                why = "the server accepted the request and never answered"
                fix = "find out why the server does not answer; go has no timeout for this wait"
                kind = "socket-stall"
            after = f" after sending `{req}`" if req else ""
            tls = q.detail.get("tls")
            if tls and not req:
                # encrypted: name the URL as written, the TLS state and the setting
                likely, how = _likely_request(ctx, url, q.detail.get("since"))
                where = url or (f"https://{q.detail['sni']}" if q.detail.get("sni") else remote)
                setting = _setting(role, sep)
                said = f"{setting}; " if setting else ""
                sent = _size(int(q.detail.get("unanswered_bytes") or 0))
                state = (
                    f"{tls}, {sent} of encrypted request sent, nothing back"
                    if tls == "TLS established"
                    else f"{tls}"
                )
                if likely and how == "go -x":
                    which = f": `GET {likely}`"
                elif likely:
                    which = f"; most likely `{likely}` (go -x shows the URL)"
                else:
                    which = "; go -x shows which URL"
                summary = (
                    f"blocked {dur:.1f} s waiting for an answer from {where} ({said}{state} on "
                    f"{remote}){which} — {why}"
                )
                if tls != "TLS established":
                    kind = "tls-handshake-stall"
                    answered = (
                        "answered part of the handshake, then stopped"
                        if tls.endswith("progress")
                        else "never answered the ClientHello"
                    )
                    summary = (
                        f"blocked {dur:.1f} s in the TLS handshake with {where} ({said}{state} "
                        f"on {remote}) — the server accepted the connection and {answered}"
                    )
                    fix = (
                        f"something at {remote} accepts TCP but does not speak TLS back (a wedged "
                        "proxy, or a middlebox); go gives up only after its 10 s handshake timeout"
                    )
                    likely = None
                objects = tuple(x for x in (remote, where, likely, url) if x)
            else:
                summary = f"blocked {dur:.1f} s in read on TCP {remote}{after} — {why}"
                objects = tuple(x for x in (remote, req, url) if x)
            out.append(
                Finding(
                    kind=kind,
                    severity="error",
                    summary=summary,
                    objects=tuple(dict.fromkeys(objects)),
                    fix=fix,
                    **common,
                )
            )
        elif q.kind == "body-stall":
            remote = q.objects[0] if q.objects else None
            got, expected = q.detail.get("received"), q.detail.get("expected")
            summary = (
                f"stalled {dur:.1f} s mid-download on TCP {remote}: `{q.detail.get('request')}` got "
                f"{got} of {expected} body bytes, then nothing — the server stopped sending"
            )
            if q.detail.get("tls"):
                role, url, sep = _role(remote, env, q.detail.get("sni"))
                setting = _setting(role, sep)
                where = url or (f"https://{q.detail['sni']}" if q.detail.get("sni") else remote)
                summary = (
                    f"stalled {dur:.1f} s mid-download from {where} ({f'{setting}; ' if setting else ''}"
                    f"TLS established, on {remote}): most likely `{q.detail.get('request')}`, "
                    f"{_size(int(got or 0))} of it written, then nothing — the server stopped sending"
                )
            out.append(
                Finding(
                    kind="body-stall",
                    severity="error",
                    summary=summary,
                    objects=q.objects,
                    fix="the proxy (or a middlebox) stops mid-response; go has no read timeout: fix the proxy or its upstream",
                    **common,
                )
            )
        elif q.kind == "lock":
            path = q.objects[0]
            holder = q.detail.get("holder")
            seen = (holders or {}).get(path)
            if holder is None and seen is not None and seen[0] is not None:
                holder = seen[0]
                who = f"held by {seen[1] or f'pid {holder}'}, a process outside the trace"
            elif holder:
                who = f"held by pid {holder}"
            else:
                who = "held by a process outside the trace"
            out.append(
                Finding(
                    kind="lock-wait",
                    severity="error",
                    summary=f"waited {dur:.1f} s for the lock {_rel(ctx, path)} ({who})",
                    objects=(path, *((f"pid {holder}",) if holder else ())),
                    fix=(
                        "another go command (or gopls) is downloading the same module version and holds the "
                        "lock: wait for it or stop it (`gotrace cache` shows the holder); remove the lock file "
                        "only if no process holds it"
                    ),
                    detail={"holder": holder},
                    **common,
                )
            )
        elif q.kind == "connect":
            out.append(
                Finding(
                    kind="connect-timeout",
                    severity="error",
                    summary=f"waited {dur:.1f} s to connect to {q.objects[0]}",
                    objects=q.objects,
                    fix="the address does not answer SYNs (firewall or dead host): go gives up after 30 s",
                    **common,
                )
            )
        elif q.kind == "child":
            out.append(
                Finding(
                    kind="child-stall",
                    severity="warning",
                    summary=f"quiet {dur:.1f} s: {q.blame}",
                    objects=q.objects,
                    fix="go hides the child's stderr until it fails: trace the child (gotrace shows its calls) or run it by hand",
                    **common,
                )
            )
        else:
            out.append(
                Finding(
                    kind="quiet",
                    severity="info",
                    summary=f"quiet {dur:.1f} s: {q.blame}",
                    objects=q.objects,
                    **{**common, "weight": dur / 10},
                )
            )
    return out


def _pause(q: QuietPeriod, env: dict[str, str], common: dict[str, Any]) -> Finding:
    """A stall the command recovered from (it went on and exited 0): a pause, not a cause."""
    remote = q.objects[0] if q.objects else None
    role, url, _sep = _role(remote, env, q.detail.get("sni"))
    source = url or (f"http://{remote}" if remote else "the server")
    req = q.detail.get("request")
    path = req.split(" ", 2)[1].lstrip("/") if req and " " in req else None
    if q.kind == "body-stall":
        likely = " (most likely: the response was encrypted)" if q.detail.get("guessed") else ""
        what = f"in the middle of {path}{likely}" if path else "in the middle of a response"
    else:
        what = f"waiting for the answer to {path}" if path else "waiting for an answer"
    return Finding(
        kind="pause",
        severity="warning",
        summary=f"paused {q.duration:.1f} s {what} from {source}",
        objects=tuple(x for x in (remote, req, url) if x),
        fix="the server stalled and recovered; if it recurs, look at the server (or what is in between)",
        detail={"role": role},
        **common,
    )


def _connection_findings(conns: list[Connection], env: dict[str, str]) -> list[Finding]:
    out: list[Finding] = []
    for c in conns:
        for i, req in enumerate(c.requests):
            # a CONNECT the HTTP proxy turned down: 407 (credentials), 403, 502 (upstream)...
            if not str(req["request"]).startswith("CONNECT ") or i >= len(c.responses):
                continue
            status = str(c.responses[i]["status"])
            if status.startswith("2"):
                continue
            role, url, var = _role(c.remote, env)
            target = str(req["request"]).split(" ")[1]
            by = (
                f"the HTTP proxy {url} (set by {var})"
                if role == "http-proxy"
                else (f"the HTTP proxy at {c.remote}")
            )
            fix = (
                f"the proxy wants credentials: put them in {var} (https://user:token@host:port; "
                "go refuses to send them to an http:// proxy), or list the host in NO_PROXY"
                if status.startswith("407")
                else f"the proxy could not or would not reach {target}: check its logs and "
                "allow-list, or list the host in NO_PROXY"
            )
            out.append(
                Finding(
                    kind="http-proxy-refused",
                    severity="error",
                    summary=f"{by} answered `CONNECT {target}` with {status}",
                    start=req["ts"],
                    end=c.responses[i]["ts"],
                    pids=tuple(sorted(c.pids)),
                    objects=tuple(x for x in (c.remote, url, var, target, status) if x),
                    evidence=(req["line"], c.responses[i]["line"]),
                    fix=fix,
                    weight=1.0,
                )
            )
        if c.connect_result in ("ECONNREFUSED", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH"):
            retry = _http_retry(c, conns)
            if retry is not None:
                # go's https probe of a GOINSECURE (or direct-mode) host, then plain http
                # that worked: that refusal is not the cause of anything
                out.append(
                    Finding(
                        kind="https-probe-refused",
                        severity="info",
                        summary=(
                            f"connect to {c.remote} (https) failed: {c.connect_result}; go "
                            f"retried over http at {retry.remote}, which answered: not a cause"
                        ),
                        start=c.connect_ts,
                        end=c.close_ts,
                        pids=tuple(sorted(c.pids)),
                        objects=tuple(x for x in (c.remote, retry.remote) if x),
                        evidence=tuple(c.lines[:2]),
                        weight=0.05,
                    )
                )
                continue
            role, url, _sep = _role(c.remote, env)
            what = (
                f" (the GOPROXY entry {url})"
                if role == "proxy"
                else f" (GOSUMDB {url})"
                if role == "sumdb"
                else ""
            )
            out.append(
                Finding(
                    kind="proxy-refused"
                    if role == "proxy" and c.connect_result == "ECONNREFUSED"
                    else "connect-failed",
                    severity="error",
                    summary=f"connect to {c.remote}{what} failed: {c.connect_result}",
                    start=c.connect_ts,
                    end=c.close_ts,
                    pids=tuple(sorted(c.pids)),
                    objects=tuple(x for x in (c.remote, url, c.connect_result) if x),
                    evidence=tuple(c.lines[:3]),
                    fix="nothing listens there: start the proxy, or fix GOPROXY"
                    if c.connect_result == "ECONNREFUSED"
                    else None,
                    weight=0.5,
                )
            )
    return out


def _git_remote(ctx: Context, pids: tuple[int, ...]) -> tuple[str, str] | None:
    """(remote URL, helper name) when one of ``pids`` is git's remote helper
    (``git-remote-http origin URL``, ``git remote-https URL``)."""
    for pid in pids:
        proc: int | None = ctx.groups.tgid.get(pid, pid)
        # the process itself, else its parents (``git remote-http`` execs git-remote-http;
        # an exec the trace missed leaves the parent's argv to go by)
        for _ in range(3):
            if proc is None:
                break
            argv = ctx.groups.argv.get(proc) or []
            names = [a.rsplit("/", 1)[-1] for a in argv[:2]]
            if names and (
                names[0].startswith("git-remote-")
                or names[1:2] in (["remote-http"], ["remote-https"])
            ):
                helper = names[0] if names[0].startswith("git-remote-") else f"git {names[1]}"
                return argv[-1], helper
            proc = ctx.groups.parent.get(proc)
    return None


def _direct_setting(env: dict[str, str], url: str) -> str:
    """Which setting sent go to the VCS for ``url``'s host: GOPRIVATE/GONOPROXY or
    GOPROXY=direct."""
    host = re.sub(r"^[a-z+]+://", "", url).split("/", 1)[0]
    for key in ("GOPRIVATE", "GONOPROXY"):
        for pattern in (env.get(key) or "").split(","):
            if pattern and (
                host == pattern or host.endswith("." + pattern) or pattern.startswith(host)
            ):
                return f"{key}={env[key]}"
    return f"GOPROXY={env.get('GOPROXY', 'direct')}"


def _http_retry(c: Connection, conns: list[Connection]) -> Connection | None:
    """A later connection of the same process to the same host on port 80 that got an
    answer, when ``c`` was a failed connect to port 443."""
    if not c.remote or not c.remote.endswith(":443"):
        return None
    host = c.remote.rsplit(":", 1)[0]
    for d in conns:
        if d.id > c.id and d.tgid == c.tgid and d.remote == f"{host}:80" and d.bytes_recv > 0:
            return d
    return None


def _root(ctx: Context) -> int | None:
    roots = [g for g in set(ctx.groups.tgid.values()) if ctx.groups.parent.get(g) is None]
    if not roots:
        return None
    first = ctx.frame.filter(pl.col("tgid").is_in(roots)).head(1)
    return int(first["tgid"][0]) if first.height else roots[0]


def _killer(ctx: Context, root: int, sig: str) -> str:
    """Who sent the killing signal, for the sentence: its first real delivery's sender."""
    from gotrace.analyzers.signals import in_tree, real_delivery

    first = real_delivery(ctx, root, sig)
    if first is not None and first.sender is not None:
        if in_tree(ctx, first.sender):
            argv = " ".join(ctx.groups.argv.get(first.sender, [])[:3])
            return f"by pid {first.sender}{f' ({argv})' if argv else ''} (line {first.line})"
        return (
            f"by pid {first.sender}, a process outside the trace ({first.code}, line {first.line})"
        )
    if ctx.meta.get("timed_out"):
        return "by the --timeout of gotrace run (or the lab's outer timeout)"
    if ctx.meta.get("interrupted"):
        return "by Ctrl-C"
    return "from outside the trace (e.g. a timeout or the OOM killer)"


def _process_findings(ctx: Context) -> list[Finding]:
    from gotrace.analyzers.signals import gotrace_stop

    out: list[Finding] = []
    root = _root(ctx)
    if root is None:
        return out
    sig = ctx.groups.killed.get(root)
    if sig:
        ev = ctx.frame.filter((pl.col("kind") == "kill") & (pl.col("pid") == root))
        t = ev["ts"][0] if ev.height else None
        stop = gotrace_stop(ctx, root, sig)
        kind, severity, evidence = "killed", "error", tuple(ev["line"].to_list()[:1])
        objects: tuple[str, ...] = (sig,)
        detail: dict[str, Any] = {}
        if stop is not None:
            kind, severity, objects = "stopped", "info", (stop.signal, stop.why)
            summary = f"pid {root} was {stop.phrase} ({stop.signal}); not a cause: see what it was doing then"
            evidence = tuple(dict.fromkeys(stop.evidence + evidence))
            detail = {
                "why": stop.why,
                "after": stop.after,
                "sender": stop.sender,
                "phrase": stop.phrase,
            }
        else:
            summary = f"pid {root} was killed by {sig} {_killer(ctx, root, sig)}"
        out.append(
            Finding(
                kind=kind,
                severity="info" if severity == "info" else "error",
                summary=summary,
                start=t,
                end=t,
                pids=(root,),
                objects=objects,
                evidence=evidence,
                fix=None,
                weight=0.1,
                detail=detail,
            )
        )
        return out
    status = ctx.groups.exit_status.get(root)
    if status is None and isinstance(ctx.meta.get("exit_status"), int):
        status = int(ctx.meta["exit_status"])
    if status:
        out.append(
            Finding(
                kind="exit-status",
                severity="warning",
                summary=f"pid {root} exited with status {status}",
                pids=(root,),
                objects=(str(status),),
                weight=0.05,
            )
        )
    return out


def _slow_findings(
    ctx: Context, conns: list[Connection], quiet: list[QuietPeriod]
) -> list[Finding]:
    out: list[Finding] = []
    if quiet or not ctx.has_timestamps:
        return out
    for c in conns:
        if c.bytes_recv < 8192 or c.first_byte_ts is None or c.last_byte_ts is None:
            continue
        span = c.last_byte_ts - c.first_byte_ts
        if span < 1.0:
            continue
        rate = c.bytes_recv / span
        if rate < SLOW_BYTES_PER_S:
            out.append(
                Finding(
                    kind="slow-transfer",
                    severity="warning",
                    summary=f"received {c.bytes_recv / 1024:.0f} KiB from {c.remote} over {span:.1f} s ({rate / 1024:.1f} KiB/s): slow but steady",
                    start=c.first_byte_ts,
                    end=c.last_byte_ts,
                    pids=tuple(sorted(c.pids)),
                    objects=tuple(x for x in (c.remote, c.last_request()) if x),
                    evidence=tuple(c.lines[:1]),
                    fix="the proxy or the link is slow; nothing is stuck",
                    weight=span,
                )
            )
    return out


def _extra_findings(ctx: Context) -> list[Finding]:
    """Findings of the module-cache and output analyzers."""
    return [*modcache.findings(ctx), *output.findings(ctx)]


#: kinds that describe one cause: a second finding of the kind (e.g. go's own message about
#: the DNS timeout the quiet period already names) adds its words and evidence to the first
SINGULAR = frozenset(
    {
        "lock-wait",
        "dns-timeout",
        "cache-permission",
        "checksum-mismatch",
        "goproxy-off",
        "proxy-refused",
        "http-proxy-refused",
    }
)
#: what a stall of a plain request is called, by the role of the server


def _fold(core: list[Finding], extra: list[Finding]) -> list[Finding]:
    out = list(core)
    for e in extra:
        same = next((i for i, f in enumerate(out) if f.kind == e.kind and e.kind in SINGULAR), None)
        if same is None:
            out.append(e)
            continue
        f = out[same]
        also = [*f.detail.get("also", []), e.summary]
        out[same] = replace(
            f,
            evidence=tuple(dict.fromkeys(f.evidence + e.evidence)),
            objects=tuple(dict.fromkeys(f.objects + e.objects)),
            fix=f.fix or e.fix,
            detail={**f.detail, "also": also},
        )
    return out


def _dedupe(findings: list[Finding]) -> list[Finding]:
    """One finding per kind and object: repeats (three refused connects to one port) fold
    into the first, with their evidence and pids added and a count in ``detail``."""
    merged: dict[tuple[str, tuple[str, ...]], Finding] = {}
    for f in findings:
        key = (f.kind, f.objects)
        first = merged.get(key)
        if first is None:
            merged[key] = f
            continue
        count = int(first.detail.get("count", 1)) + 1
        merged[key] = replace(
            first,
            evidence=tuple(sorted(set(first.evidence) | set(f.evidence))),
            pids=tuple(sorted(set(first.pids) | set(f.pids))),
            end=max((x for x in (first.end, f.end) if x is not None), default=None),
            weight=max(first.weight, f.weight),
            detail={**first.detail, "count": count},
            summary=first.summary if count > 2 else first.summary + " (repeated)",
        )
    return list(merged.values())


def _verdict(ctx: Context, findings: list[Finding], quiet: list[QuietPeriod]) -> str:
    serious = [f for f in findings if f.severity in ("error", "warning") and f.kind != "pause"]
    stopped = next((f for f in findings if f.kind == "stopped"), None)
    if stopped is not None:
        # gotrace's own signal is never the cause: say what the command was doing then
        phrase = str(stopped.detail.get("phrase") or "stopped by gotrace")
        if serious:
            core = serious[0].summary
        elif quiet:
            q = quiet[-1]
            core = f"quiet {q.duration:.1f} s: {q.blame}"
        else:
            return f"{phrase}; it was still making progress (no quiet period, no error)"
        joiner = " while " if core.split(" ", 1)[0] in ("blocked", "stalled", "waiting") else ": "
        return f"{phrase}{joiner}{core}"
    if serious:
        return serious[0].summary
    ts = ctx.frame["ts"].drop_nulls()
    end = float(ts.max()) if ts.len() else None  # type: ignore[arg-type]
    start = ts.min() if ts.len() else None
    took = f" after {end - float(start):.2f} s" if end is not None and start is not None else ""  # type: ignore[arg-type]
    root = _root(ctx)
    status = ctx.groups.exit_status.get(root) if root is not None else None
    net = ctx.frame.filter(pl.col("syscall") == "connect").height
    from gotrace.analyzers.output import is_go

    if status == 0 and not is_go(ctx):
        # not go: nothing about modules or caches; say how long it was quiet, if it was
        if quiet:
            q = max(quiet, key=lambda p: p.duration)
            return f"exited 0{took}; quiet {q.duration:.1f} s: {q.blame}"
        return f"exited 0{took}; nothing went quiet"
    if status == 0:
        pauses = [f for f in findings if f.kind == "pause"]
        if pauses:
            return f"exited 0{took}; {pauses[0].summary}"
        if net == 0:
            return f"exited 0{took} without touching the network: nothing to download (everything was already in the module cache)"
        return f"exited 0{took}; nothing went quiet"
    if quiet:
        return f"quiet {quiet[0].duration:.1f} s: {quiet[0].blame}"
    return f"ended{took}; no quiet period and no error in the trace"
