"""gotrace doctor: the pure parsing of go's settings, and the checks run against lab scenarios.

Network rule: every probe here goes to 127.0.0.1 (lab proxies, a refused port, a socket that
never accepts). The ``loopback_only`` guard fails any test that makes this process resolve a
name or connect anywhere else; GOPROXY/GOSUMDB are always loopback, off, or reached only
through a loopback HTTP(S)_PROXY.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from conftest import scenario
from typer.testing import CliRunner

from gotrace.doctor.checks import diagnose, judge_dir, judge_reach
from gotrace.doctor.gocmd import parse_env_file
from gotrace.doctor.model import (
    Check,
    DirState,
    DoctorSnapshot,
    Reach,
    Step,
    exit_status,
    worst_first,
)
from gotrace.doctor.netprobe import probe
from gotrace.doctor.procfs import (
    mount_for,
    parse_capabilities,
    parse_locks,
    parse_mountinfo,
    records_for,
)
from gotrace.errors import GotraceError, UsageError
from gotrace.goconfig.goproxy import explain_goproxy, parse_goproxy
from gotrace.goconfig.gosumdb import parse_gosumdb, sumdb_routes
from gotrace.goconfig.gover import compare_go, plan_toolchain
from gotrace.goconfig.httpproxy import proxy_env, route_for
from gotrace.goconfig.pathmatch import match_prefix_patterns, path_match
from gotrace.lab import Fault, ModuleProxy, Prepared
from gotrace.lab.proxy import refused_port

integration = pytest.mark.integration

#: variables of the developer's environment that must not leak into a doctor run
CLEAN_ENV: dict[str, str | None] = {
    k: None
    for k in (
        "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy",
        "ALL_PROXY", "all_proxy", "REQUEST_METHOD", "GOPRIVATE", "GONOPROXY", "GONOSUMDB",
        "GOINSECURE", "GONOSUMCHECK", "GONOVERIFY", "GOWORK", "GO111MODULE", "GOFLAGS",
    )
}  # fmt: skip


# --- guards and helpers ------------------------------------------------------------------------


def _loopback(host: object) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(str(host).strip("[]")).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Refuse, and record, any name lookup or connect() to a host that is not loopback."""
    violations: list[str] = []
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            violations.append(f"connect {address}")
            raise ConnectionRefusedError("test guard: only loopback")
        real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _loopback(host):
            violations.append(f"getaddrinfo {host}")
            raise socket.gaierror(socket.EAI_NONAME, "test guard: only loopback")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield violations
    assert not violations, f"left loopback: {violations}"


def run_doctor(
    app: typer.Typer,
    prep: Prepared,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 1.0,
) -> tuple[int, dict[str, Any]]:
    full: dict[str, str | None] = {**CLEAN_ENV, **prep.env, **(env or {})}
    for key in ("GOPROXY", "GOSUMDB"):
        # the rule: never the machine's default proxy.golang.org / sum.golang.org
        assert full[key] is not None and (
            full[key] == "off" or "127.0.0.1" in str(full[key]) or "example.com" in str(full[key])
        ), full[key]
    argv = ["doctor", "--json", "-C", str(prep.cwd), "--timeout", str(timeout), *args]
    result = CliRunner().invoke(app, argv, env=full)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, json.loads(result.stdout)


def check(out: dict[str, Any], name: str) -> dict[str, Any]:
    found = [c for c in out["checks"] if c["check"] == name]
    assert found, f"no check {name!r} in {[c['check'] for c in out['checks']]}"
    return found[0]


# --- GOPROXY -----------------------------------------------------------------------------------


def test_goproxy_default_list_spells_out_that_a_timeout_does_not_fall_back():
    plist = parse_goproxy("https://proxy.golang.org,direct")
    assert [(e.url, e.kind, e.separator) for e in plist.entries] == [
        ("https://proxy.golang.org", "proxy", ","),
        ("direct", "direct", ""),
    ]
    text = explain_goproxy(plist)
    assert (
        "a timeout or any other error on https://proxy.golang.org will NOT fall back to direct"
        in text[0]
    )


def test_goproxy_pipe_falls_back_on_any_error():
    plist = parse_goproxy("https://a.example.com|https://b.example.com,off")
    assert [e.separator for e in plist.entries] == ["|", ",", ""]
    assert (
        "on any error (also a connect timeout) go tries https://b.example.com"
        in explain_goproxy(plist)[0]
    )


