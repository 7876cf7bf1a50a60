"""Go version order (``internal/gover``) and what GOTOOLCHAIN makes go run
(``cmd/go/internal/toolchain``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

_GOVER = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:(alpha|beta|rc)(\d+))?$")


def _gover_key(v: str) -> tuple[int, int, int, int, int]:
    """internal/gover order: "1.21" (a language version) < "1.21rc1" < "1.21.0"; a missing
    patch or prerelease number sorts before any number."""
    m = _GOVER.match(v.removeprefix("go").split("-")[0])
    if m is None:
        return (0, 0, -2, 0, 0)
    major, minor, patch, kind, pre = m.groups()
    kinds = {None: 0, "alpha": 1, "beta": 2, "rc": 3}
    return (
        int(major),
        int(minor) if minor is not None else -1,
        int(patch) if patch is not None else -1,
        kinds[kind],
        int(pre) if pre is not None else -1,
    )


def compare_go(a: str, b: str) -> int:
    ka, kb = _gover_key(a), _gover_key(b)
    return (ka > kb) - (ka < kb)


@dataclass(frozen=True, slots=True)
class ToolchainPlan:
    """What GOTOOLCHAIN makes go run for this module: ``target`` (``""``: the local go)."""

    mode: Literal["local", "auto", "path", "fixed", "invalid"]
    target: str = ""
    reason: str = ""
    error: str = ""


def plan_toolchain(gotoolchain: str, local: str, mod_go: str, mod_toolchain: str) -> ToolchainPlan:
    """toolchain.Select, reduced to its decision: which go ends up running, and why."""
    local_v = local.removeprefix("go")
    value = gotoolchain or "auto"
    mode: Literal["local", "auto", "path", "fixed"]
    if value == "auto" or value == "path":
        minimum, mode = local_v, ("auto" if value == "auto" else "path")
    else:
        base, plus, suffix = value.partition("+")
        if plus and suffix not in ("auto", "path"):
            return ToolchainPlan(
                "invalid",
                error=f"invalid GOTOOLCHAIN {value!r}: only version suffixes are +auto and +path",
            )
        if base == "local":
            minimum = local_v
        elif base.startswith("go") and _GOVER.match(base.removeprefix("go").split("-")[0]):
            minimum = base.removeprefix("go")
        else:
            return ToolchainPlan("invalid", error=f"invalid GOTOOLCHAIN {value!r}")
        if plus:
            mode = "auto" if suffix == "auto" else "path"
        else:
            mode = "local" if base == "local" else "fixed"
    target, reason = minimum, f"GOTOOLCHAIN={value}"
    if mode in ("auto", "path"):
        if mod_toolchain and mod_toolchain != "default":
            tv = mod_toolchain.removeprefix("go")
            if compare_go(tv, target) > 0:
                target, reason = tv, f"toolchain {mod_toolchain} line in go.mod"
        if mod_go and compare_go(mod_go, target) > 0:
            lang = re.fullmatch(r"\d+\.\d+", mod_go) is not None
            target = mod_go + (".0" if lang and compare_go(mod_go, "1.21") >= 0 else "")
            reason = f"go {mod_go} line in go.mod"
    if mod_go and compare_go(mod_go, target) > 0:
        return ToolchainPlan(
            mode,
            "",
            reason,
            error=f"go.mod requires go >= {mod_go} (running go {target}; GOTOOLCHAIN={value})",
        )
    if compare_go(target, local_v) == 0:
        return ToolchainPlan(mode, "", reason)
    return ToolchainPlan(mode, "go" + target, reason)
