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
    # plain help: rich's formatting costs more start-up than all of gotrace's own imports
    rich_markup_mode=None,
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


def _click_exception() -> type[Exception]:
    """The base class of the usage errors typer raises, whichever click it carries.

    typer re-exports ``BadParameter`` whose ancestors are click's ``UsageError`` and
    ``ClickException`` (typer 0.2x vendors click as a private module; older typers depend on
    the click package). Reaching it through typer's public name needs neither."""
    for cls in typer.BadParameter.__mro__:
        if cls.__name__ == "ClickException":
            return cls
    return typer.BadParameter


def usage_line(exc: Exception) -> str:
    """One line for a usage error: the command it is about, the message, where help is."""
    ctx = getattr(exc, "ctx", None)
    where = getattr(ctx, "command_path", None) or "gotrace"
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    message = " ".join(str(message).split())
    return f"{where}: error: {message} (see {where} --help)"


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
    except OSError as exc:
        # a file we were given and cannot read (permissions, a vanished path): bad input
        where = exc.filename if exc.filename is not None else "gotrace"
        print(f"gotrace: error: {where}: {exc.strerror or exc}", file=sys.stderr)
        sys.exit(1)
    except typer.Abort:
        print("gotrace: aborted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        if isinstance(exc, _click_exception()):
            if str(exc):  # empty when typer has shown the help instead (no arguments given)
                print(usage_line(exc), file=sys.stderr)
            code = getattr(exc, "exit_code", 2)
            sys.exit(code if isinstance(code, int) and code else 2)
        if os.environ.get("GOTRACE_DEBUG"):
            raise
        # A bug of ours: still one line, with the way to get the whole story.
        print(
            f"gotrace: internal error: {type(exc).__name__}: {exc} (run with GOTRACE_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        sys.exit(1)
