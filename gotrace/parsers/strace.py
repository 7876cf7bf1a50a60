"""strace text logs -> events, a column at a time.

The log is read in blocks of lines. The optional compiled core
(:mod:`gotrace.parsers._fastparse`, built from ``_fastparse.c`` when a C compiler is there)
places the common lines of gotrace's own capture form in one pass over a block's bytes and
hands their records to polars as Arrow columns; it leaves every line it is not certain of.
Those lines (all lines, without the core: the pure path) are read with the grammar in
:mod:`gotrace.parsers.grammar` applied to whole polars columns (leader, call head, return
tail, signals, exits), so the common forms cost no Python per line; lines the columns
cannot place with certainty go to :func:`gotrace.parsers.lines.parse_line`. Both ways
give the same records (tests/test_parser_native.py). Then
``<unfinished ...>``/``<... resumed>`` halves are stitched into one event and timestamps
become seconds.

Public entry points:
- :func:`parse_frames` yields event frames (one per chunk; bounded memory),
- :func:`parse_frame` returns one frame for a whole input,
- :func:`iter_events` yields the frozen dataclasses of :mod:`gotrace.model.events`.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import re
import stat
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import IO, Any, TypeVar

import polars as pl

from gotrace.model.events import (
    EVENT_SCHEMA,
    NO_RETURN_SYSCALLS,
    Event,
    Exec,
    Exit,
    Kill,
    Notice,
    Output,
    ParseError,
    Signal,
    Syscall,
    TraceParseError,
    empty_frame,
)
from gotrace.parsers import grammar as g
from gotrace.parsers.base import DEFAULT_CHUNK_LINES, block_bytes, read_blocks, split_lines
from gotrace.parsers.lines import IMPLAUSIBLE_TIME, MAX_DIGITS, parse_line
from gotrace.redact import KEYWORD_NEEDS, KEYWORDS, redact_frame

native: ModuleType | None
try:  # the compiled core (gotrace/parsers/_fastparse.c); optional, with the same output
    from gotrace.parsers import _fastparse as native
except ImportError:  # not built on this platform: the regexes below do all the work
    native = None
if os.environ.get("GOTRACE_PURE_PARSER"):
    native = None

# Pre-stitch record columns (strings as read, parsed into types afterwards).
_RECORD_COLS = (
    "line", "rk", "pid1", "comm1", "pid2", "comm2", "tod", "rel2", "num", "nr", "ip",
    "name", "args", "ret", "target", "errno", "errmsg", "extra", "dur",
    "sig", "info", "stopped", "status", "core", "former", "text", "never", "reason",
    "end_line", "res_num", "paired", "fd_num", "fd_ann", "fd_known", "secret",
)  # fmt: skip
# secret: whether the line holds one of the redaction's keywords (the compiled core marks
# the lines it places; null elsewhere: not known, the columns are searched when redacting)
_BOOL_COLS = ("stopped", "core", "never", "paired", "fd_known", "secret")
#: record columns that are not strings
_RECORD_TYPES: dict[str, pl.DataType] = {
    "line": pl.Int64(), "end_line": pl.Int64(), **{c: pl.Boolean() for c in _BOOL_COLS},
}  # fmt: skip

#: bytes from the rarest in strace's text to the most common, either case (counted on
#: go's captures: q 0.01 a line, z 0.19, k 0.38, w 1.26, s 1.89, r 3.01, e 7.64; a byte
#: not here counts as rarer still): the compiled core looks for each keyword by an anchor,
#: one of its bytes that is rare (up to y: under 0.4 a line), else two neighbouring bytes
#: that are both rare (their pair rarer still: "cr" 0.017 a line, "sw" 0)
_BYTE_RANK = "qjbz:ky-vwxhsugfi_rpmnlcadt/oe"
_RARE_BYTE = _BYTE_RANK.index("y")


def _anchor(word: str) -> tuple[int, int]:
    """Where the anchor of ``word`` starts and its length (see _BYTE_RANK): its rarest byte
    when that is rare enough, else the pair whose commoner byte is rarest, then whose bytes
    are rarest together."""
    low = word.lower()
    rarest = min(range(len(low)), key=lambda i: _BYTE_RANK.find(low[i]))
    if len(low) == 1 or _BYTE_RANK.find(low[rarest]) <= _RARE_BYTE:
        return rarest, 1

    def rank(i: int) -> tuple[int, int]:
        a, b = (_BYTE_RANK.find(ch) for ch in low[i : i + 2])
        return max(a, b), a + b

    return min(range(len(low) - 1), key=rank), 2


#: the keywords with their anchors and what they need after them (KEYWORD_NEEDS: b"" when
#: nothing); one that holds another is left out (the line it is in holds the other:
#: "private-token" is found by "token")
_KEYWORD_ANCHORS = tuple(
    (w.lower().encode(), *_anchor(w), *(c.encode() for c in KEYWORD_NEEDS.get(w, ("", ""))))
    for w in KEYWORDS
    if not any(o != w and o.lower() in w.lower() for o in KEYWORDS)
)

# First argument that is an fd with a -y annotation: "3</etc/passwd>", "0</dev/null<char 1:3>>".
_FD_ARG = r"^(-?\d+)<(" + g.ANNOTATION + r")>(?:,|$)"


@dataclass
class ParseState:
    """What one input carries from chunk to chunk: clock, day rollover, open calls."""

    source: str | None = None
    file_pid: int | None = None
    strict: bool = False
    clock: str | None = None  # "epoch" | "time_of_day" | "relative" | None
    day_offset: float = 0.0
    last_tod: float | None = None
    rel_base: float = 0.0
    tod_anchor: float | None = None
    main_pid: int | None = None
    main_pid_known: bool = False
    #: strace wrote to the terminal (``[pid N]`` prefixes, its messages inline, calls cut by
    #: the program's output): a line that is not strace's is then the program's output
    to_terminal: bool = False
    carry: pl.DataFrame | None = None
    pending_stack: list[str] = field(default_factory=list)
    parse_errors: int = 0
    lines: int = 0


# gotrace's own capture form (-f -ttt): most logs it reads are in it, and this is 3x cheaper
_FAST_LEADER = r"^(?P<lead>(?P<pid2>\d+) +(?P<num>\d+\.\d+) (?:\(\+ *\d+\.\d+\) )?)"
_LEADER_GROUPS = ("lead", "pid1", "comm1", "pid2", "comm2", "tod", "rel2", "num", "nr", "ip")


def _mostly_fast(matched: int, lines: int) -> bool:
    """Whether a chunk reads its leaders with the cheap pattern (nearly all lines fit it)."""
    return matched >= 0.99 * lines


def _leader(lines: pl.Series, fast_form: bool | None = None) -> pl.Series:
    """The leader's fields. When nearly every line of a chunk starts ``PID EPOCH.USEC `` the
    cheap pattern is used; the few lines it misses get no leader, fail to classify and go
    to the per-line reader, which knows every form. Other chunks take the full pattern.
    ``fast_form`` is that choice when it was made for a whole chunk these lines are part of."""
    fast = lines.str.extract_groups(_FAST_LEADER)
    matched = int(fast.struct.field("lead").is_not_null().sum())
    if fast_form if fast_form is not None else _mostly_fast(matched, len(lines)):
        nulls = pl.Series(values=[None] * len(lines), dtype=pl.String)
        cols = {
            c: fast.struct.field(c) if c in ("lead", "pid2", "num") else nulls.alias(c)
            for c in _LEADER_GROUPS
        }
        return pl.DataFrame(cols).to_struct("_lead")
    return lines.str.extract_groups("^(?P<lead>" + g.LEADER + ")")


def _records_columnar(lines: pl.Series, first_line: int) -> pl.DataFrame:
    """Classify every line of a chunk with column-wide regexes."""
    n = len(lines)
    line_nos = pl.int_range(first_line, first_line + n, dtype=pl.Int64, eager=True)
    placed, slow = _classify(lines, line_nos)
    return pl.concat([placed, slow], how="vertical_relaxed") if slow is not None else placed


def _classify(
    lines: pl.Series, line_nos: pl.Series, fast_form: bool | None = None
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The records of the lines the column-wide regexes place (in line order), and those of
    the per-line reader for the rest (``None`` when there is no rest). Each line's record
    depends on the line alone (and on ``fast_form``, see _leader), except that the per-line
    reader joins neighbouring lines among those it is given."""
    df = pl.DataFrame({"raw": lines, "line": line_nos.cast(pl.Int64)})
    raw = pl.col("raw")
    df = df.with_columns(_leader(lines, fast_form).alias("_lead")).unnest("_lead")
    body = raw.str.slice(pl.col("lead").str.len_chars())
    df = df.with_columns(body.alias("body"))
    b = pl.col("body")
    unf_suffix = (
        pl.when(b.str.ends_with(g.UNFINISHED_NEVER))
        .then(len(g.UNFINISHED_NEVER))
        .when(b.str.ends_with(g.UNFINISHED_SUFFIX))
        .then(len(g.UNFINISHED_SUFFIX))
        .when(b.str.ends_with(g.DETACHED_SUFFIX))
        .then(len(g.DETACHED_SUFFIX))
    )
    df = df.with_columns(
        call_name=b.str.extract("^" + g.CALL_HEAD, 1),
        res=b.str.extract_groups("^(?P<res_head>" + g.RESUMED_HEAD + ")"),
        unf_len=unf_suffix,
        never=b.str.ends_with(g.UNFINISHED_NEVER) | b.str.ends_with(g.DETACHED_SUFFIX),
        tail=b.str.extract_groups("(?P<tail_all>" + g.RET_TAIL + ")"),
        sigs=b.str.extract_groups("^" + g.SIGNAL_BODY),
        exits=b.str.extract_groups("^" + g.EXIT_BODY),
        ascii=raw.str.len_bytes() == raw.str.len_chars(),
    ).unnest("tail", "sigs", "exits", "res")
    # one pass of each pattern: where the tail starts follows from its length
    df = df.with_columns(
        res_name=pl.col("name"),
        res_head_len=pl.col("res_head").str.len_chars(),
        tail_pos=b.str.len_chars() - pl.col("tail_all").str.len_chars(),
    )
    is_unf = pl.col("call_name").is_not_null() & pl.col("unf_len").is_not_null()
    is_call = (
        pl.col("call_name").is_not_null()
        & pl.col("unf_len").is_null()
        & pl.col("tail_pos").is_not_null()
    )
    is_res = pl.col("res_name").is_not_null() & pl.col("tail_pos").is_not_null()
    suspicious = pl.col("extra").str.contains(r"\) +=") | pl.col("target").str.contains(r"\) +=")
    name_len = pl.col("call_name").str.len_chars()
    res_head_len = pl.col("res_head_len")
    rk: pl.Expr = (
        pl.when(~pl.col("ascii") | suspicious.fill_null(False) | _implausible(df))
        .then(pl.lit(None, pl.String))
        .when(is_call)
        .then(pl.lit("call"))
        .when(is_unf)
        .then(pl.lit("unfinished"))
        .when(is_res)
        .then(pl.lit("resumed"))
        .when(pl.coalesce("sig", "stop", "sig4", "sig5").is_not_null())
        .then(pl.lit("signal"))
        .when(pl.col("status").is_not_null())
        .then(pl.lit("exit"))
        .when(pl.col("ksig").is_not_null())
        .then(pl.lit("kill"))
        .when(pl.col("former").is_not_null())
        .then(pl.lit("exec"))
    )
    if bool(lines.str.starts_with(" | ").any()):
        # -e read=/write= hexdumps: the bytes, in order, go to the call above (see _attach)
        dump = raw.str.extract(g.DUMP_LINE, 2)
        df = df.with_columns(_dump=dump.str.replace_all(" ", "", literal=True))
        rk = pl.when(pl.col("_dump").is_not_null()).then(pl.lit("dump")).otherwise(rk)
        text = pl.col("_dump")
    else:
        text = pl.lit(None, pl.String)
    args = (
        pl.when(pl.col("rk") == "call")
        .then(b.str.slice(name_len + 1, pl.col("tail_pos") - name_len - 1))
        .when(pl.col("rk") == "unfinished")
        .then(b.str.slice(name_len + 1, b.str.len_chars() - pl.col("unf_len") - name_len - 1))
        .when(pl.col("rk") == "resumed")
        .then(b.str.slice(res_head_len, pl.col("tail_pos") - res_head_len))
    )
    df = df.with_columns(rk=rk).with_columns(
        text=text,
        args=args,
        name=pl.coalesce("call_name", "res_name"),
        sig=pl.coalesce("sig", "stop", "ksig", "sig4", "sig5"),
        info=pl.coalesce("info", "info4"),
        stopped=pl.col("stop").is_not_null(),
        core=pl.col("core").is_not_null(),
    )
    # Whatever the columns could not place goes through the per-line reader.
    slow = df.filter(pl.col("rk").is_null())
    fast = df.filter(pl.col("rk").is_not_null())
    fast = fast.select(
        [
            pl.col(c)
            if c in fast.columns
            else pl.lit(
                False if c in ("paired", "fd_known") else None, _RECORD_TYPES.get(c, pl.String())
            ).alias(c)
            for c in _RECORD_COLS
        ]
    )
    if slow.height:
        return fast, _frame_from_records(_records_per_line(slow["line"], slow["raw"]))
    return fast, None


