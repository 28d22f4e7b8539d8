"""Writing fit records as JSON (shared by every fit type)."""

from __future__ import annotations

import json


def dump_json(record: dict, path=None, indent: int = 2) -> str:
    """The record as JSON text; also written to ``path`` when given. numpy scalars become floats."""
    text = json.dumps(record, indent=indent, default=float)
    if path is not None:
        with open(path, "w") as handle:
            handle.write(text + "\n")
    return text
