"""The sandbox's GA4 property: the simulated market's traffic as the advertiser's web analytics sees it.

``SandboxGA4(market).fetch_traffic_daily(start, end)`` returns
``raw.ga4_traffic_daily`` rows, like the live ``GA4Reader``, for property
``400000001`` (currency USD, time zone America/New_York). The paid rows derive
from the very simulation the sandbox connectors report (same budgets, budget
changes and statuses), so a budget pushed to the sandbox moves GA4 too.

The model, per active campaign and day:

- Platforms over-claim and overlap (view-through conversions, the same buyer
  claimed by two platforms): GA4 observes only a share of a campaign's claimed
  conversions, around ``OBSERVED_SHARE`` of its platform (Google 0.85, Meta
  0.55, TikTok 0.45), times a per-campaign factor and daily log-normal noise,
  never above ``MAX_OBSERVED_SHARE``. Key events = claimed conversions x that
  share, rounded up or down at random to a whole count (so a campaign's small
  daily counts keep their mean); revenue = claimed conversion value x that
  share x small noise, converted from the account currency to USD at the
  sandbox's rate of the day (``sandbox.fx.rate_to_usd``).
- Sessions = clicks x a per-campaign landing rate (0.80-0.95) with daily noise
  (some clicks never load the page or decline analytics cookies).
- The campaign name GA4 records is the UTM tag people typed: the campaign's
  name, for some campaigns lower-cased or with surrounding spaces (matching is
  on lower(trim(name))). One campaign per account is untagged: its sessions
  arrive as ``(not set)``, which GA4 cannot match to a campaign.
- Source / medium: ``google / cpc`` (Google Ads), ``tiktok / paid_social``
  (TikTok), and Meta's traffic split between ``facebook / paid_social`` and
  ``instagram / paid_social`` (a per-campaign Instagram share).
- Non-paid traffic of its own every day, matched to no campaign:
  ``google / organic`` ``(organic)``, ``(direct) / (none)`` ``(direct)``,
  ``newsletter / email`` (the week's newsletter) and ``facebook / referral``
  ``(referral)``, each with a weekly pattern and daily noise.

The market's faults that GA4 shows (``sandbox.faults.SEEN_BY``: a spend spike's
extra clicks, a campaign's zero delivery) apply to the paid rows too.

GA4 reports one row per date x source / medium x campaign name: campaigns that
land on the same row (several untagged ones) are summed. The sandbox takes
each account's day as GA4's day (no time-zone shift between them). Every random
draw comes from a stream seeded by (seed, campaign or channel) and indexed by
day, so a day's numbers do not depend on the window asked for.
"""

from __future__ import annotations

import math
import zlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np

from mbo_pipelines.sandbox.fx import rate_to_usd
from mbo_pipelines.sandbox.market import EPOCH, PLATFORMS, DailyOutcome, SandboxCampaign
from mbo_pipelines.sandbox.platforms import SandboxMarket

PROPERTY_ID = "400000001"
CURRENCY = "USD"
TIME_ZONE = "America/New_York"
NOT_SET = "(not set)"

#: Share of a platform's claimed conversions GA4 observes, on average.
OBSERVED_SHARE = {"google_ads": 0.85, "meta_ads": 0.55, "tiktok_ads": 0.45}
MAX_OBSERVED_SHARE = 0.95
#: Paid source / medium of each platform (Meta: Facebook, then Instagram).
PAID_SOURCE_MEDIUMS = {
    "google_ads": ("google / cpc",),
    "meta_ads": ("facebook / paid_social", "instagram / paid_social"),
    "tiktok_ads": ("tiktok / paid_social",),
}
#: Non-paid channels: source / medium, campaign name (None: the week's newsletter), daily sessions range,
#: key-event rate range, average order value range in USD.
ORGANIC_CHANNELS = (
    ("google / organic", "(organic)", (1500, 4000), (0.015, 0.03), (40, 120)),
    ("(direct) / (none)", "(direct)", (800, 2500), (0.02, 0.04), (40, 120)),
    ("newsletter / email", None, (150, 600), (0.03, 0.06), (30, 90)),
    ("facebook / referral", "(referral)", (60, 300), (0.01, 0.02), (30, 90)),
)
# Random stream tags, apart from the market's (0-2) and the FX rates' (12).
_TRAITS, _UNTAGGED, _CAMPAIGN_NOISE, _CHANNELS, _CHANNEL_NOISE = 30, 31, 32, 33, 34
SHARE_NOISE = 0.12


