"""Wording and lookups every check uses."""

from __future__ import annotations

from gotrace.doctor.model import DoctorSnapshot, Requirement


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def are(n: int) -> str:
    return "is" if n == 1 else "are"


def were(n: int) -> str:
    return "was" if n == 1 else "were"


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def setting(s: DoctorSnapshot, key: str, default: str = "") -> str:
    return s.goenv.get(key, default)


def fetched(s: DoctorSnapshot) -> list[Requirement]:
    """Requirements go downloads (those replaced by a directory are not)."""
    if s.modfile is None:
        return []
    return [r for r in s.modfile.requires if not r.local]


def in_gosum(gosum: frozenset[str], r: Requirement) -> bool:
    return (
        f"{r.fetch_path} {r.fetch_version}" in gosum
        and f"{r.fetch_path} {r.fetch_version}/go.mod" in gosum
    )
