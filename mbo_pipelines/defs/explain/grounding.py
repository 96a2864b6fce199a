"""Checking that a text quotes only numbers the plan's payload holds.

A quoted number is grounded when it equals, within the rounding it is written
with, the absolute value of some number in the payload (facts and derived
values alike, including digits inside names, ids and the solver message).
``2.41`` matches 2.4137, ``2,450`` matches 2449.6, ``2.5k`` matches 2,480;
``2,400`` does not match 2449.6. Signs are ignored: "a 30% cut" and "-30%"
quote the same fact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

_NUMBER = re.compile(
    r"(?<![\w.])"  # not the tail of a word or of another number
    r"(?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?P<suffix>[kKmM](?![a-zA-Z]))?"
)
_MULTIPLIER = {"k": 1e3, "m": 1e6}


def quoted_numbers(text: str) -> list[tuple[str, float, float]]:
    """Each number in ``text`` as (as written, absolute value, rounding tolerance)."""
    found = []
    for match in _NUMBER.finditer(text):
        digits = match["digits"].replace(",", "")
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        scale = _MULTIPLIER.get((match["suffix"] or "").lower(), 1.0)
        tolerance = 0.5 * 10.0 ** (-decimals) * scale
        found.append((match.group(0), float(digits) * scale, tolerance))
    return found


def payload_numbers(payload: object) -> Iterator[float]:
    """Every number in a JSON-like payload, as absolute values, including digits inside strings."""
    if isinstance(payload, bool) or payload is None:
        return
    if isinstance(payload, (int, float)):
        yield abs(float(payload))
    elif isinstance(payload, str):
        yield from (value for _, value, _ in quoted_numbers(payload))
    elif isinstance(payload, dict):
        for value in payload.values():
            yield from payload_numbers(value)
    elif isinstance(payload, (list, tuple)):
        for value in payload:
            yield from payload_numbers(value)


def ungrounded_numbers(text: str, allowed: Iterable[float]) -> list[str]:
    """The numbers ``text`` quotes that match no allowed value, as written."""
    allowed = sorted({abs(value) for value in allowed})
    missing = []
    for written, value, tolerance in quoted_numbers(text):
        slack = tolerance + 1e-9 * max(1.0, value)
        if not any(abs(value - fact) <= slack for fact in allowed):
            missing.append(written)
    return missing