class _ArrowCapsules:
    """The (schema, array) capsules of the compiled core, for ``pl.Series``."""

    def __init__(self, capsules: tuple[object, object]) -> None:
        self.capsules = capsules

    def __arrow_c_array__(self, requested_schema: object = None) -> tuple[object, object]:
        return self.capsules


@dataclass(slots=True)
class _FileRange:
    """A block of a regular file as a byte range: the compiled core maps it instead of the
    block being read and copied (twice: into a bytes object, then into the core's buffer).
    What Python needs of it (where blocks end, a range for the regexes when the core
    declines it) it reads with pread: a mapping of its own would fault in far more of the
    file than it looks at (the kernel maps around each fault)."""

    fd: int
    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start

    def read(self, most: int | None = None) -> bytes:
        n = len(self) if most is None else min(most, len(self))
        return os.pread(self.fd, n, self.start)


def _file_ranges(fd: int, size: int, chunk_lines: int) -> Iterator[_FileRange]:
    """The blocks :func:`read_blocks` would read from the file ``fd`` (``size`` bytes), as
    ranges."""
    start, block = 0, block_bytes(chunk_lines)
    while start < size:
        end = min(size, start + block)
        while end < size and os.pread(fd, 1, end - 1) != b"\n":
            # the rest of the block's last line
            more = os.pread(fd, 1 << 16, end)
            if not more:  # the file is shorter than it was: it ends where it ends now
                size = end = min(end, os.fstat(fd).st_size)
                break
            nl = more.find(b"\n")
            end = min(size, end + (len(more) if nl < 0 else nl + 1))
        if end <= start:
            return
        yield _FileRange(fd, start, end)
        start = end


