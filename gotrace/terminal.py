"""The status line gotrace keeps on a terminal's stderr while it works, drawn by rich.

Only on a terminal: where stderr is not one, :class:`StatusLine` draws nothing and its
permanent lines are plain ``gotrace: ...`` lines, one each. Colour follows rich's rules, so
``NO_COLOR`` turns it off. rich is imported only once a line is drawn (``--help`` stays quick).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.live import Live


class StatusLine:
    """One line on stderr, rewritten in place by :meth:`show` and gone after :meth:`close`;
    :meth:`say` prints a permanent line above it. While it is shown, every write to
    ``sys.stderr`` goes above it (rich's ``Live`` redirects it). ``tty``: whether stderr is a
    terminal."""

    def __init__(self, *, tty: bool) -> None:
        self.tty = tty
        self._live: Live | None = None

    def _display(self) -> Live:
        if self._live is None:
            from rich.console import Console
            from rich.live import Live

            # soft_wrap: the terminal wraps a long line above the status line, not rich
            console = Console(
                stderr=True, highlight=False, markup=False, emoji=False, soft_wrap=True
            )
            self._live = Live(
                console=console, auto_refresh=False, transient=True, redirect_stdout=False
            )
            self._live.start()
        return self._live

    def show(self, text: str) -> None:
        """Redraw the status line (nothing where stderr is not a terminal)."""
        if not self.tty:
            return
        from rich.text import Text

        live = self._display()
        # dim is no colour, but NO_COLOR asks for plain text
        style = "" if live.console.no_color else "dim"
        live.update(Text(text, style=style, no_wrap=True, overflow="ellipsis"), refresh=True)

    def say(self, text: str) -> None:
        """A line that stays: above the status line on a terminal, ``gotrace: TEXT`` elsewhere.
        Written to ``sys.stderr``, which a shown status line (this one or another) redirects."""
        sys.stderr.write(f"{text}\n" if self.tty else f"gotrace: {text}\n")
        sys.stderr.flush()

    def close(self) -> None:
        """Take the status line away (idempotent)."""
        live, self._live = self._live, None
        if live is not None:
            live.stop()
