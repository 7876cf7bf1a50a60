"""What every fd of every process is at every moment, from the syscalls alone.

strace's ``-y``/``-yy`` annotate fds with their targets; a log captured without them
still has every call that creates, copies and closes fds. :func:`resolve_targets` replays
those calls (:class:`gotrace.parsers.fdreplay.FdReplay`) and gives each event the target of
its first-argument fd. Where the log has annotations they win, and disagreements are
counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from gotrace.parsers.fdreplay import FORKS, RELEVANT, FdReplay


@dataclass(frozen=True)
class Resolution:
    """``targets``: one per frame row (the first-argument fd's target, None when the row has
    no fd argument). ``agree``/``disagree``: rows where both the log's annotation and the
    replay had a target, and whether they matched."""

    targets: pl.Series
    replayed: int
    agree: int
    disagree: int


_FIRST_INT = re.compile(r"^(-?\d+)(?:<|,|$)")


def resolve_targets(frame: pl.DataFrame) -> Resolution:
    """The target of each event's first-argument fd: the log's ``-y`` annotation when it has
    one, else the replayed table's entry.

    Only the rows that matter are replayed in Python: the calls that change fd tables, and
    the calls with an fd argument but no annotation. In a ``-yy`` log the annotated calls
    that change tables (close, dup, fcntl…) are also where the replay is cross-checked."""
    if frame.height == 0:
        return Resolution(pl.Series("target", [], dtype=pl.String), 0, 0, 0)
    annotated = frame["fd_target"]
    has_annotations = annotated.drop_nulls().len() > 0
    needed = (pl.col("kind") == "syscall") & (
        pl.col("syscall").is_in(list(RELEVANT))
        | (pl.col("fd_target").is_null() & pl.col("args").str.contains(r"^-?\d+(?:,|$)"))
    )
    rows = frame.with_row_index("_i").filter(needed)
    replay = FdReplay()
    filled: list[tuple[int, str]] = []
    agree = disagree = 0
    cols = rows.select("_i", "pid", "syscall", "args", "retval", "ret_target", "line", "fd_target")
    for i, pid, name, args, retval, ret_target, line, ann in cols.iter_rows():
        args = args or ""
        m = _FIRST_INT.match(args)
        if m and name not in FORKS and name != "close_range":
            fd = int(m.group(1))
            known = replay.lookup(pid, fd)
            if ann is None and known is not None:
                filled.append((i, known))
            elif ann is not None and known is not None and has_annotations:
                if _same_target(ann, known):
                    agree += 1
                else:
                    disagree += 1
                # the log's own annotation is the truth from here on
                entry = replay.table(pid).fds.get(fd)
                if entry is not None:
                    entry.target = ann
        if name in RELEVANT:
            replay.apply(pid, name, args, retval, line, ret_target)
    targets = annotated.clone()
    if filled:
        idx = pl.Series([i for i, _ in filled], dtype=pl.UInt32)
        targets = targets.scatter(idx, pl.Series([t for _, t in filled], dtype=pl.String))
    return Resolution(targets.alias("target"), len(filled), agree, disagree)


def _same_target(annotation: str, replayed: str) -> bool:
    """Whether the log's annotation and the replay name the same object. Sockets are the
    same when their protocol family matches and, where both know it, the peer."""
    if replayed.startswith("<inherited") or annotation == replayed:
        return True
    a_proto, _, a_rest = annotation.partition(":[")
    r_proto, _, r_rest = replayed.partition(":[")
    if a_rest and r_rest:
        if a_proto.split("-")[0].rstrip("v6") != r_proto.split("-")[0].rstrip("v6"):
            return False
        if "->" in a_rest and "->" in r_rest and "." in r_rest:
            return a_rest.split("->", 1)[1] == r_rest.split("->", 1)[1]
        return True
    # the annotation may carry a nested detail ("/dev/null<char 1:3>") or a resolved path
    return annotation.startswith(replayed) or annotation.endswith(replayed.lstrip("."))
