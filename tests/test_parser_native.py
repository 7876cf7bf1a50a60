"""The compiled core of the strace parser (gotrace/parsers/_fastparse.c) and the pure-Python
path give the same events: on every strace log under tests/data and sample_traces (whole,
and in small chunks so that pairs and cut lines straddle the chunk boundaries), on lines
damaged the ways the fuzz test damages them, and on lines the core must hand back.

The core is optional (it is built when a C compiler is there); without it these tests skip
and the pure path is the only one. ``GOTRACE_PURE_PARSER=1`` makes a process use the pure
path even when the core is built; CI runs the other parser tests with the core only, so
these comparisons are what holds the pure path to the same events."""

from __future__ import annotations

import io
import itertools
import threading
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import DATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from test_parser_fuzz import damaged

from gotrace.parsers import strace as sp
from gotrace.parsers.base import file_kind
from gotrace.parsers.strace import _ArrowCapsules
from gotrace.redact import KEYWORD_NEEDS, KEYWORDS

ROOT = Path(__file__).resolve().parent.parent

try:
    from gotrace.parsers import _fastparse
except ImportError:  # pragma: no cover - the core was not built here
    _fastparse = None  # type: ignore[assignment]

needs_core = pytest.mark.skipif(_fastparse is None, reason="the compiled core is not built")


def _logs() -> list[Path]:
    found = []
    for folder in (ROOT / "tests" / "data", ROOT / "sample_traces"):
        for p in sorted(folder.rglob("*")):
            skip = p.suffix in (".parquet", ".json", ".sh", ".md", ".py", ".tsv")
            if p.is_file() and not skip and "dtruss" not in p.parts and file_kind(p) == "strace":
                found.append(p)
    return found


LOGS = _logs()


def _examples(n: int) -> Any:
    """Hypothesis settings for these tests: n examples, no deadline (each parses a log
    both ways), the monkeypatch fixture shared between examples (each sets what it
    patches before it parses)."""
    return settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def both(source: object, chunk_lines: int, monkeypatch: pytest.MonkeyPatch) -> list[pl.DataFrame]:
    """The events frame from the core and from the pure path."""
    out = []
    for native in (_fastparse, None):
        monkeypatch.setattr(sp, "native", native)
        src = io.BytesIO(source) if isinstance(source, bytes) else source
        if isinstance(src, io.StringIO):
            src.seek(0)
        frames = list(sp.parse_frames(src, chunk_lines=chunk_lines))  # type: ignore[arg-type]
        out.append(pl.concat(frames) if frames else pl.DataFrame())
    return out


def test_the_logs_are_found() -> None:
    assert len(LOGS) > 100


@needs_core
def test_every_log_parses_the_same_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    placed = 0
    for log in LOGS:
        fast, pure = both(log, 100_000, monkeypatch)
        assert_frame_equal(fast, pure, check_exact=True)
        placed += fast.height
    assert placed > 10_000


@needs_core
def test_logs_in_small_chunks_parse_the_same_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    # a text stream is cut every chunk_lines lines: pairs, hexdumps and cut calls straddle
    # the cuts (a file is cut in blocks of at least 64 KB)
    logs = [p for p in LOGS if p.parent.name == "strace" and p.stat().st_size < 60_000]
    assert len(logs) > 50
    for log in logs:
        text = log.read_bytes().decode("utf-8", "replace")
        fast, pure = both(io.StringIO(text), 40, monkeypatch)
        assert_frame_equal(fast, pure, check_exact=True)


@needs_core
def test_the_core_places_the_common_forms() -> None:
    text = (DATA / "go_mod_download.strace").read_bytes()
    got = _fastparse.classify(text, 1)
    assert got is not None
    _, line_nos, _, n = got
    assert n == text.count(b"\n")
    assert len(line_nos) < n / 100  # nearly every line is placed by the core


