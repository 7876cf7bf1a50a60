"""Every lab scenario, run with real go (no strace) against loopback proxies.

Each scenario runs once per session (``outcome``); the tests then read its result, the proxy
request logs and what was left behind after cleanup.
"""

from __future__ import annotations

import re
import subprocess
import threading
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from gotrace.errors import UsageError
from gotrace.lab import (
    SCENARIOS,
    Prepared,
    RunResult,
    ScenarioUnavailable,
    get_scenario,
    run_scenario,
)
from gotrace.lab.workbench import matches_expectation

integration = pytest.mark.integration

ENV_KEYS = {
    "PATH",
    "HOME",
    "TMPDIR",
    "GOENV",
    "GOTOOLCHAIN",
    "GOFLAGS",
    "GOPATH",
    "GOMODCACHE",
    "GOCACHE",
    "GOPROXY",
    "GOSUMDB",
    "GOROOT",
    # issue 15's scenarios: the lab's certificate, an HTTP proxy, direct mode
    "SSL_CERT_FILE",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "GOPRIVATE",
    "GOINSECURE",
    "GIT_CONFIG_NOSYSTEM",
}


@dataclass
class Outcome:
    prepared: Prepared
    result: RunResult
    logs: dict[str, str]


_OUTCOMES: dict[str, Outcome | str] = {}


def outcome(name: str) -> Outcome:
    """Run scenario ``name`` once per session, untraced and without -x."""
    if name not in _OUTCOMES:
        try:
            with SCENARIOS[name].prepare() as prepared:
                result = run_scenario(prepared)
                logs = {k: p.read_text() for k, p in prepared.files.items() if p.suffix == ".log"}
            _OUTCOMES[name] = Outcome(prepared, result, logs)
        except ScenarioUnavailable as exc:
            _OUTCOMES[name] = str(exc)
    found = _OUTCOMES[name]
    if isinstance(found, str):
        pytest.skip(found)
    return found


def _zips(paths: Sequence[str]) -> list[str]:
    return sorted(p for p in paths if p.endswith(".zip"))


ALL_ZIPS = [f"/example.com/dep{i}/@v/v1.0.0.zip" for i in range(3)]
DEP1_ZIP = "/example.com/dep1/@v/v1.0.0.zip"


# --- every scenario -----------------------------------------------------------------------------


@integration
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_go_ends_as_the_scenario_says(name: str) -> None:
    scenario = SCENARIOS[name]
    got = outcome(name).result
    assert matches_expectation(scenario, got), got
    assert got.stdout == ""
    if scenario.expect_exit is None:
        # go never gave up by itself: the outer timeout's SIGKILL ended it.
        assert got.exit_code == -9
        assert got.duration >= scenario.timeout - 0.1
    else:
        assert got.duration < scenario.timeout


@integration
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_cleanup_leaves_no_process_dir_or_namespace(name: str) -> None:
    prepared = outcome(name).prepared
    assert not prepared.workdir.exists()
    for pid in prepared.pids.values():
        assert not Path(f"/proc/{pid}").exists(), pid
    for proxy in prepared.proxies.values():
        with pytest.raises(RuntimeError):
            _ = proxy.port
    if prepared.netns is not None:
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert prepared.netns not in listed
        assert not Path("/etc/netns", prepared.netns).exists()


@integration
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_env_is_from_scratch_and_loopback_only(name: str) -> None:
    prepared = outcome(name).prepared
    env = prepared.env
    assert set(env) <= ENV_KEYS
    assert env["GOTOOLCHAIN"] == "local" and env["GOENV"] == "off"
    assert env["GOFLAGS"] == "-modcacherw"
    for key in ("HOME", "TMPDIR", "GOPATH", "GOMODCACHE", "GOCACHE"):
        assert Path(env[key]).is_relative_to(prepared.workdir), key
    for entry in re.split(r"[,|]", env["GOPROXY"]):
        if entry == "off" or (entry == "direct" and prepared.netns):
            continue
        host = urllib.parse.urlsplit(entry).hostname
        # dns-timeout's proxy name and connect-*'s proxy.golang.org exist only inside a
        # loopback-only namespace (go asks the CONNECT proxy for the latter, never DNS)
        named = host in ("goproxy.test", "proxy.golang.org") and prepared.netns
        assert host in ("127.0.0.1", "localhost") or named, entry
    for key in ("HTTPS_PROXY", "HTTP_PROXY"):
        if key in env:
            assert urllib.parse.urlsplit(env[key]).hostname == "127.0.0.1", key
    if "SSL_CERT_FILE" in env:
        assert Path(env["SSL_CERT_FILE"]).is_relative_to(prepared.workdir)
    if env["GOSUMDB"] != "off":
        assert urllib.parse.urlsplit(env["GOSUMDB"].split()[-1]).hostname == "127.0.0.1"


