"""GA4 ``runReport`` rows → rows of ``raw.ga4_traffic_daily``.

GA4 sends every value as a string: the date as ``YYYYMMDD``, metrics as
decimal numbers. Values are passed on leniently: a number that parses keeps
its parsed type whatever it is (negative, NaN, infinite, absurd), a date
outside the requested range stays a date, and a value that does not parse is
passed on as GA4 sent it. The data-quality checks (``defs/quality/rules.py``,
the one place that says what valid means) then quarantine such rows.

What fails the extract with a ``ConnectorError`` naming the property is an
answer of the wrong shape: columns other than the ones asked for, or a row
with more or fewer values than there are columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from mbo_pipelines.connectors import ConnectorError
from mbo_pipelines.defs.ingest import lenient

DIMENSIONS = ("date", "sessionSourceMedium", "sessionCampaignName")
METRICS = ("sessions", "keyEvents", "totalRevenue")


def check_headers(property_id: str, dimension_headers: Sequence[str], metric_headers: Sequence[str]) -> None:
    """The response's columns must be the ones asked for, in order."""
    if tuple(dimension_headers) != DIMENSIONS or tuple(metric_headers) != METRICS:
        raise ConnectorError(f"GA4 property {property_id}: the report's columns {list(dimension_headers)} + "
                             f"{list(metric_headers)} are not the requested {list(DIMENSIONS)} + {list(METRICS)}")


def traffic_row(property_id: str, dimension_values: Sequence[str], metric_values: Sequence[str],
                currency_code: str, time_zone: str, start: date, end: date) -> dict[str, Any]:
    """One report row's values → a ``raw.ga4_traffic_daily`` row (``start``..``end``: the requested range,
    named when the row has the wrong shape; a date outside it is passed on for the quality checks)."""
    if len(dimension_values) != len(DIMENSIONS) or len(metric_values) != len(METRICS):
        raise ConnectorError(f"GA4 property {property_id}: a row of the report {start}..{end} has "
                             f"{len(dimension_values)} dimension and {len(metric_values)} metric values, not "
                             f"{len(DIMENSIONS)} and {len(METRICS)} ({list(dimension_values)}); nothing was loaded "
                             "(run again; if it persists, report it)")
    day_text, source_medium, campaign = dimension_values
    return {
        "date": lenient.day(day_text, "%Y%m%d"),
        "property_id": property_id,
        "session_source_medium": source_medium,
        "session_campaign_name": campaign,
        "currency_code": currency_code,
        "time_zone": time_zone,
        "sessions": lenient.count(metric_values[0]),
        "key_events": lenient.floating(metric_values[1]),
        # Refunds are subtracted from totalRevenue, so a day's total can be negative.
        "total_revenue": lenient.floating(metric_values[2]),
    }
