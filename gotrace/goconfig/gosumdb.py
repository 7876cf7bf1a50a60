"""GOSUMDB as ``modfetch.dbDial`` reads it, and the URLs go asks to reach the checksum
database (``initBase``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from gotrace.goconfig.goproxy import GoproxyList

DEFAULT_GOSUMDB = "sum.golang.org"
#: GOSUMDB names go knows the key of (modfetch/key.go), and its one alias (sumdb.go)
KNOWN_SUMDB = {
    "sum.golang.org": "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
}
SUMDB_ALIASES = {"sum.golang.google.cn": ("sum.golang.org", "https://sum.golang.google.cn")}


@dataclass(frozen=True, slots=True)
class SumDB:
    """GOSUMDB as ``dbDial`` reads it: ``off``, a known name, ``key``, or ``key URL``."""

    value: str
    kind: Literal["off", "name", "key", "key+url", "invalid"]
    name: str = ""
    url: str = ""
    error: str = ""


_VKEY = re.compile(r"^(?P<name>[^+\s]+)\+(?P<hash>[0-9a-fA-F]{8})\+(?P<key>[A-Za-z0-9+/=]+)$")


def parse_gosumdb(value: str) -> SumDB:
    gosumdb = value
    if gosumdb in SUMDB_ALIASES:
        name, url = SUMDB_ALIASES[gosumdb]
        return SumDB(value, "key+url", name, url)
    if gosumdb == "off":
        return SumDB(value, "off")
    fields = gosumdb.split()
    if not fields:
        return SumDB(value, "invalid", error="missing GOSUMDB")
    if len(fields) > 2:
        return SumDB(value, "invalid", error="invalid GOSUMDB: too many fields")
    key = KNOWN_SUMDB.get(fields[0], fields[0])
    m = _VKEY.match(key)
    if m is None:
        return SumDB(
            value, "invalid", error=f"invalid GOSUMDB: malformed verifier id {fields[0]!r}"
        )
    name = m.group("name")
    if len(fields) == 2:
        url = fields[1]
        if not re.match(r"^[a-z][a-z0-9+.-]*://", url):
            return SumDB(value, "invalid", name, error=f"invalid GOSUMDB URL: {url}")
        return SumDB(value, "key+url", name, url.rstrip("/"))
    return SumDB(value, "name" if fields[0] in KNOWN_SUMDB else "key", name)


def sumdb_routes(db: SumDB, plist: GoproxyList) -> list[tuple[str, str]]:
    """The (label, URL) pairs go asks, in order, to reach the checksum database (initBase):
    each proxy's ``/sumdb/<name>/supported`` until one says 200, then the database itself."""
    if db.kind in ("off", "invalid"):
        return []
    if db.kind == "key+url":
        return [("GOSUMDB", db.url + "/latest")]
    out: list[tuple[str, str]] = []
    for e in plist.entries:
        if e.kind in ("direct", "off"):
            break
        if e.kind == "proxy":
            out.append((f"GOSUMDB via {e.url}", f"{e.url.rstrip('/')}/sumdb/{db.name}/supported"))
    out.append(("GOSUMDB direct", f"https://{db.name}/latest"))
    return out