def _records(
    block: bytes | _FileRange, first_line: int, merge: int = 0
) -> tuple[pl.DataFrame, int]:
    """The records of a block of lines and how many lines it holds: the compiled core
    places the common forms, the column-wide regexes read the rest (or the whole block,
    without the core or when it declines). Both ways give the same events.

    ``merge``: 1 when the log's clock is epoch seconds, 2 when it is not known yet (0:
    another clock). When the core places every line of a block and the clock is (or,
    from the block's first stamp, will be) epoch seconds, it also merges the pairs of
    halves inside the block, as _stitch would (see _fastparse.c)."""
    if native is not None:
        # (the core declines a block with a CR, a 0x1f or a byte-order mark in it, which
        # split_lines treats specially)
        if isinstance(block, _FileRange):
            try:
                got = native.classify(
                    (block.fd, block.start, len(block)), first_line, merge, _KEYWORD_ANCHORS
                )
            except OSError:  # a file the core cannot map: read the range instead
                got = native.classify(block.read(), first_line, merge, _KEYWORD_ANCHORS)
        else:
            got = native.classify(block, first_line, merge, _KEYWORD_ANCHORS)
        if got is not None:
            capsules, line_nos, texts, n = got
            placed = pl.Series(_ArrowCapsules(capsules)).struct.unnest()
            if not texts:
                return placed, n
            rest = pl.Series("raw", texts, dtype=pl.String)
            fits = int(rest.str.contains(_FAST_LEADER).sum())
            if _mostly_fast(placed.height + fits, n):
                more, slow = _classify(rest, pl.Series("line", line_nos, dtype=pl.Int64), True)
                if more.height:
                    placed = pl.concat([placed, more]).sort("line")
                if slow is not None:
                    placed = pl.concat([placed, slow], how="vertical_relaxed")
                return placed, n
    lines = split_lines(block.read() if isinstance(block, _FileRange) else block)
    return _records_columnar(lines, first_line), len(lines)


#: how many lines of program output may stand between a cut call and the rest of it
MAX_SPLICED_LINES = 200


def _records_per_line(line_nos: Iterable[int], texts: Iterable[str]) -> list[dict[str, Any]]:
    """The per-line reader over the lines the columns could not place, joining the lines
    that something else cut in two (both happen only when strace wrote to the terminal,
    without -o):

    - strace's own message: "clone(...SIGCHLDstrace: Process 4492 attached" and on the next
      line the rest of the call, ", child_tidptr=0x7f..) = 4492";
    - the traced program's output: 'write(1, "c\n", 2c' (the program's "c" after the
      count), maybe more lines of its output, then the rest of the call: ")   = 2" or
      " <unfinished ...>". The call is joined and returned; the program's text becomes
      ``output`` records (what the program printed, for the output analyzer).
    """
    recs: list[dict[str, Any]] = []
    cut_at: int | None = None  # index in recs of a call the program's output cut
    for line_no, text in zip(line_nos, texts, strict=True):
        prev = recs[-1] if recs else None
        if prev and prev.get("notice") and prev["line"] == line_no - 1:
            whole = parse_line(prev["raw"][: -len(prev["notice"])] + text)
            if whole["rk"] in ("call", "unfinished"):
                whole.update(line=prev["line"], notice=prev["notice"])
                recs[-1] = whole
                continue
        rec = parse_line(text)
        rec["line"] = line_no
        if cut_at is not None:
            follows = prev is not None and prev["line"] == line_no - 1
            if follows and g.CONTINUATION_RE.match(text):
                at, cut_at = cut_at, None
                joined = _join_cut(recs[at], recs[at + 1 :], text)
                if joined is not None:
                    recs[at:] = joined
                    continue
            elif (
                follows
                and rec["rk"] in ("error", "blank")
                and len(recs) - cut_at <= MAX_SPLICED_LINES
            ):
                recs.append(rec)
                continue
            else:
                cut_at = None
        if rec["rk"] == "unfinished" and rec.get("truncated"):
            cut_at = len(recs)
        recs.append(rec)
    return recs


