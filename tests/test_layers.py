"""The layers hold: every gotrace module's imports (also those inside functions) are read with
``ast`` and checked against the rules below; a failure names each offending edge.

    model, goconfig, errors, modpath, redact, protocols,
    netaddr, modcachelayout                               import nothing above them
    parsers, tracer (the capture side)                    no analyzers/reporters/cli/fleet/lab/doctor
    analyzers                                             no reporters/cli/fleet/lab/tracer/doctor
    reporters                                             no cli/fleet/lab/tracer/doctor, no Trace
    doctor                                                no lab, no analyzers
    cli                                                   imported only by cli and gotrace.__main__
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "gotrace"

#: the bottom layer: these import only each other (and the standard library, third parties)
BOTTOM = (
    "gotrace.model",
    "gotrace.goconfig",
    "gotrace.errors",
    "gotrace.modpath",
    "gotrace.redact",
    "gotrace.protocols",
    "gotrace.netaddr",
    "gotrace.modcachelayout",
)

#: (importer, what it must not import, why)
FORBIDDEN: tuple[tuple[tuple[str, ...], tuple[str, ...], str], ...] = (
    (
        ("gotrace.parsers", "gotrace.tracer"),
        (
            "gotrace.analyzers",
            "gotrace.reporters",
            "gotrace.cli",
            "gotrace.fleet",
            "gotrace.lab",
            "gotrace.doctor",
            "gotrace.trace",
        ),
        "the capture side sits below analysis and presentation",
    ),
    (
        ("gotrace.analyzers",),
        (
            "gotrace.reporters",
            "gotrace.cli",
            "gotrace.fleet",
            "gotrace.lab",
            "gotrace.tracer",
            "gotrace.doctor",
            "gotrace.trace",
        ),
        "analyzers work on the model (a Capture), not on capture, presentation, the doctor "
        "or the Trace facade that calls them",
    ),
    (
        ("gotrace.reporters",),
        (
            "gotrace.cli",
            "gotrace.fleet",
            "gotrace.lab",
            "gotrace.tracer",
            "gotrace.doctor",
            "gotrace.trace",
        ),
        "reporters render a report; they do not capture, drive or load a Trace",
    ),
    (
        ("gotrace.doctor",),
        ("gotrace.lab", "gotrace.analyzers"),
        "the doctor has its own model and checks",
    ),
)

#: only these may import gotrace.cli
CLI_IMPORTERS = ("gotrace.cli", "gotrace.__main__")


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    base = PACKAGE.parent / rel
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _imports(path: Path) -> Iterator[tuple[str, int]]:
    """Every gotrace module ``path`` imports, anywhere in it, with the line."""
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            # "from gotrace.analyzers import modcache" imports the submodule
            subs = [f"{target}.{a.name}" for a in node.names if _is_module(f"{target}.{a.name}")]
            yield from ((s, node.lineno) for s in subs)
            if len(subs) < len(node.names):
                yield target, node.lineno


def import_graph() -> dict[tuple[str, str], str]:
    """(importer, imported) -> where, for every edge inside gotrace."""
    edges: dict[tuple[str, str], str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        me = _module_name(path)
        for target, line in _imports(path):
            if target == "gotrace" or target.startswith("gotrace."):
                edges.setdefault((me, target), f"{path.relative_to(PACKAGE.parent)}:{line}")
    return edges


def violations(edges: dict[tuple[str, str], str]) -> dict[tuple[str, str], str]:
    """Each edge that breaks a rule -> the rule it breaks."""
    bad: dict[tuple[str, str], str] = {}
    for src, dst in edges:
        if src == dst or dst == "gotrace":
            continue
        if _under(src, BOTTOM) and not _under(dst, BOTTOM):
            bad[(src, dst)] = "the bottom layer imports only the bottom layer"
        for importers, banned, why in FORBIDDEN:
            if _under(src, importers) and _under(dst, banned):
                bad[(src, dst)] = why
        if _under(dst, ("gotrace.cli",)) and not _under(src, CLI_IMPORTERS):
            bad[(src, dst)] = "only the CLI imports the CLI"
    return bad


def _describe(edges: dict[tuple[str, str], str], pairs: dict[tuple[str, str], str]) -> str:
    return "\n".join(
        f"  {src} -> {dst}  ({edges.get((src, dst), '?')}): {why}"
        for (src, dst), why in sorted(pairs.items())
    )


def test_graph_sees_imports_inside_functions() -> None:
    edges = import_graph()
    # cli.doctor imports the doctor inside its command function
    assert ("gotrace.cli.doctor", "gotrace.doctor.checks") in edges
    # ... and resolves "from package import submodule" to the submodule
    assert ("gotrace.cli.doctor", "gotrace.doctor.gather") in edges


def test_rules_catch_a_bad_edge() -> None:
    edges = {
        ("gotrace.goconfig.goproxy", "gotrace.analyzers.diagnosis"): "x.py:1",
        ("gotrace.doctor.gather", "gotrace.lab.modules"): "y.py:2",
        ("gotrace.reporters.text", "gotrace.cli.common"): "z.py:3",
        ("gotrace.parsers.strace", "gotrace.parsers.base"): "w.py:4",
    }
    assert set(violations(edges)) == set(list(edges)[:3])


def test_layers_hold() -> None:
    edges = import_graph()
    bad = violations(edges)
    assert not bad, "imports that break the layers:\n" + _describe(edges, bad)


#: compiled extensions that are optional by design: each has a pure-Python path with the same
#: output, tested against it (tests/test_parser_native.py)
OPTIONAL_COMPILED = {"gotrace.parsers._fastparse"}


def _guarded_gotrace_imports(path: Path) -> Iterator[int]:
    """Lines of ``try:`` blocks that import a gotrace module and catch ImportError (or any
    exception): a guard that would turn a broken module into silently missing findings.
    The optional compiled core is the one exception (OPTIONAL_COMPILED)."""
    catches = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Try):
            continue
        caught = set()
        for h in node.handlers:
            types = h.type.elts if isinstance(h.type, ast.Tuple) else [h.type]
            caught |= {t.id for t in types if isinstance(t, ast.Name)} | (
                {"*"} if h.type is None else set()
            )
        if not caught & (catches | {"*"}):
            continue
        for stmt in node.body:
            for sub in ast.walk(stmt):
                name = (
                    sub.module
                    if isinstance(sub, ast.ImportFrom)
                    else sub.names[0].name
                    if isinstance(sub, ast.Import)
                    else None
                )
                if (
                    isinstance(sub, ast.ImportFrom)
                    and {f"{name}.{a.name}" for a in sub.names} <= OPTIONAL_COMPILED
                ):
                    continue
                if name and (name == "gotrace" or name.startswith("gotrace.")):
                    yield sub.lineno
                if (
                    isinstance(sub, ast.Call)
                    and isinstance(sub.func, ast.Attribute)
                    and sub.func.attr == "import_module"
                ):
                    yield sub.lineno


def test_no_import_guards_around_gotrace_modules() -> None:
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line in _guarded_gotrace_imports(path)
    ]
    assert not found, "gotrace imports inside try/except ImportError: " + ", ".join(found)
