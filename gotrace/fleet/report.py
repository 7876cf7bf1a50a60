"""``gotrace fleet report``: ranked causes, slowest modules and proxies by failure rate.

Two engines compute the same grouped tables from the same Parquet: DuckDB in-process (the
default) and dask.dataframe on a Dask distributed cluster (``--scheduler``). Each engine
only filters and aggregates (counts, sums, distinct hosts, min/max); :func:`build` turns
their frames into the report, so both engines give the same JSON byte for byte.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gotrace.errors import GotraceError, UsageError
from gotrace.fleet.schema import PARTITIONS, empty

if TYPE_CHECKING:
    import pandas as pd

#: runs columns ``--where`` may test (compared as lower-case text), plus ``label.KEY``
WHERE_COLUMNS = (
    "run_id",
    "batch",
    "host",
    "date",
    "source",
    "command",
    "backend",
    "backend_version",
    "go_version",
    "verdict",
    "cause_kind",
    "cause_severity",
    "cause_object",
    "cause_detail",
    "exit_status",
    "signal",
    "timed_out",
    "failed",
    "goproxy",
    "gosumdb",
    "goprivate",
)
FAILED_RESULTS = ("failed", "incomplete")


@dataclass(frozen=True)
class Condition:
    """``column=v1,v2`` (any of) or ``column!=v1,v2`` (none of); ``label.KEY`` for a label."""

    column: str
    negate: bool
    values: tuple[str, ...]

    @property
    def label(self) -> str | None:
        return self.column[len("label.") :] if self.column.startswith("label.") else None


@dataclass(frozen=True)
class Query:
    since: datetime | None = None
    where: tuple[Condition, ...] = ()
    top: int = 10
    #: what the user typed, echoed in the report
    text: dict[str, Any] = field(default_factory=dict)


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """``2026-11-29``, ``2026-11-29T12:00`` (UTC unless it says otherwise), or an age:
    ``90m``, ``36h``, ``7d``, ``2w``."""
    now = now or datetime.now(UTC)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*", text)
    if m:
        unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[m.group(2)]
        return now - timedelta(**{unit: float(m.group(1))})
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"--since {text!r}: give a date (2026-11-29), a time (2026-11-29T12:00) or an age (36h, 7d)"
        ) from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def parse_where(text: str) -> Condition:
    m = re.fullmatch(r"\s*([A-Za-z_][\w.-]*)\s*(!=|=)\s*(.*?)\s*", text)
    if not m:
        raise UsageError(f"--where {text!r}: write COLUMN=VALUE[,VALUE] or COLUMN!=VALUE")
    col, op, raw = m.groups()
    if col not in WHERE_COLUMNS and not (col.startswith("label.") and len(col) > 6):
        raise UsageError(
            f"--where {text!r}: unknown column {col!r} (one of {', '.join(WHERE_COLUMNS)}, or label.KEY)"
        )
    values = tuple(v.strip().lower() for v in raw.split(","))
    return Condition(col, op == "!=", values)


def make_query(since: str | None = None, where: list[str] | None = None, top: int = 10) -> Query:
    if top < 1:
        raise UsageError("--top must be at least 1")
    return Query(
        since=parse_since(since) if since else None,
        where=tuple(parse_where(w) for w in where or []),
        top=top,
        text={"since": since, "where": list(where or []), "top": top},
    )


# -- the engines ---------------------------------------------------------------------------------
#: the frames each engine returns, and their columns
FRAMES: dict[str, tuple[str, ...]] = {
    "totals": ("runs", "hosts", "failed", "first", "last"),
    "causes": ("cause_kind", "cause_object", "runs", "hosts", "failed", "first", "last"),
    "cause_details": ("cause_kind", "cause_object", "cause_detail", "runs"),
    "modules": ("module", "version", "runs", "failed", "timed", "sum_s", "max_s", "max_lock_s"),
    "proxies": ("proxy", "runs", "hosts", "used", "failed"),
    "proxy_causes": ("proxy", "cause_kind", "runs"),
}


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _glob(dataset: str, table: str) -> str:
    return f"{dataset.rstrip('/')}/{table}/**/*.parquet"


def _has_files(dataset: str, table: str) -> bool:
    if "://" in dataset:
        return True  # object storage: trust the layout
    return any((Path(dataset) / table).rglob("*.parquet"))


def duckdb_views(con: Any, dataset: str, tables: tuple[str, ...] | None = None) -> None:
    """Register the dataset's tables (all by default) as DuckDB views (empty when absent)."""
    if "://" in dataset:
        con.sql("INSTALL httpfs; LOAD httpfs;")
    for table, keys in PARTITIONS.items():
        if tables is not None and table not in tables:
            continue
        if _has_files(dataset, table):
            types = ", ".join(f"{_sql_str(k)}: 'VARCHAR'" for k in keys)
            con.sql(
                f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM read_parquet("
                f"{_sql_str(_glob(dataset, table))}, hive_partitioning = true, "
                f"union_by_name = true, hive_types = {{{types}}})"
            )
        else:
            con.register(f"_empty_{table}", empty(table))
            con.sql(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM _empty_{table}")
    if "://" in dataset and (tables is None or "runs" in tables):
        # object storage: the local check of collect.check_version cannot list it; ask DuckDB
        from gotrace.fleet.collect import require_version

        found = con.sql("SELECT DISTINCT schema_version FROM runs").fetchall()
        require_version(dataset, {int(v) for (v,) in found})


def _sql_condition(c: Condition) -> str:
    col = (
        f"json_extract_string(labels, {_sql_str('$.' + c.label)})"
        if c.label is not None
        else f'"{c.column}"'
    )
    values = ", ".join(_sql_str(v) for v in c.values)
    test = f"lower(CAST({col} AS VARCHAR)) IN ({values})"
    return f"({col} IS NOT NULL AND NOT {test})" if c.negate else f"coalesce({test}, false)"


def duckdb_frames(dataset: str, query: Query) -> dict[str, pd.DataFrame]:
    import duckdb

    con = duckdb.connect()
    con.sql("SET TimeZone = 'UTC'")
    duckdb_views(con, dataset, ("runs", "modules", "proxies"))
    conds = ["true"]
    day = None
    if query.since is not None:
        day = query.since.strftime("%Y-%m-%d")
        conds += [
            f"date >= {_sql_str(day)}",
            f"start >= {_sql_str(query.since.isoformat())}::TIMESTAMPTZ",
        ]
    conds += [_sql_condition(c) for c in query.where]
    con.sql(f"CREATE TEMP VIEW r AS SELECT * FROM runs WHERE {' AND '.join(conds)}")
    pick = "run_id IN (SELECT run_id FROM r)" + (f" AND date >= {_sql_str(day)}" if day else "")
    sql = {
        "totals": "SELECT count(*) AS runs, count(DISTINCT host) AS hosts, "
        "coalesce(sum(failed::INT), 0) AS failed, min(start) AS first, max(start) AS last FROM r",
        "causes": "SELECT cause_kind, coalesce(cause_object, '') AS cause_object, count(*) AS runs, "
        "count(DISTINCT host) AS hosts, sum(failed::INT) AS failed, min(start) AS first, "
        "max(start) AS last FROM r WHERE cause_kind IS NOT NULL GROUP BY ALL",
        "cause_details": "SELECT cause_kind, coalesce(cause_object, '') AS cause_object, "
        "coalesce(cause_detail, '') AS cause_detail, count(*) AS runs FROM r "
        "WHERE cause_kind IS NOT NULL GROUP BY ALL",
        "modules": "SELECT module, coalesce(version, '') AS version, count(*) AS runs, "
        f"sum((result IN {tuple(FAILED_RESULTS)})::INT) AS failed, count(duration_s) AS timed, "
        "sum(duration_s) AS sum_s, max(duration_s) AS max_s, max(lock_wait_s) AS max_lock_s "
        f"FROM modules WHERE {pick} GROUP BY ALL",
        "proxies": "SELECT proxy, count(*) AS runs, count(DISTINCT host) AS hosts, "
        "sum(used::INT) AS used, sum(failed::INT) AS failed "
        f"FROM proxies WHERE {pick} GROUP BY ALL",
        "proxy_causes": "SELECT proxy, cause_kind, count(*) AS runs FROM proxies "
        f"WHERE {pick} AND failed GROUP BY ALL",
    }
    try:
        return {name: con.sql(q).df() for name, q in sql.items()}
    except duckdb.Error as exc:
        raise GotraceError(f"{dataset}: cannot read the fleet dataset ({exc})") from exc
    finally:
        con.close()


def _mask(df: Any, query: Query) -> Any:
    """The runs the query keeps, as a boolean Series of ``df`` (pandas or dask). Built from
    vectorised operations only, so Dask workers need nothing of gotrace's."""
    import pandas as pd

    mask = None
    if query.since is not None:
        mask = (df["start"] >= pd.Timestamp(query.since)).fillna(False)
    for c in query.where:
        if c.label is not None:
            key = c.label
            col = df["labels"].map(
                lambda s, key=key: json.loads(s).get(key) if s else None,
                meta=("labels", "object"),
            )
        else:
            col = df[c.column]
        text = col.astype("string").str.lower()
        hit = text.isin(list(c.values)).fillna(False)
        m = (text.notnull() & ~hit) if c.negate else hit
        mask = m if mask is None else (mask & m)
    return mask


def dask_frames(dataset: str, query: Query, scheduler: str) -> dict[str, pd.DataFrame]:
    import dask
    import dask.dataframe as dd
    import pandas as pd

    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - the fleet extra brings it
        raise GotraceError(
            "--scheduler needs dask[distributed]: pip install 'gotrace[fleet]'"
        ) from exc

    day = query.since.strftime("%Y-%m-%d") if query.since is not None else None

    def read(table: str, columns: list[str]) -> Any:
        if not _has_files(dataset, table):
            frame = empty(table).to_pandas(types_mapper=pd.ArrowDtype)[columns]
            return dd.from_pandas(frame, npartitions=1)
        return dd.read_parquet(
            f"{dataset.rstrip('/')}/{table}",
            columns=columns,
            filters=[("date", ">=", day)] if day else None,
            dtype_backend="pyarrow",
        )

    label_cols = ["labels"] if any(c.label for c in query.where) else []
    run_cols = sorted(
        {"run_id", "host", "failed", "start", "cause_kind", "cause_object", "cause_detail"}
        | {c.column for c in query.where if c.label is None}
        | set(label_cols)
    )
    try:
        client = Client(scheduler, timeout=15, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise GotraceError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from exc
    try:
        runs = read("runs", run_cols)
        mask = _mask(runs, query)
        r = runs if mask is None else runs[mask]
        keep: list[str] | None = None
        if mask is not None:
            # the runs kept are few next to their rows elsewhere: filter those by id, no join
            (ids,) = dask.compute(r["run_id"], scheduler=client.get)
            keep = list(ids)

        def picked(table: str, columns: list[str]) -> Any:
            t = read(table, ["run_id", *columns])
            return t if keep is None else t[t["run_id"].isin(keep)]

        r = r.assign(
            failed_n=r["failed"].astype("int64"),
            cause_object=r["cause_object"].fillna(""),
            cause_detail=r["cause_detail"].fillna(""),
        )
        rc = r[r["cause_kind"].notnull()]
        ck = ["cause_kind", "cause_object"]
        totals = (
            r["run_id"].count(),
            r["host"].nunique(),
            r["failed_n"].sum(),
            r["start"].min(),
            r["start"].max(),
        )
        causes = (
            rc.groupby(ck).agg({"run_id": "count", "failed_n": "sum", "start": ["min", "max"]}),
            rc.groupby(ck)["host"].nunique(),
            rc.groupby([*ck, "cause_detail"])["run_id"].count(),
        )
        m = picked("modules", ["module", "version", "result", "duration_s", "lock_wait_s"])
        m = m.assign(
            version=m["version"].fillna(""),
            failed_n=m["result"].isin(list(FAILED_RESULTS)).fillna(False).astype("int64"),
        )
        mods = m.groupby(["module", "version"]).agg(
            {
                "run_id": "count",
                "failed_n": "sum",
                "duration_s": ["count", "sum", "max"],
                "lock_wait_s": "max",
            }
        )
        p = picked("proxies", ["host", "proxy", "used", "failed", "cause_kind"])
        p = p.assign(used_n=p["used"].astype("int64"), failed_n=p["failed"].astype("int64"))
        prox = (
            p.groupby("proxy").agg({"run_id": "count", "used_n": "sum", "failed_n": "sum"}),
            p.groupby("proxy")["host"].nunique(),
            p[p["failed"]].groupby(["proxy", "cause_kind"])["run_id"].count(),
        )
        (tot, cz, mo, px) = dask.compute(totals, causes, mods, prox, scheduler=client.get)
    finally:
        client.close()
    out: dict[str, pd.DataFrame] = {
        "totals": pd.DataFrame([dict(zip(FRAMES["totals"], tot, strict=True))]),
    }
    agg, hosts, details = cz
    agg.columns = ["runs", "failed", "first", "last"]
    out["causes"] = agg.join(hosts.rename("hosts")).reset_index()
    out["cause_details"] = details.rename("runs").reset_index()
    mo.columns = ["runs", "failed", "timed", "sum_s", "max_s", "max_lock_s"]
    out["modules"] = mo.reset_index()
    pagg, phosts, pcauses = px
    pagg.columns = ["runs", "used", "failed"]
    out["proxies"] = pagg.join(phosts.rename("hosts")).reset_index()
    out["proxy_causes"] = pcauses.rename("runs").reset_index()
    return out


# -- the report ------------------------------------------------------------------------------------
def _iso(v: Any) -> str | None:
    import pandas as pd

    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    t = pd.Timestamp(v)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return str(t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


def _int(v: Any) -> int:
    import pandas as pd

    return 0 if v is None or pd.isna(v) else int(v)


def _float(v: Any) -> float | None:
    import pandas as pd

    return None if v is None or pd.isna(v) else round(float(v), 6)


def _text(v: Any) -> str | None:
    import pandas as pd

    return None if v is None or pd.isna(v) or v == "" else str(v)


def _rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [dict(zip(df.columns, row, strict=True)) for row in df.itertuples(index=False)]


def build(
    frames: dict[str, pd.DataFrame], query: Query, *, dataset: str, engine: str
) -> dict[str, Any]:
    """The report from the engine's frames: sorted, rounded, JSON-ready."""
    tot = _rows(frames["totals"])[0] if len(frames["totals"]) else {}
    details: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for d in _rows(frames["cause_details"]):
        details.setdefault((d["cause_kind"], d["cause_object"]), []).append(
            {"object": _text(d["cause_detail"]), "runs": _int(d["runs"])}
        )
    causes: list[dict[str, Any]] = []
    for c in _rows(frames["causes"]):
        objs = sorted(
            details.get((c["cause_kind"], c["cause_object"]), []),
            key=lambda d: (-d["runs"], d["object"] or ""),
        )
        causes.append(
            {
                "kind": str(c["cause_kind"]),
                "object": _text(c["cause_object"]),
                "runs": _int(c["runs"]),
                "hosts": _int(c["hosts"]),
                "failed": _int(c["failed"]),
                "first_seen": _iso(c["first"]),
                "last_seen": _iso(c["last"]),
                "details": [d for d in objs if d["object"] is not None][: query.top],
            }
        )
    causes.sort(key=lambda c: (-c["runs"], -c["hosts"], c["kind"], c["object"] or ""))
    modules: list[dict[str, Any]] = []
    for m in _rows(frames["modules"]):
        timed = _int(m["timed"])
        modules.append(
            {
                "module": str(m["module"]),
                "version": _text(m["version"]),
                "runs": _int(m["runs"]),
                "failed": _int(m["failed"]),
                "mean_s": _float(float(m["sum_s"]) / timed) if timed else None,
                "max_s": _float(m["max_s"]) if timed else None,
                "total_s": _float(m["sum_s"]) if timed else None,
                "max_lock_wait_s": _float(m["max_lock_s"]),
            }
        )
    modules.sort(key=lambda m: (-(m["mean_s"] or 0.0), -m["runs"], m["module"], m["version"] or ""))
    pcauses: dict[str, dict[str, int]] = {}
    for pc in _rows(frames["proxy_causes"]):
        pcauses.setdefault(str(pc["proxy"]), {})[str(pc["cause_kind"])] = _int(pc["runs"])
    proxies: list[dict[str, Any]] = []
    for p in _rows(frames["proxies"]):
        runs, failed = _int(p["runs"]), _int(p["failed"])
        proxies.append(
            {
                "proxy": str(p["proxy"]),
                "runs": runs,
                "hosts": _int(p["hosts"]),
                "used": _int(p["used"]),
                "failed": failed,
                "failure_rate": _float(failed / runs) if runs else None,
                "causes": dict(sorted(pcauses.get(str(p["proxy"]), {}).items())),
            }
        )
    proxies.sort(key=lambda p: (-(p["failure_rate"] or 0.0), -p["failed"], -p["runs"], p["proxy"]))
    return {
        "dataset": dataset,
        "engine": engine,
        "query": query.text,
        "runs": _int(tot.get("runs")),
        "hosts": _int(tot.get("hosts")),
        "failed_runs": _int(tot.get("failed")),
        "first_seen": _iso(tot.get("first")),
        "last_seen": _iso(tot.get("last")),
        "causes": causes[: query.top],
        "slowest_modules": modules[: query.top],
        "proxies": proxies[: query.top],
    }


def fleet_report(
    dataset: str | Path, query: Query, *, scheduler: str | None = None
) -> dict[str, Any]:
    """The report over ``dataset`` on DuckDB, or on the Dask cluster at ``scheduler``."""
    from gotrace.fleet.collect import check_version

    path = str(dataset)
    if "://" not in path:
        check_version(Path(path))
    if scheduler:
        return build(dask_frames(path, query, scheduler), query, dataset=path, engine="dask")
    return build(duckdb_frames(path, query), query, dataset=path, engine="duckdb")


def comparable(report: dict[str, Any]) -> str:
    """The report as JSON without the fields that name the engine (for comparing engines)."""
    return json.dumps({k: v for k, v in report.items() if k != "engine"}, sort_keys=True)


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _when(iso: str | None) -> str:
    return iso[:16].replace("T", " ") if iso else "?"


_ENDPOINT = re.compile(r"^[\w.\-\[\]:]+:\d+$")


def render_text(report: dict[str, Any]) -> str:
    """The report for a terminal, e.g. ``proxy-stall at goproxy.corp:443: 37 runs on 12 hosts
    since 2026-11-24 08:10``."""
    out = []
    span = (
        f", {_when(report['first_seen'])} – {_when(report['last_seen'])} UTC"
        if report["first_seen"]
        else ""
    )
    out.append(
        f"{_n(report['runs'], 'run')} on {_n(report['hosts'], 'host')}, {report['failed_runs']} failed{span}"
    )
    out += ["", "causes (most runs first):"]
    if not report["causes"]:
        out.append("  none: no run had an error or warning")
    for c in report["causes"]:
        obj = c["object"]
        where = (f" at {obj}" if _ENDPOINT.match(obj) else f" on {obj}") if obj else ""
        out.append(
            f"  {c['kind']}{where}: {_n(c['runs'], 'run')} on {_n(c['hosts'], 'host')} "
            f"since {_when(c['first_seen'])} (last {_when(c['last_seen'])})"
        )
        for d in c["details"][:3]:
            out.append(f"      {d['object']}  ×{d['runs']}")
    out += ["", "slowest modules (mean time per run):"]
    if not report["slowest_modules"]:
        out.append("  none")
    for m in report["slowest_modules"]:
        name = f"{m['module']}@{m['version']}" if m["version"] else m["module"]
        mean = f"{m['mean_s']:.3f} s" if m["mean_s"] is not None else "?"
        most = f"{m['max_s']:.3f} s" if m["max_s"] is not None else "?"
        out.append(
            f"  {name}: mean {mean}, max {most}, {_n(m['runs'], 'run')}, {m['failed']} failed"
        )
    out += ["", "proxies (highest failure rate first):"]
    if not report["proxies"]:
        out.append("  none")
    for p in report["proxies"]:
        rate = f"{100 * p['failure_rate']:.0f}%" if p["failure_rate"] is not None else "?"
        kinds = ", ".join(f"{k} ×{n}" for k, n in p["causes"].items())
        out.append(
            f"  {p['proxy']}: failed {p['failed']} of {_n(p['runs'], 'run')} ({rate}) on "
            f"{_n(p['hosts'], 'host')}" + (f" — {kinds}" if kinds else "")
        )
    return "\n".join(out) + "\n"