@needs_core
@pytest.mark.parametrize(
    "line",
    [
        # a second ") =" inside a string, an annotation that nests, a 4.x signal, an -i pointer,
        # non-ASCII, a number out of range, spaces before the stamp, a wait4 with "==" inside
        '12 1.000001 write(1, "a) = 3", 6) = 6 <0.000001>',
        '12 1.000001 read(0</dev/null<char 1:3>>, "", 1) = 0 <0.000001>',
        "12 1.000001 connect(3<TCP:[1->2]>, {}, 16) = -1 EINPROGRESS (Operation now in progress) <0.1>",
        "12 1.000001 --- SIGCHLD (Child exited) @ 0 (0) ---",
        "12 1.000001 [00007fe34819bad7] getpid() = 12",
        '12 1.000001 write(1, "\u00e9", 2) = 2 <0.000001>',
        "12 123456789012.000001 getpid() = 12 <0.000001>",
        "12 1.000001 getpid() = 123456789012345678901234 <0.000001>",
        "12 1.000001 getpid() = 12 <0.0000000000001>",
        "12  1.000001 getpid() = 12",
        "12 1.000001 wait4(-1, [{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL) = 13",
        "12 1.000001 poll([{fd=3, events=POLLIN}], 1, 0) = 0 (Timeout) <0.000004>",
        "12 1.000001 read(3, 0xc0, 8) = ? <unavailable>",
        "12 1.000001 nanosleep({tv_sec=1, tv_nsec=0}, <unfinished ...>) = ?",
        "12 1.000001 <... nanosleep resumed> <unfinished ...>) = ?",
        "12 1.000001 futex(0x1, FUTEX_WAIT_PRIVATE, 0, NULL <detached ...>",
        "12 1.000001 +++ killed by SIGKILL (core dumped) +++",
        "12 1.000001 +++ superseded by execve in pid 13 +++",
        "12 1.000001 --- stopped by SIGSTOP ---",
        "12 1.000001 --- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL} ---",
        "12 1.000001 exit_group(0) = ?",
        "12 1.000001 mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, -1, 0) = 0x7f2ae1435000 <0.000009>",
        "12 1.000001 ???() = -1 ENOSYS (Function not implemented)",
        "12 1.000001 restart_syscall(<... resuming interrupted read ...>) = 0",
        "12 1.000001 getpid() =5",
        "12 1.000001 getpid(",
        "",
        # numbers at the edges of what polars reads (returns, stamps, durations)
        "12 1700000000.123456 lseek(3, 0, SEEK_END) = 0x7fffffffffffffff <0.5>",
        "12 1700000000.123456 lseek(3, 0, SEEK_END) = 0xffffffffffffffff <0.5>",
        "12 1700000000.123456 lseek(3, 0, SEEK_END) = 0xFFff <0.5>",
        "12 1700000000.123456 lseek(3, 0, SEEK_END) = -9223372036854775808 <0.5>",
        "12 1700000000.123456 lseek(3, 0, SEEK_END) = 9223372036854775808 <0.5>",
        "12 1700000000.123456 lseek(3, 0, SEEK_END) = 0x <0.5>",
        "12 1700000000.123456 lseek(3, 0, SEEK_END) = 0x-5 <0.5>",
        "12 9999999999.999999 getpid() = 0012 <123456789.123456789>",
        "12 1.000001 getpid() = 12 <12345678901234.1>",
        "12 0.000000 getpid() = 12 <0>",
    ],
)
def test_single_lines_parse_the_same_both_ways(line: str, monkeypatch: pytest.MonkeyPatch) -> None:
    text = f"12 1.000000 getpid() = 12 <0.000001>\n{line}\n12 1.000002 getpid() = 12\n"
    fast, pure = both(text.encode(), 100_000, monkeypatch)
    assert_frame_equal(fast, pure, check_exact=True)


