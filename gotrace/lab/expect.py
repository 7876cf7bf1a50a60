"""What the analysis must say of each lab cause: the kind of its top finding.

``gotrace lab run`` checks a run against this, so the Quickstart can say "reproduced and
diagnosed as expected" and exit 0, or say what differed and exit 1.
"""

from __future__ import annotations

from dataclasses import dataclass

#: a scenario's ``cause`` -> the kind of the finding the report must put first
TOP_FINDING: dict[str, str] = {
    "cache-hit": "silent-success",
    "none": "silent-success",
    "proxy-stall": "proxy-stall",
    "proxy-body-stall": "body-stall",
    "proxy-slow": "slow-transfer",
    "proxy-refused": "proxy-refused",
    "goproxy-off": "goproxy-off",
    "proxy-fallback": "silent-success",
    "proxy-stall-no-fallback": "proxy-stall",
    "proxy-fallback-on-error": "silent-success",
    "lock-held": "lock-wait",
    "cache-not-writable": "cache-permission",
    "stderr-lost": "error-to-devnull",
    "checksum-mismatch": "checksum-mismatch",
    "sumdb-stall": "sumdb-stall",
    # the lab's own timeout is gotrace's --timeout, never the cause: what go was doing is
    "killed": "slow-transfer",
    "dns-timeout": "dns-timeout",
    "tls-handshake-stall": "tls-handshake-stall",
    "proxy-pause": "pause",
    "http-proxy-stall": "http-proxy-stall",
    "http-proxy-refused": "http-proxy-refused",
    "git-stall": "git-stall",
}


@dataclass(frozen=True, slots=True)
class Check:
    """How a traced lab run compares with its scenario: ``ok`` and one line saying why."""

    ok: bool
    line: str


def check_run(
    name: str,
    cause: str,
    *,
    expect_exit: int | None,
    exit_status: int,
    timed_out: bool,
    top_finding: str | None,
) -> Check:
    """``expect_exit`` None means go never finishes and the lab's timeout stops it."""
    if expect_exit is None:
        reproduced = timed_out
        how = "go hung until the lab's timeout stopped it"
    else:
        reproduced = not timed_out and exit_status == expect_exit
        how = f"go exited {exit_status}"
    want = TOP_FINDING.get(cause)
    if not reproduced:
        wanted = "hang" if expect_exit is None else f"exit {expect_exit}"
        got = "a timeout" if timed_out else f"exit {exit_status}"
        return Check(False, f"{name} was NOT reproduced: expected {wanted}, got {got}")
    if want is None:
        return Check(
            False, f"{name} reproduced ({how}); no expected diagnosis is known for {cause}"
        )
    if top_finding != want:
        return Check(
            False,
            f"{name} reproduced ({how}) but NOT diagnosed as expected: "
            f"the top finding is {top_finding or 'none'}, expected {want}",
        )
    return Check(True, f"{name} reproduced ({how}) and diagnosed as expected: {want}")
