"""gotrace.modcachelayout: the one classifier of GOMODCACHE paths (the trace analyzers, the
doctor's cache scan, the /proc samples and the sampler all use it)."""

from __future__ import annotations

import pytest

from gotrace.modcachelayout import (
    classify,
    classify_download,
    classify_relative,
    download_temp_url_path,
    extraction_temp,
    is_download_temp,
    temp_target,
    version_file,
    version_temp,
)


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("v1.0.0.zip75109844.tmp", "v1.0.0.zip"),  # fetch.go tempFile: <name><random>.tmp
        ("list9.tmp", "list"),
        ("v1.0.0.info0.tmp", "v1.0.0.info"),  # rand.Intn may give 0
        ("v1.0.0.zip.tmp", None),  # go never writes a .tmp without its random digits
        ("v1.0.0.zip.tmp123", None),
        ("v1.0.0.zip", None),
    ],
)
def test_temp_target(name: str, want: str | None) -> None:
    assert temp_target(name) == want


def test_version_files() -> None:
    assert version_file("v1.0.0.ziphash") == ("ziphash", "v1.0.0")
    assert version_file("v1.0.0.zip") == ("zip", "v1.0.0")
    assert version_file("v1.0.0-!r!c1.partial") == ("partial", "v1.0.0-!r!c1")
    assert version_file("list") is None and version_file("list.lock") is None
    assert version_file(".zip") is None
    assert version_temp("v1.0.0.ziphash42.tmp") == ("ziphash", "v1.0.0")
    assert version_temp("list9.tmp") is None
    assert extraction_temp("v1.0.0.tmp-123456") == "v1.0.0"
    assert extraction_temp("v1.0.0") is None


def test_list_lock_is_the_version_lists_lock() -> None:
    """Go before lockedfile.Edit locked ``@v/list`` through ``list.lock``: not a version."""
    cp = classify("/c/cache/download/example.com/a/@v/list.lock", "/c")
    assert cp is not None and (cp.artifact, cp.module, cp.version) == (
        "list-lock",
        "example.com/a",
        None,
    )


def test_download_temps() -> None:
    assert is_download_temp("/c/cache/download/m/@v/v1.0.0.zip123.tmp")
    assert is_download_temp("v1.0.0.partial")
    assert not is_download_temp("v1.0.0.zip")
    assert not is_download_temp("notes.tmp")
    rel = "cache/download/github.com/!burnt!sushi/toml/@v/v1.2.0.zip881.tmp"
    cp = classify_relative(rel)
    assert (cp.artifact, cp.module, cp.version, cp.tmp_of) == (
        "tmp",
        "github.com/BurntSushi/toml",
        "v1.2.0",
        "zip",
    )
    assert download_temp_url_path("/r/" + rel) == "github.com/!burnt!sushi/toml/@v/v1.2.0.zip"
    assert download_temp_url_path("/r/" + rel, ("mod",)) is None
    assert download_temp_url_path("/r/cache/download/sumdb/x/lookup/a9.tmp") is None


def test_classify_download_without_the_root() -> None:
    cp = classify_download("/root/go/pkg/mod/cache/download/example.com/a/@v/v1.0.0.zip")
    assert cp is not None and (cp.artifact, cp.key) == ("zip", "example.com/a@v1.0.0")
    tmp = classify_download("/r/cache/download/example.com/a/@v/v1.0.0.zip5.tmp")
    assert tmp is not None and tmp.final == "/r/cache/download/example.com/a/@v/v1.0.0.zip"
    assert classify_download("/r/example.com/a@v1.0.0/a.go") is None
