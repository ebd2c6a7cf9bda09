"""Capture metadata as JSON values, for `capture info --json` and render reports.

Extras hold scalars, nested mappings of them (GDepth's GFocus fields, lens sources) and arrays
(an embedded original image). Mappings and sequences of JSON values are kept whole; arrays and
other objects are left out, since `capture info` reports an embedded image by a flag.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from dc2kit.capture.record import FocusFacts

OMIT = object()


def json_value(value: Any) -> Any:
    """`value` as JSON (numbers finite, tuples as lists), or OMIT when it has no JSON form."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        items = {str(key): json_value(item) for key, item in value.items()}
        return {key: item for key, item in items.items() if item is not OMIT}
    if isinstance(value, list | tuple):
        items = [json_value(item) for item in value]
        return [item for item in items if item is not OMIT]
    return OMIT


def json_extras(extras: Mapping[str, Any]) -> dict[str, Any]:
    """The extras that have a JSON form (all but arrays such as the embedded original)."""
    return json_value(extras)


def focus_json(facts: FocusFacts | None) -> dict[str, Any] | None:
    return None if facts is None else json_value(asdict(facts))