@pytest.mark.parametrize(
    ("value", "urls", "ignored"),
    [
        ("off", ["off"], []),
        ("direct,https://x.example.com", ["direct"], ["https://x.example.com"]),
        ("  proxy.example.com/go , direct ", ["https://proxy.example.com/go", "direct"], []),
        ("http://127.0.0.1:8080,,|direct", ["http://127.0.0.1:8080", "direct"], []),
        ("localhost:3000", ["https://localhost:3000"], []),
        ("file:///srv/goproxy", ["file:///srv/goproxy"], []),
    ],
)
def test_goproxy_entries_as_go_reads_them(value: str, urls: list[str], ignored: list[str]):
    plist = parse_goproxy(value)
    assert [e.url for e in plist.entries] == urls
    assert list(plist.ignored) == ignored
    assert plist.error == ""


def test_goproxy_empty_separator_keeps_the_char_after_the_entry():
    # "A|,B": the character right after A is '|', so A falls back on any error
    plist = parse_goproxy("http://a.example.com|,http://b.example.com")
    assert plist.entries[0].separator == "|"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("", "contains no entries"),
        (" , ", "contains no entries"),
        ("goproxy", "missing scheme"),
        ("ftp://x.example.com", "must be https, http, file"),
        ("file://host/path", "non-path elements"),
    ],
)
def test_goproxy_values_go_rejects(value: str, error: str):
    assert error in parse_goproxy(value).error


# --- GOPRIVATE/GONOPROXY matching: module.MatchPrefixPatterns ----------------------------------


@pytest.mark.parametrize(
    ("globs", "target", "want"),
    [
        ("", "golang.org/x/text", False),
        ("*", "golang.org/x/text", True),
        ("golang.org", "golang.org/x/text", True),
        ("golang.org/", "golang.org/x/text", True),
        ("golang.org/x", "golang.org/x/text", True),
        ("golang.org/x/text", "golang.org/x/text", True),
        ("golang.org/x/text/sub", "golang.org/x/text", False),
        ("golang.org/y", "golang.org/x/text", False),
        ("golang", "golang.org/x/text", False),
        ("*.org", "golang.org/x/text", True),
        ("*/x", "golang.org/x/text", True),
        ("*/y", "golang.org/x/text", False),
        ("*.com,golang.org/x", "golang.org/x/text", True),
        (",,golang.org", "golang.org/x/text", True),
        ("gol?ng.org", "golang.org/x/text", True),
        ("golang.org/x/t*", "golang.org/x/text", True),
        ("golang.org/x/[^t]*", "golang.org/x/text", False),
        ("golang.org/x/[a-t]ext", "golang.org/x/text", True),
        ("corp.example.com", "corp.example.com.evil.io/x", False),
        ("[", "golang.org", False),
        ("[,golang.org", "golang.org/x", True),
        ("github.com/Org/*", "github.com/Org/repo/v2", True),
        ("github.com/org/*", "github.com/Org/repo", False),
    ],
)
def test_match_prefix_patterns(globs: str, target: str, want: bool):
    assert match_prefix_patterns(globs, target) is want


@pytest.mark.parametrize(
    ("pattern", "name", "want"),
    [
        ("abc", "abc", True),
        ("*", "abc", True),
        ("*c", "abc", True),
        ("a*", "a", True),
        ("a*", "ab/c", False),
        ("a*/b", "abc/b", True),
        ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False),
        ("ab[c]", "abc", True),
        ("ab[b-d]", "abc", True),
        ("ab[^c]", "abc", False),
        ("a?b", "a/b", False),
        ("a\\*b", "a*b", True),
        ("a\\*b", "ab", False),
        ("[\\-]", "-", True),
    ],
)
def test_path_match_is_gos(pattern: str, name: str, want: bool):
    assert path_match(pattern, name) is want


@pytest.mark.parametrize("pattern", ["[", "[^", "a\\", "[a-", "[]a]", "[-]"])
def test_path_match_bad_patterns_raise(pattern: str):
    from gotrace.goconfig.pathmatch import BadPattern

    with pytest.raises(BadPattern):
        path_match(pattern, "a" * 3 if pattern != "a\\" else "a")


# --- GOSUMDB and proxies from the environment -------------------------------------------------


