"""The numbers a budget plan is explained from, and the values derived from them.

``PlanFacts`` holds what the optimizer decided; ``plan_payload`` turns it into
the JSON both explanations are built from: the facts plus the few derived
values (changes, percentages, sums, counts) an explanation may quote. Claude
is shown exactly this payload, and its text is checked against the numbers in it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Literal

CampaignKey = tuple[str, str, str]
Direction = Literal["raise", "cut", "keep"]

# Budgets are stored to the cent (numeric(18, 2)): anything smaller is no change.
CENT = 0.01


@dataclass(frozen=True)
class CampaignLine:
    """One campaign of a plan. Budgets and expected values are daily, in the campaign's currency.

    ``marginal_roas`` is the solver's marginal return on ad spend for the
    campaign at its recommended budget (value earned by one more unit of spend).
    The two optional ``*_reporting`` budgets are the same budgets converted to
    the plan's reporting currency; without them, amounts in other currencies
    are never added together. A held campaign (``held_reason``) keeps its budget and its
    expected values come from its platform's typical curve.
    """

    platform: str
    account_id: str
    campaign_id: str
    campaign_name: str | None
    currency: str
    current_daily_budget: float
    recommended_daily_budget: float
    expected_value_current: float
    expected_value_recommended: float
    marginal_roas: float
    current_daily_budget_reporting: float | None = None
    recommended_daily_budget_reporting: float | None = None
    #: Why the plan keeps this campaign's budget whatever the others' (e.g. no spend history); None: it did not.
    held_reason: str | None = None
    #: Open alerts on the campaign's input data (its change then waits for approval, unless held).
    low_confidence_reason: str | None = None

    @property
    def key(self) -> CampaignKey:
        return (self.platform, self.account_id, self.campaign_id)

    @property
    def label(self) -> str:
        return f"{self.campaign_name or self.campaign_id} ({self.platform})"

    @property
    def change(self) -> float:
        return self.recommended_daily_budget - self.current_daily_budget

    @property
    def change_pct(self) -> float | None:
        """Budget change in percent of the current budget; None when there was no budget."""
        if self.current_daily_budget <= 0:
            return None
        return 100.0 * self.change / self.current_daily_budget

    @property
    def direction(self) -> Direction:
        if self.change >= CENT / 2:
            return "raise"
        if self.change <= -CENT / 2:
            return "cut"
        return "keep"

    def reporting_change(self, reporting_currency: str) -> float | None:
        """Budget change in the reporting currency, or None when it cannot be known."""
        if self.current_daily_budget_reporting is not None and self.recommended_daily_budget_reporting is not None:
            return self.recommended_daily_budget_reporting - self.current_daily_budget_reporting
        if self.currency == reporting_currency:
            return self.change
        return None


@dataclass(frozen=True)
class PlanFacts:
    """A whole plan: its totals (in the reporting currency) and its campaigns.

    ``optimality_gap`` is relative (0.001 means the plan is proven within 0.1%
    of the best achievable expected value). ``max_change_fraction`` is the
    per-campaign cap on budget changes (0.3 = at most ±30%), when the solver had
    one. ``plan_marginal_roas`` is the solver's shadow price: what one more unit
    of budget earns at the optimum; when not given it is taken from the
    campaigns no bound holds (at the optimum they all share it).
    ``conversion_source`` names the conversion values the curves were fitted on
    (``"platform"`` or ``"deduplicated"``, ``MBO_CONVERSION_SOURCE``);
    ``ga4_unmatched_spend_share`` (0..1, de-duplicated plans) is the share of the
    history's spend on campaigns GA4 could not match, which keep their platform numbers.
    """

    reporting_currency: str
    total_daily_budget_reporting: float
    expected_value_current_reporting: float
    expected_value_recommended_reporting: float
    optimality_gap: float | None
    solver_message: str
    campaigns: tuple[CampaignLine, ...] = field(default_factory=tuple)
    max_change_fraction: float | None = None
    plan_marginal_roas: float | None = None
    conversion_source: str | None = None
    ga4_unmatched_spend_share: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "campaigns", tuple(self.campaigns))


@dataclass(frozen=True)
class Explanation:
    """A plan explanation: the plan-level text and one grounded sentence per campaign.

    ``source`` says who wrote ``text``: ``"claude"`` (``model`` names the
    model) or ``"deterministic"``. ``fallback_reason`` says why Claude's text
    was not used when a Claude explanation was attempted and failed.
    """

    text: str
    source: Literal["claude", "deterministic"]
    model: str | None
    campaign_explanations: dict[CampaignKey, str]
    fallback_reason: str | None = None


def is_capped(line: CampaignLine, plan: PlanFacts) -> bool:
    """Whether the campaign's change is exactly the plan's max-change cap (to the cent)."""
    cap = plan.max_change_fraction
    if cap is None or line.direction == "keep" or line.current_daily_budget <= 0:
        return False
    return abs(abs(line.change) - cap * line.current_daily_budget) <= CENT


def plan_marginal_roas(plan: PlanFacts) -> float | None:
    """The plan's marginal ROAS: given by the solver, else the median over campaigns no bound holds."""
    if plan.plan_marginal_roas is not None:
        return plan.plan_marginal_roas
    free = [
        line.marginal_roas
        for line in plan.campaigns
        if not is_capped(line, plan) and line.recommended_daily_budget > 0
    ]
    return statistics.median(free) if free else None


