"""Go's ``path.Match`` and ``module.MatchPrefixPatterns``: how GOPRIVATE, GONOPROXY,
GONOSUMDB and GOINSECURE globs match module paths."""

from __future__ import annotations


class BadPattern(ValueError):
    """path.ErrBadPattern"""


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    star = False
    while pattern.startswith("*"):
        pattern, star = pattern[1:], True
    in_range = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 < len(pattern):
                i += 1
        elif c == "[":
            in_range = True
        elif c == "]":
            in_range = False
        elif c == "*" and not in_range:
            return star, pattern[:i], pattern[i:]
        i += 1
    return star, pattern, ""


def _get_esc(chunk: str) -> tuple[str, str]:
    if not chunk or chunk[0] in "-]":
        raise BadPattern(chunk)
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise BadPattern(chunk)
    r, rest = chunk[0], chunk[1:]
    if not rest:
        raise BadPattern(chunk)
    return r, rest


def _match_chunk(chunk: str, s: str) -> tuple[str, bool]:
    """Whether ``chunk`` (no stars) matches the start of ``s``; raises BadPattern."""
    failed = False
    while chunk:
        failed = failed or not s
        c = chunk[0]
        if c == "[":
            r = ""
            if not failed:
                r, s = s[0], s[1:]
            chunk = chunk[1:]
            negated = chunk.startswith("^")
            if negated:
                chunk = chunk[1:]
            matched, nrange = False, 0
            while True:
                if chunk.startswith("]") and nrange > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _get_esc(chunk)
                hi = lo
                if chunk[0] == "-":
                    hi, chunk = _get_esc(chunk[1:])
                matched = matched or (not failed and lo <= r <= hi)
                nrange += 1
            failed = failed or matched == negated
        elif c == "?":
            if not failed:
                failed = s[0] == "/"
                s = s[1:]
            chunk = chunk[1:]
        else:
            if c == "\\":
                chunk = chunk[1:]
                if not chunk:
                    raise BadPattern("trailing backslash")
            if not failed:
                failed = chunk[0] != s[0]
                s = s[1:]
            chunk = chunk[1:]
    return ("", False) if failed else (s, True)


def path_match(pattern: str, name: str) -> bool:
    """Go's ``path.Match``: ``*`` and ``?`` never match ``/``; raises BadPattern."""
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and not chunk:
            return "/" not in name
        rest, ok = _match_chunk(chunk, name)
        if ok and (not rest or pattern):
            name = rest
            continue
        if star:
            found = False
            i = 0
            while i < len(name) and name[i] != "/":
                rest, ok = _match_chunk(chunk, name[i + 1 :])
                if ok and not (not pattern and rest):
                    name, found = rest, True
                    break
                i += 1
            if found:
                continue
        while pattern:
            _, chunk, pattern = _scan_chunk(pattern)
            _match_chunk(chunk, "")
        return False
    return not name


def match_prefix_patterns(globs: str, target: str) -> bool:
    """``module.MatchPrefixPatterns``: does any comma-separated glob match a leading run of
    ``target``'s path elements? ``golang.org/x`` matches ``golang.org/x/text``; a bad glob
    matches nothing."""
    return matching_pattern(globs, target) is not None


def matching_pattern(globs: str, target: str) -> str | None:
    """The first glob of ``globs`` that matches ``target`` (see match_prefix_patterns)."""
    for raw in globs.split(","):
        glob = raw.removesuffix("/")
        if not glob:
            continue
        n = glob.count("/")
        prefix = target
        for i, ch in enumerate(target):
            if ch == "/":
                if n == 0:
                    prefix = target[:i]
                    break
                n -= 1
        if n > 0:
            continue
        try:
            if path_match(glob, prefix):
                return raw
        except BadPattern:
            continue
    return None
