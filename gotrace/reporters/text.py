"""Plain-text rendering of the summary. Returns a string; the caller prints it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gotrace.analyzers.report import Report


def _fmt_s(v: float | None) -> str:
    return "-" if v is None else f"{v:.6f}"


def _short(text: str | None, width: int = 70) -> str:
    if not text:
        return ""
    return text if len(text) <= width else text[: width - 3] + "..."


def _counted(items: list[str]) -> list[str]:
    """``["200 OK", "200 OK", "404 Not Found"]`` -> ``["200 OK x2", "404 Not Found"]``."""
    seen: dict[str, int] = {}
    for x in items:
        seen[x] = seen.get(x, 0) + 1
    return [f"{k} x{n}" if n > 1 else k for k, n in seen.items()]


def render_summary(s: dict[str, Any], *, width: int = 100) -> str:
    out: list[str] = []
    span = f", {s['span_s']:.3f} s" if s.get("span_s") is not None else ""
    out.append(f"{s.get('source') or 'trace'}: {s['events']} events{span}")
    pe = s["parse_errors"]
    if pe["count"]:
        out.append(f"  {pe['count']} line(s) could not be parsed; first:")
        for e in pe["first"]:
            out.append(f"    line {e['line']}: {e['reason']}: {_short(e['text'], width - 20)}")
    if not s.get("clock"):
        out.append("  (no timestamps in this log: times and quiet periods cannot be told)")
    if not s.get("has_durations"):
        out.append(
            "  (no -T durations in this log: call times are estimated from timestamps or unknown)"
        )

    out.append("")
    out.append("Processes")
    procs = s["processes"]
    children: dict[Any, list[dict[str, Any]]] = {}
    known = {p["pid"] for p in procs}
    for p in procs:
        key = p["parent"] if p["parent"] in known else None
        children.setdefault(key, []).append(p)

    def walk(parent: Any, depth: int) -> None:
        for p in children.get(parent, []):
            argv = " ".join(p["argv"]) if p["argv"] else "(no execve seen)"
            if p["signal"]:
                end = f"killed by {p['signal']}"
            elif p["exit_status"] is not None:
                end = f"exit {p['exit_status']}"
            else:
                end = "no exit seen"
            threads = f", {p['threads']} threads" if p["threads"] > 1 else ""
            line = (
                f"{'  ' * depth}{p['pid']} {_short(argv, width - 30 - 2 * depth)} [{end}{threads}]"
            )
            out.append("  " + line)
            walk(p["pid"], depth + 1)

    walk(None, 0)

    if s["in_flight"]:
        out.append("")
        out.append("Still in flight when the trace ended")
        for c in s["in_flight"]:
            out.append(
                f"  line {c['line']}: pid {c['pid']} {c['syscall']}({_short(c['args'], width - 30)})"
            )
    if s["slowest"]:
        out.append("")
        out.append("Slowest calls")
        for c in s["slowest"]:
            out.append(
                f"  {c['duration']:10.6f} s  line {c['line']}: pid {c['pid']} "
                f"{c['syscall']}({_short(c['args'], width - 45)})"
            )
    if s["failures"]:
        out.append("")
        out.append("Failures by errno")
        for f in s["failures"]:
            out.append(
                f"  {f['count']:6d}  {f['errno']:<14} {f['syscall']:<16} first at line {f['first_line']}"
            )
    if s["signals"]:
        out.append("")
        out.append("Signals: " + ", ".join(f"{x['signal']} x{x['count']}" for x in s["signals"]))
    out.append("")
    out.append(render_syscall_table(s["syscalls"]))
    return "\n".join(out) + "\n"


def render_syscall_table(rows: list[dict[str, Any]]) -> str:
    head = f"{'category':<8} {'seconds':>12} {'usecs/call':>11} {'max s':>10} {'calls':>8} {'errors':>7} {'in flight':>9}  syscall"
    lines = [head, "-" * len(head)]
    for cat in ("active", "wait"):
        part = [r for r in rows if r["category"] == cat]
        if not part:
            continue
        for r in part:
            usec = "-" if r["usecs_per_call"] is None else f"{r['usecs_per_call']:.0f}"
            lines.append(
                f"{cat:<8} {_fmt_s(r['seconds']):>12} {usec:>11} "
                f"{'-' if r['max_s'] is None else format(r['max_s'], '.6f'):>10} {r['calls']:>8} "
                f"{r['errors'] or '':>7} {r['in_flight'] or '':>9}  {r['syscall']}"
            )
        total = sum(r["seconds"] or 0.0 for r in part)
        calls = sum(r["calls"] for r in part)
        lines.append(
            f"{'':<8} {total:12.6f} {'':>11} {'':>10} {calls:>8} {'':>7} {'':>9}  total {cat}"
        )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _clock(t: float | None, origin: float | None) -> str:
    if t is None:
        return "?"
    return f"+{t - origin:.3f}s" if origin is not None else f"{t:.3f}"


def render_text(report: Report, *, width: int = 100) -> str:
    """The full report: the verdict first, then findings, quiet periods, connections, and the
    summary (processes, calls, the syscall table)."""
    s = a = report.to_dict()
    out = [f"verdict: {a['verdict']}", ""]
    origin = s.get("start_ts")
    if a["findings"]:
        out.append("Findings")
        for i, f in enumerate(a["findings"], 1):
            when = f" [{_clock(f['start'], origin)}]" if f.get("start") is not None else ""
            out.append(f"  {i}. {f['severity'].upper()} {f['kind']}{when}: {f['summary']}")
            if f.get("fix"):
                out.append(f"     fix: {f['fix']}")
            if f.get("evidence"):
                ev = ", ".join(str(x) for x in f["evidence"][:6])
                out.append(f"     evidence: trace lines {ev}")
            if f.get("samples"):
                shown = ", ".join(str(x) for x in f["samples"][:6])
                out.append(f"     evidence: /proc samples {shown} (samples.jsonl lines, from 0)")
        out.append("")
    if a["quiet_periods"]:
        out.append("Quiet periods")
        for q in a["quiet_periods"]:
            out.append(
                f"  {_clock(q['start'], origin)} .. {_clock(q['end'], origin)} "
                f"({q['duration']:.1f} s{', to the end' if q['trailing'] else ''}): {q['blame']}"
            )
        out.append("")
    if a["connections"]:
        out.append("Connections")
        for c in a["connections"]:
            reqs = f", {len(c['requests'])} requests" if c["requests"] else ""
            last = f", last `{c['requests'][-1]}`" if c["requests"] else ""
            dns = f", DNS {', '.join(c['dns'][:2])}" if c["dns"] else ""
            err = f", {c['error']}" if c["error"] else ""
            statuses = c.get("statuses") or []
            answers = f", answers {', '.join(_counted(statuses))}" if statuses else ""
            tls = ""
            if c.get("tls"):
                version = f"{c['tls_version']}, " if c.get("tls_version") else ""
                http = f", {c['http_version']}" if c.get("http_version") else ""
                tls = f", {c['tls']} ({version}SNI {c.get('sni') or 'none'}{http})"
            if c.get("ssh_server_banner"):
                tls += f", server banner `{c['ssh_server_banner']}`"
            if c.get("tunnel"):
                tls = f", CONNECT tunnel to {c['tunnel']}{tls}"
            # a child's connection (git, git-remote-http, ssh): which program, asked what
            argv = c.get("child_argv") or []
            shown = " ".join([argv[0].rsplit("/", 1)[-1], *argv[1:]]) if argv else ""
            child = f" ({_short(shown, 90)})" if argv else ""
            out.append(
                f"  #{c['id']} pid {c['tgid']}{child} {c['proto']} {c['local'] or '?'} -> {c['remote'] or '?'}: "
                f"{c['state']}, sent {c['bytes_sent']} B, received {c['bytes_recv']} B{reqs}{last}"
                f"{answers}{tls}{dns}{err}"
            )
        out.append("")
    if a.get("exchanges"):
        out.append("HTTP answers and fallbacks")
        out.extend(f"  {x}" for x in a["exchanges"])
        out.append("")
    if a.get("modules"):
        out.append("Modules")
        for m in a["modules"]:
            lock = (
                f", lock wait {m['lock_wait_s']:.2f} s"
                if (m.get("lock_wait_s") or 0) >= 0.01
                else ""
            )
            src = f" from {m['source']}" if m.get("source") else ""
            err = f": {m['error']}" if m.get("error") else ""
            out.append(f"  {m['module']}@{m['version']}: {m['result']}{src}{lock}{err}")
        out.append("")
    if a.get("cache_log_correlation"):
        rows = a["cache_log_correlation"]
        ok = sum(1 for r in rows if r.get("matched"))
        out.append(f"Cache log: {ok} of {len(rows)} entries match the trace")
        for r in [r for r in rows if not r.get("matched")][:10]:
            out.append(
                f"  not in the trace: {r.get('op')} {r.get('module')}@{r.get('version')} {r.get('detail') or ''}"
            )
        out.append("")
    if a.get("settings"):
        out.append("Settings")
        out.extend(f"  {x}" for x in a["settings"])
        out.append("")
    if a.get("limitations"):
        out.append("What this trace cannot show")
        out.extend(f"  {x}" for x in a["limitations"])
        out.append("")
    out.append(render_summary(s, width=width))
    return "\n".join(out)
