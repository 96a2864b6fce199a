"""The explanation written from the plan's numbers alone: always available, always correct.

Every number in these sentences comes from ``plan_payload``, so the same
grounding check that guards Claude's text passes on this one.
"""

from __future__ import annotations

from mbo_pipelines.defs.explain.facts import (
    CampaignKey,
    CampaignLine,
    Direction,
    Explanation,
    PlanFacts,
    ga4_unmatched_spend_pct,
    is_capped,
    moved_amounts,
    plan_marginal_roas,
    plan_payload,
)

NO_KEY_REASON = "no ANTHROPIC_API_KEY set"
LARGEST_SHOWN = 3


def money(amount: float) -> str:
    return f"{amount:,.2f}"


def signed_money(amount: float) -> str:
    return f"{amount:+,.2f}"


def signed_pct(pct: float) -> str:
    """``+30%``, ``-12.5%``: one decimal, dropped when it is zero."""
    text = f"{pct:+.1f}"
    return f"{text.removesuffix('.0')}%"


def ratio(value: float) -> str:
    return f"{value:.2f}"


def _compare(line: CampaignLine, threshold: float | None) -> str:
    """``marginal ROAS 2.41 is above the plan's 1.62`` (compared as shown, to two decimals)."""
    own = ratio(line.marginal_roas)
    if threshold is None:
        return f"marginal ROAS {own}"
    plan = ratio(threshold)
    if own == plan:
        return f"marginal ROAS {own} matches the plan's {plan}"
    relation = "above" if line.marginal_roas > threshold else "below"
    return f"marginal ROAS {own} is {relation} the plan's {plan}"


def campaign_sentence(line: CampaignLine, plan: PlanFacts, threshold: float | None) -> str:
    """One sentence saying what the plan does to a campaign and the marginal ROAS behind it."""
    currency = line.currency
    if line.held_reason:
        return f"Keep {money(line.current_daily_budget)} {currency} (held: {line.held_reason})."
    comparison = _compare(line, threshold)
    if line.direction == "keep":
        return f"Keep {money(line.current_daily_budget)} {currency} (unchanged): {comparison}."
    verb = "Raise" if line.direction == "raise" else "Cut"
    change = "new spend" if line.change_pct is None else signed_pct(line.change_pct)
    if is_capped(line, plan):
        change += ", the max-change cap"
    doubt = f" Low confidence, so it waits for approval: {line.low_confidence_reason}" if line.low_confidence_reason else ""
    return (
        f"{verb} {money(line.current_daily_budget)} → {money(line.recommended_daily_budget)} {currency} "
        f"({change}): {comparison}.{doubt}"
    )


def campaign_explanations(plan: PlanFacts) -> dict[CampaignKey, str]:
    """The per-campaign sentences, keyed by (platform, account_id, campaign_id)."""
    threshold = plan_marginal_roas(plan)
    return {line.key: campaign_sentence(line, plan, threshold) for line in plan.campaigns}


def _amounts(by_currency: dict[str, float]) -> str:
    return " + ".join(f"{money(amount)} {currency}" for currency, amount in by_currency.items())


def _campaigns(count: int) -> str:
    return f"{count} campaign" if count == 1 else f"{count} campaigns"


def _roas_range(lines: list[CampaignLine]) -> str:
    low = ratio(min(line.marginal_roas for line in lines))
    high = ratio(max(line.marginal_roas for line in lines))
    return f"marginal ROAS {low}" if low == high else f"marginal ROAS {low} to {high}"


def _group(plan: PlanFacts, direction: Direction) -> list[CampaignLine]:
    return [line for line in plan.campaigns if line.direction == direction]


