"""Sandbox connectors: the simulated market seen through each platform's own API vocabulary.

``SandboxMarket(url).connector("google_ads")`` answers the same calls a real
connector does (``mbo_pipelines.connectors.PlatformConnector``): Google Ads
rows carry micros, Meta budgets minor units, TikTok decimal amounts.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Collection, Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlparse

import numpy as np

from mbo_pipelines import warehouse
from mbo_pipelines.connectors import BudgetChange, ConnectorError, WriteReceipt
from mbo_pipelines.sandbox import state
from mbo_pipelines.sandbox.faults import Fault, apply_faults, parse_spec, resolve_faults
from mbo_pipelines.sandbox.market import (
    EPOCH,
    PLATFORMS,
    WARMUP_DAYS,
    DailyOutcome,
    SandboxCampaign,
    simulate_many,
    sized_budget_schedules,
    synthetic_budget_schedule,
    window_offsets,
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
    ``campaigns`` (``MBO_SANDBOX_CAMPAIGNS``) sizes the market: that many
    campaigns drawn from the default market's distributions; None is the
    default market of 51 campaigns. ``faults`` (``MBO_SANDBOX_FAULTS``): a
    spec string or a list of ``Fault`` (``sandbox.faults``) that change what
    the platforms and GA4 report; ``faults`` on the instance is the resolved list.

    An instance reads its campaigns from the database once and keeps them,
    with each campaign's synthetic budget schedule; statuses and budget
    changes are read on every call (others change them).
    """

    def __init__(self, database_url: str, seed: int = DEFAULT_SEED, today: date | None = None,
                 campaigns: int | None = None, faults: str | Sequence[Fault] | None = None):
        if campaigns is not None and (isinstance(campaigns, bool) or not isinstance(campaigns, int) or campaigns < 1):
            raise ValueError(f"the sandbox needs a whole number of campaigns >= 1 (or None), got {campaigns!r}")
        self.database_url = database_url
        self.seed = seed
        self.size = campaigns
        self._today = today
        self._ensured = False
        self._campaigns: list[SandboxCampaign] | None = None
        self._schedules: dict[int, np.ndarray] = {}
        self._fault_spec = faults
        self._faults: list[Fault] | None = None
        if faults is None or isinstance(faults, str):
            # A bad spec fails here, before any database work; targets are resolved on first use.
            self._faults = None if parse_spec(faults) else []
        else:
            self._faults = resolve_faults(faults, (), seed, EPOCH)

    @property
    def today(self) -> date:
        return self._today or datetime.now(timezone.utc).date()

    @property
    def faults(self) -> list[Fault]:
        """The faults in this market, resolved once (targets by the seed, relative days from ``today``)."""
        if self._faults is None:
            self._faults = resolve_faults(self._fault_spec, self.campaigns(), self.seed, self.today)
        return list(self._faults)

    def connector(self, platform: str) -> SandboxConnector:
        """The connector for one of ``google_ads``, ``meta_ads``, ``tiktok_ads``."""
        if platform not in PLATFORMS:
            raise ValueError(f"the sandbox has no platform {platform!r}; choose one of {', '.join(PLATFORMS)}")
        return SandboxConnector(self, platform)

    def ensure(self, conn) -> None:
        """Create the sandbox tables and this market's campaigns if missing (once per instance)."""
        if not self._ensured:
            state.ensure_market(conn, self.seed, self.size)
            self._ensured = True

    def campaigns(self, platform: str | None = None) -> list[SandboxCampaign]:
        """The market's campaigns (created on first use), optionally of one platform."""
        if self._campaigns is None:
            with warehouse.connect(self.database_url) as conn:
                self.ensure(conn)
                self._campaigns = state.load_campaigns(conn, self.seed, self.size)
        return [c for c in self._campaigns if platform in (None, c.platform)]

    def statuses(self, platform: str | None = None,
                 accounts: Sequence[str] | None = None) -> dict[tuple[str, str, str], str]:
        """Each campaign's status as stored now (of the ``accounts`` named, or all), by (platform, account_id,
        campaign_id)."""
        with warehouse.connect(self.database_url) as conn:
            self.ensure(conn)
            return state.campaign_statuses(conn, self.seed, self.size, platform, accounts)

    def _synthetic(self, campaign: SandboxCampaign, end: date) -> np.ndarray:
        """The advertiser's schedule from EPOCH to ``end`` (a read-only view; a schedule's days do not
        depend on how far it was drawn, so the longest drawn is kept and cut)."""
        self._draw_schedules([campaign], end)
        return self._schedules[campaign.index][: max((end - EPOCH).days + 1, 0)]

    def _draw_schedules(self, campaigns: list[SandboxCampaign], end: date) -> None:
        """Draw (and keep) the schedules to ``end`` of the ``campaigns`` not drawn that far yet: a sized market's
        all at once (``sized_budget_schedules``), the default market's one by one, as it always was."""
        days = max((end - EPOCH).days + 1, 0)
        missing = [c for c in campaigns if len(self._schedules.get(c.index, ())) < days]
        if not missing:
            return
        if self.size is None:
            drawn = [synthetic_budget_schedule(c, self.seed, end) for c in missing]
        else:
            drawn = sized_budget_schedules(missing, self.seed, end)
        for campaign, schedule in zip(missing, drawn, strict=True):
            schedule.flags.writeable = False
            self._schedules[campaign.index] = schedule

    def window_budgets(self, platform: str, campaigns: list[SandboxCampaign], start: date, end: date) -> np.ndarray:
        """Each campaign's daily budget over ``simulate_many``'s days for [start, end] (the warm-up start to
        ``end``), changes applied: only the changes in force on those days are read."""
        warm, _, last = window_offsets(start, end)
        with warehouse.connect(self.database_url) as conn:
            self.ensure(conn)
            changes = state.budget_changes(conn, self.seed, platform, self.size,
                                           since=EPOCH + timedelta(days=warm), until=end)
        budgets = np.empty((len(campaigns), max(last - warm + 1, 0)))
        self._draw_schedules(campaigns, end)
        for row, c in zip(budgets, campaigns, strict=True):
            row[:] = self._synthetic(c, end)[warm:]
            for effective, amount in changes.get((c.account_id, c.campaign_id), []):
                row[max((effective - EPOCH).days - warm, 0):] = amount
        return budgets

    def daily_budgets(self, platform: str, end: date) -> dict[str, np.ndarray]:
        """Each campaign's daily budget from EPOCH to ``end`` (index 0 = EPOCH), changes applied."""
        campaigns = self.campaigns(platform)
        budgets = self.window_budgets(platform, campaigns, EPOCH + timedelta(days=WARMUP_DAYS), end)
        return {c.campaign_id: row for c, row in zip(campaigns, budgets, strict=True)}

    def current_budgets(self, platform: str, campaigns: list[SandboxCampaign] | None = None) -> dict[str, float]:
        """Each campaign's daily budget in force today (of ``campaigns``, or the platform's), by campaign_id."""
        accounts = None if campaigns is None else sorted({c.account_id for c in campaigns})
        campaigns = self.campaigns(platform) if campaigns is None else campaigns
        with warehouse.connect(self.database_url) as conn:
            self.ensure(conn)
            changes = state.budget_changes(conn, self.seed, platform, self.size, since=self.today, until=self.today,
                                           accounts=accounts)
        current = {}
        self._draw_schedules(campaigns, self.today)
        for c in campaigns:
            latest = changes.get((c.account_id, c.campaign_id))
            current[c.campaign_id] = latest[-1][1] if latest else float(self._synthetic(c, self.today)[-1])
        return current


