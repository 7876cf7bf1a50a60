"""Every way ``go mod download`` goes quiet or fails, reproduced on loopback: the list of
scenarios (:data:`SCENARIOS`), each a :class:`~gotrace.lab.workbench.Scenario` with its
setup from :mod:`gotrace.lab.setups` and what gotrace must say about it.

A scenario's ``prepare()`` builds a throwaway workdir (module tree, app, GOPATH, caches, HOME),
starts what the failure needs (proxies, a lock holder, a black-hole resolver in a network
namespace) and yields a ``Prepared`` command. Leaving the ``with`` block, normally or through
KeyboardInterrupt, stops every helper and deletes the workdir.

Network rule: go only ever talks to 127.0.0.1. Module paths live under the reserved
``example.com``; GOPROXY is a loopback URL or ``off``; GOSUMDB is ``off`` or a loopback URL.
The environment is built from scratch, so nothing leaks in from the user's (no GOPRIVATE,
no HTTP(S)_PROXY, no go env file: GOENV=off).
"""

from __future__ import annotations

import signal
from collections.abc import Mapping

from gotrace.errors import UsageError
from gotrace.lab.setups import (
    FORWARD_TARGET,
    GIT_HOST,
    SCALE_MODULES,
    SCALE_STALLED,
    STALL_TIMEOUT,
    requires_cache_readonly,
    requires_git,
    requires_netns,
    requires_netns_and_openssl,
    setup_body_stall,
    setup_build_stall,
    setup_cache_readonly,
    setup_checksum_mismatch,
    setup_cold_ok,
    setup_connect_407,
    setup_connect_stall,
    setup_connect_tls_stall,
    setup_dns_timeout,
    setup_fallback_404,
    setup_get_tls_stall,
    setup_git_ok,
    setup_git_stall,
    setup_goproxy_off,
    setup_killed,
    setup_list_stall,
    setup_lock_held,
    setup_pause_recover,
    setup_pipe_fallback,
    setup_pipe_stall,
    setup_proxied_stall,
    setup_proxy_502,
    setup_proxy_refused,
    setup_proxy_stall,
    setup_scale_stall,
    setup_slow_proxy,
    setup_stderr_devnull,
    setup_sumdb_stall,
    setup_test_stall,
    setup_timeout_no_fallback,
    setup_tls_handshake_stall,
    setup_tls_ok,
    setup_tls_proxy_stall,
    setup_up_to_date,
)
from gotrace.lab.tls import requires_openssl
from gotrace.lab.workbench import (
    Scenario,
)

_SILENT = r"\A\Z"


