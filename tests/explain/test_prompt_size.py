"""A plan with thousands of campaigns still makes a prompt that fits: only the largest moves are listed."""

import json

from mbo_pipelines.defs.explain.explanations import PROMPT_CAMPAIGNS, CampaignLine, PlanFacts, system_prompt
from mbo_pipelines.defs.explain.facts import largest_moves, plan_payload


def big_plan(campaigns: int = 3_000) -> PlanFacts:
    """Campaign k moves by k USD (up for even k, down for odd), so the largest moves are the last ones."""
    lines = [
        CampaignLine(
            platform="meta_ads", account_id="act_1", campaign_id=f"c{k}", campaign_name=f"Campaign {k}",
            currency="USD", current_daily_budget=10_000.0, recommended_daily_budget=10_000.0 + (k if k % 2 == 0 else -k),
            expected_value_current=20_000.0, expected_value_recommended=20_000.0, marginal_roas=1.5,
        )  # fmt: skip
        for k in range(campaigns)
    ]
    return PlanFacts(
        reporting_currency="USD", total_daily_budget_reporting=3e7, expected_value_current_reporting=6e7,
        expected_value_recommended_reporting=6.1e7, optimality_gap=0.0, solver_message="optimal", campaigns=lines,
    )


def test_the_prompt_lists_only_the_largest_moves_and_says_so():
    plan = big_plan()
    prompt = system_prompt(plan)
    payload = json.loads(prompt[prompt.index("Plan JSON:") + len("Plan JSON:"):])

    assert payload["campaign_count"] == 3_000
    assert payload["campaigns_listed"] == PROMPT_CAMPAIGNS == len(payload["campaigns"])
    assert {c["campaign_id"] for c in payload["campaigns"]} == {f"c{k}" for k in range(3_000 - PROMPT_CAMPAIGNS, 3_000)}
    assert payload["campaigns_raised"] + payload["campaigns_cut"] + payload["campaigns_unchanged"] == 3_000
    assert len(prompt) < 60_000  # ~15k tokens, whatever the plan's size


def test_without_a_limit_every_campaign_is_listed_in_plan_order():
    plan = big_plan(50)
    assert [c["campaign_id"] for c in plan_payload(plan)["campaigns"]] == [f"c{k}" for k in range(50)]
    assert [line.campaign_id for line in largest_moves(plan, 3)] == ["c47", "c48", "c49"]
