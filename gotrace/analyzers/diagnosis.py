"""The diagnosis: every analyzer's findings, ordered, and the one-line verdict.

The verdict answers "why was it quiet" and names the object: the socket and the request
it waits on, the lock and who holds it, the DNS name and server, the signal that ended it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from gotrace.analyzers import modcache, output
from gotrace.analyzers import settings as goset
from gotrace.analyzers.context import Context
from gotrace.analyzers.findings import Finding, order
from gotrace.analyzers.network import Connection, connections
from gotrace.analyzers.quiet import QuietPeriod, quiet_periods, unanswered
from gotrace.analyzers.stalls import quiet_findings, root_pid
from gotrace.goconfig.goproxy import proxy_list
from gotrace.netaddr import url_endpoint

SLOW_BYTES_PER_S = 64 * 1024


@dataclass
class Analysis:
    """The diagnosis's part of the :class:`~gotrace.analyzers.report.Report` (which
    :func:`~gotrace.analyzers.report.build_report` copies into it)."""

    verdict: str
    findings: list[Finding]
    quiet: list[QuietPeriod]
    connections: list[Connection]
    context: Context
    settings: list[str] = field(default_factory=list)
    #: HTTP answers per path and how go fell back: ``404 from A, then 200 from B after the comma``
    exchanges: list[str] = field(default_factory=list)


def diagnose(ctx: Context, *, min_quiet: float = 1.0) -> Analysis:
    conns = connections(ctx)
    quiet = quiet_periods(ctx, conns, min_quiet=min_quiet)
    go = not output.not_go(ctx)
    env = goset.go_env(ctx)
    if not go:
        # GOPROXY, GOSUMDB... mean nothing to a command that is not go (HTTPS_PROXY still may)
        env = {k: v for k, v in env.items() if not k.startswith("GO")}
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
    findings += quiet_findings(ctx, _until_stopped(ctx, told), env, holders)
    if not any(q.kind in ("socket-wait", "body-stall", "lock", "dns") for q in quiet):
        findings += quiet_findings(ctx, _until_stopped(ctx, list(waits.values())), env, holders)
    findings += _connection_findings(conns, env)
    findings += _process_findings(ctx)
    findings += _slow_findings(ctx, conns, quiet)
    findings = _fold(findings, _extra_findings(ctx))
    if not ctx.frame.height:
        # a /proc-only capture: the samples are all there is; name the setting behind a
        # stalled socket from the addresses /proc shows
        findings += [_named_by_settings(ctx, f, env) for f in from_samples]
    if not go:
        findings = [_not_go(f) for f in findings]
    findings = order(_dedupe(findings))
    verdict = _verdict(ctx, findings, quiet)
    return Analysis(
        verdict,
        findings,
        quiet,
        conns,
        ctx,
        settings=goset.explain_settings(env) if go else [],
        exchanges=goset.explain_exchanges(conns, env) if go else [],
    )


# -- findings ------------------------------------------------------------------------------


def _sample_findings(ctx: Context) -> list[Finding]:
    if not ctx.samples:
        return []
    from gotrace.analyzers.samples import findings

    return findings(list(ctx.samples))


def _named_by_settings(ctx: Context, f: Finding, env: dict[str, str]) -> Finding:
    """A /proc sample's ``socket-stalled`` finding with what the peer is to go: a GOPROXY
    entry, the checksum database, an HTTP proxy, or (the process being git's remote helper
    or ssh) the git remote of direct mode. /proc shows neither the request nor TLS."""
    from gotrace.analyzers.stalls import direct_setting, git_remote_of

    if f.kind != "socket-stalled" or not f.objects or " " not in f.objects[0]:
        return f
    remote = f.objects[0].split(" ", 1)[1]
    role, url, sep = goset.role(remote, env)
    cmdline = next(
        (list(p.cmdline) for s in reversed(ctx.samples) for p in s.processes if p.pid in f.pids),
        [],
    )
    unseen = "/proc shows no request: a syscall backend (strace, ptrace) or --go-x names it"
    if role == "proxy":
        kind, why = "proxy-stall", f"the module proxy {url} (GOPROXY) never answered"
    elif role == "sumdb":
        kind, why = "sumdb-stall", f"the checksum database {url} (GOSUMDB) never answered"
    elif role == "http-proxy":
        kind, why = "http-proxy-stall", f"the HTTP proxy {url} (set by {sep}) never answered"
        tunnelled = [e for e, _ in proxy_list(env.get("GOPROXY", "")) if e.startswith("https://")]
        if sep == "HTTPS_PROXY" and tunnelled:
            # /proc cannot tell an unanswered CONNECT from a stall behind an open tunnel
            why = (
                f"nothing came back from the HTTP proxy {url} (set by {sep}) or from the "
                f"server behind its CONNECT tunnel (GOPROXY {', '.join(tunnelled)})"
            )
    elif (git := git_remote_of(cmdline)) is not None:
        kind = "git-stall"
        why = (
            f"the git server {git[0]} never answered ({git[1]}, run by go in direct mode: "
            f"{direct_setting(env, git[0])})"
        )
        unseen = "/proc shows no request: a syscall backend shows what git sent"
    else:
        return f
    objects = tuple(dict.fromkeys((*f.objects, *(x for x in (url, sep) if x))))
    return replace(f, kind=kind, summary=f"{f.summary} — {why}; {unseen}", objects=objects)


def _connection_findings(conns: list[Connection], env: dict[str, str]) -> list[Finding]:
    out: list[Finding] = []
    for c in conns:
        for i in range(len(c.requests)):
            refused = _proxy_refusal(c, i, env)
            if refused is not None:
                out.append(refused)
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
            role, url, _sep = goset.role(c.remote, env)
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


def _until_stopped(ctx: Context, quiet: list[QuietPeriod]) -> list[QuietPeriod]:
    """The waits as long as they lasted until gotrace stopped the command: what it was
    blocked on then, not the seconds a child that ignored SIGTERM (git) stayed blocked
    while gotrace ended the tree."""
    from gotrace.analyzers.signals import gotrace_stop, recorded

    root = root_pid(ctx)
    sig = ctx.groups.killed.get(root) if root is not None else None
    stop = gotrace_stop(ctx, root, sig) if sig else None
    if stop is None:
        return quiet
    sent = [float(s["ts"]) for s in recorded(ctx) if isinstance(s.get("ts"), (int, float))]
    if sent:
        at: float | None = sent[0]
    else:  # an older capture: the signal's arrival in the trace
        hit = ctx.frame.filter(pl.col("line").is_in(list(stop.evidence[:1])))["ts"]
        at = float(hit[0]) if hit.len() and hit[0] is not None else None
    if at is None:
        return quiet
    return [replace(q, end=at) if q.start < at < q.end else q for q in quiet]


#: answers to a proxied plain-http request that are the HTTP proxy's own, not the origin's
#: passed on: it wants credentials, or could not reach the origin (a 404 is the origin's)
PROXY_STATUSES = ("407", "502", "503", "504")


def _proxy_refusal(c: Connection, i: int, env: dict[str, str]) -> Finding | None:
    """The HTTP proxy's refusal of request ``i`` of ``c``: a CONNECT turned down (407 for
    credentials, 403, 502 upstream...), or a plain http URL (the absolute form) answered
    with the proxy's own 407/502/503/504."""
    req = c.requests[i]
    request = str(req["request"])
    if i >= len(c.responses):
        return None
    status = str(c.responses[i]["status"])
    origin = req.get("origin")
    also: tuple[str, ...] = ()
    if request.startswith("CONNECT "):
        if status.startswith("2"):
            return None
        target = request.split(" ")[1]
        asked, host = f"`CONNECT {target}`", "the host"
        entry, setting = goset.proxied_for(f"https://{target}", env)
        if setting:
            # what the tunnel was for: the GOPROXY entry (or GOSUMDB) go took the host from
            asked += f" (for the {setting} entry {entry})"
            also = (entry,)
    elif origin and status.startswith(PROXY_STATUSES):
        entry, setting = goset.proxied_for(str(origin), env)
        target = str(origin)
        asked = f"`{request}` ({f'for the {setting} entry ' if setting else 'for '}{entry})"
        named = url_endpoint(target)
        host = named[0] if named else "the host"
        also = tuple(x for x in (request, entry) if x)
    else:
        return None
    role, url, var = goset.role(c.remote, env, None, request)
    if role != "http-proxy" and origin:
        return None  # a server that takes absolute URLs, but no proxy go was told of
    by = (
        f"the HTTP proxy {url} (set by {var})"
        if role == "http-proxy"
        else f"the HTTP proxy at {c.remote}"
    )
    fix = (
        f"the proxy wants credentials: put them in {var} (https://user:token@host:port; "
        f"go refuses to send them to an http:// proxy), or list {host} in NO_PROXY"
        if status.startswith("407")
        else f"the proxy could not or would not reach {target}: check its logs and "
        f"allow-list, or list {host} in NO_PROXY"
    )
    return Finding(
        kind="http-proxy-refused",
        severity="error",
        summary=f"{by} answered {asked} with {status}",
        start=req["ts"],
        end=c.responses[i]["ts"],
        pids=tuple(sorted(c.pids)),
        objects=tuple(dict.fromkeys(x for x in (c.remote, url, var, target, status, *also) if x)),
        evidence=(req["line"], c.responses[i]["line"]),
        fix=fix,
        weight=1.0,
    )


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
    root = root_pid(ctx)
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


