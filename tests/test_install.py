"""The install is reproducible: every import is declared, every declared package is pinned,
and CI runs exactly the README's test command."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: import name -> distribution name, where they differ
DIST = {"ptrace": "python-ptrace", "yaml": "pyyaml", "distributed": "dask"}


def pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s<>=!~\[;]", r, maxsplit=1)[0].lower() for r in requirements}


def declared(*extras: str) -> set[str]:
    project = pyproject()["project"]
    assert isinstance(project, dict)
    out = names(project["dependencies"])
    for extra in extras:
        out |= names(project["optional-dependencies"][extra])
    return out


def third_party_imports(folder: str) -> set[str]:
    found: set[str] = set()
    for f in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module]
            else:
                continue
            for m in mods:
                top = m.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("gotrace", "__future__"):
                    found.add(DIST.get(top, top).lower().replace("_", "-"))
    return found


def test_every_package_gotrace_imports_is_a_dependency() -> None:
    assert third_party_imports("gotrace") <= declared() | declared(*_optional())


def test_every_package_the_tests_import_is_in_the_test_extra() -> None:
    local = {p.stem.lower().replace("_", "-") for p in (ROOT / "tests").rglob("*.py")}
    local |= {p.stem.lower().replace("_", "-") for p in (ROOT / "benchmarks").glob("*.py")}
    assert third_party_imports("tests") - local <= declared("test")


def _optional() -> list[str]:
    project = pyproject()["project"]
    assert isinstance(project, dict)
    return list(project["optional-dependencies"])


def test_every_declared_package_is_pinned_in_the_constraints() -> None:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    wanted = {n.replace("_", "-") for n in declared(*_optional())}
    assert wanted - set(pins) == set(), "run the constraints update command in the README"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)\n```", readme[: readme.index("## Using it")], re.S)
    test_cmd = next(b for b in blocks if "pytest" in b)
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.rstrip().splitlines()[-1] == test_cmd
    assert "python3 -m venv" in ci and "mktemp -d" in ci  # a new venv every time
