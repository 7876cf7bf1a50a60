"""The process tree ``gotrace run`` started, found in /proc, so that none of it outlives us.

gotrace makes itself a child subreaper: when go dies and leaves git, git-remote-https or
ssh behind, they are re-parented to gotrace instead of init, and stay findable as our
descendants. The tree of a run is then every descendant of the children gotrace started
for it (the tracer, or the command itself), plus the orphans re-parented to gotrace.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37


def set_subreaper(on: bool) -> bool | None:
    """Make us (or stop us being) the child subreaper (Linux 3.4+); return what we were
    before, or None when the kernel does not know the request."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        was = ctypes.c_int(0)
        if libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(was), 0, 0, 0) != 0:
            return None
        if libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) != 0:
            return None
        return bool(was.value)
    except (OSError, AttributeError):
        return None


def parents() -> dict[int, int]:
    """pid -> parent pid of every process /proc shows."""
    out: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and fields[1].isdigit():
            out[int(entry.name)] = int(fields[1])
    return out


def children(pid: int, table: dict[int, int] | None = None) -> set[int]:
    table = parents() if table is None else table
    return {p for p, pp in table.items() if pp == pid}


def descendants(roots: Iterable[int], table: dict[int, int] | None = None) -> set[int]:
    """``roots`` and everything below them."""
    table = parents() if table is None else table
    kids: dict[int, list[int]] = {}
    for p, pp in table.items():
        kids.setdefault(pp, []).append(p)
    seen: set[int] = set()
    todo = [r for r in roots if r in table]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        todo.extend(kids.get(p, ()))
    return seen


class RunTree:
    """The processes of one run: what gotrace started after ``__init__``, and below.

    Children gotrace already had (a lab's proxies, say) are not part of the run."""

    def __init__(self) -> None:
        self.me = os.getpid()
        self._was_subreaper = set_subreaper(True)
        self.before = children(self.me)

    def close(self) -> None:
        """Reap what is left and give the subreaper role back (a test suite runs many runs)."""
        self.reap_orphans()
        if self._was_subreaper is False:
            set_subreaper(False)

    def pids(self) -> set[int]:
        table = parents()
        mine = children(self.me, table) - self.before
        return descendants(mine, table) - {self.me}

    def signal_all(self, sig: int) -> list[int]:
        """Send ``sig`` to every process of the run, the deepest first; return who got it."""
        table = parents()
        targets = self.pids()
        depth = {p: _depth(p, table) for p in targets}
        sent = []
        for pid in sorted(targets, key=lambda p: -depth[p]):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
                sent.append(pid)
        return sent

    def reap_orphans(self) -> None:
        """Collect the exit status of re-parented orphans, which no Popen waits for."""
        for pid in children(self.me) - self.before:
            with contextlib.suppress(ChildProcessError, OSError):
                if not _is_zombie(pid):
                    continue
                os.waitpid(pid, os.WNOHANG)

    def end(self, *, grace: float = 2.0) -> list[int]:
        """SIGTERM the whole run, then SIGKILL what is left after ``grace`` seconds.
        Returns the pids that had to be killed."""
        if not self.signal_all(signal.SIGTERM):
            return []
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self._alive():
            time.sleep(0.05)
        killed = self.signal_all(signal.SIGKILL) if self._alive() else []
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and self._alive():
            self.reap_orphans()
            time.sleep(0.05)
        self.reap_orphans()
        return killed

    def _alive(self) -> bool:
        return any(not _is_zombie(p) for p in self.pids())


def _depth(pid: int, table: dict[int, int]) -> int:
    d = 0
    while pid in table and d < 4096:
        pid = table[pid]
        d += 1
    return d


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2 : stat.rfind(")") + 3] in ("Z", "X")
