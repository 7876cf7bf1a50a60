"""The typer application: one module per command, one error handler (``main``).

Heavy imports (pandas, polars, plotly) stay inside the command functions so that
``gotrace --help`` is instant.
"""

from __future__ import annotations

import os
import sys

import typer

from gotrace.cli import analyze, cache, doctor, events, export, report, run
from gotrace.cli.fleet import fleet_app
from gotrace.cli.lab import lab_app

app = typer.Typer(
    name="gotrace",
    help="Explain why a go command went quiet: trace it, parse the syscalls, say what it waited on.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("analyze")(analyze.analyze)
app.command("events")(events.events)
app.command("report")(report.report)
app.command("doctor")(doctor.doctor)
app.command("cache")(cache.cache)
app.command("run", context_settings={"ignore_unknown_options": True})(run.run)
app.add_typer(lab_app, name="lab")
app.command("export")(export.export)
app.add_typer(fleet_app, name="fleet")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app; turn gotrace's own failures into one line and an exit code."""
    from gotrace.errors import GotraceError

    try:
        rc = app(args=argv, prog_name="gotrace", standalone_mode=False)
        # without standalone mode click returns a command's typer.Exit code instead of exiting
        sys.exit(rc if isinstance(rc, int) else 0)
    except GotraceError as exc:
        print(f"gotrace: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("gotrace: interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        # `gotrace analyze x | head`: the reader left; that is not an error of ours.
        sys.stderr.close()
        sys.exit(0)
    except (typer.Exit, SystemExit) as exc:
        code = exc.exit_code if isinstance(exc, typer.Exit) else exc.code
        sys.exit(code if isinstance(code, int) else 0)
    except Exception as exc:  # click's own usage errors
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            print("gotrace: aborted", file=sys.stderr)
            sys.exit(130)
        if os.environ.get("GOTRACE_DEBUG"):
            raise
        # A bug of ours: still one line, with the way to get the whole story.
        print(
            f"gotrace: internal error: {type(exc).__name__}: {exc} (run with GOTRACE_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        sys.exit(1)
