"""Sandbox connectors: the simulated market seen through each platform's own API vocabulary.

``SandboxMarket(url).connector("google_ads")`` answers the same calls a real
connector does (``mbo_pipelines.connectors.PlatformConnector``): Google Ads
rows carry micros, Meta budgets minor units, TikTok decimal amounts.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlparse

import numpy as np

from mbo_pipelines import warehouse
from mbo_pipelines.connectors import ConnectorError, WriteReceipt
from mbo_pipelines.sandbox import state
from mbo_pipelines.sandbox.market import (
    EPOCH,
    PLATFORMS,
    DailyOutcome,
    SandboxCampaign,
    simulate,
    synthetic_budget_schedule,
)

DEFAULT_SEED = 7
#: The Meta action type the sandbox reports conversions under (MBO_META_CONVERSION_ACTION's default).
META_SANDBOX_ACTION = "omni_purchase"


def _cents(value: float) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _google_daily(c: SandboxCampaign, day: date, m: dict[str, float]) -> dict[str, Any]:
    return {
        "segments_date": day, "customer_id": c.account_id, "campaign_id": c.campaign_id,
        "campaign_name": c.campaign_name, "customer_currency_code": c.currency,
        "customer_time_zone": c.timezone, "metrics_cost_micros": int(round(m["spend"] * 1_000_000)),
        "metrics_impressions": int(m["impressions"]), "metrics_clicks": int(m["clicks"]),
        "metrics_conversions": m["conversions"], "metrics_conversions_value": m["conversion_value"],
    }


def _meta_account(account_id: str) -> str:
    """The Insights and Marketing APIs report ``account_id`` without the ``act_`` prefix."""
    return account_id.removeprefix("act_")


def _meta_daily(c: SandboxCampaign, day: date, m: dict[str, float]) -> dict[str, Any]:
    return {
        "date_start": day, "account_id": _meta_account(c.account_id), "campaign_id": c.campaign_id,
        "campaign_name": c.campaign_name, "account_currency": c.currency,
        "account_timezone_name": c.timezone, "spend": _cents(m["spend"]),
        "impressions": int(m["impressions"]), "clicks": int(m["clicks"]),
        # Meta's actions lists hold strings; the sandbox reports the default conversion action.
        "actions": [{"action_type": META_SANDBOX_ACTION, "value": repr(m["conversions"])}],
        "action_values": [{"action_type": META_SANDBOX_ACTION, "value": repr(m["conversion_value"])}],
    }


def _tiktok_daily(c: SandboxCampaign, day: date, m: dict[str, float]) -> dict[str, Any]:
    return {
        "stat_time_day": day, "advertiser_id": c.account_id, "campaign_id": c.campaign_id,
        "campaign_name": c.campaign_name, "currency": c.currency, "timezone": c.timezone,
        "spend": _cents(m["spend"]), "impressions": int(m["impressions"]), "clicks": int(m["clicks"]),
        "conversion": m["conversions"], "total_purchase_value": m["conversion_value"],
    }


def _google_campaign(c: SandboxCampaign, status: str, budget: float) -> dict[str, Any]:
    return {
        "customer_id": c.account_id, "campaign_id": c.campaign_id, "campaign_name": c.campaign_name,
        "campaign_status": "ENABLED" if status == "active" else "PAUSED",
        "customer_currency_code": c.currency, "customer_time_zone": c.timezone,
        "campaign_budget_amount_micros": int(_cents(budget) * 1_000_000),
        # Every sandbox campaign has a budget of its own.
        "campaign_budget_id": f"9{c.campaign_id}", "campaign_budget_explicitly_shared": False,
        "campaign_budget_reference_count": 1,
    }


def _meta_campaign(c: SandboxCampaign, status: str, budget: float) -> dict[str, Any]:
    return {
        "account_id": _meta_account(c.account_id), "campaign_id": c.campaign_id, "campaign_name": c.campaign_name,
        "effective_status": "ACTIVE" if status == "active" else "PAUSED",
        "account_currency": c.currency, "account_timezone_name": c.timezone,
        "daily_budget": int(_cents(budget) * 100),
    }


def _tiktok_campaign(c: SandboxCampaign, status: str, budget: float) -> dict[str, Any]:
    return {
        "advertiser_id": c.account_id, "campaign_id": c.campaign_id, "campaign_name": c.campaign_name,
        "operation_status": "ENABLE" if status == "active" else "DISABLE",
        "currency": c.currency, "timezone": c.timezone, "budget_mode": "BUDGET_MODE_DAY",
        "budget": _cents(budget),
    }


_DAILY_ROW: dict[str, Callable[..., dict[str, Any]]] = {
    "google_ads": _google_daily, "meta_ads": _meta_daily, "tiktok_ads": _tiktok_daily,
}
_CAMPAIGN_ROW: dict[str, Callable[..., dict[str, Any]]] = {
    "google_ads": _google_campaign, "meta_ads": _meta_campaign, "tiktok_ads": _tiktok_campaign,
}


class SandboxMarket:
    """The simulated market, its state kept in PostgreSQL at ``database_url``.

    ``today`` fixes the market's clock (default: the current UTC date); days
    before it are complete and reportable, budget changes take effect on it.
    """

    def __init__(self, database_url: str, seed: int = DEFAULT_SEED, today: date | None = None):
        self.database_url = database_url
        self.seed = seed
        self._today = today

    @property
    def today(self) -> date:
        return self._today or datetime.now(timezone.utc).date()

    def connector(self, platform: str) -> SandboxConnector:
        """The connector for one of ``google_ads``, ``meta_ads``, ``tiktok_ads``."""
        if platform not in PLATFORMS:
            raise ValueError(f"the sandbox has no platform {platform!r}; choose one of {', '.join(PLATFORMS)}")
        return SandboxConnector(self, platform)

    def campaigns(self, platform: str | None = None) -> list[SandboxCampaign]:
        """The market's campaigns (created on first use), optionally of one platform."""
        with warehouse.connect(self.database_url) as conn:
            campaigns = state.ensure_state(conn, self.seed)
        return [c for c in campaigns if platform in (None, c.platform)]

    def daily_budgets(self, platform: str, end: date) -> dict[str, np.ndarray]:
        """Each campaign's daily budget from EPOCH to ``end`` (index 0 = EPOCH), changes applied."""
        with warehouse.connect(self.database_url) as conn:
            campaigns = [c for c in state.ensure_state(conn, self.seed) if c.platform == platform]
            changes = state.budget_changes(conn, self.seed, platform)
        budgets = {}
        for c in campaigns:
            schedule = synthetic_budget_schedule(c, self.seed, end)
            for effective, amount in changes.get((c.account_id, c.campaign_id), []):
                offset = (effective - EPOCH).days
                if offset < len(schedule):
                    schedule[max(offset, 0):] = amount
            budgets[c.campaign_id] = schedule
        return budgets

    def current_budgets(self, platform: str) -> dict[str, float]:
        """Each campaign's daily budget in force today, by campaign_id."""
        return {cid: float(b[-1]) for cid, b in self.daily_budgets(platform, self.today).items()}


