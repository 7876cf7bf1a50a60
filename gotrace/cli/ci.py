"""What ``gotrace run`` does for a CI job once the capture is analysed: append the Markdown
summary to the job's page, and keep the capture only when the job wants it."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gotrace.trace import Trace

#: what gotrace run writes into its output directory (removed when the capture is not kept)
CAPTURE_FILES = ("trace.strace", "trace.dtruss", "meta.json", "events.parquet", "samples.jsonl")


def summary_file(option: str | None) -> Path | None:
    """``--summary FILE``, else ``$GITHUB_STEP_SUMMARY`` when the job sets it."""
    value = option or os.environ.get("GITHUB_STEP_SUMMARY")
    return Path(value) if value else None


def keep(status: int, *, on_success: bool, on_failure: bool) -> bool:
    """Neither flag: keep every capture. Otherwise keep only the outcomes asked for."""
    if not on_success and not on_failure:
        return True
    return on_success if status == 0 else on_failure


def finish(
    outdir: Path,
    trace: Trace,
    status: int,
    *,
    summary: str | None,
    keep_on_success: bool,
    keep_on_failure: bool,
    redact: bool = True,
) -> None:
    from gotrace.reporters.markdown import render_summary

    kept = keep(status, on_success=keep_on_success, on_failure=keep_on_failure)
    dest = summary_file(summary)
    if dest is not None:
        text = render_summary(trace.report, kept=str(outdir) if kept else None, redact=redact)
        try:
            with open(dest, "a", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            print(
                f"gotrace: error: cannot append the summary to {dest}: {exc.strerror}",
                file=sys.stderr,
            )
    if not kept:
        for name in CAPTURE_FILES:
            (outdir / name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # it holds files of someone else's: leave them
            outdir.rmdir()
        why = "succeeded" if status == 0 else "failed"
        print(f"gotrace: the command {why}: capture not kept ({outdir})", file=sys.stderr)