@needs_core
@_examples(60)
@given(bad=damaged(), chunk_lines=st.sampled_from([2, 100_000]))
def test_damaged_lines_parse_the_same_both_ways(
    bad: tuple[str, int], chunk_lines: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = f"12 1.000000 getpid() = 12 <0.000001>\n{bad[0]}\n12 9.000002 getpid() = 12\n"
    fast, pure = both(text.encode(), chunk_lines, monkeypatch)
    assert_frame_equal(fast, pure, check_exact=True)


@needs_core
@_examples(300)
@given(
    ann=st.one_of(
        st.text(alphabet="-<>aaaa,:[]1 ", max_size=40),  # (past 16: the core reads 16 a step)
        st.sampled_from(["a->,b", "a<b->c>", "TCP:[1->2]", "/x<y<z>>", "a->b", "a-", "<a>", "a>"]),
    ),
    rest=st.sampled_from(["", ", 1", "x, 1", ">, 2", "->, 3"]),
)
def test_the_first_fd_reads_the_same_both_ways(
    ann: str, rest: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the core reads the annotation of a first fd argument the way the regex's first path
    # does (nested <...>, "->" inside socket endpoints) or leaves the row to the regex
    line = f"12 1.000001 read(3<{ann}>{rest}) = 0 <0.000001>"
    text = f"12 1.000000 getpid() = 12 <0.000001>\n{line}\n12 1.000002 getpid() = 12\n"
    fast, pure = both(text.encode(), 100_000, monkeypatch)
    assert_frame_equal(fast, pure, check_exact=True)


def test_the_next_block_is_read_ahead_and_errors_reach_the_reader(tmp_path: Path) -> None:
    # the blocks are read and classified in a thread, one ahead: what goes wrong there
    # (a file that cannot be read) is raised where the events are read
    with pytest.raises(FileNotFoundError):
        list(sp.parse_frames(tmp_path / "missing.strace"))
    log = tmp_path / "t.strace"
    log.write_text("".join(f"1 {i}.000000 getpid() = 1\n" for i in range(1, 20_000)))
    frames = sp.parse_frames(log, chunk_lines=1)
    first = next(frames)
    frames.close()  # stopping early stops the thread
    assert first.height >= 1
    assert not [t for t in threading.enumerate() if t.name == "gotrace-parse-ahead"]


SECRETS = (
    '100 1700000000.000001 write(3<TCP:[127.0.0.1:1->127.0.0.1:2]>, "GET / HTTP/1.1\\r\\n'
    'AUTHORIZATION: Bearer abc\\r\\n", 40) = 40 <0.000010>\n'
    '100 1700000000.000002 execve("/bin/git", ["git"], ["GITHUB_ToKeN=xyz"]) = 0 <0.000100>\n'
    "100 1700000000.000003 getpid() = 100 <0.000001>\n"
    '101 1700000000.000004 openat(AT_FDCWD, "/root/.netrc", O_RDONLY) = 5</root/.netrc> <0.00001>\n'
    "101 1700000000.000005 read(5</root/.netrc>, <unfinished ...>\n"
    "100 1700000000.000006 getpid() = 100 <0.000001>\n"
    '101 1700000000.000007 <... read resumed>"machine h login u Password p", 4096) = 28 <0.1>\n'
    '100 1700000000.000008 write(4, "https://bob:s3cret@git.corp/x", 29) = 29 <0.000010>\n'
    '102 1700000000.000009 write(2, "x-api-KEY: 1", 12) = 12 <0.000010>\n'
    "102 1700000000.000010 close(4) = 0 <0.000001>\n"
)
SECRET_LINES = {1, 2, 4, 5, 7, 8, 9}  # a keyword in the line (either case), /.netrc too


@needs_core
def test_the_core_marks_the_lines_that_hold_a_keyword(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sp, "native", _fastparse)
    rec, n = sp._records(SECRETS.encode(), 1, 0)
    assert n == 10 and rec.height == 10
    marked = set(rec.filter(pl.col("secret"))["line"])
    assert marked == SECRET_LINES
    # merged inside the block: the resumed half's mark goes to the call
    rec, _ = sp._records(SECRETS.encode(), 1, 1)
    read = rec.filter(pl.col("name") == "read").row(0, named=True)
    assert (read["rk"], read["end_line"], read["secret"]) == ("call", 7, True)


def _holds_keyword(line: str) -> bool:
    """A keyword in the line, with what KEYWORD_NEEDS says must follow it."""
    low = line.lower()
    for k in KEYWORDS:
        need, stop = KEYWORD_NEEDS.get(k, ("", ""))
        at = low.find(k)
        while at >= 0:
            after = low[at + len(k) :]
            if not need or need in after.split(stop, 1)[0]:
                return True
            at = low.find(k, at + 1)
    return False


@needs_core
@_examples(200)
@given(
    texts=st.lists(
        st.lists(
            st.one_of(
                st.text(alphabet="aCcKkrRSsTtOoWwIiZz:/-_ey@", max_size=20),
                st.sampled_from(["https://u:t@h/", "https://h/m/@v/", "://@", ":///@"]),
                st.sampled_from(KEYWORDS).map(lambda w: w[:-1]),  # a keyword cut short
                st.tuples(st.sampled_from(KEYWORDS), st.randoms()).map(
                    lambda p: "".join(c.upper() if p[1].random() < 0.5 else c for c in p[0])
                ),
            ),
            max_size=5,
        ).map("".join),
        min_size=1,
        max_size=6,
    )
)
def test_the_core_marks_exactly_the_lines_that_hold_a_keyword(texts: list[str]) -> None:
    # keywords in any case, anywhere in a line (across the core's 16-byte steps, at the
    # block's very end), cut short, or next to bytes of their pairs
    lines = [f'12 1.{i:06d} write(1, "{t}", {len(t)}) = {len(t)}' for i, t in enumerate(texts)]
    rec, n = sp._records("\n".join(lines).encode(), 1, 0)
    assert n == rec.height == len(lines)
    want = [_holds_keyword(line) for line in lines]
    assert rec.sort("line")["secret"].to_list() == want
    # anchors the fast scan has no room for (a byte each, more than its slots): the slow way
    many = tuple((w, 0, 1, need, stop) for w, _, _, need, stop in sp._KEYWORD_ANCHORS)
    got = _fastparse.classify("\n".join(lines).encode(), 1, 0, many)
    assert got is not None
    marks = pl.Series(_ArrowCapsules(got[0])).struct.unnest().sort("line")["secret"]
    assert marks.to_list() == want


@needs_core
@pytest.mark.parametrize("chunk_lines", [1, 3, 100_000])
def test_secrets_are_redacted_while_parsing_as_after_it(
    chunk_lines: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gotrace.redact import MASK, redact_frame

    for native in (_fastparse, None):
        monkeypatch.setattr(sp, "native", native)
        raw = pl.concat(list(sp.parse_frames(io.StringIO(SECRETS), chunk_lines=chunk_lines)))
        after = redact_frame(raw)
        frames = sp.parse_frames(io.StringIO(SECRETS), chunk_lines=chunk_lines, redact=True)
        during = pl.concat(list(frames))
        assert_frame_equal(during, after, check_exact=True)
        text = " ".join(during["args"].drop_nulls())
        for secret in ("abc", "xyz", "s3cret", "Password p", '"x-api-KEY: 1"'):
            assert secret not in text, (native, secret)
        assert text.count(MASK) == 5


@needs_core
def test_every_log_is_redacted_while_parsing_as_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from gotrace.redact import TEXT_COLUMNS, _keyword_rows, redact_frame

    keyword_rows = 0  # rows that go through the rules (URLs, mostly: "://")
    for log in LOGS:
        for native in (_fastparse, None):
            monkeypatch.setattr(sp, "native", native)
            raw = pl.concat(list(sp.parse_frames(log)))
            after = redact_frame(raw)
            during = pl.concat(list(sp.parse_frames(log, redact=True)))
            assert_frame_equal(during, after, check_exact=True)
        keyword_rows += int(_keyword_rows(raw, list(TEXT_COLUMNS)).sum())
    assert keyword_rows > 100


@needs_core
@pytest.mark.parametrize(
    "special", [b"", b"\r", b"\x1f", b"\xef\xbb\xbf"], ids=["plain", "cr", "us", "bom"]
)
def test_a_file_is_read_through_a_mapping_as_a_stream_would_be_read(
    special: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A regular file's blocks are ranges the core maps; it declines those holding what
    split_lines treats specially (a CR, 0x1f, a byte-order mark), and when it cannot map
    a file the range is read: every way, the events of the same bytes as a stream."""
    lines = (DATA / "go_mod_download.strace").read_bytes().splitlines(keepends=True)
    if special == b"\xef\xbb\xbf":
        data = special + b"".join(lines)
    else:
        data = (
            b"".join(lines[:500])
            + lines[500].replace(b"\n", special + b"\n")
            + b"".join(lines[501:])
        )
    log = tmp_path / "t.strace"
    log.write_bytes(data)
    ranges: list[tuple[int, int, int]] = []

    class Counting:
        @staticmethod
        def classify(block: object, *args: object) -> object:
            if isinstance(block, tuple):
                ranges.append(block)
            return _fastparse.classify(block, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(sp, "native", Counting)
    mapped = pl.concat(list(sp.parse_frames(log, chunk_lines=400))).drop("source")
    # the blocks were ranges, end to end
    assert len(ranges) > 3 and ranges[0][1] == 0
    assert all(a[1] + a[2] == b[1] for a, b in itertools.pairwise(ranges))
    assert ranges[-1][1] + ranges[-1][2] == len(data)
    streamed = pl.concat(list(sp.parse_frames(io.BytesIO(data), chunk_lines=400))).drop("source")
    assert_frame_equal(mapped, streamed, check_exact=True)
    assert mapped.height > 1000

    class Unmappable:
        @staticmethod
        def classify(block: object, *args: object) -> object:
            if isinstance(block, tuple):
                raise OSError(19, "No such device")
            return _fastparse.classify(block, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(sp, "native", Unmappable)
    read = pl.concat(list(sp.parse_frames(log, chunk_lines=400))).drop("source")
    assert_frame_equal(read, streamed, check_exact=True)


def test_the_ranges_of_a_file_end_at_its_lines_and_at_its_end(tmp_path: Path) -> None:
    data = b"".join(b"%d 1700000000.000001 getpid() = %d\n" % (i, i) for i in range(20_000))
    log = tmp_path / "t.strace"
    log.write_bytes(data + b"7 1700000000.000002 getpid(")  # a last line without newline
    size = log.stat().st_size
    with open(log, "rb") as fh:
        ranges = list(sp._file_ranges(fh.fileno(), size, 1))
        assert ranges[0].start == 0 and ranges[-1].end == size
        assert all(a.end == b.start for a, b in itertools.pairwise(ranges))
        assert all(r.read()[-1:] == b"\n" for r in ranges[:-1])
        # a file that became shorter than its size said: the ranges stop at its end
        cut = list(sp._file_ranges(fh.fileno(), size + 10**6, 1))
        assert cut[-1].end == size and len(cut) == len(ranges)
