"""What the traced processes wrote to their stdout and stderr, and what that says.

A write's buffer is in the trace even when the fd led nowhere: an error go wrote to a
stderr that was /dev/null (or closed) is recovered from the ``write(2</dev/null…>, "…")``
call itself. go's ``-x`` lines (``# get URL``, ``# get URL: 200 OK (0.012s)``, ``# lock``,
``cd DIR; git …``) are parsed apart from its error messages (golang/go
``src/cmd/go/internal/web/http.go``, ``modfetch/codehost/codehost.go``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from gotrace.analyzers.context import Context
from gotrace.analyzers.findings import Finding
from gotrace.parsers.args import decode_string, split_args

_WRITE_CALLS = ("write", "writev", "pwrite64", "pwritev", "pwritev2", "send", "sendto", "sendmsg")
_IOV_CALLS = ("writev", "pwritev", "pwritev2", "sendmsg")
_STRING = r'"(?:[^"\\]|\\.)*"(?:\.\.\.)?'
_IOV_BASE = re.compile(r"iov_base=(" + _STRING + ")")
#: where a write went, judged by its fd's target; ``closed`` when it failed with EBADF
TARGET_KINDS = ("tty", "pipe", "file", "devnull", "socket", "closed", "unknown")
HIDDEN = ("devnull", "closed")
_SMALL_WEIGHT = 0.5

_WRITES_SCHEMA: dict[str, Any] = {
    "line": pl.Int64, "ts": pl.Float64, "pid": pl.Int64, "tgid": pl.Int64,
    "syscall": pl.String, "fd": pl.Int64, "target": pl.String, "target_kind": pl.String,
    "bytes": pl.Int64, "errno": pl.String, "text": pl.String, "truncated": pl.Boolean,
}  # fmt: skip


def writes(ctx: Context) -> pl.DataFrame:
    """Every write to fd 1 or 2 by any process (write, writev, pwrite64, pwritev, send,
    sendto, sendmsg): the fd number is the writer's at that moment, ``target`` what it
    led to then (strace's -y annotation or the replayed fd table), ``target_kind`` one of
    :data:`TARGET_KINDS`. ``bytes`` is what the call returned (null if it failed or never
    returned); ``text`` the buffer decoded (UTF-8, bad bytes replaced), ``truncated`` when
    strace cut it at ``-s``."""
    f = ctx.frame
    if not f.height:
        return pl.DataFrame(schema=_WRITES_SCHEMA)
    sc = f.filter((pl.col("kind") == "syscall") & pl.col("syscall").is_in(_WRITE_CALLS))
    sc = sc.with_columns(
        fd=pl.coalesce(
            pl.col("fd"), pl.col("args").str.extract(r"^(\d+)", 1).cast(pl.Int64, strict=False)
        )
    ).filter(pl.col("fd").is_in([1, 2]))
    target = pl.col("target")
    kind = (
        pl.when(pl.col("errno") == "EBADF")
        .then(pl.lit("closed"))
        .when(target.is_null() | target.str.starts_with("<"))
        .then(pl.lit("unknown"))
        .when(target.str.starts_with("/dev/null"))
        .then(pl.lit("devnull"))
        .when(target.str.contains(r"^/dev/(pts/|tty|console)"))
        .then(pl.lit("tty"))
        .when(target.str.starts_with("pipe:"))
        .then(pl.lit("pipe"))
        .when(target.str.contains(r"^(TCP|UDP|UNIX|NETLINK|socket:|[A-Z0-9]+v?6?:\[)"))
        .then(pl.lit("socket"))
        .when(target.str.starts_with("/"))
        .then(pl.lit("file"))
        .otherwise(pl.lit("unknown"))
    )
    sc = sc.with_columns(
        target_kind=kind,
        bytes=pl.when(pl.col("retval") >= 0).then(pl.col("retval")),
    )
    texts: list[str | None] = []
    cut: list[bool] = []
    for name, args in sc.select("syscall", "args").iter_rows():
        text, truncated = _buffer(name, args or "")
        texts.append(text)
        cut.append(truncated)
    sc = sc.with_columns(
        text=pl.Series(texts, dtype=pl.String), truncated=pl.Series(cut, dtype=pl.Boolean)
    )
    return sc.select(list(_WRITES_SCHEMA)).cast(_WRITES_SCHEMA)  # type: ignore[arg-type]


def _buffer(name: str, args: str) -> tuple[str | None, bool]:
    if name in _IOV_CALLS:
        parts = [decode_string(m.group(1)) for m in _IOV_BASE.finditer(args)]
        found = [p for p in parts if p is not None]
        if not found:
            return None, False
        return b"".join(p.value for p in found).decode("utf-8", "replace"), any(
            p.truncated for p in found
        )
    parts_ = split_args(args)
    if len(parts_) < 2:
        return None, False
    s = decode_string(parts_[1])
    return (s.text(), s.truncated) if s else (None, False)


# -- go -x --------------------------------------------------------------------------------
_VCS = r"(?:git|hg|svn|bzr|fossil)"
_X_GET = re.compile(r"^# get (?P<url>\S+)$")
_X_GET_RESULT = re.compile(
    r"^# get (?P<url>\S+?): (?P<rest>.*?)(?: \((?P<secs>\d+(?:\.\d+)?)s\))?$"
)
_X_STATUS = re.compile(r"^(?P<code>\d{3})(?: (?P<text>.*))?$")
_X_LOCK = re.compile(r"^# lock (?P<path>\S.*)$")
_X_MKDIR = re.compile(r"^mkdir -p (?P<dir>\S+) # (?P<vcs>\S+) (?P<remote>\S+)$")
_X_VCSDIR = re.compile(r"^# (?P<dir>/\S+) for (?P<vcs>\S+) (?P<remote>\S+)$")
_X_DONE = re.compile(r"^(?P<secs>\d+\.\d+)s # (?:cd (?P<dir>[^;]+); )?(?P<cmd>.+)$")
_X_CMD = re.compile(r"^(?:cd (?P<dir>[^;]+); )?(?P<cmd>" + _VCS + r" .*)$")

_X_SCHEMA: dict[str, Any] = {
    "line": pl.Int64, "ts": pl.Float64, "pid": pl.Int64, "tgid": pl.Int64, "kind": pl.String,
    "url": pl.String, "status_code": pl.Int64, "status": pl.String, "error": pl.String,
    "seconds": pl.Float64, "path": pl.String, "dir": pl.String, "command": pl.String,
    "text": pl.String,
}  # fmt: skip


def parse_x_line(text: str) -> dict[str, Any] | None:
    """One line of go's ``-x`` output -> its fields, or None when it is not one.

    kinds: ``get`` (``# get URL``), ``get-status`` (``# get URL: 200 OK (0.012s)``),
    ``get-error`` (``# get URL: <error>[ (0.5s)]``, also ``insecure``/``unsupported``),
    ``lock`` (``# lock PATH``, a cache/vcs lock), ``mkdir`` (``mkdir -p DIR # git URL``),
    ``vcs-dir`` (``# DIR for git URL``), ``cmd`` (``cd DIR; git …``), ``cmd-done``
    (``0.123s # cd DIR; git …``)."""
    text = text.rstrip("\r")
    out: dict[str, Any] = {"text": text}
    m = _X_GET.match(text)
    if m:
        return {**out, "kind": "get", "url": m.group("url")}
    m = _X_GET_RESULT.match(text)
    if m:
        secs = float(m.group("secs")) if m.group("secs") else None
        status = _X_STATUS.match(m.group("rest"))
        if status:
            return {
                **out,
                "kind": "get-status",
                "url": m.group("url"),
                "status_code": int(status.group("code")),
                "status": m.group("rest"),
                "seconds": secs,
            }
        return {
            **out,
            "kind": "get-error",
            "url": m.group("url"),
            "error": m.group("rest"),
            "seconds": secs,
        }
    m = _X_LOCK.match(text)
    if m:
        return {**out, "kind": "lock", "path": m.group("path")}
    m = _X_MKDIR.match(text)
    if m:
        return {**out, "kind": "mkdir", "dir": m.group("dir"), "url": m.group("remote")}
    m = _X_VCSDIR.match(text)
    if m:
        return {**out, "kind": "vcs-dir", "dir": m.group("dir"), "url": m.group("remote")}
    m = _X_DONE.match(text)
    if m:
        return {
            **out,
            "kind": "cmd-done",
            "seconds": float(m.group("secs")),
            "dir": m.group("dir"),
            "command": m.group("cmd"),
        }
    m = _X_CMD.match(text)
    if m:
        return {**out, "kind": "cmd", "dir": m.group("dir"), "command": m.group("cmd")}
    return None


def is_x_line(text: str) -> bool:
    """Whether ``text`` (one line) is go -x tracing rather than a message."""
    return parse_x_line(text) is not None


def go_x(ctx: Context) -> pl.DataFrame:
    """go's ``-x`` lines, from every write to fd 2 (wherever it led): one row per line,
    fields as :func:`parse_x_line` gives them."""
    w = writes(ctx).filter((pl.col("fd") == 2) & pl.col("text").is_not_null())
    rows = []
    for r in w.iter_rows(named=True):
        for raw in str(r["text"]).splitlines():
            parsed = parse_x_line(raw)
            if parsed is not None:
                rows.append(
                    {
                        **{k: None for k in _X_SCHEMA},
                        "line": r["line"],
                        "ts": r["ts"],
                        "pid": r["pid"],
                        "tgid": r["tgid"],
                        **parsed,
                    }
                )
    return pl.DataFrame(rows, schema=_X_SCHEMA)


# -- messages and outcome -----------------------------------------------------------------
#: lines go prints while working that are not errors
_PROGRESS = re.compile(
    r"^go: (downloading|finding|extracting|found|added|upgraded|downgraded|removed) "
)
#: ``go: downloading example.com/dep1 v1.0.0``: go build/get/list/test (every command but
#: ``go mod download``) print it as a module's zip download starts (modfetch/fetch.go)
_DOWNLOADING = re.compile(r"^go: downloading (?P<module>\S+) (?P<version>v\S+)$")
_DOWNLOADING_SCHEMA: dict[str, Any] = {
    "line": pl.Int64, "ts": pl.Float64, "tgid": pl.Int64, "module": pl.String,
    "version": pl.String,
}  # fmt: skip


def downloading(ctx: Context) -> pl.DataFrame:
    """go's ``go: downloading MODULE VERSION`` lines, from every write to fd 2 of a go
    process (wherever it led), in trace order: one row per line, with the write's trace
    ``line``, ``ts`` and ``tgid``."""
    w = writes(ctx).filter(
        (pl.col("fd") == 2)
        & pl.col("text").is_not_null()
        & pl.col("tgid").is_in(list(go_processes(ctx)))
    )
    rows = []
    for r in w.iter_rows(named=True):
        for raw in str(r["text"]).splitlines():
            m = _DOWNLOADING.match(raw.rstrip("\r"))
            if m is not None:
                rows.append(
                    {
                        "line": r["line"],
                        "ts": r["ts"],
                        "tgid": r["tgid"],
                        "module": m.group("module"),
                        "version": m.group("version"),
                    }
                )
    return pl.DataFrame(rows, schema=_DOWNLOADING_SCHEMA)


@dataclass(frozen=True, slots=True)
class Message:
    """What one write to stderr said, -x lines and progress lines left out."""

    text: str
    line: int
    ts: float | None
    tgid: int
    target: str | None
    target_kind: str
    truncated: bool
    kind: str = "error-output"
    objects: tuple[str, ...] = field(default=())

    @property
    def first_line(self) -> str:
        return self.text.splitlines()[0] if self.text else ""

    @property
    def hidden(self) -> bool:
        return self.target_kind in HIDDEN


@dataclass(frozen=True, slots=True)
class Outcome:
    """How the command ended: from meta.json when gotrace ran it, else the root process's
    exit or kill event."""

    root: int | None
    status: int | None
    signal: str | None
    line: int | None = None

    @property
    def failed(self) -> bool:
        return self.signal is not None or (self.status is not None and self.status != 0)


def outcome(ctx: Context) -> Outcome:
    f = ctx.frame
    meta = ctx.meta
    root = meta.get("root_pid")
    if root is None and f.height:
        first = f.filter(pl.col("kind").is_in(["syscall", "exit", "kill", "exec"])).head(1)
        root = int(first["tgid"][0]) if first.height else None
    root = ctx.groups.tgid.get(int(root), int(root)) if root is not None else None
    status = meta.get("exit_status")
    signal = meta.get("signal")
    if status is None and signal is None and root is not None:
        status = ctx.groups.exit_status.get(root)
        signal = ctx.groups.killed.get(root)
    line = None
    if root is not None and f.height:
        end = f.filter(pl.col("kind").is_in(["exit", "kill"]) & (pl.col("pid") == root))
        line = int(end["line"][-1]) if end.height else None
    if signal is not None and status is not None and status > 128 and meta.get("signal"):
        status = None  # meta's 128+N for a signal: the signal says it
    return Outcome(root, int(status) if status is not None else None, signal, line)


def go_processes(ctx: Context, root: int | None = None) -> set[int]:
    """Thread-group ids of the go command itself: processes running a ``go`` binary other
    than the ``** telemetry **`` sidecar, and the root process."""
    out = set()
    for tgid, argv in ctx.groups.argv.items():
        if not argv:
            continue
        if argv[0].rsplit("/", 1)[-1] == "go" and "** telemetry **" not in argv[1:2]:
            out.add(tgid)
    if root is not None:
        root_argv = ctx.groups.argv.get(root) or []
        if "** telemetry **" not in root_argv[1:2]:
            out.add(root)
    return out


_KINDS: list[tuple[str, re.Pattern[str]]] = [
    ("checksum-mismatch", re.compile(r"checksum mismatch")),
    ("goproxy-off", re.compile(r"module lookup disabled by GOPROXY=off")),
    ("dns-timeout", re.compile(r"lookup (?P<name>\S+) on (?P<server>\S+?): .*i/o timeout")),
    (
        "proxy-refused",
        re.compile(r"(?:dial tcp (?P<addr>\S+?): )?(?:connect: )?connection refused"),
    ),
    ("not-found", re.compile(r"(?:reading (?P<url>\S+?): )?(?P<status>404 Not Found|410 Gone)")),
    ("cache-permission", re.compile(r"(?:(?P<path>/\S+?): )?permission denied")),
]
#: ``example.com/a@v1.2.0`` in go's messages
MODULE_AT_VERSION = re.compile(
    r"(?P<m>[A-Za-z0-9][A-Za-z0-9._~+/-]*)@(?P<v>v[0-9A-Za-z.+\-]*[0-9A-Za-z+])"
)

FIXES = {
    "checksum-mismatch": (
        "the proxy served different content than go.sum records: check the proxy / GONOSUMDB / "
        "re-run with GOFLAGS=-mod=mod only if you trust the source"
    ),
    "goproxy-off": (
        "GOPROXY=off forbids downloads: set GOPROXY (e.g. https://proxy.golang.org,direct), "
        "or fill the module cache first (or vendor the modules)"
    ),
    "not-found": (
        "the proxy has no such module or version (404/410): check the module path and "
        "version; for private modules set GOPRIVATE/GONOPROXY, or end GOPROXY with ',direct'"
    ),
    "proxy-refused": (
        "nothing listens at the proxy's address: check GOPROXY (host and port) and that the "
        "proxy is running and reachable from here"
    ),
    "dns-timeout": (
        "the DNS server did not answer: check /etc/resolv.conf and the network path to it "
        "(go's resolver waits timeout x attempts per server), or use an IP in GOPROXY"
    ),
    "cache-permission": (
        "make GOMODCACHE writable by the user running go (chown it back after `sudo go ...`, "
        "or `go clean -modcache` as its owner), or point GOMODCACHE at a writable directory"
    ),
    "error-output": "read go's message; re-run with -x to see each request and command",
}


def classify_message(text: str) -> tuple[str, tuple[str, ...]]:
    """An error message -> (finding kind, the objects it names)."""
    objects = [f"{m.group('m')}@{m.group('v')}" for m in MODULE_AT_VERSION.finditer(text)]
    for kind, pattern in _KINDS:
        m = pattern.search(text)
        if m is None:
            continue
        groups = m.groupdict()
        if kind == "dns-timeout":
            objects += [groups["name"], groups["server"]]
        elif kind == "proxy-refused" and groups.get("addr"):
            objects.append(groups["addr"])
        elif kind == "not-found" and groups.get("url"):
            objects.append(groups["url"])
        elif kind == "cache-permission" and groups.get("path"):
            objects.append(groups["path"])
        return kind, tuple(dict.fromkeys(objects))
    return "error-output", tuple(dict.fromkeys(objects))


def messages(ctx: Context, procs: set[int] | None = None) -> list[Message]:
    """The command's messages on stderr: every write to fd 2 by a go process (by every
    process of the tree, when the command is not go), minus -x and progress lines, in
    trace order. A message written in pieces (``ls: `` then ``cannot access...`` then
    ``\n``, as stdio does) is put back together: a process's writes are joined until one
    ends a line."""
    if procs is None:
        root = outcome(ctx).root
        procs = go_processes(ctx, root) if is_go(ctx) else set(ctx.groups.tgid.values())
    w = writes(ctx).filter(
        (pl.col("fd") == 2) & pl.col("text").is_not_null() & pl.col("tgid").is_in(list(procs))
    )
    pending: dict[int, tuple[dict[str, Any], list[str]]] = {}
    chunks: list[tuple[dict[str, Any], str]] = []
    for r in w.iter_rows(named=True):
        first, parts = pending.setdefault(int(r["tgid"]), (r, []))
        parts.append(str(r["text"]))
        if parts[-1].endswith("\n"):
            chunks.append((first, "".join(parts)))
            del pending[int(r["tgid"])]
    chunks += [(first, "".join(parts)) for first, parts in pending.values()]
    chunks.sort(key=lambda c: int(c[0]["line"]))
    out = []
    for r, whole in chunks:
        kept = [
            ln
            for ln in whole.splitlines()
            if ln.strip() and not is_x_line(ln) and not _PROGRESS.match(ln)
        ]
        if not kept:
            continue
        text = "\n".join(kept)
        kind, objects = classify_message(text)
        out.append(
            Message(
                text=text,
                line=int(r["line"]),
                ts=r["ts"],
                tgid=int(r["tgid"]),
                target=r["target"],
                target_kind=str(r["target_kind"]),
                truncated=bool(r["truncated"]),
                kind=kind,
                objects=objects,
            )
        )
    return out


def is_go(ctx: Context) -> bool:
    """Whether the traced command is (or runs) go: a process of the tree ran a ``go``
    binary (in the trace, or in the /proc samples), or meta's argv names one."""
    argv = ctx.meta.get("argv") or []
    if argv and str(argv[0]).rsplit("/", 1)[-1] == "go":
        return True
    if go_processes(ctx):
        return True
    # a /proc-only capture (the sampler backend): a sampled process ran go
    return any(
        p.cmdline and str(p.cmdline[0]).rsplit("/", 1)[-1] == "go"
        for s in ctx.samples
        for p in s.processes
    )


def not_go(ctx: Context) -> bool:
    """Whether the traced command is known not to be go: its argv is known (meta.json, or
    an execve in the trace) and no process of it ran go. A bare trace with no argv may be
    go's: its go-specific advice stays."""
    known = bool(ctx.meta.get("argv")) or any(ctx.groups.argv.values())
    return known and not is_go(ctx)


# -- findings -----------------------------------------------------------------------------
def findings(ctx: Context) -> list[Finding]:
    """``error-to-devnull``, the message kinds (``checksum-mismatch``, ``goproxy-off``,
    ``not-found``, ``proxy-refused``, ``dns-timeout``, ``cache-permission``, else
    ``error-output``), ``silent-success`` and ``silent-failure``."""
    end = outcome(ctx)
    go = is_go(ctx)
    other = not_go(ctx)  # a known command that is not go: its stderr on success is no cause
    procs = go_processes(ctx, end.root) if go else set(ctx.groups.tgid.values())
    msgs = messages(ctx, procs)
    out: list[Finding] = []
    hidden = [m for m in msgs if m.hidden]
    if hidden:
        first = hidden[0]
        where = "closed (EBADF)" if first.target_kind == "closed" else "/dev/null"
        cut = " (cut by strace's -s)" if first.truncated else ""
        out.append(
            Finding(
                kind="error-to-devnull",
                severity="info" if other and not end.failed else "error",
                summary=f"the error was written to stderr, which was {where}: {first.first_line}{cut}",
                start=first.ts,
                end=hidden[-1].ts,
                pids=tuple(sorted({m.tgid for m in hidden})),
                objects=(first.target or where, *first.objects),
                evidence=tuple(m.line for m in hidden),
                fix=(
                    "let go's stderr through (drop the 2>/dev/null or the wrapper that closes "
                    f"it); then: {FIXES[first.kind]}"
                    if go
                    else "let the command's stderr through (drop the 2>/dev/null or the "
                    "wrapper that closes it); then read its message"
                ),
                weight=1.0,
                detail={"messages": [m.text for m in hidden], "category": first.kind},
            )
        )
    by_kind: dict[str, list[Message]] = {}
    for m in msgs:
        by_kind.setdefault(m.kind, []).append(m)
    for kind, group in by_kind.items():
        first = group[0]
        more = f" (+{len(group) - 1} more)" if len(group) > 1 else ""
        objects = tuple(dict.fromkeys(o for m in group for o in m.objects))
        out.append(
            Finding(
                kind=kind,
                # what a command that is not go says on stderr when it succeeds is no cause
                severity="error" if end.failed else "info" if other else "warning",
                summary=first.first_line + more,
                start=first.ts,
                end=group[-1].ts,
                pids=tuple(sorted({m.tgid for m in group})),
                objects=objects,
                evidence=tuple(m.line for m in group),
                fix=FIXES[kind] if go else "read the command's message",
                weight=_SMALL_WEIGHT,
                detail={
                    "messages": [m.text for m in group],
                    "hidden": all(m.hidden for m in group),
                    "targets": sorted({m.target_kind for m in group}),
                },
            )
        )
    if go:
        out.extend(_child_stderr(ctx, procs))
    out.extend(_silence(ctx, end, procs, msgs, go=go))
    return out


def _child_stderr(ctx: Context, procs: set[int]) -> list[Finding]:
    """What go's children (git, ssh...) wrote to their stderr: go reads it into a buffer it
    prints only when the child fails, so a stalled or killed git says nothing on screen."""
    kids = {
        t
        for t in set(ctx.groups.tgid.values()) - procs
        # go's own telemetry sidecar is go, not a child it runs for the download
        if (ctx.groups.argv.get(t) or [""])[0].rsplit("/", 1)[-1] != "go"
    }
    out = []
    for m in messages(ctx, kids):
        argv = ctx.groups.argv.get(m.tgid) or []
        who = " ".join(argv[:2]) or f"pid {m.tgid}"
        out.append(
            Finding(
                kind="child-stderr",
                severity="info",
                summary=f"{who} (pid {m.tgid}) wrote to its stderr, which go shows only if it fails: {m.first_line}",
                start=m.ts,
                end=m.ts,
                pids=(m.tgid,),
                objects=(who,),
                evidence=(m.line,),
                fix="this is the child's own explanation; go hides it until the child exits non-zero",
                weight=0.05,
                detail={"text": m.text},
            )
        )
    return out


def _silence(
    ctx: Context, end: Outcome, procs: set[int], msgs: list[Message], *, go: bool = True
) -> list[Finding]:
    w = writes(ctx).filter(pl.col("tgid").is_in(list(procs)))
    printed = w.filter(pl.col("text").str.len_bytes() > 0)
    evidence = (end.line,) if end.line is not None else ()
    argv = ctx.meta.get("argv") or (ctx.groups.argv.get(end.root) if end.root is not None else None)
    words = [a for a in (argv or [])[1:] if not a.startswith("-")]
    mod_download = words[:2] == ["mod", "download"]
    if not end.failed and end.status == 0 and not printed.height:
        why = (
            "go printed nothing because `go mod download` prints nothing on success (it "
            "prints `go: downloading` only for other commands)"
            if mod_download
            else "go exited 0 and printed nothing: it succeeded without anything to report"
            if go
            else "the command exited 0 and printed nothing"
        )
        return [
            Finding(
                kind="silent-success",
                severity="info",
                summary=why,
                pids=tuple(p for p in (end.root,) if p is not None),
                evidence=evidence,
                fix="nothing to fix; add -x to see each request go makes"
                if go
                else "nothing to fix",
                weight=0.1,
                detail={"exit_status": 0},
            )
        ]
    visible = [m for m in msgs if not m.hidden]
    if end.failed and not visible and not any(m.hidden for m in msgs):
        from gotrace.analyzers.signals import gotrace_stop

        stop = gotrace_stop(ctx, end.root, end.signal) if end.signal else None
        if stop is not None:
            started = downloading(ctx).height if go else 0
            before = (
                f"before it printed any message (only {started} `go: downloading` "
                f"line{'s' if started > 1 else ''})"
                if started
                else "before it printed anything"
            )
            return [
                Finding(
                    kind="silent-stop",
                    severity="info",
                    summary=f"the command was {stop.phrase} ({stop.signal}) {before}",
                    pids=tuple(p for p in (end.root,) if p is not None),
                    evidence=evidence,
                    fix="nothing printed is lost: what it was blocked on when stopped is the cause",
                    weight=0.1,
                    detail={"exit_status": end.status, "signal": end.signal, "why": stop.why},
                )
            ]
        x_only = printed.filter(~pl.col("target_kind").is_in(list(HIDDEN))).height > 0
        how = f"was killed by {end.signal}" if end.signal else f"exited with status {end.status}"
        tail = " (only -x trace lines)" if x_only else ""
        return [
            Finding(
                kind="silent-failure",
                severity="warning" if end.signal else "error",
                summary=f"{'go' if go else 'the command'} {how} and wrote no message to a visible stderr{tail}",
                pids=tuple(p for p in (end.root,) if p is not None),
                evidence=evidence,
                fix=(
                    f"look at what {'go' if go else 'the command'} was doing when it ended (the "
                    "other findings); a signal came from outside (a timeout, the OOM killer, "
                    "Ctrl-C)"
                    if end.signal
                    else "re-run with -x and stderr visible"
                    if go
                    else "re-run it with stderr visible"
                ),
                weight=0.1,
                detail={"exit_status": end.status, "signal": end.signal},
            )
        ]
    return []
