"""What each quiet period waited on, as findings: a proxy, the checksum database, an HTTP
proxy or git that accepted a request and never answered, a body cut off, a lock held, a DNS
name unanswered, a pause that recovered. Each names the object and the setting behind it."""

from __future__ import annotations

import re
from typing import Any

import polars as pl

from gotrace.analyzers import settings as goset
from gotrace.analyzers.context import Context
from gotrace.analyzers.findings import Finding
from gotrace.analyzers.quiet import QuietPeriod
from gotrace.modcachelayout import download_temp_url_path
from gotrace.netaddr import url_endpoint
from gotrace.protocols import git_ssh_remote, proxy_path, request_target


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
    started = unfinished_download(ctx)
    if since is not None:
        from gotrace.analyzers.quiet import download_awaited

        awaited = download_awaited(ctx, since)
        if awaited is not None:
            if started is not None and awaited == f"GET {proxy_path(*started, 'zip')}":
                return awaited, "go: downloading"
            return awaited, "guess"
    if started is not None:
        return f"GET {proxy_path(*started, 'zip')}", "go: downloading"
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


def _sni_url(sni: str | None, remote: str | None) -> str | None:
    """``https://NAME[:PORT]`` from the name sent as SNI and the port connected to (the
    remote address when no name was sent)."""
    if not sni:
        return remote
    port = remote.rpartition(":")[2] if remote else "443"
    return f"https://{sni}" if port == "443" else f"https://{sni}:{port}"


def unfinished_download(ctx: Context) -> tuple[str, str] | None:
    """(module, version) of go's last ``go: downloading`` line whose zip never got a result:
    never renamed into place, never extracted, no error about it."""
    from gotrace.analyzers.modcache import modules
    from gotrace.analyzers.output import downloading

    started = downloading(ctx)
    if not started.height:
        return None
    m = modules(ctx)
    done = {
        (r["module"], r["version"])
        for r in m.iter_rows(named=True)
        if r["result"] == "failed" or r["extracted"] or "zip" in (r["renamed"] or [])
    }
    for mod, ver in reversed(started.select("module", "version").rows()):
        if (mod, ver) not in done:
            return str(mod), str(ver)
    return None


def rel(ctx: Context, path: str) -> str:
    if ctx.gomodcache and path.startswith(ctx.gomodcache.rstrip("/") + "/"):
        return path[len(ctx.gomodcache.rstrip("/")) + 1 :]
    return path


