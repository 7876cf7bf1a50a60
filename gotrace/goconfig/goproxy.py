"""GOPROXY as ``modfetch.proxyList`` reads it, what go does when an entry fails
(``TryProxies``), and the one explanation of that both the doctor and the analysis print."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import Literal

DEFAULT_GOPROXY = "https://proxy.golang.org,direct"

EntryKind = Literal["proxy", "file", "direct", "off", "invalid"]


@dataclass(frozen=True, slots=True)
class ProxyEntry:
    """One GOPROXY entry as go uses it. ``separator`` is what follows it in the list:
    ``,`` (go moves on only after 404/410), ``|`` (go moves on after any error) or ``""``."""

    raw: str
    url: str
    kind: EntryKind
    separator: str = ""
    error: str = ""


@dataclass(frozen=True, slots=True)
class GoproxyList:
    value: str
    entries: tuple[ProxyEntry, ...]
    ignored: tuple[str, ...] = ()
    error: str = ""

    @property
    def urls(self) -> list[ProxyEntry]:
        return [e for e in self.entries if e.kind in ("proxy", "file")]

    def next_after(self, index: int) -> ProxyEntry | None:
        return self.entries[index + 1] if index + 1 < len(self.entries) else None


def _check_proxy_url(url: str) -> tuple[EntryKind, str]:
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:
        return "invalid", f"invalid proxy URL {url}: {exc}"
    if parts.scheme in ("http", "https"):
        return "proxy", ""
    if parts.scheme == "file":
        if parts.netloc or parts.query or parts.fragment:
            return "invalid", f"invalid file:// proxy URL with non-path elements: {url}"
        return "file", ""
    if not parts.scheme:
        return "invalid", f"invalid proxy URL missing scheme: {url}"
    return "invalid", f"invalid proxy URL scheme (must be https, http, file): {url}"


def parse_goproxy(value: str) -> GoproxyList:
    """Split GOPROXY as ``modfetch.proxyList`` does: entries separated by ``,`` or ``|``;
    ``direct`` and ``off`` end the list; a bare ``host/path`` gains ``https://``."""
    entries: list[ProxyEntry] = []
    ignored: list[str] = []
    rest = value
    stopped = False
    while rest:
        m = re.search(r"[,|]", rest)
        if m:
            raw, sep, rest = rest[: m.start()], m.group(0), rest[m.end() :]
        else:
            raw, sep, rest = rest, "", ""
        url = raw.strip()
        if not url:
            continue
        if stopped:
            ignored.append(url)
            continue
        if url in ("off", "direct"):
            end: EntryKind = "off" if url == "off" else "direct"
            entries.append(ProxyEntry(raw, url, end))
            stopped = True
            continue
        if re.search(r"[.:/]", url) and ":/" not in url and not url.startswith("/"):
            url = "https://" + url
        kind, error = _check_proxy_url(url)
        entries.append(ProxyEntry(raw, url, kind, sep, error))
    # the separator after the last kept entry leads nowhere
    if entries and entries[-1].separator:
        last = entries[-1]
        entries[-1] = ProxyEntry(last.raw, last.url, last.kind, "", last.error)
    error = next((e.error for e in entries if e.error), "")
    if not entries and not error:
        error = "GOPROXY list is not the empty string, but contains no entries"
    return GoproxyList(value, tuple(entries), tuple(ignored), error)


def proxy_list(value: str) -> list[tuple[str, str | None]]:
    """``A,B|direct`` -> [(A, ","), (B, "|"), ("direct", None)]: each entry, as go reads it
    (:func:`parse_goproxy`), with the separator that follows it (``,`` falls back only on
    404/410; ``|`` on any error)."""
    return [(e.url, e.separator or None) for e in parse_goproxy(value).entries]


# --- what go does when an entry fails ----------------------------------------------------------

Fallback = Literal["off", "direct", "final", "any-error", "not-found"]


def fallback(plist: GoproxyList, index: int) -> Fallback:
    """What go does after entry ``index`` (``TryProxies``): ``off`` and ``direct`` end the list;
    an error from the last entry is ``final``; after ``|`` go moves on on ``any-error`` (a
    stall is none); after ``,`` only on a 404 or 410 (``not-found``)."""
    e = plist.entries[index]
    if e.kind == "off" or e.kind == "direct":
        return e.kind
    if plist.next_after(index) is None:
        return "final"
    return "any-error" if e.separator == "|" else "not-found"


def explain_goproxy(plist: GoproxyList) -> list[str]:
    """The doctor's details: one sentence per entry, what go does when that entry fails."""
    out: list[str] = []
    for i, e in enumerate(plist.entries):
        nxt = plist.next_after(i)
        head = f"{i + 1}. {e.url}"
        if e.kind == "invalid":
            out.append(f"{head}: {e.error}")
            continue
        rule = fallback(plist, i)
        if rule == "off":
            out.append(
                f"{head}: downloads are disallowed; a module not in the cache fails with "
                "'module lookup disabled by GOPROXY=off'"
            )
        elif rule == "direct":
            out.append(
                f"{head}: go fetches from each module's origin (git, hg, ...), with no "
                "deadline; git's stderr is shown only if it fails"
            )
        elif rule == "final" or nxt is None:
            out.append(f"{head}: the last entry; any error from it is the final error")
        elif rule == "any-error":
            out.append(
                f"{head}: on any error (also a connect timeout) go tries {nxt.url}; "
                "a proxy that never answers is no error, so go still waits forever"
            )
        else:
            out.append(
                f"{head}: only a 404 or 410 sends go on to {nxt.url}; a timeout or any "
                f"other error on {e.url} will NOT fall back to {nxt.url}"
            )
    for raw in plist.ignored:
        out.append(f"(ignored: {raw} comes after direct/off, which end the list)")
    return out


def goproxy_notes(value: str) -> list[str]:
    """The analysis's settings lines for GOPROXY (shorter than :func:`explain_goproxy`):
    where the list ends, and after each proxy what makes go move on."""
    plist = parse_goproxy(value)
    out: list[str] = []
    if not plist.entries or plist.entries[0].kind == "off":
        out.append("GOPROXY=off: go may not download any module; only the module cache is used")
    for i, e in enumerate(plist.entries):
        rule = fallback(plist, i)
        if rule == "off":
            break
        if rule == "direct":
            out.append(
                "GOPROXY reaches `direct`: modules not found before it are fetched from their VCS"
            )
            break
        if rule == "not-found":
            out.append(
                f"GOPROXY entry {e.url} is followed by `,`: go tries the next entry only on "
                "404/410; a timeout or a stall on it never falls back"
            )
        elif rule == "any-error":
            out.append(
                f"GOPROXY entry {e.url} is followed by `|`: any error falls back to the next "
                "entry, but a stall never errors"
            )
        else:
            out.append(f"GOPROXY ends with {e.url}: an error on it is final")
    return out