def _join_cut(
    head: dict[str, Any], between: list[dict[str, Any]], rest: str
) -> list[dict[str, Any]] | None:
    """A call cut by the program's output, put back together (see _records_per_line)."""
    from gotrace.parsers.lines import splice_cut

    raw, args = head["raw"], head.get("args") or ""
    end = len(raw) - len(args) + splice_cut(args)
    whole = parse_line(raw[:end] + rest)
    if whole["rk"] not in ("call", "unfinished"):
        return None
    whole["line"] = head["line"]
    out = [whole]
    if raw[end:]:
        out.append({"rk": "output", "line": head["line"], "text": raw[end:]})
    for r in between:
        if r["rk"] == "error":
            out.append({"rk": "output", "line": r["line"], "text": r["raw"]})
    return out


def _implausible(df: pl.DataFrame) -> pl.Expr:
    """Rows with a number no strace prints (a 20-digit pid, a stamp beyond the year 2286):
    the per-line reader turns them into parse errors instead of an overflow later."""

    def longest(col: str) -> int:
        n = df[col].str.len_bytes().max() if col in df.columns else None
        return n if isinstance(n, int) else 0

    checks = []
    for col, most in MAX_DIGITS.items():
        if longest(col) > most:
            checks.append(pl.col(col).str.len_bytes() > most)
    for col in ("num", "dur"):
        if longest(col) > 17:
            checks.append(pl.col(col).str.contains(IMPLAUSIBLE_TIME))
    if not checks:
        return pl.lit(False)
    return pl.any_horizontal(checks).fill_null(False)


def _frame_from_records(recs: list[dict[str, Any]]) -> pl.DataFrame:
    extra_rows: list[dict[str, Any]] = []
    for rec in recs:
        if rec.get("notice"):
            # A cut line also carries strace's message: it becomes its own notice record.
            extra_rows.append(
                {
                    "line": rec["line"],
                    "rk": "notice",
                    "text": rec["notice"],
                    "pid1": rec.get("pid1"),
                }
            )
        if rec.get("rk") == "error":
            rec["text"] = rec.get("raw")
    rows = recs + extra_rows
    data: dict[str, list[Any]] = {c: [r.get(c) for r in rows] for c in _RECORD_COLS}
    schema = {c: _RECORD_TYPES.get(c, pl.String()) for c in _RECORD_COLS}
    return pl.DataFrame(data, schema=schema)


def _tod_seconds(col: pl.Expr) -> pl.Expr:
    parts = col.str.extract_groups(r"^(?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d(?:\.\d+)?)$")
    return (
        parts.struct.field("h").cast(pl.Float64) * 3600
        + parts.struct.field("m").cast(pl.Float64) * 60
        + parts.struct.field("s").cast(pl.Float64)
    )


def _clock_of(rec: pl.DataFrame) -> str | None:
    """The clock of a log's stamps, from its first records that have one (in line order)."""
    first_num = rec.filter(pl.col("num").is_not_null()).head(1)["num"]
    first_tod = rec.filter(pl.col("tod").is_not_null()).head(1)
    if first_tod.height:
        return "time_of_day"
    if first_num.len():
        return "epoch" if float(first_num[0]) > 1e8 else "relative"
    return None


def _add_times(rec: pl.DataFrame, st: ParseState) -> pl.DataFrame:
    """Turn the leader's timestamp strings into seconds (``ts``, and ``res_ts`` of the pairs
    the core merged); carries clock state across chunks. Epoch stamps (the common clock)
    need no state: _typed reads them with the other columns (see _epoch_times)."""
    if not rec["line"].is_sorted():
        rec = rec.sort("line")
    if st.clock is None:
        st.clock = _clock_of(rec)
    if st.clock == "epoch":
        return rec
    return _stamps(rec, st).with_columns(res_ts=pl.col("res_num").cast(pl.Float64))


def _epoch_times(st: ParseState) -> dict[str, pl.Expr]:
    """The time columns _add_times left to _typed (epoch stamps), else none."""
    if st.clock != "epoch":
        return {}
    return {"ts": pl.col("num").cast(pl.Float64), "res_ts": pl.col("res_num").cast(pl.Float64)}


def _stamps(rec: pl.DataFrame, st: ParseState) -> pl.DataFrame:
    """``ts`` from the stamps of a clock other than epoch seconds (records in line order)."""
    if st.clock == "relative":
        # -r: each stamp is the time since the previous line's; their sum is time since start.
        rel = pl.col("num").cast(pl.Float64).fill_null(0.0)
        rec = rec.with_columns(ts=rel.cum_sum() + st.rel_base)
        if rec.height:
            st.rel_base = float(rec["ts"][-1])
        return rec.with_columns(
            ts=pl.when(pl.col("num").is_not_null()).then(pl.col("ts")).otherwise(None)
        )
    if st.clock == "time_of_day":
        if rec["rel2"].null_count() < rec.height:
            # -t -r: the clock of the first line plus the running sum of the relative stamps.
            if st.tod_anchor is None:
                first = rec.filter(pl.col("tod").is_not_null()).head(1)
                st.tod_anchor = float(first.select(_tod_seconds(pl.col("tod")))[0, 0])
            rel = pl.col("rel2").cast(pl.Float64).fill_null(0.0)
            rec = rec.with_columns(ts=rel.cum_sum() + st.tod_anchor + st.rel_base)
            st.rel_base += float(rec.select(pl.col("rel2").cast(pl.Float64).sum())[0, 0] or 0.0)
            return rec.with_columns(
                ts=pl.when(pl.col("tod").is_not_null()).then(pl.col("ts")).otherwise(None)
            )
        # -t/-tt are local clock time and wrap at midnight: a jump back of more than
        # 12 hours between neighbouring stamps means the day changed.
        sod = rec.select(_tod_seconds(pl.col("tod")).alias("sod"))["sod"]
        values = sod.to_list()
        out: list[float | None] = []
        last = st.last_tod
        offset = st.day_offset
        for v in values:
            if v is None:
                out.append(None)
                continue
            if last is not None and v < last - 43200:
                offset += 86400.0
            last = v
            out.append(v + offset)
        st.last_tod, st.day_offset = last, offset
        return rec.with_columns(ts=pl.Series(out, dtype=pl.Float64))
    return rec.with_columns(ts=pl.lit(None, pl.Float64))