def test_gosumdb_forms():
    assert parse_gosumdb("off").kind == "off"
    assert (parse_gosumdb("sum.golang.org").kind, parse_gosumdb("sum.golang.org").name) == (
        "name",
        "sum.golang.org",
    )
    alias = parse_gosumdb("sum.golang.google.cn")
    assert (alias.name, alias.url) == ("sum.golang.org", "https://sum.golang.google.cn")
    key = "sum.example.com+cbfab4fd+AX/zovFjdaiCPLkFTxTihXAid8S3lGSJYsd65w/lC1K4"
    with_url = parse_gosumdb(f"{key} http://127.0.0.1:9/")
    assert (with_url.kind, with_url.name, with_url.url) == (
        "key+url",
        "sum.example.com",
        "http://127.0.0.1:9",
    )
    assert "too many fields" in parse_gosumdb(f"{key} a b").error
    assert "malformed verifier id" in parse_gosumdb("sum.example.com").error


def test_sumdb_routes_try_each_proxy_then_the_database():
    plist = parse_goproxy("http://127.0.0.1:1,http://127.0.0.1:2|direct")
    routes = sumdb_routes(parse_gosumdb("sum.golang.org"), plist)
    assert [u for _, u in routes] == [
        "http://127.0.0.1:1/sumdb/sum.golang.org/supported",
        "http://127.0.0.1:2/sumdb/sum.golang.org/supported",
        "https://sum.golang.org/latest",
    ]
    assert sumdb_routes(parse_gosumdb("off"), plist) == []


def test_proxy_env_upper_case_wins_and_loopback_is_never_proxied():
    env = proxy_env({"HTTPS_PROXY": "http://127.0.0.1:3128", "https_proxy": "http://127.0.0.1:9"})
    assert (env.https, env.https_from, env.shadowed) == (
        "http://127.0.0.1:3128",
        "HTTPS_PROXY",
        ("https_proxy",),
    )
    r = route_for("https://proxy.example.com/x", env)
    assert (r.proxy, r.via) == ("http://127.0.0.1:3128", "HTTPS_PROXY")
    assert "loopback" in route_for("https://127.0.0.1:8443/x", env).reason
    assert "loopback" in route_for("https://localhost/x", env).reason
    assert "no HTTP_PROXY set" in route_for("http://proxy.example.com/", env).reason


@pytest.mark.parametrize(
    ("no_proxy", "url", "exempt"),
    [
        ("example.com", "https://proxy.example.com/", True),
        ("example.com", "https://example.com/", True),
        (".example.com", "https://example.com/", False),
        ("*.example.com", "https://a.example.com/", True),
        ("example.com:8443", "https://example.com/", False),
        ("example.com:443", "https://example.com/", True),
        ("10.0.0.0/8", "https://10.1.2.3/", True),
        ("10.1.2.3", "https://10.1.2.3:9/", True),
        ("10.1.2.3:9", "https://10.1.2.3:10/", False),
        ("*", "https://anything.example.org/", True),
        ("other.org", "https://proxy.example.com/", False),
    ],
)
def test_no_proxy_matching(no_proxy: str, url: str, exempt: bool):
    env = proxy_env({"HTTPS_PROXY": "127.0.0.1:3128", "NO_PROXY": no_proxy})
    r = route_for(url, env)
    assert (r.proxy == "") is exempt
    if not exempt:
        assert r.proxy == "http://127.0.0.1:3128"  # a value without a scheme means http://


def test_cgi_environment_refuses_http_proxy():
    env = proxy_env({"HTTP_PROXY": "http://127.0.0.1:3128", "REQUEST_METHOD": "GET"})
    assert "CGI" in route_for("http://proxy.example.com/", env).reason


# --- toolchains -------------------------------------------------------------------------------


def test_go_version_order():
    assert compare_go("1.21", "1.21rc1") < 0
    assert compare_go("1.21rc1", "1.21.0") < 0
    assert compare_go("1.21.0", "1.21.1") < 0
    assert compare_go("go1.22.3", "1.22.3") == 0
    assert compare_go("1.9", "1.10") < 0


def test_toolchain_plans():
    assert plan_toolchain("local", "go1.22.0", "1.21", "").target == ""
    assert "go.mod requires go >= 1.99" in plan_toolchain("local", "go1.22.0", "1.99", "").error
    auto = plan_toolchain("auto", "go1.22.0", "1.23", "")
    assert (auto.target, auto.mode) == ("go1.23.0", "auto")
    assert plan_toolchain("auto", "go1.22.0", "1.21", "go1.22.5").target == "go1.22.5"
    assert plan_toolchain("go1.22.0+path", "go1.22.0", "1.24rc1", "").target == "go1.24rc1"
    assert plan_toolchain("go1.21.0", "go1.22.0", "1.20", "").target == "go1.21.0"
    assert "invalid" in plan_toolchain("bash", "go1.22.0", "", "").error
    assert "+auto and +path" in plan_toolchain("go1.22.0+x", "go1.22.0", "", "").error


