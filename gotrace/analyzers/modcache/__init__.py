"""The module cache as the syscalls show it: which module@version each path under GOMODCACHE
belongs to, what go did with it (read it, downloaded it, waited for its lock, extracted it),
and what went wrong there.

What each path is comes from :mod:`gotrace.modcachelayout` (the layout of GOMODCACHE, shared
with the doctor's cache scan and the /proc samples). The parts, bottom up:

- :mod:`.events` -- every syscall on a cache path, classified (``cache_events``);
- :mod:`.sources` -- where each module's files came from (proxy, file://, git);
- :mod:`.table` -- one row per module@version (``modules``);
- :mod:`.checks` -- ``lock-wait``, ``cache-permission``, ``download-incomplete`` (``findings``);
- :mod:`.cachelog` -- the module cache log go does not write, rebuilt, and correlation
  with a log someone kept.

This package exports the names callers use.
"""

from __future__ import annotations

from gotrace.analyzers.modcache.cachelog import (
    CacheLogEntry,
    cache_log,
    correlate,
    parse_cache_log,
)
from gotrace.analyzers.modcache.checks import LOCK_FIX, LOCK_WAIT_MIN, findings
from gotrace.analyzers.modcache.events import cache_events, trace_end
from gotrace.analyzers.modcache.table import modules
from gotrace.modcachelayout import ARTIFACTS, CachePath, classify
from gotrace.protocols import split_proxy_url

__all__ = [
    "ARTIFACTS",
    "LOCK_FIX",
    "LOCK_WAIT_MIN",
    "CacheLogEntry",
    "CachePath",
    "cache_events",
    "cache_log",
    "classify",
    "correlate",
    "findings",
    "modules",
    "parse_cache_log",
    "split_proxy_url",
    "trace_end",
]