_ALL = [
    Scenario(
        "up-to-date",
        "Everything is already in the module cache.",
        "cache-hit",
        "All modules are cached, so go needs no network and, as always, prints nothing.",
        30.0,
        0,
        _SILENT,
        setup_up_to_date,
    ),
    Scenario(
        "cold-ok",
        "An empty cache and a healthy proxy.",
        "none",
        "go downloads every module from the proxy and, as mod download does, prints nothing.",
        30.0,
        0,
        _SILENT,
        setup_cold_ok,
    ),
    Scenario(
        "proxy-stall",
        "The proxy accepts the zip request and never answers.",
        "proxy-stall",
        "The proxy read the request but never answered; go has no response-header timeout, "
        "so it waits forever.",
        STALL_TIMEOUT,
        None,
        _SILENT,
        setup_proxy_stall,
    ),
    Scenario(
        "body-stall",
        "The proxy sends headers and part of a zip, then stops sending.",
        "proxy-body-stall",
        "The proxy stopped sending in the middle of a response body; go waits for the rest "
        "forever.",
        STALL_TIMEOUT,
        None,
        _SILENT,
        setup_body_stall,
    ),
    Scenario(
        "slow-proxy",
        "The proxy sends zips at 4 KiB/s.",
        "proxy-slow",
        "The proxy is slow; go is making progress and finishes, without saying so.",
        30.0,
        0,
        _SILENT,
        setup_slow_proxy,
    ),
    Scenario(
        "proxy-refused",
        "Nothing listens on the GOPROXY port.",
        "proxy-refused",
        "connect() to the proxy was refused, so go fails at once.",
        30.0,
        1,
        r"connect: connection refused",
        setup_proxy_refused,
    ),
    Scenario(
        "goproxy-off",
        "GOPROXY=off with an empty cache.",
        "goproxy-off",
        "GOPROXY=off forbids downloads, so go fails without touching the network.",
        30.0,
        1,
        r"module lookup disabled by GOPROXY=off",
        setup_goproxy_off,
    ),
    Scenario(
        "fallback-404",
        "GOPROXY=A,B where A answers 404 to everything.",
        "proxy-fallback",
        "The first proxy said 404, so go tried the next one after the comma and succeeded.",
        30.0,
        0,
        _SILENT,
        setup_fallback_404,
    ),
    Scenario(
        "timeout-no-fallback",
        "GOPROXY=A,B where A accepts and never answers.",
        "proxy-stall-no-fallback",
        "After a comma go falls back only on 404/410; the first proxy stalls, so go never "
        "tries the second.",
        STALL_TIMEOUT,
        None,
        _SILENT,
        setup_timeout_no_fallback,
    ),
    Scenario(
        "pipe-fallback",
        "GOPROXY=A|B where A resets zip connections and answers 500 otherwise.",
        "proxy-fallback-on-error",
        "After a pipe go falls back on any error, so the second proxy served everything.",
        30.0,
        0,
        _SILENT,
        setup_pipe_fallback,
    ),
    Scenario(
        "lock-held",
        "Another process holds flock(LOCK_EX) on dep0's v1.0.0.lock in the cache.",
        "lock-held",
        "go waits, silently and without a deadline, for a cache lock another process holds.",
        STALL_TIMEOUT,
        None,
        _SILENT,
        setup_lock_held,
    ),
    Scenario(
        "cache-readonly",
        "The module cache exists but go may not write to it (EACCES).",
        "cache-not-writable",
        "go cannot create files in GOMODCACHE (permission denied) and fails.",
        30.0,
        1,
        r"permission denied",
        setup_cache_readonly,
        requires_cache_readonly,
    ),
    Scenario(
        "stderr-devnull",
        "The proxy answers 410 to a zip and go's stderr is /dev/null.",
        "stderr-lost",
        "go failed and said why, but its stderr went to /dev/null.",
        30.0,
        1,
        _SILENT,
        setup_stderr_devnull,
    ),
    Scenario(
        "checksum-mismatch",
        "The proxy serves a zip whose content differs from go.sum.",
        "checksum-mismatch",
        "The downloaded zip does not match go.sum, so go refuses it.",
        30.0,
        1,
        r"checksum mismatch",
        setup_checksum_mismatch,
    ),
    Scenario(
        "sumdb-stall",
        "No go.sum, and GOSUMDB points at a server that never answers.",
        "sumdb-stall",
        "go must verify new modules with the checksum database, which never answers.",
        STALL_TIMEOUT,
        None,
        _SILENT,
        setup_sumdb_stall,
    ),
    Scenario(
        "killed",
        "A slow download is cut short by an outer timeout's SIGKILL.",
        "killed",
        "go was still downloading when something outside killed it with SIGKILL.",
        2.0,
        None,
        _SILENT,
        setup_killed,
    ),
    Scenario(
        "dns-timeout",
        "GOPROXY=http://goproxy.test:8080 and a resolver that drops every query.",
        "dns-timeout",
        "The resolver never answered the proxy's name lookup, so go waited out the DNS "
        "timeouts and failed.",
        15.0,
        1,
        r"lookup goproxy\.test.*i/o timeout",
        setup_dns_timeout,
        requires_netns,
    ),
]


_SIGTERM = signal.SIGTERM


_ALL += [
    Scenario(
        "tls-proxy-stall",
        "GOPROXY=https://localhost:P: the TLS handshake completes, the zip request is never answered.",
        "proxy-stall",
        "The TLS proxy read the (encrypted) request and never answered; go waits forever.",
        STALL_TIMEOUT,
        None,
        _SILENT,
        setup_tls_proxy_stall,
        requires_openssl,
        _SIGTERM,
    ),
    Scenario(
        "tls-handshake-stall",
        "GOPROXY=https://localhost:P: the proxy accepts and never answers the ClientHello.",
        "tls-handshake-stall",
        "The proxy accepted the connection and never answered the ClientHello; go's 10 s "
        "handshake timeout then fails the request, and go retries.",
        STALL_TIMEOUT,
        None,
        _SILENT,
        setup_tls_handshake_stall,
        requires_openssl,
        _SIGTERM,
    ),
    Scenario(
        "tls-ok",
        "A healthy TLS proxy (https://localhost:P, a certificate made at run time).",
        "none",
        "go downloads every module over TLS and prints nothing.",
        30.0,
        0,
        _SILENT,
        setup_tls_ok,
        requires_openssl,
        _SIGTERM,
    ),
    Scenario(
        "pause-recover",
        "The proxy stops 3 s in the middle of a zip, then finishes it.",
        "proxy-pause",
        "The proxy paused mid-body and recovered; go succeeded, 3 s late.",
        30.0,
        0,
        _SILENT,
        setup_pause_recover,
        stop_signal=_SIGTERM,
    ),
    Scenario(
        "pipe-stall",
        "GOPROXY=A|B where A accepts a zip request and never answers.",
        "proxy-stall-no-fallback",
        "`|` falls back on errors, but a stall is no error: go never tries B.",
        STALL_TIMEOUT,
        None,
        _SILENT,
        setup_pipe_stall,
        stop_signal=_SIGTERM,
    ),
    Scenario(
        "build-stall",
        "go build ./... with a proxy that never answers one zip request.",
        "proxy-stall",
        "go build downloads what it needs (printing `go: downloading`) and stalls on one zip.",
        STALL_TIMEOUT,
        None,
        r"go: downloading",
        setup_build_stall,
        stop_signal=_SIGTERM,
    ),
    Scenario(
        "get-tls-stall",
        "go get example.org/pkg0@v1.0.0 from a TLS proxy that never answers its zip request.",
        "proxy-stall",
        "go get stalls on the zip over TLS.",
        STALL_TIMEOUT,
        None,
        r"go: downloading|\A\Z",
        setup_get_tls_stall,
        requires_openssl,
        _SIGTERM,
    ),
    Scenario(
        "scale-stall",
        f"{SCALE_MODULES} modules; the proxy never answers one zip request (m{SCALE_STALLED}).",
        "proxy-stall",
        "Hundreds of requests succeed and one never gets an answer: that one is the cause.",
        10.0,
        None,
        _SILENT,
        setup_scale_stall,
        stop_signal=_SIGTERM,
    ),
]


