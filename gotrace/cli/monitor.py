"""What ``gotrace run`` says while the command runs: progress on a terminal, and once it has
been quiet a while, what it waits on, read from the growing log (:class:`Monitor`) and from
the /proc watchdog's samples (:class:`SampleMonitor`)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

#: "PID EPOCH.USEC name(" or "PID EPOCH.USEC <... name resumed>" (the -f -ttt leader gotrace uses)
_QUICK_LEADER = re.compile(rb"^(\d+) +(\d+\.\d+) (<\.\.\. )?([a-z_0-9]+)[( ]")


class Monitor:
    """Reads the log as it grows; shows progress on a TTY and says what the command waits on
    once it has been quiet for ``quiet_after`` seconds."""

    def __init__(self, log: Path, *, quiet_after: float, tty: bool) -> None:
        from gotrace.analyzers.live import LiveState

        self.log = log
        self.quiet_after = quiet_after
        self.tty = tty
        from gotrace.terminal import StatusLine

        self.status = StatusLine(tty=tty)
        self.state = LiveState()
        self.offset = 0
        self.partial = b""
        self.started = time.time()
        self.quiet_said_at: float | None = None
        self.last_status = 0.0
        self.quiet = False
        from gotrace.analyzers.live import NOISE

        self._noise = frozenset(n.encode() for n in NOISE)

    def poll(self) -> None:
        from gotrace.parsers.lines import parse_line

        try:
            with open(self.log, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return
        self.offset += len(data)
        buf = self.partial + data
        *lines, self.partial = buf.split(b"\n")
        noise = self._noise
        for raw in lines:
            quick = _QUICK_LEADER.match(raw)
            if quick is not None and quick.group(4) in noise:
                # most of a Go trace: parsed from its leader alone, not line by line in full
                rk = (
                    "resumed"
                    if quick.group(3)
                    else ("unfinished" if raw.endswith(b"<unfinished ...>") else "call")
                )
                self.state.feed_noise(
                    int(quick.group(1)), float(quick.group(2)), quick.group(4).decode(), rk
                )
                continue
            rec = parse_line(raw.decode("utf-8", "replace"))
            ts = float(rec["num"]) if rec.get("num") else None
            self.state.feed(rec, ts)
        if self.state.last_progress is None and self.state.lines:
            self.state.last_progress = time.time()
        now = time.time()
        quiet = self.state.quiet_for(now)
        self.quiet = quiet >= self.quiet_after
        if quiet >= self.quiet_after:
            if self.quiet_said_at is None or now - self.quiet_said_at >= max(self.quiet_after, 5.0):
                tail = parse_line(self.partial.decode("utf-8", "replace")) if self.partial else None
                self._say(f"quiet for {quiet:.0f} s: {self.state.blame(tail)}", final=True)
                self.quiet_said_at = now
        else:
            self.quiet_said_at = None
            if self.tty and now - self.last_status > 0.5:
                self._say(f"{now - self.started:5.1f} s  {self.state.progress()}", final=False)
                self.last_status = now

    def _say(self, text: str, *, final: bool) -> None:
        if final:
            self.status.say(text)
        else:
            self.status.show(text)

    def finish(self) -> None:
        self.status.close()


class SampleMonitor:
    """Says what /proc shows once the process tree has been quiet for ``quiet_after`` s."""

    def __init__(self, *, quiet_after: float, tty: bool, prefix: str = "") -> None:
        from gotrace.analyzers.samples import SampleHistory

        self.history = SampleHistory()
        self.quiet_after = quiet_after
        self.tty = tty
        self.prefix = prefix
        self.said_at: float | None = None

    def poll(self, samples: list[Any], *, quiet: bool = True) -> None:
        for s in samples:
            self.history.feed(s)
        line = self.history.quiet_summary(self.quiet_after) if quiet else None
        now = time.time()
        if line is None:
            self.said_at = None
        elif self.said_at is None or now - self.said_at >= max(self.quiet_after, 5.0):
            from gotrace.terminal import StatusLine

            StatusLine(tty=self.tty).say(self.prefix + line)
            self.said_at = now
