"""Whether go can write where it must: existence, owner, mode bits, free space, mounts.

``os.access`` answers for this process, and root passes it whatever the mode bits say
(CAP_DAC_OVERRIDE); the mode bits answer for anyone without that privilege, such as go run by
the directory's owner or in a container with capabilities dropped. Both are recorded.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from gotrace.doctor.model import DirState
from gotrace.doctor.procfs import CAP_DAC_OVERRIDE, has_capability, mount_for, read_mounts


def owner_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def mode_allows(st: os.stat_result, uid: int, gids: set[int], want: int) -> bool:
    """Whether the mode bits alone grant ``want`` (os.R_OK/W_OK/X_OK bits) to uid/gids:
    the owner class if uid owns it, else the group class, else other (as the kernel checks
    for a process without CAP_DAC_OVERRIDE)."""
    bits = {
        os.R_OK: (stat.S_IRUSR, stat.S_IRGRP, stat.S_IROTH),
        os.W_OK: (stat.S_IWUSR, stat.S_IWGRP, stat.S_IWOTH),
        os.X_OK: (stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH),
    }
    cls = 0 if st.st_uid == uid else 1 if st.st_gid in gids else 2
    return all(st.st_mode & bits[flag][cls] for flag in (os.R_OK, os.W_OK, os.X_OK) if want & flag)


def nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def dir_state(role: str, path: str) -> DirState:
    """Inspect the directory go would write to (or, when it is missing, the ancestor go
    would have to create it in)."""
    if not path:
        return DirState(role, path, False, error="not set")
    p = Path(path)
    try:
        exists = p.exists()
        checked = p if exists else nearest_existing(p)
        st = checked.stat()
    except OSError as exc:
        return DirState(role, path, False, error=exc.strerror or str(exc))
    euid = os.geteuid()
    gids = {os.getegid(), *os.getgroups()}
    want = os.W_OK | os.X_OK
    free: int | None
    try:
        vfs = os.statvfs(checked)
        free = vfs.f_bavail * vfs.f_frsize
        vfs_ro = bool(vfs.f_flag & os.ST_RDONLY)
    except OSError:
        free, vfs_ro = None, False
    mount = mount_for(str(checked.resolve()), read_mounts())
    return DirState(
        role=role,
        path=path,
        exists=exists,
        is_dir=stat.S_ISDIR(st.st_mode),
        checked=str(checked),
        uid=st.st_uid,
        owner=owner_name(st.st_uid),
        mode=st.st_mode,
        euid=euid,
        access_write=os.access(checked, want),
        mode_write=mode_allows(st, euid, gids, want),
        dac_override=has_capability(CAP_DAC_OVERRIDE),
        free_bytes=free,
        mount_point=mount.mount_point if mount is not None else "",
        mount_readonly=vfs_ro or (mount is not None and mount.readonly),
    )
