"""``gotrace lab``: reproduce each way ``go mod download`` goes quiet, on loopback, and trace it."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

lab_app = typer.Typer(
    rich_markup_mode=None,
    help="Reproduce silent go mod download failures locally (loopback only).",
    no_args_is_help=True,
)


@lab_app.command("list")
def list_scenarios() -> None:
    """List the scenarios: name, expected cause, one-line description."""
    from gotrace.lab import SCENARIOS

    width = max(len(n) for n in SCENARIOS)
    for name, sc in SCENARIOS.items():
        reason = sc.unavailable()
        note = f"  (unavailable here: {reason})" if reason else ""
        typer.echo(f"{name:<{width}}  {sc.description}{note}")


@lab_app.command("run")
def run_scenario(
    name: Annotated[str, typer.Argument(help="Scenario name (see gotrace lab list).")],
    keep: Annotated[
        Path | None,
        typer.Option(
            help="Keep the capture (trace.strace, meta.json, events.parquet) in this directory."
        ),
    ] = None,
    quiet_after: Annotated[
        float, typer.Option(help="Seconds without progress before saying what go waits on.")
    ] = 5.0,
    go_x: Annotated[bool, typer.Option("--go-x", help="Run go with -x.")] = False,
    force: Annotated[bool, typer.Option(help="Reuse an existing --keep directory.")] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the analysis as one JSON object on stdout.")
    ] = False,
    backend: Annotated[str, typer.Option(help="Capture backend, as for gotrace run.")] = "auto",
) -> None:
    """Set up the scenario, run go mod download under gotrace run, print the diagnosis, and
    clean up every process and temporary directory it started (also on Ctrl-C).

    Exits 0 when the failure was reproduced and diagnosed as expected, 1 when it was not
    (go's own exit status is in the report and in meta.json)."""
    from gotrace.cli.run import execute
    from gotrace.lab import get_scenario
    from gotrace.lab.expect import check_run

    sc = get_scenario(name)
    typer.echo(f"scenario {sc.name}: {sc.description}", err=True)
    with (
        tempfile.TemporaryDirectory(prefix="gotrace-lab-capture-") as tmp,
        sc.prepare(x=go_x) as prep,
    ):
        out = keep.absolute() if keep is not None else Path(tmp) / "capture"
        outcome = execute(
            prep.argv,
            out,
            force=force,
            env=prep.env,
            cwd=prep.cwd,
            timeout=prep.timeout,
            stop_signal=sc.stop_signal,
            quiet_after=quiet_after,
            stderr_devnull=prep.stderr_devnull,
            json_file="-" if json_out else None,
            backend=backend,
            label=None if keep is not None else f"lab {sc.name} (not kept: use --keep DIR)",
            extra_meta={
                "lab": {"scenario": sc.name, "cause": sc.cause, "workdir": str(prep.workdir)}
            },
        )
        typer.echo(f"expected cause: {sc.cause}: {sc.explanation}", err=True)
    if keep is not None:
        typer.echo(f"capture kept in {keep}", err=True)
    trace = outcome.trace
    if trace is not None and trace.meta.get("received_signal"):
        raise typer.Exit(outcome.status)  # stopped by the user: 128+N, no verdict on the lab
    if trace is None:
        typer.echo(f"gotrace lab: {sc.name}: the capture could not be analysed", err=True)
        raise typer.Exit(1)
    meta = trace.meta
    findings = trace.report.findings
    check = check_run(
        sc.name,
        sc.cause,
        expect_exit=sc.expect_exit,
        exit_status=int(meta.get("exit_status") or 0),
        timed_out=bool(meta.get("timed_out")),
        top_finding=findings[0].kind if findings else None,
    )
    typer.echo(f"gotrace lab: {check.line}", err=True)
    raise typer.Exit(0 if check.ok else 1)
