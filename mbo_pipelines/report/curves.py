"""The plan's response curves for the report, and its charts (the ones its Dagster materialization shows).

Curve parameters are not stored with a plan, but a plan can be reproduced from SQL (``store.read_history``):
its history window of ``marts.opt_campaign_inputs``, in its conversion source, fitted as ``build_plan`` fits it
(the same campaigns, ``CURVE_SETTINGS``, a zero-spend day for a campaign without rows). The fit is checked
against the plan: at the plan's budgets the curves must give the expected values stored with it, and the
report says how closely they do (a lookback re-read or an FX correction since the plan moves them).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np
import pandas as pd
import psycopg

from mbo_pipelines import warehouse
from mbo_pipelines.defs.optimize import charts, store
from mbo_pipelines.defs.optimize.planning import CURVE_SETTINGS, DEFAULT_CONVERSION_SOURCE, KEY, Plan
from mbo_pipelines.report.data import PlanReport
from optimizer import fit_response_curves


@dataclass(frozen=True)
class Chart:
    """A chart as a ``data:`` URI of a PNG, or, when it could not be drawn, ``None`` and why (``note``)."""

    alt: str
    data_uri: str | None
    note: str = ""


def stored_plan(report: PlanReport) -> Plan:
    """The stored plan as an ``optimize.planning.Plan`` the chart helpers draw (no curves yet: ``refit_curves``)."""
    return Plan(
        plan_id=report.plan["plan_id"], created_at=report.plan["created_at"],
        reporting_currency=report.plan["reporting_currency"], history_start=report.plan["history_start"],
        history_end=report.plan["history_end"], total_daily_budget_reporting=float(report.recommended_total),
        # matplotlib reads text between two "$" as mathematics: a campaign called "$5 off $20" stays text.
        rows=report.rows.assign(campaign_name=report.rows["campaign_name"].fillna("").str.replace("$", r"\$")),
        solver_success=bool(report.plan["solver_success"]), solver_message=report.plan["solver_message"],
        optimality_gap=report.plan["optimality_gap"],
        conversion_source=report.plan.get("conversion_source") or DEFAULT_CONVERSION_SOURCE,
    )


def refit_curves(conn: psycopg.Connection, plan: Plan, report: PlanReport) -> str:
    """Give ``plan`` its response curves, refitted on its history as it is in the marts now (``curves``,
    ``curve_index``, ``observed``); return a sentence on where they come from and how closely they give the plan's
    expected values, or on why there are none."""
    if report.plan.get("rollback_of"):
        return f"A rollback plan fits no response curves (it undoes plan {report.plan['rollback_of']})."
    if not warehouse.table_exists(conn, store.INPUTS_TABLE):
        return f"No response curves: {store.INPUTS_TABLE} does not exist any more."
    start, end = plan.history_start, plan.history_end
    daily = store.read_history(conn, (end - start).days + 1, end, plan.conversion_source)
    campaigns = report.rows[KEY].astype(str).reset_index(drop=True)
    curve_id = campaigns.agg("|".join, axis=1)
    history = daily.merge(campaigns.assign(curve_id=curve_id), on=KEY, how="inner")
    if history.empty:
        return f"No response curves: {store.INPUTS_TABLE} has no rows of the plan's campaigns in {start}..{end}."
    fit_input = pd.DataFrame({
        "campaign_id": history["curve_id"], "platform": history["platform"],
        "date": pd.to_datetime(history["date_day"]), "spend": history["spend_reporting"].astype(float),
        "conversion_value": history["conversion_value_reporting"].astype(float),
    })
    unseen = ~curve_id.isin(fit_input["campaign_id"])
    zero = pd.DataFrame({"campaign_id": curve_id[unseen], "platform": campaigns["platform"][unseen],
                         "date": fit_input["date"].max(), "spend": 0.0, "conversion_value": 0.0})
    curves = fit_response_curves(pd.concat([fit_input, zero], ignore_index=True), **CURVE_SETTINGS)
    plan.curves = curves
    plan.curve_index = pd.Index(curves.campaign_ids).get_indexer(curve_id)
    plan.observed = pd.DataFrame({
        "curve_index": pd.Index(curves.campaign_ids).get_indexer(fit_input["campaign_id"]),
        "spend": fit_input["spend"].to_numpy(), "conversion_value": fit_input["conversion_value"].to_numpy(),
    })
    return _fidelity(plan, report, start, end)


def refit_deviation(plan: Plan, report: PlanReport) -> float:
    """Largest relative difference between the plan's stored expected values (current, recommended; reporting
    currency) and what the refitted curves give at its budgets."""
    deviation = 0.0
    for budget, stored in (("current_daily_budget_reporting", "expected_value_current_reporting"),
                           ("recommended_daily_budget_reporting", "expected_value_recommended_reporting")):
        spend = np.zeros(len(plan.curves))
        spend[plan.curve_index] = report.rows[budget].to_numpy(float)
        fitted = float(np.sum(np.asarray(plan.curves.value(spend))[plan.curve_index]))
        expected = float(report.plan[stored])
        deviation = max(deviation, abs(fitted - expected) / max(abs(expected), 1e-9))
    return deviation


def _fidelity(plan: Plan, report: PlanReport, start, end) -> str:
    deviation = refit_deviation(plan, report)
    where = (f"Curves refitted on the plan's history ({start}..{end}, {plan.conversion_source} conversion values) as "
             f"{store.INPUTS_TABLE} holds it now")
    if deviation <= 1e-6:
        return f"{where}: at the plan's budgets they give its expected values exactly."
    return (f"{where}: at the plan's budgets they give expected values {deviation:.2%} off the plan's "
            "(days re-read or corrected since the plan was made).")


def render_charts(plan: Plan) -> list[Chart]:
    """The per-platform bars and, when the plan has curves, the response curves, as the asset draws them."""
    currency = plan.reporting_currency
    wanted = [(charts.allocation_by_platform_png, f"Daily budget per platform, current vs recommended ({currency})")]
    if plan.curves is not None:
        wanted.append((charts.response_curves_png, f"Response curves of the largest campaigns ({currency}/day)"))
    drawn = []
    for render, alt in wanted:
        try:
            uri = "data:image/png;base64," + base64.b64encode(render(plan)).decode("ascii")
            drawn.append(Chart(alt, uri))
        except Exception as error:  # noqa: BLE001 - a picture that fails must not cost the rest of the report
            drawn.append(Chart(alt, None, f"{alt}: not drawn ({type(error).__name__}: {error})"))
    return drawn
