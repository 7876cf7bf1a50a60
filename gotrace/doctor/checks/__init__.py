"""The doctor's judgements: a :class:`~gotrace.doctor.model.DoctorSnapshot` in, one
:class:`~gotrace.doctor.model.Check` per question out, read with go's own rules
(:mod:`gotrace.goconfig`)."""

from __future__ import annotations

from gotrace.doctor.checks.files import judge_cache, judge_dir, judge_gomod
from gotrace.doctor.checks.reach import judge_reach
from gotrace.doctor.checks.settings import (
    judge_go,
    judge_goflags,
    judge_goproxy,
    judge_module_mode,
    judge_private,
    judge_proxy_env,
    judge_sumdb,
    judge_toolchain,
)
from gotrace.doctor.model import Check, DoctorSnapshot, worst_first

__all__ = ["diagnose", "judge_dir", "judge_reach"]


def diagnose(s: DoctorSnapshot) -> list[Check]:
    """Every check, worst first."""
    checks = [judge_go(s), judge_module_mode(s), judge_goflags(s), judge_toolchain(s)]
    checks.append(judge_goproxy(s))
    checks += judge_private(s)
    checks.append(judge_sumdb(s))
    pe = judge_proxy_env(s)
    if pe is not None:
        checks.append(pe)
    checks += [judge_dir(d) for d in s.dirs]
    checks += judge_gomod(s)
    cache = judge_cache(s)
    if cache is not None:
        checks.append(cache)
    if s.reach is None:
        checks.append(
            Check(
                "reachability",
                "info",
                "not probed (--no-network)",
                "Nothing was resolved or contacted.",
            )
        )
    else:
        checks += [judge_reach(s, r) for r in s.reach]
    return worst_first(checks)
