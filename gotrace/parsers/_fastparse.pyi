"""The compiled core of the strace parser (gotrace/parsers/_fastparse.c)."""

def classify(
    block: bytes | tuple[int, int, int],
    first_line: int,
    merge: int = 0,
    keywords: tuple[tuple[bytes, int, int, bytes, bytes], ...] | None = None,
    /,
) -> tuple[tuple[object, object], list[int], list[str], int] | None:
    """Place the common lines of a block: ((schema, array) Arrow capsules of their records,
    numbers of the lines left to the regexes, their text, lines in the block); ``None``
    when the block does not suit the core (a CR, a 0x1f or a byte-order mark in it, or an
    unplaced line that is not UTF-8). ``block``: bytes, or ``(fd, offset, length)`` of a
    range of a regular file, which the core maps instead of copying (the mapping lives as
    long as the columns that point into it). ``merge``: 1 merge the unfinished/resumed
    pairs inside a block whose every line is placed (the clock is epoch seconds), 2 the same
    when the block's first stamp says epoch seconds, 0 never. ``keywords``: (lower-case
    word, offset and length of the 1 or 2 of its bytes to search for, a byte that must
    follow it in the line before a stop byte, or b"" twice) tuples; the ``secret`` column
    marks the placed lines that hold one, ASCII case-insensitively, with what it needs."""
