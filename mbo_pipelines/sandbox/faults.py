"""Switchable, deterministic faults in what the sandbox reports: ground truth for the alerts detector.

A fault changes what a platform (and, for some kinds, the sandbox's GA4 property) reports, after the
simulation: the clean numbers stay what they are, so everything else in the market is untouched.

- ``tracking_break`` (a campaign, from ``start``): the platform reports conversions and value 0 (x ``factor``,
  when given: a partial break); GA4 unchanged.
- ``spend_spike`` (a campaign, from ``start``): spend, impressions and clicks x ``SPIKE_FACTOR`` (or ``factor``);
  conversions and value unchanged. GA4's sessions follow the clicks, its key events and revenue do not change.
- ``zero_delivery`` (a campaign, from ``start``): no rows for it (real APIs omit zero-impression rows), no GA4
  traffic from it either; it stays active with its budget.
- ``missing_day`` (a platform, the day ``start``): fetched while ``today <= start + 1``, the platform returns no
  rows for that day; fetched later, the day is there as normal (late data). GA4 unchanged.
- ``restatement`` (an account, the day ``start``): fetched while ``today <= start + 1``, the day's numbers are the
  normal ones; fetched later, the account's rows of that day report every metric x ``RESTATEMENT_FACTOR`` (or
  ``factor``).

The spec (``MBO_SANDBOX_FAULTS``): comma-separated items ``kind[*FACTOR][@START][=TARGET]``, START an ISO date or
``-N`` (N days before the market's today); blank or ``none``: no faults. FACTOR grades the kinds that multiply
(``FACTOR_RANGE``): ``tracking_break*0.5`` halves conversions instead of zeroing them. Targets are chosen by the
seed (``choose_target``) unless given.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from mbo_pipelines.sandbox.market import EPOCH, PLATFORMS, DailyOutcome, SandboxCampaign

FAULT_KINDS = ("tracking_break", "spend_spike", "zero_delivery", "missing_day", "restatement")
#: Kinds whose scope is one campaign (the others: a platform, an account).
CAMPAIGN_KINDS = ("tracking_break", "spend_spike", "zero_delivery")
#: Kinds that concern one day (``last`` None means ``start``), the others last from ``start`` on.
ONE_DAY_KINDS = ("missing_day", "restatement")
SPIKE_FACTOR = 3.0
RESTATEMENT_FACTOR = 2.0
#: The multiplier of each kind that has one: (default, low, high, whether low itself is allowed); 1 never is.
FACTOR_RANGE = {
    "tracking_break": (0.0, 0.0, 1.0, True),
    "spend_spike": (SPIKE_FACTOR, 1.0, 100.0, False),
    "restatement": (RESTATEMENT_FACTOR, 0.0, 100.0, False),
}
#: Default START of each kind, in days before the market's today (-1: the last complete day).
DEFAULT_START = {kind: -2 if kind == "restatement" else -1 for kind in FAULT_KINDS}
#: Which report each kind shows in: the platform's (``fetch_campaign_daily``) and/or GA4's.
SEEN_BY = {
    "tracking_break": ("platform",), "spend_spike": ("platform", "ga4"), "zero_delivery": ("platform", "ga4"),
    "missing_day": ("platform",), "restatement": ("platform",),
}
SYNTAX = ("comma-separated items kind[*FACTOR][@START][=TARGET], or none: START an ISO date (2026-03-01) or -N (N "
          "days before the market's today); TARGET platform, platform/account or platform/account/campaign, as the "
          "kind's scope is; FACTOR the multiplier of tracking_break (0 to below 1, default 0), spend_spike (above "
          "1, default 3) or restatement (above 0, not 1, default 2)")
_TARGET_STREAM = 50  # random stream tag, apart from the market's and GA4's


@dataclass(frozen=True)
class Fault:
    """One fault and its scope: a campaign (campaign kinds), a platform (``missing_day``: account and campaign
    None) or an account (``restatement``: campaign None), on the days ``start`` to ``last`` (None: ongoing; for the
    one-day kinds None is ``start``). ``factor``: the multiplier of a kind in ``FACTOR_RANGE`` (None: its
    default)."""

    kind: str
    platform: str
    account_id: str | None
    campaign_id: str | None
    start: date
    last: date | None = None
    factor: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown sandbox fault kind {self.kind!r}; valid kinds: {', '.join(FAULT_KINDS)}")
        if self.platform not in PLATFORMS:
            raise ValueError(f"a sandbox fault needs one of the platforms {', '.join(PLATFORMS)}, got {self.platform!r}")
        scoped = (self.account_id is not None, self.campaign_id is not None)
        wanted = {"missing_day": (False, False), "restatement": (True, False)}.get(self.kind, (True, True))
        if scoped != wanted:
            raise ValueError(f"a {self.kind} fault is scoped to "
                             f"{dict(missing_day='a platform', restatement='an account').get(self.kind, 'a campaign')}"
                             f": got account_id={self.account_id!r}, campaign_id={self.campaign_id!r}")
        if self.last is None and self.kind in ONE_DAY_KINDS:
            object.__setattr__(self, "last", self.start)
        if self.last is not None and self.last < self.start:
            raise ValueError(f"a sandbox fault cannot end ({self.last}) before it starts ({self.start})")
        if self.factor is not None:
            _check_factor(self.kind, self.factor)

    @property
    def multiplier(self) -> float:
        """What the kind multiplies its metrics by: ``factor``, or the kind's default."""
        return FACTOR_RANGE[self.kind][0] if self.factor is None else float(self.factor)

    def concerns(self, campaign: SandboxCampaign) -> bool:
        """Whether ``campaign`` is in this fault's scope."""
        return (campaign.platform == self.platform
                and self.account_id in (None, campaign.account_id)
                and self.campaign_id in (None, campaign.campaign_id))