class SandboxConnector:
    """One platform of the sandbox market, speaking that platform's raw vocabulary."""

    is_live = False

    def __init__(self, market: SandboxMarket, platform: str):
        self.market = market
        self.platform = platform
        #: The receipt of the last ``set_daily_budget`` (``mbo_pipelines.connectors``): a ``sandbox-<hex>`` id.
        self.last_write: WriteReceipt | None = None

    def simulated(self, start: date, end: date) -> list[tuple[SandboxCampaign, DailyOutcome]]:
        """Each active campaign's simulated outcome over the complete days in [start, end] (today and later
        are not complete): what this platform reports, and what the sandbox's GA4 property sees of it."""
        end = min(end, self.market.today - timedelta(days=1))
        if end < start or end < EPOCH:
            return []
        budgets = self.market.daily_budgets(self.platform, end)
        statuses = self._statuses()
        return [
            (c, simulate(c, self.market.seed, budgets[c.campaign_id], start, end))
            for c in self.market.campaigns(self.platform)
            if statuses.get((c.platform, c.account_id, c.campaign_id)) == "active"
        ]

    def fetch_campaign_daily(self, start: date, end: date) -> list[dict[str, Any]]:
        """Rows for every campaign and every complete day in [start, end] (today and later are not complete)."""
        rows = []
        for c, out in self.simulated(start, end):
            for i, day in enumerate(out.dates):
                metrics = {
                    "spend": float(out.spend[i]), "impressions": float(out.impressions[i]),
                    "clicks": float(out.clicks[i]), "conversions": float(out.conversions[i]),
                    "conversion_value": float(out.conversion_value[i]),
                }
                rows.append(_DAILY_ROW[self.platform](c, day, metrics))
        return rows

    def fetch_campaigns(self) -> list[dict[str, Any]]:
        """Every campaign's current name, status, currency and daily budget."""
        budgets = self.market.current_budgets(self.platform)
        statuses = self._statuses()
        return [
            _CAMPAIGN_ROW[self.platform](c, statuses[(c.platform, c.account_id, c.campaign_id)], budgets[c.campaign_id])
            for c in self.market.campaigns(self.platform)
        ]

    def set_daily_budget(self, account_id: str, campaign_id: str, amount: Decimal) -> None:
        """Set the budget from today on; rejects unknown campaigns and non-positive or non-finite amounts.

        Every call is one sandbox request: ``last_write`` names it and says what the sandbox answered.
        """
        request_id = f"sandbox-{uuid.uuid4().hex}"
        self.last_write = WriteReceipt(request_id, None)
        try:
            budget = self._set_budget(account_id, campaign_id, amount)
        except ConnectorError as exc:
            self.last_write = WriteReceipt(request_id, f"refused: {exc}")
            raise
        except Exception as exc:
            password = urlparse(self.market.database_url).password
            self.last_write = WriteReceipt.of(request_id, f"failed: {type(exc).__name__}: {exc}", (password,))
            raise
        self.last_write = WriteReceipt(request_id, f"set daily_budget={budget} from {self.market.today}")

    def _set_budget(self, account_id: str, campaign_id: str, amount: Decimal) -> Decimal:
        """Record the change; the budget as stored (whole cents)."""
        amount = Decimal(str(amount))
        if not amount.is_finite() or amount <= 0 or not math.isfinite(float(amount)):
            raise ConnectorError(f"{self.platform}: refusing daily budget {amount} for campaign {campaign_id}: must be a positive number")
        matches = [c for c in self.market.campaigns(self.platform)
                   if c.account_id == account_id and c.campaign_id == campaign_id]
        if not matches:
            raise ConnectorError(f"{self.platform}: no campaign {campaign_id} in account {account_id}")
        budget = _cents(float(amount))
        with warehouse.connect(self.market.database_url) as conn:
            state.record_budget_change(conn, self.market.seed, matches[0], budget, self.market.today)
        return budget

    def _statuses(self) -> dict[tuple[str, str, str], str]:
        with warehouse.connect(self.market.database_url) as conn:
            return state.campaign_statuses(conn, self.market.seed)
