"""The doctor's model: the snapshot it gathers (go env, go.mod, directories, cache states,
reachability probes) and the :class:`Check` rows its judgements give. Plain values, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["ok", "info", "warn", "fail"]
#: worst first
STATUS_RANK: Mapping[str, int] = {"fail": 0, "warn": 1, "info": 2, "ok": 3}


@dataclass(frozen=True, slots=True)
class Check:
    """One row of the doctor's table: what was checked, what it is, and what to do about it."""

    name: str
    status: Status
    value: str
    why: str
    fix: str = ""
    details: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.name,
            "status": self.status,
            "value": self.value,
            "why": self.why,
            "fix": self.fix,
            "details": list(self.details),
        }


def worst_first(checks: Iterable[Check]) -> list[Check]:
    """Failures, then warnings, then notes, then what is fine; stable within each."""
    return sorted(checks, key=lambda c: STATUS_RANK[c.status])


def exit_status(checks: Iterable[Check]) -> int:
    """1 when a check failed; warnings alone still exit 0."""
    return 1 if any(c.status == "fail" for c in checks) else 0


def summary_counts(checks: Sequence[Check]) -> dict[str, int]:
    return {k: sum(1 for c in checks if c.status == k) for k in STATUS_RANK}


# --- the snapshot the doctor gathers -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Requirement:
    """A ``require`` line of go.mod and what go actually downloads for it after ``replace``:
    ``fetch_path``/``fetch_version``, or ``local`` when it is replaced by a directory."""

    path: str
    version: str
    indirect: bool = False
    fetch_path: str = ""
    fetch_version: str = ""
    local: str = ""


@dataclass(frozen=True, slots=True)
class ModFile:
    path: str
    module: str = ""
    go: str = ""
    toolchain: str = ""
    requires: tuple[Requirement, ...] = ()
    error: str = ""


@dataclass(frozen=True, slots=True)
class LockHolder:
    """A process in /proc/locks on a cache lock file; ``waiting`` when it is blocked on it."""

    pid: int
    command: str
    kind: str
    mode: str
    waiting: bool = False

    @property
    def short(self) -> str:
        """The command on one line, cut to a readable length."""
        cmd = " ".join(self.command.split()) or "?"
        return cmd if len(cmd) <= 80 else cmd[:77] + "..."

    def describe(self) -> str:
        verb = "waits for" if self.waiting else "holds"
        return f"pid {self.pid} ({self.short}) {verb} it ({self.kind} {self.mode})"


@dataclass(frozen=True, slots=True)
class CachedModule:
    """What GOMODCACHE holds of one module version (modfetch/cache.go, fetch.go)."""

    path: str
    version: str
    info: bool = False
    mod: bool = False
    zip: bool = False
    ziphash: bool = False
    extracted: bool = False
    partial: bool = False
    tmp: tuple[str, ...] = ()
    lock: bool = False
    holders: tuple[LockHolder, ...] = ()

    @property
    def complete(self) -> bool:
        """All that ``go mod download`` leaves for a module: nothing left for it to do."""
        return (
            self.info
            and self.mod
            and self.zip
            and self.ziphash
            and self.extracted
            and not self.partial
        )

    @property
    def missing(self) -> list[str]:
        names = ("info", "mod", "zip", "ziphash", "extracted")
        out = [n for n in names if not getattr(self, n)]
        if self.partial:
            out.append("partial extraction")
        return out


@dataclass(frozen=True, slots=True)
class DirState:
    """A directory go must write to, as this process sees it."""

    role: str
    path: str
    exists: bool
    is_dir: bool = False
    checked: str = ""  # the path the rest describes: path, or its nearest existing ancestor
    uid: int = -1
    owner: str = ""
    mode: int = 0
    euid: int = -1
    access_write: bool = False
    mode_write: bool = False
    dac_override: bool = False
    free_bytes: int | None = None
    mount_point: str = ""
    mount_readonly: bool = False
    error: str = ""


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a reachability probe; ``seconds`` is how long it took or waited."""

    name: str
    seconds: float
    ok: bool
    detail: str = ""
    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class Reach:
    """A probe of one URL go would ask: its steps, in order, and the HTTP status if any."""

    role: str
    url: str
    steps: tuple[Step, ...] = ()
    status: int | None = None
    via: str = ""
    proxy: str = ""
    location: str = ""
    skipped: str = ""
    index: int = -1  # the GOPROXY entry probed, -1 for the checksum database

    @property
    def failed_step(self) -> Step | None:
        return next((s for s in self.steps if not s.ok), None)

    def timings(self) -> str:
        parts = []
        for s in self.steps:
            t = f"{s.seconds * 1000:.1f}ms" if s.seconds < 1 else f"{s.seconds:.2f}s"
            state = s.detail if s.ok else f"FAILED: {s.detail}"
            parts.append(f"{s.name} {t} {state}".rstrip())
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class DoctorSnapshot:
    """Everything the doctor saw; ``reach`` is None when the network was not probed."""

    directory: str
    go_binary: str = ""
    go_version: str = ""
    go_error: str = ""
    goenv: Mapping[str, str] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict)
    gotoolchain: str = ""
    modfile: ModFile | None = None
    workspace: tuple[str, ...] = ()
    gosum: frozenset[str] | None = None
    vendor: bool = False
    dirs: tuple[DirState, ...] = ()
    modules: tuple[CachedModule, ...] = ()
    reach: tuple[Reach, ...] | None = None
    timeout: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["gosum"] = sorted(self.gosum) if self.gosum is not None else None
        return d
