"""The compiled core of the strace parser (gotrace/parsers/_fastparse.c)."""

def classify(
    block: bytes, first_line: int, /
) -> tuple[tuple[object, object], list[int], list[str], int] | None:
    """Place the common lines of a block: ((schema, array) Arrow capsules of their records,
    numbers of the lines left to the regexes, their text, lines in the block); ``None``
    when the block does not suit the core."""
