"""TikTok API records → rows of ``raw.tiktok_ads_campaign_daily`` and ``raw.tiktok_ads_campaigns``.

The reporting API sends every metric as a string and the day as
``"YYYY-MM-DD 00:00:00"``; campaign budgets arrive as JSON numbers.

Report rows are lenient about values: a number that parses keeps its parsed
type whatever it is (negative, NaN, infinite, absurd), a day outside the
requested range stays a day, a value that does not parse is passed on as
TikTok sent it, and a missing field is None. The data-quality checks
(``defs/quality/rules.py``, the one place that says what valid means) then
quarantine such rows or hold their day back. A report item without its
``dimensions`` and ``metrics`` objects, or whose campaign id or day is itself
an object, is not a row at all: that fails the extract with a
``ConnectorError`` naming the advertiser.

Campaign rows are also the push's read of the budgets running now, so they
stay strict about what the push relies on: an id, status or budget mode that
is missing, or a budget that is not a finite, non-negative number, fails the
read with a ``ConnectorError`` naming the advertiser, campaign and field; the
name is passed on as sent.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from mbo_pipelines.connectors import ConnectorError
from mbo_pipelines.defs.ingest import lenient

#: The report's metrics, in the order requested (``campaign_name`` is an attribute TikTok serves as a metric).
REPORT_METRICS = ("campaign_name", "spend", "impressions", "clicks", "conversion", "total_purchase_value")
REPORT_DIMENSIONS = ("campaign_id", "stat_time_day")
#: Fields asked of ``campaign/get``.
CAMPAIGN_FIELDS = ("campaign_id", "campaign_name", "operation_status", "budget_mode", "budget")


class _Bad(ValueError):
    """A field that failed its check (the caller adds the advertiser and campaign)."""


def _text(record: dict[str, Any], field: str) -> str:
    value = record.get(field)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise _Bad(f"{field} {value!r} is not a non-empty string")
    return value


def _decimal(record: dict[str, Any], field: str) -> Decimal:
    value = record.get(field)
    number = lenient.parsed(value)
    if number is None or not number.is_finite() or number < 0:
        raise _Bad(f"{field} {value!r} is not a finite, non-negative number")
    return number


def _section(item: Any, name: str) -> dict[str, Any]:
    section = item.get(name) if isinstance(item, dict) else None
    if not isinstance(section, dict):
        raise _Bad(f"the report row has no {name!r} object")
    return section


def report_row(item: Any, advertiser_id: str, currency: str, timezone: str, start: date, end: date) -> dict[str, Any]:
    """One ``report/integrated/get`` list item → a ``raw.tiktok_ads_campaign_daily`` row.

    ``start`` and ``end`` are the requested range, for the error message: a day outside it is passed on (the
    quality checks quarantine the row), as is any value; only an item that is not a report row fails.
    """
    try:
        dims, metrics = _section(item, "dimensions"), _section(item, "metrics")
        for key in REPORT_DIMENSIONS:  # the row's identity: an object there is not a value, the row is garbled
            if isinstance(dims.get(key), (dict, list)):
                raise _Bad(f"dimension {key} is {dims[key]!r}")
    except _Bad as exc:
        raise ConnectorError(f"TikTok advertiser {advertiser_id}: report {start}..{end}: {exc}; nothing was loaded "
                             "(run again; if it persists, TikTok changed its answer: report it)") from None
    campaign = dims.get("campaign_id")
    return {
        "stat_time_day": lenient.day(dims.get("stat_time_day"), "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"),
        "advertiser_id": advertiser_id,
        "campaign_id": str(campaign) if isinstance(campaign, int) and not isinstance(campaign, bool) else campaign,
        "campaign_name": metrics.get("campaign_name"),
        "currency": currency,
        "timezone": timezone,
        "spend": lenient.number(metrics.get("spend")),
        "impressions": lenient.count(metrics.get("impressions")),
        "clicks": lenient.count(metrics.get("clicks")),
        "conversion": lenient.floating(metrics.get("conversion")),
        "total_purchase_value": lenient.floating(metrics.get("total_purchase_value")),
    }


def campaign_row(item: Any, advertiser_id: str, currency: str, timezone: str) -> dict[str, Any]:
    """One ``campaign/get`` list item → a ``raw.tiktok_ads_campaigns`` row (budget in currency units).

    The push reads budgets through this row: an id, status, budget mode or budget that cannot be trusted fails
    the read; the name is passed as sent."""
    campaign = "?"
    try:
        if not isinstance(item, dict):
            raise _Bad(f"the campaign record {item!r} is not an object")
        campaign = _text(item, "campaign_id")
        return {
            "advertiser_id": advertiser_id,
            "campaign_id": campaign,
            "campaign_name": item.get("campaign_name"),  # judged by the quality checks, like the report's
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