def _typed(rec: pl.DataFrame, st: ParseState) -> pl.DataFrame:
    """Records with typed columns, a pid on every row, and the final field names (one
    with_columns and one look at the frame in the common case)."""
    ret = pl.col("ret")
    retval = (
        pl.when(ret.str.starts_with("0x"))
        .then(ret.str.slice(2).str.to_integer(base=16, strict=False))
        .otherwise(ret.str.to_integer(strict=False))
    )
    dur = pl.col("dur")
    rec = rec.with_columns(
        pid=pl.coalesce(pl.col("pid1"), pl.col("pid2")).cast(pl.Int64, strict=False),
        comm=pl.coalesce("comm1", "comm2"),
        retval=retval,
        duration=dur.cast(pl.Float64, strict=False),
        unavailable=dur.is_in(["unavailable", "detached ..."]),
        status=pl.col("status").cast(pl.Int64, strict=False),
        former_pid=pl.col("former").cast(pl.Int64, strict=False),
        nr=pl.col("nr").cast(pl.Int64, strict=False),
        **_epoch_times(st),
    )
    rk = pl.col("rk")
    seen = rec.select(
        no_pid=pl.col("pid").null_count() > 0,
        prefixed=pl.col("pid1").is_not_null().any(),
        output=(rk == "output").any(),
        attached=pl.col("text").str.starts_with("strace: Process ").any(),
        error=(rk == "error").any(),
    ).row(0, named=True)
    if seen["no_pid"]:
        main = st.file_pid if st.file_pid is not None else _main_pid(rec, st)
        if main is not None:
            rec = rec.with_columns(pid=pl.col("pid").fill_null(main))
    if not st.to_terminal:
        st.to_terminal = bool(seen["prefixed"] or seen["output"] or seen["attached"])
    output = bool(seen["output"])
    if st.to_terminal and seen["error"]:
        program = (rk == "error") & (pl.col("reason") == "not a strace line")
        rec = rec.with_columns(rk=pl.when(program).then(pl.lit("output")).otherwise(rk))
        output = output or bool((rec["rk"] == "output").any())
    if output:
        # what the program printed among strace's lines: whose output it was is not known
        rec = rec.with_columns(pid=pl.when(rk == "output").then(None).otherwise(pl.col("pid")))
    return rec


#: calls whose return value is the caller's own pid (set_tid_address: its tid, which is the
#: pid in a process's first thread, where glibc's start-up makes it)
_SELF_PID_CALLS = ("getpid", "set_tid_address", "gettid")
_ATTACHED = re.compile(r"^(?:strace: )?Process (\d+) attached")


def _main_pid(rec: pl.DataFrame, st: ParseState) -> int | None:
    """The pid of lines that carry none, or ``None`` when the log does not tell.

    On stderr strace prefixes ``[pid N]`` only while several processes are traced;
    the unprefixed lines belong to the first process, whose pid is the first
    prefixed pid that none of the earlier unprefixed clone/fork calls returned.
    A log with no prefix at all names its process in ``strace: Process N attached``
    (``-p``), or in what getpid()/set_tid_address() returned.
    """
    if st.main_pid_known:
        return st.main_pid
    children: set[int] = set()
    own: int | None = None
    for row in rec.select("pid", "rk", "name", "ret", "text").iter_rows():
        p, rk, name, ret, text = row
        if p is None:
            digits = ret is not None and ret.isdigit() and len(ret) < 11
            if name in ("clone", "clone3", "fork", "vfork") and digits:
                children.add(int(ret))
            elif own is None and name in _SELF_PID_CALLS and digits:
                own = int(ret)
            elif own is None and rk == "notice" and text and (m := _ATTACHED.match(text)):
                own = int(m.group(1))
            continue
        if p not in children:
            own = int(p)
            break
    st.main_pid, st.main_pid_known = own, True
    return own


def _stitch(rec: pl.DataFrame, st: ParseState, final: bool) -> pl.DataFrame:
    """Merge each ``<unfinished ...>`` with the ``<... resumed>`` of the same pid.

    The calls still open at the end of the last block (``st.carry``, a few rows) come first,
    then this block's rows, in line order. Only the small key columns are sorted by pid;
    the pairs are then merged by row index (the head row takes the tail's return, the tail
    row goes), so the wide frame keeps its line order, is never re-sorted, and is not
    joined to the carried rows: the few rows that go are cut out (see _without)."""
    carry = st.carry if st.carry is not None and st.carry.height else None
    st.carry = None
    c = carry.height if carry is not None else 0

    def keys(df: pl.DataFrame, offset: int) -> pl.DataFrame:
        return df.select(
            (pl.int_range(pl.len(), dtype=pl.UInt32) + offset).alias("_i"),
            "pid", "rk", "name", "never", "paired",
        )  # fmt: skip

    # (the pairs the core merged stay in line among the halves: see _fastparse.c)
    both = (
        keys(rec, c)
        if carry is None
        else pl.concat([keys(carry, 0), keys(rec, c)], how="vertical_relaxed")
    )
    halves = both.filter(
        pl.col("rk").is_in(["unfinished", "resumed"]) | pl.col("paired").fill_null(False)
    ).sort("pid", maintain_order=True)  # by pid, then line
    heads = halves.with_columns(
        n_i=pl.col("_i").shift(-1),
        n_rk=pl.col("rk").shift(-1),
        n_name=pl.col("name").shift(-1),
        n_pid=pl.col("pid").shift(-1),
    ).filter(
        (pl.col("rk") == "unfinished")
        & ~pl.col("never").fill_null(False)
        & (pl.col("n_rk") == "resumed")
        & pl.col("n_pid").eq_missing(pl.col("pid"))
        & (
            (pl.col("n_name") == pl.col("name"))
            | pl.col("n_name").is_in(["???", "????"])
            | pl.col("n_name").is_null()
        )
    )
    tails = heads["n_i"] - c  # (a tail is a resumed half: never a carried row)
    if heads.height:
        in_carry = heads["_i"] < c
        if carry is not None and in_carry.any():
            carry = _merge_pairs(carry, heads["_i"].filter(in_carry), rec, tails.filter(in_carry))
        if not in_carry.all():
            rec = _merge_pairs(rec, heads["_i"].filter(~in_carry) - c, rec, tails.filter(~in_carry))
    gone = tails
    if not final:
        # An unfinished call may be resumed in the next block: hold it back.
        def still_open(df: pl.DataFrame) -> pl.Series:
            return ((df["rk"] == "unfinished") & ~df["never"].fill_null(False)).arg_true()

        rec_open = still_open(rec)
        held = [rec[rec_open]]
        if carry is not None:
            carry_open = still_open(carry)
            held.insert(0, carry[carry_open])
            carry = _without(carry, carry_open)
        st.carry = pl.concat(held, how="vertical_relaxed") if len(held) > 1 else held[0]
        gone = pl.concat([gone, rec_open.cast(gone.dtype)])
    rec = _without(rec, gone)
    return rec if carry is None else pl.concat([carry, rec], how="vertical_relaxed")