#: the fix of a finding when the command is not go: go's timeouts, GOPROXY and -x do not apply
_NOT_GO_FIXES: dict[str, str] = {
    "socket-stall": "find out why the server does not answer; the command waits for it without a timeout of its own",
    "connect-failed": "nothing listens there: start the server, or fix the address the command uses",
    "connect-timeout": "the address does not answer SYNs (a firewall or a dead host)",
    "dns-timeout": "the resolver does not answer: check /etc/resolv.conf (or the network namespace's)",
    "lock-wait": "another process holds the lock: wait for it or stop it",
    "body-stall": "the server (or a middlebox) stopped in the middle of a response: fix the server",
    "child-stall": "trace the child (gotrace shows its calls) or run it by hand",
    "tls-handshake-stall": "something accepts TCP there but does not speak TLS back (a wedged server, or a middlebox)",
    "slow-transfer": "the server or the link is slow; nothing is stuck",
}  # fmt: skip


def _not_go(f: Finding) -> Finding:
    """``f`` with its go-specific advice replaced, for a command that is not go."""
    if f.kind not in _NOT_GO_FIXES or f.fix is None:
        return f
    return replace(f, fix=_NOT_GO_FIXES[f.kind])


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


#: go subcommands that load no module: "nothing to download" would say too much
_NO_MODULES = frozenset({"version", "env", "help", "telemetry"})


def _subcommand(ctx: Context) -> str | None:
    """The go subcommand run (``mod`` of ``go mod download``), when the command is go."""
    root = root_pid(ctx)
    argv = ctx.meta.get("argv") or (ctx.groups.argv.get(root) if root is not None else None)
    words = [str(a) for a in (argv or [])[1:] if not str(a).startswith("-")]
    return words[0] if words else None


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
    root = root_pid(ctx)
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
        if net == 0 and _subcommand(ctx) in _NO_MODULES:
            return f"exited 0{took}; nothing went quiet"
        if net == 0:
            return f"exited 0{took} without touching the network: nothing to download (everything was already in the module cache)"
        return f"exited 0{took}; nothing went quiet"
    if quiet:
        return f"quiet {quiet[0].duration:.1f} s: {quiet[0].blame}"
    return f"ended{took}; no quiet period and no error in the trace"