def test_env_file_parsing():
    assert parse_env_file("# c\nGOPROXY=https://p.example.com\n\nGOTOOLCHAIN=local\n") == {
        "GOPROXY": "https://p.example.com",
        "GOTOOLCHAIN": "local",
    }


# --- judging directories and probes (no I/O) ---------------------------------------------------


def _dir(**kw: Any) -> DirState:
    base: dict[str, Any] = dict(role="GOMODCACHE", path="/c", exists=True, is_dir=True,
                                checked="/c", uid=0, owner="root", mode=0o40555, euid=0,
                                access_write=True, mode_write=False, dac_override=True,
                                free_bytes=1 << 30, mount_point="/")  # fmt: skip
    base.update(kw)
    return DirState(**base)


def test_root_writable_only_through_dac_override_is_a_warning():
    c = judge_dir(_dir())
    assert c.status == "warn"
    assert "root bypasses file permissions" in c.why and "chmod -R u+w /c" in c.fix


def test_unwritable_dir_fails_for_a_normal_user():
    c = judge_dir(_dir(euid=1000, uid=0, access_write=False, dac_override=False))
    assert c.status == "fail" and "permission denied" in c.why


def test_read_only_mount_fails_even_for_root():
    c = judge_dir(_dir(mode=0o40755, mode_write=True, mount_readonly=True, mount_point="/ro"))
    assert c.status == "fail" and "mounted read-only" in c.why


def _snapshot(goproxy: str, reach: tuple[Reach, ...]) -> DoctorSnapshot:
    return DoctorSnapshot("/app", goenv={"GOPROXY": goproxy, "GOSUMDB": "off"}, reach=reach)


def test_reach_stall_after_comma_never_tries_the_next_entry():
    stall = Reach("GOPROXY[1]", "http://127.0.0.1:1/m/@v/list", (Step("tcp", 0.001, True),
                  Step("http", 1.0, False, "no answer", timed_out=True)), index=0)  # fmt: skip
    s = _snapshot("http://127.0.0.1:1,http://127.0.0.1:2", (stall,))
    c = judge_reach(s, stall)
    assert c.status == "fail"
    assert "waits forever" in c.why and "never tries http://127.0.0.1:2" in c.why


def test_reach_refused_before_a_pipe_is_a_warning():
    refused = Reach("GOPROXY[1]", "http://127.0.0.1:1/", (Step("tcp", 0.0, False,
                    "connection refused"),), index=0)  # fmt: skip
    ok = Reach("GOPROXY[2]", "http://127.0.0.1:2/", (Step("tcp", 0.0, True),
               Step("http", 0.0, True, "HTTP 200")), 200, index=1)  # fmt: skip
    s = _snapshot("http://127.0.0.1:1|http://127.0.0.1:2", (refused, ok))
    c = judge_reach(s, refused)
    assert c.status == "warn" and "'|' makes go try http://127.0.0.1:2" in c.why
    assert judge_reach(s, ok).status == "ok"


def test_reach_failure_behind_a_working_proxy_is_only_a_warning():
    ok = Reach("GOPROXY[1]", "http://127.0.0.1:1/", (Step("http", 0.0, True),), 200, index=0)
    bad = Reach(
        "GOPROXY[2]",
        "http://127.0.0.1:2/",
        (Step("tcp", 0.0, False, "connection refused"),),
        index=1,
    )
    c = judge_reach(_snapshot("http://127.0.0.1:1,http://127.0.0.1:2", (ok, bad)), bad)
    assert c.status == "warn" and "answers first" in c.why


def test_checks_sort_worst_first_and_only_failures_exit_1():
    checks = [Check("a", "ok", "", ""), Check("b", "info", "", ""), Check("c", "fail", "", ""),
              Check("d", "warn", "", "")]  # fmt: skip
    assert [c.name for c in worst_first(checks)] == ["c", "d", "b", "a"]
    assert exit_status(checks) == 1
    assert exit_status([c for c in checks if c.status != "fail"]) == 0


# --- /proc parsing ----------------------------------------------------------------------------

