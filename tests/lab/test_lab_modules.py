"""The synthetic modules: GOPROXY layout and go.sum hashes (go itself checks them in
test_lab_scenarios.py)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from gotrace.lab.modules import (
    ModuleSpec,
    build_module,
    corrupt_zip,
    escape_path,
    gomod_hash,
    hash1,
    make_specs,
    write_app,
    write_proxy_tree,
    zip_hash,
)


def test_gomod_hash_matches_a_published_go_sum_line() -> None:
    # golang.org/x/text v0.3.0 has no go.mod, so the proxy synthesizes this one; every go.sum
    # that needs it carries "golang.org/x/text v0.3.0/go.mod h1:NqM8…".
    assert gomod_hash(b"module golang.org/x/text\n") == (
        "h1:NqM8EUOU14njkJ3fqMW+pc6Ldnwhi/IjpwHt7yyuwOQ="
    )


def test_hash1_sorts_by_name_and_ignores_input_order() -> None:
    files = [("b/x.go", b"x"), ("a/go.mod", b"module a\n")]
    assert hash1(files) == hash1(reversed(files))
    assert hash1(files) != hash1([("b/x.go", b"y"), ("a/go.mod", b"module a\n")])


def test_zip_entries_carry_the_module_prefix() -> None:
    module = build_module(ModuleSpec("example.com/dep0", size=1000))
    with zipfile.ZipFile(io.BytesIO(module.zip)) as zf:
        names = zf.namelist()
        assert all(name.startswith("example.com/dep0@v1.0.0/") for name in names)
        assert "example.com/dep0@v1.0.0/go.mod" in names
        assert zf.read("example.com/dep0@v1.0.0/go.mod") == module.mod
        go_bytes = sum(zf.getinfo(n).file_size for n in names if n.endswith(".go"))
    assert 1000 <= go_bytes < 1300
    assert module.h1 == zip_hash(module.zip)


def test_build_is_deterministic() -> None:
    spec = ModuleSpec("example.com/dep7", size=5000)
    assert build_module(spec) == build_module(spec)


def test_corrupt_zip_keeps_names_and_changes_the_hash() -> None:
    module = build_module(ModuleSpec("example.com/dep0"))
    bad = corrupt_zip(module.zip)
    with zipfile.ZipFile(io.BytesIO(bad)) as a, zipfile.ZipFile(io.BytesIO(module.zip)) as b:
        assert a.namelist() == b.namelist()
    assert zip_hash(bad) != module.h1


def test_escape_path() -> None:
    assert escape_path("github.com/Azure/SDK") == "github.com/!azure/!s!d!k"


def test_proxy_tree_layout(tmp_path: Path) -> None:
    modules = [build_module(s) for s in make_specs(2)]
    write_proxy_tree(tmp_path, modules)
    vdir = tmp_path / "example.com" / "dep1" / "@v"
    assert sorted(p.name for p in vdir.iterdir()) == [
        "list",
        "v1.0.0.info",
        "v1.0.0.mod",
        "v1.0.0.zip",
    ]
    assert (vdir / "list").read_text() == "v1.0.0\n"
    info = json.loads((vdir / "v1.0.0.info").read_text())
    assert info["Version"] == "v1.0.0" and info["Time"].endswith("Z")


def test_app_requires_every_module_with_a_sorted_go_sum(tmp_path: Path) -> None:
    modules = [build_module(s) for s in make_specs(3)]
    app = write_app(tmp_path / "app", modules)
    gomod = (app / "go.mod").read_text()
    assert gomod.startswith("module example.com/app\n\ngo 1.21\n")
    for module in modules:
        assert f"\t{module.path} {module.version}\n" in gomod
        assert f'_ "{module.path}"' in (app / "main.go").read_text()
    lines = (app / "go.sum").read_text().splitlines()
    assert lines == sorted(lines) and len(lines) == 6
