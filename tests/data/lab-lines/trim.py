"""Keep the lines of a lab capture the analyzer tests need (see README.md here):
``python3 trim.py TRACE PID[,PID...] > OUT``."""

from __future__ import annotations

import re
import sys

TREE = {"execve", "clone", "clone3", "vfork", "fork", "wait4", "waitid", "exit_group"}
NET = {"socket", "connect", "dup", "write", "read", "poll", "ppoll", "close", "getsockopt"}
HEAD = re.compile(r"^(\d+) [\d.]+ (?:<\.\.\. )?(\w+)")


def main(path: str, pids: set[str]) -> None:
    with open(path) as trace:
        lines = trace.readlines()
    for line in lines:
        if re.match(r"^\d+ [\d.]+ (\+\+\+|---)", line):
            sys.stdout.write(line)
            continue
        m = HEAD.match(line)
        if m is None:
            continue
        pid, name = m.groups()
        if name in TREE:
            sys.stdout.write(line)
        elif pid in pids and name in NET:
            if name in ("write", "read", "close") and "TCP" not in line:
                continue
            sys.stdout.write(line)


if __name__ == "__main__":
    main(sys.argv[1], set(sys.argv[2].split(",")))
