"""The module cache as go leaves it: what each module version has, what an interrupted go left
behind, which locks are held right now, and what is unreadable or wrongly owned.

The layout, and what each file name in it is, is :mod:`gotrace.modcachelayout` (shared with
the trace analyzers and the sampler); this module walks a real cache with it.

A module version is complete when it has .info, .mod, .zip, .ziphash and its extracted
directory, and no .partial. ``classify`` is pure; ``scan_cache`` and ``fix_cache`` do I/O.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gotrace import modcachelayout as layout
from gotrace.doctor.dirs import mode_allows, owner_name
from gotrace.doctor.model import CachedModule, LockHolder
from gotrace.doctor.procfs import holders_of, open_files, read_locks
from gotrace.modpath import escape as escape_path
from gotrace.modpath import unescape
from gotrace.proclocks import LockRecord

ARTIFACTS = layout.VERSION_FILES
_GIT_LOCKS = ("index.lock", "shallow.lock", "config.lock", "packed-refs.lock", "HEAD.lock")


def unescape_path(escaped: str) -> str:
    """module.UnescapePath: ``!x`` is ``X``. Raises ValueError on text go never writes."""
    return unescape(escaped, strict=True)


def _unescape_or_raw(escaped: str) -> str:
    try:
        return unescape_path(escaped)
    except ValueError:
        return escaped


@dataclass(frozen=True, slots=True)
class Leftover:
    """A file or directory an interrupted go left behind."""

    path: str
    kind: Literal["tmp", "tmpdir", "partial"]
    size: int
    writers: tuple[int, ...] = ()  # processes that have it open: still being written


@dataclass(frozen=True, slots=True)
class VersionEntry:
    path: str
    version: str
    vdir: str
    files: Mapping[str, int]
    extracted: str = ""
    extracted_bytes: int = 0
    leftovers: tuple[Leftover, ...] = ()
    holders: tuple[LockHolder, ...] = ()
    state: str = ""
    problems: tuple[str, ...] = ()

    @property
    def held(self) -> bool:
        return any(not h.waiting for h in self.holders)

    @property
    def size(self) -> int:
        return sum(self.files.values()) + self.extracted_bytes + sum(x.size for x in self.leftovers)

    @property
    def artifacts(self) -> list[str]:
        out = [a for a in ARTIFACTS if a in self.files]
        if self.extracted:
            out.append("dir")
        out += sorted({x.kind for x in self.leftovers if x.kind != "partial"})
        return out

    @property
    def lock_path(self) -> str:
        return os.path.join(self.vdir, escape_path(self.version) + ".lock")

    def as_cached(self) -> CachedModule:
        return CachedModule(
            self.path,
            self.version,
            info="info" in self.files,
            mod="mod" in self.files,
            zip="zip" in self.files,
            ziphash="ziphash" in self.files,
            extracted=bool(self.extracted),
            partial="partial" in self.files,
            tmp=tuple(os.path.basename(x.path) for x in self.leftovers if x.kind != "partial"),
            lock="lock" in self.files,
            holders=self.holders,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "module": self.path,
            "version": self.version,
            "state": self.state,
            "artifacts": self.artifacts,
            "files": dict(self.files),
            "extracted": self.extracted or None,
            "bytes": self.size,
            "leftovers": [
                {"path": x.path, "kind": x.kind, "bytes": x.size} for x in self.leftovers
            ],
            "lock": {
                "path": self.lock_path if "lock" in self.files else None,
                "held": self.held,
                "holders": [_holder_dict(h) for h in self.holders],
            },
            "problems": list(self.problems),
        }


def _holder_dict(h: LockHolder) -> dict[str, Any]:
    return {
        "pid": h.pid,
        "command": h.command,
        "kind": h.kind,
        "mode": h.mode,
        "waiting": h.waiting,
    }


def classify(
    version: str,
    files: Mapping[str, int],
    extracted: str,
    leftovers: Sequence[Leftover],
    holders: Sequence[LockHolder],
) -> tuple[str, tuple[str, ...]]:
    """(state, problems) of one module version, from what is on disk."""
    has = set(files)
    ev = escape_path(version)
    problems = []
    for x in leftovers:
        name = os.path.basename(x.path)
        if x.kind == "tmp" and x.writers:
            problems.append(
                f"{name}: being written now by pid {x.writers[0]} ({x.size} bytes so far)"
            )
        elif x.kind == "tmp":
            problems.append(f"{name}: left by an interrupted download ({x.size} bytes)")
        elif x.kind == "tmpdir":
            problems.append(f"{name}: left by an interrupted extraction (go < 1.16)")
    if "partial" in has:
        problems.append(
            f"{ev}.partial: extraction into {extracted or 'its directory'} was "
            "interrupted; go removes the directory and extracts again"
        )
    elif "zip" in has and "ziphash" not in has:
        problems.append(
            f"{ev}.zip without {ev}.ziphash: the download or its hash check did "
            "not finish; go hashes the zip again"
        )
    elif extracted and "ziphash" not in has:
        problems.append(
            f"{extracted} has no {ev}.ziphash: go treats it as partial and extracts again"
        )
    complete = {"info", "mod", "zip", "ziphash"} <= has and bool(extracted) and not problems
    if problems:
        state = "incomplete"
    elif complete:
        state = "complete"
    elif {"zip", "ziphash"} <= has:
        state = "downloaded"  # zip verified, not extracted (go mod download -json of a zip)
    elif extracted and "ziphash" in has:
        state = "extracted"  # zip deleted by someone; go does not need it to build
    elif "mod" in has:
        state = "go.mod only"  # in the module graph, its packages never needed
    else:
        state = "metadata only"
    if not complete:
        for h in holders:
            if h.waiting:
                problems.append(f"pid {h.pid} ({h.short}) is waiting for its lock")
            else:
                problems.append(
                    f"lock held by pid {h.pid} ({h.short}, {h.kind} "
                    f"{h.mode}): a go that needs this module waits for it"
                )
    return state, tuple(problems)


@dataclass(frozen=True, slots=True)
class VcsEntry:
    """A bare repository go cloned in direct mode, keyed by sha256 of its ``.info`` key."""

    name: str
    key: str
    size: int
    lock: bool
    holders: tuple[LockHolder, ...] = ()
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key": self.key,
            "bytes": self.size,
            "lock": self.lock,
            "holders": [_holder_dict(h) for h in self.holders],
            "problems": list(self.problems),
        }


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    kind: Literal["unreadable", "owner", "not-writable", "git-lock"]
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "kind": self.kind, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class HeldLock:
    path: str
    holders: tuple[LockHolder, ...]


@dataclass(frozen=True, slots=True)
class CacheReport:
    root: str
    uid: int
    owner: str
    euid: int
    versions: tuple[VersionEntry, ...] = ()
    vcs: tuple[VcsEntry, ...] = ()
    problems: tuple[Problem, ...] = ()
    held_locks: tuple[HeldLock, ...] = ()
    lock_files: int = 0
    other_files: tuple[str, ...] = ()
    totals: Mapping[str, int] = field(default_factory=dict)

    @property
    def incomplete(self) -> list[VersionEntry]:
        return [v for v in self.versions if v.problems]

    @property
    def healthy(self) -> bool:
        return not self.incomplete and not self.problems and not any(v.problems for v in self.vcs)

    def version(self, path: str, version: str) -> VersionEntry | None:
        return next((v for v in self.versions if (v.path, v.version) == (path, version)), None)

    def to_dict(self) -> dict[str, Any]:
        states: dict[str, int] = {}
        for v in self.versions:
            states[v.state] = states.get(v.state, 0) + 1
        return {
            "gomodcache": self.root,
            "owner": self.owner,
            "uid": self.uid,
            "euid": self.euid,
            "healthy": self.healthy,
            "totals": dict(self.totals),
            "states": states,
            "versions": [v.to_dict() for v in self.versions],
            "vcs": [v.to_dict() for v in self.vcs],
            "locks": {
                "files": self.lock_files,
                "held": [
                    {"path": h.path, "holders": [_holder_dict(x) for x in h.holders]}
                    for h in self.held_locks
                ],
            },
            "problems": [p.to_dict() for p in self.problems],
            "other_files": list(self.other_files),
        }


# --- scanning ----------------------------------------------------------------------------------


@dataclass
class _Builder:
    path: str
    version: str
    vdir: str = ""
    files: dict[str, int] = field(default_factory=dict)
    extracted: str = ""
    extracted_bytes: int = 0
    leftovers: list[Leftover] = field(default_factory=list)


class _Scanner:
    def __init__(self, root: Path) -> None:
        self.root = root
        st = root.stat()
        self.uid = st.st_uid
        self.euid = os.geteuid()
        try:
            import pwd

            pw = pwd.getpwuid(self.uid)
            self.owner_gids = {pw.pw_gid, *os.getgrouplist(pw.pw_name, pw.pw_gid)}
        except KeyError:
            self.owner_gids = {st.st_gid}
        self.records: list[LockRecord] = read_locks()
        self.open = open_files(str(root))
        self.versions: dict[tuple[str, str], _Builder] = {}
        self.vcs: list[VcsEntry] = []
        self.problems: list[Problem] = []
        self.held: list[HeldLock] = []
        self.lock_files = 0
        self.other: list[str] = []
        self.totals = {"download": 0, "sumdb": 0, "extracted": 0, "vcs": 0, "other": 0}
        self._owner_reported: list[tuple[str, int]] = []

    # -- permission checks ---------------------------------------------------------------------

    def check(self, path: str, st: os.stat_result, *, work: bool) -> None:
        """Owner and readability always; writability where go creates files (``work``)."""
        is_dir = stat.S_ISDIR(st.st_mode)
        if st.st_uid != self.uid and not any(
            path.startswith(p + "/") and uid == st.st_uid for p, uid in self._owner_reported
        ):
            self._owner_reported.append((path, st.st_uid))
            self.problems.append(
                Problem(
                    path,
                    "owner",
                    f"owned by {owner_name(st.st_uid)}, "
                    f"the cache by {owner_name(self.uid)}: go run as "
                    f"{owner_name(self.uid)} may fail on it",
                )
            )
        want_r = os.R_OK | (os.X_OK if is_dir else 0)
        if not (mode_allows(st, self.uid, self.owner_gids, want_r) and os.access(path, want_r)):
            self.problems.append(
                Problem(
                    path,
                    "unreadable",
                    f"mode {stat.filemode(st.st_mode)}, "
                    f"owner {owner_name(st.st_uid)}: go cannot read it",
                )
            )
        if not work:
            return
        want_w = os.W_OK | (os.X_OK if is_dir else 0)
        by_owner = mode_allows(st, self.uid, self.owner_gids, want_w)
        by_me = os.access(path, want_w)
        what = "create files in it" if is_dir else "open it for writing (lockedfile needs O_RDWR)"
        if not by_me:
            self.problems.append(
                Problem(
                    path,
                    "not-writable",
                    f"mode {stat.filemode(st.st_mode)}, "
                    f"owner {owner_name(st.st_uid)}: this user (uid "
                    f"{self.euid}) cannot {what}",
                )
            )
        elif not by_owner:
            self.problems.append(
                Problem(
                    path,
                    "not-writable",
                    f"mode {stat.filemode(st.st_mode)}: "
                    f"the cache's owner {owner_name(self.uid)} cannot {what}; "
                    + (
                        "only root's CAP_DAC_OVERRIDE can"
                        if self.euid == 0
                        else f"this user (uid {self.euid}) can, through its group or other bits"
                    ),
                )
            )

    # -- walking -------------------------------------------------------------------------------

    def entries(self, path: str) -> Iterator[tuple[os.DirEntry[str], os.stat_result]]:
        try:
            with os.scandir(path) as it:
                items = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            self.problems.append(
                Problem(path, "unreadable", f"cannot list it: {exc.strerror or exc}")
            )
            return
        for e in items:
            try:
                yield e, e.stat(follow_symlinks=False)
            except OSError as exc:
                self.problems.append(Problem(e.path, "unreadable", exc.strerror or str(exc)))

    def tree_bytes(self, path: str, *, work: bool = False) -> int:
        total = 0
        for e, st in self.entries(path):
            self.check(e.path, st, work=work)
            if stat.S_ISDIR(st.st_mode):
                total += self.tree_bytes(e.path, work=work)
            else:
                total += st.st_size
        return total

    def writers(self, path: str) -> tuple[int, ...]:
        return self.open.get(os.path.realpath(path), ())

    def builder(self, path: str, version: str) -> _Builder:
        key = (path, version)
        if key not in self.versions:
            self.versions[key] = _Builder(path, version)
        return self.versions[key]

    def scan(self) -> None:
        self.check(str(self.root), self.root.stat(), work=True)
        for e, st in self.entries(str(self.root)):
            if e.name == "cache" and stat.S_ISDIR(st.st_mode):
                self.check(e.path, st, work=True)
                self.scan_cache_dir(e.path)
            elif stat.S_ISDIR(st.st_mode):
                self.scan_extracted(e.path, "")
            else:
                self.check(e.path, st, work=False)
                self.other.append(e.path)
                self.totals["other"] += st.st_size

    def scan_cache_dir(self, path: str) -> None:
        for e, st in self.entries(path):
            is_dir = stat.S_ISDIR(st.st_mode)
            if e.name == "download" and is_dir:
                self.check(e.path, st, work=True)
                self.scan_download(e.path, "")
            elif e.name == "vcs" and is_dir:
                self.check(e.path, st, work=True)
                self.scan_vcs(e.path)
            elif is_dir:
                self.check(e.path, st, work=True)
                self.totals["other"] += self.tree_bytes(e.path, work=True)
            else:
                self.check(e.path, st, work=e.name.endswith(".lock") or e.name == "lock")
                self.totals["other"] += st.st_size
                if e.name == "lock":  # cache/lock, modfetch.SideLock
                    self.note_lock(e.path)

    def note_lock(self, path: str) -> tuple[LockHolder, ...]:
        self.lock_files += 1
        holders = holders_of(path, self.records)
        if holders:
            self.held.append(HeldLock(path, holders))
        return holders

    def scan_download(self, path: str, rel: str) -> None:
        for e, st in self.entries(path):
            sub = f"{rel}/{e.name}" if rel else e.name
            if not stat.S_ISDIR(st.st_mode):
                self.check(e.path, st, work=False)
                self.totals["download"] += st.st_size
                continue
            if not rel and e.name == "sumdb":
                self.check(e.path, st, work=True)
                self.totals["sumdb"] += self.tree_bytes(e.path, work=True)
            elif e.name == "@v":
                self.check(e.path, st, work=True)
                self.scan_versions(e.path, _unescape_or_raw(rel))
            else:
                self.check(e.path, st, work=True)
                self.scan_download(e.path, sub)

    def scan_versions(self, vdir: str, module: str) -> None:
        for e, st in self.entries(vdir):
            name = e.name
            is_lock = name.endswith(".lock")
            self.check(e.path, st, work=is_lock)
            size = st.st_size
            self.totals["download"] += size if not stat.S_ISDIR(st.st_mode) else 0
            tmp = layout.version_temp(name)
            if tmp is not None:
                b = self.builder(module, _unescape_or_raw(tmp[1]))
                b.vdir = vdir
                b.leftovers.append(Leftover(e.path, "tmp", size, self.writers(e.path)))
                continue
            hit = layout.version_file(name)
            if hit is None:
                if is_lock:
                    self.note_lock(e.path)
                if name not in ("list", "list.lock"):
                    self.other.append(e.path)
                continue
            ext, escaped = hit
            b = self.builder(module, _unescape_or_raw(escaped))
            b.vdir = vdir
            b.files[ext] = size

    def scan_extracted(self, path: str, rel: str) -> None:
        for_rel = f"{rel}/{os.path.basename(path)}" if rel else os.path.basename(path)
        st = os.lstat(path)
        name = os.path.basename(path)
        if "@" not in name:
            self.check(path, st, work=True)
            for e, est in self.entries(path):
                if stat.S_ISDIR(est.st_mode):
                    self.scan_extracted(e.path, for_rel)
                else:
                    self.check(e.path, est, work=False)
                    self.other.append(e.path)
                    self.totals["other"] += est.st_size
            return
        self.check(path, st, work=False)
        module_part, _, version_part = for_rel.rpartition("@")
        size = self.tree_bytes(path)
        self.totals["extracted"] += size
        module = _unescape_or_raw(module_part)
        tmp = layout.extraction_temp(version_part)
        if tmp is not None:
            b = self.builder(module, _unescape_or_raw(tmp))
            b.leftovers.append(Leftover(path, "tmpdir", size))
            return
        b = self.builder(module, _unescape_or_raw(version_part))
        b.extracted, b.extracted_bytes = path, size

    def scan_vcs(self, path: str) -> None:
        items = list(self.entries(path))
        names = {e.name for e, _ in items}
        for e, st in items:
            if stat.S_ISDIR(st.st_mode):
                self.check(e.path, st, work=True)
                size = self.tree_bytes(e.path, work=True)
                self.totals["vcs"] += size
                key = ""
                with contextlib.suppress(OSError):
                    key = Path(e.path + ".info").read_text(errors="replace").strip()
                problems = []
                for lock in _GIT_LOCKS:
                    lp = os.path.join(e.path, lock)
                    if os.path.exists(lp):
                        self.problems.append(
                            Problem(
                                lp,
                                "git-lock",
                                "left by a git that was "
                                "killed: git commands in this repository "
                                "fail with 'File exists'",
                            )
                        )
                        problems.append(f"{lock} left behind by a killed git")
                holders: tuple[LockHolder, ...] = ()
                if e.name + ".lock" in names:
                    holders = self.note_lock(e.path + ".lock")
                if not key:
                    problems.append("no .info file: go does not know which repository this is")
                self.vcs.append(
                    VcsEntry(e.name, key, size, e.name + ".lock" in names, holders, tuple(problems))
                )
            else:
                self.check(e.path, st, work=e.name.endswith(".lock"))
                self.totals["vcs"] += st.st_size
                if e.name.endswith(".lock") and e.name[:-5] not in names:
                    self.note_lock(e.path)

    def report(self) -> CacheReport:
        versions = []
        for b in sorted(self.versions.values(), key=lambda b: (b.path, b.version)):
            vdir = b.vdir or os.path.join(self.root, "cache", "download", escape_path(b.path), "@v")
            holders: tuple[LockHolder, ...] = ()
            if "lock" in b.files:
                holders = self.note_lock(os.path.join(vdir, escape_path(b.version) + ".lock"))
            state, problems = classify(b.version, b.files, b.extracted, b.leftovers, holders)
            versions.append(
                VersionEntry(
                    b.path,
                    b.version,
                    vdir,
                    dict(b.files),
                    b.extracted,
                    b.extracted_bytes,
                    tuple(b.leftovers),
                    holders,
                    state,
                    problems,
                )
            )
        totals = dict(self.totals)
        totals["total"] = sum(self.totals.values())
        return CacheReport(
            root=str(self.root),
            uid=self.uid,
            owner=owner_name(self.uid),
            euid=self.euid,
            versions=tuple(versions),
            vcs=tuple(self.vcs),
            problems=tuple(self.problems),
            held_locks=tuple(self.held),
            lock_files=self.lock_files,
            other_files=tuple(self.other),
            totals=totals,
        )


def scan_cache(root: str | os.PathLike[str]) -> CacheReport:
    """Scan a GOMODCACHE. Raises OSError when ``root`` itself cannot be read."""
    scanner = _Scanner(Path(root))
    scanner.scan()
    return scanner.report()


def module_state(gomodcache: str, path: str, version: str) -> CachedModule:
    """One module version's state, without scanning the whole cache (for the doctor)."""
    if not gomodcache:
        return CachedModule(path, version)
    root = Path(gomodcache)
    vdir = root / "cache" / "download" / escape_path(path) / "@v"
    ev = escape_path(version)
    files = {}
    for ext in ARTIFACTS:
        f = vdir / f"{ev}.{ext}"
        with contextlib.suppress(OSError):
            files[ext] = f.stat().st_size
    leftovers = []
    with contextlib.suppress(OSError):
        for f in sorted(vdir.iterdir()):
            tmp = layout.version_temp(f.name)
            if tmp is not None and tmp[1] == ev:
                leftovers.append(Leftover(str(f), "tmp", f.stat().st_size))
    extracted = root / f"{escape_path(path)}@{ev}"
    holders = holders_of(vdir / f"{ev}.lock", read_locks()) if "lock" in files else ()
    entry = VersionEntry(
        path,
        version,
        str(vdir),
        files,
        str(extracted) if extracted.is_dir() else "",
        0,
        tuple(leftovers),
        holders,
    )
    return entry.as_cached()
