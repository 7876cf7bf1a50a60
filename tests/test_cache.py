"""gotrace cache: module caches built by real go against the lab proxy (complete, interrupted,
locked, read-only), scanned and fixed; plus the pure classification of one module version."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from conftest import scenario
from typer.testing import CliRunner

from gotrace.doctor import fix_cache, scan_cache
from gotrace.doctor.cachescan import Leftover, classify, unescape_path
from gotrace.doctor.procfs import parse_locks
from gotrace.errors import GotraceError
from gotrace.lab import Prepared, run_scenario
from gotrace.lab import find_go as lab_find_go

integration = pytest.mark.integration

DEP = "example.com/dep{}"
V = "v1.0.0"
COMPLETE_ARTIFACTS = ["info", "mod", "zip", "ziphash", "lock", "dir"]


def run_cache(app: typer.Typer, *args: str) -> tuple[int, dict[str, Any]]:
    r = CliRunner().invoke(app, ["cache", "--json", *args])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r.exit_code, json.loads(r.stdout)


def vdir(prep: Prepared, i: int) -> Path:
    return prep.gomodcache / "cache" / "download" / DEP.format(i) / "@v"


def tmp_files(root: Path) -> list[Path]:
    return sorted(root.glob("cache/download/**/@v/*.tmp"))


def all_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def interrupt(prep: Prepared, *, within: float = 90.0) -> list[Path]:
    """Run the scenario's go until a zip download is under way, then SIGKILL it, as an outer
    timeout would; return the tmp files it left. (``within`` is generous: go fsyncs each
    .info and .mod it writes, which can take seconds on a busy disk.)"""
    proc = subprocess.Popen(prep.argv, env=prep.env, cwd=prep.cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    started = time.monotonic()
    seen: list[Path] = []
    ended_first = None
    try:
        # a zip's tmp file: the slow download; an .info or .mod tmp is renamed at once, so
        # SIGKILL can come after go's rename (seen in CI: v1.0.0.info198761815.tmp, gone)
        while (
            not (seen := [p for p in tmp_files(prep.gomodcache) if ".zip" in p.name])
            and time.monotonic() < started + within
        ):
            if (ended_first := proc.poll()) is not None:
                break
            time.sleep(0.02)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
    left = tmp_files(prep.gomodcache)
    assert left, (
        f"no download under way when go was killed: exit {proc.returncode}, ended before "
        f"our SIGKILL: {ended_first is not None}, tmp files seen: {seen}, after "
        f"{time.monotonic() - started:.2f} s, stderr {err!r}"
    )
    return left


@contextlib.contextmanager
def complete_cache() -> Iterator[Prepared]:
    with scenario("cold-ok") as prep:
        result = run_scenario(prep)
        assert result.exit_code == 0, result.stderr
        yield prep


# --- pure -------------------------------------------------------------------------------------


def test_unescape_path():
    assert unescape_path("github.com/!burnt!sushi/toml") == "github.com/BurntSushi/toml"
    for bad in ("github.com/Upper", "a/!", "a/!1"):
        with pytest.raises(ValueError):
            unescape_path(bad)


def test_classify_states():
    done = {"info": 1, "mod": 1, "zip": 1, "ziphash": 1, "lock": 0}
    assert classify(V, done, "/c/m@v1.0.0", [], []) == ("complete", ())
    assert classify(V, {"info": 1, "mod": 1}, "", [], [])[0] == "go.mod only"
    assert classify(V, {"zip": 1, "ziphash": 1, "info": 1, "mod": 1}, "", [], [])[0] == "downloaded"
    state, problems = classify(V, {"info": 1, "mod": 1, "zip": 1}, "", [], [])
    assert state == "incomplete" and problems[0].startswith("v1.0.0.zip without v1.0.0.ziphash")
    state, problems = classify(V, {**done, "partial": 0}, "/c/m@v1.0.0", [], [])
    assert state == "incomplete" and "extraction into /c/m@v1.0.0 was interrupted" in problems[0]
    tmp = Leftover("/c/cache/download/m/@v/v1.0.0.zip123.tmp", "tmp", 77)
    assert classify(V, {"info": 1}, "", [tmp], [])[1] == (
        "v1.0.0.zip123.tmp: left by an interrupted download (77 bytes)",
    )


# --- hand-built cache: --fix and locks, no go needed -----------------------------------------


def _fake_cache(root: Path) -> Path:
    v = root / "cache" / "download" / "example.com" / "!m" / "@v"
    v.mkdir(parents=True)
    for name, data in (("v1.0.0.info", "{}"), ("v1.0.0.mod", "module x"), ("v1.0.0.lock", ""),
                       ("v1.0.0.zip42.tmp", "partial zip")):  # fmt: skip
        (v / name).write_text(data)
    return v


def test_fix_skips_a_version_whose_lock_is_held(tmp_path: Path, app: typer.Typer):
    v = _fake_cache(tmp_path)
    fd = os.open(v / "v1.0.0.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        report = scan_cache(tmp_path)
        entry = report.version("example.com/M", V)
        assert entry is not None and entry.held
        assert entry.holders[0].pid == os.getpid() and entry.holders[0].kind == "FLOCK"
        actions = fix_cache(report)
        assert [(a.action, Path(a.path).name) for a in actions] == [("skipped", "v1.0.0.zip42.tmp")]
        assert (v / "v1.0.0.zip42.tmp").exists()
    finally:
        os.close(fd)
    code, out = run_cache(app, "--fix", str(tmp_path))
    assert code == 0
    assert [(a["action"], Path(a["path"]).name) for a in out["fixed"]] == [
        ("removed", "v1.0.0.zip42.tmp")
    ]
    assert not (v / "v1.0.0.zip42.tmp").exists()
    assert (
        out["versions"][0]["module"] == "example.com/M"
        and out["versions"][0]["state"] == "go.mod only"
    )


def test_cache_bad_input(app: typer.Typer, tmp_path: Path):
    r = CliRunner().invoke(app, ["cache", str(tmp_path / "nope")])
    assert r.exit_code == 1 and str(r.exception) == f"{tmp_path / 'nope'}: no such directory"
    (tmp_path / "file").write_text("")
    r = CliRunner().invoke(app, ["cache", str(tmp_path / "file")])
    assert r.exit_code == 1 and "not a directory" in str(r.exception)


@integration
def test_cache_default_is_go_env_gomodcache(app: typer.Typer, tmp_path: Path):
    try:
        go = lab_find_go()
    except GotraceError as exc:
        pytest.skip(str(exc))
    _fake_cache(tmp_path)
    env = {"GOMODCACHE": str(tmp_path), "GOTOOLCHAIN": "local", "GOFLAGS": "-modcacherw",
           "GOENV": "off", "GOPROXY": "off", "GOSUMDB": "off",
           "PATH": f"{go.binary.parent}:{os.environ.get('PATH', '')}"}  # fmt: skip
    if go.goroot is not None:
        env["GOROOT"] = str(go.goroot)
    r = CliRunner().invoke(app, ["cache", "--json"], env=env)
    assert json.loads(r.stdout)["gomodcache"] == str(tmp_path)
    assert r.exit_code == 1  # the leftover tmp file


# --- lab caches, real go ----------------------------------------------------------------------


@integration
def test_complete_cache_is_reported_exactly(app: typer.Typer):
    with complete_cache() as prep:
        code, out = run_cache(app, str(prep.gomodcache))
        zips = {i: (vdir(prep, i) / f"{V}.zip").stat().st_size for i in range(3)}
        extracted = {
            i: sum(f.stat().st_size for f in (prep.gomodcache / f"{DEP.format(i)}@{V}").rglob("*")
                   if f.is_file())
            for i in range(3)
        }  # fmt: skip
    assert code == 0 and out["healthy"] and out["problems"] == []
    assert out["states"] == {"complete": 3}
    assert [(v["module"], v["version"]) for v in out["versions"]] == [
        (DEP.format(i), V) for i in range(3)
    ]
    for i, v in enumerate(out["versions"]):
        assert v["artifacts"] == COMPLETE_ARTIFACTS
        assert v["files"]["zip"] == zips[i]
        assert v["bytes"] == sum(v["files"].values()) + extracted[i]
        assert v["lock"]["held"] is False and v["problems"] == []
    assert out["locks"] == {"files": 3, "held": []}
    assert out["totals"]["extracted"] == sum(extracted.values())
    assert out["totals"]["total"] == sum(v for k, v in out["totals"].items() if k != "total")


@integration
def test_partial_extraction_is_reported_and_fixed(app: typer.Typer):
    with complete_cache() as prep:
        partial = vdir(prep, 1) / f"{V}.partial"
        partial.write_text("")
        moddir = prep.gomodcache / f"{DEP.format(1)}@{V}"
        next(moddir.glob("*.go")).unlink()  # the extraction stopped half-way
        code, out = run_cache(app, str(prep.gomodcache))
        assert code == 1
        dep1 = out["versions"][1]
        assert dep1["state"] == "incomplete" and "partial" in dep1["artifacts"]
        assert dep1["problems"] == [
            f"{V}.partial: extraction into {moddir} was interrupted; go removes the directory "
            "and extracts again"
        ]
        code, out = run_cache(app, "--fix", str(prep.gomodcache))
        assert [(a["action"], a["path"]) for a in out["fixed"]] == [
            ("removed", str(moddir)),
            ("removed", str(partial)),
        ]
        assert not moddir.exists() and not partial.exists()
        assert (vdir(prep, 1) / f"{V}.zip").exists()  # the verified zip stays
        assert out["versions"][1]["state"] == "downloaded" and code == 0
        # go agrees: it re-extracts from the zip, with no network (GOPROXY=off)
        env = {**prep.env, "GOPROXY": "off"}
        proc = subprocess.run(prep.argv, env=env, cwd=prep.cwd, capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert moddir.is_dir()


@integration
@pytest.mark.parametrize("name", ["killed", "slow-proxy"])
def test_interrupted_download_is_reported_exactly_and_fixed(app: typer.Typer, name: str):
    with scenario(name) as prep:
        left = interrupt(prep)
        before = all_files(prep.gomodcache)
        code, out = run_cache(app, str(prep.gomodcache))
        assert code == 1 and not out["healthy"]
        reported = sorted(Path(x["path"]) for v in out["versions"] for x in v["leftovers"])
        assert reported == left
        for v in out["versions"]:
            mine = [p for p in left if p.parent == vdir(prep, int(v["module"][-1]))]
            assert v["problems"] == [
                f"{p.name}: left by an interrupted download ({p.stat().st_size} bytes)"
                for p in mine
            ]
            if mine:
                assert v["state"] == "incomplete" and "tmp" in v["artifacts"]
            else:
                assert "tmp" not in v["artifacts"]
            assert not v["lock"]["held"]  # go is dead: lock files remain, nobody holds them
        code, out = run_cache(app, "--fix", str(prep.gomodcache))
        assert sorted(Path(a["path"]) for a in out["fixed"] if a["action"] == "removed") == left
        assert all_files(prep.gomodcache) == before - set(left)
        assert code == 0 and out["healthy"]


@integration
def test_lock_held_by_a_live_process(app: typer.Typer):
    with scenario("lock-held") as prep:
        holder = prep.pids["lock-holder"]
        lock = prep.files["lock"]
        go = subprocess.Popen(prep.argv, env=prep.env, cwd=prep.cwd, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)  # fmt: skip
        try:
            ino = lock.stat().st_ino
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                waiting = [r for r in parse_locks(Path("/proc/locks").read_text())
                           if r.inode == ino and r.waiting]  # fmt: skip
                if waiting:
                    break
                time.sleep(0.05)
            # leftovers: one in the locked version, one in a version nobody holds
            locked_tmp = lock.parent / f"{V}.zip111.tmp"
            locked_tmp.write_text("x")
            free_dir = prep.gomodcache / "cache" / "download" / "example.com" / "free" / "@v"
            free_dir.mkdir(parents=True)
            free_tmp = free_dir / f"{V}.zip222.tmp"
            free_tmp.write_text("y")

            code, out = run_cache(app, str(prep.gomodcache))
            assert code == 1
            dep0 = next(v for v in out["versions"] if v["module"] == DEP.format(0))
            holders = {
                (h["pid"], h["waiting"], h["kind"], h["mode"]) for h in dep0["lock"]["holders"]
            }
            assert (holder, False, "FLOCK", "WRITE") in holders
            assert (go.pid, True, "FLOCK", "WRITE") in holders  # go itself, blocked on the lock
            assert dep0["lock"]["held"] is True
            go_cmd = next(h["command"] for h in dep0["lock"]["holders"] if h["pid"] == go.pid)
            assert go_cmd.endswith("mod download")
            assert any(f"lock held by pid {holder}" in p for p in dep0["problems"])
            held = {h["path"]: h for h in out["locks"]["held"]}
            assert str(lock) in held

            _, out = run_cache(app, "--fix", str(prep.gomodcache))
            actions = {a["path"]: a for a in out["fixed"]}
            assert actions[str(locked_tmp)]["action"] == "skipped"
            assert f"lock held by pid {holder}" in actions[str(locked_tmp)]["detail"]
            assert actions[str(free_tmp)]["action"] == "removed"
            assert locked_tmp.exists() and not free_tmp.exists()
            assert lock.exists()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(go.pid, signal.SIGKILL)
            go.wait()


@integration
def test_read_only_cache_lists_every_unwritable_place(app: typer.Typer):
    with scenario("cache-readonly") as prep:
        root = prep.gomodcache
        code, out = run_cache(app, str(root))
        expected = {str(root)}
        for dirpath, dirnames, filenames in os.walk(root):
            rel = Path(dirpath).relative_to(root)
            in_cache = rel.parts[:1] == ("cache",)
            if rel.parts:
                expected.add(dirpath)  # go creates files (or module directories) here
            if in_cache:
                expected.update(
                    os.path.join(dirpath, f)
                    for f in filenames
                    if f.endswith(".lock") or f == "lock"
                )
            # extracted module trees are read-only by go's own design: not a problem
            dirnames[:] = [d for d in dirnames if in_cache or "@" not in d]
        got = {p["path"] for p in out["problems"] if p["kind"] == "not-writable"}
        states = out["states"]
        fixed_code, fixed = run_cache(app, "--fix", str(root))
    assert got == expected
    assert {p["kind"] for p in out["problems"]} == {"not-writable"}
    if os.geteuid() == 0:
        assert all("CAP_DAC_OVERRIDE" in p["detail"] for p in out["problems"])
    assert states == {"complete": 2}
    assert code == 1
    assert fixed["fixed"] == [] and fixed_code == 1


@integration
def test_text_report(app: typer.Typer):
    with scenario("killed") as prep:
        left = interrupt(prep)
        r = CliRunner().invoke(app, ["cache", str(prep.gomodcache)])
    assert r.exit_code == 1
    assert r.stdout.startswith(f"GOMODCACHE {prep.gomodcache} (owner ")
    for p in left:
        assert f"! {p.name}: left by an interrupted download" in r.stdout
    assert "none held now" in r.stdout
    assert r.stdout.rstrip().endswith("issue(s) (exit 1)")