def moved_amounts(plan: PlanFacts, direction: Direction) -> dict[str, float]:
    """Total budget raised (or cut) by campaigns in ``direction``, by currency.

    One amount in the reporting currency when every such campaign can be
    converted; otherwise one amount per campaign currency.
    """
    lines = [line for line in plan.campaigns if line.direction == direction]
    reporting = [line.reporting_change(plan.reporting_currency) for line in lines]
    if all(change is not None for change in reporting):
        return {plan.reporting_currency: round(abs(sum(reporting)), 2)} if lines else {}
    by_currency: dict[str, float] = {}
    for line in lines:
        by_currency[line.currency] = by_currency.get(line.currency, 0.0) + abs(line.change)
    return {currency: round(amount, 2) for currency, amount in sorted(by_currency.items())}


def _pct(new: float, old: float) -> float | None:
    return None if old == 0 else round(100.0 * (new - old) / abs(old), 2)


def _opt_round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def campaign_payload(line: CampaignLine, plan: PlanFacts) -> dict:
    """One campaign's facts and derived values, rounded as an explanation may quote them."""
    return {
        "platform": line.platform,
        "account_id": line.account_id,
        "campaign_id": line.campaign_id,
        "campaign_name": line.campaign_name,
        "currency": line.currency,
        "current_daily_budget": round(line.current_daily_budget, 2),
        "recommended_daily_budget": round(line.recommended_daily_budget, 2),
        "budget_change": round(line.change, 2),
        "budget_change_pct": _opt_round(line.change_pct, 2),
        "direction": line.direction,
        "capped_by_max_change": is_capped(line, plan),
        "expected_value_current": round(line.expected_value_current, 2),
        "expected_value_recommended": round(line.expected_value_recommended, 2),
        "expected_value_change": round(line.expected_value_recommended - line.expected_value_current, 2),
        "expected_value_change_pct": _pct(line.expected_value_recommended, line.expected_value_current),
        "marginal_roas": round(line.marginal_roas, 4),
        "current_daily_budget_reporting": _opt_round(line.current_daily_budget_reporting, 2),
        "recommended_daily_budget_reporting": _opt_round(line.recommended_daily_budget_reporting, 2),
        "held_reason": line.held_reason,
        "low_confidence_reason": line.low_confidence_reason,
    }


def ga4_unmatched_spend_pct(plan: PlanFacts) -> float | None:
    """The share of the history's spend GA4 could not match, in percent to two decimals (None if not known)."""
    share = plan.ga4_unmatched_spend_share
    return None if share is None else round(100.0 * share, 2)


def largest_moves(plan: PlanFacts, count: int) -> list[CampaignLine]:
    """The ``count`` campaigns whose budgets move most (in the reporting currency where known), in plan order."""
    def size(line: CampaignLine) -> float:
        change = line.reporting_change(plan.reporting_currency)
        return abs(line.change if change is None else change)

    chosen = set(sorted(range(len(plan.campaigns)), key=lambda i: -size(plan.campaigns[i]))[:count])
    return [line for i, line in enumerate(plan.campaigns) if i in chosen]


def plan_payload(plan: PlanFacts, max_campaigns: int | None = None) -> dict:
    """The plan's facts plus derived values: everything an explanation may quote.

    ``max_campaigns`` lists only that many campaigns, those whose budgets move most (the
    counts and totals still cover every campaign): a prompt for thousands of campaigns would
    not fit a model's context, and an explanation names a few anyway.
    """
    counts = {direction: 0 for direction in ("raise", "cut", "keep")}
    for line in plan.campaigns:
        counts[line.direction] += 1
    value_now, value_new = plan.expected_value_current_reporting, plan.expected_value_recommended_reporting
    gap = plan.optimality_gap
    cap = plan.max_change_fraction
    listed = plan.campaigns if max_campaigns is None else largest_moves(plan, max_campaigns)
    return {
        "reporting_currency": plan.reporting_currency,
        "total_daily_budget_reporting": round(plan.total_daily_budget_reporting, 2),
        "expected_value_current_reporting": round(value_now, 2),
        "expected_value_recommended_reporting": round(value_new, 2),
        "expected_value_change_reporting": round(value_new - value_now, 2),
        "expected_value_change_pct": _pct(value_new, value_now),
        "optimality_gap": gap,
        "optimality_gap_pct": None if gap is None else round(100.0 * gap, 4),
        "solver_message": plan.solver_message,
        "max_change_pct": None if cap is None else round(100.0 * cap, 2),
        "conversion_source": plan.conversion_source,
        "ga4_unmatched_spend_pct": ga4_unmatched_spend_pct(plan),
        "plan_marginal_roas": _opt_round(plan_marginal_roas(plan), 4),
        "campaign_count": len(plan.campaigns),
        "campaigns_raised": counts["raise"],
        "campaigns_cut": counts["cut"],
        "campaigns_unchanged": counts["keep"],
        "budget_added_by_currency": moved_amounts(plan, "raise"),
        "budget_cut_by_currency": moved_amounts(plan, "cut"),
        "campaigns_listed": len(listed),
        "campaigns": [campaign_payload(line, plan) for line in listed],
    }
