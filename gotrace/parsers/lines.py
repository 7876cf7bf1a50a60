"""One strace line -> one record: the per-line reader.

The columnar parser (:mod:`gotrace.parsers.strace`) reads the common forms a whole
column at a time; every line it cannot place with certainty (a ``) = `` inside a
string, a line cut by strace's own message, non-ASCII bytes, the last line of a
killed strace) comes here, where the same grammar is applied with a real scan of
quotes and brackets.
"""

from __future__ import annotations

import re
from typing import Any

from gotrace.parsers import grammar as g

#: record kinds before unfinished/resumed pairs are stitched
RECORD_KINDS = (
    "call",
    "unfinished",
    "resumed",
    "signal",
    "exit",
    "kill",
    "exec",
    "notice",
    "stack",
    "dump",
    "output",
    "blank",
    "error",
)

Record = dict[str, Any]


def split_return(body: str) -> tuple[str, str] | None:
    """Split ``name(args) = ret`` at the last top-level ``) =`` (outside strings and brackets).

    wait4 prints ``[{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL) = 2260``: the ``) ==``
    inside braces is not the return.
    """
    depth = 0
    in_str = False
    last = -1
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if in_str:
            if c == "\\":
                i += 2
                continue
            if c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if c == ")" and depth <= 0:
                j = i + 1
                while j < n and body[j] == " ":
                    j += 1
                if j < n and body[j] == "=" and (j + 1 == n or body[j + 1] == " "):
                    last = i
        i += 1
    if last < 0:
        return None
    return body[:last], body[last:]


def parse_tail(tail: str) -> dict[str, str | None] | None:
    """``) = -1 ENOENT (No such file or directory) <0.000008>`` -> its parts."""
    m = g.RET_TAIL_RE.fullmatch(tail)
    if m is None:
        return None
    return m.groupdict()


def parse_line(text: str) -> Record:
    """Classify one line and pull out its fields. Never raises; an unreadable line
    becomes a record of kind ``error`` with a reason."""
    rec: Record = {"rk": "error", "raw": text}
    if not text.strip():
        rec["rk"] = "blank"
        return rec
    if g.SUMMARY_RE.match(text):
        rec.update(rk="notice", text=text.strip())
        return rec
    stack = g.STACK_RE.match(text)
    if stack:
        rec["rk"] = "stack"
        rec["text"] = stack.group("frame")
        return rec
    if text.startswith((" | ", " * ")):
        dump = g.DUMP_RE.match(text)
        if dump:
            rec.update(rk="dump", text=dump.group("hex").replace(" ", ""))
            return rec
        if g.DUMP_HEADER_RE.match(text):
            rec.update(rk="dump", text="")
            return rec
    lead = g.LEADER_RE.match(text)
    assert lead is not None  # every group in LEADER is optional
    rec.update({k: v for k, v in lead.groupdict().items() if v is not None})
    body = text[lead.end() :]
    _parse_body(body, rec)
    bad = bad_number(rec)
    if bad:
        return {"rk": "error", "raw": text, "reason": f"number out of range: {bad}"}
    return rec


#: the most digits each number may have; more is a damaged line (strace prints a pid_t,
#: 64-bit return values with at most 20 digits with the sign or "0x", an exit status of
#: 0-255, a syscall number)
MAX_DIGITS = {"pid1": 10, "pid2": 10, "former": 10, "ret": 20, "status": 3, "nr": 6}
#: a stamp or duration with more than 10 digits of seconds (past the year 2286) or more
#: than 9 after the point (finer than strace's nanoseconds)
IMPLAUSIBLE_TIME = r"^\d{11}|\.\d{10}"
_IMPLAUSIBLE_TIME_RE = re.compile(IMPLAUSIBLE_TIME)


def bad_number(rec: Record) -> str | None:
    """The first field whose number cannot be real strace output, as ``"pid2 123456..."``;
    ``None`` when all are plausible."""
    for key, most in MAX_DIGITS.items():
        v = rec.get(key)
        if v is not None and len(v) > most:
            return f"{key} {v[:24]}"
    for key in ("num", "rel2", "dur"):
        v = rec.get(key)
        if v is not None and _IMPLAUSIBLE_TIME_RE.search(v):
            return f"{key} {v[:24]}"
    return None


