"""The GAQL the connector sends and the raw rows it makes of the answers (``raw.google_ads_*`` columns).

Rows are protobuf ``GoogleAdsRow`` messages. Daily rows are lenient: a field
the query selected but the row lacks is None, a date that does not parse is
passed on as sent, a date outside the requested range stays a date, and every
metric keeps its value (negative, NaN, absurd); the data-quality checks
(``defs/quality/rules.py``) then quarantine such rows or hold their day back.
Campaign rows are also the push's read of the budgets running now, so a field
they lack is a ``MalformedRow``: the connector then loads nothing for that
customer rather than guess.
"""

from __future__ import annotations

from datetime import date
from typing import Any

DAILY_FIELDS = (
    "customer.currency_code", "customer.time_zone", "campaign.id", "campaign.name",
    "metrics.cost_micros", "metrics.impressions", "metrics.clicks", "metrics.conversions",
    "metrics.conversions_value", "segments.date",
)
CAMPAIGN_FIELDS = (
    "customer.currency_code", "customer.time_zone", "campaign.id", "campaign.name", "campaign.status",
    "campaign_budget.id", "campaign_budget.amount_micros", "campaign_budget.explicitly_shared",
    "campaign_budget.reference_count",
)


class MalformedRow(ValueError):
    """A row the query's answer should not contain."""


def daily_query(start: date, end: date) -> str:
    """Each campaign's metrics per day in [start, end] (the customer's time zone, as Google reports days)."""
    return (f"SELECT {', '.join(DAILY_FIELDS)} FROM campaign "
            f"WHERE segments.date BETWEEN '{start.isoformat()}' AND '{end.isoformat()}'")


def campaigns_query() -> str:
    """Every campaign with its budget (removed ones too: staging decides what to do with them)."""
    return f"SELECT {', '.join(CAMPAIGN_FIELDS)} FROM campaign"


def _need(message, name: str, gaql: str):
    if not message.HasField(name):
        raise MalformedRow(f"a row has no {gaql}")
    return getattr(message, name)


def _optional(message, name: str):
    """The field's value, or None when the row lacks it."""
    return getattr(message, name) if message.HasField(name) else None


def daily_row(customer_id: str, row, start: date, end: date) -> dict[str, Any]:
    """One ``raw.google_ads_campaign_daily`` row; metrics Google leaves out count as zero.

    ``start`` and ``end`` are the requested range: a row outside it is passed on for the quality checks.
    """
    raw_date = _optional(row.segments, "date")
    try:
        day = date.fromisoformat(raw_date) if raw_date is not None else None
    except ValueError:
        day = raw_date
    campaign_id = _optional(row.campaign, "id")
    metrics = row.metrics
    return {
        "segments_date": day,
        "customer_id": customer_id,
        "campaign_id": None if campaign_id is None else str(campaign_id),
        "campaign_name": _optional(row.campaign, "name"),
        "customer_currency_code": _optional(row.customer, "currency_code"),
        "customer_time_zone": _optional(row.customer, "time_zone"),
        "metrics_cost_micros": int(metrics.cost_micros),
        "metrics_impressions": int(metrics.impressions),
        "metrics_clicks": int(metrics.clicks),
        "metrics_conversions": float(metrics.conversions),
        "metrics_conversions_value": float(metrics.conversions_value),
    }


def campaign_row(customer_id: str, row) -> dict[str, Any] | None:
    """One ``raw.google_ads_campaigns`` row, or None for a campaign without a daily budget amount
    (e.g. a total budget over a custom period): MBO cannot set those."""
    campaign, budget = row.campaign, row.campaign_budget
    campaign_id = str(_need(campaign, "id", "campaign.id"))
    if not budget.HasField("amount_micros"):
        return None
    status_field = campaign.DESCRIPTOR.fields_by_name["status"]
    status = status_field.enum_type.values_by_number.get(campaign.status)
    if status is None or status.name == "UNSPECIFIED":
        raise MalformedRow(f"campaign {campaign_id} has no campaign.status")
    return {
        "customer_id": customer_id,
        "campaign_id": campaign_id,
        "campaign_name": _need(campaign, "name", "campaign.name"),
        "campaign_status": status.name,
        "customer_currency_code": _need(row.customer, "currency_code", "customer.currency_code"),
        "customer_time_zone": _need(row.customer, "time_zone", "customer.time_zone"),
        "campaign_budget_amount_micros": int(budget.amount_micros),
        "campaign_budget_id": str(_need(budget, "id", "campaign_budget.id")),
        "campaign_budget_explicitly_shared": bool(_need(budget, "explicitly_shared", "campaign_budget.explicitly_shared")),
        "campaign_budget_reference_count": int(_need(budget, "reference_count", "campaign_budget.reference_count")),
    }
