"""GA4 ``runReport`` rows → rows of ``raw.ga4_traffic_daily``, checked.

GA4 sends every value as a string: the date as ``YYYYMMDD``, metrics as
decimal numbers. A row of the wrong shape, a date outside the requested range,
a negative or non-finite count fails the extract with a ``ConnectorError``
naming the property: nothing half-checked is loaded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from mbo_pipelines.connectors import ConnectorError

DIMENSIONS = ("date", "sessionSourceMedium", "sessionCampaignName")
METRICS = ("sessions", "keyEvents", "totalRevenue")


class _Bad(ValueError):
    """A value that failed its check (the caller names the property)."""


def _number(name: str, value: str, *, negative_ok: bool = False) -> Decimal:
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise _Bad(f"{name} {value!r} is not a number") from None
    if not number.is_finite() or (number < 0 and not negative_ok) or not math.isfinite(float(number)):
        raise _Bad(f"{name} {value!r} is not a finite{'' if negative_ok else ', non-negative'} number")
    return number


def _day(value: str, start: date, end: date) -> date:
    try:
        day = datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        raise _Bad(f"date {value!r} is not a YYYYMMDD date") from None
    if not start <= day <= end:
        raise _Bad(f"date {day} is outside the requested range {start}..{end}")
    return day


def check_headers(property_id: str, dimension_headers: Sequence[str], metric_headers: Sequence[str]) -> None:
    """The response's columns must be the ones asked for, in order."""
    if tuple(dimension_headers) != DIMENSIONS or tuple(metric_headers) != METRICS:
        raise ConnectorError(f"GA4 property {property_id}: the report's columns {list(dimension_headers)} + "
                             f"{list(metric_headers)} are not the requested {list(DIMENSIONS)} + {list(METRICS)}")


def traffic_row(property_id: str, dimension_values: Sequence[str], metric_values: Sequence[str],
                currency_code: str, time_zone: str, start: date, end: date) -> dict[str, Any]:
    """One report row's values → a ``raw.ga4_traffic_daily`` row."""
    try:
        if len(dimension_values) != len(DIMENSIONS) or len(metric_values) != len(METRICS):
            raise _Bad(f"a row has {len(dimension_values)} dimension and {len(metric_values)} metric values, "
                       f"not {len(DIMENSIONS)} and {len(METRICS)}")
        day_text, source_medium, campaign = dimension_values
        sessions = _number("sessions", metric_values[0])
        if sessions != sessions.to_integral_value():
            raise _Bad(f"sessions {metric_values[0]!r} is not a whole number")
        return {
            "date": _day(day_text, start, end),
            "property_id": property_id,
            "session_source_medium": source_medium,
            "session_campaign_name": campaign,
            "currency_code": currency_code,
            "time_zone": time_zone,
            "sessions": int(sessions),
            "key_events": float(_number("keyEvents", metric_values[1])),
            # Refunds are subtracted from totalRevenue, so a day's total can be negative.
            "total_revenue": float(_number("totalRevenue", metric_values[2], negative_ok=True)),
        }
    except _Bad as exc:
        raise ConnectorError(f"GA4 property {property_id}: {exc}; nothing was loaded (run again; if it persists, "
                             "check the property's data in GA4)") from None
