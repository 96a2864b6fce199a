"""`mbo rollback PLAN`: a new plan restoring the budgets before PLAN, pushed through the same guardrails and ledger."""

from __future__ import annotations

import dagster as dg
from activate_helpers import CREATED_PLANS, TODAY, cents, insert_plan, ledger_rows, market_rows, scale

from mbo_pipelines import operations, warehouse
from mbo_pipelines.defs.activate import ActivationResource, push_plan
from mbo_pipelines.definitions import build_definitions
from mbo_pipelines.resources import MboResource


def _defs(database_url, market):
    kwargs = {"database_url": database_url, "sandbox_seed": market.seed, "sandbox_today": TODAY.isoformat()}
    return build_definitions(mbo=MboResource(**kwargs), activation=ActivationResource(**kwargs))


def _budget(market, row):
    return cents(market.current_budgets(row.platform)[row.campaign_id])


def test_a_rollback_restores_the_budgets_before_the_plan_except_one_changed_by_hand_since(
        database_url, market, connectors):
    # The full ±30 %: undoing them is a -23 % and a +43 % change of the budgets then in force, allowed because
    # they go back to the budgets in force 24 hours earlier.
    rows = scale(market_rows(market), {0: 1.3, 1: 0.7, 2: 1.1})
    before = {r.campaign_id: r.current for r in rows[:3]}
    plan_id = insert_plan(database_url, rows)
    assert push_plan(database_url, plan_id, connectors).counts["applied"] == 3
    by_hand = cents(rows[2].recommended * 2)  # someone doubled this one since: the rollback leaves it alone
    connectors[rows[2].platform].set_daily_budget(rows[2].account_id, rows[2].campaign_id, by_hand)

    with dg.DagsterInstance.ephemeral() as instance:
        outcome = operations.rollback(_defs(database_url, market), instance, database_url, plan_id)
    CREATED_PLANS.append(outcome.plan_id)

    assert outcome.plan_id.startswith("rollback-") and not outcome.ok  # the stale one is blocked, visibly
    assert [_budget(market, r) for r in rows[:2]] == [before[r.campaign_id] for r in rows[:2]]
    assert _budget(market, rows[2]) == by_hand
    ledger = ledger_rows(database_url, outcome.plan_id)
    assert [ledger[(r.platform, r.account_id, r.campaign_id)]["status"] for r in rows[:3]] == [
        "applied", "applied", "refused"]
    assert ledger[(rows[2].platform, rows[2].account_id, rows[2].campaign_id)]["error"].startswith("stale_plan:")
    # The original changes that were undone say so; the one left alone is still applied.
    original = ledger_rows(database_url, plan_id)
    assert [original[(r.platform, r.account_id, r.campaign_id)]["status"] for r in rows[:3]] == [
        "rolled_back", "rolled_back", "applied"]
    assert all(original[(r.platform, r.account_id, r.campaign_id)]["applied_at"] is not None for r in rows[:3])
    with warehouse.connect(database_url) as conn:
        assert conn.execute("select rollback_of, explanation_source from marts.budget_plans where plan_id = %s",
                            (outcome.plan_id,)).fetchone() == (plan_id, "rollback")


def test_a_plan_with_nothing_applied_has_nothing_to_roll_back(database_url, market):
    plan_id = insert_plan(database_url, market_rows(market))
    with dg.DagsterInstance.ephemeral() as instance:
        outcome = operations.rollback(_defs(database_url, market), instance, database_url, plan_id)
    assert not outcome.ok and outcome.message == f"plan {plan_id} has no applied budget change to roll back"
