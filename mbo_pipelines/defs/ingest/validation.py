"""Checks that platform rows are fit to land in ``raw`` before anything is written.

A bad response fails the run with a message naming the platform, the row and
the field; the rows already in ``raw`` stay as they were.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal
from typing import Any

from mbo_pipelines.defs.ingest.raw_tables import RawTable

_NUMERIC_TYPES = ("bigint", "integer", "double precision", "numeric")


class RawDataError(ValueError):
    """Rows from a platform that must not be loaded."""


def validate_rows(
    platform: str, table: RawTable, rows: list[dict[str, Any]], window: tuple[date, date] | None = None
) -> None:
    """Raise RawDataError unless every row has every column, sane numbers, an in-window date and a unique key."""
    seen: dict[tuple, int] = {}
    problems: list[str] = []
    for i, row in enumerate(rows):
        where = f"{platform} row {i} (" + ", ".join(f"{k}={row.get(k)!r}" for k in table.key) + ")"
        missing = [name for name in table.required if row.get(name) is None]
        if missing:
            problems.append(f"{where}: missing {', '.join(missing)}")
            continue
        for name, sql_type in table.columns:
            value = row.get(name)
            if sql_type.startswith(_NUMERIC_TYPES) and value is not None:
                problems.extend(_check_number(where, name, value))
            elif sql_type.startswith("jsonb") and value is not None:
                problems.extend(_check_action_list(where, name, value))
        if table.date_column and window:
            day = row[table.date_column]
            if not isinstance(day, date) or not (window[0] <= day <= window[1]):
                problems.append(f"{where}: {table.date_column} {day!r} is outside the requested {window[0]}..{window[1]}")
        key = tuple(row[k] for k in table.key)
        if key in seen:
            problems.append(f"{where}: duplicate of row {seen[key]} for key {dict(zip(table.key, key))}")
        seen.setdefault(key, i)
        if len(problems) >= 20:
            break
    if problems:
        shown = "\n  ".join(problems[:20])
        raise RawDataError(
            f"{platform}: refusing to load {len(rows)} rows into {table.name}; nothing was written. "
            f"Problems:\n  {shown}"
        )


def _check_action_list(where: str, name: str, value: Any) -> list[str]:
    """Meta's ``actions`` lists: a list of {action_type, value} whose values are numbers (as strings)."""
    if not isinstance(value, list):
        return [f"{where}: {name} is not a list: {value!r}"[:300]]
    problems = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("action_type"), str) or "value" not in item:
            problems.append(f"{where}: {name} has an entry without action_type and value: {item!r}"[:300])
            continue
        try:
            number = Decimal(str(item["value"]))
        except ArithmeticError:
            problems.append(f"{where}: {name} {item['action_type']} is not a number: {item['value']!r}")
            continue
        problems.extend(_check_number(where, f"{name} {item['action_type']}", number))
    return problems


def _check_number(where: str, name: str, value: Any) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return [f"{where}: {name} is not a number: {value!r}"]
    if isinstance(value, Decimal) and not value.is_finite() or isinstance(value, float) and not math.isfinite(value):
        return [f"{where}: {name} is not finite: {value!r}"]
    if value < 0:
        return [f"{where}: {name} is negative: {value!r}"]
    return []