def _reallocation(plan: PlanFacts) -> str:
    """What happens to the budget: moved, or cut and added, between which campaigns."""
    raised, cut, kept = (_group(plan, direction) for direction in ("raise", "cut", "keep"))
    total = f"{money(plan.total_daily_budget_reporting)} {plan.reporting_currency}"
    if not raised and not cut:
        return f"the plan keeps all {_campaigns(len(kept))} at their current budgets ({total} daily)"
    added, removed = moved_amounts(plan, "raise"), moved_amounts(plan, "cut")
    if raised and cut and added == removed:
        moved = _amounts(added)
        if list(added) == [plan.reporting_currency]:
            moved = money(added[plan.reporting_currency])
        text = (
            f"the plan moves {moved} of {total} daily budget from {_campaigns(len(cut))} with "
            f"{_roas_range(cut)} to {_campaigns(len(raised))} with {_roas_range(raised)}"
        )
    else:
        parts = []
        if cut:
            parts.append(f"cuts {_amounts(removed)} from {_campaigns(len(cut))} with {_roas_range(cut)}")
        if raised:
            parts.append(f"adds {_amounts(added)} to {_campaigns(len(raised))} with {_roas_range(raised)}")
        text = f"the plan {' and '.join(parts)}, for a total daily budget of {total}"
    if kept:
        text += f"; {_campaigns(len(kept))} unchanged"
    threshold = plan_marginal_roas(plan)
    if threshold is not None:
        text += f"; the plan's marginal ROAS is {ratio(threshold)}"
    return text


def _value_change(plan: PlanFacts) -> str:
    payload = plan_payload(plan)
    now, new = plan.expected_value_current_reporting, plan.expected_value_recommended_reporting
    currency = plan.reporting_currency
    if money(now) == money(new):
        return f"Expected daily value stays at {money(now)} {currency}."
    verb = "rises" if new > now else "falls"
    detail = signed_money(payload["expected_value_change_reporting"])
    if payload["expected_value_change_pct"] is not None:
        detail += f", {signed_pct(payload['expected_value_change_pct'])}"
    return f"Expected daily value {verb} from {money(now)} to {money(new)} {currency} ({detail})."


def _largest(plan: PlanFacts, direction: Direction) -> str:
    lines = sorted(
        _group(plan, direction),
        key=lambda line: abs(line.reporting_change(plan.reporting_currency) or line.change),
        reverse=True,
    )[:LARGEST_SHOWN]
    items = []
    for line in lines:
        pct = "new spend" if line.change_pct is None else signed_pct(line.change_pct)
        items.append(f"{line.label} {signed_money(line.change)} {line.currency} ({pct})")
    return "; ".join(items)


def _solver(plan: PlanFacts) -> str:
    text = f"Solver: {plan.solver_message.strip().rstrip('.') or 'no message'}"
    if plan.optimality_gap is not None and "optimality gap" not in text:
        text += f"; optimality gap {100.0 * plan.optimality_gap:.2f}%"
    return text + "."


def plan_text(plan: PlanFacts) -> str:
    """The plan-level summary, without its label."""
    sentences = [_reallocation(plan) + ".", _value_change(plan)]
    for title, direction in (("Largest increases", "raise"), ("Largest cuts", "cut")):
        if items := _largest(plan, direction):
            sentences.append(f"{title}: {items}.")
    sentences.append(_solver(plan))
    return " ".join(sentences)


def conversion_source_sentence(plan: PlanFacts) -> str:
    """Which conversion values the plan was fitted on, in one sentence ("" when the facts do not say)."""
    source = plan.conversion_source
    if source is None:
        return ""
    if source == "platform":
        return "Conversion values: as the platforms report them (MBO_CONVERSION_SOURCE=platform)."
    if source != "deduplicated":
        return f"Conversion values: {source} (MBO_CONVERSION_SOURCE={source})."
    pct = ga4_unmatched_spend_pct(plan)
    share = "" if pct is None else f" ({f'{pct:.1f}'.removesuffix('.0')}% of the history's spend)"
    return (
        "Conversion values: de-duplicated against GA4 (marts.fct_campaign_attribution, "
        f"MBO_CONVERSION_SOURCE=deduplicated); campaigns GA4 could not match{share} keep their platform numbers."
    )


def deterministic_explanation(plan: PlanFacts, fallback_reason: str | None = None) -> Explanation:
    """The plan explained from its numbers alone, labelled as such.

    ``fallback_reason`` is given when a Claude explanation was attempted and
    failed; the label then says why Claude's text is missing.
    """
    why = NO_KEY_REASON if fallback_reason is None else f"Claude explanation unavailable: {fallback_reason}"
    return Explanation(
        text=f"Deterministic explanation ({why}): {plan_text(plan)}",
        source="deterministic",
        model=None,
        campaign_explanations=campaign_explanations(plan),
        fallback_reason=fallback_reason,
    )
