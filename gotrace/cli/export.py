"""``gotrace export``: a capture in another tool's format (Perfetto / chrome://tracing)."""

from __future__ import annotations

from typing import Annotated

import typer

FORMATS = ("perfetto",)


def export(
    trace: Annotated[
        str,
        typer.Argument(
            help="A gotrace run directory, a strace log (or the base name of an -ff set), "
            "or saved .parquet events; - reads a strace log from stdin."
        ),
    ],
    format: Annotated[
        str,
        typer.Option("--format", "-f", help="perfetto: Chrome trace-event JSON."),
    ] = "perfetto",
    out: Annotated[
        str, typer.Option("--out", "-o", help="The file to write; - writes to stdout.")
    ] = "trace.json",
    force: Annotated[bool, typer.Option(help="Overwrite the output file.")] = False,
    strict: Annotated[
        bool, typer.Option(help="Stop at the first line that cannot be parsed.")
    ] = False,
    no_redact: Annotated[
        bool, typer.Option("--no-redact", help="Keep secrets (tokens, passwords) in the file.")
    ] = False,
    max_slices: Annotated[
        int,
        typer.Option(
            help="Export every call when the trace has at most this many; above it, short "
            "calls are counted per time bucket (as on the HTML timeline)."
        ),
    ] = 20000,
) -> None:
    """Write the capture as Chrome trace-event JSON, for ui.perfetto.dev or chrome://tracing:
    a track per thread with every syscall as a slice (blocked calls are the long ones), the
    quiet periods and findings on gotrace's own tracks, module downloads and connections as
    async slices."""
    from gotrace.cli.common import load_inputs, output_path, write_text
    from gotrace.errors import UsageError
    from gotrace.reporters.perfetto import render_perfetto

    if format not in FORMATS:
        raise UsageError(f"--format {format!r}: one of {', '.join(FORMATS)}")
    dest = output_path(out, force=force)
    (loaded,) = load_inputs([trace], strict=strict, redact=not no_redact)
    text = render_perfetto(
        loaded.report,
        max_slices=max_slices,
        redact=not no_redact,
    )
    write_text(text, dest)
