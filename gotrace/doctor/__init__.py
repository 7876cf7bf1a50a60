"""The capture side of ``gotrace doctor`` and ``gotrace cache``: it runs ``go env``, stats
directories, reads /proc/locks and /proc/self/mountinfo, and opens sockets. What the values
mean is decided by the pure functions of :mod:`gotrace.analyzers.goenv`.
"""

from gotrace.doctor.cachescan import CacheReport, FixAction, fix_cache, scan_cache
from gotrace.doctor.gather import gather

__all__ = ["CacheReport", "FixAction", "fix_cache", "gather", "scan_cache"]
