"""``gotrace cache``: what the module cache holds, what an interrupted go left, who holds locks."""

from __future__ import annotations

from typing import Annotated

import typer


def cache(
    gomodcache: Annotated[
        str | None,
        typer.Argument(
            metavar="GOMODCACHE",
            help="The module cache to scan (default: go env GOMODCACHE, else $GOPATH/pkg/mod).",
            show_default=False,
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    fix: Annotated[
        bool,
        typer.Option(
            "--fix",
            help="Remove what interrupted downloads left (tmp files, partial extractions) of "
            "module versions whose lock nobody holds, and say what was removed.",
        ),
    ] = False,
    no_redact: Annotated[
        bool, typer.Option("--no-redact", help="Show credentials in repository URLs.")
    ] = False,
) -> None:
    """Scan GOMODCACHE: for each module@version, which of info, mod, zip, ziphash, lock,
    partial and the extracted directory exist; incomplete downloads; lock files and which
    process holds (or waits for) each now; unreadable, unwritable or wrongly-owned entries;
    sizes. Exits 1 when something is incomplete or wrong, 0 when the cache is healthy."""
    import os

    from gotrace.cli.common import write_text
    from gotrace.doctor import fix_cache, scan_cache
    from gotrace.doctor.report import cache_json, render_cache
    from gotrace.errors import GotraceError
    from gotrace.redact import redact_text
    from gotrace.reporters.jsonout import dumps

    root = gomodcache if gomodcache is not None else default_gomodcache()
    if not os.path.exists(root):
        raise GotraceError(f"{root}: no such directory")
    if not os.path.isdir(root):
        raise GotraceError(f"{root}: not a directory")
    if not os.access(root, os.R_OK | os.X_OK):
        raise GotraceError(f"{root}: permission denied")
    try:
        report = scan_cache(root)
        fixed = fix_cache(report) if fix else []
        if fixed:
            report = scan_cache(root)
    except OSError as exc:
        raise GotraceError(f"{exc.filename or root}: {exc.strerror or exc}") from exc
    text = dumps(cache_json(report, fixed)) if json_out else render_cache(report, fixed)
    write_text(text if no_redact else redact_text(text), None)
    raise typer.Exit(0 if report.healthy else 1)


def default_gomodcache() -> str:
    """``go env GOMODCACHE`` run here; without go, $GOPATH/pkg/mod as go would default it."""
    import os

    from gotrace.doctor import gocmd
    from gotrace.errors import GotraceError

    environ = dict(os.environ)
    go = gocmd.find_go(environ)
    if go is not None:
        r = gocmd.run_go(go, ["env", "GOMODCACHE"], environ, os.getcwd())
        if r.ok and r.stdout.strip():
            return r.stdout.strip()
    value = gocmd.fallback_env(environ).get("GOMODCACHE", "")
    if not value:
        raise GotraceError("cannot tell where GOMODCACHE is: give it as an argument")
    return value
