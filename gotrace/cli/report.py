"""``gotrace report``: write the HTML report of a saved trace."""

from __future__ import annotations

from typing import Annotated

import typer


def report(
    trace: Annotated[
        str,
        typer.Argument(
            help="A gotrace run directory, a strace log (or the base name of an -ff set), "
            "or saved .parquet events; - reads a strace log from stdin."
        ),
    ],
    out: Annotated[
        str, typer.Option("--out", "-o", help="The HTML file to write; - writes to stdout.")
    ] = "report.html",
    force: Annotated[bool, typer.Option(help="Overwrite the output file.")] = False,
    cdn: Annotated[
        bool,
        typer.Option(
            help="Link plotly.js from its CDN instead of inlining it (a smaller page that "
            "needs the network to show its charts)."
        ),
    ] = False,
    strict: Annotated[
        bool, typer.Option(help="Stop at the first line that cannot be parsed.")
    ] = False,
    no_redact: Annotated[
        bool,
        typer.Option("--no-redact", help="Keep secrets (tokens, passwords) in the report."),
    ] = False,
    max_bars: Annotated[
        int,
        typer.Option(
            help="Draw every call when the trace has at most this many; above it, short "
            "calls are counted per time bucket."
        ),
    ] = 20000,
) -> None:
    """Write one self-contained HTML page: the verdict and findings (each linked to its place
    on the timeline), a timeline of every process's syscalls with the quiet periods, network
    and module waterfalls, a strace -c-like table with wait time apart, and the environment.
    plotly.js is inlined, so the page works offline; the same trace gives the same bytes."""
    from gotrace.cli.common import load_inputs, output_path, write_text
    from gotrace.reporters.html import render_html

    dest = output_path(out, force=force)
    (loaded,) = load_inputs([trace], strict=strict, redact=not no_redact)
    page = render_html(
        loaded.report,
        cdn=cdn,
        redact=not no_redact,
        max_bars=max_bars,
    )
    write_text(page, dest)
