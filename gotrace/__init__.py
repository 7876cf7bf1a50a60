"""gotrace: explain why a go command went quiet.

>>> import gotrace
>>> t = gotrace.load("sample_traces/cold-ok/trace.strace")   # doctest: +SKIP
>>> t.events.head()                                           # doctest: +SKIP
"""

from __future__ import annotations

from gotrace.trace import Trace, load

__all__ = ["Trace", "load"]
__version__ = "0.1.0"
