"""The fleet dataset's layout and column types: one place for both the writer and the readers.

A dataset is a directory of hive-partitioned Parquet tables::

    DATASET/runs/date=2026-11-29/part-<batch>-0.parquet
    DATASET/events/date=2026-11-29/host=ci-7/part-<batch>-0.parquet
    DATASET/{findings,connections,modules,proxies}/date=2026-11-29/part-<batch>-0.parquet

``date`` (the run's UTC start day) and, for events, ``host`` live only in the directory
names, as hive partitioning wants; every row carries ``schema_version`` and ``run_id``.
A collect writes one ``part-<batch>-N.parquet`` per partition and table, ``runs`` last:
a run is in the dataset once its ``runs`` row is.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

#: bump when a column changes meaning or type; readers refuse a dataset newer than this
SCHEMA_VERSION = 1

TABLES = ("runs", "events", "findings", "connections", "modules", "proxies")
#: hive partition keys per table (directory names, not columns in the files)
PARTITIONS: dict[str, tuple[str, ...]] = {t: ("date",) for t in TABLES}
PARTITIONS["events"] = ("date", "host")

_TS = pa.timestamp("us", tz="UTC")
_STR = pa.string()
_I64 = pa.int64()
_F64 = pa.float64()
_BOOL = pa.bool_()
_STRS = pa.list_(pa.string())
_I64S = pa.list_(pa.int64())

_COMMON = [("schema_version", pa.int32()), ("run_id", _STR)]

SCHEMAS: dict[str, pa.Schema] = {
    "runs": pa.schema(
        [
            *_COMMON,
            ("batch", _STR),
            ("host", _STR),
            ("labels", _STR),
            ("source", _STR),
            ("command", _STR),
            ("cwd", _STR),
            ("start", _TS),
            ("end", _TS),
            ("duration_s", _F64),
            ("exit_status", _I64),
            ("signal", _STR),
            ("timed_out", _BOOL),
            ("failed", _BOOL),
            ("backend", _STR),
            ("backend_version", _STR),
            ("go_version", _STR),
            ("verdict", _STR),
            ("cause_kind", _STR),
            ("cause_severity", _STR),
            ("cause_object", _STR),
            ("cause_detail", _STR),
            ("goproxy", _STR),
            ("gosumdb", _STR),
            ("goprivate", _STR),
            ("gonoproxy", _STR),
            ("gonosumdb", _STR),
            ("goflags", _STR),
            ("http_proxy", _STR),
            ("https_proxy", _STR),
            ("no_proxy", _STR),
            ("modules", _I64),
            ("modules_downloaded", _I64),
            ("modules_cached", _I64),
            ("modules_failed", _I64),
            ("events", _I64),
            ("syscalls", _I64),
            ("connections", _I64),
            ("findings", _I64),
            ("parse_errors", _I64),
            ("quiet_s", _F64),
        ]
    ),
    "findings": pa.schema(
        [
            *_COMMON,
            ("host", _STR),
            ("rank", _I64),
            ("kind", _STR),
            ("severity", _STR),
            ("summary", _STR),
            ("object", _STR),
            ("objects", _STRS),
            ("start_ts", _F64),
            ("end_ts", _F64),
            ("weight", _F64),
            ("pids", _I64S),
            ("evidence", _I64S),
            ("samples", _I64S),
            ("fix", _STR),
        ]
    ),
    "connections": pa.schema(
        [
            *_COMMON,
            ("host", _STR),
            ("conn", _I64),
            ("tgid", _I64),
            ("proto", _STR),
            ("local", _STR),
            ("remote", _STR),
            ("role", _STR),
            ("state", _STR),
            ("connect_result", _STR),
            ("error", _STR),
            ("open_ts", _F64),
            ("connect_ts", _F64),
            ("first_byte_ts", _F64),
            ("last_byte_ts", _F64),
            ("close_ts", _F64),
            ("waiting_since", _F64),
            ("bytes_sent", _I64),
            ("bytes_recv", _I64),
            ("requests", _STRS),
            ("statuses", _STRS),
            ("sni", _STR),
            ("dns", _STRS),
        ]
    ),
    "modules": pa.schema(
        [
            *_COMMON,
            ("host", _STR),
            ("module", _STR),
            ("version", _STR),
            ("source", _STR),
            ("result", _STR),
            ("error", _STR),
            ("start_ts", _F64),
            ("end_ts", _F64),
            ("duration_s", _F64),
            ("lock_wait_s", _F64),
            ("lock_in_flight", _BOOL),
            ("zip_bytes", _I64),
            ("extracted", _BOOL),
        ]
    ),
    "proxies": pa.schema(
        [
            *_COMMON,
            ("host", _STR),
            ("position", _I64),
            ("proxy", _STR),
            ("host_port", _STR),
            ("separator", _STR),
            ("used", _BOOL),
            ("connections", _I64),
            ("requests", _I64),
            ("failed", _BOOL),
            ("cause_kind", _STR),
        ]
    ),
}


def events_schema() -> pa.Schema:
    """The events table: gotrace's events columns (see the README) plus ``tgid`` and the
    resolved fd ``target``, after ``schema_version`` and ``run_id``."""
    import polars as pl

    from gotrace.model.events import EVENT_SCHEMA

    cols: dict[str, Any] = {**EVENT_SCHEMA, "target": pl.String(), "tgid": pl.Int64()}
    body = pl.DataFrame(schema=cols).to_arrow().schema
    return pa.schema([*_COMMON, *body])


def schema(table: str) -> pa.Schema:
    return events_schema() if table == "events" else SCHEMAS[table]


def empty(table: str) -> pa.Table:
    """An empty table with the columns readers see (partition keys included, as strings)."""
    s = schema(table)
    for key in PARTITIONS[table]:
        if key not in s.names:
            s = s.append(pa.field(key, _STR))
    return s.empty_table()
