"""``gotrace doctor``: go's settings, cache and proxies for a directory, checked one by one."""

from __future__ import annotations

from typing import Annotated

import typer


def doctor(
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON object with the list of checks.")
    ] = False,
    directory: Annotated[
        str | None,
        typer.Option(
            "-C",
            "--dir",
            metavar="DIR",
            help="Check what go run in DIR sees (its go.mod or go.work, GOFLAGS); default: here.",
        ),
    ] = None,
    no_network: Annotated[
        bool,
        typer.Option("--no-network", help="Resolve and contact nothing: skip reachability."),
    ] = False,
    timeout: Annotated[
        float,
        typer.Option(help="Seconds each network step (DNS, connect, TLS, HTTP) may take."),
    ] = 3.0,
    no_redact: Annotated[
        bool, typer.Option("--no-redact", help="Show credentials in URLs and secret values.")
    ] = False,
) -> None:
    """Check why go mod download in DIR would be quiet, slow or fail: module mode, GOFLAGS,
    GOTOOLCHAIN, GOPROXY (',' vs '|'), GOPRIVATE and friends, GOSUMDB, HTTP(S)_PROXY,
    GOMODCACHE/GOCACHE permissions and space, whether each proxy answers, and whether the
    requirements are already cached. Prints a table, worst first; exits 1 when a check fails,
    0 otherwise (warnings included)."""
    import os

    from gotrace.cli.common import write_text
    from gotrace.doctor import gather
    from gotrace.doctor.checks import diagnose
    from gotrace.doctor.model import exit_status
    from gotrace.doctor.report import checks_json, render_checks
    from gotrace.errors import GotraceError, UsageError
    from gotrace.redact import redact_text
    from gotrace.reporters.jsonout import dumps

    if not timeout > 0:
        raise UsageError(f"--timeout {timeout:g}: must be more than 0 seconds")
    where = os.path.abspath(directory if directory is not None else os.getcwd())
    if not os.path.exists(where):
        raise GotraceError(f"{directory}: no such directory")
    if not os.path.isdir(where):
        raise GotraceError(f"{directory}: not a directory")
    snapshot = gather(where, dict(os.environ), network=not no_network, timeout=timeout)
    checks = diagnose(snapshot)
    text = dumps(checks_json(snapshot, checks)) if json_out else render_checks(snapshot, checks)
    write_text(text if no_redact else redact_text(text), None)
    raise typer.Exit(exit_status(checks))