def _parse_body(body: str, rec: Record) -> None:
    if body.startswith("--- "):
        m = g.SIGNAL_RE.match(body)
        if m:
            rec["rk"] = "signal"
            rec["sig"] = m.group("sig") or m.group("stop") or m.group("sig4") or m.group("sig5")
            rec["info"] = m.group("info") or m.group("info4")
            rec["stopped"] = m.group("stop") is not None
            return
    if body.startswith("+++ "):
        m = g.EXIT_RE.match(body)
        if m:
            if m.group("status") is not None:
                rec.update(rk="exit", status=m.group("status"))
            elif m.group("ksig") is not None:
                rec.update(rk="kill", sig=m.group("ksig"), core=m.group("core") is not None)
            else:
                rec.update(rk="exec", former=m.group("former"))
            return
    if g.NOTICE_RE.match(body.strip()):
        rec.update(rk="notice", text=body.strip())
        return
    if body.startswith("> "):
        rec.update(rk="stack", text=body[2:])
        return
    split = g.SPLIT_NOTICE_RE.match(body)
    if split and not body.startswith("strace: "):
        # "clone(...|SIGCHLDstrace: Process 4492 attached": the call goes on as
        # "<... clone resumed>" later; keep its head as an unfinished call.
        head = split.group("head")
        _parse_body(head + g.UNFINISHED_SUFFIX, rec)
        rec["notice"] = split.group("notice")
        return
    resumed = g.RESUMED_HEAD_RE.match(body) or g.BARE_TAIL_RE.match(body)
    if resumed:
        rest = body[resumed.end() :]
        rec["name"] = resumed.groupdict().get("name")
        # The rest closes the call itself: "[{WIFEXITED(s) && ...}], 0, NULL) = 2260", ") = 0".
        parts = split_return(rest)
        if parts is None:
            rec["reason"] = "resumed call without a return value"
            return
        _returned(rec, "resumed", *parts)
        return
    call = g.CALL_HEAD_RE.match(body)
    if call is None:
        rec["reason"] = "not a strace line"
        return
    rec["name"] = call.group("name")
    inner = body[call.end() :]
    for suffix, never in (
        (g.UNFINISHED_NEVER, True),
        (g.UNFINISHED_SUFFIX, False),
        (g.DETACHED_SUFFIX, True),
    ):
        if inner.endswith(suffix):
            rec.update(rk="unfinished", args=inner[: -len(suffix)], never=never)
            return
    parts = split_return(body[call.end() - 1 :])
    if parts is None:
        # "read(3, " with nothing after it: strace died while the call was in flight.
        rec.update(rk="unfinished", args=inner, never=True, truncated=True)
        return
    head, tail = parts
    _returned(rec, "call", head[1:], tail)


def _returned(rec: Record, rk: str, args: str, tail: str) -> None:
    """Fill in a call that returned: its arguments and the parts of ``) = ret``."""
    fields = parse_tail(tail)
    if fields is None:
        rec["reason"] = "unreadable return value"
        return
    rec.update(rk=rk, args=args, **{k: v for k, v in fields.items() if v is not None})


# The last argument of a call whose line the program's output cut: a number, a flag set, a
# string, a structure or array, each optionally with a -y annotation ("3</tmp/x>").
_LAST_TOKEN = re.compile(
    r'0x[0-9a-fA-F]+|-?\d+|NULL|[A-Z][A-Z0-9_]*(?:\|[A-Z0-9_]+)*|"(?:[^"\\]|\\.)*"(?:\.\.\.)?'
)
_WRITE_HEAD = re.compile(
    r"^(?P<fd>-?\d+(?:<" + g.ANNOTATION + r'>)?), (?P<buf>"(?:[^"\\]|\\.)*")(?P<dots>\.\.\.)?, '
)


def splice_cut(args: str) -> int:
    """Where the program's own output starts in the arguments of a call it cut (a log
    captured without ``-o``, the program writing to the same terminal): ``write(1, "c\\n",
    2c`` -> the ``c`` after ``2``. For ``write(fd, "buf", count)`` the count strace printed
    is the buffer's length when the buffer is whole, which tells ``2`` from ``2c`` even when
    the program's text starts with a digit; otherwise the last argument is read as one
    token (a number, flags, a string, a bracketed value) and the rest is the program's."""
    w = _WRITE_HEAD.match(args)
    if w and not w.group("dots"):
        from gotrace.parsers.args import decode_string

        buf = decode_string(w.group("buf"))
        if buf is not None:
            count = str(len(buf.value))
            if args.startswith(count, w.end()):
                return w.end() + len(count)
    start = _last_arg_start(args)
    rest = args[start:]
    if rest[:1] in ("{", "["):
        end = _bracket_end(rest)
        return start + end if end else len(args)
    m = _LAST_TOKEN.match(rest)
    if m is None:
        return start
    end = m.end()
    if rest[end : end + 1] == "<":
        ann = re.match("<" + g.ANNOTATION + ">", rest[end:])
        if ann:
            end += ann.end()
    return start + end


def _scan(text: str) -> tuple[int, int]:
    """One pass over strings and brackets: where the last top-level argument starts (after
    the last ``", "``) and the length of the bracketed value ``text`` starts with (0 when it
    never closes or does not start with a bracket)."""
    depth = 0
    in_str = False
    start = 0
    closed = 0
    i = 0
    while i < len(text):
        c = text[i]
        if in_str:
            if c == "\\":
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0 and not closed:
                closed = i + 1
        elif c == "," and depth == 0 and text.startswith(" ", i + 1):
            start = i + 2
        i += 1
    return start, closed if text[:1] in ("{", "[", "(") else 0


def _last_arg_start(args: str) -> int:
    return _scan(args)[0]


def _bracket_end(text: str) -> int:
    return _scan(text)[1]
