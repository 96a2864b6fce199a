"""The ``budget_recommendations`` asset: a new budget plan from the marts, explained, in ``marts``."""

import os

import dagster as dg

from mbo_pipelines import settings, warehouse
from mbo_pipelines.defs.explain.explanations import explain_plan
from mbo_pipelines.defs.explain.facts import CampaignLine, PlanFacts
from mbo_pipelines.defs.optimize import store
from mbo_pipelines.defs.optimize.planning import Plan, build_plan
from mbo_pipelines.resources import MboResource


def max_budget_change() -> float:
    """Largest relative change per campaign and plan (``MBO_MAX_BUDGET_CHANGE``, default 0.30)."""
    value = float(os.environ.get("MBO_MAX_BUDGET_CHANGE", "0.3"))
    if not 0 < value < 1:
        raise ValueError(f"MBO_MAX_BUDGET_CHANGE must be between 0 and 1, got {value}")
    return value


def plan_facts(plan: Plan, max_change: float) -> PlanFacts:
    """The numbers an explanation may use, taken from the plan."""
    lines = tuple(
        CampaignLine(
            platform=r.platform, account_id=r.account_id, campaign_id=r.campaign_id,
            campaign_name=r.campaign_name, currency=r.currency,
            current_daily_budget=float(r.current_daily_budget),
            recommended_daily_budget=float(r.recommended_daily_budget),
            expected_value_current=float(r.expected_value_current),
            expected_value_recommended=float(r.expected_value_recommended),
            marginal_roas=float(r.marginal_roas),
            current_daily_budget_reporting=float(r.current_daily_budget_reporting),
            recommended_daily_budget_reporting=float(r.recommended_daily_budget_reporting),
        )
        for r in plan.rows.itertuples(index=False)
    )
    return PlanFacts(
        reporting_currency=plan.reporting_currency,
        total_daily_budget_reporting=plan.total_daily_budget_reporting,
        expected_value_current_reporting=plan.expected_value_current_reporting,
        expected_value_recommended_reporting=plan.expected_value_recommended_reporting,
        optimality_gap=plan.optimality_gap,
        solver_message=plan.solver_message,
        campaigns=lines,
        max_change_fraction=max_change,
        plan_marginal_roas=plan.marginal_roas,
    )


def _preview(plan: Plan) -> str:
    header = "| platform | campaign | currency | current | recommended | marginal ROAS |\n|---|---|---|---:|---:|---:|\n"
    body = "\n".join(
        f"| {r.platform} | {r.campaign_name} | {r.currency} | {r.current_daily_budget:,.2f} | "
        f"{r.recommended_daily_budget:,.2f} | {r.marginal_roas:.2f} |"
        for r in plan.rows.itertuples(index=False)
    )
    return header + body


@dg.asset(
    key="budget_recommendations",
    group_name="optimize",
    deps=[dg.AssetKey(["marts", "fct_campaign_daily"]), dg.AssetKey(["marts", "dim_campaign"])],
    kinds={"python", "scipy", "postgres"},
    description=(
        "A budget plan: response curves fitted on marts.fct_campaign_daily, today's total budget "
        "reallocated across active campaigns (±MBO_MAX_BUDGET_CHANGE each), explained; written to "
        "marts.budget_plans and marts.budget_recommendations."
    ),
)
def budget_recommendations(context: dg.AssetExecutionContext, mbo: MboResource) -> dg.MaterializeResult:
    """Plan, explain and store; the plan_id in the metadata is what the push sensor acts on."""
    max_change = max_budget_change()
    with warehouse.connect(mbo.url()) as conn:
        history = store.read_history(conn, settings.history_days())
        campaigns = store.read_active_campaigns(conn)
    context.log.info(f"planning {len(campaigns)} active campaigns on {len(history)} history rows")
    plan = build_plan(history, campaigns, settings.reporting_currency(), max_change=max_change)
    explanation = explain_plan(plan_facts(plan, max_change))
    if explanation.fallback_reason:
        context.log.warning(f"Claude explanation not used: {explanation.fallback_reason}")
    with warehouse.connect(mbo.url()) as conn:
        store.write_plan(conn, plan, explanation.text, explanation.source, explanation.campaign_explanations)

    uplift = plan.expected_value_recommended_reporting - plan.expected_value_current_reporting
    return dg.MaterializeResult(
        metadata={
            "plan_id": dg.MetadataValue.text(plan.plan_id),
            "campaigns": dg.MetadataValue.int(len(plan.rows)),
            "reporting_currency": dg.MetadataValue.text(plan.reporting_currency),
            "total_daily_budget": dg.MetadataValue.float(round(plan.total_daily_budget_reporting, 2)),
            "expected_value_current": dg.MetadataValue.float(round(plan.expected_value_current_reporting, 2)),
            "expected_value_recommended": dg.MetadataValue.float(round(plan.expected_value_recommended_reporting, 2)),
            "expected_uplift": dg.MetadataValue.float(round(uplift, 2)),
            "optimality_gap": dg.MetadataValue.float(plan.optimality_gap if plan.optimality_gap is not None else float("nan")),
            "solver_message": dg.MetadataValue.text(plan.solver_message),
            "history": dg.MetadataValue.text(f"{plan.history_start}..{plan.history_end}"),
            "explanation_source": dg.MetadataValue.text(explanation.source),
            "explanation": dg.MetadataValue.md(explanation.text),
            "recommendations": dg.MetadataValue.md(_preview(plan)),
        }
    )
