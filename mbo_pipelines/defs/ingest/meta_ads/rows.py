"""Meta API answers → raw table rows: numbers parsed, values judged later by the quality checks; budgets in minor units.

The Insights API sends every number as a string; the Marketing API sends
budgets as strings of minor units (cents; whole units for the currencies
Meta gives no offset, ``currencies.ZERO_DECIMAL_CURRENCIES``).

Insights rows are lenient about values: a number that parses keeps its
parsed type whatever it is (negative, NaN, absurd), a day outside the
requested range stays a day, another currency stays that currency, a value
that does not parse is passed on as Meta sent it, and a missing field is
None. The data-quality checks (``defs/quality/rules.py``, the one place that
says what valid means) then quarantine such rows or hold their day back.
What the connector still refuses, with a ``ConnectorError`` naming the
account and the campaign, is an answer that cannot be trusted as a whole: a
row of another account, a row that is not one day (the API ignored
``time_increment=1``).

Campaign rows are also the push's read of the budgets running now, so they
stay strict about what the push relies on (campaign id, status, daily budget).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from mbo_pipelines.connectors import ConnectorError
from mbo_pipelines.defs.ingest import lenient
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


def _strict_number(account_id: str, where: str, field: str, raw: Any) -> Decimal:
    value = lenient.parsed(raw)
    if value is None or not value.is_finite() or value < 0:
        raise _fail(account_id, f"{where}: {field} is {raw!r}, not a finite non-negative number")
    return value


def _strict_count(account_id: str, where: str, field: str, raw: Any) -> int:
    value = _strict_number(account_id, where, field, raw)
    if value != value.to_integral_value():
        raise _fail(account_id, f"{where}: {field} is {raw!r}, not a whole number")
    return int(value)


def _strict_text(account_id: str, where: str, field: str, raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise _fail(account_id, f"{where}: {field} is missing or empty ({raw!r})")
    return raw


def _action_list(raw: Any) -> Any:
    """The API's list of ``{action_type, value, ...}`` as it came ([] when absent: Meta omits empty lists)."""
    if raw is None:
        return []
    return [dict(entry) if isinstance(entry, Mapping) else entry for entry in raw] if isinstance(raw, list) else raw


def insight_row(data: Mapping[str, Any], account: Mapping[str, str], start: date, end: date) -> dict[str, Any]:
    """One Insights row (level=campaign, time_increment=1) as a raw.meta_ads_campaign_daily row.

    ``start`` and ``end`` are the requested range: a row outside it passes (the quality checks quarantine it);
    a row spanning several days fails the account, as does a row of another account.
    """
    account_id = account["account_id"]
    campaign_id = data.get("campaign_id")
    where = f"campaign {campaign_id} on {data.get('date_start')}"
    row_account = str(data.get("account_id", account_id)).removeprefix("act_")
    if row_account != account_id:
        raise _fail(account_id, f"{where}: row belongs to account {row_account}")
    day, stop = lenient.day(data.get("date_start")), lenient.day(data.get("date_stop", data.get("date_start")))
    if isinstance(day, date) and isinstance(stop, date) and stop != day:
        raise _fail(account_id, f"{where}: row covers {day}..{stop}, not one day (asked for daily rows of "
                                f"{start}..{end})")
    return {
        "date_start": day,
        "account_id": account_id,
        "campaign_id": campaign_id,
        "campaign_name": data.get("campaign_name"),
        # Absent: the account's own currency (read with the account); present: as sent, even if it differs.
        "account_currency": data.get("account_currency") or account["currency"],
        "account_timezone_name": account["timezone_name"],
        "spend": lenient.number(data.get("spend")),
        "impressions": lenient.count(data.get("impressions")),
        "clicks": lenient.count(data.get("clicks")),
        "actions": _action_list(data.get("actions")),
        "action_values": _action_list(data.get("action_values")),
    }


def campaign_row(data: Mapping[str, Any], account: Mapping[str, str]) -> dict[str, Any]:
    """One campaign of ``/act_<id>/campaigns`` as a raw.meta_ads_campaigns row.

    ``daily_budget`` stays in Meta's minor units; None when the campaign has
    no daily budget of its own (absent or "0": the budgets are on the ad sets).
    The push reads budgets through this row, so an id, status or budget that
    cannot be trusted fails the account; the name is passed as sent.
    """
    account_id = account["account_id"]
    campaign_id = _strict_text(account_id, "a campaign", "id", data.get("id"))
    where = f"campaign {campaign_id}"
    raw_budget = data.get("daily_budget")
    budget = None if raw_budget in (None, "", "0", 0) else _strict_count(account_id, where, "daily_budget", raw_budget)
    return {
        "account_id": account_id,
        "campaign_id": campaign_id,
        "campaign_name": data.get("name"),
        "effective_status": _strict_text(account_id, where, "effective_status", data.get("effective_status")),
        "account_currency": account["currency"],
        "account_timezone_name": account["timezone_name"],
        "daily_budget": budget,
    }
