"""Many captures, one dataset: ``gotrace fleet collect`` writes it, ``gotrace fleet report``
and :func:`open` read it (DuckDB in-process; dask.dataframe on a cluster).

>>> import gotrace.fleet
>>> fl = gotrace.fleet.open("fleet-ds")                          # doctest: +SKIP
>>> fl.runs.filter("failed").aggregate("cause_kind, count(*)")   # a DuckDB relation
>>> fl.df("modules")                                             # a pandas DataFrame
>>> fl.sql("SELECT host, count(*) FROM runs GROUP BY host")
>>> fl.report(since="7d")                                        # the report, as a dict
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gotrace.fleet.schema import SCHEMA_VERSION, TABLES

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

__all__ = ["SCHEMA_VERSION", "TABLES", "Fleet", "open"]


@dataclass
class Fleet:
    """A fleet dataset opened on an in-process DuckDB connection, one view per table."""

    path: str
    con: duckdb.DuckDBPyConnection

    def table(self, name: str) -> duckdb.DuckDBPyRelation:
        if name not in TABLES:
            raise KeyError(f"{name!r}: not a fleet table (one of {', '.join(TABLES)})")
        return self.con.table(name)

    @property
    def runs(self) -> duckdb.DuckDBPyRelation:
        return self.table("runs")

    @property
    def events(self) -> duckdb.DuckDBPyRelation:
        return self.table("events")

    @property
    def findings(self) -> duckdb.DuckDBPyRelation:
        return self.table("findings")

    @property
    def connections(self) -> duckdb.DuckDBPyRelation:
        return self.table("connections")

    @property
    def modules(self) -> duckdb.DuckDBPyRelation:
        return self.table("modules")

    @property
    def proxies(self) -> duckdb.DuckDBPyRelation:
        return self.table("proxies")

    def sql(self, query: str) -> duckdb.DuckDBPyRelation:
        """Any SQL over the tables (``runs``, ``events``, ``findings``, ...)."""
        return self.con.sql(query)

    def df(self, name: str) -> pd.DataFrame:
        """A whole table as a pandas DataFrame."""
        frame: pd.DataFrame = self.table(name).df()
        return frame

    def report(
        self,
        *,
        since: str | None = None,
        where: list[str] | None = None,
        top: int = 10,
        scheduler: str | None = None,
    ) -> dict[str, Any]:
        """What ``gotrace fleet report --json`` prints."""
        from gotrace.fleet.report import fleet_report, make_query

        return fleet_report(self.path, make_query(since, where, top), scheduler=scheduler)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        rows = self.sql("SELECT count(*), count(DISTINCT host) FROM runs").fetchall()
        n = rows[0] if rows else (0, 0)
        text = f"Fleet({self.path}: {n[0]} runs on {n[1]} hosts)"
        return {"text/plain": text}


def open(path: str | Path) -> Fleet:
    """Open a dataset written by ``gotrace fleet collect`` (its schema version is checked)."""
    import duckdb

    from gotrace.fleet.collect import check_version
    from gotrace.fleet.report import duckdb_views

    p = str(path)
    if "://" not in p:
        check_version(Path(p))
    con = duckdb.connect()
    con.sql("SET TimeZone = 'UTC'")
    duckdb_views(con, p)
    return Fleet(p, con)