def _merge_pairs(
    heads: pl.DataFrame, hi: pl.Series, tails: pl.DataFrame, ti: pl.Series
) -> pl.DataFrame:
    """``heads`` with its rows ``hi`` merged with the rows ``ti`` of ``tails`` (their
    resumed halves): the call's arguments joined, the return taken from the tail."""
    taken = ["ret", "target", "errno", "errmsg", "extra", "retval", "duration", "unavailable"]
    joined = ["args", "data", "stack", "secret"]
    head = heads.select(joined)[hi]
    tail = tails.select([*taken, *joined, "line", "ts"])[ti]
    merged = {c: tail[c] for c in taken}
    merged["rk"] = pl.repeat("call", len(hi), eager=True, dtype=pl.String)
    merged["args"] = head["args"].fill_null("") + tail["args"].fill_null("")
    # -e read=/write= dump the buffer when the call returns, after the resumed half
    for c in ("data", "stack"):
        merged[c] = head[c].fill_null(tail[c])
    # (strace cuts a call between two arguments: no keyword spans the cut)
    merged["secret"] = head["secret"] | tail["secret"]
    merged["end_line"], merged["res_ts"] = tail["line"], tail["ts"]
    # the arguments changed: their fd is read here, for these rows only (were it left to
    # _events, the fd columns would be rebuilt whole, and the frame with them)
    fd, fd_target = _fd_columns(merged["args"])
    merged["fd_num"], merged["fd_ann"] = fd.cast(pl.String), fd_target
    merged["fd_known"] = pl.repeat(True, len(hi), eager=True)
    return heads.with_columns([heads[c].scatter(hi, v) for c, v in merged.items()])


#: up to how many rows _without cuts out of a frame by slicing it (more: a filter)
_FEW_ROWS = 64


def _without(df: pl.DataFrame, rows: pl.Series) -> pl.DataFrame:
    """``df`` without the rows at the indices ``rows``. A few rows are cut out by slicing
    around them: the slices share the frame's buffers (a filter copies every column). A run
    of one-row slices is gathered into one piece instead: polars joins the leading one-row
    pieces of an all-null column into one, and the frame's columns would then be in
    different pieces (which a later stage pays for by copying them whole)."""
    if not len(rows):
        return df
    if len(rows) > _FEW_ROWS:
        keep = pl.repeat(True, df.height, eager=True).scatter(rows, False)
        return df.filter(keep)
    spans, at = [], 0
    for r in sorted(set(rows.to_list())):
        if r > at:
            spans.append((at, r - at))
        at = r + 1
    if at < df.height:
        spans.append((at, df.height - at))
    pieces: list[pl.DataFrame] = []
    single: list[int] = []
    for start, length in [*spans, (df.height, 0)]:
        if length == 1:
            single.append(start)
            continue
        if single:
            pieces.append(df[single] if len(single) > 1 else df.slice(single[0], 1))
            single = []
        if length:
            pieces.append(df.slice(start, length))
    return pl.concat(pieces) if pieces else df.clear()


def _events(rec: pl.DataFrame, st: ParseState, hint: bool = False) -> pl.DataFrame:
    """Stitched records -> the events frame (EVENT_SCHEMA; with ``hint`` the records'
    ``secret`` column too, last), in one select."""
    if "end_line" not in rec.columns:
        rec = rec.with_columns(end_line=pl.lit(None, pl.Int64), res_ts=pl.lit(None, pl.Float64))
    # the core found the fd of the rows whose arguments it saw whole (fd_known)
    known = rec["fd_known"].fill_null(False)
    fd = pl.col("fd_num").cast(pl.Int64, strict=False)
    fd_target = pl.col("fd_ann")
    if not known.all():
        idx = (~known).arg_true()
        f, t = _fd_columns(rec["args"].gather(idx))
        fd_num = rec["fd_num"].cast(pl.Int64, strict=False).scatter(idx, f)
        rec = rec.with_columns(_fd=fd_num, _fd_target=rec["fd_ann"].scatter(idx, t))
        fd, fd_target = pl.col("_fd"), pl.col("_fd_target")
    rk = pl.col("rk")
    kind = (
        pl.when(rk.is_in(["call", "unfinished", "resumed"]))
        .then(pl.lit("syscall"))
        .when(rk == "error")
        .then(pl.lit("parse_error"))
        .otherwise(rk)
    )
    no_return = pl.col("name").is_in(list(NO_RETURN_SYSCALLS))
    interrupted = pl.col("errno").str.starts_with("ERESTART").fill_null(False)
    in_flight = (
        (rk == "unfinished")
        | ((pl.col("ret") == "?") & ~no_return & ~interrupted)
        | pl.col("unavailable").fill_null(False)
    ) & rk.is_in(["call", "unfinished", "resumed"])
    # -T gives the duration; without it, a stitched pair still has its resumed line's stamp.
    duration = pl.coalesce(pl.col("duration"), pl.col("res_ts") - pl.col("ts"))
    computed = {
        "kind": kind,
        "in_flight": in_flight,
        "duration": duration,
        "end_ts": pl.when(duration.is_not_null()).then(pl.col("ts") + duration),
        # A resumed half seen without its start (attached mid-call): its stamp is the return.
        "ts": pl.when((rk == "resumed") & duration.is_not_null())
        .then(pl.col("ts") - duration)
        .otherwise(pl.col("ts")),
        "source": pl.lit(st.source, pl.String),
        "errmsg": pl.when(rk == "error").then(pl.col("reason")).otherwise(pl.col("errmsg")),
        "core_dumped": pl.when(rk == "kill").then(pl.col("core")),
        "stopped": pl.when(rk == "signal").then(pl.col("stopped")),
        "fd": fd,
        "fd_target": fd_target,
        "syscall": pl.col("name"),
        "ret_target": pl.col("target"),
        "signal": pl.col("sig"),
    }
    cols = [computed.get(c, pl.col(c)).cast(t).alias(c) for c, t in EVENT_SCHEMA.items()]
    out = rec.select([*cols, "secret"] if hint else cols)
    if bool((rec["rk"] == "blank").any()):
        out = out.filter(pl.col("kind") != "blank")
    return out


