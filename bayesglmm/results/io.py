"""Writing fit records as JSON (shared by every fit type)."""

from __future__ import annotations

import json
import math


def _finite_or_null(value):
    """JSON has neither NaN nor infinities: NaN (a quantity not computed) becomes null, an
    infinity the string "inf" or "-inf" (a computed value, e.g. an interval reaching infinity),
    recursively, so the two stay distinguishable."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {key: _finite_or_null(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_null(item) for item in value]
    return value


def dump_json(record: dict, path=None, indent: int = 2) -> str:
    """The record as JSON text; also written to ``path`` when given. numpy scalars become floats,
    NaN (a quantity not available, e.g. sandwich SEs of a crossed fit) null, infinities "inf"/"-inf"."""
    record = json.loads(json.dumps(record, default=float))  # numpy scalars -> Python floats first
    text = json.dumps(_finite_or_null(record), indent=indent, allow_nan=False)
    if path is not None:
        with open(path, "w") as handle:
            handle.write(text + "\n")
    return text