_ALL += [
    Scenario(
        "connect-stall",
        "HTTPS_PROXY=http://127.0.0.1:P accepts `CONNECT proxy.golang.org:443` and never answers.",
        "http-proxy-stall",
        "go asks the HTTP proxy for a tunnel to the module proxy; the proxy never answers.",
        STALL_TIMEOUT,
        None,
        _SILENT,
        setup_connect_stall,
        requires_netns,
        _SIGTERM,
    ),
    Scenario(
        "connect-407",
        "HTTPS_PROXY=http://127.0.0.1:P answers CONNECT with 407 Proxy Authentication Required.",
        "http-proxy-refused",
        "The HTTP proxy wants credentials go was not given; go fails at once.",
        30.0,
        1,
        r"Proxy Authentication Required",
        setup_connect_407,
        requires_netns,
        _SIGTERM,
    ),
    Scenario(
        "connect-tls-stall",
        "HTTPS_PROXY=http://127.0.0.1:P answers `CONNECT proxy.golang.org:443` with 200 and "
        "relays the tunnel to a TLS module proxy that never answers dep1's zip.",
        "proxy-stall",
        "The tunnel is up and TLS through it works; the module proxy behind it reads the "
        "encrypted request and never answers.",
        STALL_TIMEOUT,
        None,
        _SILENT,
        setup_connect_tls_stall,
        requires_netns_and_openssl,
        _SIGTERM,
    ),
]


_ALL += [
    Scenario(
        "git-stall",
        f"GOPROXY=direct: {GIT_HOST}/m's go-import tag is found, then git's "
        "info/refs request is never answered.",
        "git-stall",
        "go runs git ls-remote, whose git-remote-http sends its request and polls forever; "
        "go prints nothing (it holds git's stderr until git fails).",
        STALL_TIMEOUT,
        None,
        _SILENT,
        setup_git_stall,
        requires_git,
        _SIGTERM,
    ),
    Scenario(
        "git-ok",
        f"GOPROXY=direct: {GIT_HOST}/tools served by git http-backend.",
        "none",
        "go looks up the go-import tag (https refused, then http: GOINSECURE), runs git and "
        "succeeds.",
        60.0,
        0,
        _SILENT,
        setup_git_ok,
        requires_git,
        _SIGTERM,
    ),
]


_ALL += [
    Scenario(
        "proxied-stall",
        f"GOPROXY=http://{FORWARD_TARGET} through HTTP_PROXY=http://127.0.0.1:P, which reads "
        "the proxied GET of dep1's zip and never answers.",
        "http-proxy-stall",
        "go sends the whole URL to the HTTP proxy; the proxy never answers, and go has no "
        "response-header timeout.",
        STALL_TIMEOUT,
        None,
        _SILENT,
        setup_proxied_stall,
        requires_netns,
        _SIGTERM,
    ),
    Scenario(
        "proxy-502",
        f"GOPROXY=http://{FORWARD_TARGET} through HTTP_PROXY=http://127.0.0.1:P, which answers "
        "dep1's zip with 502 Bad Gateway.",
        "http-proxy-refused",
        "The HTTP proxy could not reach the module proxy (502); go prints the error and exits 1.",
        30.0,
        1,
        r"502 Bad Gateway",
        setup_proxy_502,
        requires_netns,
        _SIGTERM,
    ),
    Scenario(
        "list-stall",
        "go list -m all with an empty cache; the proxy never answers lst2's go.mod request.",
        "proxy-stall",
        "go list -m all fetches every requirement's go.mod (printing nothing: it downloads no "
        "zip) and waits forever for one.",
        STALL_TIMEOUT,
        None,
        _SILENT,
        setup_list_stall,
        stop_signal=_SIGTERM,
    ),
    Scenario(
        "test-stall",
        "go test ./... where only a test imports tdep1, whose zip the proxy never answers.",
        "proxy-stall",
        "go test downloads the test's imports too (printing `go: downloading`) and stalls on "
        "the test-only module's zip.",
        STALL_TIMEOUT,
        None,
        r"go: downloading",
        setup_test_stall,
        stop_signal=_SIGTERM,
    ),
]


SCENARIOS: Mapping[str, Scenario] = {s.name: s for s in _ALL}


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise UsageError(
            f"unknown scenario {name!r}; choose one of: {', '.join(SCENARIOS)}"
        ) from None