# The common case first: an annotation with no nesting and no "->" ("3</etc/passwd>").
_FD_ARG_SIMPLE = r"^(-?\d+)<([^<>]*)>(?:,|$)"


def _fd_columns(args: pl.Series) -> tuple[pl.Series, pl.Series]:
    """The first argument's fd number and annotation; the full pattern (nested targets,
    socket endpoints with "->") runs only on the rows the simple one misses."""
    # only arguments that start with a number can match: the rest skip the capture groups
    some = args.str.contains(r"^-?\d+<").fill_null(False)
    idx = some.arg_true()
    fd = pl.repeat(None, len(args), dtype=pl.String, eager=True)
    target = pl.repeat(None, len(args), dtype=pl.String, eager=True)
    if len(idx):
        simple = args.gather(idx).str.extract_groups(_FD_ARG_SIMPLE)
        fd = fd.scatter(idx, simple.struct.field("1"))
        target = target.scatter(idx, simple.struct.field("2"))
    missed = fd.is_null() & some
    if missed.any():
        idx = missed.arg_true()
        full = args.gather(idx).str.extract_groups(_FD_ARG)
        fd = fd.scatter(idx, full.struct.field("1"))
        target = target.scatter(idx, full.struct.field("2"))
    return fd.cast(pl.Int64, strict=False).alias("fd"), target.alias("fd_target")


_CONTINUED = ("stack", "dump")


def _attach(rec: pl.DataFrame) -> pl.DataFrame:
    """-k frames (``rk == "stack"``) and -e read=/write= hexdumps (``rk == "dump"``) belong
    to the record printed just before them: they become its ``stack`` (frames joined by
    newlines) and ``data`` (the dumped bytes as hex) and are dropped as rows. Records are in
    line order here; a dump of an unfinished call follows its resumed half and is moved to
    the stitched call by :func:`_stitch`."""
    cont = pl.col("rk").is_in(_CONTINUED)
    if not bool(rec["rk"].is_in(_CONTINUED).any()):
        # (as columns of their own, not literals: rows cut out later (_without) leave a
        # frame in pieces, and a literal column would not be cut into the same pieces)
        none = pl.repeat(None, rec.height, dtype=pl.String, eager=True)
        return rec.with_columns(stack=none, data=none)
    owner = (
        pl.when(~cont & (pl.col("rk") != "output")).then(pl.col("line")).otherwise(None)
    ).forward_fill()
    rec = rec.with_columns(_owner=owner)
    parts = (
        rec.filter(cont)
        .group_by("_owner", maintain_order=True)
        .agg(
            stack=pl.col("text").filter(pl.col("rk") == "stack").str.join("\n"),
            data=pl.col("text").filter(pl.col("rk") == "dump").str.join(""),
        )
        .with_columns(
            stack=pl.when(pl.col("stack") != "").then(pl.col("stack")),
            data=pl.when(pl.col("data") != "").then(pl.col("data")),
        )
    )
    out = rec.filter(~cont).join(parts, left_on="line", right_on="_owner", how="left")
    return out.sort("line").drop("_owner", strict=False)


def _check_strict(ev: pl.DataFrame, st: ParseState) -> None:
    errs = ev.filter(pl.col("kind") == "parse_error")
    st.parse_errors += errs.height
    if st.strict and errs.height:
        first = errs.row(0, named=True)
        raise TraceParseError(st.source, first["line"], first["text"] or "", first["errmsg"] or "")


def parse_frames(
    source: str | Path | IO[str] | IO[bytes],
    *,
    strict: bool = False,
    chunk_lines: int = DEFAULT_CHUNK_LINES,
    state: ParseState | None = None,
    redact: bool = False,
) -> Iterator[pl.DataFrame]:
    """Parse one strace log; yield event frames of at most about ``chunk_lines`` rows.
    ``redact``: with their secrets replaced, as :func:`gotrace.redact.redact_frame` does
    (faster than after: the compiled core marks the lines that may hold one)."""
    st = state or ParseState(strict=strict)
    if st.source is None and isinstance(source, (str, Path)):
        st.source = str(source)
    for rec, n, final in _ahead(_record_chunks(source, chunk_lines, st.clock)):
        st.lines += n
        rec = _add_times(rec, st)
        rec = _attach(rec)
        rec = _typed(rec, st)
        rec = _stitch(rec, st, final)
        ev = _events(rec, st, hint=redact)
        if redact:
            ev = redact_frame(ev.drop("secret"), hint=ev["secret"])
        _check_strict(ev, st)
        yield ev


def _record_chunks(
    source: str | Path | IO[str] | IO[bytes], chunk_lines: int, clock: str | None
) -> Iterator[tuple[pl.DataFrame, int, bool]]:
    """The records of each block of the input, its number of lines, and whether it is the
    last block (``clock``: the state's clock when parsing starts)."""
    with contextlib.ExitStack() as stack:
        blocks: Iterator[bytes | _FileRange] = read_blocks(source, chunk_lines)
        if native is not None and isinstance(source, (str, Path)) and str(source) != "-":
            fh = stack.enter_context(open(source, "rb"))
            st = os.fstat(fh.fileno())
            if stat.S_ISREG(st.st_mode) and st.st_size:
                # (the core maps each range itself, while the file is open. A file cut
                # shorter while it is read would kill the process with SIGBUS: a log is
                # appended to, never truncated, by what writes it)
                blocks = _file_ranges(fh.fileno(), st.st_size, chunk_lines)
        yield from _chunks_of(blocks, clock)