LOCKS = """\
1: FLOCK  ADVISORY  WRITE 13788 fe:00:2155605 0 EOF
1: -> FLOCK  ADVISORY  WRITE 13790 fe:00:2155605 0 EOF
2: POSIX  ADVISORY  READ 4242 00:2a:77 0 EOF
3: OFDLCK ADVISORY  WRITE -1 08:01:99 0 EOF
"""


def test_parse_proc_locks_holders_and_waiters():
    recs = parse_locks(LOCKS)
    assert [(r.kind, r.pid, r.waiting) for r in recs] == [
        ("FLOCK", 13788, False), ("FLOCK", 13790, True), ("POSIX", 4242, False), ("OFDLCK", -1, False),
    ]  # fmt: skip
    assert (recs[0].major, recs[0].minor, recs[0].inode) == (254, 0, 2155605)
    assert [r.pid for r in records_for(recs, 254, 0, 2155605)] == [13788, 13790]
    # overlayfs: the lock is on the upper layer's inode, stat() shows the overlay's device
    assert [r.pid for r in records_for(recs, 0, 99, 2155605)] == [13788, 13790]


MOUNTINFO = """\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
28 27 0:25 / /mnt/cache\\040dir ro,nosuid - tmpfs tmpfs ro,size=4k
29 27 0:26 / /mnt/data rw,relatime shared:1 - ext4 /dev/vdb ro
"""


def test_parse_mountinfo_and_find_the_mount_of_a_path():
    mounts = parse_mountinfo(MOUNTINFO)
    assert [m.mount_point for m in mounts] == ["/", "/mnt/cache dir", "/mnt/data"]
    m = mount_for("/mnt/cache dir/go/pkg/mod", mounts)
    assert m is not None and m.readonly and m.fstype == "tmpfs"
    data = mount_for("/mnt/data/x", mounts)
    assert data is not None and data.readonly  # read-only super block
    root = mount_for("/mnt/cachedir", mounts)
    assert root is not None and root.mount_point == "/" and not root.readonly


def test_capability_mask():
    assert parse_capabilities("Name:\tx\nCapEff:\t000001ffffffffff\n") >> 1 & 1
    assert not parse_capabilities("CapEff:\t0000000000000000\n") >> 1 & 1


# --- probes against loopback sockets -----------------------------------------------------------


def test_probe_refused_port_fails_at_tcp():
    with refused_port() as port:
        url = f"http://127.0.0.1:{port}/m/@v/list"
        r = probe("GOPROXY[1]", url, route_for(url, proxy_env({})), timeout=1.0)
    step = r.failed_step
    assert step is not None and (step.name, step.detail) == ("tcp", "connection refused")


def test_probe_server_that_accepts_and_never_answers_times_out_at_http():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # the kernel completes the handshake; nobody ever reads
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/x"
        r = probe("GOPROXY[1]", url, route_for(url, proxy_env({})), timeout=0.5)
    assert [(s.name, s.ok, s.timed_out) for s in r.steps] == [
        ("tcp", True, False),
        ("http", False, True),
    ]
    assert r.steps[1].seconds >= 0.5


def test_probe_reads_status_and_does_not_follow_redirects(tmp_path: Path):
    with ModuleProxy(tmp_path) as proxy:
        r = probe(
            "GOPROXY[1]",
            proxy.url + "/nothing/@v/list",
            route_for(proxy.url, proxy_env({})),
            timeout=2,
        )
        assert r.status == 404 and r.failed_step is None
        assert proxy.paths() == ["/nothing/@v/list"]


def test_doctor_usage_errors(app: typer.Typer, tmp_path: Path):
    r = CliRunner().invoke(app, ["doctor", "-C", str(tmp_path / "missing"), "--no-network"])
    assert r.exit_code == 1 and isinstance(r.exception, GotraceError)
    assert str(r.exception) == f"{tmp_path / 'missing'}: no such directory"
    (tmp_path / "f").write_text("x")
    r = CliRunner().invoke(app, ["doctor", "-C", str(tmp_path / "f"), "--no-network"])
    assert r.exit_code == 1 and "not a directory" in str(r.exception)
    r = CliRunner().invoke(app, ["doctor", "--timeout", "0"])
    assert isinstance(r.exception, UsageError) and r.exception.exit_code == 2
    r = CliRunner().invoke(app, ["doctor", "--timeout", "soon"])
    assert r.exit_code == 2  # click's own usage error


def test_doctor_help_is_its_docstring(app: typer.Typer):
    r = CliRunner().invoke(app, ["doctor", "--help"])
    assert r.exit_code == 0 and "--no-network" in r.stdout and "worst first" in r.stdout


