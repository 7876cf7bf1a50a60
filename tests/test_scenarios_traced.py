"""What each lab scenario's trace shows, asserted on the events table and meta.json.

Every scenario runs once live, with real go under real strace (``gotrace lab run NAME
--keep DIR``, loopback only); the same checks then hold for the committed captures in
sample_traces/, which must also parse without errors, match their events.parquet, and
leak nothing of the machine that made them.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest
from conftest import LabCapture

import gotrace
from gotrace.analyzers.processes import process_table, thread_groups
from gotrace.errors import GotraceError
from gotrace.lab import SCENARIOS
from gotrace.lab.gotool import find_go
from gotrace.parsers.args import decode_string, split_args

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_traces"
SAMPLE_DIRS = sorted(p.parent for p in SAMPLES.glob("*/meta.json"))
#: the modules every lab scenario's app requires (gotrace.lab builds three)
MODULES = {"example.com/dep0", "example.com/dep1", "example.com/dep2"}
X_SAMPLES = {"proxy-stall-x", "cold-ok-x", "tls-proxy-stall-x"}
#: scenarios with no committed sample (too large): sample_traces/capture.py's NOT_KEPT
NOT_KEPT = {"scale-stall"}

needs_strace = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")


# -- reading a capture -------------------------------------------------------------------------
@dataclass
class Capture:
    """One capture directory: the events table and meta.json."""

    ev: pl.DataFrame
    meta: dict[str, Any]
    path: Path | None = None
    #: what ``gotrace lab run`` printed, for a live run (None for a committed sample)
    live_stderr: str | None = None

    @property
    def root(self) -> int:
        """go's pid: the first line's (meta's root_pid is null when go ended very fast)."""
        return int(self.ev.sort("line")["pid"][0])

    @property
    def proxy_ports(self) -> list[int]:
        return [int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", self.meta["env"]["GOPROXY"])]

    @property
    def sumdb_port(self) -> int:
        return int(re.findall(r"127\.0\.0\.1:(\d+)", self.meta["env"]["GOSUMDB"])[0])

    @property
    def gomodcache(self) -> str:
        return str(self.meta["env"]["GOMODCACHE"])


def load_capture(d: Path) -> Capture:
    return Capture(
        pl.read_parquet(d / "events.parquet"), json.loads((d / "meta.json").read_text()), d
    )


def calls(ev: pl.DataFrame, *names: str) -> pl.DataFrame:
    return ev.filter((pl.col("kind") == "syscall") & pl.col("syscall").is_in(names))


def connects(ev: pl.DataFrame, port: int) -> pl.DataFrame:
    return calls(ev, "connect").filter(
        pl.col("args").str.contains(f"sin_port=htons({port}),", literal=True)
    )


def to_port(ev: pl.DataFrame, port: int) -> pl.DataFrame:
    """Events on connected TCP sockets to 127.0.0.1:port (``-yy``: ``TCP:[a:p->b:q]``)."""
    return ev.filter(pl.col("fd_target").str.ends_with(f"->127.0.0.1:{port}]").fill_null(False))


def requests(ev: pl.DataFrame, path: str) -> pl.DataFrame:
    """HTTP requests written to a TCP socket; ``path`` is a regex."""
    return calls(ev, "write").filter(
        pl.col("fd_target").str.starts_with("TCP:").fill_null(False)
        & pl.col("args").str.contains(f'"GET {path} HTTP/1\\.1')
    )


def data_reads(ev: pl.DataFrame, conn: str, after: int = 0) -> pl.DataFrame:
    """Reads on the socket ``conn`` after line ``after`` that returned bytes."""
    return calls(ev, "read", "recvfrom", "recvmsg", "readv").filter(
        (pl.col("fd_target") == conn) & (pl.col("line") > after) & (pl.col("retval") > 0)
    )


def buffer(args: str) -> bytes:
    """The decoded buffer of ``read(fd, "...", n)`` / ``write(fd, "...", n)``."""
    s = decode_string(split_args(args)[1])
    assert s is not None, args
    return s.value


def fd2_writes(ev: pl.DataFrame) -> pl.DataFrame:
    return calls(ev, "write").filter(pl.col("fd") == 2)


def stderr_text(ev: pl.DataFrame) -> str:
    return "".join(buffer(a).decode("utf-8", "replace") for a in fd2_writes(ev)["args"])


def renames(ev: pl.DataFrame) -> list[tuple[str, str]]:
    """(from, to) of every successful renameat/renameat2/rename."""
    out = []
    for syscall, args in (
        calls(ev, "rename", "renameat", "renameat2")
        .filter(pl.col("retval") == 0)
        .select("syscall", "args")
        .iter_rows()
    ):
        parts = split_args(args)
        src, dst = (parts[0], parts[1]) if syscall == "rename" else (parts[1], parts[3])
        a, b = decode_string(src), decode_string(dst)
        assert a is not None and b is not None, args
        out.append((a.text(), b.text()))
    return out


def zips_renamed(cap: Capture) -> set[str]:
    """Modules whose ``v1.0.0.zip<random>.tmp`` was renamed to ``v1.0.0.zip`` in the cache."""
    prefix = re.escape(cap.gomodcache + "/cache/download/")
    rx = re.compile(prefix + r"(.+)/@v/v1\.0\.0\.zip\d+\.tmp")
    found = set()
    for src, dst in renames(cap.ev):
        m = rx.fullmatch(src)
        if m and dst == src[: src.index(".zip") + 4]:
            found.add(m.group(1))
    return found


def assert_exited(cap: Capture, status: int) -> None:
    assert cap.meta["exit_status"] == status and cap.meta["signal"] is None
    exits = cap.ev.filter((pl.col("kind") == "exit") & (pl.col("pid") == cap.root))
    assert exits["status"].to_list() == [status]


def assert_sigkilled(cap: Capture) -> None:
    """The lab's outer timeout killed go with SIGKILL: no exit_group ran."""
    assert cap.meta["signal"] == "SIGKILL" and cap.meta["exit_status"] == 128 + 9
    assert cap.meta["timed_out"] is True
    kills = cap.ev.filter((pl.col("kind") == "kill") & (pl.col("pid") == cap.root))
    assert kills["signal"].to_list() == ["SIGKILL"]
    assert cap.ev.filter(pl.col("kind") == "exit").height == 0
    assert calls(cap.ev, "exit_group").height == 0


def assert_silent(cap: Capture) -> None:
    assert calls(cap.ev, "write", "writev").filter(pl.col("fd").is_in([1, 2])).height == 0


def assert_no_network(cap: Capture) -> None:
    assert calls(cap.ev, "socket", "connect").height == 0


# -- what each scenario's trace shows ----------------------------------------------------------
def check_up_to_date(cap: Capture) -> None:
    assert_exited(cap, 0)
    assert_no_network(cap)
    assert_silent(cap)
    assert renames(cap.ev) == []  # nothing new lands in the cache
    # every module answered from the cache: its .mod opened under GOMODCACHE
    mod = re.compile(re.escape(cap.gomodcache) + r"/cache/download/(.+)/@v/v1\.0\.0\.mod")
    opened = calls(cap.ev, "openat").filter(pl.col("retval") >= 0)["ret_target"].to_list()
    assert {m.group(1) for t in opened if (m := mod.fullmatch(t))} == MODULES


def check_cold_ok(cap: Capture) -> None:
    assert_exited(cap, 0)
    (port,) = cap.proxy_ports
    assert connects(cap.ev, port)["errno"].to_list()[0] == "EINPROGRESS"
    for ext in ("mod", "info", "zip"):
        got = requests(to_port(cap.ev, port), rf"/example\.com/dep\d/@v/v1\.0\.0\.{ext}")
        assert got.height == 3, ext
    assert zips_renamed(cap) == MODULES
    assert fd2_writes(cap.ev).height == 0 or cap.meta["argv"][-1] == "-x"


def check_proxy_stall(cap: Capture) -> None:
    assert_sigkilled(cap)
    (port,) = cap.proxy_ports
    assert connects(cap.ev, port).height >= 1
    (get,) = requests(to_port(cap.ev, port), r"/example\.com/dep1/@v/v1\.0\.0\.zip").rows(
        named=True
    )
    # the request went out, and not one byte came back on that connection
    assert data_reads(cap.ev, get["fd_target"], after=get["line"]).height == 0
    # the other modules' zips came back on the other connection
    assert zips_renamed(cap) == MODULES - {"example.com/dep1"}


def check_body_stall(cap: Capture) -> None:
    assert_sigkilled(cap)
    (port,) = cap.proxy_ports
    (get,) = requests(to_port(cap.ev, port), r"/example\.com/dep1/@v/v1\.0\.0\.zip").rows(
        named=True
    )
    conn = get["fd_target"]
    reads = data_reads(cap.ev, conn, after=get["line"]).sort("line")
    head = buffer(reads["args"][0])
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    m = re.search(rb"Content-Length: (\d+)", head)
    assert m is not None, head
    length = int(m.group(1))
    body = int(reads["retval"].sum()) - (head.index(b"\r\n\r\n") + 4)
    assert body == 4096 < length  # the lab's partial body, then nothing
    last = cap.ev.filter(pl.col("fd_target") == conn).sort("line").row(-1, named=True)
    assert last["syscall"] == "read" and (last["errno"] == "EAGAIN" or last["in_flight"])
    assert "example.com/dep1" not in zips_renamed(cap)


def check_slow_proxy(cap: Capture) -> None:
    assert_exited(cap, 0)
    assert_silent(cap)
    (port,) = cap.proxy_ports
    gets = requests(to_port(cap.ev, port), r"/example\.com/dep\d/@v/v1\.0\.0\.zip")
    assert gets.height == 3
    after = min(gets["line"].to_list())
    small = calls(to_port(cap.ev, port), "read").filter(
        (pl.col("line") > after) & pl.col("retval").is_between(1, 1024)
    )
    # 3 zips of ~4.7 kB trickle in at 4 KiB/s: many small reads, spread over time
    assert small.height >= 20
    stamps = small["ts"].to_list()
    assert max(stamps) - min(stamps) >= 1.0
    assert zips_renamed(cap) == MODULES


def check_proxy_refused(cap: Capture) -> None:
    assert_exited(cap, 1)
    (port,) = cap.proxy_ports
    conns = connects(cap.ev, port)
    assert conns.height >= 1
    refused_direct = conns.filter(pl.col("errno") == "ECONNREFUSED").height
    # non-blocking connect: EINPROGRESS, then getsockopt(SO_ERROR) reports the refusal
    refused_later = (
        calls(cap.ev, "getsockopt")
        .filter(
            pl.col("fd_target").is_in(conns["fd_target"].to_list())
            & pl.col("args").str.contains("SO_ERROR, [ECONNREFUSED]", literal=True)
        )
        .height
    )
    assert refused_direct + refused_later >= 1
    assert requests(cap.ev, ".*").height == 0
    assert "connect: connection refused" in stderr_text(cap.ev)


def check_goproxy_off(cap: Capture) -> None:
    assert_exited(cap, 1)
    assert_no_network(cap)
    assert "module lookup disabled by GOPROXY=off" in stderr_text(cap.ev)


def check_fallback_404(cap: Capture) -> None:
    assert_exited(cap, 0)
    first, second = cap.proxy_ports
    not_found = calls(to_port(cap.ev, first), "read").filter(
        pl.col("args").str.contains('"HTTP/1.1 404 Not Found', literal=True)
    )
    assert not_found.height >= 1
    later = connects(cap.ev, second).filter(pl.col("line") > not_found["line"].min())
    assert later.height >= 1
    zips = requests(to_port(cap.ev, second), r"/example\.com/dep\d/@v/v1\.0\.0\.zip")
    assert zips.height == 3
    assert zips_renamed(cap) == MODULES


def check_timeout_no_fallback(cap: Capture) -> None:
    assert_sigkilled(cap)
    first, second = cap.proxy_ports
    assert connects(cap.ev, first).height >= 1
    assert requests(to_port(cap.ev, first), r"/example\.com/dep\d/@v/v1\.0\.0\.mod").height >= 1
    for conn in to_port(cap.ev, first)["fd_target"].unique():
        assert data_reads(cap.ev, conn).height == 0
    # after a comma go falls back only on 404/410: the second proxy is never dialled
    assert connects(cap.ev, second).height == 0


def check_pipe_fallback(cap: Capture) -> None:
    assert_exited(cap, 0)
    first, second = cap.proxy_ports
    first_reads = calls(to_port(cap.ev, first), "read")
    assert first_reads.filter(pl.col("args").str.contains('"HTTP/1.1 500 ', literal=True)).height
    assert first_reads.filter(pl.col("errno") == "ECONNRESET").height >= 1
    assert requests(to_port(cap.ev, first), r"/example\.com/dep\d/@v/v1\.0\.0\.zip").height >= 1
    assert connects(cap.ev, second).height >= 1
    zips = requests(to_port(cap.ev, second), r"/example\.com/dep\d/@v/v1\.0\.0\.zip")
    assert zips.height == 3
    assert zips_renamed(cap) == MODULES


def check_lock_held(cap: Capture) -> None:
    assert_sigkilled(cap)
    lock = cap.gomodcache + "/cache/download/example.com/dep0/@v/v1.0.0.lock"
    flocks = calls(cap.ev, "flock").filter(
        (pl.col("fd_target") == lock) & pl.col("args").str.ends_with("LOCK_EX")
    )
    # go asked for the lock and never got it: the call was still in flight at the kill
    assert flocks.height >= 1
    assert flocks["in_flight"].all()
    # the holder is another process: the trace holds go alone (all else are its threads)
    (proc,) = process_table(cap.ev)
    assert proc["pid"] == cap.root


def check_cache_readonly(cap: Capture) -> None:
    assert_exited(cap, 1)
    denied = calls(cap.ev, "mkdirat", "openat", "mkdir", "open").filter(
        (pl.col("errno") == "EACCES") & pl.col("args").str.contains(cap.gomodcache, literal=True)
    )
    assert denied.height >= 1
    assert "permission denied" in stderr_text(cap.ev)


def check_stderr_devnull(cap: Capture) -> None:
    assert_exited(cap, 1)
    (port,) = cap.proxy_ports
    gone = calls(to_port(cap.ev, port), "read").filter(
        pl.col("args").str.contains('"HTTP/1.1 410 Gone', literal=True)
    )
    assert gone.height >= 1
    writes = fd2_writes(cap.ev)
    assert writes.height >= 1
    # go said why; fd 2 was /dev/null, so nobody saw it
    assert writes["fd_target"].str.starts_with("/dev/null").all()
    text = stderr_text(cap.ev)
    assert "example.com/dep1@v1.0.0" in text and "410 Gone" in text


def check_checksum_mismatch(cap: Capture) -> None:
    assert_exited(cap, 1)
    text = stderr_text(cap.ev)
    assert "verifying example.com/dep1@v1.0.0: checksum mismatch" in text
    assert fd2_writes(cap.ev)["fd_target"].str.starts_with("pipe:").all()
    assert "example.com/dep1" not in zips_renamed(cap)


def check_sumdb_stall(cap: Capture) -> None:
    assert_sigkilled(cap)
    port = cap.sumdb_port
    assert connects(cap.ev, port).height >= 1
    lookups = requests(to_port(cap.ev, port), r"/lookup/example\.com/dep\d@v1\.0\.0")
    assert lookups.height >= 1
    for conn in to_port(cap.ev, port)["fd_target"].unique():
        assert data_reads(cap.ev, conn).height == 0
    assert zips_renamed(cap) == set()


def check_killed(cap: Capture) -> None:
    assert_sigkilled(cap)
    tmp = re.compile(re.escape(cap.gomodcache) + r"/cache/download/.+/@v/v1\.0\.0\.zip\d+\.tmp")
    created = {
        t
        for t in calls(cap.ev, "openat")
        .filter(pl.col("args").str.contains("O_CREAT", literal=True) & (pl.col("retval") >= 0))[
            "ret_target"
        ]
        .to_list()
        if tmp.fullmatch(t)
    }
    assert created  # a zip download was under way ...
    renamed = {src for src, _ in renames(cap.ev)}
    assert created.isdisjoint(renamed)  # ... and none finished
    (port,) = cap.proxy_ports
    (first, *_) = requests(to_port(cap.ev, port), r"/example\.com/dep\d/@v/v1\.0\.0\.zip").rows(
        named=True
    )
    assert data_reads(cap.ev, first["fd_target"], after=first["line"]).height >= 1


def check_dns_timeout(cap: Capture) -> None:
    assert_exited(cap, 1)
    assert cap.meta["argv"][:3] == ["ip", "netns", "exec"]
    udp = connects(cap.ev, 53).filter(
        pl.col("fd_target").str.starts_with("UDP:")
        & pl.col("args").str.contains('inet_addr("127.0.0.1")', literal=True)
    )
    assert udp.height >= 1
    sockets = udp["fd_target"].to_list()  # UDP:[inode], as the later calls annotate them too
    queries = calls(cap.ev, "write", "sendto", "sendmsg").filter(pl.col("fd_target").is_in(sockets))
    assert queries.height >= 1
    assert all(b"\x07goproxy\x04test\x00" in buffer(a) for a in queries["args"])
    answers = calls(cap.ev, "read", "recvfrom", "recvmsg").filter(
        pl.col("fd_target").is_in(sockets) & (pl.col("retval") > 0)
    )
    assert answers.height == 0
    assert calls(cap.ev, "socket").filter(pl.col("args").str.contains("SOCK_STREAM")).height == 0
    text = stderr_text(cap.ev)
    assert "lookup goproxy.test on 127.0.0.1:53" in text and "i/o timeout" in text


# -- issue 15: TLS, HTTP proxies, direct mode, pauses, other go commands, scale ----------------
def https_port(cap: Capture) -> int:
    return int(re.findall(r"https://localhost:(\d+)", cap.meta["env"]["GOPROXY"])[0])


def stopped_by_gotrace(cap: Capture) -> None:
    """gotrace's --timeout sent SIGTERM (from outside the tree); go re-raised it on itself."""
    assert cap.meta["timed_out"] is True and cap.meta["signal"] in ("SIGTERM", "SIGKILL")
    # the kernel hands a process-directed signal to any of go's threads, not only the first
    tgid = thread_groups(cap.ev).tgid
    go_threads = [pid for pid, group in tgid.items() if group == cap.root]
    sig = cap.ev.filter((pl.col("kind") == "signal") & (pl.col("signal") == "SIGTERM"))
    first = sig.filter(pl.col("pid").is_in(go_threads)).sort("line")["info"].to_list()
    assert first and "si_code=SI_USER" in first[0]


def client_hellos(cap: Capture, port: int) -> pl.DataFrame:
    return calls(to_port(cap.ev, port), "write").filter(
        pl.col("args").str.contains(', "\\26\\3\\1', literal=True)
    )


def verdict(cap: Capture) -> str:
    assert cap.path is not None
    return gotrace.load(cap.path).verdict


def check_tls_proxy_stall(cap: Capture) -> None:
    stopped_by_gotrace(cap)
    port = https_port(cap)
    assert client_hellos(cap, port).height >= 1
    assert zips_renamed(cap) == MODULES - {"example.com/dep1"}
    v = verdict(cap)
    assert f"waiting for an answer from https://localhost:{port} (GOPROXY; TLS established" in v
    assert "example.com/dep1/@v/v1.0.0.zip" in v


def check_tls_handshake_stall(cap: Capture) -> None:
    stopped_by_gotrace(cap)
    port = https_port(cap)
    (hello,) = client_hellos(cap, port).head(1).rows(named=True)
    assert data_reads(cap.ev, hello["fd_target"], after=hello["line"]).height == 0
    assert f"TLS handshake with https://localhost:{port} (GOPROXY; ClientHello sent" in verdict(cap)


def check_tls_ok(cap: Capture) -> None:
    assert_exited(cap, 0)
    assert client_hellos(cap, https_port(cap)).height >= 1
    assert zips_renamed(cap) == MODULES
    assert verdict(cap).startswith("exited 0")


def check_pause_recover(cap: Capture) -> None:
    assert_exited(cap, 0)
    assert zips_renamed(cap) == MODULES
    (port,) = cap.proxy_ports
    assert requests(to_port(cap.ev, port), r"/example\.com/dep2/@v/v1\.0\.0\.zip").height == 1
    v = verdict(cap)
    assert v.startswith("exited 0") and "; paused " in v
    assert f"in the middle of example.com/dep2/@v/v1.0.0.zip from http://127.0.0.1:{port}" in v


def check_pipe_stall(cap: Capture) -> None:
    stopped_by_gotrace(cap)
    first, second = cap.proxy_ports
    (get,) = requests(to_port(cap.ev, first), r"/example\.com/dep0/@v/v1\.0\.0\.zip").rows(
        named=True
    )
    assert data_reads(cap.ev, get["fd_target"], after=get["line"]).height == 0
    assert connects(cap.ev, second).height == 0  # `|` falls back on errors; a stall is none
    assert f"TCP 127.0.0.1:{first} after sending `GET /example.com/dep0/@v/v1.0.0.zip`" in verdict(
        cap
    )


def check_build_stall(cap: Capture) -> None:
    stopped_by_gotrace(cap)
    assert cap.meta["argv"][1:3] == ["build", "./..."]
    assert "go: downloading example.com/lib" in stderr_text(cap.ev)
    (port,) = cap.proxy_ports
    assert f"TCP 127.0.0.1:{port} after sending `GET /example.com/lib2/@v/v1.0.0.zip`" in verdict(
        cap
    )


def check_get_tls_stall(cap: Capture) -> None:
    stopped_by_gotrace(cap)
    assert cap.meta["argv"][1] == "get"
    port = https_port(cap)
    assert client_hellos(cap, port).height >= 1
    v = verdict(cap)
    assert f"https://localhost:{port} (GOPROXY; TLS established" in v
    assert "example.org/pkg0/@v/v1.0.0.zip" in v


def check_list_stall(cap: Capture) -> None:
    stopped_by_gotrace(cap)
    assert cap.meta["argv"][1:4] == ["list", "-m", "all"]
    (port,) = cap.proxy_ports
    (get,) = requests(to_port(cap.ev, port), r"/example\.net/lst2/@v/v1\.0\.0\.mod").rows(
        named=True
    )
    assert data_reads(cap.ev, get["fd_target"], after=get["line"]).height == 0
    assert zips_renamed(cap) == set()  # go list -m needs go.mod files only
    want = f"TCP 127.0.0.1:{port} after sending `GET /example.net/lst2/@v/v1.0.0.mod`"
    assert want in verdict(cap) and "the module proxy" in verdict(cap)


def check_test_stall(cap: Capture) -> None:
    stopped_by_gotrace(cap)
    assert cap.meta["argv"][1:3] == ["test", "./..."]
    assert "go: downloading example.com/tdep1 v1.0.0" in stderr_text(cap.ev)
    assert "example.com/tdep1" not in zips_renamed(cap)
    (port,) = cap.proxy_ports
    want = f"TCP 127.0.0.1:{port} after sending `GET /example.com/tdep1/@v/v1.0.0.zip`"
    assert want in verdict(cap) and "the module proxy" in verdict(cap)


def _connect_writes(cap: Capture) -> pl.DataFrame:
    return calls(cap.ev, "write").filter(
        pl.col("args").str.contains('"CONNECT proxy.golang.org:443 HTTP/1.1', literal=True)
    )


def check_connect_stall(cap: Capture) -> None:
    stopped_by_gotrace(cap)
    (w,) = _connect_writes(cap).head(1).rows(named=True)
    assert data_reads(cap.ev, w["fd_target"], after=w["line"]).height == 0
    port = re.findall(r":(\d+)", cap.meta["env"]["HTTPS_PROXY"])[0]
    v = verdict(cap)
    assert f"HTTP proxy http://127.0.0.1:{port} (set by HTTPS_PROXY)" in v
    assert "proxy.golang.org:443 (for the GOPROXY entry https://proxy.golang.org)" in v


def check_connect_407(cap: Capture) -> None:
    assert_exited(cap, 1)
    assert _connect_writes(cap).height >= 1
    assert "Proxy Authentication Required" in stderr_text(cap.ev)
    assert (
        "(for the GOPROXY entry https://proxy.golang.org) with 407 Proxy Authentication Required"
    ) in verdict(cap)


def check_connect_tls_stall(cap: Capture) -> None:
    """The proxy answers the CONNECT with 200; TLS through the tunnel works for dep0 and
    dep2; dep1's encrypted zip request is never answered."""
    stopped_by_gotrace(cap)
    writes = _connect_writes(cap)
    assert writes.height >= 1
    tunnels = writes["fd_target"].unique().to_list()
    reads = [data_reads(cap.ev, t) for t in tunnels]
    assert all(r.height and b"HTTP/1.1 200 " in buffer(r["args"][0]) for r in reads)
    # TLS behind the tunnel: a ClientHello is each tunnel's next write
    for t in tunnels:
        after = calls(cap.ev, "write").filter(pl.col("fd_target") == t).sort("line")
        assert buffer(after["args"][1]).startswith(b"\x16\x03\x01")
    assert "example.com/dep1" not in zips_renamed(cap)
    assert {"example.com/dep0", "example.com/dep2"} <= zips_renamed(cap)
    port = re.findall(r":(\d+)", cap.meta["env"]["HTTPS_PROXY"])[0]
    v = verdict(cap)
    assert "waiting for an answer from https://proxy.golang.org (GOPROXY; " in v
    assert f"through the HTTP proxy http://127.0.0.1:{port} (set by HTTPS_PROXY), " in v
    assert "CONNECT tunnel to proxy.golang.org:443 is established" in v
    assert "the module proxy behind the tunnel accepted the request and never answered" in v
    if cap.live_stderr is not None:  # live, the same line as offline on the saved capture
        assert f"verdict: {v}\n" in cap.live_stderr


def _proxied_gets(cap: Capture, path: str) -> pl.DataFrame:
    """Plain http requests go sent whole (the absolute form) to the HTTP proxy (strace sees
    no addresses in the namespace: ``-yy`` shows sockets as ``TCP:[inode]``)."""
    return calls(cap.ev, "write").filter(
        pl.col("args").str.contains(f'"GET http://goproxy.test{path} HTTP/1.1', literal=True)
    )


def check_proxied_stall(cap: Capture) -> None:
    stopped_by_gotrace(cap)
    assert cap.meta["env"]["GOPROXY"] == "http://goproxy.test"
    (w,) = _proxied_gets(cap, "/example.com/dep1/@v/v1.0.0.zip").head(1).rows(named=True)
    assert data_reads(cap.ev, w["fd_target"], after=w["line"]).height == 0
    assert zips_renamed(cap) == MODULES - {"example.com/dep1"}
    port = re.findall(r":(\d+)", cap.meta["env"]["HTTP_PROXY"])[0]
    v = verdict(cap)
    assert f"TCP 127.0.0.1:{port} after sending `GET http://goproxy.test/example.com/dep1/" in v
    assert f"the HTTP proxy http://127.0.0.1:{port} (set by HTTP_PROXY) accepted the request" in v
    assert "for the GOPROXY entry http://goproxy.test and never answered" in v


def check_proxy_502(cap: Capture) -> None:
    assert_exited(cap, 1)
    assert _proxied_gets(cap, "/example.com/dep1/@v/v1.0.0.zip").height == 1
    assert "502 Bad Gateway" in stderr_text(cap.ev)
    port = re.findall(r":(\d+)", cap.meta["env"]["HTTP_PROXY"])[0]
    assert verdict(cap) == (
        f"the HTTP proxy http://127.0.0.1:{port} (set by HTTP_PROXY) answered "
        "`GET http://goproxy.test/example.com/dep1/@v/v1.0.0.zip` (for the GOPROXY entry "
        "http://goproxy.test) with 502 Bad Gateway"
    )


def _execs(cap: Capture, binary: str) -> pl.DataFrame:
    return calls(cap.ev, "execve").filter(
        pl.col("args").str.starts_with(f'"{binary}"') & (pl.col("retval") == 0)
    )


def check_git_stall(cap: Capture) -> None:
    stopped_by_gotrace(cap)
    assert _execs(cap, "/usr/lib/git-core/git-remote-http").height >= 1
    refs = calls(cap.ev, "write", "sendto").filter(
        pl.col("args").str.contains('"GET /m.git/info/refs?service=git-upload-pack', literal=True)
    )
    (w,) = refs.head(1).rows(named=True)
    assert data_reads(cap.ev, w["fd_target"], after=w["line"]).height == 0
    v = verdict(cap)
    assert "the git server http://git.example.test/m.git accepted the request" in v
    assert "GOPRIVATE=git.example.test" in v and "ECONNREFUSED" not in v


def check_git_ok(cap: Capture) -> None:
    assert_exited(cap, 0)
    assert _execs(cap, "/usr/lib/git-core/git-remote-http").height >= 1
    assert verdict(cap).startswith("exited 0")


def check_scale_stall(cap: Capture) -> None:
    from gotrace.lab.setups import SCALE_MODULES, SCALE_STALLED

    stopped_by_gotrace(cap)
    done = zips_renamed(cap)
    assert len(done) >= SCALE_MODULES // 4 and f"example.com/m{SCALE_STALLED}" not in done
    (port,) = cap.proxy_ports
    want = f"TCP 127.0.0.1:{port} after sending `GET /example.com/m{SCALE_STALLED}/@v/v1.0.0.zip`"
    assert want in verdict(cap)


CHECKS: dict[str, Callable[[Capture], None]] = {
    "up-to-date": check_up_to_date,
    "cold-ok": check_cold_ok,
    "proxy-stall": check_proxy_stall,
    "body-stall": check_body_stall,
    "slow-proxy": check_slow_proxy,
    "proxy-refused": check_proxy_refused,
    "goproxy-off": check_goproxy_off,
    "fallback-404": check_fallback_404,
    "timeout-no-fallback": check_timeout_no_fallback,
    "pipe-fallback": check_pipe_fallback,
    "lock-held": check_lock_held,
    "cache-readonly": check_cache_readonly,
    "stderr-devnull": check_stderr_devnull,
    "checksum-mismatch": check_checksum_mismatch,
    "sumdb-stall": check_sumdb_stall,
    "killed": check_killed,
    "dns-timeout": check_dns_timeout,
    "tls-proxy-stall": check_tls_proxy_stall,
    "tls-handshake-stall": check_tls_handshake_stall,
    "tls-ok": check_tls_ok,
    "pause-recover": check_pause_recover,
    "pipe-stall": check_pipe_stall,
    "build-stall": check_build_stall,
    "get-tls-stall": check_get_tls_stall,
    "list-stall": check_list_stall,
    "test-stall": check_test_stall,
    "scale-stall": check_scale_stall,
    "connect-stall": check_connect_stall,
    "connect-407": check_connect_407,
    "connect-tls-stall": check_connect_tls_stall,
    "git-stall": check_git_stall,
    "git-ok": check_git_ok,
    "proxied-stall": check_proxied_stall,
    "proxy-502": check_proxy_502,
}


def check_go_x(cap: Capture) -> None:
    """-x: go logs ``# get URL`` before each request and ``# get URL: 200 OK (…s)`` after."""
    assert cap.meta["argv"][-1] == "-x"
    lines = stderr_text(cap.ev).splitlines()
    base = f"# get {cap.meta['env']['GOPROXY']}/"
    logged = [ln.removeprefix(base) for ln in lines if ln.startswith(base)]
    started = {u for u in logged if ": " not in u}
    done = {u.split(": ", 1)[0] for u in logged if ": 200 OK (" in u}
    urls = {f"{m}/@v/v1.0.0.{ext}" for m in MODULES for ext in ("mod", "info", "zip")}
    assert started == urls
    if cap.meta["lab"]["scenario"] in ("proxy-stall", "tls-proxy-stall"):
        assert done == urls - {"example.com/dep1/@v/v1.0.0.zip"}
    else:
        assert done == urls


def test_every_scenario_has_a_check() -> None:
    assert set(CHECKS) == set(SCENARIOS)


# -- live ----------------------------------------------------------------------------------------
def run_live(lab_capture: Callable[..., LabCapture], name: str, *extra: str) -> Capture:
    """The session's strace capture of a scenario (tests/conftest.py: made once, shared)."""
    try:
        find_go()
    except GotraceError as exc:
        pytest.skip(str(exc))
    reason = SCENARIOS[name].unavailable()
    if reason is not None:
        pytest.skip(f"{name}: {reason}")
    r = lab_capture(name, "strace", *extra)
    keep = r.keep
    if not (keep / "meta.json").exists():
        if name == "dns-timeout" and re.search(r"dns-timeout: ip ", r.stderr):
            pytest.skip(f"ip netns refused here: {r.stderr.strip().splitlines()[-1]}")
        pytest.fail(f"gotrace lab run {name} left no capture:\n{r.stderr}")
    cap = dataclasses.replace(load_capture(keep), live_stderr=r.stderr)
    # lab run exits 0 only when the failure was reproduced and diagnosed as expected
    assert r.returncode == 0, r.stderr
    assert "diagnosed as expected" in r.stderr.splitlines()[-1]
    assert cap.ev.filter(pl.col("kind") == "parse_error").height == 0
    return cap


@pytest.mark.integration
@needs_strace
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_traced_live(name: str, lab_capture: Callable[..., LabCapture]) -> None:
    CHECKS[name](run_live(lab_capture, name))


@pytest.mark.integration
@needs_strace
def test_proxy_stall_with_go_x_logs_the_unanswered_get(
    lab_capture: Callable[..., LabCapture],
) -> None:
    cap = run_live(lab_capture, "proxy-stall", "--go-x")
    check_proxy_stall(cap)
    check_go_x(cap)


#: ``python -c VARIANT BASE KWARGS ARGS...``: ``gotrace lab run`` of scenario BASE with its setup
#: given other arguments (module names, which one stalls, TLS), as a scenario named ``variant``
VARIANT = """
import dataclasses, functools, json, sys
import gotrace.lab.scenarios as s
from gotrace.cli.app import main
base = s.SCENARIOS[sys.argv[1]]
s.SCENARIOS["variant"] = dataclasses.replace(
    base, name="variant", setup=functools.partial(base.setup, **json.loads(sys.argv[2]))
)
sys.argv = ["gotrace", "lab", "run", "variant", *sys.argv[3:]]
main()
"""


def run_variant(
    tmp_path: Path, base: str, kwargs: dict[str, Any], backend: str
) -> tuple[subprocess.CompletedProcess[str], gotrace.Trace]:
    """``gotrace lab run`` of a VARIANT under a backend; the run and its saved capture."""
    if backend == "ptrace" and importlib.util.find_spec("ptrace") is None:
        pytest.skip("python-ptrace is not installed")
    if backend == "ebpf":
        from gotrace.tracer.ebpf import unavailable

        if refused := unavailable():
            pytest.skip(f"this machine refuses the ebpf backend: {refused}")
    keep = tmp_path / "cap"
    r = subprocess.run(
        [sys.executable, "-c", VARIANT, base, json.dumps(kwargs), "--backend", backend, "--keep", str(keep)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if not (keep / "meta.json").exists():
        pytest.fail(f"the {base} variant {kwargs} left no capture:\n{r.stderr[-3000:]}")
    return r, gotrace.load(keep)


@pytest.mark.integration
@needs_strace
@pytest.mark.parametrize(
    ("base", "kwargs", "backend", "needles"),
    [
        pytest.param(
            "list-stall",
            {"prefix": "corp.example/x/y", "stalled": 0},
            "strace",
            ["after sending `GET /corp.example/x/y0/@v/v1.0.0.mod` — the module proxy accepted"],
            id="list-other-modules",
        ),
        *[
            pytest.param(
                "test-stall",
                {"prefix": "example.net/sec", "stalled": 2, "tls": True},
                backend,
                [
                    "(GOPROXY; TLS established, ",
                    "most likely `GET /example.net/sec2/@v/v1.0.0.zip` (example.net/sec2@v1.0.0, "
                    "the last `go: downloading` line with no result; go -x shows the URL)",
                ],
                marks=[pytest.mark.slow] if backend == "ebpf" else [],
                id=f"test-tls-{backend}",
            )
            for backend in ("strace", "ptrace", "ebpf")
        ],
    ],
)
def test_other_go_commands_name_the_stalled_module_they_were_not_tuned_to(
    tmp_path: Path, base: str, kwargs: dict[str, Any], backend: str, needles: list[str]
) -> None:
    from gotrace.lab.tls import requires_openssl

    if kwargs.get("tls") and (reason := requires_openssl()):
        pytest.skip(reason)
    r, t = run_variant(tmp_path, base, kwargs, backend)
    assert r.returncode == 0 and "diagnosed as expected" in r.stderr.splitlines()[-1], r.stderr
    v = t.verdict  # offline, on the saved capture: the same as live
    assert v.startswith("stopped by gotrace --timeout after ")
    for needle in needles:
        assert needle in v


# -- the committed sample traces ----------------------------------------------------------------
needs_samples = pytest.mark.skipif(not SAMPLE_DIRS, reason="no sample_traces/ in this tree")
#: what a normalised capture must not contain: the capturing machine's paths and the lab's
#: random temp names (they become /opt/go, /tmp/gotrace-lab-NAME-XXXXXXXX, ...-XXXXXX)
LEAKS = re.compile(
    r"site-packages|\.pyenv|bash_jobs|/tmp/gotrace-capture"
    r"|(?:^|[\s\"'<(=,\[])(?:/root|/home)\b"
    r"|/tmp/gotrace-lab-[a-z0-9-]+-(?!X{8})[a-z0-9_]{8}(?![a-z0-9_-])"
    r"|gotrace-lab-\d+-(?!X{6})[0-9a-f]{6}",
    re.MULTILINE,
)


@needs_samples
def test_every_scenario_has_a_sample() -> None:
    names = {d.name for d in SAMPLE_DIRS}
    assert (set(SCENARIOS) - NOT_KEPT) | X_SAMPLES <= names


@needs_samples
def test_samples_stay_small() -> None:
    sizes = {p: p.stat().st_size for d in SAMPLE_DIRS for p in d.iterdir()}
    assert sum(sizes.values()) < 15_000_000
    assert all(size < 1_500_000 for size in sizes.values()), sizes


@needs_samples
@pytest.mark.parametrize("d", SAMPLE_DIRS, ids=lambda d: d.name)
def test_sample_parses_without_errors(d: Path) -> None:
    trace = gotrace.load(d / "trace.strace")
    assert trace.meta["parse_errors"] == 0
    assert trace.frame.height > 100


@needs_samples
@pytest.mark.parametrize("d", SAMPLE_DIRS, ids=lambda d: d.name)
def test_sample_events_are_the_parse_of_its_trace(d: Path) -> None:
    saved = pl.read_parquet(d / "events.parquet")
    fresh = gotrace.load(d / "trace.strace").frame
    assert saved["source"].unique().to_list() == [f"sample_traces/{d.name}/trace.strace"]
    assert saved.drop("source").equals(fresh.drop("source"))
    raw = pq.read_schema(d / "events.parquet").metadata[b"gotrace.meta"]
    assert json.loads(raw)["source"] == f"sample_traces/{d.name}"


@needs_samples
@pytest.mark.parametrize("d", SAMPLE_DIRS, ids=lambda d: d.name)
def test_sample_shows_its_scenario(d: Path) -> None:
    cap = load_capture(d)
    CHECKS[cap.meta["lab"]["scenario"]](cap)
    if d.name in X_SAMPLES:
        check_go_x(cap)


@needs_samples
@pytest.mark.parametrize("d", SAMPLE_DIRS, ids=lambda d: d.name)
def test_sample_leaks_nothing(d: Path) -> None:
    raw = pq.read_schema(d / "events.parquet").metadata[b"gotrace.meta"].decode()
    for name, text in (
        ("trace.strace", (d / "trace.strace").read_text(errors="replace")),
        ("meta.json", (d / "meta.json").read_text()),
        ("events.parquet meta", raw),
    ):
        m = LEAKS.search(text)
        assert m is None, f"{name}: {text[max(0, m.start() - 60) : m.end() + 20]!r}"


@needs_samples
@pytest.mark.parametrize("d", SAMPLE_DIRS, ids=lambda d: d.name)
def test_sample_buffers_keep_their_byte_counts(d: Path) -> None:
    """Normalising replaced paths with placeholders of the same length, so every untruncated
    read/write buffer still has as many bytes as the call returned."""
    rows = calls(pl.read_parquet(d / "events.parquet"), "read", "write", "pread64", "pwrite64")
    checked = 0
    for args, retval in rows.filter(pl.col("retval") > 0).select("args", "retval").iter_rows():
        parts = split_args(args)
        s = decode_string(parts[1]) if len(parts) > 1 else None
        if s is None or s.truncated:
            continue
        assert len(s.value) == retval, args[:200]
        checked += 1
    assert checked > 0


def _capture_module() -> Any:
    spec = importlib.util.spec_from_file_location("sample_capture", SAMPLES / "capture.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


@needs_samples
def test_readme_table_matches_the_samples() -> None:
    capture = _capture_module()
    readme = (SAMPLES / "README.md").read_text()
    block = readme.split(capture.TABLE_BEGIN, 1)[1].split(capture.TABLE_END, 1)[0]
    assert block.strip() == capture.table(SAMPLES).strip()
    assert "(not found)" not in block


#: connect-tls-stall with what it was not tuned to: another GOPROXY host, another module
#: stalled, the stall in the handshake instead; each under strace and ptrace
CONNECT_TLS_VARIANTS = [
    (
        {"target": "goproxy.corp.test", "stalled": 0},
        [
            "waiting for an answer from https://goproxy.corp.test (GOPROXY; through the HTTP "
            "proxy http://127.0.0.1:",
            "CONNECT tunnel to goproxy.corp.test:443 is established (200 Connection established)",
            "most likely `GET /example.com/dep0/@v/v1.0.0.zip`",
            "the module proxy behind the tunnel accepted the request and never answered",
        ],
    ),
    (
        {"target": "goproxy.example.org", "stalled": 2, "command": ["build", "./..."]},
        [
            "waiting for an answer from https://goproxy.example.org (GOPROXY; through the HTTP",
            "CONNECT tunnel to goproxy.example.org:443 is established",
            "most likely `GET /example.com/dep2/@v/v1.0.0.zip` (example.com/dep2@v1.0.0, the "
            "last `go: downloading` line with no result; go -x shows the URL)",
        ],
    ),
    (
        {"fault": "body_stall", "stalled": 0},
        [
            "mid-download from https://proxy.golang.org (GOPROXY; through the HTTP proxy "
            "http://127.0.0.1:",
            "CONNECT tunnel to proxy.golang.org:443 is established (200 Connection established); "
            "TLS established, on 127.0.0.1:",
            "most likely `GET /example.com/dep0/@v/v1.0.0.zip`, 1.0 kB of it written, then "
            "nothing — the server behind the tunnel stopped sending",
        ],
    ),
    (
        {"target": "mods.internal.test", "fault": "handshake_stall"},
        [
            "in the TLS handshake with https://mods.internal.test (GOPROXY; through the HTTP "
            "proxy http://127.0.0.1:",
            "CONNECT tunnel to mods.internal.test:443 is established (200 Connection established)"
            "; ClientHello sent, no answer",
            "the tunnel is up, but the server behind it never answered the ClientHello",
        ],
    ),
]


@pytest.mark.slow
@pytest.mark.integration
@needs_strace
@pytest.mark.parametrize("backend", ["strace", "ptrace", "ebpf"])
@pytest.mark.parametrize(
    ("kwargs", "needles"),
    CONNECT_TLS_VARIANTS,
    ids=["other-host", "go-build", "body-stall", "handshake"],
)
def test_connect_tls_stall_variants_name_the_tunnel_and_what_stalled(
    tmp_path: Path, kwargs: dict[str, Any], needles: list[str], backend: str
) -> None:
    if reason := SCENARIOS["connect-tls-stall"].unavailable():
        pytest.skip(reason)
    r, t = run_variant(tmp_path, "connect-tls-stall", kwargs, backend)
    v = t.verdict  # offline, on the saved capture
    assert v.startswith("stopped by gotrace --timeout after "), r.stderr[-3000:]
    for needle in needles:
        assert needle in v


#: direct mode over git's own transports, with a repository name git-stall was not tuned to:
#: a git daemon that never answers, an ssh server that never answers, a real git daemon
GIT_TRANSPORT_VARIANTS = [
    (
        "git-stall",
        {"mode": "daemon-stall", "repo": "lib2"},
        [
            "in read on TCP 127.0.0.1:9418 after sending `git-upload-pack /lib2.git "
            "host=git.example.test version=2` — the git server git://git.example.test/lib2.git "
            "accepted the request and never answered (git ls-remote, run by go in direct mode: "
            "GOPRIVATE=git.example.test)",
        ],
    ),
    (
        "git-stall",
        {"mode": "ssh-stall", "repo": "lib3"},
        [
            "in read on TCP 127.0.0.1:22 after sending `SSH-2.0-",
            "the ssh server for ssh://git@git.example.test/lib3.git accepted the connection and "
            "never answered ssh's banner (ssh, run by git, run by go in direct mode: "
            "GOPRIVATE=git.example.test)",
        ],
    ),
    ("git-ok", {"mode": "daemon", "repo": "lib4"}, ["exited 0 after "]),
]


@pytest.mark.slow
@pytest.mark.integration
@needs_strace
@pytest.mark.parametrize("backend", ["strace", "ptrace", "ebpf"])
@pytest.mark.parametrize(
    ("base", "kwargs", "needles"),
    GIT_TRANSPORT_VARIANTS,
    ids=["daemon-stall", "ssh-stall", "daemon-ok"],
)
def test_git_transport_variants_name_the_remote_and_what_was_sent(
    tmp_path: Path, base: str, kwargs: dict[str, Any], needles: list[str], backend: str
) -> None:
    if reason := SCENARIOS[base].unavailable():
        pytest.skip(reason)
    if kwargs["mode"] == "ssh-stall" and shutil.which("ssh") is None:
        pytest.skip("ssh (openssh-client) is not installed")
    r, t = run_variant(tmp_path, base, kwargs, backend)
    assert r.returncode == 0 and "diagnosed as expected" in r.stderr.splitlines()[-1], r.stderr
    v = t.verdict  # offline, on the saved capture
    for needle in needles:
        assert needle in v
