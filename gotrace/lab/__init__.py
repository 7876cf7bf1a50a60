"""The lab: silent ``go mod download`` failures, reproduced on 127.0.0.1.

``SCENARIOS[name].prepare()`` yields a ``Prepared`` command; ``run_scenario`` runs it,
untraced by default, or with any ``Runner`` (``gotrace run`` plugs in there).
"""

from gotrace.lab.gotool import GoTool, find_go
from gotrace.lab.proxy import Fault, FaultKind, ModuleProxy, RequestRecord, refused_port
from gotrace.lab.scenarios import SCENARIOS, get_scenario
from gotrace.lab.workbench import (
    Prepared,
    Runner,
    RunResult,
    Scenario,
    ScenarioUnavailable,
    run_scenario,
)

__all__ = [
    "SCENARIOS",
    "Fault",
    "FaultKind",
    "GoTool",
    "ModuleProxy",
    "Prepared",
    "RequestRecord",
    "RunResult",
    "Runner",
    "Scenario",
    "ScenarioUnavailable",
    "find_go",
    "get_scenario",
    "refused_port",
    "run_scenario",
]
