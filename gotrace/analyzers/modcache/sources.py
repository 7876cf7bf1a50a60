"""Where each module@version's files came from: the proxy a GET for it was sent to (its
socket's remote end, or go -x's ``# get`` URL, or the absolute URL sent to an HTTP proxy), a
``file://`` GOPROXY read, or git (direct mode)."""

from __future__ import annotations

import re

import polars as pl

from gotrace.analyzers.context import Context
from gotrace.analyzers.modcache.events import OPENERS
from gotrace.analyzers.output import go_x
from gotrace.netaddr import url_origin
from gotrace.parsers.args import decode_string, parse_socket
from gotrace.protocols import (
    HTTP_STATUS_IN_ARGS,
    HTTP_STATUS_STRACE_HEAD,
    request_line,
    request_strace_head,
    split_proxy_url,
)

_SOURCE_RANK = {"zip": 0, "mod": 1, "info": 2}


def _status_rank(code: int | None) -> int:
    """200 first, then a request that got no answer (it stalled: still where go was going),
    then an error status (a 404 that go fell back from)."""
    if code is None:
        return 1
    return 0 if code == 200 else 2


def module_sources(
    ctx: Context, ev: pl.DataFrame, known: set[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """(module, version) -> where its files came from (``http://host:port[/prefix]``,
    ``file://DIR``, ``git``), for each of ``known``; ``ev`` are its cache events."""
    found: dict[tuple[str, str], tuple[tuple[int, int, int], str]] = {}

    def offer(hit: tuple[str, tuple[str, str], str], base: str, code: int | None, how: int) -> None:
        prefix, key, ext = hit
        rank = (_status_rank(code), _SOURCE_RANK[ext], how)
        if key not in found or rank < found[key][0]:
            found[key] = (rank, base + prefix)

    for base, target, code in _http_requests(ctx):
        hit = split_proxy_url(target, known)
        if hit:
            offer(hit, base, code, 0)
    x = go_x(ctx)
    codes = {
        r[0]: r[1]
        for r in x.filter(pl.col("kind") == "get-status").select("url", "status_code").iter_rows()
    }
    for (url,) in x.filter(pl.col("kind") == "get").select("url").iter_rows():
        origin = url_origin(url or "")
        hit = split_proxy_url(origin[1], known) if origin else None
        if hit and origin:
            offer(hit, origin[0], codes.get(url), 1)
    gmc = (ctx.gomodcache or "").rstrip("/")
    f = ctx.frame
    reads = f.filter(
        (pl.col("kind") == "syscall")
        & pl.col("syscall").is_in(OPENERS)
        & (pl.col("retval") >= 0)
        & pl.col("ret_target").str.contains("/@v/", literal=True)
    )
    for (path,) in reads.select("ret_target").iter_rows():
        if gmc and path.startswith(gmc + "/"):
            continue
        hit = split_proxy_url(path, known)
        if hit and hit[2] != "info":
            offer(hit, "file://", 200, 2)
    out = {k: v[1] for k, v in found.items()}
    if ev.height and ev.filter(pl.col("artifact").str.starts_with("vcs")).height:
        made = ev.filter((pl.col("op") == "rename") & (pl.col("artifact") == "tmp"))
        for key in made.select("module", "version").unique().iter_rows():
            out.setdefault((key[0], key[1]), "git")
    return out


_READ_CALLS = ("read", "readv", "recvfrom", "recvmsg")
_GET_HEAD = request_strace_head("GET")


def _http_requests(ctx: Context) -> list[tuple[str, str, int | None]]:
    """Plain-HTTP GETs written on a socket: (``http://host:port`` of its remote end, the
    request target, the status of the response read next on that connection or None)."""
    f = ctx.frame.filter(pl.col("kind") == "syscall")
    gets = f.filter(
        pl.col("syscall").is_in(["write", "writev", "sendto", "sendmsg", "send"])
        & pl.col("args").str.contains(_GET_HEAD, literal=True)
        & pl.col("target").is_not_null()
    ).select("line", "args", "target")
    if not gets.height:
        return []
    # The next response on the same connection; a read started before the request may
    # return it, so responses are placed where they returned (end_line).
    responses = (
        f.filter(
            pl.col("syscall").is_in(_READ_CALLS)
            & pl.col("args").str.contains(HTTP_STATUS_STRACE_HEAD, literal=True)
            & pl.col("target").is_not_null()
        )
        .select(
            pl.coalesce("end_line", "line").alias("line"),
            "target",
            pl.col("args").str.extract(HTTP_STATUS_IN_ARGS, 1).cast(pl.Int64).alias("code"),
        )
        .sort("line")
    )
    paired = gets.sort("line").join_asof(
        responses,
        on="line",
        by="target",
        strategy="forward",
        allow_exact_matches=False,
        check_sortedness=False,
    )
    out = []
    for args, target, code in paired.select("args", "target", "code").iter_rows():
        sock = parse_socket(target)
        data = _first_string(args)
        req = request_line(data) if data else None
        if req is None or req[0] != "GET" or sock is None or sock.remote is None:
            continue
        request = req[1]
        base = f"http://{sock.remote}"
        origin = url_origin(request)
        if origin:  # absolute form: sent to an HTTP proxy
            base, request = origin
        out.append((base, request, code))
    return out


def _first_string(args: str) -> bytes | None:
    m = re.search(r'"(?:[^"\\]|\\.)*"(?:\.\.\.)?', args)
    if m is None:
        return None
    s = decode_string(m.group(0))
    return s.value if s else None