# --- lab scenarios, real go --------------------------------------------------------------------


@integration
def test_up_to_date_says_there_is_nothing_to_do(app: typer.Typer):
    with scenario("up-to-date") as prep:
        code, out = run_doctor(app, prep)
    assert code == 0
    c = check(out, "cache")
    assert c["status"] == "ok" and c["value"].startswith("3 of 3 requirements complete")
    assert "nothing to do, so it prints nothing" in c["why"]
    assert check(out, "reach GOPROXY[1]")["status"] == "ok"
    assert check(out, "go.mod")["value"].endswith("3 requirements")
    assert out["checks"][0]["status"] != "fail"


@integration
def test_goproxy_off_with_an_empty_cache_fails_with_gos_own_words(app: typer.Typer):
    with scenario("goproxy-off") as prep:
        code, out = run_doctor(app, prep)
    assert code == 1
    c = check(out, "GOPROXY")
    assert c["status"] == "fail" and c["value"] == "off"
    assert "module lookup disabled by GOPROXY=off" in c["why"]
    assert "3 requirements" in c["why"]
    assert out["checks"][0]["check"] == "GOPROXY"  # worst first


@integration
def test_stalling_first_proxy_before_a_comma(app: typer.Typer):
    with scenario("timeout-no-fallback") as prep:
        code, out = run_doctor(app, prep, timeout=1.0)
        first, second = prep.proxies["first"].url, prep.proxies["second"].url
        asked = prep.proxies["first"].paths()
    assert code == 1
    stalled = check(out, "reach GOPROXY[1]")
    assert stalled["status"] == "fail"
    assert stalled["value"].startswith(f"{first}/example.com/dep0/@v/list")
    assert "http 1.0" in stalled["value"] and "FAILED: no answer within 1s" in stalled["value"]
    assert "waits forever" in stalled["why"] and f"never tries {second}" in stalled["why"]
    assert check(out, "reach GOPROXY[2]")["status"] == "ok"
    goproxy = check(out, "GOPROXY")
    assert f"will NOT fall back to {second}" in goproxy["why"]
    assert asked == ["/example.com/dep0/@v/list"]


@integration
def test_no_network_contacts_nothing(app: typer.Typer, loopback_only: list[str]):
    with scenario("timeout-no-fallback") as prep:
        code, out = run_doctor(app, prep, "--no-network")
        requests = [p.requests for p in prep.proxies.values()]
    assert requests == [[], []]
    assert not [c for c in out["checks"] if c["check"].startswith("reach ")]
    assert check(out, "reachability")["value"] == "not probed (--no-network)"
    assert code == 0  # the stall cannot be seen without the network; the ',' is explained
    assert "will NOT fall back" in check(out, "GOPROXY")["why"]


@integration
def test_stalled_checksum_database_without_go_sum(app: typer.Typer):
    with scenario("sumdb-stall") as prep:
        code, out = run_doctor(app, prep)
    assert code == 1
    assert "about 3 requirements, because there is no go.sum" in check(out, "GOSUMDB")["why"]
    reach = check(out, "reach GOSUMDB")
    assert reach["status"] == "fail" and reach["value"].endswith("FAILED: no answer within 1s")
    assert check(out, "go.sum")["status"] == "warn"


@integration
def test_lock_held_by_another_process(app: typer.Typer):
    with scenario("lock-held") as prep:
        code, out = run_doctor(app, prep, "--no-network")
        holder = prep.pids["lock-holder"]
    assert code == 1
    c = check(out, "cache")
    assert c["status"] == "fail"
    assert (
        f"example.com/dep0@v1.0.0 is not in the cache and its lock is held by pid {holder}"
        in c["why"]
    )
    assert any(f"pid {holder}" in d and "holds it (FLOCK WRITE)" in d for d in c["details"])


@integration
def test_interrupted_download_is_named_in_the_cache_check(app: typer.Typer):
    from test_cache import interrupt

    with scenario("killed") as prep:
        tmps = interrupt(prep)
        code, out = run_doctor(app, prep, "--no-network")
    assert code == 0
    c = check(out, "cache")
    assert c["status"] == "info" and "cut short by an interrupted go" in c["why"]
    for tmp in tmps:
        assert any(tmp.name in d for d in c["details"])


