"""What Linux's /proc says about locks, mounts and capabilities.

The ``parse_*`` functions are pure (text in, records out) so they can be tested on sample
text; the ``read_*`` functions do the reading and return empty results where /proc is absent.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gotrace.doctor.model import LockHolder
from gotrace.proclocks import LockRecord, parse_locks, records_for

__all__ = ["LockRecord", "parse_locks", "records_for"]  # re-exported: gotrace cache reads them here

CAP_DAC_OVERRIDE = 1


@dataclass(frozen=True, slots=True)
class Mount:
    mount_point: str
    options: tuple[str, ...]
    fstype: str
    source: str
    super_options: tuple[str, ...]

    @property
    def readonly(self) -> bool:
        return "ro" in self.options or "ro" in self.super_options


def _unescape_mount(field: str) -> str:
    # the kernel writes space, tab, newline and backslash as octal escapes (\040 ...)
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[Mount]:
    """/proc/PID/mountinfo: ``id parent maj:min root mount-point options [tags] - fstype
    source super-options``."""
    out = []
    for line in text.splitlines():
        head, sep, tail = line.partition(" - ")
        if not sep:
            continue
        fields, rest = head.split(), tail.split()
        if len(fields) < 6 or len(rest) < 2:
            continue
        out.append(
            Mount(
                mount_point=_unescape_mount(fields[4]),
                options=tuple(fields[5].split(",")),
                fstype=rest[0],
                source=_unescape_mount(rest[1]),
                super_options=tuple(rest[2].split(",")) if len(rest) > 2 else (),
            )
        )
    return out


def mount_for(path: str, mounts: Sequence[Mount]) -> Mount | None:
    """The mount ``path`` lives on: the longest mount point above it; of mounts stacked on
    one point, the last listed (the one on top)."""
    best: Mount | None = None
    for m in mounts:
        mp = m.mount_point.rstrip("/") or "/"
        inside = path == mp or mp == "/" or path.startswith(mp + "/")
        if inside and (best is None or len(mp) >= len(best.mount_point.rstrip("/") or "/")):
            best = m
    return best


def parse_capabilities(status: str) -> int:
    """The effective capability mask from /proc/PID/status (``CapEff:`` in hex)."""
    m = re.search(r"^CapEff:\s*([0-9a-fA-F]+)$", status, re.MULTILINE)
    return int(m.group(1), 16) if m else 0


# --- reading -----------------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def read_locks() -> list[LockRecord]:
    return parse_locks(_read("/proc/locks"))


def read_mounts() -> list[Mount]:
    return parse_mountinfo(_read("/proc/self/mountinfo"))


def has_capability(bit: int) -> bool:
    return bool(parse_capabilities(_read("/proc/self/status")) >> bit & 1)


def command_of(pid: int) -> str:
    """The command line of ``pid`` (its comm in brackets when cmdline is empty); "" if gone."""
    if pid <= 0:
        return ""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    argv = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
    if argv:
        return " ".join(argv)
    comm = _read(f"/proc/{pid}/comm").strip()
    return f"[{comm}]" if comm else ""


def open_files(under: str) -> dict[str, tuple[int, ...]]:
    """Files below the directory ``under`` that some process has open now, with the pids
    (only processes this user may inspect: all of them for root)."""
    prefix = os.path.realpath(under).rstrip("/") + "/"
    out: dict[str, list[int]] = {}
    try:
        pids = [d for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return {}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith(prefix):
                out.setdefault(target, []).append(int(pid))
    return {k: tuple(sorted(set(v))) for k, v in out.items()}


def holders_of(
    path: str | os.PathLike[str], records: Sequence[LockRecord]
) -> tuple[LockHolder, ...]:
    """Who holds, or waits for, a lock on the file at ``path`` now."""
    try:
        st = os.stat(path)
    except OSError:
        return ()
    found = records_for(records, os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    return tuple(LockHolder(r.pid, command_of(r.pid), r.kind, r.mode, r.waiting) for r in found)
