"""Go's case-escaping of module paths and versions in the module cache and on proxies
(golang.org/x/mod/module: EscapePath, UnescapePath): ``X`` is written ``!x``."""

from __future__ import annotations

import re

_UPPER = re.compile(r"[A-Z]")
_ESCAPED = re.compile(r"!([a-z])")
_INVALID = re.compile(r"[A-Z]|!(?![a-z])")


def escape(text: str) -> str:
    """``example.com/BurntSushi`` -> ``example.com/!burnt!sushi``."""
    return _UPPER.sub(lambda m: "!" + m.group(0).lower(), text)


def unescape(text: str, *, strict: bool = False) -> str:
    """``!x`` -> ``X``. With ``strict``, text go never writes (a capital letter, a ``!`` not
    followed by a lower-case letter) raises ValueError; otherwise such text is left alone."""
    if strict and _INVALID.search(text):
        raise ValueError(f"not an escaped module path: {text}")
    if "!" not in text:
        return text
    return _ESCAPED.sub(lambda m: m.group(1).upper(), text)