def _chunks_of(
    blocks: Iterator[bytes | _FileRange], clock: str | None
) -> Iterator[tuple[pl.DataFrame, int, bool]]:
    pending: bytes | _FileRange | None = next(blocks, None)
    first_line = 1
    while pending is not None:
        nxt = next(blocks, None)
        while nxt is not None and (k := _continued(nxt)):
            # what continues the block's last line goes with it (a dump, -k frames, the rest
            # of a call cut by the program's output)
            if isinstance(pending, _FileRange) and isinstance(nxt, _FileRange):
                pending.end += k  # (the next range starts where this one ends)
                nxt.start += k
                if not len(nxt):
                    nxt = next(blocks, None)
                continue
            assert isinstance(pending, bytes) and isinstance(nxt, bytes)
            pending += nxt[:k]
            nxt = nxt[k:] if k < len(nxt) else next(blocks, None)
        # the clock as _add_times will read it (it is decided by the first block that
        # shows one, so it is known here, one block ahead of _add_times)
        merge = 1 if clock == "epoch" else 2 if clock is None else 0
        rec, n = _records(pending, first_line, merge)
        if clock is None:
            clock = _clock_of(rec.sort("line"))
        first_line += n
        yield rec, n, nxt is None
        pending = nxt


_T = TypeVar("_T")


def _ahead(items: Iterator[_T]) -> Iterator[_T]:
    """``items``, produced one ahead in a thread: reading and classifying the next block
    (C and polars, both without the GIL) overlaps with stitching this one. An exception
    in the thread is raised here; when the consumer stops early the thread stops too."""
    todo: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        todo.put((True, item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            todo.put((False, None))
        except BaseException as exc:  # handed to the consumer
            todo.put((False, exc))

    thread = threading.Thread(target=produce, name="gotrace-parse-ahead", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = todo.get()
            if not ok:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                todo.get(timeout=0.1)
        thread.join()


_CONTINUATION_START = re.compile(rb"(?: [|>*] | <unfinished \.\.\.>| <detached \.\.\.>| *\) +=)")


def _continued(block: bytes | _FileRange) -> int:
    """How many bytes at the start of a block are lines that continue the previous block's
    last line."""
    if isinstance(block, _FileRange):
        head = block.read(1 << 16)
        k = _continued(head)
        return k if k < len(head) or len(head) == len(block) else _continued(block.read())
    at = 0
    while at < len(block) and _CONTINUATION_START.match(block, at):
        nl = block.find(b"\n", at)
        at = len(block) if nl < 0 else nl + 1
    return at


def parse_frame(
    source: str | Path | IO[str] | IO[bytes],
    *,
    strict: bool = False,
    state: ParseState | None = None,
    redact: bool = False,
) -> pl.DataFrame:
    """The events of one whole log in one frame (``redact``: see :func:`parse_frames`)."""
    frames = list(parse_frames(source, strict=strict, state=state, redact=redact))
    if not frames:
        return empty_frame()
    whole = pl.concat(frames, how="vertical")
    # (a block's frame is in a few pieces where rows were cut out of it: see _without)
    return whole.rechunk() if whole.n_chunks() > len(frames) else whole


def parse_text(text: str, *, strict: bool = False) -> pl.DataFrame:
    """The events of a log given as a string (tests, notebooks)."""
    return parse_frame(io.StringIO(text), strict=strict)


_FF_NAME = re.compile(r"^(?P<base>.+)\.(?P<pid>\d+)$")


def ff_files(path: str | Path) -> list[tuple[Path, int]]:
    """``-ff -o LOG`` writes ``LOG.<pid>`` files: given LOG (or one of them), find the set."""
    p = Path(path)
    m = _FF_NAME.match(p.name)
    base = m.group("base") if (m and not p.is_dir()) else p.name
    folder = p.parent if not p.is_dir() else p
    if p.is_dir():
        names = sorted(folder.iterdir())
    else:
        names = sorted(folder.glob(glob_escape(base) + ".*"))
    found = []
    for f in names:
        fm = _FF_NAME.match(f.name)
        if fm and (p.is_dir() or fm.group("base") == base) and f.is_file():
            found.append((f, int(fm.group("pid"))))
    return found


def glob_escape(s: str) -> str:
    import glob

    return glob.escape(s)


def parse_ff(files: Iterable[tuple[Path, int]], *, strict: bool = False) -> pl.DataFrame:
    """Merge ``LOG.<pid>`` files by time (by pid and line when they have no timestamps)."""
    frames = []
    for path, pid in files:
        st = ParseState(source=str(path), file_pid=pid, strict=strict)
        frames.append(parse_frame(path, strict=strict, state=st))
    if not frames:
        return empty_frame()
    df = pl.concat(frames, how="vertical")
    if df["ts"].null_count() < df.height:
        return df.sort(["ts", "source", "line"], nulls_last=True)
    return df.sort(["pid", "line"])


def iter_events(
    source: str | Path | IO[str] | IO[bytes], *, strict: bool = False
) -> Iterator[Event]:
    """Yield :mod:`gotrace.model.events` dataclasses, one per event, in log order."""
    for frame in parse_frames(source, strict=strict):
        yield from frame_to_events(frame)


def frame_to_events(frame: pl.DataFrame) -> Iterator[Event]:
    for row in frame.iter_rows(named=True):
        yield row_to_event(row)


def row_to_event(r: dict[str, Any]) -> Event:
    kind = r["kind"]
    common = {"line": r["line"], "pid": r["pid"], "ts": r["ts"], "source": r["source"]}
    if kind == "syscall":
        return Syscall(
            **common,
            name=r["syscall"],
            args=r["args"] or "",
            ret=r["ret"],
            retval=r["retval"],
            errno=r["errno"],
            errmsg=r["errmsg"],
            ret_target=r["ret_target"],
            end_ts=r["end_ts"],
            duration=r["duration"],
            in_flight=bool(r["in_flight"]),
            end_line=r["end_line"],
            comm=r["comm"],
            nr=r["nr"],
            ip=int(r["ip"], 16) if r["ip"] else None,
            stack=tuple(r["stack"].split("\n")) if r["stack"] else (),
        )
    if kind == "signal":
        return Signal(
            **common,
            signal=r["signal"] or "",
            info=r["info"] or "",
            stopped=bool(r["stopped"]),
            comm=r["comm"],
        )
    if kind == "exit":
        return Exit(**common, status=r["status"], comm=r["comm"])
    if kind == "kill":
        return Kill(
            **common, signal=r["signal"] or "", core_dumped=bool(r["core_dumped"]), comm=r["comm"]
        )
    if kind == "exec":
        return Exec(**common, former_pid=r["former_pid"], comm=r["comm"])
    if kind == "notice":
        return Notice(**common, text=r["text"] or "")
    if kind == "output":
        return Output(**common, text=r["text"] or "")
    return ParseError(
        line=r["line"], text=r["text"] or "", reason=r["errmsg"] or "", source=r["source"]
    )
