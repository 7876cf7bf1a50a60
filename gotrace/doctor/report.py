"""Text and JSON-ready renderings of the doctor's checks and of a cache scan. They return
strings (or plain data); the CLI prints them."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

from gotrace.doctor.cachefix import FixAction
from gotrace.doctor.cachescan import CacheReport
from gotrace.doctor.model import Check, DoctorSnapshot, exit_status, summary_counts

MAX_PROBLEMS_PER_KIND = 20


def fmt_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def _wrap(label: str, text: str, width: int, indent: int) -> list[str]:
    pad = " " * indent
    return textwrap.wrap(
        text,
        width=width,
        initial_indent=f"{pad}{label}",
        subsequent_indent=pad + " " * len(label),
        break_on_hyphens=False,
        break_long_words=False,
    ) or [f"{pad}{label}"]


def render_checks(snapshot: DoctorSnapshot, checks: Sequence[Check], *, width: int = 100) -> str:
    """The table: status, check, value; under each row that is not ok, why and what to do."""
    go = snapshot.go_version or "go not found"
    out = [f"gotrace doctor: {snapshot.directory} ({go})", ""]
    name_w = min(max((len(c.name) for c in checks), default=5), 28)
    out.append(f"{'STATUS':<6}  {'CHECK':<{name_w}}  VALUE")
    for c in checks:
        head = f"{c.status.upper():<6}  {c.name:<{name_w}}  "
        out += textwrap.wrap(
            c.value,
            width=width,
            initial_indent=head,
            subsequent_indent=" " * len(head),
            break_long_words=True,
            break_on_hyphens=False,
        ) or [head]
        if c.status == "ok":
            continue
        indent = 8
        if c.why:
            out += _wrap("why: ", c.why, width, indent)
        if c.fix:
            out += _wrap("fix: ", c.fix, width, indent)
        for d in c.details:
            out += _wrap("- ", d, width, indent)
    counts = summary_counts(checks)
    status = exit_status(checks)
    verdict = "something fails (exit 1)" if status else "nothing fails (exit 0)"
    out.append("")
    out.append(
        f"{counts['fail']} fail, {counts['warn']} warn, {counts['info']} info, "
        f"{counts['ok']} ok: {verdict}"
    )
    return "\n".join(out) + "\n"


def checks_json(snapshot: DoctorSnapshot, checks: Sequence[Check]) -> dict[str, Any]:
    return {
        "directory": snapshot.directory,
        "go": snapshot.go_version or None,
        "network": snapshot.reach is not None,
        "exit_status": exit_status(checks),
        "summary": summary_counts(checks),
        "checks": [c.to_dict() for c in checks],
        "snapshot": snapshot.to_dict(),
    }


def render_cache(report: CacheReport, fixed: Sequence[FixAction] = (), *, width: int = 100) -> str:
    out: list[str] = []
    states: dict[str, int] = {}
    for v in report.versions:
        states[v.state] = states.get(v.state, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "none"
    out.append(
        f"GOMODCACHE {report.root} (owner {report.owner}): "
        f"{len(report.versions)} module versions ({summary})"
    )
    t = report.totals
    out.append(
        "sizes: "
        + ", ".join(
            f"{k} {fmt_bytes(t.get(k, 0))}"
            for k in ("download", "extracted", "sumdb", "vcs", "other", "total")
        )
    )
    if report.versions:
        out.append("")
        mod_w = min(max(len(f"{v.path}@{v.version}") for v in report.versions), 60)
        out.append(f"{'MODULE@VERSION':<{mod_w}}  {'STATE':<13}  {'ARTIFACTS':<36}  SIZE")
        for v in report.versions:
            mv = f"{v.path}@{v.version}"
            arts = " ".join(v.artifacts)
            out.append(f"{mv:<{mod_w}}  {v.state:<13}  {arts:<36}  {fmt_bytes(v.size)}")
            for problem in v.problems:
                out += _wrap("! ", problem, width, 4)
    if report.vcs:
        out.append("")
        out.append("VCS repositories (direct mode)")
        for r in report.vcs:
            lock = " [locked]" if any(not h.waiting for h in r.holders) else ""
            out.append(f"  {r.name[:16]}  {r.key or '?'}  {fmt_bytes(r.size)}{lock}")
            for problem in r.problems:
                out += _wrap("! ", problem, width, 4)
    out.append("")
    if report.held_locks:
        out.append(f"Locks in use now ({len(report.held_locks)} of {report.lock_files} lock files)")
        for h in report.held_locks:
            out.append(f"  {h.path}")
            for x in h.holders:
                out += _wrap("", x.describe(), width, 4)
    else:
        out.append(
            f"Locks: {report.lock_files} lock files, none held now (a lock file that "
            "exists is not a held lock)"
        )
    if report.problems:
        out.append("")
        out.append(f"Problems ({len(report.problems)})")
        by_kind: dict[str, list[str]] = {}
        for p in report.problems:
            by_kind.setdefault(p.kind, []).append(f"{p.path}: {p.detail}")
        for kind, items in by_kind.items():
            for item in items[:MAX_PROBLEMS_PER_KIND]:
                out += _wrap(f"{kind}  ", item, width, 2)
            if len(items) > MAX_PROBLEMS_PER_KIND:
                out.append(
                    f"  ... and {len(items) - MAX_PROBLEMS_PER_KIND} more {kind} (--json lists all)"
                )
    if fixed:
        out.append("")
        out.append("--fix")
        for a in fixed:
            out += _wrap(f"{a.action:<8}", f"{a.path} ({a.detail})", width, 2)
    out.append("")
    n = len(report.incomplete) + len(report.problems)
    out.append("healthy (exit 0)" if report.healthy else f"{n} issue(s) (exit 1)")
    return "\n".join(out) + "\n"


def cache_json(report: CacheReport, fixed: Sequence[FixAction] = ()) -> dict[str, Any]:
    data = report.to_dict()
    data["fixed"] = [a.to_dict() for a in fixed]
    data["exit_status"] = 0 if report.healthy else 1
    return data
