"""JSON rendering: :func:`render_json` gives the report as one JSON-ready object (NaN and
infinities as null); :func:`dumps` writes any such object with sorted keys, so the same input
gives the same bytes."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gotrace.analyzers.report import Report


def _clean(v: Any) -> Any:
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def render_json(report: Report) -> dict[str, Any]:
    """The ``--json`` object of a report."""
    out = _clean(report.to_dict())
    assert isinstance(out, dict)
    return out


def dumps(obj: Any) -> str:
    """``obj`` as indented JSON with sorted keys and a final newline."""
    return json.dumps(_clean(obj), sort_keys=True, indent=2, default=str) + "\n"
