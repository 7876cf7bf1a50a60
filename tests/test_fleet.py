"""The fleet dataset: collect the sample traces, read them back with DuckDB, pandas and Dask,
and check that both report engines give the same report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import gotrace
from gotrace.errors import GotraceError, UsageError

pytest.importorskip("duckdb")

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_traces"
SAMPLE_DIRS = sorted(p for p in SAMPLES.iterdir() if (p / "meta.json").exists())


def gotrace_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gotrace", *args], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gotrace.fleet.collect import collect

    ds = tmp_path_factory.mktemp("fleet") / "ds"
    res = collect([str(SAMPLES)], ds, labels={"team": "infra"}, host="ci-1")
    assert not res.failed, res.failed
    assert len(res.added) == len(SAMPLE_DIRS)
    return ds


@pytest.fixture(scope="module")
def cluster() -> Any:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as c:
        yield c


def nullable(v: Any) -> Any:
    import pandas as pd

    return None if pd.isna(v) else v


# -- the dataset --------------------------------------------------------------------------------
def test_layout_is_hive_partitioned_with_run_id_and_version_on_every_row(dataset: Path) -> None:
    from gotrace.fleet.schema import SCHEMA_VERSION, TABLES

    for table in TABLES:
        files = sorted((dataset / table).rglob("*.parquet"))
        assert files, table
        for f in files:
            rel = f.relative_to(dataset / table).parts
            assert rel[0].startswith("date=")
            if table == "events":
                assert rel[1] == "host=ci-1"
            meta = pq.ParquetFile(f).metadata
            # statistics are written, so filters on run_id and ts can skip row groups
            col = meta.schema.to_arrow_schema().names.index("run_id")
            assert meta.row_group(0).column(col).statistics.has_min_max
            t = pq.read_table(f)
            assert set(t.column("schema_version").to_pylist()) == {SCHEMA_VERSION}
            assert t.column("run_id").null_count == 0


def test_pandas_and_pyarrow_read_it_as_it_is(dataset: Path) -> None:
    import pandas as pd

    runs = pd.read_parquet(dataset / "runs")
    assert len(runs) == len(SAMPLE_DIRS) and runs["run_id"].is_unique
    assert set(runs["host"]) == {"ci-1"}
    assert {json.loads(x)["team"] for x in runs["labels"]} == {"infra"}
    events = pd.read_parquet(dataset / "events", columns=["run_id", "syscall", "host"])
    total = sum(gotrace.load(p).frame.height for p in SAMPLE_DIRS)
    assert len(events) == total
    assert set(events["run_id"]) == set(runs["run_id"])


def test_runs_rows_say_what_each_capture_says(dataset: Path) -> None:
    import pandas as pd

    runs = pd.read_parquet(dataset / "runs").set_index("source")
    for p in SAMPLE_DIRS:
        t = gotrace.load(p)
        row = runs.loc[str(p)]
        assert row["verdict"] == t.verdict
        meta = json.loads((p / "meta.json").read_text())
        assert row["exit_status"] == meta["exit_status"]
        assert nullable(row["signal"]) == meta.get("signal")
        assert row["goproxy"] == meta["env"]["GOPROXY"]
        assert row["failed"] == (meta["exit_status"] != 0)
        serious = [f for f in t.report.findings if f.severity in ("error", "warning")]
        assert nullable(row["cause_kind"]) == (serious[0].kind if serious else None)
    lock = runs.loc[str(SAMPLES / "lock-held")]
    assert lock["cause_kind"] == "lock-wait"
    # paths under GOMODCACHE are kept relative, so the same lock groups across machines
    assert lock["cause_object"] == "cache/download/example.com/dep0/@v/v1.0.0.lock"


def test_collect_is_incremental_and_skips_known_runs(dataset: Path, tmp_path: Path) -> None:
    import shutil

    from gotrace.fleet.collect import collect

    again = collect([str(SAMPLES / "proxy-stall"), str(SAMPLES / "lock-held")], dataset)
    assert again.added == [] and len(again.skipped) == 2
    # a copy of a capture is the same run (the id is a hash of its trace)
    copy = tmp_path / "copy"
    shutil.copytree(SAMPLES / "cold-ok", copy)
    assert len(collect([str(copy)], dataset).skipped) == 1
    # a new run (meta.json's run_id) appends a new file; nothing already there changes
    small = tmp_path / "ds"
    collect([str(SAMPLES / "up-to-date")], small)
    before = sorted(p.name for p in (small / "runs").rglob("*.parquet"))
    meta = json.loads((copy / "meta.json").read_text())
    meta["run_id"] = "run-new"
    (copy / "meta.json").write_text(json.dumps(meta))
    res = collect([str(copy)], small)
    assert res.added == ["run-new"]
    after = sorted(p.name for p in (small / "runs").rglob("*.parquet"))
    assert len(after) == len(before) + 1 and set(before) <= set(after)
    import gotrace.fleet

    assert gotrace.fleet.open(small).runs.count("*").fetchall() == [(2,)]


def test_a_collect_that_died_leaves_nothing_counted(tmp_path: Path) -> None:
    """Files of a batch without its runs part (the collect was killed) are dropped next time."""
    from gotrace.fleet.collect import collect

    ds = tmp_path / "ds"
    collect([str(SAMPLES / "up-to-date")], ds)
    orphan = ds / "findings" / "date=2026-11-29" / "part-deadbeefdeadbeef-0.parquet"
    pq.write_table(pq.read_table(next((ds / "findings").rglob("*.parquet"))), orphan)
    collect([str(SAMPLES / "cold-ok")], ds)
    assert not orphan.exists()


def test_schema_version_is_checked_on_read(tmp_path: Path) -> None:
    import gotrace.fleet
    from gotrace.fleet.collect import collect

    ds = tmp_path / "ds"
    collect([str(SAMPLES / "up-to-date")], ds)
    f = next((ds / "runs").rglob("*.parquet"))
    t = pq.read_table(f)
    i = t.schema.get_field_index("schema_version")
    t = t.set_column(i, "schema_version", pa.array([99] * t.num_rows, pa.int32()))
    pq.write_table(t, f)
    with pytest.raises(GotraceError, match="schema version 99"):
        gotrace.fleet.open(ds)
    r = gotrace_cli("fleet", "report", str(ds))
    assert r.returncode == 1 and "schema version 99" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


# -- the report ---------------------------------------------------------------------------------
def report(dataset: Path, **kw: Any) -> dict[str, Any]:
    from gotrace.fleet.report import fleet_report, make_query

    scheduler = kw.pop("scheduler", None)
    return fleet_report(dataset, make_query(**kw), scheduler=scheduler)


def test_report_ranks_causes_with_hosts_times_and_objects(dataset: Path) -> None:
    import pandas as pd

    rep = report(dataset, top=50)
    runs = pd.read_parquet(dataset / "runs")
    assert rep["runs"] == len(SAMPLE_DIRS) and rep["hosts"] == 1
    assert rep["failed_runs"] == int(runs["failed"].sum())
    counts = [c["runs"] for c in rep["causes"]]
    assert counts == sorted(counts, reverse=True)
    assert sum(counts) == int(runs["cause_kind"].notna().sum())
    stall = [c for c in rep["causes"] if c["kind"] == "proxy-stall"]
    want = runs[runs["cause_kind"] == "proxy-stall"]
    assert sum(c["runs"] for c in stall) == len(want)
    one = next(c for c in stall if c["object"] == want.iloc[0]["cause_object"])
    assert one["hosts"] == 1
    assert one["details"] == [{"object": want.iloc[0]["cause_detail"], "runs": 1}]
    assert one["first_seen"].startswith(str(want.iloc[0]["start"].date()))
    # proxies by failure rate: the stalled proxies failed every run that used them
    worst = rep["proxies"][0]
    assert worst["failure_rate"] == 1.0 and worst["failed"] == worst["runs"]
    rates = [p["failure_rate"] for p in rep["proxies"]]
    assert rates == sorted(rates, reverse=True)
    # slowest modules: dep0 waited on its lock in lock-held, so its worst time is that wait
    mods = {m["module"]: m for m in rep["slowest_modules"]}
    assert set(mods) >= {"example.com/dep0", "example.com/dep1", "example.com/dep2"}
    assert mods["example.com/dep0"]["max_lock_wait_s"] > 2.5


def test_since_and_where_filter_the_runs(dataset: Path) -> None:
    import pandas as pd

    runs = pd.read_parquet(dataset / "runs")
    only = report(dataset, where=["cause_kind=proxy-stall,lock-wait"])
    assert only["runs"] == int(runs["cause_kind"].isin(["proxy-stall", "lock-wait"]).sum())
    assert {c["kind"] for c in only["causes"]} == {"proxy-stall", "lock-wait"}
    ok = report(dataset, where=["exit_status=0"])
    assert ok["runs"] == int((runs["exit_status"] == 0).sum()) and ok["failed_runs"] == 0
    not_ok = report(dataset, where=["exit_status!=0"])
    assert not_ok["runs"] + ok["runs"] == len(runs)
    assert report(dataset, where=["label.team=infra"])["runs"] == len(runs)
    assert report(dataset, where=["label.team=other"])["runs"] == 0
    assert report(dataset, where=["host=elsewhere"])["causes"] == []
    cut = runs["start"].sort_values().iloc[10]
    later = report(dataset, since=cut.isoformat())
    assert later["runs"] == int((runs["start"] >= cut).sum())
    assert report(dataset, since="2099-01-01")["runs"] == 0


@pytest.mark.parametrize("bad", ["nonsense", "no_such_column=1", "=x"])
def test_bad_where_is_a_usage_error(bad: str) -> None:
    from gotrace.fleet.report import parse_where

    with pytest.raises(UsageError):
        parse_where(bad)


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"where": ["label.team=infra", "exit_status!=0"], "since": "2026-11-29"},
        {"where": ["cause_kind=proxy-stall,lock-wait"], "top": 3},
        {"where": ["host=nowhere"]},
    ],
    ids=["all", "failed-since", "two-causes", "empty"],
)
def test_duckdb_and_dask_give_the_same_report(dataset: Path, cluster: Any, query: Any) -> None:
    from gotrace.fleet.report import comparable

    on_duckdb = report(dataset, **query)
    on_dask = report(dataset, scheduler=cluster.scheduler_address, **query)
    assert on_duckdb["engine"] == "duckdb" and on_dask["engine"] == "dask"
    assert comparable(on_duckdb) == comparable(on_dask)


def test_cli_collect_and_report(tmp_path: Path, cluster: Any) -> None:
    ds = tmp_path / "ds"
    r = gotrace_cli(
        "fleet", "collect", str(SAMPLES / "proxy-stall"), str(SAMPLES / "lock-held"),
        "-o", str(ds), "--label", "team=infra",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "2 runs added" in r.stderr
    r = gotrace_cli("fleet", "collect", str(SAMPLES / "proxy-stall"), "-o", str(ds))
    assert "0 runs added" in r.stderr and "1 already there" in r.stderr
    text = gotrace_cli("fleet", "report", str(ds))
    assert text.returncode == 0, text.stderr
    assert (
        "proxy-stall at 127.0.0.1:" in text.stdout and "lock-wait on cache/download" in text.stdout
    )
    a = gotrace_cli("fleet", "report", str(ds), "--json")
    b = gotrace_cli("fleet", "report", str(ds), "--json", "--scheduler", cluster.scheduler_address)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    ja, jb = json.loads(a.stdout), json.loads(b.stdout)
    assert ja["runs"] == 2 and ja.pop("engine") == "duckdb" and jb.pop("engine") == "dask"
    assert ja == jb


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["fleet", "report", "/nonexistent/ds"], 1, "no such directory"),
        (["fleet", "report", str(SAMPLES)], 1, "not a gotrace fleet dataset"),
        (["fleet", "report", str(SAMPLES), "--where", "bogus"], 2, "--where"),
        (["fleet", "report", str(SAMPLES), "--since", "yesterday-ish"], 2, "--since"),
        (["fleet", "collect", "/nonexistent/run", "-o", "/tmp/x"], 1, "no such file"),
        (
            ["fleet", "collect", str(SAMPLES / "cold-ok"), "-o", "/tmp/x", "--label", "x"],
            2,
            "KEY=VALUE",
        ),
    ],
)
def test_bad_input_is_one_line(args: list[str], code: int, words: str) -> None:
    r = gotrace_cli(*args)
    assert r.returncode == code, r.stderr
    assert words in r.stderr and "Traceback" not in r.stderr


def test_open_gives_relations_and_dataframes(dataset: Path) -> None:
    import gotrace.fleet

    fl = gotrace.fleet.open(dataset)
    assert fl.runs.count("*").fetchall() == [(len(SAMPLE_DIRS),)]
    per_kind = dict(fl.sql("SELECT kind, count(*) FROM findings GROUP BY kind").fetchall())
    # every sample the lab's timeout stopped has one "stopped" finding (gotrace's own signal)
    stopped = sum(
        any(f.kind == "stopped" for f in gotrace.load(p).report.findings) for p in SAMPLE_DIRS
    )
    assert stopped > 0 and per_kind["stopped"] == stopped
    mods = fl.df("modules")
    assert {"run_id", "module", "result", "duration_s"} <= set(mods.columns)
    flock = fl.sql(
        "SELECT e.pid FROM events e JOIN runs r USING (run_id) "
        "WHERE r.cause_kind = 'lock-wait' AND e.syscall = 'flock' AND e.in_flight"
    ).fetchall()
    assert len(flock) == 1
    with pytest.raises(KeyError):
        fl.table("nope")


def test_findings_keep_their_sample_evidence_and_older_parts_still_read(tmp_path: Path) -> None:
    """A finding proved by /proc samples (a sampler-only capture) keeps their indexes in the
    ``samples`` column; a part written before that column existed reads with it null."""
    import shutil

    import gotrace.fleet
    from gotrace.fleet.collect import collect

    run = tmp_path / "sampler-only"
    shutil.copytree(SAMPLES / "lock-held", run)
    (run / "trace.strace").unlink()
    (run / "events.parquet").unlink()
    proof = next(f.samples for f in gotrace.load(run).report.findings if f.samples)
    ds = tmp_path / "ds"
    collect([str(run), str(SAMPLES / "proxy-stall")], ds)
    rows = gotrace.fleet.open(ds).sql("SELECT samples, evidence FROM findings").fetchall()
    assert (list(proof), []) in rows
    n = len(rows)
    # an older part: the same rows without the column
    part = next((ds / "findings").rglob("*.parquet"))
    old = pq.read_table(part)
    pq.write_table(old.drop_columns(["samples"]), part.with_name("part-0ld0ld0ld0ld0ld0-0.parquet"))
    got = gotrace.fleet.open(ds).sql("SELECT count(*), count(samples) FROM findings").fetchall()
    assert got == [(n + old.num_rows, n)]
