"""Checks of the reachability probes: what each outcome makes go do next (wait, fail, or
try the next GOPROXY entry)."""

from __future__ import annotations

from gotrace.doctor.checks.common import fetched, in_gosum, setting
from gotrace.doctor.model import Check, DoctorSnapshot, Reach, Status
from gotrace.goconfig.goproxy import ProxyEntry, parse_goproxy
from gotrace.goconfig.gosumdb import parse_gosumdb
from gotrace.goconfig.pathmatch import match_prefix_patterns
from gotrace.goconfig.transport import GO_WAITS


def _needed(s: DoctorSnapshot, r: Reach) -> str:
    """Why a failing route may not matter now ("" when it does)."""
    if s.modfile is not None and s.modules and all(m.complete for m in s.modules):
        return "every requirement is already cached, so go mod download will not ask it now"
    if r.role.startswith("GOSUMDB"):
        db = parse_gosumdb(setting(s, "GOSUMDB"))
        nosum = setting(s, "GONOSUMDB")
        need = [
            x
            for x in fetched(s)
            if (s.gosum is None or not in_gosum(s.gosum, x))
            and not match_prefix_patterns(nosum, x.fetch_path)
        ]
        if s.modfile is not None and not need and db.kind != "off":
            return "go.sum already has every requirement, so go will not ask the database now"
    if r.role.startswith("GOPROXY[") and s.reach is not None:
        plist = parse_goproxy(setting(s, "GOPROXY"))
        before = sorted(
            (x for x in s.reach if x.role.startswith("GOPROXY[") and 0 <= x.index < r.index),
            key=lambda x: x.index,
        )
        for x in before:
            step = x.failed_step
            if step is None and x.status in (404, 410):
                continue
            if step is None and x.status == 200:
                return f"{x.url} answers first; go asks this entry only after a 404/410 there"
            if step is not None and step.timed_out and step.name == "http":
                return f"go never gets past {x.url}, which stalls"
            if plist.entries[x.index].separator == "|":
                continue
            return f"go never gets past {x.url}: its error ends the search (',')"
    if r.role == "GOSUMDB direct":
        served = [
            x for x in (s.reach or ()) if x.role.startswith("GOSUMDB via") and x.status == 200
        ]
        if served:
            return f"{served[0].url} serves the database, so go never asks it directly"
    return ""


def judge_reach(s: DoctorSnapshot, r: Reach) -> Check:
    """A probe's outcome, and what go does next: wait, fail, or try the next entry."""
    plist = parse_goproxy(setting(s, "GOPROXY"))
    nxt = plist.next_after(r.index) if r.index >= 0 else None
    sep = plist.entries[r.index].separator if 0 <= r.index < len(plist.entries) else ""
    name = f"reach {r.role}"
    via = f" through {r.via}={r.proxy}" if r.via else ""
    if r.skipped:
        return Check(name, "info", f"{r.url}{via}: not probed ({r.skipped})", "")
    value = f"{r.url}{via}: {r.timings()}"
    step = r.failed_step
    if step is None:
        code = r.status if r.status is not None else 0
        if code in (200, 404, 410):
            meaning = ""
            if r.role.startswith("GOSUMDB via"):
                meaning = (
                    " This proxy serves the checksum database; go uses only it."
                    if code == 200
                    else " This proxy does not serve the database; go tries the next route."
                )
            elif code != 200 and nxt is not None:
                meaning = f" A {code} sends go on to {nxt.url}."
            return Check(name, "ok", value, f"Answered HTTP {code}.{meaning}")
        if 300 <= code < 400:
            return Check(
                name,
                "warn",
                value,
                f"Redirects to {r.location or '?'} (doctor does "
                "not follow redirects to other hosts); go follows up to 10, never from "
                "https to http.",
                "Point GOPROXY at the final URL.",
            )
        auth = " (credentials come from GOAUTH/.netrc)" if code in (401, 403) else ""
        what = f"Answered HTTP {code}{auth}; {_fallback_text(r, sep, nxt, immediate=True)}"
        status: Status = "warn" if sep == "|" and nxt is not None else "fail"
        fix = "Fix the server, or change GOPROXY."
    else:
        through = f"{r.via}={r.proxy}" if r.via else ""
        target = through if through and step.name.startswith("proxy") else r.url
        if step.timed_out and step.name == "http":
            who = f"{r.url} (through {through})" if through else r.url
            if r.index < 0:
                then = "every download that needs a checksum lookup waits with it"
            elif nxt is None:
                then = "there is no next entry anyway"
            elif sep == "|":
                then = f"no error ever arrives, so not even '|' moves it on to {nxt.url}"
            else:
                then = (
                    f"it never tries {nxt.url}: after ',' go falls back only on 404/410, "
                    "and a stall is not even an error"
                )
            what = (
                f"{who} accepted the connection and sent no response in "
                f"{step.seconds:.1f}s. go has no response-header timeout, so it waits "
                f"forever, silently; {then}."
            )
            status = "fail"
            fix = (
                "Fix or remove the stalled server"
                + (f" (or unset {r.via})" if through else "")
                + "; meanwhile run go under a timeout."
            )
        else:
            wait = GO_WAITS.get(step.name)
            if step.timed_out:
                gives_up = f"go gives up after {wait:.0f}s" if wait else "go waits out its timeouts"
                what = (
                    f"{step.name} to {target} did not finish in {step.seconds:.1f}s "
                    f"({step.detail}); {gives_up}, then "
                    f"{_fallback_text(r, sep, nxt, immediate=False)}"
                )
            else:
                what = (
                    f"{step.name} to {target} failed: {step.detail}; go fails at once, "
                    f"then {_fallback_text(r, sep, nxt, immediate=True)}"
                )
            status = "warn" if sep == "|" and nxt is not None else "fail"
            fix = (
                "Fix the server or the network path to it"
                + (f", or unset {r.via}" if through else ", or change GOPROXY/GOSUMDB")
                + "."
            )
    if status == "fail":
        moot = _needed(s, r)
        if moot:
            status, what = "warn", f"{what} (Not fatal now: {moot}.)"
    return Check(name, status, value, what, fix)


def _fallback_text(r: Reach, sep: str, nxt: ProxyEntry | None, *, immediate: bool) -> str:
    if r.role.startswith("GOSUMDB via"):
        if sep == "|" and nxt is not None:
            return "'|' lets go try the next route to the checksum database."
        return "any answer but 200/404/410 makes go treat the checksum database as unavailable."
    if r.index < 0:
        return "the checksum lookup fails, and with it the download."
    if nxt is None:
        return "this is the last GOPROXY entry, so go mod download fails with that error."
    if sep == "|":
        return f"'|' makes go try {nxt.url}{'' if immediate else ' after that wait'}."
    return f"',' means go will NOT fall back to {nxt.url}: it fails with this error."
