"""The baseline: a plain per-line Python regex over an strace log.

Reads the log line by line and matches ONE regex per line that extracts pid,
timestamp, syscall name, args, return value, errno and duration of the
``-f -ttt -T -yy`` form::

    23113 1795968405.716221 openat(AT_FDCWD</x>, "/a", O_RDONLY) = 3</a> <0.000012>

It counts the lines that match and builds nothing else, so it is a lower bound on
what any per-line Python parser costs. The one regex has an alternative for each form
these captures hold (a complete call, an ``<unfinished ...>`` head, a
``<... name resumed>`` tail, a ``---``/``+++`` line), so nearly every line matches and
the baseline does the same amount of matching a parser must do; nothing is stitched.

    python3 benchmarks/baseline_regex.py big.strace
"""

from __future__ import annotations

import re
import sys
import time

RET = (
    r"(?P<ret{n}>\?|-?\d+|0x[0-9a-fA-F]+)(?:<.*?>)?"
    r"(?: (?P<errno{n}>E[A-Z0-9_]+) \([^()]*\))?"
    r"(?: \(.*\))?"
    r"(?: <(?P<dur{n}>\d+\.\d+)>)?$"
)
LINE = re.compile(
    r"^(?P<pid>\d+) +(?P<ts>\d+\.\d+) (?:"
    r"(?P<name>[a-z_][a-z0-9_]*|\?\?\?)\((?:(?P<head>.*) <unfinished \.\.\.>$|(?P<args>.*)\) += "
    + RET.format(n=1)
    + ")"
    r"|<\.\.\. (?P<rname>\S+) resumed>(?P<rargs>.*)\) += " + RET.format(n=2) + ""
    r"|(?P<other>(?:---|\+\+\+) .*)$)"
)


def count(path: str) -> tuple[int, int]:
    lines = matched = 0
    match = LINE.match
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            lines += 1
            if match(line) is not None:
                matched += 1
    return lines, matched


def main() -> None:
    t0 = time.perf_counter()
    lines, matched = count(sys.argv[1])
    dt = time.perf_counter() - t0
    print(f"lines={lines} matched={matched} seconds={dt:.3f}")


if __name__ == "__main__":
    main()
