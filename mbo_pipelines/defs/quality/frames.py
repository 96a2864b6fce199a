"""Rows as Great Expectations sees them: one pandas frame per batch, values typed so every expectation can judge them.

A value that cannot be what its column declares becomes missing (NaN or
None) in the frame, so the "present" expectations name it; the row itself is
kept untouched for loading or quarantine. Counts stay whole ``int`` or become
``float`` (the "whole number" expectation catches those). Text has lone
surrogates replaced by U+FFFD, which the text expectation refuses (pandas
cannot even hash such strings). JSON lists become the smallest number in
them. Exact duplicate rows are taken out before validation: the first copy
is judged, the others are quarantined as duplicates.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd

from mbo_pipelines.defs.ingest import lenient
from mbo_pipelines.defs.quality.rules import TableRules

_SURROGATES = re.compile("[\ud800-\udfff]")
#: Marks a list column whose entries are not all {action_type, numeric values}.
MALFORMED = float("nan")


def number(value: Any) -> float | int | None:
    """``value`` as a number (int when whole and finite), or None when it is not one (bools are not numbers)."""
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
            data[column] = [day_text(v) for v in values]
        elif column in stamps:
            data[column] = [v if isinstance(v, datetime) else None for v in values]
        else:
            data[column] = [v if isinstance(v, bool) else None for v in values]
    frame = pd.DataFrame(data, index=pd.Index(list(indexes)), dtype=object)
    for column in amounts | lists:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return frame


def duplicate_of(rules: TableRules, rows: Sequence[dict[str, Any]]) -> dict[int, int]:
    """Row position -> the earlier row it repeats exactly (every column equal), for every repeat."""
    first: dict[tuple, int] = {}
    repeats: dict[int, int] = {}
    for i, row in enumerate(rows):
        signature = tuple(repr(row.get(c)) for c in rules.table.column_names)
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


def row_day(rules: TableRules, row: dict[str, Any], window_days: set[str]) -> date | None:
    """The partition day a row belongs to: its date when that is a day inside the window, else None."""
    if rules.table.date_column is None:
        return None
    day = day_text(row.get(rules.table.date_column))
    return date.fromisoformat(day) if day in window_days else None


def account_of(rules: TableRules, row: dict[str, Any]) -> str:
    """The account a row belongs to, as text (``platform/account`` for CSV imports)."""
    return "/".join(str(row.get(c)) for c in rules.account_columns)