@dataclass(frozen=True)
class CampaignTraits:
    """How GA4 sees one campaign: its UTM campaign name, observed share, landing rate and Instagram share."""

    session_campaign_name: str
    observed_share: float
    landing_rate: float
    instagram_share: float


def untagged_campaigns(seed: int, campaigns: list[SandboxCampaign]) -> set[tuple[str, str, str]]:
    """(platform, account_id, campaign_id) of the one untagged campaign per account (chosen by the seed)."""
    by_account: dict[tuple[str, str], list[SandboxCampaign]] = defaultdict(list)
    for c in campaigns:
        by_account[(c.platform, c.account_id)].append(c)
    chosen = set()
    for (platform, account_id), members in by_account.items():
        rng = np.random.default_rng([seed, _UNTAGGED, zlib.crc32(f"{platform}/{account_id}".encode())])
        pick = sorted(members, key=lambda c: c.index)[int(rng.integers(len(members)))]
        chosen.add((pick.platform, pick.account_id, pick.campaign_id))
    return chosen


def campaign_traits(seed: int, campaign: SandboxCampaign, untagged: bool) -> CampaignTraits:
    """The campaign's fixed GA4 traits, drawn from its own stream."""
    rng = np.random.default_rng([seed, _TRAITS, campaign.index])
    style = rng.uniform()
    if untagged:
        name = NOT_SET
    elif style < 0.6:
        name = campaign.campaign_name
    elif style < 0.8:
        name = campaign.campaign_name.lower()
    else:
        name = f" {campaign.campaign_name} " if style < 0.9 else f"{campaign.campaign_name}  "
    share = OBSERVED_SHARE[campaign.platform] * float(rng.uniform(0.9, 1.1))
    return CampaignTraits(name, min(share, MAX_OBSERVED_SHARE), float(rng.uniform(0.8, 0.95)),
                          float(rng.uniform(0.25, 0.6)))


def newsletter_name(day: date) -> str:
    """The campaign name of the week's newsletter, e.g. ``weekly_digest_2026_w05``."""
    year, week, _ = day.isocalendar()
    return f"weekly_digest_{year}_w{week:02d}"


class _Rows:
    """Sums metrics per (date, source / medium, campaign name): GA4's one row per key."""

    def __init__(self) -> None:
        self._totals: dict[tuple[date, str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])

    def add(self, day: date, source_medium: str, campaign_name: str, sessions: int, key_events: int,
            revenue: float) -> None:
        totals = self._totals[(day, source_medium, campaign_name)]
        totals[0] += sessions
        totals[1] += key_events
        totals[2] += revenue

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "date": day, "property_id": PROPERTY_ID, "session_source_medium": source_medium,
                "session_campaign_name": name, "currency_code": CURRENCY, "time_zone": TIME_ZONE,
                "sessions": int(sessions), "key_events": float(key_events), "total_revenue": round(float(revenue), 2),
            }
            for (day, source_medium, name), (sessions, key_events, revenue) in sorted(self._totals.items())
        ]


def _whole(expected: float, noise: float) -> int:
    """``expected`` rounded up or down at random, so that small daily counts keep their mean (plain rounding
    would turn a campaign's 0.4 key events a day into none at all); ``noise`` is a standard normal draw."""
    uniform = 0.5 * (1 + math.erf(noise / math.sqrt(2)))
    return math.floor(expected + uniform)


def _split(total: float, share: float, decimals: int | None = None) -> tuple[float, float]:
    """``total`` split into (rest, part ≈ share x total) that add up exactly (whole counts or cents)."""
    part = round(total * share) if decimals is None else round(total * share, decimals)
    rest = total - part if decimals is None else round(total - part, decimals)
    return rest, part


