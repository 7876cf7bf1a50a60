"""``gotrace fleet``: many captures in one Parquet dataset, and a report across them."""

from __future__ import annotations

from typing import Annotated

import typer

fleet_app = typer.Typer(
    help="Collect many captures into one Parquet dataset and report across them.",
    no_args_is_help=True,
)


def _labels(values: list[str]) -> dict[str, str]:
    from gotrace.errors import UsageError

    out = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--label {v!r}: write KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


@fleet_app.command("collect")
def collect(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="gotrace run directories, saved traces (strace logs, .parquet events), or "
            "folders of them (searched recursively)."
        ),
    ],
    out: Annotated[
        str, typer.Option("--out", "-o", help="The dataset directory (created, or appended to).")
    ],
    label: Annotated[
        list[str] | None,
        typer.Option(help="KEY=VALUE stored with every run of this collect (repeatable)."),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(help="The host name to record when meta.json has none (default: unknown)."),
    ] = None,
) -> None:
    """Analyse each capture as `gotrace analyze` does and append it to DATASET: one row per run
    in runs/ (id, host, labels, command, start, duration, exit status or signal, backend,
    verdict, cause kind and object, GOPROXY/GOSUMDB/proxy settings redacted, module counts),
    and its events, findings, connections, modules and proxies, hive-partitioned by date.
    A run already in the dataset (same id) is skipped."""
    import sys

    from gotrace.fleet.collect import collect as do_collect

    labels = _labels(label or [])
    res = do_collect(inputs, out, host=host, labels=labels, progress=sys.stderr.isatty())
    for path, reason in res.failed:
        print(f"gotrace: skipped {path}: {reason}", file=sys.stderr)
    print(
        f"gotrace: {len(res.added)} runs added to {out}, {len(res.skipped)} already there"
        + (f", {len(res.failed)} unreadable" if res.failed else ""),
        file=sys.stderr,
    )
    if res.failed:
        raise typer.Exit(1)


@fleet_app.command("report")
def report(
    dataset: Annotated[
        str, typer.Argument(help="A dataset written by gotrace fleet collect (or its URL).")
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    since: Annotated[
        str | None,
        typer.Option(help="Only runs started since: 2026-11-29, 2026-11-29T12:00 (UTC), 36h, 7d."),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            help="Only runs where COLUMN=V1,V2 (any of) or COLUMN!=V (repeatable, all must hold); "
            "columns of runs/ such as host, cause_kind, exit_status, goproxy, or label.KEY."
        ),
    ] = None,
    top: Annotated[int, typer.Option(help="How many causes, modules and proxies to list.")] = 10,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Compute on this Dask distributed scheduler (tcp://HOST:PORT) instead of "
            "in-process DuckDB; the JSON is the same."
        ),
    ] = None,
) -> None:
    """Ranked causes across runs (runs, hosts, first and last seen, the objects), the slowest
    modules, and the proxies by failure rate."""
    from gotrace.cli.common import write_text
    from gotrace.fleet.report import fleet_report, make_query, render_text
    from gotrace.reporters.jsonout import dumps

    rep = fleet_report(dataset, make_query(since, where, top), scheduler=scheduler)
    write_text(dumps(rep) if json_out else render_text(rep), None)
