"""gotrace: explain why a go command went quiet.

>>> import gotrace
>>> t = gotrace.load("sample_traces/proxy-stall")     # doctest: +SKIP
>>> t.verdict                                          # doctest: +SKIP
'blocked 2.7 s in read on TCP 127.0.0.1:41603 after sending `GET /example.com/dep1/@v/v1.0.0.zip` — ...'
>>> t.events.head()                                    # doctest: +SKIP
"""

from __future__ import annotations

from gotrace.api import Trace, compare, load

__all__ = ["Trace", "compare", "load"]
__version__ = "0.1.0"
