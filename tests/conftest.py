from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
import typer

from gotrace.cli.cache import cache
from gotrace.cli.doctor import doctor
from gotrace.errors import GotraceError
from gotrace.lab import find_go as lab_find_go
from gotrace.lab import get_scenario
from gotrace.lab.workbench import Prepared, ScenarioUnavailable
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


@pytest.fixture
def app() -> typer.Typer:
    """A typer app with the doctor and cache commands, for CliRunner tests."""
    a = typer.Typer()
    a.command("doctor")(doctor)
    a.command("cache")(cache)
    return a


@contextlib.contextmanager
def scenario(name: str) -> Iterator[Prepared]:
    """A prepared lab scenario, or a skip with the reason this machine cannot run it."""
    try:
        lab_find_go()
        with get_scenario(name).prepare() as prep:
            yield prep
    except ScenarioUnavailable as exc:
        pytest.skip(str(exc))
    except GotraceError as exc:
        if "Go not found" in str(exc):
            pytest.skip(str(exc))
        raise


@dataclass(frozen=True)
class LabCapture:
    """One ``gotrace lab run NAME --backend B --keep DIR``: the directory and how it ended."""

    keep: Path
    returncode: int
    stderr: str


@pytest.fixture(scope="session")
def lab_capture(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., LabCapture]:
    """Live lab captures, made once per session for each (scenario, backend, extra options).

    The backend-equivalence, ptrace-evidence and scenario tests read the same captures instead
    of each running go again (a live run costs 3-30 s). Callers only read the directory."""
    done: dict[tuple[str, ...], LabCapture] = {}

    def capture(name: str, backend: str = "strace", *extra: str) -> LabCapture:
        key = (name, backend, *extra)
        if key not in done:
            keep = tmp_path_factory.mktemp(f"lab-{name}-{backend}") / "cap"
            r = subprocess.run(
                [sys.executable, "-m", "gotrace", "lab", "run", name, "--backend", backend,
                 "--keep", str(keep), *extra],
                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=240,
            )  # fmt: skip
            done[key] = LabCapture(keep, r.returncode, r.stderr)
        return done[key]

    return capture
