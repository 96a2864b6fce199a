"""TikTok API records → rows of ``raw.tiktok_ads_campaign_daily`` and ``raw.tiktok_ads_campaigns``, checked.

The reporting API sends every metric as a string and the day as
``"YYYY-MM-DD 00:00:00"``; campaign budgets arrive as JSON numbers. A value
that is not a finite, non-negative number, or a day outside the requested
range, fails the extract with a ``ConnectorError`` naming the advertiser,
campaign and field: nothing half-checked is loaded.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from mbo_pipelines.connectors import ConnectorError

#: The report's metrics, in the order requested (``campaign_name`` is an attribute TikTok serves as a metric).
REPORT_METRICS = ("campaign_name", "spend", "impressions", "clicks", "conversion", "total_purchase_value")
REPORT_DIMENSIONS = ("campaign_id", "stat_time_day")
#: Fields asked of ``campaign/get``.
CAMPAIGN_FIELDS = ("campaign_id", "campaign_name", "operation_status", "budget_mode", "budget")


class _Bad(ValueError):
    """A field that failed its check (the caller adds the advertiser and campaign)."""


def _text(record: dict[str, Any], field: str, *, allow_empty: bool = False) -> str:
    value = record.get(field)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise _Bad(f"{field} {value!r} is not a non-empty string")
    return value


def _decimal(record: dict[str, Any], field: str) -> Decimal:
    value = record.get(field)
    try:
        number = Decimal(str(value).strip()) if isinstance(value, (str, int, float)) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or number < 0:
        raise _Bad(f"{field} {value!r} is not a finite, non-negative number")
    return number


def _count(record: dict[str, Any], field: str) -> int:
    number = _decimal(record, field)
    if number != number.to_integral_value():
        raise _Bad(f"{field} {record.get(field)!r} is not a whole number")
    return int(number)


def _float(record: dict[str, Any], field: str) -> float:
    number = float(_decimal(record, field))
    if not math.isfinite(number):  # a Decimal beyond float's range
        raise _Bad(f"{field} {record.get(field)!r} is out of range")
    return number


def _day(record: dict[str, Any], field: str, start: date, end: date) -> date:
    value = record.get(field)
    try:
        day = datetime.strptime(str(value).strip(), "%Y-%m-%d %H:%M:%S").date()
    except ValueError:
        try:
            day = date.fromisoformat(str(value).strip())
        except ValueError:
            raise _Bad(f"{field} {value!r} is not a date") from None
    if not start <= day <= end:
        raise _Bad(f"{field} {day} is outside the requested range {start}..{end}")
    return day


def _section(item: Any, name: str) -> dict[str, Any]:
    section = item.get(name) if isinstance(item, dict) else None
    if not isinstance(section, dict):
        raise _Bad(f"the report row has no {name!r} object")
    return section


def report_row(item: Any, advertiser_id: str, currency: str, timezone: str, start: date, end: date) -> dict[str, Any]:
    """One ``report/integrated/get`` list item → a ``raw.tiktok_ads_campaign_daily`` row."""
    campaign = "?"
    try:
        dims, metrics = _section(item, "dimensions"), _section(item, "metrics")
        campaign = _text(dims, "campaign_id")
        return {
            "stat_time_day": _day(dims, "stat_time_day", start, end),
            "advertiser_id": advertiser_id,
            "campaign_id": campaign,
            "campaign_name": _text(metrics, "campaign_name", allow_empty=True),
            "currency": currency,
            "timezone": timezone,
            "spend": _decimal(metrics, "spend"),
            "impressions": _count(metrics, "impressions"),
            "clicks": _count(metrics, "clicks"),
            "conversion": _float(metrics, "conversion"),
            "total_purchase_value": _float(metrics, "total_purchase_value"),
        }
    except _Bad as exc:
        raise ConnectorError(f"TikTok advertiser {advertiser_id}, campaign {campaign}: report field {exc}; "
                             "nothing was loaded (run again; if it persists, check the campaign in TikTok Ads Manager)"
                             ) from None


def campaign_row(item: Any, advertiser_id: str, currency: str, timezone: str) -> dict[str, Any]:
    """One ``campaign/get`` list item → a ``raw.tiktok_ads_campaigns`` row (budget in currency units)."""
    campaign = "?"
    try:
        if not isinstance(item, dict):
            raise _Bad(f"the campaign record {item!r} is not an object")
        campaign = _text(item, "campaign_id")
        return {
            "advertiser_id": advertiser_id,
            "campaign_id": campaign,
            "campaign_name": _text(item, "campaign_name", allow_empty=True),
            "operation_status": _text(item, "operation_status"),
            "currency": currency,
            "timezone": timezone,
            "budget_mode": _text(item, "budget_mode"),
            # Decimal(str(...)): the JSON float 123.45 must not become 123.4500000000000028...
            "budget": _decimal(item, "budget"),
        }
    except _Bad as exc:
        raise ConnectorError(f"TikTok advertiser {advertiser_id}, campaign {campaign}: campaign field {exc}; "
                             "nothing was loaded") from None


def advertiser_settings(data: dict[str, Any], advertiser_id: str) -> tuple[str, str]:
    """``advertiser/info`` data → (currency, IANA time zone) of ``advertiser_id``."""
    records = [r for r in data.get("list") or [] if isinstance(r, dict) and str(r.get("advertiser_id")) == advertiser_id]
    if not records:
        raise ConnectorError(f"TikTok advertiser {advertiser_id}: advertiser/info did not return it; check the id in "
                             "MBO_TIKTOK_ADVERTISER_IDS and that the token's app is authorised on it")
    record = records[0]
    currency = record.get("currency")
    # display_timezone is the IANA name (e.g. "Asia/Tokyo"); timezone may be an offset name like "Etc/GMT-9".
    zone = record.get("display_timezone") or record.get("timezone")
    if not isinstance(currency, str) or not currency.strip() or not isinstance(zone, str) or not zone.strip():
        raise ConnectorError(f"TikTok advertiser {advertiser_id}: advertiser/info has no currency or time zone "
                             f"(currency {currency!r}, timezone {zone!r})")
    return currency.strip().upper(), zone.strip()
