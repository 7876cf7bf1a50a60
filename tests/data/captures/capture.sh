#!/usr/bin/env bash
# capture.sh - regenerate the lab captures the modcache/output analyzer tests read.
#
#   bash tests/data/captures/capture.sh [SCENARIO[-x] ...]
#
# Each scenario runs under real strace with `gotrace lab run NAME --keep DIR` (loopback only;
# see gotrace/lab/scenarios.py); a `-x` suffix adds `--go-x`. Only trace.strace and meta.json
# are kept, in tests/data/captures/NAME/. The lab's temporary workdir
# (/tmp/gotrace-lab-NAME-<8 random>) becomes /tmp/gotrace-lab-NAME-XXXXXXXX in both files:
# same length, so byte counts and -s cuts of strings that quote a path stay consistent.
# gotrace's stdin is /dev/null and its stdout and stderr a pipe, so go's fds 0-2 are the same
# in every capture (stderr-devnull replaces fd 2 with /dev/null itself).
# Run as root so cache-readonly can drop CAP_DAC_OVERRIDE with setpriv.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DEFAULT=(cold-ok cold-ok-x up-to-date lock-held cache-readonly stderr-devnull
	checksum-mismatch killed goproxy-off)
if [ "$#" -gt 0 ]; then NAMES=("$@"); else NAMES=("${DEFAULT[@]}"); fi

TMP=$(mktemp -d /tmp/gotrace-captures.XXXXXXXX)
trap 'rm -rf "$TMP"' EXIT

for name in "${NAMES[@]}"; do
	scenario=${name%-x}
	flags=()
	[ "$scenario" != "$name" ] && flags=(--go-x)
	keep=$TMP/$name
	echo "== $name" >&2
	# The lab exits with go's status (or 128+signal); a failing scenario is the point.
	gotrace lab run "$scenario" --keep "$keep" --force "${flags[@]}" </dev/null 2>&1 | cat >"$TMP/$name.log" || true
	if [ ! -s "$keep/trace.strace" ] || [ ! -s "$keep/meta.json" ]; then
		echo "capture.sh: $name: no capture (see below)" >&2
		cat "$TMP/$name.log" >&2
		exit 1
	fi
	mkdir -p "$HERE/$name"
	python3 - "$keep" "$HERE/$name" <<'EOF'
import json, re, sys
from pathlib import Path

src, dest = Path(sys.argv[1]), Path(sys.argv[2])
workdir = json.loads((src / "meta.json").read_text())["lab"]["workdir"]
stem = workdir[:-8]
# mkdtemp's random tail is 8 of [a-z0-9_]; a string strace cut at -s may hold fewer.
pattern = re.compile(re.escape(stem) + r"[a-z0-9_]{1,8}")

def norm(text: str) -> str:
    return pattern.sub(lambda m: stem + "X" * (len(m.group()) - len(stem)), text)

for name in ("trace.strace", "meta.json"):
    text = (src / name).read_text(encoding="utf-8", errors="surrogateescape")
    (dest / name).write_text(norm(text), encoding="utf-8", errors="surrogateescape")
print(f"{dest.name}: {(dest / 'trace.strace').stat().st_size // 1024} KiB", file=sys.stderr)
EOF
done