class SandboxGA4:
    """The sandbox market's GA4 property, answering like the live ``GA4Reader``."""

    platform = "ga4"
    is_live = False

    def __init__(self, market: SandboxMarket):
        self.market = market

    def traits(self) -> dict[tuple[str, str, str], CampaignTraits]:
        """Every campaign's GA4 traits, by (platform, account_id, campaign_id)."""
        campaigns = self.market.campaigns()
        untagged = untagged_campaigns(self.market.seed, campaigns)
        return {
            (c.platform, c.account_id, c.campaign_id):
                campaign_traits(self.market.seed, c, (c.platform, c.account_id, c.campaign_id) in untagged)
            for c in campaigns
        }

    def fetch_traffic_daily(self, start: date, end: date) -> list[dict[str, Any]]:
        """``raw.ga4_traffic_daily`` rows of every complete day in [start, end] (none before the market's first)."""
        start = max(start, EPOCH)
        end = min(end, self.market.today - timedelta(days=1))
        if end < start:
            return []
        rows = _Rows()
        traits = self.traits()
        for platform in PLATFORMS:
            for campaign, outcome in self.market.connector(platform).simulated(start, end, seen_by="ga4"):
                self._add_campaign(rows, campaign, outcome,
                                   traits[(campaign.platform, campaign.account_id, campaign.campaign_id)])
        self._add_channels(rows, start, end)
        return rows.rows()

    def _add_campaign(self, rows: _Rows, c: SandboxCampaign, outcome: DailyOutcome, traits: CampaignTraits) -> None:
        if not outcome.dates:
            return
        last = (outcome.dates[-1] - EPOCH).days
        noise = np.random.default_rng([self.market.seed, _CAMPAIGN_NOISE, c.index]).standard_normal((last + 1, 4))
        for i, day in enumerate(outcome.dates):
            share_noise, landing_noise, value_noise, rounding_noise = (float(x) for x in noise[(day - EPOCH).days])
            share = min(traits.observed_share * float(np.exp(SHARE_NOISE * share_noise - 0.5 * SHARE_NOISE**2)),
                        MAX_OBSERVED_SHARE)
            landing = min(max(traits.landing_rate * float(np.exp(0.05 * landing_noise)), 0.5), 1.0)
            sessions = round(float(outcome.clicks[i]) * landing)
            key_events = _whole(float(outcome.conversions[i]) * share, rounding_noise)
            revenue = round(float(outcome.conversion_value[i]) * share * float(np.exp(0.03 * value_noise))
                            * rate_to_usd(self.market.seed, c.currency, day), 2)
            mediums = PAID_SOURCE_MEDIUMS[c.platform]
            if len(mediums) == 1:
                rows.add(day, mediums[0], traits.session_campaign_name, sessions, key_events, revenue)
                continue
            split = [_split(sessions, traits.instagram_share), _split(key_events, traits.instagram_share),
                     _split(revenue, traits.instagram_share, 2)]
            for medium, part in zip(mediums, (0, 1), strict=True):
                rows.add(day, medium, traits.session_campaign_name, *(pair[part] for pair in split))

    def _add_channels(self, rows: _Rows, start: date, end: date) -> None:
        seed = self.market.seed
        params = np.random.default_rng([seed, _CHANNELS])
        last = (end - EPOCH).days
        for n, (source_medium, name, sessions_range, rate_range, order_range) in enumerate(ORGANIC_CHANNELS):
            base, rate, order_value = (float(params.uniform(*r)) for r in (sessions_range, rate_range, order_range))
            phase = float(params.uniform(0, 7))
            noise = np.random.default_rng([seed, _CHANNEL_NOISE, n]).standard_normal((last + 1, 3))
            day = start
            while day <= end:
                d = [float(x) for x in noise[(day - EPOCH).days]]
                season = 1 + 0.1 * math.sin(2 * math.pi * (day.weekday() + phase) / 7)
                sessions = round(base * season * math.exp(0.1 * d[0]))
                key_events = round(sessions * rate * math.exp(0.1 * d[1]))
                revenue = round(key_events * order_value * math.exp(0.1 * d[2]), 2)
                rows.add(day, source_medium, name or newsletter_name(day), sessions, key_events, revenue)
                day += timedelta(days=1)
