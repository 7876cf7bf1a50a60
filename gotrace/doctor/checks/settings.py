"""Checks of go's settings: go itself, module mode, GOFLAGS, GOTOOLCHAIN, GOPROXY, the
GOPRIVATE family, GOSUMDB and the HTTP proxy variables."""

from __future__ import annotations

from gotrace.doctor.checks.common import are, fetched, in_gosum, plural, setting
from gotrace.doctor.model import STATUS_RANK, Check, DoctorSnapshot, Status
from gotrace.goconfig.envvars import DEVNULL, IGNORED_BY_GO
from gotrace.goconfig.goproxy import DEFAULT_GOPROXY, explain_goproxy, parse_goproxy
from gotrace.goconfig.gosumdb import DEFAULT_GOSUMDB, parse_gosumdb, sumdb_routes
from gotrace.goconfig.gover import plan_toolchain
from gotrace.goconfig.httpproxy import PROXY_ENV, proxy_env, route_for
from gotrace.goconfig.pathmatch import match_prefix_patterns, matching_pattern
from gotrace.goconfig.routes import probe_targets


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
    mode = setting(s, "GO111MODULE")
    gomod = setting(s, "GOMOD")
    gowork = setting(s, "GOWORK")
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
    flags = setting(s, "GOFLAGS")
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
    value = setting(s, "GOPROXY")
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
                f"{plural(len(missing), 'requirement')} ({names}) {are(len(missing))} not in the cache: "
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
    goprivate = setting(s, "GOPRIVATE")
    effects = {
        "GONOPROXY": "fetched directly from their origin (git), not through GOPROXY",
        "GONOSUMDB": "not checked against the checksum database (go.sum only)",
        "GOPRIVATE": "the default for GONOPROXY and GONOSUMDB",
        "GOINSECURE": "fetched without TLS verification / over plain HTTP",
    }
    for var in ("GOPRIVATE", "GONOPROXY", "GONOSUMDB", "GOINSECURE"):
        globs = setting(s, var)
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
            plist = parse_goproxy(setting(s, "GOPROXY"))
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
    value = setting(s, "GOSUMDB")
    db = parse_gosumdb(value)
    reqs = fetched(s)
    nosum = setting(s, "GONOSUMDB")
    unsummed = [r for r in reqs if s.gosum is None or not in_gosum(s.gosum, r)]
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
                f" {plural(len(need), 'requirement')} {are(len(need))} not in go.sum and go "
                "will not verify them."
            )
        return Check("GOSUMDB", "info", "off", why)
    routes = sumdb_routes(db, parse_goproxy(setting(s, "GOPROXY")))
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
            f"database about {plural(len(need), 'requirement')}, because {gosum}; {how}. "
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
