"""The simulated ad market behind the demo: campaigns, their true response, and daily simulation.

Everything derives from one seed, so the same seed and budget history give the
same numbers on every machine. A campaign's true daily conversion value is a
Hill curve of its adstocked spend (geometric carryover), times a weekly
seasonality, times log-normal noise. Spend follows the daily budget (platforms
pace slightly under it), so a budget set through the sandbox changes the spend
it simulates from that day on: the loop closes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

#: First day the simulated market has data for.
EPOCH = date(2025, 1, 1)
#: Days of carryover warm-up simulated before a requested window.
WARMUP_DAYS = 60

PLATFORMS = ("google_ads", "meta_ads", "tiktok_ads")

# Two accounts per platform, at least one per platform not in USD.
ACCOUNTS = {
    "google_ads": (("1234567890", "USD", "America/New_York"), ("2345678901", "EUR", "Europe/Berlin")),
    "meta_ads": (("act_100200300", "USD", "America/Los_Angeles"), ("act_400500600", "PLN", "Europe/Warsaw")),
    "tiktok_ads": (("7100000000001", "EUR", "Europe/Paris"), ("7100000000002", "PLN", "Europe/Warsaw")),
}
# Rough size of a typical budget in each currency (so PLN budgets look like PLN budgets).
CURRENCY_SCALE = {"USD": 1.0, "EUR": 0.9, "PLN": 4.0}
# The distribution every campaign's true curve is drawn from, around its base budget:
# half-saturation = base x U(HALF_SATURATION_RANGE), Hill shape ~ U(SHAPE_RANGE), ROAS at the
# base budget ~ U(ROAS_RANGE). The benchmark's Bayes ceiling uses it as the oracle's prior.
HALF_SATURATION_RANGE = (0.8, 2.5)
SHAPE_RANGE = (0.7, 1.3)
ROAS_RANGE = (1.2, 5.0)
#: Standard deviation of the daily log-normal noise on conversion value.
VALUE_NOISE = 0.15
THEMES = ("Brand", "Generic", "Retargeting", "Prospecting", "Shopping", "Video", "Promo", "Lookalike",
          "Competitor", "Remarketing")


@dataclass(frozen=True)
class SandboxCampaign:
    """One simulated campaign and its true, hidden response parameters (account currency)."""

    platform: str
    account_id: str
    campaign_id: str
    campaign_name: str
    currency: str
    timezone: str
    index: int  # position in the whole market; seeds its noise stream
    base_budget: float
    vmax: float
    half_saturation: float
    shape: float
    adstock: float
    seasonality_amplitude: float
    seasonality_phase: float
    cpm: float
    ctr: float
    order_value: float

    def true_value(self, spend: np.ndarray | float) -> np.ndarray:
        """Expected daily conversion value at a steady daily spend (no noise, average weekday)."""
        s = np.maximum(np.asarray(spend, dtype=float), 0.0)
        return self.vmax * s**self.shape / (s**self.shape + self.half_saturation**self.shape)


def vmax_for_roas(roas_at_base, base, half_saturation, shape):
    """The Hill ``vmax`` whose curve returns ``roas_at_base`` per unit of spend at spend ``base``."""
    return roas_at_base * base * (base**shape + half_saturation**shape) / base**shape


def generate_campaigns(seed: int, size: int | None = None) -> list[SandboxCampaign]:
    """The market's campaigns: 2 accounts per platform, 5–10 campaigns per account.

    ``size`` (``MBO_SANDBOX_CAMPAIGNS``) asks for a market of exactly that many
    campaigns instead, drawn from the same distributions (``sized_campaigns``).
    """
    if size is not None:
        return sized_campaigns(seed, size)
    rng = np.random.default_rng([seed, 0])
    campaigns: list[SandboxCampaign] = []
    for platform in PLATFORMS:
        for account_id, currency, timezone in ACCOUNTS[platform]:
            for n in range(int(rng.integers(5, 11))):
                index = len(campaigns)
                campaign_id = str(10_000_000 + 1_000 * PLATFORMS.index(platform) + index)
                campaigns.append(_draw_campaign(rng, platform, account_id, currency, timezone, index, n, campaign_id))
    return campaigns


#: Currencies and time zones of a sized market's accounts: those of the default market's accounts.
SIZED_CURRENCIES = ("USD", "EUR", "PLN")
SIZED_TIMEZONES = {
    currency: tuple(sorted({tz for accounts in ACCOUNTS.values() for _, cur, tz in accounts if cur == currency}))
    for currency in SIZED_CURRENCIES
}


def sized_account_id(platform: str, number: int) -> str:
    """The id of a sized market's ``number``-th account on ``platform``, in that platform's format."""
    if platform == "google_ads":
        return str(3_000_000_000 + number)  # ten digits
    if platform == "meta_ads":
        return f"act_{800_000_000 + number}"
    return str(7_200_000_000_000 + number)  # TikTok: thirteen digits


def sized_campaigns(seed: int, size: int) -> list[SandboxCampaign]:
    """A market of exactly ``size`` campaigns: accounts of 5–10 campaigns, round-robin over the platforms.

    Each account's currency (USD, EUR or PLN) and time zone, and every
    campaign's budget and curve, come from the default market's distributions.
    Campaign ids are unique across the market. The draws come from one stream
    per seed, so a smaller market is the first accounts of a larger one (the
    last account cut short).
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"a sized sandbox market needs a whole number of campaigns >= 1, got {size!r}")
    rng = np.random.default_rng([seed, 3])
    campaigns: list[SandboxCampaign] = []
    accounts = 0
    while len(campaigns) < size:
        platform = PLATFORMS[accounts % len(PLATFORMS)]
        account_id = sized_account_id(platform, accounts // len(PLATFORMS))
        currency = SIZED_CURRENCIES[int(rng.integers(len(SIZED_CURRENCIES)))]
        zones = SIZED_TIMEZONES[currency]
        timezone = zones[int(rng.integers(len(zones)))]
        for n in range(min(int(rng.integers(5, 11)), size - len(campaigns))):
            index = len(campaigns)
            campaigns.append(
                _draw_campaign(rng, platform, account_id, currency, timezone, index, n, str(20_000_000 + index))
            )
        accounts += 1
    return campaigns


def _draw_campaign(rng: np.random.Generator, platform: str, account_id: str, currency: str, timezone: str,
                   index: int, n: int, campaign_id: str) -> SandboxCampaign:
    """One campaign's hidden parameters, drawn from ``rng`` in a fixed order (the default market pins it)."""
    base = float(rng.uniform(30, 400)) * CURRENCY_SCALE[currency]
    half_sat = base * float(rng.uniform(*HALF_SATURATION_RANGE))
    shape = float(rng.uniform(*SHAPE_RANGE))
    roas_at_base = float(rng.uniform(*ROAS_RANGE))
    vmax = vmax_for_roas(roas_at_base, base, half_sat, shape)
    theme = THEMES[n % len(THEMES)]
    return SandboxCampaign(
        platform=platform,
        account_id=account_id,
        campaign_id=campaign_id,
        campaign_name=f"{theme} {currency} #{n + 1}",
        currency=currency,
        timezone=timezone,
        index=index,
        base_budget=round(base, 2),
        vmax=vmax,
        half_saturation=half_sat,
        shape=shape,
        adstock=float(rng.uniform(0.0, 0.5)),
        seasonality_amplitude=float(rng.uniform(0.05, 0.2)),
        seasonality_phase=float(rng.uniform(0, 7)),
        cpm=float(rng.uniform(3, 25)) * CURRENCY_SCALE[currency],
        ctr=float(rng.uniform(0.005, 0.04)),
        order_value=float(rng.uniform(20, 150)) * CURRENCY_SCALE[currency],
    )


def synthetic_budget_schedule(campaign: SandboxCampaign, seed: int, end: date) -> np.ndarray:
    """The advertiser's own budget history before MBO took over: a step function from EPOCH to ``end``.

    Budgets change every 10–25 days by a mean-reverting factor, which gives the
    spend variation a response curve can be fitted on.
    """
    days = (end - EPOCH).days + 1
    rng = np.random.default_rng([seed, 1, campaign.index])
    budgets = np.empty(max(days, 0))
    level, day = 1.0, 0
    while day < days:
        run = int(rng.integers(10, 26))
        budgets[day : day + run] = round(campaign.base_budget * level, 2)
        # min/max, not np.clip: the same number, without np.clip's per-call cost on a scalar.
        level = min(max(level * float(rng.uniform(0.7, 1.4)) ** 1, 0.5), 1.8)
        level = 0.7 * level + 0.3  # pull back toward the base budget
        day += run
    return budgets


#: A sized market draws its advertisers' budget schedules for blocks of campaigns and chunks of steps at once,
#: each (block, chunk) from a generator of its own: a campaign's schedule depends on the seed and its index only.
SCHEDULE_BLOCK, SCHEDULE_STEP_CHUNK = 1_000, 64


def sized_budget_schedules(campaigns: list[SandboxCampaign], seed: int, end: date) -> np.ndarray:
    """``synthetic_budget_schedule`` for a sized market's campaigns, drawn together: one row per campaign, from
    EPOCH to ``end``.

    The same rules (runs of 10–25 days; a level that moves by a factor of 0.7–1.4, kept in [0.5, 1.8] and pulled
    back toward 1), vectorized over campaigns, so 20 000 schedules cost about what 200 did one by one. A row is
    the same whichever campaigns are drawn with it and however far (a day's budget never depends on ``end``).
    """
    days = max((end - EPOCH).days + 1, 0)
    schedules = np.empty((len(campaigns), days))
    if not campaigns or days == 0:
        return schedules
    chunks = -(-(days // 10 + 1) // SCHEDULE_STEP_CHUNK)  # runs last at least 10 days: enough steps to cover
    index = np.array([c.index for c in campaigns])
    runs = np.empty((len(campaigns), chunks * SCHEDULE_STEP_CHUNK), dtype=np.int64)
    factors = np.empty(runs.shape)
    for block in np.unique(index // SCHEDULE_BLOCK):
        rows = np.nonzero(index // SCHEDULE_BLOCK == block)[0]
        offsets = index[rows] % SCHEDULE_BLOCK
        for chunk in range(chunks):
            rng = np.random.default_rng([seed, 4, int(block), chunk])
            steps = slice(chunk * SCHEDULE_STEP_CHUNK, (chunk + 1) * SCHEDULE_STEP_CHUNK)
            runs[rows, steps] = rng.integers(10, 26, size=(SCHEDULE_BLOCK, SCHEDULE_STEP_CHUNK))[offsets]
            factors[rows, steps] = rng.uniform(0.7, 1.4, size=(SCHEDULE_BLOCK, SCHEDULE_STEP_CHUNK))[offsets]
    levels = np.empty(factors.shape)
    level = np.ones(len(campaigns))
    for step in range(levels.shape[1]):
        levels[:, step] = level
        level = 0.7 * np.minimum(np.maximum(level * factors[:, step], 0.5), 1.8) + 0.3
    budgets = np.round(np.array([c.base_budget for c in campaigns])[:, None] * levels, 2)
    for row, (amounts, lengths) in enumerate(zip(budgets, runs, strict=True)):
        schedules[row] = np.repeat(amounts, lengths)[:days]
    return schedules


@dataclass(frozen=True)
class DailyOutcome:
    """Simulated metrics for one campaign over consecutive days (arrays aligned with ``dates``)."""

    dates: list[date]
    spend: np.ndarray
    impressions: np.ndarray
    clicks: np.ndarray
    conversions: np.ndarray
    conversion_value: np.ndarray
    #: Adstocked spend behind each day's value (what the true curve is evaluated at).
    effective_spend: np.ndarray


def simulate(campaign: SandboxCampaign, seed: int, budgets: np.ndarray, start: date, end: date) -> DailyOutcome:
    """Simulate ``campaign`` for [start, end] given its daily budgets from EPOCH (index 0 = EPOCH).

    Noise is drawn from a stream seeded by (seed, campaign) and indexed by day,
    so a day's numbers do not depend on which window was asked for.
    """
    first, last = max((start - EPOCH).days, 0), (end - EPOCH).days
    warm = max(first - WARMUP_DAYS, 0)
    window = budgets[warm : last + 1] if last >= first else np.empty(0)
    return simulate_many([campaign], seed, np.asarray([window]), start, end)[0]


def window_offsets(start: date, end: date) -> tuple[int, int, int]:
    """(warm, first, last): day offsets from EPOCH of the warm-up start, the window's first and last day."""
    first = max((start - EPOCH).days, 0)
    return max(first - WARMUP_DAYS, 0), first, (end - EPOCH).days


def simulate_many(
    campaigns: list[SandboxCampaign], seed: int, budgets: np.ndarray, start: date, end: date
) -> list[DailyOutcome]:
    """``simulate`` for many campaigns at once; ``budgets[i]`` is campaign i's budget on each day from the
    warm-up start to ``end`` (``window_offsets``), so the cost is the window's (plus the warm-up), not the
    market's history. Each campaign's numbers are exactly what ``simulate`` gives it alone.
    """
    warm, first, last = window_offsets(start, end)
    if last < first or not campaigns:
        empty = np.empty(0)
        return [DailyOutcome([], empty, empty, empty, empty, empty, empty) for _ in campaigns]
    idx = np.arange(warm, last + 1)
    budgets = np.asarray(budgets, dtype=float).reshape(len(campaigns), len(idx))
    # Each campaign's noise stream from EPOCH: a day's draw is the same whatever window asks for it.
    noise = np.stack([np.random.default_rng([seed, 2, c.index]).standard_normal((last + 1, 3))[warm:]
                      for c in campaigns])  # pacing, value noise, funnel noise
    adstock = np.array([c.adstock for c in campaigns])
    keep_share = 1 - adstock

    pacing = 0.93 + 0.06 * (1 / (1 + np.exp(-noise[:, :, 0])))  # 93%–99% of budget
    spend = np.round(budgets * pacing, 2)
    effective = np.empty_like(spend)
    carry = spend[:, 0].copy()
    for i in range(len(idx)):  # geometric carry-over, all campaigns one day at a time
        carry = keep_share * spend[:, i] + adstock * carry
        effective[:, i] = carry
    weekday = (idx + EPOCH.weekday()) % 7
    dates = [EPOCH + timedelta(days=int(d)) for d in idx[first - warm :]]
    outcomes = []
    for n, c in enumerate(campaigns):
        season = 1 + c.seasonality_amplitude * np.sin(2 * np.pi * (weekday + c.seasonality_phase) / 7)
        value = c.true_value(effective[n]) * season * np.exp(VALUE_NOISE * noise[n, :, 1] - 0.5 * VALUE_NOISE**2)
        impressions = np.round(spend[n] / c.cpm * 1000)
        clicks = np.round(impressions * c.ctr * np.exp(0.1 * noise[n, :, 2]))
        conversions = np.round(value / c.order_value, 2)
        keep = slice(first - warm, None)
        outcomes.append(DailyOutcome(
            dates=dates,
            spend=spend[n, keep],
            impressions=impressions[keep],
            clicks=np.minimum(clicks, impressions)[keep],
            conversions=conversions[keep],
            conversion_value=np.round(value[keep], 2),
            effective_spend=effective[n, keep],
        ))
    return outcomes
