"""One Trace: every input form loads into the same type, ``save`` keeps what ``load`` needs
(events, meta, the /proc samples) so a saved capture gives the same report, and a Trace's
inputs are fixed when it is made, so its report can never go stale."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import DATA

import gotrace
from gotrace.trace import SAMPLES_KEY, Trace

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_traces"
CAPTURES = sorted(p.name for p in SAMPLES.iterdir() if (p / "trace.strace").exists())


def findings(t: Trace) -> list[dict[str, object]]:
    return [f.to_dict() for f in t.report.findings]


@pytest.mark.parametrize("name", CAPTURES)
def test_a_saved_capture_gives_the_same_report_as_its_directory(name: str, tmp_path: Path) -> None:
    t = gotrace.load(SAMPLES / name)
    saved = gotrace.load(t.save(tmp_path / "saved.parquet"))
    assert type(saved) is type(t)
    assert saved.frame.equals(t.frame)
    assert saved.samples == t.samples
    assert saved.verdict == t.verdict
    assert findings(saved) == findings(t)
    assert saved.report.to_dict()["modules"] == t.report.to_dict()["modules"]


def test_lock_held_names_the_holder_from_the_directory_and_from_the_saved_file(
    tmp_path: Path,
) -> None:
    directory = gotrace.load(SAMPLES / "lock-held")
    assert directory.samples, "lock-held is captured with the watchdog's samples.jsonl"
    holder = next(lk.holder for s in directory.samples for lk in s.locks if lk.holder > 0)
    for t in (directory, gotrace.load(directory.save(tmp_path / "lock.parquet"))):
        assert f"held by pid {holder} (" in t.verdict
        assert "outside the trace" in t.verdict
    # the committed events.parquet alone (no samples.jsonl beside it) says the same
    alone = tmp_path / "alone.parquet"
    shutil.copy(SAMPLES / "lock-held" / "events.parquet", alone)
    assert f"held by pid {holder} (" in gotrace.load(alone).verdict
    # and a run directory whose samples.jsonl is gone falls back to the saved copy, whether
    # the events come from events.parquet or (newer trace.strace) from the raw trace
    copy = tmp_path / "cap"
    shutil.copytree(SAMPLES / "lock-held", copy)
    (copy / "samples.jsonl").unlink()
    for later, newer in enumerate(("events.parquet", "trace.strace"), 1):
        os.utime(copy / newer, (time.time() + 10 * later, time.time() + 10 * later))
        assert gotrace.load(copy).verdict.replace(str(copy), "") == directory.verdict.replace(
            str(SAMPLES / "lock-held"), ""
        ), newer


def test_without_the_samples_the_holder_is_unknown(tmp_path: Path) -> None:
    t = gotrace.load(SAMPLES / "lock-held")
    bare = t.replace(samples=())
    assert "held by pid" not in bare.verdict
    assert t.verdict != bare.verdict  # the copy has its own report; the original is untouched
    assert "held by pid" in t.verdict


def test_every_input_form_loads_into_one_type(tmp_path: Path) -> None:
    log = DATA / "go_mod_download.strace"
    parquet = gotrace.load(log).save(tmp_path / "ev.parquet")
    ff = tmp_path / "ff" / "log"
    ff.parent.mkdir()
    for pid in (100, 101):  # strace -ff: one file per pid, lines without the pid
        Path(f"{ff}.{pid}").write_text(f"1.{pid} getpid() = {pid}\n")
    forms = [log, parquet, SAMPLES / "proxy-stall", ff]
    assert {type(gotrace.load(p)) for p in forms} == {Trace}


def test_inputs_are_fixed_at_construction() -> None:
    t = gotrace.load(DATA / "go_mod_download.strace")
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.samples = ()  # type: ignore[misc]
    first = t.report
    assert t.report is first  # computed once
    assert t.analyze() is first
    assert t.analyze(top=1).summary["slowest"] == first.summary["slowest"][:1]


def test_quiet_periods_follow_min_quiet() -> None:
    t = gotrace.load(SAMPLES / "pause-recover")
    long = t.quiet_periods(min_quiet=2.0)
    short = t.quiet_periods(min_quiet=0.05)
    assert len(short) >= len(long) >= 1
    assert (long["duration"] >= 2.0).all()


def test_the_notebook_json_is_the_cli_json() -> None:
    from typer.testing import CliRunner

    from gotrace.cli.app import app

    out = CliRunner().invoke(app, ["analyze", "--json", str(SAMPLES / "proxy-stall")])
    assert out.exit_code == 0, out.output
    cli = json.loads(out.stdout)
    from gotrace.reporters.jsonout import render_json

    t = gotrace.load(SAMPLES / "proxy-stall")
    assert render_json(t.report) == cli
    assert t.report.to_dict()["verdict"] == cli["verdict"]


def test_samples_are_redacted_on_load_and_in_saved_files(tmp_path: Path) -> None:
    cap = tmp_path / "cap"
    shutil.copytree(SAMPLES / "lock-held", cap)
    lines = (cap / "samples.jsonl").read_text().splitlines(keepends=True)
    first = json.loads(lines[0])
    first["processes"][0]["cmdline"] = ["git", "fetch", "https://bob:tok123@example.com/r"]
    (cap / "samples.jsonl").write_text(json.dumps(first) + "\n" + "".join(lines[1:]))
    (cap / "events.parquet").unlink()
    t = gotrace.load(cap)
    assert "tok123" not in " ".join(t.samples[0].processes[0].cmdline)
    saved = t.save(tmp_path / "x.parquet")
    import pyarrow.parquet as pq

    assert b"tok123" not in pq.read_schema(saved).metadata[SAMPLES_KEY]
    assert "tok123" in " ".join(gotrace.load(cap, redact=False).samples[0].processes[0].cmdline)
