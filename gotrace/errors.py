"""The one error type that carries an exit code. The CLI's handler turns it into one line."""

from __future__ import annotations


class GotraceError(Exception):
    """A failure gotrace explains in one line, e.g. ``trace.strace: no such file``."""

    exit_code: int = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(GotraceError):
    """Bad arguments: exit 2, as typer does for its own usage errors."""

    exit_code = 2
