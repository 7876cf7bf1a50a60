"""Helpers the commands share: loading a trace with one-line errors, writing outputs."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gotrace.errors import GotraceError, UsageError

if TYPE_CHECKING:
    from gotrace.trace import Trace


def check_input(path: str) -> None:
    """One clear line for the inputs we can tell are wrong before parsing."""
    if path == "-":
        return
    p = Path(path)
    if p.is_dir():
        # what gotrace.load reads of a capture directory: a trace, its events, a dtruss
        # log, or only /proc samples (the sampler backend's)
        captured = ("trace.strace", "events.parquet", "trace.dtruss", "samples.jsonl")
        if not any((p / name).exists() for name in captured):
            raise GotraceError(
                f"{path}: is a directory, not a trace (and holds no gotrace capture)"
            )
        return
    if not p.exists():
        from gotrace.parsers.strace import ff_files

        if p.parent.is_dir() and ff_files(p):
            return
        raise GotraceError(f"{path}: no such file")
    if not os.access(p, os.R_OK):
        raise GotraceError(f"{path}: permission denied")


def freeze_imports() -> None:
    """Take the objects the imports made (polars, typer, gotrace: some 40,000) out of the
    cyclic garbage collector's full passes, which a long parse would otherwise repeat over
    them: 2% of gotrace events' CPU on 1M lines, 0.4-0.7% after this. Called by the
    commands that read traces, once their imports are done."""
    import gc

    gc.freeze()


def load_inputs(files: list[str], *, strict: bool, redact: bool) -> list[Trace]:
    """Load each input; a set of ``LOG.<pid>`` files given together is one ``-ff`` trace."""
    from gotrace.model.events import TraceParseError
    from gotrace.parsers.strace import ff_files
    from gotrace.trace import load, load_ff

    freeze_imports()

    for f in files:
        check_input(f)
    if len(files) > 1:
        sets = {tuple(sorted(str(x) for x, _ in ff_files(f))) for f in files}
        if len(sets) == 1 and set(next(iter(sets))) == {str(Path(f)) for f in files}:
            return [load_ff(Path(files[0]), ff_files(files[0]), strict=strict, redact=redact)]
    traces: list[Trace] = []
    for f in files:
        try:
            traces.append(load(f, strict=strict, redact=redact))
        except TraceParseError as exc:
            raise GotraceError(f"parse error at {exc}") from exc
        except UnicodeDecodeError as exc:
            raise GotraceError(f"{f}: not a text file ({exc.reason})") from exc
        except IsADirectoryError as exc:
            raise GotraceError(f"{f}: is a directory") from exc
    return traces


def output_path(path: str, *, force: bool) -> Path | None:
    """``-`` means stdout (None); otherwise never overwrite without ``--force``."""
    if path == "-":
        return None
    p = Path(path)
    if p.exists() and not force:
        raise UsageError(f"{path}: already exists (use --force to overwrite)")
    if not p.parent.exists():
        raise GotraceError(f"{path}: directory {p.parent} does not exist")
    return p


def write_text(text: str, dest: Path | None) -> None:
    if dest is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        dest.write_text(text)


def report(trace: Trace, *, json_out: bool, top: int = 10, cache_log: str | None = None) -> str:
    """What ``gotrace analyze`` prints for one trace (``gotrace run`` prints the same).
    ``cache_log`` is the text of a module cache log to correlate with the trace."""
    from gotrace.reporters.jsonout import dumps, render_json
    from gotrace.reporters.text import render_text

    rep = trace.analyze(top=top, cache_log=cache_log)
    return dumps(render_json(rep)) if json_out else render_text(rep)
