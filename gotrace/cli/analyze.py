"""``gotrace analyze``: read saved traces and say what happened."""

from __future__ import annotations

from typing import Annotated

import typer


def analyze(
    files: Annotated[
        list[str],
        typer.Argument(
            help="strace logs (any strace 5.x/6.x form), LOG.<pid> sets from -ff, "
            "gotrace run directories, or saved .parquet events; - reads stdin."
        ),
    ],
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per trace.")
    ] = False,
    strict: Annotated[
        bool, typer.Option(help="Stop at the first line that cannot be parsed.")
    ] = False,
    no_redact: Annotated[
        bool,
        typer.Option(
            "--no-redact", help="Show secrets (tokens, passwords) as they are in the trace."
        ),
    ] = False,
    top: Annotated[int, typer.Option(help="How many of the slowest calls to list.")] = 10,
) -> None:
    """Analyze saved traces: process tree, slowest and still-in-flight calls, failures, a
    strace -c-like table with wait time kept apart from active time."""
    from gotrace.analyzers.summary import summarize
    from gotrace.cli.common import load_inputs, write_text
    from gotrace.reporters.jsonout import render_json
    from gotrace.reporters.text import render_summary

    traces = load_inputs(files, strict=strict, redact=not no_redact)
    summaries = [summarize(t, top=top) for t in traces]
    if json_out:
        write_text(render_json(summaries[0] if len(summaries) == 1 else summaries), None)
        return
    write_text("\n".join(render_summary(s) for s in summaries), None)
