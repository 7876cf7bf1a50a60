from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from gotrace.parsers.strace import parse_frame

DATA = Path(__file__).parent / "data" / "strace"


@pytest.fixture
def data() -> Path:
    return DATA


def parse(name: str) -> pl.DataFrame:
    return parse_frame(DATA / name)


def syscalls(df: pl.DataFrame, name: str | None = None) -> pl.DataFrame:
    out = df.filter(pl.col("kind") == "syscall")
    return out if name is None else out.filter(pl.col("syscall") == name)


def raw_lines(name: str) -> list[str]:
    return (DATA / name).read_text().splitlines()
