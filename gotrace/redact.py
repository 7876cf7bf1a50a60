"""Secrets that show up in traces, replaced before anything is shown or saved.

Covered: HTTP ``Authorization``/``Proxy-Authorization``/``Cookie`` header values,
``user:token@`` in URLs, the contents of ``.netrc`` and ``.git-credentials`` reads,
and environment variables whose names contain one of :data:`SECRET_NAME_PARTS` (TOKEN,
PASSWORD, SECRET, (API_)KEY, CREDENTIAL, ...), as execve prints them with ``-v`` and as
meta.json records them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import polars as pl

MASK = "[REDACTED]"

#: what makes an environment variable's name secret-looking (regex parts, upper case): the
#: one list for traces, meta.json and sample_traces/capture.py
SECRET_NAME_PARTS = (
    "TOKEN", "PASSWORD", "PASSWD", "SECRET", "API_?KEY", "ACCESS_KEY", "CREDENTIAL",
)  # fmt: skip
_SECRET_ALTERNATIVES = "|".join(SECRET_NAME_PARTS)
#: a secret-looking environment variable name (anywhere in the name, any case)
SECRET_NAME = re.compile(r"(?i)" + _SECRET_ALTERNATIVES)

# (pattern, replacement) pairs, in the syntax both Python re and polars (Rust regex) accept.
RULES: tuple[tuple[str, str], ...] = (
    # "Authorization: Basic dXNlcjpwYXNz\r\n" inside a write() buffer (escaped as \r\n by strace)
    (
        r"(?i)((?:proxy-)?authorization|cookie|set-cookie|x-api-key|private-token)(:\s*)"
        r"[^\\\"\r\n]+",
        "${1}${2}" + MASK,
    ),
    # scheme://user:token@host
    (r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s\"'<>:]+:[^/@\s\"'<>]+@", "${1}" + MASK + "@"),
    # NAME=value for secret-looking environment variable names ("GITHUB_TOKEN=abc")
    (
        r"(?i)\b([A-Z0-9_]*(?:" + _SECRET_ALTERNATIVES + r")[A-Z0-9_]*)=[^\"\s,]*",
        "${1}=" + MASK,
    ),
    # .netrc syntax: "machine h login u password p"
    (r"(?i)\b(password|passwd)(\s+)[^\s\"\\]+", "${1}${2}" + MASK),
)

_SECRET_FILE = r"(?:^|/)(?:\.netrc|_netrc|\.git-credentials)$"
_PY_RULES = tuple((re.compile(p), r.replace("${", "\\g<").replace("}", ">")) for p, r in RULES)

TEXT_COLUMNS = ("args", "text", "info", "ret_target", "fd_target")


def redact_text(text: str) -> str:
    for pattern, repl in _PY_RULES:
        text = pattern.sub(repl, text)
    return text


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    """Environment values for secret-looking names become MASK; URLs lose their credentials."""
    out: dict[str, str] = {}
    for key, value in env.items():
        out[key] = MASK if SECRET_NAME.search(key) else redact_text(value)
    return out


#: every rule needs one of these words (case-insensitive) in the text: rows without any skip
#: the regexes. Keep in step with RULES, SECRET_NAME_PARTS and _SECRET_FILE.
KEYWORDS = (
    "authorization", "cookie", "api-key", "private-token", "://", "token", "password",
    "passwd", "secret", "api_key", "apikey", "access_key", "credential", "netrc",
    "git-credentials",
)  # fmt: skip
#: keywords that need more after them for their rule to apply: (byte, stop) — the byte
#: must follow in the same line before the stop byte. A URL's credentials end with "@"
#: before the first "/" after "://" (go's "https://proxy/m/@v/v1.0.0.mod" has none).
#: The parser's compiled core uses this to mark fewer lines; the column scan below need
#: not (it finds a superset).
KEYWORD_NEEDS = {"://": ("@", "/")}


def redact_frame(df: pl.DataFrame, hint: pl.Series | None = None) -> pl.DataFrame:
    """Redact the text columns of an events frame; the whole buffer of a read from a
    credentials file (``.netrc``) is dropped. Only rows that hold a keyword go through the
    regexes (non-ASCII text is not special: strace escapes every byte outside printable
    ASCII), and only the columns the rules changed are rebuilt: a frame with no secret in
    it is returned as it is, uncopied.

    ``hint``: for each row, whether its line holds a keyword (the parser's compiled core
    marks the lines it reads), null where not known: only those rows are searched here."""
    cols = [c for c in TEXT_COLUMNS if c in df.columns]
    if not df.height or not cols:
        return df
    if hint is None:
        mask = _keyword_rows(df, cols)
    else:
        mask = hint.fill_null(False)
        unknown = hint.is_null()
        if unknown.any():
            at = unknown.arg_true()
            mask = mask.scatter(at, _keyword_rows(df[at], cols))
    if not mask.any():
        return df
    idx = mask.arg_true()
    rows = df[idx]
    part = _redact_rows(rows)
    changed = [c for c in cols if not part[c].equals(rows[c], check_names=False)]
    if not changed:
        return df
    return df.with_columns([df[c].scatter(idx, part[c]) for c in changed])


def _keyword_rows(df: pl.DataFrame, cols: list[str]) -> pl.Series:
    hit = pl.lit(False)
    for c in cols:
        found = pl.col(c).str.contains_any(list(KEYWORDS), ascii_case_insensitive=True)
        hit = hit | found.fill_null(False)
    return df.select(hit.alias("m"))["m"]


def _redact_rows(df: pl.DataFrame) -> pl.DataFrame:
    exprs = []
    for col in TEXT_COLUMNS:
        if col not in df.columns:
            continue
        e = pl.col(col)
        for pattern, repl in RULES:
            e = e.str.replace_all(pattern, repl)
        exprs.append(e.alias(col))
    out = df.with_columns(exprs)
    if "fd_target" in out.columns:
        secret_read = pl.col("fd_target").str.contains(_SECRET_FILE).fill_null(False) & pl.col(
            "syscall"
        ).is_in(["read", "pread64", "readv", "write", "pwrite64"])
        out = out.with_columns(
            args=pl.when(secret_read)
            .then(
                pl.col("args").str.replace(
                    r'^([^,]*, )"(?:[^"\\]|\\.)*"(?:\.\.\.)?', '${1}"' + MASK + '"'
                )
            )
            .otherwise(pl.col("args"))
        )
    return out
