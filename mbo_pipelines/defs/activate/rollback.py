"""``mbo rollback PLAN``: a new plan that restores the budgets in force before PLAN's applied changes.

The rollback is a plan like any other (``marts.budget_plans.rollback_of`` names
the plan it undoes), pushed through the same guardrails, approvals and ledger:
a budget changed by hand since PLAN is left alone (``stale_plan``), and undoing
a change within a day is always inside the rolling limit.
"""

from __future__ import annotations

from datetime import datetime, timezone

import psycopg
from psycopg.rows import dict_row

from mbo_pipelines.defs.activate import ledger
from mbo_pipelines.defs.optimize.planning import new_plan_id
from mbo_pipelines.defs.optimize.store import RECOMMENDATION_COLUMNS
from mbo_pipelines.defs.optimize.tables import ensure_plan_tables


def create_rollback_plan(conn: psycopg.Connection, plan_id: str, now: datetime | None = None) -> str:
    """Write the rollback plan of ``plan_id`` (one row per change of it that was applied); return its id."""
    now = now or datetime.now(timezone.utc)
    ensure_plan_tables(conn)
    ledger.ensure_ledger(conn)
    with conn.cursor(row_factory=dict_row) as cur:
        plan = cur.execute("select * from marts.budget_plans where plan_id = %s", (plan_id,)).fetchone()
        if plan is None:
            raise LookupError(f"no plan {plan_id!r} in marts.budget_plans")
        rows = cur.execute(
            """
            select r.*, c.new_daily_budget as in_force, coalesce(c.live_daily_budget, c.old_daily_budget) as before
            from activation.budget_changes c
            join marts.budget_recommendations r using (plan_id, platform, account_id, campaign_id)
            where c.plan_id = %s and c.status = 'applied'
            order by r.platform, r.account_id, r.campaign_id
            """,
            (plan_id,),
        ).fetchall()
    if not rows:
        raise LookupError(f"plan {plan_id} has no applied budget change to roll back")
    rollback_id = new_plan_id(now).replace("plan-", "rollback-", 1)
    recommendations = []
    for r in rows:
        rate = float(r["current_daily_budget_reporting"]) / float(r["current_daily_budget"])
        recommendations.append((
            rollback_id, r["platform"], r["account_id"], r["campaign_id"], r["campaign_name"], r["currency"],
            r["in_force"], r["before"], r["expected_value_recommended"], r["expected_value_current"],
            r["marginal_roas"], r["reporting_currency"], float(r["in_force"]) * rate, float(r["before"]) * rate,
            f"Back to {r['before']} {r['currency']}, the budget before plan {plan_id}.", "rollback", now,
            None,  # low_confidence_reason: undoing a plan restores known budgets, whatever the alerts say
        ))
    total = sum(rec[13] for rec in recommendations)
    value_now = sum(float(rec[8]) * rec[12] / float(rec[6]) for rec in recommendations)  # reporting units
    value_back = sum(float(rec[9]) * rec[12] / float(rec[6]) for rec in recommendations)
    with conn.transaction():
        conn.execute(
            """
            insert into marts.budget_plans (
              plan_id, created_at, reporting_currency, total_daily_budget_reporting, expected_value_current_reporting,
              expected_value_recommended_reporting, campaign_count, history_start, history_end, solver_success,
              solver_message, explanation, explanation_source, rollback_of)
            values (%s, %s, %s, %s, %s, %s, %s, %s, %s, true, %s, %s, 'rollback', %s)
            """,
            (rollback_id, now, plan["reporting_currency"], total, value_now, value_back, len(recommendations),
             plan["history_start"], plan["history_end"], f"rollback of plan {plan_id}",
             f"Rollback of plan {plan_id}: {len(recommendations)} budget(s) back to where they were before it.",
             plan_id),
        )
        with conn.cursor() as cur:
            # The tuples above follow the optimizer's column list, the one definition of a recommendation row.
            cur.executemany(
                f"insert into marts.budget_recommendations ({', '.join(RECOMMENDATION_COLUMNS)}) "
                f"values ({', '.join(['%s'] * len(RECOMMENDATION_COLUMNS))})",
                recommendations,
            )
    return rollback_id
