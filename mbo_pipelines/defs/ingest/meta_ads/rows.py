"""Meta API answers → raw table rows, checked: numbers numeric, finite, non-negative; dates in range; budgets in minor units.

The Insights API sends every number as a string; the Marketing API sends
budgets as strings of minor units (cents; whole units for the currencies
Meta gives no offset, ``currencies.ZERO_DECIMAL_CURRENCIES``). A value we cannot trust stops the
load with a ``ConnectorError`` naming the account, the campaign and the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from mbo_pipelines.connectors import ConnectorError
from mbo_pipelines.currencies import minor_units_per_unit

PLATFORM = "meta_ads"
INSIGHT_FIELDS = ("account_id", "account_currency", "campaign_id", "campaign_name", "date_start", "date_stop",
                  "spend", "impressions", "clicks", "actions", "action_values")
CAMPAIGN_FIELDS = ("id", "name", "effective_status", "daily_budget", "account_id")


def budget_offset(currency: str) -> int:
    """Minor units per currency unit in Meta's budgets: 1 for JPY, KRW and the like, else 100."""
    return minor_units_per_unit(currency)


def to_minor_units(amount: Decimal, currency: str) -> int:
    """``amount`` currency units as Meta's integer budget (rounded half up to the minor unit)."""
    return int((Decimal(amount) * budget_offset(currency)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _fail(account_id: str, what: str) -> ConnectorError:
    return ConnectorError(f"{PLATFORM} account act_{account_id}: {what}; nothing from this account was loaded. "
                          "Check the account in Ads Manager; if the API changed its answer, report it with this message.")


def _number(account_id: str, where: str, field: str, raw: Any) -> Decimal:
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise _fail(account_id, f"{where}: {field} is {raw!r}, not a number") from None
    if not value.is_finite() or value < 0:
        raise _fail(account_id, f"{where}: {field} is {raw!r}, not a finite non-negative number")
    return value


def _count(account_id: str, where: str, field: str, raw: Any) -> int:
    value = _number(account_id, where, field, raw)
    if value != value.to_integral_value():
        raise _fail(account_id, f"{where}: {field} is {raw!r}, not a whole number")
    return int(value)


def _action_list(account_id: str, where: str, field: str, raw: Any) -> list[dict[str, Any]]:
    """The API's list of ``{action_type, value, ...}`` as it came ([] when absent), every value checked."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _fail(account_id, f"{where}: {field} is {type(raw).__name__}, not a list")
    out = []
    for entry in raw:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("action_type"), str):
            raise _fail(account_id, f"{where}: {field} has an entry without an action_type: {entry!r}")
        for key, value in entry.items():
            if key != "action_type":
                _number(account_id, where, f"{field}[{entry['action_type']}].{key}", value)
        out.append(dict(entry))
    return out


def _text(account_id: str, where: str, field: str, raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise _fail(account_id, f"{where}: {field} is missing or empty ({raw!r})")
    return raw


def insight_row(data: Mapping[str, Any], account: Mapping[str, str], start: date, end: date) -> dict[str, Any]:
    """One Insights row (level=campaign, time_increment=1) as a raw.meta_ads_campaign_daily row."""
    account_id = account["account_id"]
    campaign_id = _text(account_id, "an insights row", "campaign_id", data.get("campaign_id"))
    where = f"campaign {campaign_id} on {data.get('date_start')}"
    try:
        day = date.fromisoformat(str(data.get("date_start")))
        stop = date.fromisoformat(str(data.get("date_stop", data.get("date_start"))))
    except ValueError:
        raise _fail(account_id, f"{where}: date_start/date_stop is not a date") from None
    if not start <= day <= end or stop != day:
        raise _fail(account_id, f"{where}: row covers {day}..{stop}, not one day inside {start}..{end}")
    row_account = str(data.get("account_id", account_id)).removeprefix("act_")
    if row_account != account_id:
        raise _fail(account_id, f"{where}: row belongs to account {row_account}")
    currency = data.get("account_currency") or account["currency"]
    if currency != account["currency"]:
        raise _fail(account_id, f"{where}: account_currency {currency} differs from the account's {account['currency']}")
    for field in ("spend", "impressions", "clicks"):
        if data.get(field) is None:
            raise _fail(account_id, f"{where}: {field} is missing")
    return {
        "date_start": day,
        "account_id": account_id,
        "campaign_id": campaign_id,
        "campaign_name": _text(account_id, where, "campaign_name", data.get("campaign_name")),
        "account_currency": currency,
        "account_timezone_name": account["timezone_name"],
        "spend": _number(account_id, where, "spend", data["spend"]),
        "impressions": _count(account_id, where, "impressions", data["impressions"]),
        "clicks": _count(account_id, where, "clicks", data["clicks"]),
        "actions": _action_list(account_id, where, "actions", data.get("actions")),
        "action_values": _action_list(account_id, where, "action_values", data.get("action_values")),
    }


def campaign_row(data: Mapping[str, Any], account: Mapping[str, str]) -> dict[str, Any]:
    """One campaign of ``/act_<id>/campaigns`` as a raw.meta_ads_campaigns row.

    ``daily_budget`` stays in Meta's minor units; None when the campaign has
    no daily budget of its own (absent or "0": the budgets are on the ad sets).
    """
    account_id = account["account_id"]
    campaign_id = _text(account_id, "a campaign", "id", data.get("id"))
    where = f"campaign {campaign_id}"
    raw_budget = data.get("daily_budget")
    budget = None if raw_budget in (None, "", "0", 0) else _count(account_id, where, "daily_budget", raw_budget)
    return {
        "account_id": account_id,
        "campaign_id": campaign_id,
        "campaign_name": _text(account_id, where, "name", data.get("name")),
        "effective_status": _text(account_id, where, "effective_status", data.get("effective_status")),
        "account_currency": account["currency"],
        "account_timezone_name": account["timezone_name"],
        "daily_budget": budget,
    }
