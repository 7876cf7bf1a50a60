#!/usr/bin/env bash
# Install the Debian packages gotrace's tests (or, given names, just those) need, when
# their commands are missing. Idempotent and quiet when everything is there already.
#   bash tools/debian-deps.sh            # everything the test suite uses
#   bash tools/debian-deps.sh strace     # only strace (the Quickstart's main job)
set -euo pipefail

# package -> the command that shows it is installed
declare -A probe=(
    [strace]=strace
    [iproute2]=ip
    [chromium]=chromium
    [util-linux]=setpriv
    [git]=git
    [openssl]=openssl
    [procps]=ps
    [bpftrace]=bpftrace
)
wanted=("$@")
[ "${#wanted[@]}" -gt 0 ] || wanted=(strace iproute2 chromium util-linux git openssl procps bpftrace)

need=()
for pkg in "${wanted[@]}"; do
    cmd=${probe[$pkg]:-$pkg}
    command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
[ "${#need[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "tools/debian-deps.sh: missing ${need[*]}; run as root or: sudo apt-get install ${need[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
