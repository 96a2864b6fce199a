"""Rows as Great Expectations sees them: one pandas frame per batch, values typed so every expectation can judge them.

A value that cannot be what its column declares becomes missing (NaN or
None) in the frame, so the "present" expectations name it; the row itself is
kept untouched for loading or quarantine. Counts stay whole ``int`` or become
``float`` (the "whole number" expectation catches those); a count column that is all
``int`` within ±2**53 becomes an int64 column, so GX judges it vectorized (and exactly:
any such int is a float too). Text has lone
surrogates replaced by U+FFFD, which the text expectation refuses (pandas
cannot even hash such strings). JSON lists become the smallest number in
them. Exact duplicate rows are taken out before validation: the first copy
is judged, the others are quarantined as duplicates.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd

from mbo_pipelines.defs.ingest import lenient
from mbo_pipelines.defs.quality.rules import TableRules

_SURROGATES = re.compile("[\ud800-\udfff]")
#: Ints up to this size are exact as floats too: GX may compare an int64 column with float bounds.
_EXACT_INT = 2**53
#: Marks a list column whose entries are not all {action_type, numeric values}.
MALFORMED = float("nan")


def number(value: Any) -> float | int | None:
    """``value`` as a number (int when whole and finite), or None when it is not one (bools are not numbers)."""
    if type(value) is int:  # the common cases first, without a round trip through Decimal
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    parsed = lenient.parsed(value)
    if parsed is None or parsed.is_nan():
        return None
    if parsed.is_infinite():
        return float(parsed)
    return int(parsed) if parsed == parsed.to_integral_value() else float(parsed)


def day_text(value: Any) -> str | None:
    """An ISO day for a date (or an ISO date string), else None."""
    if isinstance(value, datetime):
        return None
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            return None
    return None


def text(value: Any) -> str | None:
    """Text with lone surrogates (invalid UTF-8) replaced by U+FFFD; None stays None."""
    if value is None:
        return None
    if type(value) is str and value.isascii():  # no surrogate can hide in ASCII
        return value
    return _SURROGATES.sub("\ufffd", value if isinstance(value, str) else str(value))


def smallest_list_value(value: Any) -> float | None:
    """The smallest numeric value in a list of {action_type, value...} entries (0 for []), NaN when malformed."""
    if value is None:
        return None
    if not isinstance(value, list):
        return MALFORMED
    smallest = 0.0
    for entry in value:
        if not isinstance(entry, dict) or not isinstance(entry.get("action_type"), str) or len(entry) < 2:
            return MALFORMED
        for key, item in entry.items():
            if key == "action_type":
                continue
            parsed = number(item)
            if parsed is None:
                return MALFORMED
            smallest = min(smallest, float(parsed))
    return smallest


def row_frame(rules: TableRules, rows: Sequence[dict[str, Any]], indexes: Sequence[int]) -> pd.DataFrame:
    """The frame of ``rows[i] for i in indexes`` (index = position in ``rows``), typed per the table's columns."""
    counts, amounts = set(rules.count_columns), set(rules.amount_columns)
    texts, lists, stamps = set(rules.text_columns), set(rules.list_columns), set(rules.columns_of("timestamp"))
    date_column = rules.table.date_column
    day_texts = _Memo(day_text)
    data: dict[str, list] = {}
    for column in rules.table.column_names:
        values = [rows[i].get(column) for i in indexes]
        if column in counts:
            data[column] = [number(v) for v in values]
        elif column in amounts:
            data[column] = [None if (n := number(v)) is None else float(n) for v in values]
        elif column in texts:
            data[column] = [text(v) for v in values]
        elif column in lists:
            data[column] = [smallest_list_value(v) for v in values]
        elif column == date_column:
            data[column] = [day_texts(v) for v in values]
        elif column in stamps:
            data[column] = [v if isinstance(v, datetime) else None for v in values]
        else:
            data[column] = [v if isinstance(v, bool) else None for v in values]
    frame = pd.DataFrame(data, index=pd.Index(list(indexes)), dtype=object)
    for column in amounts | lists:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    for column in counts:
        if all(type(v) is int and -_EXACT_INT <= v <= _EXACT_INT for v in data[column]):
            frame[column] = frame[column].astype("int64")
    return frame


def duplicate_of(rules: TableRules, rows: Sequence[dict[str, Any]]) -> dict[int, int]:
    """Row position -> the earlier row it repeats exactly (every column equal), for every repeat."""
    columns, key = rules.table.column_names, rules.table.key
    # Exact repeats share their key: only rows whose key comes more than once are compared on every column.
    keys = [tuple(map(repr, map(row.get, key))) for row in rows]
    shared = {k for k, n in Counter(keys).items() if n > 1}
    first: dict[tuple, int] = {}
    repeats: dict[int, int] = {}
    for i, row in enumerate(rows):
        if keys[i] not in shared:
            continue
        signature = tuple(map(repr, map(row.get, columns)))
        if signature in first:
            repeats[i] = first[signature]
        else:
            first[signature] = i
    return repeats


def columns_seen(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Every column name any row carries, in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def row_days(rules: TableRules, rows: Sequence[dict[str, Any]], window_days: set[str]) -> list[date | None]:
    """``row_day`` of every row, each distinct date value read once."""
    if rules.table.date_column is None:
        return [None] * len(rows)
    column = rules.table.date_column
    day = _Memo(lambda value: date.fromisoformat(text) if (text := day_text(value)) in window_days else None)
    return [day(row.get(column)) for row in rows]


def row_day(rules: TableRules, row: dict[str, Any], window_days: set[str]) -> date | None:
    """The partition day a row belongs to: its date when that is a day inside the window, else None."""
    if rules.table.date_column is None:
        return None
    day = day_text(row.get(rules.table.date_column))
    return date.fromisoformat(day) if day in window_days else None


class _Memo:
    """``function`` of one argument, computed once per distinct value (and type: ``True`` is not ``1``);
    unhashable values are computed every time."""

    def __init__(self, function):
        self._function = function
        self._known: dict[tuple[type, Any], Any] = {}

    def __call__(self, value: Any) -> Any:
        try:
            return self._known[(type(value), value)]
        except KeyError:
            result = self._known[(type(value), value)] = self._function(value)
            return result
        except TypeError:
            return self._function(value)


def account_of(rules: TableRules, row: dict[str, Any]) -> str:
    """The account a row belongs to, as text (``platform/account`` for CSV imports)."""
    if len(rules.account_columns) == 1:
        return str(row.get(rules.account_columns[0]))
    return "/".join(str(row.get(c)) for c in rules.account_columns)
