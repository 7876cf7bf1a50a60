"""CI summaries: the Markdown a CI page shows, and what ``gotrace run`` keeps for the job."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gotrace
from gotrace.cli.ci import keep
from gotrace.reporters.markdown import render_summary

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_traces"


def test_summary_has_the_verdict_findings_connections_and_modules() -> None:
    t = gotrace.load(SAMPLES / "proxy-stall")
    md = render_summary(t.report, kept="cap")
    lines = md.splitlines()
    assert lines[0].startswith("### ❌ gotrace: `/opt/go/bin/go mod download` — killed by SIGKILL")
    assert f"**Verdict:** {t.verdict.replace('`', chr(39))}" in md
    assert "| error | " in md and "| severity | finding | fix |" in md
    # the stalled request is in the connections table, every module in the modules table
    assert any(line.startswith("| TCP 127.0.0.1:") and "v1.0.0.zip" in line for line in lines)
    for m in t.report.modules.to_dicts():
        assert any(
            line.startswith(f"| {m['module']}@{m['version']} | {m['result']} |") for line in lines
        )
    assert md.rstrip().endswith("Capture kept in `cap`.")
    # each table row has as many cells as its header
    for block in md.split("\n\n"):
        rows = [r for r in block.splitlines() if r.startswith("|")]
        if rows:
            assert len({r.replace("\\|", "").count("|") for r in rows}) == 1, block


def test_summary_of_a_success_and_of_a_capture_not_kept() -> None:
    md = render_summary(gotrace.load(SAMPLES / "up-to-date").report, kept=None)
    assert md.startswith("### ✅") and "exit 0" in md.splitlines()[0]
    assert "| severity |" not in md  # nothing went wrong: no findings table
    assert "The capture was not kept." in md


def test_summary_redacts_secrets() -> None:
    t = gotrace.load(SAMPLES / "cold-ok")
    t.meta["argv"] = ["go", "get", "https://bob:hunter2@git.example/x"]
    assert "hunter2" not in render_summary(t.report)
    assert "hunter2" in render_summary(t.report, redact=False)


@pytest.mark.parametrize(
    ("status", "on_success", "on_failure", "kept"),
    [
        (0, False, False, True),
        (1, False, False, True),
        (0, False, True, False),
        (3, False, True, True),
        (0, True, False, True),
        (1, True, False, False),
        (1, True, True, True),
    ],
)
def test_keep_rules(status: int, on_success: bool, on_failure: bool, kept: bool) -> None:
    assert keep(status, on_success=on_success, on_failure=on_failure) is kept


needs_strace = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")


def run(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gotrace", "run", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, **(env or {})},
    )


@needs_strace
def test_run_appends_to_github_step_summary_and_keeps_only_failures(tmp_path: Path) -> None:
    page = tmp_path / "summary.md"
    page.write_text("earlier step\n")
    env = {"GITHUB_STEP_SUMMARY": str(page)}
    ok = run(tmp_path, "-o", "ok", "--keep-on-failure", "--", "sh", "-c", "exit 0", env=env)
    assert ok.returncode == 0, ok.stderr
    assert not (tmp_path / "ok").exists() and "capture not kept" in ok.stderr
    bad = run(tmp_path, "-o", "bad", "--keep-on-failure", "--", "sh", "-c", "exit 3", env=env)
    assert bad.returncode == 3
    assert (tmp_path / "bad" / "trace.strace").exists()
    text = page.read_text()
    assert text.startswith("earlier step\n")  # appended, not overwritten
    heads = [line for line in text.splitlines() if line.startswith("### ")]
    assert heads == [
        "### ✅ gotrace: `sh -c 'exit 0'` — exit 0",
        "### ❌ gotrace: `sh -c 'exit 3'` — exit 3",
    ]
    # -o is made absolute before the run, so the summary names the whole path
    assert "The capture was not kept." in text and f"Capture kept in `{tmp_path / 'bad'}`." in text


@needs_strace
def test_run_summary_option_and_keep_on_success(tmp_path: Path) -> None:
    page = tmp_path / "s.md"
    env = {"GITHUB_STEP_SUMMARY": ""}
    r = run(
        tmp_path,
        "-o",
        "c",
        "--summary",
        str(page),
        "--keep-on-success",
        "--",
        "sh",
        "-c",
        "exit 2",
        env=env,
    )
    assert r.returncode == 2
    assert not (tmp_path / "c").exists()
    assert "exit 2" in page.read_text()
    quiet = run(tmp_path, "-o", "d", "--", "true", env=env)
    assert quiet.returncode == 0 and (tmp_path / "d" / "meta.json").exists()
