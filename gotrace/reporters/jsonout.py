"""JSON rendering: one object, sorted keys, so the same input gives the same bytes."""

from __future__ import annotations

import json
import math
from typing import Any


def _clean(v: Any) -> Any:
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def render_json(obj: Any) -> str:
    return json.dumps(_clean(obj), sort_keys=True, indent=2, default=str) + "\n"
