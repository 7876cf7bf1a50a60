"""What an analyzer concludes: a Finding names the object, the time, the evidence and a fix."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]
SEVERITY_RANK: dict[str, int] = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True, slots=True)
class Finding:
    """One conclusion. ``objects`` are the things it names (paths, URLs, host:port,
    module@version, signal names). What proves it is typed: ``evidence`` holds raw trace
    line numbers, ``samples`` the indexes of /proc samples (0-based lines of samples.jsonl)."""

    kind: str
    severity: Severity
    summary: str
    start: float | None = None
    end: float | None = None
    pids: tuple[int, ...] = ()
    objects: tuple[str, ...] = ()
    evidence: tuple[int, ...] = ()
    samples: tuple[int, ...] = ()
    fix: str | None = None
    #: how much of the silence this explains (seconds of quiet, or a fixed weight); orders findings
    weight: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["pids"] = list(self.pids)
        d["objects"] = list(self.objects)
        d["evidence"] = list(self.evidence)
        d["samples"] = list(self.samples)
        return d


def order(findings: list[Finding]) -> list[Finding]:
    """Errors before warnings before info; within a severity, what explains most time first."""
    return sorted(
        findings,
        key=lambda f: (
            SEVERITY_RANK[f.severity],
            -f.weight,
            f.start if f.start is not None else 0.0,
            f.kind,
        ),
    )