def _check_factor(kind: str, factor: float) -> None:
    """ValueError unless ``factor`` is a finite multiplier ``kind`` takes (``FACTOR_RANGE``)."""
    if kind not in FACTOR_RANGE:
        raise ValueError(f"a {kind} fault takes no factor (only {', '.join(FACTOR_RANGE)} do)")
    _, low, high, low_ok = FACTOR_RANGE[kind]
    if not (low < factor < high or (low_ok and factor == low)) or factor == 1:
        bounds = f"{'[' if low_ok else '('}{low:g}, {high:g})"
        raise ValueError(f"a {kind} fault's factor must be in {bounds} and not 1, got {factor!r}")


def parse_spec(spec: str | None) -> list[tuple[str, date | int]]:
    """The (kind, start) of each item of ``spec``: start an ISO date or a negative day offset from today.

    Blank, ``none`` or None: no items. ValueError naming the item, the valid kinds and the syntax otherwise.
    """
    return [(kind, start) for kind, start, _, _ in parse_items(spec)]


def parse_items(spec: str | None) -> list[tuple[str, date | int, tuple[str, ...] | None, float | None]]:
    """The (kind, start, target, factor) of each item of ``spec``; target None: chosen by the seed
    (``choose_target``); factor None: the kind's default."""
    text = (spec or "").strip()
    if text.lower() in ("", "none"):
        return []
    items = []
    for item in (part.strip() for part in text.split(",")):
        body, has_target, target_text = item.partition("=")
        graded, at, raw = body.partition("@")
        kind, starred, factor_text = (part.strip() for part in graded.partition("*"))
        if kind not in FAULT_KINDS:
            _bad(item, f"unknown kind {kind!r}")
        factor = _factor(item, kind, factor_text) if starred else None
        target = tuple(part.strip() for part in target_text.split("/")) if has_target else None
        width = 3 if kind in CAMPAIGN_KINDS else (1 if kind == "missing_day" else 2)
        if target is not None and (len(target) != width or not all(target) or target[0] not in PLATFORMS):
            scope = {1: "platform", 2: "platform/account", 3: "platform/account/campaign"}[width]
            _bad(item, f"TARGET {target_text.strip()!r} is not a {scope}")
        if not at:
            items.append((kind, DEFAULT_START[kind], target, factor))
            continue
        raw = raw.strip()
        if raw.startswith("-") and raw[1:].isdigit() and int(raw[1:]) >= 1:
            items.append((kind, -int(raw[1:]), target, factor))
            continue
        try:
            items.append((kind, date.fromisoformat(raw), target, factor))
        except ValueError:
            _bad(item, f"START {raw!r} is neither an ISO date nor -N with N >= 1")
    return items


def _factor(item: str, kind: str, text: str) -> float:
    """The FACTOR of ``item`` as a number ``kind`` takes; ValueError through ``_bad`` otherwise."""
    try:
        factor = float(text)
    except ValueError:
        _bad(item, f"FACTOR {text!r} is not a number")
    try:
        _check_factor(kind, factor)
    except ValueError as error:
        _bad(item, f"FACTOR {text!r}: {error}")
    return factor


def _bad(item: str, why: str) -> None:
    raise ValueError(f"bad sandbox fault {item!r}: {why}; valid kinds: {', '.join(FAULT_KINDS)}; syntax: {SYNTAX}")


def resolve_faults(spec: str | Sequence[Fault] | None, campaigns: Sequence[SandboxCampaign], seed: int,
                   today: date) -> list[Fault]:
    """The faults ``spec`` asks for in the market of ``campaigns``: targets chosen by ``seed`` (the n-th item of a
    kind takes ``choose_target(kind, ..., n)``), relative starts counted back from ``today``. A list of
    ``Fault`` is returned as it is."""
    if spec is not None and not isinstance(spec, str):
        faults = list(spec)
        if not all(isinstance(f, Fault) for f in faults):
            raise ValueError("sandbox faults must be a spec string or a list of Fault")
        return faults
    seen: dict[str, int] = defaultdict(int)
    faults = []
    for kind, start, target, factor in parse_items(spec):
        if target is None:
            platform, account_id, campaign_id = choose_target(kind, campaigns, seed, seen[kind])
            seen[kind] += 1
        else:
            platform, account_id, campaign_id = (*target, None, None)[:3]
        first = start if isinstance(start, date) else today + timedelta(days=start)
        faults.append(Fault(kind, platform, account_id, campaign_id, first, factor=factor))
    return faults


