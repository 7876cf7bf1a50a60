"""Usage errors through the installed console script: one line on stderr, exit 2.

Regression: typer 0.2x stopped installing click, and every usage error became two chained
tracebacks ending in ``ModuleNotFoundError: No module named 'click'`` (exit 1).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).parent / "gotrace"

USAGE_ERRORS = [
    ["--bogus"],
    ["nosuchcommand"],
    ["analyze"],
    ["analyze", "--nope", "x"],
    ["analyze", "--top", "-5", "x.strace"],
    ["analyze", "--top", "many", "x.strace"],
    ["report", "--nope"],
    ["report"],
    ["events"],
    ["events", "--bogus", "x"],
    ["run"],
    ["run", "--timeout", "0", "--", "true"],
    ["run", "--timeout", "-3", "--", "true"],
    ["run", "--quiet-after", "0", "--", "true"],
    ["run", "--timeout", "soon", "--", "true"],
    ["run", "--backend", "magic", "--", "true"],
    ["lab", "run"],
    ["lab", "run", "no-such-scenario"],
    ["lab", "nosuch"],
    ["doctor", "--bogus"],
    ["cache", "--bogus"],
]


def script(*args: str) -> subprocess.CompletedProcess[str]:
    assert SCRIPT.exists(), f"the console script is not installed next to {sys.executable}"
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )


@pytest.mark.parametrize("args", USAGE_ERRORS, ids=[" ".join(a) for a in USAGE_ERRORS])
def test_usage_error_is_one_line_and_exit_2(args: list[str]) -> None:
    r = script(*args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "error" in lines[0] and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_usage_error_names_the_command_and_the_option() -> None:
    line = script("analyze", "--top", "-5", "x.strace").stderr.strip()
    assert line.startswith("gotrace analyze: error:") and "--top" in line
    assert "gotrace analyze --help" in line


def test_no_arguments_shows_help_and_exits_2() -> None:
    r = script()
    assert r.returncode == 2
    assert "Usage: gotrace" in r.stdout + r.stderr and "Traceback" not in r.stderr


def test_help_is_plain_text_and_exit_0() -> None:
    r = script("--help")
    assert r.returncode == 0
    assert "Commands:" in r.stdout and "analyze" in r.stdout and "\x1b[" not in r.stdout


def test_help_does_not_import_the_data_stack() -> None:
    """`gotrace --help` must stay instant: polars, pandas and plotly load on first use."""
    code = (
        "import sys\n"
        "from gotrace.cli.app import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('polars', 'pandas', 'plotly', 'pyarrow') if m in sys.modules)\n"
        "print(','.join(heavy), file=sys.stderr)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stderr.strip() == "", r.stderr


def test_analysis_of_a_trace_does_not_import_plotly(tmp_path: Path) -> None:
    sample = Path(__file__).parent.parent / "sample_traces" / "proxy-stall"
    if not sample.exists():
        pytest.skip("no sample_traces/ in this tree")
    code = (
        "import sys\n"
        "from gotrace.cli.app import main\n"
        f"try:\n    main(['analyze', {str(sample)!r}])\nexcept SystemExit:\n    pass\n"
        "print('plotly' in sys.modules, file=sys.stderr)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stderr.strip().splitlines()[-1] == "False", r.stderr
    assert "verdict:" in r.stdout
