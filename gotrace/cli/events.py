"""``gotrace events``: convert a trace into a table file, with filters."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def events(
    file: Annotated[
        str, typer.Argument(help="A strace log, gotrace run directory or .parquet; - for stdin.")
    ],
    output: Annotated[
        str,
        typer.Option(
            "-o",
            "--output",
            help="Where to write: .parquet, .csv or .jsonl; - for JSON lines on stdout.",
        ),
    ] = "-",
    pid: Annotated[
        list[int] | None, typer.Option(help="Keep only these pids (repeatable).")
    ] = None,
    syscall: Annotated[
        list[str] | None, typer.Option(help="Keep only these syscalls (repeatable).")
    ] = None,
    failed: Annotated[
        bool, typer.Option(help="Keep only calls that failed with an errno.")
    ] = False,
    strict: Annotated[
        bool, typer.Option(help="Stop at the first line that cannot be parsed.")
    ] = False,
    no_redact: Annotated[
        bool, typer.Option("--no-redact", help="Keep secrets as they are in the trace.")
    ] = False,
    force: Annotated[bool, typer.Option(help="Overwrite the output file.")] = False,
) -> None:
    """Write the events of a trace as Parquet, CSV or JSON lines (columns: see the README)."""
    import polars as pl

    from gotrace.cli.common import check_input, output_path
    from gotrace.errors import GotraceError, UsageError
    from gotrace.model.events import TraceParseError
    from gotrace.parsers import strace as sp
    from gotrace.redact import redact_frame

    check_input(file)
    dest = output_path(output, force=force)
    fmt = "jsonl" if dest is None else dest.suffix.lstrip(".").lower()
    if fmt not in ("parquet", "csv", "jsonl", "json"):
        raise UsageError(f"{output}: unknown output format (use .parquet, .csv or .jsonl)")

    def keep(frame: pl.DataFrame) -> pl.DataFrame:
        if pid:
            frame = frame.filter(pl.col("pid").is_in(pid))
        if syscall:
            frame = frame.filter(pl.col("syscall").is_in(syscall))
        if failed:
            frame = frame.filter(
                pl.col("errno").is_not_null() & ~pl.col("errno").str.starts_with("ERESTART")
            )
        return frame if no_redact else redact_frame(frame)

    p = Path(file)
    # gotrace run directories, saved .parquet events and dtruss logs are loaded whole;
    # strace logs stream, chunk by chunk.
    from gotrace.trace import file_format

    saved = file != "-" and (p.is_dir() or (p.is_file() and file_format(p) != "strace"))
    try:
        if saved or (file != "-" and not p.exists()):
            from gotrace.trace import load

            frames = iter([keep(load(file, strict=strict, redact=False).frame)])
        else:
            frames = (keep(f) for f in sp.parse_frames(file, strict=strict))
        written = _write(frames, dest, fmt)
    except TraceParseError as exc:
        if dest is not None and dest.exists():
            dest.unlink()
        raise GotraceError(f"parse error at {exc}") from exc
    if dest is not None:
        typer.echo(f"wrote {written} events to {dest}", err=True)


def _write(frames: object, dest: Path | None, fmt: str) -> int:
    """Stream frames out so a 10M-line log never has to fit in memory at once."""
    import sys
    from collections.abc import Iterator

    import polars as pl

    assert isinstance(frames, Iterator)
    n = 0
    if fmt == "parquet":
        import queue
        import threading

        import pyarrow.parquet as pq

        assert dest is not None
        # Compressing and writing one chunk overlaps with parsing the next (both release the GIL).
        todo: queue.Queue[object] = queue.Queue(maxsize=2)
        failure: list[BaseException] = []

        def write_all() -> None:
            writer = None
            try:
                while (table := todo.get()) is not None:
                    if writer is None:
                        writer = pq.ParquetWriter(dest, table.schema, compression="zstd")  # type: ignore[attr-defined]
                    writer.write_table(table)
            except BaseException as exc:  # handed to the main thread
                failure.append(exc)
                while todo.get() is not None:
                    pass
            finally:
                if writer is not None:
                    writer.close()

        thread = threading.Thread(target=write_all, name="parquet-writer")
        thread.start()
        try:
            for frame in frames:
                assert isinstance(frame, pl.DataFrame)
                if n == 0 and not frame.height:
                    continue
                todo.put(frame.to_arrow())
                n += frame.height
        finally:
            todo.put(None)
            thread.join()
        if failure:
            raise failure[0]
        if not dest.exists():
            from gotrace.model.events import empty_frame

            pq.write_table(empty_frame().to_arrow(), dest)
        return n
    out = sys.stdout if dest is None else open(dest, "w")  # noqa: SIM115
    try:
        first = True
        for frame in frames:
            assert isinstance(frame, pl.DataFrame)
            if fmt == "csv":
                out.write(frame.write_csv(include_header=first))
            else:
                out.write(frame.write_ndjson())
            first = False
            n += frame.height
    finally:
        if dest is not None:
            out.close()
        else:
            out.flush()
    return n
