"""A small, deterministic ad account world that every fake platform server serves in its own wire format.

The fakes (``fake_google_ads``, ``fake_meta``, ``fake_tiktok``) render the
same ``FakeWorld`` in their API's vocabulary, so a test can compare what
MBO loaded against the world it was served. The world holds the edge cases
the connectors must get right: a JPY account (no minor units), unicode and
SQL-looking campaign names, a paused campaign, a campaign that starts in the
middle of the range.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

#: Currencies without minor units on the ad platforms.
ZERO_DECIMAL_CURRENCIES = frozenset({"CLP", "COP", "CRC", "HUF", "ISK", "IDR", "JPY", "KRW", "PYG", "TWD", "VND"})


@dataclass
class FakeAccount:
    """An ad account: its id in the platform's own form (Google 10 digits, Meta digits, TikTok digits)."""

    account_id: str
    currency: str
    timezone: str
    name: str = ""


@dataclass
class FakeCampaign:
    """A campaign and its current daily budget in currency units (whole units for JPY)."""

    account_id: str
    campaign_id: str
    name: str
    status: str  # "active" | "paused"
    daily_budget: Decimal
    start_date: date | None = None  # no rows before this day
    #: Google Ads: the id of an explicitly shared budget, None for a budget of its own.
    shared_budget_id: str | None = None


@dataclass(frozen=True)
class FakeDay:
    """One campaign's performance on one day, in account currency units."""

    day: date
    spend: Decimal
    impressions: int
    clicks: int
    conversions: float
    conversion_value: float


@dataclass
class FakeWorld:
    """Accounts, campaigns and their daily performance, as one platform would serve them."""

    accounts: list[FakeAccount]
    campaigns: list[FakeCampaign]
    daily: dict[tuple[str, str], list[FakeDay]] = field(default_factory=dict)

    def account(self, account_id: str) -> FakeAccount:
        return next(a for a in self.accounts if a.account_id == account_id)

    def campaign(self, account_id: str, campaign_id: str) -> FakeCampaign:
        return next(c for c in self.campaigns if (c.account_id, c.campaign_id) == (account_id, campaign_id))

    def rows(self, account_id: str, start: date, end: date) -> list[tuple[FakeCampaign, FakeDay]]:
        """Every (campaign, day) of an account with start <= day <= end, in campaign then date order."""
        out = []
        for c in self.campaigns:
            if c.account_id != account_id:
                continue
            out += [(c, d) for d in self.daily.get((c.account_id, c.campaign_id), []) if start <= d.day <= end]
        return out


def money(value: float, currency: str) -> Decimal:
    """``value`` rounded to the currency's smallest unit."""
    step = Decimal("1") if currency in ZERO_DECIMAL_CURRENCIES else Decimal("0.01")
    return Decimal(str(value)).quantize(step, rounding=ROUND_HALF_UP)


ODD_NAMES = (
    "Zażółć gęślą jaźń — Black Friday 🎉",
    "Robert'); DROP TABLE raw.google_ads_campaign_daily;--",
    "キャンペーン 東京 \"quoted\", with comma",
)


def make_world(accounts: list[FakeAccount], start: date, end: date, *, seed: int = 0,
               campaigns_per_account: int = 3, id_base: int = 1000) -> FakeWorld:
    """A world with ``campaigns_per_account`` campaigns per account, performance every day in [start, end].

    The first account's campaigns carry the odd names; its last campaign is
    paused (no rows after the range's first third) and, when there are three
    or more, the second campaign starts mid-range.
    """
    rng = random.Random(seed)
    world = FakeWorld(accounts=list(accounts), campaigns=[])
    days = (end - start).days + 1
    for a_index, account in enumerate(accounts):
        scale = 150 if account.currency in ZERO_DECIMAL_CURRENCIES else 1
        for n in range(campaigns_per_account):
            cid = str(id_base + 100 * a_index + n)
            name = ODD_NAMES[n % len(ODD_NAMES)] if a_index == 0 else f"Campaign {account.currency} {n + 1}"
            paused = a_index == 0 and n == campaigns_per_account - 1
            first = start + timedelta(days=days // 2) if a_index == 0 and n == 1 and campaigns_per_account >= 3 else start
            budget = money(rng.uniform(40, 300) * scale, account.currency)
            campaign = FakeCampaign(account.account_id, cid, name, "paused" if paused else "active", budget, first)
            world.campaigns.append(campaign)
            series = []
            for i in range(days):
                day = start + timedelta(days=i)
                if day < first or (paused and i > days // 3):
                    continue
                spend = money(float(budget) * rng.uniform(0.6, 1.0), account.currency)
                impressions = int(float(spend) / scale * rng.uniform(80, 200))
                clicks = int(impressions * rng.uniform(0.01, 0.05))
                conversions = round(clicks * rng.uniform(0.02, 0.1), 2)
                value = round(float(spend) * rng.uniform(1.0, 4.0), 2)
                series.append(FakeDay(day, spend, impressions, clicks, conversions, value))
            world.daily[(account.account_id, cid)] = series
    return world
