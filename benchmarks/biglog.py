"""Build a big strace log out of real captures, for the parse benchmarks.

The sources are real ``strace -f -ttt -T -yy -s 256`` captures of ``go mod download``
(tests/data/strace/go_mod_download*.strace). They are repeated, alternating, until the
log has about the wanted number of lines. Each copy gets:

- its timestamps shifted so the whole log keeps increasing (a 1 ms gap between copies),
- its pids shifted by ``copy * stride`` (stride: the pid span of all sources, rounded
  up to a hundred) so that the ``<unfinished ...>`` and
  ``<... resumed>`` halves of different copies can never be paired with each other.

Only the leader (pid and timestamp) is rewritten; the rest of every line is kept
byte-identical. Whole copies are written, so the line count is the first multiple of
a copy at or above the wanted number.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = (
    ROOT / "tests/data/strace/go_mod_download.strace",
    ROOT / "tests/data/strace/go_mod_download_http.strace",
)
GAP_US = 1000

_LEADER = re.compile(rb"^(\d+)( +)(\d+)\.(\d{6}) (.*)$", re.DOTALL)


@dataclass
class Template:
    """One source log split into leaders (pid, microseconds) and the untouched rest."""

    pids: list[int]
    seps: list[bytes]
    micros: list[int]
    rests: list[bytes]
    first_us: int
    last_us: int
    min_pid: int
    max_pid: int
    name: str
    sha256: str

    @property
    def lines(self) -> int:
        return len(self.rests)


def load_template(path: Path) -> Template:
    pids: list[int] = []
    seps: list[bytes] = []
    micros: list[int] = []
    rests: list[bytes] = []
    data = path.read_bytes()  # one read: the file may be recaptured while we run
    raws = data.split(b"\n")
    if raws and raws[-1] == b"":
        raws.pop()
    for n, raw in enumerate(raws, 1):
        m = _LEADER.match(raw)
        if m is None:
            raise ValueError(f"{path}:{n}: no '-f -ttt' leader: {raw[:80]!r}")
        pids.append(int(m[1]))
        seps.append(m[2])
        micros.append(int(m[3]) * 1_000_000 + int(m[4]))
        rests.append(m[5] + b"\n")
    return Template(
        pids,
        seps,
        micros,
        rests,
        min(micros),
        max(micros),
        min(pids),
        max(pids),
        path.name,
        hashlib.sha256(data).hexdigest()[:12],
    )


@dataclass
class Built:
    lines: int
    copies: int
    sources: str  # "name (N lines, sha256 abc...)", ...


def build_log(dest: Path, lines: int) -> Built:
    """Write a log of about ``lines`` lines to ``dest``."""
    templates = [load_template(p) for p in SOURCES]
    lo = min(t.min_pid for t in templates)
    hi = max(t.max_pid for t in templates)
    stride = (hi - lo) // 100 * 100 + 100  # > hi - lo: the pid ranges of copies are disjoint
    written = 0
    copy = 0
    next_start_us = templates[0].first_us
    with open(dest, "wb", buffering=1 << 22) as out:
        while written < lines:
            t = templates[copy % len(templates)]
            dt = next_start_us - t.first_us
            dp = copy * stride
            buf = [
                b"%d%s%d.%06d %s"
                % (pid + dp, sep, (us + dt) // 1_000_000, (us + dt) % 1_000_000, rest)
                for pid, sep, us, rest in zip(t.pids, t.seps, t.micros, t.rests, strict=True)
            ]
            out.writelines(buf)
            written += t.lines
            next_start_us = t.last_us + dt + GAP_US
            copy += 1
    sources = ", ".join(f"{t.name} ({t.lines} lines, sha256 {t.sha256})" for t in templates)
    return Built(written, copy, sources)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dest", type=Path)
    ap.add_argument("--lines", type=int, default=1_000_000)
    a = ap.parse_args()
    b = build_log(a.dest, a.lines)
    print(f"{b.lines} lines ({b.copies} copies of {b.sources}) -> {a.dest}")