SETPRIV_CAPS = "-dac_override,-dac_read_search,-fowner"
_DOCTOR_SCRIPT = """\
import sys, typer
from typer.testing import CliRunner
from gotrace.cli.doctor import doctor
from gotrace.cli.cache import cache
app = typer.Typer()
app.command("doctor")(doctor)
app.command("cache")(cache)
r = CliRunner().invoke(app, sys.argv[1:])
sys.stdout.write(r.stdout)
sys.exit(r.exit_code)
"""


@integration
def test_read_only_cache(app: typer.Typer):
    with scenario("cache-readonly") as prep:
        code, out = run_doctor(app, prep, "--no-network")
        c = check(out, "GOMODCACHE")
        if os.geteuid() == 0:
            # root passes os.access; the mode bits still say nobody else may write
            assert c["status"] == "warn" and "root bypasses file permissions" in c["why"]
            assert code == 0
            setpriv = shutil.which("setpriv")
            assert setpriv is not None  # the scenario requires it for root
            env = {**prep.env, "PYTHONDONTWRITEBYTECODE": "1"}
            argv = [setpriv, f"--bounding-set={SETPRIV_CAPS}", f"--inh-caps={SETPRIV_CAPS}", "--",
                    sys.executable, "-c", _DOCTOR_SCRIPT, "doctor", "--json", "--no-network",
                    "-C", str(prep.cwd)]  # fmt: skip
            proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
            assert proc.returncode == 1, proc.stderr
            c = check(json.loads(proc.stdout), "GOMODCACHE")
        assert c["status"] == "fail"
        assert "permission denied" in c["why"] and str(prep.gomodcache) in c["why"]


@integration
def test_proxy_env_pointing_at_a_stalled_loopback_proxy(app: typer.Typer):
    # GOPROXY names hosts that are never resolved or contacted: the request goes to the
    # HTTP(S)_PROXY on loopback, as go's client would send it.
    with (
        scenario("cold-ok") as prep,
        ModuleProxy(None, [Fault("stall")]) as stalled,
        socket.socket() as silent,
    ):
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts connections (backlog), never answers CONNECT
        silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        env = {
            "GOPROXY": "http://goproxy.example.com,https://proxy.example.com",
            "HTTP_PROXY": stalled.url,
            "https_proxy": silent_url,
            "NO_PROXY": "corp.example.com",
        }
        code, out = run_doctor(app, prep, env=env)
        asked = stalled.paths()
        stalled_url = stalled.url
    assert code == 1
    pe = check(out, "proxy env")
    assert (
        f"GOPROXY[1] http://goproxy.example.com: through HTTP_PROXY={stalled_url}" in pe["details"]
    )
    assert (
        f"GOPROXY[2] https://proxy.example.com: through https_proxy={silent_url}" in pe["details"]
    )
    first = check(out, "reach GOPROXY[1]")
    assert first["status"] == "fail"
    assert f"through HTTP_PROXY={stalled_url}" in first["value"]
    assert "accepted the connection and sent no response" in first["why"]
    assert "never tries https://proxy.example.com" in first["why"]
    assert "unset HTTP_PROXY" in first["fix"]
    second = check(out, "reach GOPROXY[2]")
    assert "proxy-connect" in second["value"] and "FAILED" in second["value"]
    # go never gets that far: the first entry stalls
    assert second["status"] == "warn" and "go never gets past" in second["why"]
    assert asked == ["/example.com/dep0/@v/list"]  # the absolute-form request reached the proxy


@integration
def test_proxy_env_does_not_apply_to_a_loopback_goproxy(app: typer.Typer):
    with scenario("cold-ok") as prep, refused_port() as port:
        code, out = run_doctor(app, prep, env={"HTTP_PROXY": f"http://127.0.0.1:{port}"})
    assert code == 0
    pe = check(out, "proxy env")
    assert "none of go's HTTP destinations here go through it" in pe["why"]
    assert "go never uses a proxy for it" in pe["details"][0]
    assert check(out, "reach GOPROXY[1]")["status"] == "ok"


@integration
def test_settings_that_mislead(app: typer.Typer):
    with scenario("cold-ok") as prep:
        env = {
            "GOFLAGS": "-mod=vendor -modcacherw",
            "GONOSUMCHECK": "example.com/*",
            "GOPRIVATE": "example.com/dep1,*.corp.example.com",
        }
        code, out = run_doctor(app, prep, "--no-network", env=env)
    assert check(out, "GOFLAGS")["status"] == "warn"
    assert "-mod=vendor" in check(out, "GOFLAGS")["why"]
    ignored = check(out, "GONOSUMCHECK")
    assert ignored["status"] == "warn" and "go does not read GONOSUMCHECK" in ignored["why"]
    nop = check(out, "GONOPROXY")
    assert nop["value"].endswith("(from GOPRIVATE): matches 1 of 3 requirements")
    assert nop["details"] == ["example.com/dep1 (matched by example.com/dep1)"]
    assert "stalled clone is completely silent" in nop["why"]
    assert code == 0