# --- what each one shows ------------------------------------------------------------------------


@integration
def test_up_to_date_makes_no_request_and_prints_nothing() -> None:
    got = outcome("up-to-date")
    assert got.prepared.proxies["proxy"].requests == []
    assert got.result.stderr == "" and got.result.exit_code == 0


@integration
def test_cold_ok_downloads_every_zip_once() -> None:
    assert _zips(outcome("cold-ok").prepared.proxies["proxy"].paths()) == ALL_ZIPS


@integration
def test_proxy_stall_hangs_on_one_zip_while_the_others_arrive() -> None:
    proxy = outcome("proxy-stall").prepared.proxies["proxy"]
    assert proxy.paths("stall") == [DEP1_ZIP]
    assert _zips(proxy.paths("normal")) == [ALL_ZIPS[0], ALL_ZIPS[2]]


@integration
def test_body_stall_stops_mid_body() -> None:
    assert outcome("body-stall").prepared.proxies["proxy"].paths("body_stall") == [DEP1_ZIP]


@integration
def test_slow_proxy_is_slow_but_succeeds() -> None:
    got = outcome("slow-proxy")
    assert _zips(got.prepared.proxies["proxy"].paths("slow")) == ALL_ZIPS
    assert got.result.duration >= 0.8


@integration
def test_proxy_refused_names_the_loopback_port() -> None:
    got = outcome("proxy-refused")
    port = urllib.parse.urlsplit(got.prepared.env["GOPROXY"]).port
    assert f"dial tcp 127.0.0.1:{port}: connect: connection refused" in got.result.stderr


@integration
def test_fallback_404_uses_the_second_proxy() -> None:
    proxies = outcome("fallback-404").prepared.proxies
    assert proxies["first"].requests and set(proxies["first"].paths()) == set(
        proxies["first"].paths("404")
    )
    assert _zips(proxies["second"].paths("normal")) == ALL_ZIPS


@integration
def test_timeout_no_fallback_never_tries_the_second_proxy() -> None:
    proxies = outcome("timeout-no-fallback").prepared.proxies
    assert proxies["first"].paths("stall")
    assert proxies["second"].requests == []


@integration
def test_pipe_fallback_uses_the_second_proxy_after_errors() -> None:
    proxies = outcome("pipe-fallback").prepared.proxies
    assert proxies["first"].paths("500") and _zips(proxies["first"].paths("reset"))
    assert _zips(proxies["second"].paths("normal")) == ALL_ZIPS


@integration
def test_lock_held_blocks_before_the_locked_zip() -> None:
    got = outcome("lock-held")
    assert "lock-holder" in got.prepared.pids
    assert got.prepared.files["lock"].name == "v1.0.0.lock"
    assert ALL_ZIPS[0] not in got.prepared.proxies["proxy"].paths()


@integration
def test_lock_held_go_finishes_once_the_holder_releases() -> None:
    with SCENARIOS["lock-held"].prepare() as prepared:
        assert prepared.release is not None
        timer = threading.Timer(1.0, prepared.release)
        timer.start()
        try:
            got = run_scenario(prepared)
        finally:
            timer.cancel()
        assert (got.exit_code, got.stderr) == (0, "")
        assert got.duration >= 1.0
        assert _zips(prepared.proxies["proxy"].paths()) == ALL_ZIPS


@integration
def test_cache_readonly_is_permission_denied_in_gomodcache() -> None:
    got = outcome("cache-readonly")
    assert f"mkdir {got.prepared.gomodcache}/cache/download/" in got.result.stderr
    # dep0 and dep1 were cached before the cache went read-only.
    assert all("/dep2/" in p for p in got.prepared.proxies["proxy"].paths())


@integration
def test_stderr_devnull_hides_the_410() -> None:
    got = outcome("stderr-devnull")
    assert got.prepared.stderr_devnull
    assert (got.result.exit_code, got.result.stderr) == (1, "")
    assert got.prepared.proxies["proxy"].paths("410") == [DEP1_ZIP]


@integration
def test_checksum_mismatch_names_the_go_sum_hash() -> None:
    got = outcome("checksum-mismatch")
    dep1 = got.prepared.modules[1]
    assert f"verifying {dep1.path}@{dep1.version}: checksum mismatch" in got.result.stderr
    assert f"go.sum:     {dep1.h1}" in got.result.stderr
    assert got.prepared.proxies["proxy"].paths("corrupt") == [DEP1_ZIP]


@integration
def test_sumdb_stall_blocks_on_lookup() -> None:
    got = outcome("sumdb-stall")
    lookups = got.prepared.proxies["sumdb"].paths("stall")
    assert lookups and all(p.startswith("/lookup/example.com/dep") for p in lookups)
    assert _zips(got.prepared.proxies["proxy"].paths()) == []


