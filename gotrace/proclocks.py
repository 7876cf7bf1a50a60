"""/proc/locks, read one way for everything that needs it (the watchdog, gotrace cache)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# "1: FLOCK  ADVISORY  WRITE 13788 fe:00:2155605 0 EOF"; a process blocked on the lock is
# listed under it as "1: -> FLOCK  ADVISORY  WRITE 13790 fe:00:2155605 0 EOF" (fs/locks.c,
# lock_get_status: device as %02x:%02x, inode in decimal).
_LOCK_LINE = re.compile(
    r"^\d+:\s+(?P<wait>->\s+)?(?P<kind>\S+)\s+\S+\s+(?P<mode>\S+)\s+(?P<pid>-?\d+)\s+"
    r"(?P<major>[0-9a-fA-F]+):(?P<minor>[0-9a-fA-F]+):(?P<inode>\d+)\s"
)


@dataclass(frozen=True, slots=True)
class LockRecord:
    """One line of /proc/locks."""

    kind: str  # FLOCK (go's lockedfile), POSIX (fcntl), OFDLCK, LEASE, ...
    mode: str  # READ or WRITE
    pid: int  # -1 for OFD locks, which belong to an open file, not a process
    major: int
    minor: int
    inode: int
    waiting: bool


def parse_locks(text: str) -> list[LockRecord]:
    out = []
    for line in text.splitlines():
        m = _LOCK_LINE.match(line.strip())
        if m is None:
            continue
        out.append(
            LockRecord(
                kind=m["kind"],
                mode=m["mode"],
                pid=int(m["pid"]),
                major=int(m["major"], 16),
                minor=int(m["minor"], 16),
                inode=int(m["inode"]),
                waiting=m["wait"] is not None,
            )
        )
    return out


def records_for(
    records: Iterable[LockRecord], major: int, minor: int, inode: int
) -> list[LockRecord]:
    """The records on one file. On overlayfs the lock sits on the upper layer's inode, whose
    device differs from the one stat() reports, so an inode-only match is the fallback."""
    records = list(records)
    exact = [r for r in records if (r.major, r.minor, r.inode) == (major, minor, inode)]
    return exact or [r for r in records if r.inode == inode and r.kind in ("FLOCK", "POSIX")]