@integration
def test_go_mod_needing_a_newer_go_with_gotoolchain_local(app: typer.Typer):
    with scenario("cold-ok") as prep:
        gomod = prep.cwd / "go.mod"
        gomod.write_text(gomod.read_text().replace("go 1.21", "go 1.99"))
        code, out = run_doctor(app, prep, "--no-network")
    c = check(out, "GOTOOLCHAIN")
    assert c["status"] == "fail" and "go.mod requires go >= 1.99" in c["why"]
    assert code == 1


@integration
def test_text_table_lists_worst_first_with_why_and_fix(app: typer.Typer):
    with scenario("goproxy-off") as prep:
        env: dict[str, str | None] = {**CLEAN_ENV, **prep.env}
        r = CliRunner().invoke(app, ["doctor", "--no-network", "-C", str(prep.cwd)], env=env)
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert lines[2].split() == ["STATUS", "CHECK", "VALUE"]
    assert lines[3].startswith("FAIL    GOPROXY")
    assert lines[4].strip().startswith("why: GOPROXY=off forbids downloads")
    assert r.stdout.rstrip().endswith("something fails (exit 1)")


def test_diagnose_without_go_still_reports(tmp_path: Path):
    s = DoctorSnapshot(str(tmp_path), go_error="go not found on PATH",
                       goenv={"GOPROXY": "off", "GOSUMDB": "off"})  # fmt: skip
    checks = diagnose(s)
    assert checks[0].name == "go" and checks[0].status == "fail"


@integration
def test_credentials_never_reach_the_output(app: typer.Typer):
    with scenario("cold-ok") as prep, refused_port() as port:
        env = {
            "GOPROXY": f"http://user:s3cr3t-proxy@127.0.0.1:{port}",
            "HTTPS_PROXY": "http://me:pr0xy-pass@127.0.0.1:1",
        }
        full: dict[str, str | None] = {**CLEAN_ENV, **prep.env, **env}
        for args in (["--json"], []):
            r = CliRunner().invoke(
                app, ["doctor", "--no-network", "-C", str(prep.cwd), *args], env=full
            )
            assert "s3cr3t-proxy" not in r.stdout and "pr0xy-pass" not in r.stdout
            assert "[REDACTED]@127.0.0.1" in r.stdout


@integration
def test_read_only_mount_under_the_cache(app: typer.Typer):
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) to make a read-only bind mount")
    with scenario("cold-ok") as prep:
        prep.gomodcache.mkdir(parents=True)
        mount_ro = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
        argv = [unshare, "-m", "sh", "-c", mount_ro, "sh", str(prep.gomodcache), sys.executable,
                "-c", _DOCTOR_SCRIPT, "doctor", "--json", "--no-network", "-C", str(prep.cwd)]  # fmt: skip
        proc = subprocess.run(argv, env=prep.env, capture_output=True, text=True, timeout=120)
        if proc.returncode not in (0, 1) or not proc.stdout:
            pytest.skip(f"no mount namespace here: {proc.stderr.strip()[:200]}")
    c = check(json.loads(proc.stdout), "GOMODCACHE")
    assert c["status"] == "fail"
    assert f"{prep.gomodcache} is mounted read-only" in c["why"]
    assert proc.returncode == 1


def test_probe_tls_step_reports_an_untrusted_certificate(tmp_path: Path):
    import ssl
    import threading

    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl(1) is needed to make a self-signed certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def serve() -> None:
            conn, _ = listener.accept()
            with contextlib.suppress(OSError), ctx.wrap_socket(conn, server_side=True):
                pass
            conn.close()

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        url = f"https://127.0.0.1:{listener.getsockname()[1]}/m/@v/list"
        r = probe("GOPROXY[1]", url, route_for(url, proxy_env({})), timeout=5)
        t.join(5)
    assert [(s.name, s.ok) for s in r.steps] == [("tcp", True), ("tls", False)]
    assert r.steps[1].detail.startswith("certificate: ")
    assert "self" in r.steps[1].detail  # "self-signed certificate"
