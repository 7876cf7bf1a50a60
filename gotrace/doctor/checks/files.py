"""Checks of what go reads and writes on disk: its directories, go.mod and go.sum, and
the module cache."""

from __future__ import annotations

import stat

from gotrace.doctor.checks.common import fetched, fmt_bytes, in_gosum, plural, setting, were
from gotrace.doctor.model import Check, DirState, DoctorSnapshot, Status
from gotrace.goconfig.envvars import DEVNULL


def judge_dir(d: DirState) -> Check:
    name = d.role
    if d.error == "not set":
        return Check(
            name,
            "fail",
            "(empty)",
            f"{name} is empty: go cannot download (it fails "
            "with 'missing $GOPATH' or 'GOMODCACHE not set').",
            "Set GOPATH (or GOMODCACHE) to an absolute directory.",
        )
    if d.error:
        return Check(name, "fail", d.path, f"Cannot inspect it: {d.error}.", "")
    if d.exists and not d.is_dir:
        return Check(
            name,
            "fail",
            d.path,
            "It exists but is not a directory; go cannot use it.",
            f"Remove {d.path} or point {name} elsewhere.",
        )
    where = d.path if d.exists else f"{d.path} (missing; go creates it under {d.checked})"
    facts = (
        f"owner {d.owner or d.uid}, mode {stat.filemode(d.mode)}, "
        f"{fmt_bytes(d.free_bytes)} free on {d.mount_point or '?'}"
    )
    value = f"{where}; {facts}"
    if d.mount_readonly:
        return Check(
            name,
            "fail",
            value,
            f"{d.mount_point} is mounted read-only: go cannot "
            "write there and fails with 'read-only file system'.",
            f"Point {name.split()[0]} at a writable directory.",
        )
    if not d.access_write:
        return Check(
            name,
            "fail",
            value,
            f"This user (uid {d.euid}) may not write to "
            f"{d.checked}: go fails with 'permission denied'.",
            f"chown -R {d.euid} {d.checked} (or chmod u+w), or point {name.split()[0]} elsewhere.",
        )
    if not d.mode_write:
        bypass = (
            "root bypasses file permissions (CAP_DAC_OVERRIDE)"
            if d.euid == 0
            else "this process has CAP_DAC_OVERRIDE"
        )
        return Check(
            name,
            "warn",
            value,
            f"Writable only because {bypass}: the mode bits deny "
            f"writing to {d.checked}, so go run as another user, or with capabilities "
            "dropped (containers, setpriv), fails with 'permission denied'.",
            f"chmod -R u+w {d.checked} (and check its owner).",
        )
    if d.free_bytes is not None and d.free_bytes < 100 * 1024 * 1024:
        return Check(
            name,
            "warn",
            value,
            "Less than 100 MiB free: downloads can fail with 'no space left on device'.",
            "Free space, or move the cache.",
        )
    return Check(name, "ok", value, "go can create files here.")


def judge_gomod(s: DoctorSnapshot) -> list[Check]:
    mf = s.modfile
    gomod = setting(s, "GOMOD")
    if mf is None:
        if gomod and gomod != DEVNULL:
            return [Check("go.mod", "fail", gomod, "go reports a go.mod that could not be read.")]
        return []
    if mf.error:
        return [
            Check(
                "go.mod",
                "fail",
                mf.path,
                f"go cannot parse it: {mf.error}.",
                "Fix go.mod (go mod edit -json shows the error).",
            )
        ]
    reqs = mf.requires
    local = [r for r in reqs if r.local]
    value = f"{mf.path}: module {mf.module or '?'}, {plural(len(reqs), 'requirement')}"
    if local:
        value += f" ({len(local)} replaced by local directories)"
    if s.workspace:
        value += f"; workspace of {plural(len(s.workspace), 'module')}"
    checks = [
        Check(
            "go.mod",
            "ok",
            value,
            "The requirements go mod download fetches "
            "(without arguments, go >= 1.17: exactly these; older go.mod: all of the "
            "module graph).",
        )
    ]
    fetch = fetched(s)
    if s.gosum is None:
        if fetch:
            checks.append(
                Check(
                    "go.sum",
                    "warn",
                    "missing",
                    "Without go.sum, go verifies every "
                    "download with the checksum database (GOSUMDB), or accepts it "
                    "unverified when GOSUMDB=off.",
                    "Run go mod tidy and commit go.sum.",
                )
            )
    else:
        missing = [r for r in fetch if not in_gosum(s.gosum, r)]
        status: Status = "info" if missing else "ok"
        checks.append(
            Check(
                "go.sum",
                status,
                f"{len(s.gosum)} lines; "
                f"{len(fetch) - len(missing)} of {len(fetch)} requirements listed",
                "Requirements missing from go.sum need the checksum database."
                if missing
                else "Every requirement has its hashes here.",
                "go mod tidy" if missing else "",
                tuple(f"{r.fetch_path} {r.fetch_version}" for r in missing),
            )
        )
    return checks


def judge_cache(s: DoctorSnapshot) -> Check | None:
    if s.modfile is None or s.modfile.error:
        return None
    mods = list(s.modules)
    if not mods:
        return Check(
            "cache",
            "info",
            "no requirements to download",
            "go mod download says 'no module dependencies to download' and exits.",
        )
    done = [m for m in mods if m.complete]
    held = [m for m in mods if not m.complete and any(not h.waiting for h in m.holders)]
    broken = [m for m in mods if m.partial or m.tmp or (m.zip and not m.ziphash)]
    value = f"{len(done)} of {len(mods)} requirements complete in {setting(s, 'GOMODCACHE')}"
    details = []
    for m in mods:
        if m.complete:
            continue
        state = f"{m.path}@{m.version}: missing {', '.join(m.missing)}"
        if m.tmp:
            state += f"; leftover {', '.join(m.tmp)}"
        for h in m.holders:
            state += f"; lock: {h.describe()}"
        details.append(state)
    if held:
        h = next(x for x in held[0].holders if not x.waiting)
        return Check(
            "cache",
            "fail",
            value,
            f"{held[0].path}@{held[0].version} is not in the "
            f"cache and its lock is held by pid {h.pid} ({h.short}): go mod "
            "download waits for it silently, with no deadline.",
            f"Let pid {h.pid} finish, or stop it if it is stuck.",
            tuple(details),
        )
    if len(done) == len(mods):
        return Check(
            "cache",
            "ok",
            value,
            "Everything is already in the module cache: go mod "
            "download has nothing to do, so it prints nothing and exits 0 at once.",
            "",
            tuple(details),
        )
    why = f"go mod download will fetch {plural(len(mods) - len(done), 'module')}."
    fix = ""
    if broken:
        why += (
            f" {plural(len(broken), 'module')} {were(len(broken))} cut short by an interrupted go "
            "(tmp/partial files); go redoes them."
        )
        fix = "gotrace cache --fix removes the leftovers (go also does, under the lock)."
    return Check("cache", "info", value, why, fix, tuple(details))