#: Campaigns simulated together (bounds the arrays of a long window at a large market).
SIMULATION_CHUNK = 2_000


class SandboxConnector:
    """One platform of the sandbox market, speaking that platform's raw vocabulary."""

    is_live = False
    #: The sandbox has no validate-only request: a dry run sends nothing (``send_budget_changes``).
    supports_validate_only = False

    def __init__(self, market: SandboxMarket, platform: str):
        self.market = market
        self.platform = platform
        #: The receipt of the last ``set_daily_budget`` (``mbo_pipelines.connectors``): a ``sandbox-<hex>`` id.
        self.last_write: WriteReceipt | None = None

    def simulated(self, start: date, end: date,
                  seen_by: str | None = None) -> list[tuple[SandboxCampaign, DailyOutcome]]:
        """Each active campaign's simulated outcome over the complete days in [start, end] (today and later
        are not complete): what this platform reports, and what the sandbox's GA4 property sees of it.

        ``seen_by`` None: the clean simulation (the truth); ``platform`` or ``ga4``: as that report shows it,
        with the market's faults (``sandbox.faults``) it shows.
        """
        end = min(end, self.market.today - timedelta(days=1))
        if end < start or end < EPOCH:
            return []
        statuses = self.market.statuses(self.platform)
        active = [c for c in self.market.campaigns(self.platform)
                  if statuses.get((c.platform, c.account_id, c.campaign_id)) == "active"]
        budgets = self.market.window_budgets(self.platform, active, start, end)
        outcomes: list[DailyOutcome] = []
        for at in range(0, len(active), SIMULATION_CHUNK):
            chunk = slice(at, at + SIMULATION_CHUNK)
            outcomes += simulate_many(active[chunk], self.market.seed, budgets[chunk], start, end)
        pairs = list(zip(active, outcomes, strict=True))
        faults = self.market.faults if seen_by is not None else []
        return apply_faults(pairs, faults, self.market.today, seen_by) if faults else pairs

    def fetch_campaign_daily(self, start: date, end: date) -> list[dict[str, Any]]:
        """Rows for every campaign and every complete day in [start, end] (today and later are not complete)."""
        rows = []
        make_row = _DAILY_ROW[self.platform]
        for c, out in self.simulated(start, end, seen_by="platform"):
            columns = zip(out.dates, out.spend.tolist(), out.impressions.tolist(), out.clicks.tolist(),
                          out.conversions.tolist(), out.conversion_value.tolist(), strict=True)
            for day, spend, impressions, clicks, conversions, value in columns:
                metrics = {"spend": spend, "impressions": impressions, "clicks": clicks,
                           "conversions": conversions, "conversion_value": value}
                rows.append(make_row(c, day, metrics))
        return rows

    def fetch_campaigns(self) -> list[dict[str, Any]]:
        """Every campaign's current name, status, currency and daily budget."""
        return self._campaign_rows(self.market.campaigns(self.platform), accounts=None)

    def fetch_campaigns_of(self, account_ids: Collection[str]) -> list[dict[str, Any]]:
        """``fetch_campaigns()`` of the accounts named (Meta's with or without ``act_``): reads only those."""
        wanted = {_meta_account(str(a)) for a in account_ids}
        campaigns = [c for c in self.market.campaigns(self.platform) if _meta_account(c.account_id) in wanted]
        return self._campaign_rows(campaigns, accounts=sorted({c.account_id for c in campaigns}))

    def _campaign_rows(self, campaigns: list[SandboxCampaign], accounts: list[str] | None) -> list[dict[str, Any]]:
        if not campaigns:
            return []
        budgets = self.market.current_budgets(self.platform, None if accounts is None else campaigns)
        statuses = self.market.statuses(self.platform, accounts)
        return [
            _CAMPAIGN_ROW[self.platform](c, statuses[(c.platform, c.account_id, c.campaign_id)], budgets[c.campaign_id])
            for c in campaigns
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

    def set_daily_budgets(self, changes: Sequence[BudgetChange], validate_only: bool = False) -> list[str | None]:
        """Set many budgets from today on, in one transaction: one result per change, in order (None when
        set, else why it was refused, as ``send_budget_changes`` words a failed ``set_daily_budget``).

        Each change is still its own sandbox request with its own ``sandbox-<hex>`` id; ``last_write``
        combines them in order. The sandbox has no validate-only request: ``validate_only`` sends nothing.
        Raises ``ConnectorError`` when the transaction failed (then no change was stored).
        """
        self.last_write = None
        if validate_only:
            return [None] * len(changes)
        request_ids = [f"sandbox-{uuid.uuid4().hex}" for _ in changes]
        results: list[str | None] = [None] * len(changes)
        budgets: dict[int, Decimal] = {}
        for n, change in enumerate(changes):
            try:
                budgets[n] = self._checked_amount(change.campaign_id, change.amount)
            except ConnectorError as exc:
                results[n] = f"{type(exc).__name__}: {exc}"
        try:
            known = self._record([(changes[n].account_id, changes[n].campaign_id, b) for n, b in budgets.items()])
        except Exception as exc:
            password = urlparse(self.market.database_url).password
            failure = WriteReceipt.of(None, f"failed: {type(exc).__name__}: {exc}", (password,))
            self.last_write = WriteReceipt(", ".join(request_ids) or None, failure.response)
            raise ConnectorError(f"{self.platform}: the sandbox stored none of {len(changes)} budget changes: "
                                 f"{failure.response}") from exc
        for n, stored in zip(budgets, known, strict=True):
            if not stored:
                results[n] = f"ConnectorError: {self._unknown(changes[n].account_id, changes[n].campaign_id)}"
        receipts = []
        for n, request_id in enumerate(request_ids):
            if results[n] is None:
                receipts.append(WriteReceipt(request_id, f"set daily_budget={budgets[n]} from {self.market.today}"))
            else:
                receipts.append(WriteReceipt(request_id, f"refused: {results[n].removeprefix('ConnectorError: ')}"))
        self.last_write = WriteReceipt.combine(receipts)
        return results

    def _checked_amount(self, campaign_id: str, amount: Decimal) -> Decimal:
        """``amount`` in whole cents; ConnectorError unless positive and finite."""
        amount = Decimal(str(amount))
        if not amount.is_finite() or amount <= 0 or not math.isfinite(float(amount)):
            raise ConnectorError(f"{self.platform}: refusing daily budget {amount} for campaign {campaign_id}: must be a positive number")
        return _cents(float(amount))

    def _unknown(self, account_id: str, campaign_id: str) -> str:
        return f"{self.platform}: no campaign {campaign_id} in account {account_id}"

    def _record(self, changes: list[tuple[str, str, Decimal]]) -> list[bool]:
        """Store the changes in one transaction; per change whether its campaign exists."""
        with warehouse.connect(self.market.database_url) as conn:
            self.market.ensure(conn)
            return state.record_budget_changes(conn, self.market.seed, self.market.size, self.platform, changes,
                                               self.market.today)

    def _set_budget(self, account_id: str, campaign_id: str, amount: Decimal) -> Decimal:
        """Record the change (one lookup and one insert); the budget as stored (whole cents)."""
        budget = self._checked_amount(campaign_id, amount)
        if not self._record([(account_id, campaign_id, budget)])[0]:
            raise ConnectorError(self._unknown(account_id, campaign_id))
        return budget
