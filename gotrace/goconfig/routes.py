"""Every HTTP server go may contact for a module: the GOPROXY entries and the routes to
the checksum database."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gotrace.goconfig.goproxy import parse_goproxy
from gotrace.goconfig.gosumdb import parse_gosumdb, sumdb_routes


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    """A URL go may request: ``index`` is its GOPROXY entry (-1 for the checksum database)."""

    role: str
    index: int
    base: str
    url: str


def probe_targets(goenv: Mapping[str, str], ask: str = "") -> list[ProbeTarget]:
    """Every HTTP server go may contact for this module: the GOPROXY entries, asked for
    ``<proxy>/<ask>/@v/list`` (``ask``: an escaped module path; "" asks for the root), and the
    checksum database routes."""
    plist = parse_goproxy(goenv.get("GOPROXY", ""))
    out = []
    for i, e in enumerate(plist.entries):
        if e.kind != "proxy":
            continue
        url = f"{e.url.rstrip('/')}/{ask}/@v/list" if ask else e.url.rstrip("/") + "/"
        out.append(ProbeTarget(f"GOPROXY[{i + 1}]", i, e.url, url))
    db = parse_gosumdb(goenv.get("GOSUMDB", ""))
    out += [ProbeTarget(label, -1, url, url) for label, url in sumdb_routes(db, plist)]
    return out
