"""The capture side of ``gotrace doctor`` and ``gotrace cache``: it runs ``go env``, stats
directories, reads /proc/locks and /proc/self/mountinfo, and opens sockets. What the values
mean is decided by :mod:`gotrace.doctor.checks` on the values of :mod:`gotrace.doctor.model`,
reading go's settings with the rules of :mod:`gotrace.goconfig`.
"""

from gotrace.doctor.cachefix import FixAction, fix_cache
from gotrace.doctor.cachescan import CacheReport, scan_cache
from gotrace.doctor.gather import gather

__all__ = ["CacheReport", "FixAction", "fix_cache", "gather", "scan_cache"]
