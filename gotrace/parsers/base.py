"""What both parsers need: reading a log as columns of lines, and telling which tool wrote it.

:mod:`gotrace.parsers.strace` and :mod:`gotrace.parsers.dtruss` import this and never each
other.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import polars as pl

from gotrace.errors import GotraceError

#: lines per chunk: enough for polars to work on whole columns, small enough that a 10M-line
#: log parses in bounded memory (peak ~0.5 GB in gotrace events at 1M and at 10M lines;
#: 100,000 took ~0.7 GB and more system time in page faults for no gain in speed)
DEFAULT_CHUNK_LINES = 50_000


def read_chunks(
    source: str | Path | IO[str] | IO[bytes], chunk_lines: int = DEFAULT_CHUNK_LINES
) -> Iterator[pl.Series]:
    """Yield columns of lines (without newlines) from a path, ``-`` or an open stream.

    The blocks of :func:`read_blocks`, split by polars' CSV reader (one column, no
    quoting), which keeps no Python string per line."""
    for block in read_blocks(source, chunk_lines):
        yield split_lines(block)


def read_blocks(
    source: str | Path | IO[str] | IO[bytes], chunk_lines: int = DEFAULT_CHUNK_LINES
) -> Iterator[bytes]:
    """Yield the input as blocks of whole lines (bytes, each block ending at a newline but
    maybe the last), about ``chunk_lines`` lines each. A text stream is encoded as UTF-8,
    each line ending in one newline (a CR before it dropped)."""
    if isinstance(source, (str, Path)):
        if str(source) == "-":
            import sys

            yield from read_blocks(sys.stdin.buffer, chunk_lines)
            return
        with open(source, "rb") as fh:
            yield from read_blocks(fh, chunk_lines)
        return
    stream: IO[Any] = source
    if isinstance(stream, io.TextIOBase):
        buf: list[str] = []
        for line in stream:
            buf.append(line.rstrip("\r\n"))
            if len(buf) >= chunk_lines:
                yield ("\n".join(buf) + "\n").encode("utf-8", "replace")
                buf = []
        if buf:
            yield ("\n".join(buf) + "\n").encode("utf-8", "replace")
        return
    block_size = block_bytes(chunk_lines)
    while True:
        data = stream.read(block_size)
        if not data:
            break
        if isinstance(data, str):
            data = data.encode("utf-8", "replace")
        if not data.endswith(b"\n"):
            # the rest of the block's last line (one copy of the block, not two)
            more = stream.readline()
            data += more.encode("utf-8", "replace") if isinstance(more, str) else more
        yield data


def block_bytes(chunk_lines: int) -> int:
    """How many bytes a block of about ``chunk_lines`` lines is read in (at least 64 KB; it
    then runs on to the end of its last line)."""
    return max(1 << 16, chunk_lines * 160)


def split_lines(block: bytes) -> pl.Series:
    """Bytes ending in a newline (or the file's last bytes) -> one string per line."""
    if b"\x1f" in block or b"\r" in block:
        # the separator we borrow occurs (strace escapes it, a program's own output may not)
        text = block.decode("utf-8", "replace")
        lines = text.split("\n")
        if text.endswith("\n"):
            lines.pop()
        return pl.Series("raw", [ln.rstrip("\r") for ln in lines], dtype=pl.String)
    df = pl.read_csv(
        io.BytesIO(block),
        has_header=False,
        separator="\x1f",
        quote_char=None,
        encoding="utf8-lossy",
        schema={"raw": pl.String},
    )
    return df["raw"].fill_null("")


# Lines that show dtruss itself: its header, or a call's ")\t\t = RET ERR" tail (strace
# never prints a raw tab: it escapes them as \t).
_DETECT_RE = re.compile(
    r"^[ \t]*(?:(?:PID/THRD|PID/LWP|RELATIVE|ELAPSD|CPU)[ \t]+)*SYSCALL\(args\)[ \t]+= return[ \t]*$"
    r"|\)\t+ = (?:-?\d+|0x[0-9A-Fa-f]+) (?:0|Err#-?\d+)[ \t]*$",
    re.MULTILINE,
)


def is_dtruss(head: str) -> bool:
    """True when the first lines of a log are dtruss's: its header or one of its call lines."""
    return _DETECT_RE.search(head) is not None


def file_kind(path: str | Path) -> str:
    """``"strace"`` for strace text, ``"dtruss"`` for dtruss output (by its first lines)."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if b"\0" in head:
        return "binary"
    text = head.decode("utf-8", "replace")
    if is_dtruss(text):
        return "dtruss"
    return "strace"


def file_format(p: Path, name: str | None = None) -> str:
    """``parquet``, ``dtruss`` or ``strace`` for a file that can be read; one clear
    GotraceError for an empty, binary or unreadable one (``name`` is what to call it)."""
    name = name or str(p)
    try:
        if p.stat().st_size == 0:
            raise GotraceError(f"{name}: empty file, not a trace")
        with open(p, "rb") as fh:
            head = fh.read(4)
    except PermissionError as exc:
        raise GotraceError(f"{name}: permission denied") from exc
    except OSError as exc:
        raise GotraceError(f"{name}: cannot read ({exc.strerror})") from exc
    if head == b"PAR1":
        return "parquet"
    kind = file_kind(p)
    if kind == "binary":
        raise GotraceError(f"{name}: binary file, not a strace or dtruss log")
    return kind
