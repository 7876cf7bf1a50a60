"""The compiled core of the strace parser (gotrace/parsers/_fastparse.c)."""

def classify(
    block: bytes, first_line: int, merge: int = 0, /
) -> tuple[tuple[object, object], list[int], list[str], int] | None:
    """Place the common lines of a block: ((schema, array) Arrow capsules of their records,
    numbers of the lines left to the regexes, their text, lines in the block); ``None``
    when the block does not suit the core. ``merge``: 1 merge the unfinished/resumed pairs
    inside a block whose every line is placed (the clock is epoch seconds), 2 the same when
    the block's first stamp says epoch seconds, 0 never."""
