"""The value every analyzer works on: the trace plus what is derived once from it.

Built by :func:`build` from a capture (a :class:`gotrace.trace.Trace`, or anything with its
``frame``, ``meta`` and ``samples``): thread groups, each event's resolved fd
target, the module cache root, and what the log can and cannot tell (timestamps,
durations, fd annotations, buffer size). The analyzers read only this; they never import
the Trace type, which sits above them and calls them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

import polars as pl

from gotrace.analyzers.fdtable import resolve_targets
from gotrace.analyzers.processes import ThreadGroups, thread_groups


class Capture(Protocol):
    """What the analyzers read of a trace: its events, its metadata and the /proc samples
    taken beside it."""

    @property
    def frame(self) -> pl.DataFrame: ...

    @property
    def meta(self) -> dict[str, Any]: ...

    @property
    def samples(self) -> tuple[Any, ...]: ...


@dataclass(frozen=True)
class Context:
    trace: Capture
    #: the events, plus ``tgid`` (process) and ``target`` (resolved first-argument fd target)
    frame: pl.DataFrame
    groups: ThreadGroups
    gomodcache: str | None
    has_timestamps: bool
    has_durations: bool
    has_annotations: bool
    string_size: int | None
    fd_replayed: int = 0
    fd_disagree: int = 0
    #: /proc samples taken beside the trace (gotrace.model.samples.Sample values)
    samples: tuple[Any, ...] = ()

    @property
    def meta(self) -> dict[str, Any]:
        return self.trace.meta

    @property
    def clock(self) -> str | None:
        """``epoch``, ``time_of_day``, ``relative`` or ``None`` (no timestamps)."""
        value = self.meta.get("clock")
        return str(value) if value else None

    def limitations(self) -> list[str]:
        """What this log cannot show, in words for the report."""
        out = []
        if self.meta.get("format") == "samples":
            return [
                "captured with --backend sampler: no syscalls, only /proc samples of the "
                "process tree; what was blocked is seen, the calls before it are not"
            ]
        if not self.has_timestamps:
            out.append(
                "the log has no timestamps (-t/-tt/-ttt/-r): quiet periods cannot be measured"
            )
        if not self.has_durations:
            out.append(
                "the log has no -T durations: call times come from timestamps of split calls only"
            )
        if not self.has_annotations:
            out.append(
                "the log has no -y/-yy fd annotations: fd targets were rebuilt from open/socket/"
                "dup/close calls and are unknown for fds opened before the trace began"
            )
        if self.string_size is not None and self.string_size < 64:
            out.append(
                f"strings were cut at {self.string_size} bytes (-s): HTTP request and status "
                "lines may be incomplete; capture with -s 256"
            )
        if self.meta.get("format") == "dtruss":
            out.extend(self.meta.get("limitations") or [])
        return out


_TRUNC = re.compile(r'"\.\.\.')


def build(trace: Capture) -> Context:
    frame = trace.frame
    groups = thread_groups(frame)
    res = resolve_targets(frame)
    mapping = pl.DataFrame(
        {"pid": list(groups.tgid), "tgid": list(groups.tgid.values())},
        schema={"pid": pl.Int64, "tgid": pl.Int64},
    )
    enriched = (
        frame.with_columns(res.targets.alias("target"))
        .join(mapping, on="pid", how="left", maintain_order="left")
        .with_columns(tgid=pl.coalesce("tgid", "pid"))
    )
    sc = frame.filter(pl.col("kind") == "syscall")
    return Context(
        trace=trace,
        frame=enriched,
        groups=groups,
        gomodcache=_gomodcache(trace, frame),
        has_timestamps=frame["ts"].drop_nulls().len() > 0,
        # -T: a one-line call has a duration only when strace printed <secs>
        has_durations=bool(
            sc.filter(pl.col("duration").is_not_null() & pl.col("end_line").is_null()).height
        ),
        has_annotations=frame["fd_target"].drop_nulls().len() > 0
        or frame["ret_target"].drop_nulls().len() > 0,
        string_size=_string_size(trace, sc),
        fd_replayed=res.replayed,
        fd_disagree=res.disagree,
        samples=tuple(trace.samples),
    )


def _gomodcache(trace: Capture, frame: pl.DataFrame) -> str | None:
    """GOMODCACHE from meta.json (go env, then the environment), else from the paths seen."""
    go_env = trace.meta.get("go_env") or {}
    env = trace.meta.get("env") or {}
    for src in (go_env, env):
        if isinstance(src, dict) and src.get("GOMODCACHE"):
            return str(src["GOMODCACHE"])
    paths = frame.filter(pl.col("args").str.contains("/cache/download/", literal=True)).head(1)
    if paths.height:
        m = re.search(r'"([^"]*?)/cache/download/', paths["args"][0])
        if m:
            return m.group(1)
    return None


def _string_size(trace: Capture, sc: pl.DataFrame) -> int | None:
    """strace's -s: from meta when gotrace ran it, else the longest string cut with '...'."""
    backend = trace.meta.get("backend") or {}
    if isinstance(backend, dict) and backend.get("string_size"):
        return int(backend["string_size"])
    cut = sc.filter(
        pl.col("syscall").is_in(["write", "read"])
        & pl.col("args").str.contains('"...', literal=True)
    )
    if not cut.height:
        return None
    lengths = cut["args"].str.extract(r'"((?:[^"\\]|\\.)*)"\.\.\.', 1).str.len_chars().drop_nulls()
    return int(lengths.max()) if lengths.len() else None  # type: ignore[arg-type]
