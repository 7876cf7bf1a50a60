"""gotrace: explain why a go command went quiet.

>>> import gotrace
>>> t = gotrace.load("sample_traces/proxy-stall")     # doctest: +SKIP
>>> t.verdict                                          # doctest: +SKIP
'blocked 2.7 s in read on TCP 127.0.0.1:41603 after sending `GET /example.com/dep1/@v/v1.0.0.zip` — ...'
>>> t.events.head()                                    # doctest: +SKIP
>>> t.report.to_dict()["verdict"] == t.verdict          # doctest: +SKIP
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gotrace.trace import Trace, compare, load

__all__ = ["Trace", "compare", "load"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # The notebook API pulls in polars and pandas; the CLI (gotrace.cli, a subpackage) must
    # not pay for them before it has parsed its arguments, so they load on first use.
    if name in __all__:
        from gotrace import trace

        return getattr(trace, name)
    raise AttributeError(f"module 'gotrace' has no attribute {name!r}")
