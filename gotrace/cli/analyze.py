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
    top: Annotated[int, typer.Option(min=0, help="How many of the slowest calls to list.")] = 10,
    cache_log: Annotated[
        str | None,
        typer.Option(
            help="A module cache log (`2026-11-23T19:49:10.123Z download example.com/a@v1.2.0` lines) "
            "to correlate with the trace by module@version and time."
        ),
    ] = None,
) -> None:
    """Analyze saved traces: the verdict (where it went quiet and why), findings with fixes,
    quiet periods, connections, the process tree, slowest and still-in-flight calls,
    failures, and a strace -c-like table with wait time kept apart from active time."""
    import json
    from pathlib import Path

    from gotrace.cli.common import load_inputs, report, write_text
    from gotrace.errors import GotraceError

    log_text = None
    if cache_log is not None:
        try:
            log_text = Path(cache_log).read_text(errors="replace")
        except OSError as exc:
            raise GotraceError(f"{cache_log}: cannot read the cache log ({exc.strerror})") from exc
    traces = load_inputs(files, strict=strict, redact=not no_redact)
    texts = [report(t, json_out=json_out, top=top, cache_log=log_text) for t in traces]
    if json_out and len(texts) > 1:
        write_text(
            json.dumps([json.loads(x) for x in texts], indent=2, sort_keys=True) + "\n", None
        )
        return
    write_text("\n".join(texts), None)