def quiet_findings(
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
    root = root_pid(ctx)
    ok = root is not None and ctx.groups.exit_status.get(root) == 0
    from gotrace.analyzers.output import not_go

    go = not not_go(ctx)  # git run by hand, or curl, is no go download
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
            #: objects a branch names beyond the socket, the request and the URL
            also: tuple[str, ...] = ()
            req = q.detail.get("request")
            role, url, sep = goset.role(remote, env, q.detail.get("sni"), req)
            tunnel = q.detail.get("tunnel")
            through = ""
            if tunnel and role == "http-proxy":
                role, url, sep, through, also = _behind_tunnel(q, env, url, sep)
            behind = " behind the tunnel" if through else ""
            if role == "proxy":
                why = f"the module proxy{behind} accepted the request and never answered"
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
                why = f"the checksum database{behind} accepted the request and never answered"
                fix = (
                    f"the checksum database {url} stalls: point GOSUMDB at a reachable one, or list private "
                    "modules in GONOSUMDB/GOPRIVATE (GOSUMDB=off turns verification off)"
                )
                kind = "sumdb-stall"
            elif role == "other" and go and _git_remote(ctx, q.pids, q.detail) is not None:
                url, helper = _git_remote(ctx, q.pids, q.detail) or ("?", "git")
                direct = direct_setting(env, url)
                if q.detail.get("proto") == "ssh":
                    # only ssh's identification line is in the clear
                    why = (
                        f"the ssh server for {url} accepted the connection and never answered "
                        f"ssh's banner ({helper}, run by go in direct mode: {direct})"
                    )
                else:
                    why = (
                        f"the git server {url} accepted the request and never answered "
                        f"({helper}, run by go in direct mode: {direct})"
                    )
                fix = (
                    f"go waits for git without a deadline and git waits for {url} forever: fix "
                    "that server; go holds git's stderr until git fails, so nothing is printed"
                )
                kind = "git-stall"
            elif role == "http-proxy":
                target = req.split(" ", 2)[1] if req and req.startswith("CONNECT ") else None
                origin = request_target(req.partition(" ")[2])[0] if req else None
                host = "the host"
                if target:
                    entry, var = goset.proxied_for(f"https://{target}", env)
                    asked = f"the tunnel request to {target}"
                    if var:
                        # what the tunnel was for: the setting go took the host from
                        asked += f" (for the {var} entry {entry})"
                        also = (str(sep), entry)
                elif origin:
                    # a plain http URL, sent whole (the absolute form): name what it was for
                    entry, var = goset.proxied_for(origin, env)
                    asked = f"the request for {f'the {var} entry ' if var else ''}{entry}"
                    named = url_endpoint(origin)
                    host = named[0] if named else host
                    also = (str(sep), entry)
                else:
                    asked = "the request"
                why = f"the HTTP proxy {url} (set by {sep}) accepted {asked} and never answered"
                fix = (
                    f"the proxy in {sep} does not answer: fix it, or list {host} in NO_PROXY "
                    "if it should be reached directly"
                )
                kind = "http-proxy-stall"
            else:
                why = f"the server{behind} accepted the request and never answered"
                fix = "find out why the server does not answer; go has no timeout for this wait"
                kind = "socket-stall"
            after = f" after sending `{req}`" if req else ""
            tls = q.detail.get("tls")
            if tls and not req:
                # encrypted: name the URL as written, the TLS state and the setting
                likely, how = _likely_request(ctx, url, q.detail.get("since"))
                where = url or _sni_url(q.detail.get("sni"), remote)
                setting = goset.setting(role, sep)
                said = f"{setting}; " if setting else ""
                sent = _size(int(q.detail.get("unanswered_bytes") or 0))
                state = (
                    f"{tls}, {sent} of encrypted request sent, nothing back"
                    if tls == "TLS established"
                    else f"{tls}"
                )
                if likely and how == "go -x":
                    which = f": `GET {likely}`"
                elif likely and how == "go: downloading":
                    mod, ver = unfinished_download(ctx) or ("?", "?")
                    which = (
                        f"; most likely `{likely}` ({mod}@{ver}, the last `go: downloading` line "
                        "with no result; go -x shows the URL)"
                    )
                elif likely:
                    which = f"; most likely `{likely}` (go -x shows the URL)"
                else:
                    which = "; go -x shows which URL" if go else ""
                summary = (
                    f"blocked {dur:.1f} s waiting for an answer from {where} ({said}{through}"
                    f"{state} on {remote}){which} — {why}"
                )
                if tls != "TLS established":
                    kind = "tls-handshake-stall"
                    answered = (
                        "answered part of the handshake, then stopped"
                        if tls.endswith("progress")
                        else "never answered the ClientHello"
                    )
                    accepted = (
                        "the tunnel is up, but the server behind it"
                        if through
                        else "the server accepted the connection and"
                    )
                    summary = (
                        f"blocked {dur:.1f} s in the TLS handshake with {where} ({said}{through}"
                        f"{state} on {remote}) — {accepted} {answered}"
                    )
                    fix = (
                        f"something at {remote} accepts TCP but does not speak TLS back (a wedged "
                        "proxy, or a middlebox); go gives up only after its 10 s handshake timeout"
                        if not through
                        else f"the HTTP proxy {also[0]} opened the tunnel, but nothing comes back "
                        f"through it from {tunnel}: look at the proxy's connection to it (its "
                        "logs), or at that server; go gives up after its 10 s handshake timeout"
                    )
                    likely = None
                objects = tuple(x for x in (remote, where, likely, url, *also) if x)
            else:
                summary = f"blocked {dur:.1f} s in read on TCP {remote}{after} — {why}"
                objects = tuple(x for x in (remote, req, url, *also) if x)
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
            objects = q.objects
            if q.detail.get("tls"):
                role, url, sep = goset.role(remote, env, q.detail.get("sni"))
                through = ""
                if q.detail.get("tunnel") and role == "http-proxy":
                    role, url, sep, through, tunneled = _behind_tunnel(q, env, url, sep)
                    objects = tuple(dict.fromkeys((*objects, *(x for x in (url, *tunneled) if x))))
                setting = goset.setting(role, sep)
                where = url or _sni_url(q.detail.get("sni"), remote)
                stopped = "the server behind the tunnel" if through else "the server"
                summary = (
                    f"stalled {dur:.1f} s mid-download from {where} ({f'{setting}; ' if setting else ''}"
                    f"{through}TLS established, on {remote}): most likely `{q.detail.get('request')}`, "
                    f"{_size(int(got or 0))} of it written, then nothing — {stopped} stopped sending"
                )
            out.append(
                Finding(
                    kind="body-stall",
                    severity="error",
                    summary=summary,
                    objects=objects,
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
                    summary=f"waited {dur:.1f} s for the lock {rel(ctx, path)} ({who})",
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


def _behind_tunnel(
    q: QuietPeriod, env: dict[str, str], proxy: str | None, var: str | None
) -> tuple[str, str | None, str | None, str, tuple[str, ...]]:
    """What a wait on a CONNECT tunnel the HTTP proxy ``proxy`` (set by ``var``) opened was
    for: (role, url, separator) of the tunnel's target, the words naming the tunnel, and the
    objects it adds (the proxy, its variable, the CONNECT)."""
    tunnel = str(q.detail["tunnel"])
    through = (
        f"through the HTTP proxy {proxy} (set by {var}), whose CONNECT tunnel to "
        f"{tunnel} is established ({q.detail.get('tunnel_status') or '2xx'}); "
    )
    also = tuple(x for x in (proxy, var, f"CONNECT {tunnel}") if x)
    role, url, sep = goset.role(tunnel, env, q.detail.get("sni"))
    return role, url or f"https://{tunnel}".removesuffix(":443"), sep, through, also


def _pause(q: QuietPeriod, env: dict[str, str], common: dict[str, Any]) -> Finding:
    """A stall the command recovered from (it went on and exited 0): a pause, not a cause."""
    remote = q.objects[0] if q.objects else None
    req = q.detail.get("request")
    role, url, sep = goset.role(remote, env, q.detail.get("sni"), req)
    source = url or (f"http://{remote}" if remote else "the server")
    origin, target = request_target(req.split(" ", 2)[1]) if req and " " in req else (None, "")
    path = target.lstrip("/") if req and " " in req else None
    if origin is not None and role == "http-proxy":
        # a plain http URL through HTTP_PROXY: what it was for, and the proxy in between
        source = f"{goset.proxied_for(origin, env)[0]} (through the HTTP proxy {url}, {sep})"
    elif q.detail.get("tunnel") and role == "http-proxy":
        # through a CONNECT tunnel: the target it was for, and the proxy that opened it
        proxy, var = url, sep
        role, url, sep, _, _ = _behind_tunnel(q, env, proxy, var)
        source = f"{url} (through the CONNECT tunnel of the HTTP proxy {proxy}, {var})"
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


def git_remote_of(argv: list[str], parent: list[str] | None = None) -> tuple[str, str] | None:
    """(remote URL, what talks to it) when ``argv`` is git's remote helper
    (``git-remote-http origin URL``, ``git remote-https URL``) or the ssh git runs."""
    names = [a.rsplit("/", 1)[-1] for a in argv[:2]]
    if names and (
        names[0].startswith("git-remote-") or names[1:2] in (["remote-http"], ["remote-https"])
    ):
        helper = names[0] if names[0].startswith("git-remote-") else f"git {names[1]}"
        return argv[-1], helper
    if names and names[0] == "ssh" and (parent is None or _is_git(parent)):
        remote = git_ssh_remote(argv)
        if remote is not None:
            return remote, "ssh, run by git"
    return None


def _git_remote(
    ctx: Context, pids: tuple[int, ...], detail: dict[str, Any] | None = None
) -> tuple[str, str] | None:
    """(remote URL, what talked to it) when one of ``pids`` is git's remote helper
    (``git-remote-http origin URL``, ``git remote-https URL``), the ssh git runs for an
    ssh remote, or git itself talking to a git daemon (``detail``: the request sent, a
    quiet period's, names the repository and host)."""
    detail = detail or {}
    for pid in pids:
        group = ctx.groups.tgid.get(pid, pid)
        argv = ctx.groups.argv.get(group) or []
        if detail.get("proto") == "git" and _is_git(argv):
            host = detail.get("host") or "?"
            # ``git-upload-pack /m.git host=...``: the repository is the second word
            path = [*str(detail.get("request") or "").split(" "), "", ""][1]
            return f"git://{host}{path}", " ".join(argv[:2]).rsplit("/", 1)[-1]
        # the process itself, else its parents (``git remote-http`` execs git-remote-http;
        # an exec the trace missed leaves the parent's argv to go by)
        proc: int | None = group
        for _ in range(3):
            if proc is None:
                break
            parent = ctx.groups.parent.get(proc)
            found = git_remote_of(
                ctx.groups.argv.get(proc) or [],
                (ctx.groups.argv.get(parent) or []) if parent is not None else [],
            )
            if found is not None:
                return found
            proc = parent
    return None


def _is_git(argv: list[str]) -> bool:
    return bool(argv) and argv[0].rsplit("/", 1)[-1] == "git"


def direct_setting(env: dict[str, str], url: str) -> str:
    """Which setting sent go to the VCS for ``url``'s host: GOPRIVATE/GONOPROXY or
    GOPROXY=direct."""
    # https://host/x, git://host:9418/x, ssh://git@host/x, git@host:x (scp-like)
    host = re.sub(r"^[a-z+]+://", "", url).split("/", 1)[0].rpartition("@")[2].split(":")[0]
    for key in ("GOPRIVATE", "GONOPROXY"):
        for pattern in (env.get(key) or "").split(","):
            if pattern and (
                host == pattern or host.endswith("." + pattern) or pattern.startswith(host)
            ):
                return f"{key}={env[key]}"
    return f"GOPROXY={env.get('GOPROXY', 'direct')}"


def root_pid(ctx: Context) -> int | None:
    roots = [g for g in set(ctx.groups.tgid.values()) if ctx.groups.parent.get(g) is None]
    if not roots:
        return None
    first = ctx.frame.filter(pl.col("tgid").is_in(roots)).head(1)
    return int(first["tgid"][0]) if first.height else roots[0]
