"""Reading a platform's values leniently: parse what parses, pass the rest on as sent.

The connectors turn API answers into raw rows without judging the values:
a number that parses keeps its parsed type whatever it is (negative, NaN,
infinite, absurd), a value that does not parse is passed on as the platform
sent it, and the data-quality checks (``defs/quality/rules.py``, the one place
that says what valid means) quarantine such rows.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any


def parsed(value: Any) -> Decimal | None:
    """``value`` as a Decimal (NaN and infinities included), or None when it is not a number at all."""
    if value is None or isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        return None
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None


def number(value: Any) -> Any:
    """The parsed Decimal of ``value``; ``value`` itself when it does not parse (None stays None)."""
    result = parsed(value)
    return value if result is None else result


def count(value: Any) -> Any:
    """``value`` as an int when it is a whole number, else as ``number`` leaves it."""
    result = number(value)
    if isinstance(result, Decimal) and result.is_finite() and result == result.to_integral_value():
        return int(result)
    return result


def floating(value: Any) -> Any:
    """``value`` as a float (NaN and infinities included) when it parses, else as sent."""
    result = number(value)
    return float(result) if isinstance(result, Decimal) else result


def day(value: Any, *formats: str) -> Any:
    """``value`` as a date when it is a string in one of ``formats`` (default ISO ``YYYY-MM-DD``), else as sent."""
    if not isinstance(value, str):
        return value
    for form in formats or ("%Y-%m-%d",):
        try:
            return datetime.strptime(value.strip(), form).date()
        except ValueError:
            continue
    return value
