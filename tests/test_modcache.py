"""The module-cache analyzer on real go runs: lab captures (tests/data/captures, made by its
capture.sh) and the go fixtures of tests/data/strace. Expectations are read from the raw log
itself (go.mod as go read it, renameat lines, Content-Length of the zip responses, the flock
line's time), not from the analyzer."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import polars as pl
import pytest

import gotrace
from gotrace import modpath
from gotrace.analyzers import modcache
from gotrace.analyzers.context import Context, build
from gotrace.analyzers.modcache import classify, parse_cache_log

DATA = Path(__file__).parent / "data"
CAPTURES = DATA / "captures"
STRACE = DATA / "strace"


@cache
def context(name: str) -> Context:
    path = CAPTURES / name if (CAPTURES / name).is_dir() else STRACE / name
    return build(gotrace.load(path))


@cache
def table(name: str) -> pl.DataFrame:
    return modcache.modules(context(name))


def raw(name: str) -> list[str]:
    path = CAPTURES / name / "trace.strace" if (CAPTURES / name).is_dir() else STRACE / name
    return path.read_text().splitlines()


def meta(name: str) -> dict[str, object]:
    return json.loads((CAPTURES / name / "meta.json").read_text())  # type: ignore[no-any-return]


def row(name: str, module: str) -> dict[str, object]:
    rows = table(name).filter(pl.col("module") == module).to_dicts()
    assert len(rows) == 1, rows
    return rows[0]


def required(name: str) -> set[str]:
    """The requirements in go.mod, from the read() in which go read it."""
    for line in raw(name):
        if '"module example.com/app\\n' in line and "require (" in line:
            body = line.split('"', 1)[1]
            return set(re.findall(r"\\t(\S+) v", body))
    raise AssertionError("go.mod read not in the trace")


def returns(lines: list[str], call: str, needle: str) -> list[int]:
    """Return values of the ``call`` lines of the raw log that contain ``needle``, following
    ``<unfinished ...>`` to its ``<... call resumed>`` line of the same pid."""
    out = []
    pending: dict[str, bool] = {}
    for ln in lines:
        pid = ln.split(" ", 1)[0]
        if f" {call}(" in ln and needle in ln:
            if ln.endswith("<unfinished ...>"):
                pending[pid] = True
                continue
            out.append(int(re.findall(r"\) += (-?\d+)", ln)[-1]))
        elif f"<... {call} resumed>" in ln and pending.pop(pid, False):
            out.append(int(re.findall(r"\) += (-?\d+)", ln)[-1]))
    return out


def ts_of(line: str) -> float:
    return float(line.split()[1])


# -- classify -------------------------------------------------------------------------------
GMC = "/home/u/go/pkg/mod"


@pytest.mark.parametrize(
    ("rel", "artifact", "module", "version"),
    [
        ("cache/download/github.com/!burnt!sushi/toml/@v/v1.2.0.zip", "zip", "github.com/BurntSushi/toml", "v1.2.0"),
        ("cache/download/github.com/!burnt!sushi/toml/@v/v1.2.0.mod", "mod", "github.com/BurntSushi/toml", "v1.2.0"),
        ("cache/download/example.com/a/@v/v1.0.0-!r!c1.info", "info", "example.com/a", "v1.0.0-RC1"),
        ("cache/download/example.com/a/@v/v1.0.0.ziphash", "ziphash", "example.com/a", "v1.0.0"),
        ("cache/download/example.com/a/@v/v1.0.0.lock", "lock", "example.com/a", "v1.0.0"),
        ("cache/download/example.com/a/@v/v1.0.0.partial", "partial", "example.com/a", "v1.0.0"),
        ("cache/download/example.com/a/@v/list", "list", "example.com/a", None),
        ("cache/download/example.com/a/@v", "version-dir", "example.com/a", None),
        ("cache/download/example.com/a", "module-dir", "example.com/a", None),
        ("cache/download", "download-root", None, None),
        ("cache/lock", "cache-lock", None, None),
        ("github.com/!burnt!sushi/toml@v1.2.0/decode.go", "extracted", "github.com/BurntSushi/toml", "v1.2.0"),
        ("example.com/a@v1.0.0", "extracted", "example.com/a", "v1.0.0"),
        ("example.com/a@v1.0.0.tmp-123456/a.go", "extracted-tmp", "example.com/a", "v1.0.0"),
        ("example.com", "other", None, None),
    ],
)  # fmt: skip
def test_classify(rel: str, artifact: str, module: str | None, version: str | None) -> None:
    cp = classify(f"{GMC}/{rel}", GMC)
    assert cp is not None
    assert (cp.artifact, cp.module, cp.version, cp.rel) == (artifact, module, version, rel)


@pytest.mark.parametrize(
    ("name", "tmp_of", "final"),
    [
        ("v1.0.0.zip75109844.tmp", "zip", "v1.0.0.zip"),
        ("v1.0.0.mod123.tmp", "mod", "v1.0.0.mod"),
        ("v1.0.0.info203460638.tmp", "info", "v1.0.0.info"),
        ("v1.0.0.ziphash42.tmp", "ziphash", "v1.0.0.ziphash"),
        ("list9.tmp", "list", "list"),
    ],
)
def test_classify_tmp(name: str, tmp_of: str, final: str) -> None:
    vdir = f"{GMC}/cache/download/github.com/!azure/sdk/@v"
    cp = classify(f"{vdir}/{name}", GMC)
    assert cp is not None
    assert cp.artifact == "tmp" and cp.tmp_of == tmp_of
    assert cp.final == f"{vdir}/{final}"
    assert cp.module == "github.com/Azure/sdk"
    assert cp.version == (None if tmp_of == "list" else "v1.0.0")


def test_classify_sumdb() -> None:
    base = f"{GMC}/cache/download/sumdb/sum.golang.org"
    cp = classify(f"{base}/lookup/github.com/!burnt!sushi/toml@v1.2.0", GMC)
    assert cp is not None
    assert (cp.artifact, cp.db, cp.module, cp.version) == (
        "sumdb-lookup",
        "sum.golang.org",
        "github.com/BurntSushi/toml",
        "v1.2.0",
    )
    tile = classify(f"{base}/tile/8/0/x001/234", GMC)
    assert tile is not None and (tile.artifact, tile.db, tile.module) == (
        "sumdb-tile",
        "sum.golang.org",
        None,
    )
    assert classify(f"{base}/tile/8/1/000.p/5", GMC).artifact == "sumdb-tile"  # type: ignore[union-attr]


def test_classify_vcs() -> None:
    h = "a" * 64
    vcs = f"{GMC}/cache/vcs"
    assert classify(f"{vcs}/{h}", GMC).artifact == "vcs"  # type: ignore[union-attr]
    assert classify(f"{vcs}/{h}.info", GMC).artifact == "vcs-info"  # type: ignore[union-attr]
    assert classify(f"{vcs}/{h}.lock", GMC).artifact == "vcs-lock"  # type: ignore[union-attr]
    inside = classify(f"{vcs}/{h}/objects/pack/p.pack", GMC)
    assert inside is not None and (inside.artifact, inside.inner) == ("vcs", "objects/pack/p.pack")
    assert classify(vcs, GMC).artifact == "vcs-root"  # type: ignore[union-attr]


def test_classify_outside_and_root() -> None:
    assert classify("/etc/passwd", GMC) is None
    assert classify(GMC + "2/cache/download/x/@v/v1.0.0.zip", GMC) is None  # a sibling, not under
    assert classify(GMC, GMC + "/").artifact == "root"  # type: ignore[union-attr]
    cp = classify(f"{GMC}/cache/download/x.org/y/@v/v2.0.0.zip", GMC + "/")
    assert cp is not None and cp.key == "x.org/y@v2.0.0"


def test_escape_round_trip() -> None:
    assert modpath.unescape("github.com/!burnt!sushi") == "github.com/BurntSushi"
    assert modpath.escape("github.com/BurntSushi") == "github.com/!burnt!sushi"
    assert modpath.unescape("weird!9") == "weird!9"


# -- parse_cache_log -------------------------------------------------------------------------
def test_parse_cache_log_forms() -> None:
    text = "\n".join(
        [
            "# a comment",
            "2026-11-23T19:49:10.123Z download example.com/a@v1.2.0",
            "",
            "2026-11-23 19:49:11Z verify example.com/a@v1.2.0",
            "2026-11-23T21:49:12.5+02:00 lock github.com/BurntSushi/toml@v1.2.0 (waited 2.000s)",
            "19:49:13.250 unlock example.com/a@v1.2.0",
            "- fail example.com/b@v0.1.0 verifying example.com/b@v0.1.0: checksum mismatch",
            "not a log line",
            "2026-13-45T99:00:00Z download example.com/a@v1.2.0",
        ]
    )
    entries = parse_cache_log(text)
    base = 1795463350.0  # 2026-11-23T19:49:10Z
    assert [(e.line, e.op, e.module, e.version) for e in entries] == [
        (2, "download", "example.com/a", "v1.2.0"),
        (4, "verify", "example.com/a", "v1.2.0"),
        (5, "lock", "github.com/BurntSushi/toml", "v1.2.0"),
        (6, "unlock", "example.com/a", "v1.2.0"),
        (7, "fail", "example.com/b", "v0.1.0"),
    ]
    assert entries[0].ts == pytest.approx(base + 0.123)
    assert entries[1].ts == pytest.approx(base + 1)
    assert entries[2].ts == pytest.approx(base + 2.5)
    assert entries[2].detail == "(waited 2.000s)"
    assert entries[3].ts == pytest.approx(19 * 3600 + 49 * 60 + 13.25)
    assert entries[4].ts is None
    assert entries[4].detail == "verifying example.com/b@v0.1.0: checksum mismatch"


# -- real runs ---------------------------------------------------------------------------------
def test_cold_ok_every_required_module_downloaded() -> None:
    name = "cold-ok"
    lines = raw(name)
    t = table(name)
    mods = required(name)
    assert mods == {"example.com/dep0", "example.com/dep1", "example.com/dep2"}
    assert set(t["module"]) == mods
    zip_lengths = {
        int(m.group(1))
        for ln in lines
        for m in [re.search(r"application/zip\\r\\nContent-Length: (\d+)", ln)]
        if m
    }
    assert len(zip_lengths) == 1
    (zip_length,) = zip_lengths
    proxy = meta(name)["env"]["GOPROXY"]  # type: ignore[index]
    for r in t.iter_rows(named=True):
        assert r["result"] == "downloaded", r
        assert r["version"] == "v1.0.0"
        assert "zip" in r["renamed"] and r["extracted"] and r["leftovers"] == []
        assert r["source"] == proxy
        assert r["zip_bytes"] == zip_length
        zip_tmp = [p for p in r["tmp_files"] if ".zip" in p.rsplit("/", 1)[-1]]
        assert len(zip_tmp) == 1
        final = f"{r['module']}/@v/v1.0.0.zip"
        renames = [
            ln
            for ln in lines
            if "renameat(" in ln and f'"{zip_tmp[0]}"' in ln and f'{final}"' in ln
        ]
        assert renames, f"no renameat of {zip_tmp[0]} in the raw log"
        assert r["lock_path"].endswith(f"{r['module']}/@v/v1.0.0.lock")
        assert not r["lock_in_flight"] and r["lock_wait_s"] < 0.1
    # every zip's bytes, summed over the writes to its .tmp in the raw log
    for r in t.iter_rows(named=True):
        tmp = next(p for p in r["tmp_files"] if ".zip" in p.rsplit("/", 1)[-1])
        written = sum(returns(lines, "write", f"<{tmp}>"))
        assert r["zip_bytes"] == written > 0


def test_up_to_date_all_cached() -> None:
    name = "up-to-date"
    t = table(name)
    assert set(t["module"]) == required(name)
    assert set(t["result"]) == {"cached"}
    assert t["tmp_files"].list.len().sum() == 0
    assert t["zip_bytes"].sum() == 0
    assert not any(".tmp" in ln for ln in raw(name))
    assert modcache.findings(context(name)) == []
    assert modcache.cache_log(context(name)) == []


def test_lock_held_wait_counts_to_the_end() -> None:
    name = "lock-held"
    lines = raw(name)
    dep0 = row(name, "example.com/dep0")
    lock = dep0["lock_path"]
    assert isinstance(lock, str) and lock.endswith("example.com/dep0/@v/v1.0.0.lock")
    flock = [i for i, ln in enumerate(lines, 1) if "flock(" in ln and f"<{lock}>, LOCK_EX" in ln]
    assert len(flock) == 1
    expected = ts_of(lines[-1]) - ts_of(lines[flock[0] - 1])
    assert dep0["lock_in_flight"] is True
    assert dep0["lock_wait_s"] == pytest.approx(expected, abs=0.01)
    assert dep0["result"] == "in-progress"
    assert meta(name)["signal"] == "SIGKILL"
    waits = [f for f in modcache.findings(context(name)) if f.kind == "lock-wait"]
    assert len(waits) == 1
    f = waits[0]
    assert f.severity == "error"
    assert flock[0] in f.evidence
    assert lock in f.objects and "example.com/dep0@v1.0.0" in f.objects
    assert "held by a process outside the trace" in f.summary
    assert f.weight == pytest.approx(expected, abs=0.01)
    assert f.fix == modcache.LOCK_FIX
    others = table(name).filter(pl.col("module") != "example.com/dep0")
    assert set(others["result"]) == {"downloaded"}


def test_killed_downloads_are_incomplete() -> None:
    name = "killed"
    lines = raw(name)
    assert meta(name)["signal"] == "SIGKILL"
    # zip .tmp files created in the raw log and never renamed
    created = {
        m.group(1)
        for ln in lines
        for m in [re.search(r'openat\([^"]*"([^"]+\.zip\d+\.tmp)", O_RDWR\|O_CREAT', ln)]
        if m
    }
    renamed = {
        m.group(1) for ln in lines for m in [re.search(r'renameat\([^"]*"([^"]+\.tmp)"', ln)] if m
    }
    left = created - renamed
    assert left
    t = table(name)
    incomplete = t.filter(pl.col("result") == "incomplete")
    assert {p for ps in incomplete["leftovers"] for p in ps} == left
    for r in incomplete.iter_rows(named=True):
        assert "zip" not in r["renamed"] and r["zip_bytes"] > 0 and not r["extracted"]
    found = [f for f in modcache.findings(context(name)) if f.kind == "download-incomplete"]
    assert {f.objects[0] for f in found} == {
        f"{r['module']}@{r['version']}" for r in incomplete.iter_rows(named=True)
    }
    assert all("killed by SIGKILL" in f.summary for f in found)


def test_cache_readonly_permission() -> None:
    name = "cache-readonly"
    lines = raw(name)
    gmc = context(name).gomodcache
    assert gmc
    # the lines printing EACCES (a split call prints it on its resumed line)
    denied = [i for i, ln in enumerate(lines, 1) if "= -1 EACCES" in ln]
    assert denied
    ctx = context(name)
    perms = [f for f in modcache.findings(ctx) if f.kind == "cache-permission"]
    assert len(perms) == 1
    f = perms[0]
    assert set(denied) <= set(f.evidence)
    assert all(
        "= -1 EACCES" in lines[n - 1] or f'"{f.objects[0]}"' in lines[n - 1] for n in f.evidence
    )
    assert f.objects[0].endswith("/cache/download/example.com/dep2")
    assert f.objects[0] in f.summary and "EACCES" in f.summary
    assert f.severity == "error" and f.fix
    dep2 = row(name, "example.com/dep2")
    assert dep2["result"] == "failed"
    assert "permission denied" in str(dep2["error"])
    assert set(table(name).filter(pl.col("module") != "example.com/dep2")["result"]) == {"cached"}


def test_checksum_mismatch_module_failed() -> None:
    dep1 = row("checksum-mismatch", "example.com/dep1")
    assert dep1["result"] == "failed"
    assert dep1["error"] == "verifying example.com/dep1@v1.0.0: checksum mismatch"
    # the zip was downloaded in full but never renamed: go exits before cleaning up
    assert dep1["zip_bytes"] > 0 and "zip" not in dep1["renamed"]  # type: ignore[operator]


def test_stderr_devnull_error_names_module() -> None:
    dep1 = row("stderr-devnull", "example.com/dep1")
    assert dep1["result"] == "failed"
    assert "410 Gone" in str(dep1["error"])
    assert dep1["source"] == meta("stderr-devnull")["env"]["GOPROXY"]  # type: ignore[index]


def test_goproxy_off_error_and_missing() -> None:
    t = table("goproxy-off")
    assert row("goproxy-off", "example.com/dep0")["result"] == "failed"
    assert set(t.filter(pl.col("module") != "example.com/dep0")["result"]) == {"missing"}
    assert t["source"].null_count() == t.height


def test_file_proxy_source_and_copy_file_range_bytes() -> None:
    name = "go_mod_download.strace"
    lines = raw(name)
    t = table(name)
    assert set(t["result"]) == {"downloaded"}
    assert set(t["source"]) == {"file:///tmp/gotrace-fixture/go/proxy"}
    for r in t.iter_rows(named=True):
        tmp = next(p for p in r["tmp_files"] if ".zip" in p.rsplit("/", 1)[-1])
        copied = sum(returns(lines, "copy_file_range", f"<{tmp}>"))
        assert r["zip_bytes"] == copied > 0


def test_http_proxy_source_from_the_socket() -> None:
    name = "go_mod_download_http.strace"
    ports = {
        m.group(1)
        for ln in raw(name)
        for m in [re.search(r'"GET /example\.com/\S+ HTTP/1\.1\\r\\nHost: 127\.0\.0\.1:(\d+)', ln)]
        if m
    }
    assert len(ports) == 1
    t = table(name)
    assert set(t["source"]) == {f"http://127.0.0.1:{ports.pop()}"}
    assert set(t["result"]) == {"downloaded"}


# -- lock holder inside the trace (inline strace lines, as strace -f -ttt -T -yy prints them) ---
HOLDER = """\
100   1795968600.000000 openat(AT_FDCWD</w>, "/m/cache/download/example.com/a/@v/v1.0.0.lock", O_RDWR|O_CREAT|O_CLOEXEC, 0666) = 3</m/cache/download/example.com/a/@v/v1.0.0.lock> <0.000010>
100   1795968600.000100 flock(3</m/cache/download/example.com/a/@v/v1.0.0.lock>, LOCK_EX) = 0 <0.000005>
200   1795968600.500000 openat(AT_FDCWD</w>, "/m/cache/download/example.com/a/@v/v1.0.0.lock", O_RDWR|O_CREAT|O_CLOEXEC, 0666) = 3</m/cache/download/example.com/a/@v/v1.0.0.lock> <0.000010>
200   1795968600.500100 flock(3</m/cache/download/example.com/a/@v/v1.0.0.lock>, LOCK_EX <unfinished ...>
100   1795968603.000000 flock(3</m/cache/download/example.com/a/@v/v1.0.0.lock>, LOCK_UN) = 0 <0.000005>
200   1795968603.000100 <... flock resumed>) = 0 <2.500000>
100   1795968603.100000 exit_group(0) = ?
100   1795968603.100100 +++ exited with 0 +++
200   1795968603.200000 exit_group(0) = ?
200   1795968603.200100 +++ exited with 0 +++
"""


def test_lock_holder_in_the_trace(tmp_path: Path) -> None:
    log = tmp_path / "two.strace"
    log.write_text(HOLDER)
    ctx = build(gotrace.load(log))
    [f] = modcache.findings(ctx)
    assert f.kind == "lock-wait" and f.severity == "warning"
    assert f.detail["holder_pid"] == 100
    assert "held by pid 100" in f.summary
    assert f.pids == (200, 100)
    assert f.evidence == (4, 6)
    assert f.weight == pytest.approx(2.5)
    [r] = modcache.modules(ctx).to_dicts()
    assert r["lock_wait_s"] == pytest.approx(2.5, abs=1e-3) and not r["lock_in_flight"]


def test_no_holder_after_release(tmp_path: Path) -> None:
    text = HOLDER.replace(
        "100   1795968603.000000 flock(3</m/cache/download/example.com/a/@v/v1.0.0.lock>, LOCK_UN)",
        "100   1795968600.400000 flock(3</m/cache/download/example.com/a/@v/v1.0.0.lock>, LOCK_UN)",
    )
    lines = text.splitlines()
    # keep the file in time order: the release now comes before the second process starts
    lines.insert(2, lines.pop(4))
    log = tmp_path / "released.strace"
    log.write_text("\n".join(lines) + "\n")
    [f] = modcache.findings(build(gotrace.load(log)))
    assert f.detail["holder_pid"] is None
    assert "outside the trace" in f.summary


# -- the cache log -----------------------------------------------------------------------------
def test_cache_log_round_trip_and_correlate() -> None:
    ctx = context("cold-ok")
    log = modcache.cache_log(ctx)
    assert log and all(
        re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \w+ \S+@v\S+", ln) for ln in log
    )
    ops = {ln.split()[1] for ln in log}
    assert {"lock", "unlock", "download", "verify", "extract"} <= ops
    for module in required("cold-ok"):
        assert any(ln.split()[1:3] == ["download", f"{module}@v1.0.0"] for ln in log)
    entries = parse_cache_log("\n".join(log))
    assert len(entries) == len(log)
    same = modcache.correlate(ctx, entries)
    assert same["matched"].all()
    assert same["offset_s"][0] == pytest.approx(0.0, abs=1e-3)
    # the same log from a machine whose clock is an hour and a quarter-second ahead
    shifted = [
        modcache.CacheLogEntry(e.ts + 3600.25, e.op, e.module, e.version, e.detail, e.line)  # type: ignore[operator]
        for e in entries
    ]
    moved = modcache.correlate(ctx, shifted)
    assert moved["matched"].all()
    assert moved["offset_s"][0] == pytest.approx(3600.25, abs=1e-3)
    assert moved["delta_s"].abs().max() < 0.01  # type: ignore[operator]
    # an entry the trace does not know stays unmatched
    extra = [
        *shifted,
        modcache.CacheLogEntry(shifted[0].ts, "download", "example.com/nope", "v9.9.9"),
    ]
    assert not modcache.correlate(ctx, extra)["matched"][-1]


def test_cache_log_failures_and_waits() -> None:
    held = modcache.cache_log(context("lock-held"))
    assert any(" lock example.com/dep0@v1.0.0 (still waiting after " in ln for ln in held), held
    failed = modcache.cache_log(context("checksum-mismatch"))
    assert any(
        ln.endswith(
            "fail example.com/dep1@v1.0.0 verifying example.com/dep1@v1.0.0: checksum mismatch"
        )
        for ln in failed
    )
    killed = modcache.cache_log(context("killed"))
    assert (
        sum(" fail " in ln and "incomplete: " in ln for ln in killed)
        == table("killed").filter(pl.col("result") == "incomplete").height
    )


def test_no_gomodcache_no_rows() -> None:
    ctx = build(gotrace.load(STRACE / "plain.strace"))
    assert ctx.gomodcache is None
    assert modcache.modules(ctx).height == 0
    assert modcache.findings(ctx) == []
    assert modcache.cache_log(ctx) == []


def test_strict_unescape_rejects_what_go_never_writes() -> None:
    assert modpath.unescape("example.com/!a", strict=True) == "example.com/A"
    for bad in ("example.com/A", "example.com/!9"):
        with pytest.raises(ValueError):
            modpath.unescape(bad, strict=True)
