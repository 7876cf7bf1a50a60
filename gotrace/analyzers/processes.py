"""Processes from the events: who is whose thread, child and argv, replayed from
clone/fork/execve and exits, and one row per process (thread group)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from gotrace.parsers.args import decode_string, split_args

_FORKS = ("clone", "clone3", "fork", "vfork")


@dataclass
class ThreadGroups:
    """Who is whose thread, child and argv, replayed from clone/fork/execve and exits."""

    tgid: dict[int, int] = field(default_factory=dict)
    parent: dict[int, int | None] = field(default_factory=dict)
    argv: dict[int, list[str]] = field(default_factory=dict)
    exit_status: dict[int, int] = field(default_factory=dict)
    killed: dict[int, str] = field(default_factory=dict)


def thread_groups(frame: pl.DataFrame) -> ThreadGroups:
    groups = ThreadGroups()
    if not frame.height:
        return groups
    rel = frame.filter(
        (pl.col("syscall").is_in([*_FORKS, "execve", "execveat"]) & (pl.col("kind") == "syscall"))
        | pl.col("kind").is_in(["exit", "kill", "exec"])
    ).select("kind", "pid", "syscall", "args", "retval", "signal", "status", "former_pid", "ts")
    tgid = groups.tgid
    for r in rel.iter_rows(named=True):
        pid = r["pid"]
        group = tgid.setdefault(pid, pid)
        if r["kind"] == "syscall" and r["syscall"] in _FORKS and (r["retval"] or 0) > 0:
            child = int(r["retval"])
            if "CLONE_THREAD" in (r["args"] or ""):
                tgid[child] = group
            else:
                tgid[child] = child
                groups.parent[child] = group
        elif r["kind"] == "syscall" and r["syscall"] in ("execve", "execveat") and r["retval"] == 0:
            groups.argv[group] = execve_argv(r["args"] or "", r["syscall"])
        elif r["kind"] == "exec" and r["former_pid"] is not None:
            tgid[int(r["former_pid"])] = group
        elif r["kind"] == "exit" and pid == group:
            groups.exit_status[group] = int(r["status"])
        elif r["kind"] == "kill" and pid == group:
            groups.killed[group] = r["signal"]
    # a null pid is a process the log never names: one group of its own (program output,
    # whose writer is unknown, is no process)
    for pid in frame.filter(pl.col("kind") != "output")["pid"].unique().to_list():
        tgid.setdefault(pid, pid)
    return groups


def process_table(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Thread groups from clone/fork/vfork/execve and exits, in order of appearance."""
    if not frame.height:
        return []
    groups = thread_groups(frame)
    tgid = groups.tgid
    mapping = pl.DataFrame(
        {"pid": list(tgid), "tgid": list(tgid.values())}, schema={"pid": pl.Int64, "tgid": pl.Int64}
    )
    stats = (
        frame.filter(pl.col("kind") != "output")
        .join(mapping, on="pid", how="left", nulls_equal=True)
        .group_by("tgid")
        .agg(
            start=pl.col("ts").min(),
            end=pl.max_horizontal(pl.col("ts").max(), pl.col("end_ts").max()),
            threads=pl.col("pid").n_unique(),
            syscalls=(pl.col("kind") == "syscall").sum(),
            first=pl.col("line").min(),
        )
        .sort("first")
    )
    rows = []
    for s in stats.iter_rows(named=True):
        g = s["tgid"]
        rows.append(
            {
                "pid": g,
                "parent": groups.parent.get(g),
                "argv": groups.argv.get(g),
                "start": s["start"],
                "end": s["end"],
                "exit_status": groups.exit_status.get(g),
                "signal": groups.killed.get(g),
                "threads": s["threads"],
                "syscalls": s["syscalls"],
            }
        )
    return rows


def execve_argv(args: str, syscall: str = "execve") -> list[str]:
    """``"/usr/bin/cat", ["cat", "/etc/hostname"], 0x55.. /* 39 vars */`` -> ["cat", "/etc/hostname"]."""
    parts = split_args(args)
    idx = 2 if syscall == "execveat" else 1
    if len(parts) <= idx:
        return []
    arr = parts[idx].strip()
    if not (arr.startswith("[") and arr.endswith("]")):
        return []
    out = []
    for item in split_args(arr[1:-1]):
        s = decode_string(item)
        out.append((s.text() + ("..." if s.truncated else "")) if s else item)
    return out