@integration
def test_killed_mid_download() -> None:
    got = outcome("killed")
    assert got.result.exit_code == -9
    assert got.prepared.proxies["proxy"].paths("slow")


@integration
def test_dns_timeout_queries_reach_the_black_hole() -> None:
    got = outcome("dns-timeout")
    names = {line.split()[1] for line in got.logs["dns-log"].splitlines()}
    assert names == {"goproxy.test"}
    assert got.result.duration >= 1.0


# --- go agrees with the lab's go.sum ------------------------------------------------------------


@integration
def test_go_computes_the_same_hashes() -> None:
    with SCENARIOS["cold-ok"].prepare() as prepared:
        ours = (prepared.cwd / "go.sum").read_text().splitlines()
        (prepared.cwd / "go.sum").unlink()
        assert run_scenario(prepared).exit_code == 0
        # Without a go.sum, go writes the /go.mod lines itself ...
        written = (prepared.cwd / "go.sum").read_text().splitlines()
        assert written == [line for line in ours if "/go.mod " in line]
        # ... and records each zip's h1 in the cache's .ziphash.
        for module in prepared.modules:
            vdir = prepared.gomodcache / "cache" / "download" / module.path / "@v"
            assert (vdir / f"{module.version}.ziphash").read_text().strip() == module.h1


@integration
@pytest.mark.parametrize("which", ["zip", "go.mod"])
def test_a_wrong_go_sum_fails_loudly(which: str) -> None:
    with SCENARIOS["cold-ok"].prepare() as prepared:
        go_sum = prepared.cwd / "go.sum"
        dep0 = prepared.modules[0]
        good = dep0.h1 if which == "zip" else dep0.gomod_h1
        wrong = "h1:" + "A" * 43 + "="
        go_sum.write_text(go_sum.read_text().replace(good, wrong))
        got = run_scenario(prepared)
    assert got.exit_code == 1
    assert "checksum mismatch" in got.stderr and wrong in got.stderr


@integration
def test_x_logs_each_request() -> None:
    with SCENARIOS["cold-ok"].prepare(x=True) as prepared:
        assert prepared.argv[-3:] == ["mod", "download", "-x"]
        got = run_scenario(prepared)
    url = prepared.env["GOPROXY"]
    assert f"# get {url}{DEP1_ZIP}: 200 OK" in got.stderr


# --- the runner seam and cleanup ----------------------------------------------------------------


def test_a_custom_runner_gets_the_prepared_command() -> None:
    calls: list[tuple[object, ...]] = []

    def runner(
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        timeout: float | None,
        stderr_devnull: bool,
        /,
    ) -> RunResult:
        calls.append((list(argv), dict(env), cwd, timeout, stderr_devnull))
        return RunResult(0, "", "", 0.0, False)

    with SCENARIOS["stderr-devnull"].prepare() as prepared:
        assert run_scenario(prepared, runner) == RunResult(0, "", "", 0.0, False)
    assert calls == [(prepared.argv, prepared.env, prepared.cwd, prepared.timeout, True)]
    assert Path(prepared.argv[0]).name == "go" and prepared.argv[1:] == ["mod", "download"]


@pytest.mark.parametrize("name", ["lock-held", "sumdb-stall", "dns-timeout"])
def test_keyboard_interrupt_still_cleans_up(name: str) -> None:
    scenario = SCENARIOS[name]
    reason = scenario.unavailable()
    if reason is not None:
        pytest.skip(reason)
    seen: list[Prepared] = []
    try:
        with pytest.raises(KeyboardInterrupt), scenario.prepare() as prepared:
            seen.append(prepared)
            raise KeyboardInterrupt
    except ScenarioUnavailable as exc:
        pytest.skip(str(exc))
    (prepared,) = seen
    assert not prepared.workdir.exists()
    assert all(not Path(f"/proc/{pid}").exists() for pid in prepared.pids.values())
    if prepared.netns is not None:
        assert not Path("/etc/netns", prepared.netns).exists()
        assert not Path("/run/netns", prepared.netns).exists()


def test_registry() -> None:
    assert len(SCENARIOS) >= 17
    for name, scenario in SCENARIOS.items():
        assert scenario.name == name
        assert re.fullmatch(r"[a-z0-9-]+", scenario.cause)
        assert "\n" not in scenario.description and "\n" not in scenario.explanation
        assert scenario.timeout > 0
        if scenario.expect_exit is None:
            # scale-stall needs hundreds of requests under way before its one stall, also at
            # ptrace's pace: it alone may take 10 s
            limit = 10 if scenario.name == "scale-stall" else 4
            assert scenario.timeout <= limit, "stall scenarios must keep the suite short"


def test_unknown_scenario_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="up-to-date"):
        get_scenario("no-such-thing")