def choose_target(kind: str, campaigns: Sequence[SandboxCampaign], seed: int,
                  n: int = 0) -> tuple[str, str | None, str | None]:
    """(platform, account_id, campaign_id) a fault of ``kind`` hits, the same for the same seed, kind and ``n``.

    Campaign kinds pick among the campaigns budgeted at or above the median of their currency (a fault on real
    volume), from one shuffle per (seed, n) in which each campaign kind takes its own place: with three such
    campaigns or more, the kinds hit different campaigns. ``missing_day`` picks a platform, ``restatement`` an
    account (campaign or account None).
    """
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown sandbox fault kind {kind!r}; valid kinds: {', '.join(FAULT_KINDS)}")
    if not campaigns:
        raise ValueError("the sandbox market has no campaigns to put a fault on")
    if kind in CAMPAIGN_KINDS:
        candidates = well_budgeted(campaigns)
        order = np.random.default_rng([seed, _TARGET_STREAM, n]).permutation(len(candidates))
        c = candidates[int(order[CAMPAIGN_KINDS.index(kind) % len(candidates)])]
        return c.platform, c.account_id, c.campaign_id
    rng = np.random.default_rng([seed, _TARGET_STREAM, FAULT_KINDS.index(kind), n])
    if kind == "missing_day":
        platforms = [p for p in PLATFORMS if any(c.platform == p for c in campaigns)]
        return platforms[int(rng.integers(len(platforms)))], None, None
    accounts = list(dict.fromkeys((c.platform, c.account_id) for c in sorted(campaigns, key=lambda c: c.index)))
    platform, account_id = accounts[int(rng.integers(len(accounts)))]
    return platform, account_id, None


def well_budgeted(campaigns: Sequence[SandboxCampaign]) -> list[SandboxCampaign]:
    """The campaigns whose base budget is at or above the median of their currency's, in market order."""
    budgets: dict[str, list[float]] = defaultdict(list)
    for c in campaigns:
        budgets[c.currency].append(c.base_budget)
    median = {currency: float(np.median(values)) for currency, values in budgets.items()}
    return sorted((c for c in campaigns if c.base_budget >= median[c.currency]), key=lambda c: c.index)


def apply_faults(pairs: list[tuple[SandboxCampaign, DailyOutcome]], faults: Sequence[Fault], today: date,
                 seen_by: str) -> list[tuple[SandboxCampaign, DailyOutcome]]:
    """``pairs`` (the clean simulation) as ``seen_by`` (``platform`` or ``ga4``) reports them on ``today``, with
    the faults that report shows; the pairs themselves when none concerns them."""
    faults = [f for f in faults if seen_by in SEEN_BY[f.kind]]
    if not faults:
        return pairs
    return [(c, _faulted(out, mine, today) if (mine := [f for f in faults if f.concerns(c)]) else out)
            for c, out in pairs]


def _faulted(out: DailyOutcome, faults: list[Fault], today: date) -> DailyOutcome:
    """``out`` with ``faults`` applied in order (days dropped, metrics zeroed or multiplied)."""
    if not out.dates:
        return out
    offsets = np.arange(len(out.dates)) + (out.dates[0] - EPOCH).days
    age = (today - EPOCH).days - offsets  # days between each day and today
    spend, impressions, clicks = out.spend.copy(), out.impressions.copy(), out.clicks.copy()
    conversions, value = out.conversions.copy(), out.conversion_value.copy()
    keep = np.ones(len(offsets), dtype=bool)
    # (metric, decimals kept): impressions and clicks stay whole counts for any factor.
    delivery, outcomes = ((spend, 2), (impressions, 0), (clicks, 0)), ((conversions, 2), (value, 2))
    for f in faults:
        on = offsets >= (f.start - EPOCH).days
        if f.last is not None:
            on &= offsets <= (f.last - EPOCH).days
        if f.kind == "tracking_break":
            _scale(outcomes, on, f.multiplier)
        elif f.kind == "spend_spike":
            _scale(delivery, on, f.multiplier)
        elif f.kind == "zero_delivery":
            keep &= ~on
        elif f.kind == "missing_day":
            keep &= ~(on & (age <= 1))
        else:  # restatement: only a fetch two or more days later sees it
            on &= age >= 2
            _scale((*delivery, *outcomes), on, f.multiplier)
    return DailyOutcome(
        dates=[d for d, k in zip(out.dates, keep, strict=True) if k],
        spend=spend[keep], impressions=impressions[keep], clicks=clicks[keep], conversions=conversions[keep],
        conversion_value=value[keep], effective_spend=out.effective_spend[keep],
    )


def _scale(metrics: tuple[tuple[np.ndarray, int], ...], on: np.ndarray, factor: float) -> None:
    """Multiply the days ``on`` of each (metric, decimals) by ``factor`` in place, rounded to its decimals."""
    for metric, decimals in metrics:
        metric[on] = np.round(metric[on] * factor, decimals)
