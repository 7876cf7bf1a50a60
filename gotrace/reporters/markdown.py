"""A short Markdown summary of one capture, for a CI job's page (GitHub's
``$GITHUB_STEP_SUMMARY``): the verdict, the findings, the top connections and modules."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from gotrace.redact import redact_text

if TYPE_CHECKING:
    from gotrace.analyzers.report import Report

TOP = 5


def _cell(text: Any, width: int = 120) -> str:
    """Table-safe text: no pipes or newlines, cut at ``width``."""
    s = "" if text is None else str(text)
    s = " ".join(s.split()).replace("|", "\\|").replace("`", "'")
    return s if len(s) <= width else s[: width - 1] + "…"


def render_summary(report: Report, *, kept: str | None = None, redact: bool = True) -> str:
    """The summary (a ``str``). ``kept`` is where the capture stays, or None when it was
    not kept."""

    def words(text: Any) -> str:
        s = "" if text is None else str(text)
        return redact_text(s) if redact else s

    meta = report.meta
    an = report
    argv = meta.get("argv") or []
    command = words(shlex.join(str(a) for a in argv)) if argv else str(meta.get("source") or "")
    status = meta.get("exit_status")
    sig = meta.get("signal")
    ended = f"killed by {sig}" if sig else (f"exit {status}" if status is not None else "ended")
    ok = status == 0 and not sig
    out = [
        f"### {'✅' if ok else '❌'} gotrace: `{_cell(command, 200)}` — {ended}",
        "",
        f"**Verdict:** {_cell(words(an.verdict), 400)}",
        "",
    ]
    serious = [f for f in an.findings if f.severity in ("error", "warning")]
    if serious:
        out += ["| severity | finding | fix |", "|---|---|---|"]
        for f in serious[:TOP]:
            out.append(f"| {f.severity} | {_cell(words(f.summary))} | {_cell(words(f.fix))} |")
        if len(serious) > TOP:
            out.append(f"| | … and {len(serious) - TOP} more | |")
        out.append("")
    conns = sorted(an.connections, key=lambda c: (-(c.bytes_recv + c.bytes_sent), c.id))
    if conns:
        out += ["| connection | state | requests | statuses |", "|---|---|---|---|"]
        for c in conns[:TOP]:
            row = c.to_row()
            reqs = ", ".join(words(r) for r in row["requests"][:3])
            if len(row["requests"]) > 3:
                reqs += f" (+{len(row['requests']) - 3})"
            statuses = ", ".join(str(s) for s in row["statuses"][:3] if s is not None)
            out.append(
                f"| {_cell(c.endpoint)} | {row['state']} | {_cell(reqs)} | {_cell(statuses)} |"
            )
        out.append("")
    mods = report.modules
    if mods.height:
        out += ["| module | result | time | source |", "|---|---|---|---|"]
        rows = mods.to_dicts()
        rows.sort(key=lambda m: -((m["end"] or 0.0) - (m["start"] or 0.0)))
        for m in rows[:TOP]:
            took = (
                f"{m['end'] - m['start']:.2f} s"
                if m["start"] is not None and m["end"] is not None
                else ""
            )
            name = f"{m['module']}@{m['version']}" if m["version"] else m["module"]
            out.append(f"| {_cell(name)} | {m['result']} | {took} | {_cell(words(m['source']))} |")
        out.append("")
    out.append(f"Capture kept in `{kept}`." if kept else "The capture was not kept.")
    return "\n".join(out) + "\n\n"
