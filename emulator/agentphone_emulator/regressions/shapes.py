"""The shape of a JSON answer, and the differences between two shapes.

Two services in the same state give different values (ids, times, names), so ``compare`` holds
them to the same *shape*: the same fields, spelt the same way, with the same JSON types. Rules:

- ``null`` matches any type: whether a nullable field is filled depends on the data (a call's
  ``endedAt``), not on the service;
- an empty array matches any array: its items' shape is unknown; the items of a non-empty one are
  merged (every field any item has) and compared;
- integers and fractions are both ``number`` (JSON does not tell them apart);
- an object whose keys are all data (ids, phone numbers, dates: ``{"agt_1a2b...": {...}}``) is a
  map: its values' merged shape is compared, not its keys;
- a field on one side only is ``missing`` (there, not here) or ``extra`` (here, not there); the
  same field spelt another way (``phoneNumber`` / ``phone_number``, any case) is one ``casing``
  difference instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# A shape: "null", "boolean", "number", "string", ("array", item | None), ("object", {key: shape}),
# ("map", value | None).
Shape = Any

_DATA_KEY = re.compile(r"^(\+?\d|[a-z]+_[0-9a-zA-Z]{6,}$|\d{4}-\d\d)")


@dataclass(frozen=True)
class Difference:
    path: str  # where in the answer: "data[].phoneNumber", "" for the answer itself
    kind: str  # type, missing, extra, casing
    there: str
    here: str


def _name(shape: Shape) -> str:
    return shape if isinstance(shape, str) else shape[0]


MAX_DEPTH = 32  # deeper than any AgentPhone answer; a hostile one stops here, not at Python's stack


def shape_of(value: Any, depth: int = 0) -> Shape:
    if depth > MAX_DEPTH:
        return "deep"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        item: Shape = None
        for element in value:
            item = merge(item, shape_of(element, depth + 1))
        return ("array", item)
    if isinstance(value, dict):
        if value and all(_DATA_KEY.match(str(key)) for key in value):
            merged: Shape = None
            for element in value.values():
                merged = merge(merged, shape_of(element, depth + 1))
            return ("map", merged)
        return ("object", {str(key): shape_of(element, depth + 1) for key, element in value.items()})
    return "string"


def merge(a: Shape, b: Shape) -> Shape:
    """One shape for two values found in the same place (the items of an array)."""
    if a is None or a == "null":
        return b if b is not None else a
    if b is None or b == "null":
        return a
    if _name(a) != _name(b):
        return a  # mixed types in one array: the first wins (reported if the other side differs)
    if _name(a) == "object":
        fields = dict(a[1])
        for key, value in b[1].items():
            fields[key] = merge(fields.get(key), value)
        return ("object", fields)
    if _name(a) in ("array", "map"):
        return (_name(a), merge(a[1], b[1]))
    return a


def _fold(key: str) -> str:
    return key.replace("_", "").replace("-", "").casefold()


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def differences(there: Shape, here: Shape, path: str = "") -> list[Difference]:
    """Every way ``here`` (the emulator's answer) is shaped unlike ``there`` (the other service's)."""
    if there is None or here is None or there == "null" or here == "null":
        return []
    if _name(there) != _name(here):
        return [Difference(path, "type", _name(there), _name(here))]
    kind = _name(there)
    if kind in ("array", "map"):
        return differences(there[1], here[1], path + ("[]" if kind == "array" else "{}"))
    if kind != "object":
        return []
    ours, theirs = here[1], there[1]
    found: list[Difference] = []
    extra = {_fold(key): key for key in ours if key not in theirs}
    for key, value in theirs.items():
        if key in ours:
            found += differences(value, ours[key], _join(path, key))
        elif _fold(key) in extra:
            spelt = extra.pop(_fold(key))
            found.append(Difference(_join(path, key), "casing", key, spelt))
            found += differences(value, ours[spelt], _join(path, key))
        else:
            found.append(Difference(_join(path, key), "missing", _name(value), "-"))
    found += [Difference(_join(path, key), "extra", "-", _name(ours[key])) for key in extra.values()]
    return found
