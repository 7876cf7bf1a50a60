"""``gotrace cache --fix``: remove what an interrupted go left in the module cache (partial
downloads, temp files, half-extracted directories), never a version a live go holds the
lock of. The scan that finds them is :mod:`gotrace.doctor.cachescan`."""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from gotrace.doctor.cachescan import CacheReport, VersionEntry
from gotrace.doctor.procfs import command_of, open_files
from gotrace.modpath import escape as escape_path


@dataclass(frozen=True, slots=True)
class FixAction:
    path: str
    action: Literal["removed", "skipped", "failed"]
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "action": self.action, "detail": self.detail}


def _make_removable(path: str) -> None:
    # go (without -modcacherw) makes extracted directories read-only
    for dirpath, _, _ in os.walk(path):
        with contextlib.suppress(OSError):
            os.chmod(dirpath, os.stat(dirpath).st_mode | stat.S_IRWXU)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        import shutil

        _make_removable(path)
        shutil.rmtree(path)
    else:
        os.unlink(path)


@contextlib.contextmanager
def _version_lock(entry: VersionEntry) -> Iterator[str]:
    """Take the module version's lock as go does (flock LOCK_EX), without waiting; yields ""
    on success or why it could not be taken. Without a lock file nothing can hold it (go
    creates it before it writes a zip or a .partial), so none is created."""
    path = entry.lock_path
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        yield ""
        return
    except OSError as exc:
        yield f"cannot open {os.path.basename(path)}: {exc.strerror or exc}"
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield "its lock was taken by another process just now"
            return
        except OSError as exc:
            yield f"cannot lock it: {exc.strerror or exc}"
            return
        try:
            yield ""
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def fix_cache(report: CacheReport) -> list[FixAction]:
    """Remove what an interrupted go left (tmp files, old tmp directories, partly extracted
    directories with their .partial marker), one module version at a time, holding that
    version's lock. A version whose lock another process holds is never touched, nor is a
    file some process has open (go writes .info and .mod tmp files without the lock)."""
    actions: list[FixAction] = []
    busy = open_files(report.root)
    for v in report.versions:
        targets = [x.path for x in v.leftovers if x.kind in ("tmp", "tmpdir")]
        if "partial" in v.files:
            if v.extracted:
                targets.append(v.extracted)  # first the directory, then its marker
            targets.append(os.path.join(v.vdir, escape_path(v.version) + ".partial"))
        if not targets:
            continue
        label = f"{v.path}@{v.version}"
        holders = [h for h in v.holders if not h.waiting]
        if holders:
            h = holders[0]
            why = f"{label}: lock held by pid {h.pid} ({h.short})"
            actions += [FixAction(t, "skipped", why) for t in targets]
            continue
        with _version_lock(v) as refused:
            if refused:
                actions += [FixAction(t, "skipped", f"{label}: {refused}") for t in targets]
                continue
            for t in targets:
                writers = busy.get(os.path.realpath(t), ())
                if writers:
                    why = f"{label}: open by pid {writers[0]} ({command_of(writers[0]) or '?'})"
                    actions.append(FixAction(t, "skipped", why))
                    continue
                try:
                    _remove(t)
                except OSError as exc:
                    actions.append(FixAction(t, "failed", exc.strerror or str(exc)))
                else:
                    actions.append(FixAction(t, "removed", label))
    return actions
