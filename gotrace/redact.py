"""Secrets that show up in traces, replaced before anything is shown or saved.

Covered: HTTP ``Authorization``/``Proxy-Authorization``/``Cookie`` header values,
``user:token@`` in URLs, the contents of ``.netrc`` and ``.git-credentials`` reads,
and environment variables whose names contain TOKEN, PASSWORD, SECRET or
(API_)KEY, as execve prints them with ``-v`` and as meta.json records them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import polars as pl

MASK = "[REDACTED]"

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
        r"(?i)\b([A-Z0-9_]*(?:TOKEN|PASSWORD|PASSWD|SECRET|API_?KEY|ACCESS_KEY)[A-Z0-9_]*)=[^\"\s,]*",
        "${1}=" + MASK,
    ),
    # .netrc syntax: "machine h login u password p"
    (r"(?i)\b(password|passwd)(\s+)[^\s\"\\]+", "${1}${2}" + MASK),
)

_SECRET_FILE = r"(?:^|/)(?:\.netrc|_netrc|\.git-credentials)$"
_SECRET_NAME = re.compile(r"(?i)TOKEN|PASSWORD|PASSWD|SECRET|API_?KEY|ACCESS_KEY")
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
        out[key] = MASK if _SECRET_NAME.search(key) else redact_text(value)
    return out


def redact_frame(df: pl.DataFrame) -> pl.DataFrame:
    """Redact the text columns of an events frame; the whole buffer of a read from a
    credentials file (``.netrc``) is dropped."""
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
