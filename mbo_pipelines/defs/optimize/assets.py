"""The plan: assets ``marts/budget_plans`` and ``marts/budget_recommendations``, made by one op
(``budget_recommendations``): a new budget plan from the marts, explained, in ``marts``.

The history is ``marts.opt_campaign_inputs`` with the conversion values ``MBO_CONVERSION_SOURCE`` names (as the
platforms report them, or de-duplicated against GA4); the plan records which, and its explanation says so.

No plan is made on a history window whose blocking data-quality checks failed (``defs/quality/gates``).
A plan's id is a fingerprint of its inputs. When the marts, the history window and the settings are
unchanged since a stored plan, the asset names that plan (``inputs_unchanged``) instead of planning,
explaining and writing it again; the push sensor's run key is the plan id, so it is pushed once.
"""

import html
from datetime import date, datetime, timezone

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, PARTITION_NAME_TAG

from mbo_pipelines import asset_keys, settings, warehouse
from mbo_pipelines.defs.alerts import holds as alert_holds
from mbo_pipelines.defs.alerts import store as alert_store
from mbo_pipelines.defs.alerts.thresholds import thresholds_from_env
from mbo_pipelines.defs.explain.deterministic import conversion_source_sentence
from mbo_pipelines.defs.explain.explanations import explain_plan
from mbo_pipelines.defs.explain.facts import CampaignLine, PlanFacts
from mbo_pipelines.defs.optimize import inline_charts, pacing, store
from mbo_pipelines.defs.quality import gates
from mbo_pipelines.defs.optimize.planning import (
    Plan,
    build_plan,
    ga4_unmatched_spend_share,
    history_window,
    plan_id_from_fingerprint,
    plan_inputs_fingerprint,
)
from mbo_pipelines.report_link import refresh_report
from mbo_pipelines.resources import MboResource


PREVIEW_ROWS = 50  # campaigns in the metadata's recommendations table (the event log keeps every run's)


def plan_facts(plan: Plan, max_change: float, ga4_unmatched_spend_share: float | None = None) -> PlanFacts:
    """The numbers an explanation may use, taken from the plan; ``ga4_unmatched_spend_share``: of its history
    (see ``planning.ga4_unmatched_spend_share``), for a plan on de-duplicated values."""
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
            held_reason=reason if isinstance(reason := getattr(r, "held_reason", None), str) else None,
            low_confidence_reason=doubt if isinstance(doubt := getattr(r, "low_confidence_reason", None), str) else None,
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
        conversion_source=plan.conversion_source,
        ga4_unmatched_spend_share=ga4_unmatched_spend_share,
    )


def _preview(plan: Plan, limit: int = PREVIEW_ROWS) -> str:
    """The plan's largest budget moves as a Markdown table (all of them for a small plan)."""
    rows = plan.rows
    move = (rows["recommended_daily_budget_reporting"] - rows["current_daily_budget_reporting"]).abs()
    shown = rows.loc[move.sort_values(ascending=False, kind="stable").index[:limit]]
    header = "| platform | campaign | currency | current | recommended | marginal ROAS |\n|---|---|---|---:|---:|---:|\n"
    body = "\n".join(
        f"| {r.platform} | {_markdown_cell(r.campaign_name)} | {r.currency} | {r.current_daily_budget:,.2f} | "
        f"{r.recommended_daily_budget:,.2f} | {r.marginal_roas:.2f} |"
        for r in shown.itertuples(index=False)
    )
    more = len(rows) - len(shown)
    note = f"\n\n*The {len(shown)} largest moves; {more:,} more campaigns in marts.budget_recommendations.*" if more else ""
    return header + body + note


def _markdown_cell(text) -> str:
    """``text`` as one cell of a Markdown table, shown as written: HTML escaped, ``|`` not ending the cell,
    ``*`` and ``_`` not starting emphasis."""
    cell = html.escape(str(text)).replace("\n", " ")
    for char in "\\|*_`[]":
        cell = cell.replace(char, "\\" + char)
    return cell


def _scenario_line(plan: Plan, target: float, budget: float, max_change: float) -> str:
    """How much to spend at all: the total at which the next unit of spend returns ``target``."""
    currency = plan.reporting_currency
    return (
        f"Spending until the next {currency} returns {target:.2f} {currency} (each campaign within "
        f"±{max_change:.0%} of its budget): {budget:,.0f} {currency}/day in total, against "
        f"{plan.total_daily_budget_reporting:,.0f} in this plan."
    )


def _chart(context: dg.AssetExecutionContext, markdown, plan: Plan, name: str) -> dg.MetadataValue:
    """A chart small enough for the asset page to show in place (``inline_charts``); one that fails to render is
    logged and noted, not fatal to the plan."""
    try:
        return dg.MetadataValue.md(markdown(plan))
    except Exception as error:  # noqa: BLE001 - pictures must not stop a plan that is already stored
        context.log.warning(f"{name}: chart not rendered: {error!r}")
        return dg.MetadataValue.md(f"*{name}: chart not rendered ({type(error).__name__}: {error})*")


def _outlier_days(plan: Plan) -> dict[str, int]:
    """Days the fit ignored as outliers, per campaign id (only campaigns with any)."""
    if plan.curves is None:
        return {}
    days = plan.curves.diagnostics["outlier_days"]
    return {str(cid): int(n) for cid, n in days[days > 0].items()}


def _optional_float(value: float | None, digits: int | None = None) -> dg.MetadataValue:
    """A float metadata value, NaN when unknown, rounded to ``digits`` if given."""
    if value is None:
        return dg.MetadataValue.float(float("nan"))
    return dg.MetadataValue.float(float(value) if digits is None else round(float(value), digits))


def _unchanged_results(context: dg.AssetExecutionContext, stored: dict, pace: pacing.PacingDecision,
                       fingerprint: str):
    """The stored plan of these very inputs, named in both assets' metadata; nothing planned, explained or written."""
    plan_id, currency = stored["plan_id"], stored["reporting_currency"]
    source = stored.get("conversion_source") or "not recorded"
    status = (
        f"Inputs unchanged (history {stored['history_start']}..{stored['history_end']}, conversion source "
        f"{source}, same data and settings): "
        f"plan {plan_id} of {stored['created_at']:%Y-%m-%d %H:%M %Z} stands; it is not planned, explained, "
        f"stored or pushed again."
    )
    context.log.info(status)
    current, recommended = stored["expected_value_current_reporting"], stored["expected_value_recommended_reporting"]
    yield dg.MaterializeResult(asset_key=asset_keys.PLANS, metadata={
        "plan_id": dg.MetadataValue.text(plan_id),
        "status": dg.MetadataValue.text(status),
        "total_daily_budget": dg.MetadataValue.float(round(stored["total_daily_budget_reporting"], 2)),
        "current_total_daily_budget": dg.MetadataValue.float(round(pace.current_total_reporting, 2)),
        "expected_value_current": dg.MetadataValue.float(round(current, 2)),
        "expected_value_recommended": dg.MetadataValue.float(round(recommended, 2)),
        "expected_uplift": dg.MetadataValue.float(round(recommended - current, 2)),
        "explanation": dg.MetadataValue.md(stored["explanation"]),
        "inputs_unchanged": dg.MetadataValue.bool(True),
        "facts": dg.MetadataValue.json({
            "reporting_currency": currency,
            "campaigns": stored["campaign_count"],
            "history": f"{stored['history_start']}..{stored['history_end']}",
            "pacing": pace.message,
            "conversion_source": source,
            "explanation_source": stored["explanation_source"],
            "plan_created_at": stored["created_at"].isoformat(),
            "inputs_fingerprint": fingerprint,
        }),
    })
    yield dg.MaterializeResult(asset_key=asset_keys.RECOMMENDATIONS, metadata={
        "plan_id": dg.MetadataValue.text(plan_id),
        "dagster/row_count": dg.MetadataValue.int(stored["campaign_count"]),
        "dagster/table_name": dg.MetadataValue.text("marts.budget_recommendations"),
        "inputs_unchanged": dg.MetadataValue.bool(True),
    })


def _require_clean_inputs(conn, history) -> None:
    """Refuse (``dg.Failure``) to plan on a history window with failed blocking data-quality checks."""
    start, end = history_window(history)
    try:
        gates.require_clean(conn, start, end, f"refusing to plan on {start}..{end}")
    except gates.QualityGateClosed as closed:
        raise dg.Failure(description=str(closed), metadata={
            "failed_checks": dg.MetadataValue.md("\n".join(
                f"- {table} {day or 'snapshot'} **{check}**: {summary}" for table, day, check, summary in closed.failures)),
        }) from None


def _alert_action() -> str:
    """``MBO_ALERT_ACTION`` (hold or approve); a bad value fails the run with just its message."""
    try:
        return thresholds_from_env().action
    except ValueError as error:
        raise dg.Failure(description=str(error)) from None


def _conversion_source() -> str:
    """``settings.conversion_source()``; a bad MBO_CONVERSION_SOURCE fails the run with just its message."""
    try:
        return settings.conversion_source()
    except ValueError as error:
        raise dg.Failure(description=str(error)) from None


def _read_history(conn, end: date | None, source: str):
    """``store.read_history`` over MBO_HISTORY_DAYS; a missing marts.opt_campaign_inputs fails the run, saying why."""
    try:
        return store.read_history(conn, settings.history_days(), end, source)
    except LookupError as missing:
        raise dg.Failure(description=str(missing)) from None


def run_history_end(context: dg.AssetExecutionContext) -> date | None:
    """The last day of the run's partition range (``mbo refresh --end``), or None: the marts' latest day."""
    end = context.run.tags.get(ASSET_PARTITION_RANGE_END_TAG) or context.run.tags.get(PARTITION_NAME_TAG)
    return date.fromisoformat(end) if end else None


#: What a plan is made from: its checks (and those of the FX rates its reporting amounts use) run before it.
PLAN_INPUTS = [
    dg.AssetKey(["marts", "opt_campaign_inputs"]),
    dg.AssetKey(["marts", "dim_campaign"]),
    dg.AssetKey(["marts", "account_pacing"]),
    dg.AssetKey(["raw", "fx_rates"]),
    # The open alerts: campaigns whose input data is in doubt are held (or wait for approval).
    asset_keys.ALERTS,
]


@dg.multi_asset(
    name="budget_recommendations",
    group_name="optimize",
    can_subset=False,
    specs=[
        dg.AssetSpec(
            asset_keys.PLANS, deps=PLAN_INPUTS, kinds={"python", "scipy", "postgres"},
            description=(
                "One row per budget plan: response curves fitted on marts.opt_campaign_inputs (conversion values as "
                "the platforms report them, or de-duplicated against GA4: MBO_CONVERSION_SOURCE), today's total budget "
                "reallocated across active campaigns (±MBO_MAX_BUDGET_CHANGE each), the expected value and its "
                "uplift, and the plan's explanation."
            ),
        ),
        dg.AssetSpec(
            asset_keys.RECOMMENDATIONS, deps=[asset_keys.PLANS], kinds={"python", "postgres"},
            description=(
                "One row per campaign of each plan: current and recommended daily budget (account and reporting "
                "currency), expected value, marginal ROAS, why a campaign is held. Its plan_id is what the push acts on."
            ),
        ),
    ],
)
def budget_recommendations(context: dg.AssetExecutionContext, mbo: MboResource):
    """Plan, explain and store; the plan_id in the metadata is what the push sensor acts on.

    On inputs unchanged since a stored plan, that plan's id with ``inputs_unchanged`` (and no new plan).
    """
    max_change, source = settings.max_budget_change(), _conversion_source()
    currency, target_roas = settings.reporting_currency(), settings.target_marginal_roas()
    today = mbo.today() or datetime.now(timezone.utc).date()
    history_end = run_history_end(context)
    with warehouse.connect(mbo.url()) as conn:
        history = _read_history(conn, history_end, source)
        _require_clean_inputs(conn, history)
        campaigns = store.read_active_campaigns(conn)
        paced = pacing.paced_daily_totals(conn, today)
        doubts = alert_holds.low_confidence_reasons(alert_store.open_alert_objects(conn), campaigns, source)
    holds, low_confidence = alert_holds.split_by_action(doubts, _alert_action())
    for key, reason in doubts.items():
        context.log.warning(f"{'/'.join(key)}: {'held' if holds else 'waits for approval'}: {reason}")
    pace = pacing.plan_total(campaigns, paced, max_change, reporting_currency=currency)
    fingerprint = plan_inputs_fingerprint(history, campaigns, currency, max_change, pace.total_reporting, target_roas,
                                          source, holds, low_confidence)
    plan_id = plan_id_from_fingerprint(fingerprint, history_window(history)[1])
    with warehouse.connect(mbo.url()) as conn:
        stored = store.stored_plan(conn, plan_id)
    if stored is not None:
        yield from _unchanged_results(context, stored, pace, fingerprint)
        return
    context.log.info(f"planning {len(campaigns)} active campaigns on {len(history)} history rows; {pace.message}")
    plan = build_plan(
        history, campaigns, currency, max_change=max_change, total_budget=pace.total_reporting,
        target_marginal_roas=target_roas, plan_id=plan_id, conversion_source=source, holds=holds,
        low_confidence=low_confidence,
    )
    outliers = _outlier_days(plan)
    if outliers:
        context.log.warning(
            f"ignored {sum(outliers.values())} day(s) whose conversion value is far off the fitted curve "
            f"(tracking glitches or one-off deals? check these campaigns' raw data): "
            + ", ".join(f"{cid} ({n})" for cid, n in sorted(outliers.items()))
        )
    unmatched = ga4_unmatched_spend_share(history) if source == "deduplicated" else None
    facts = plan_facts(plan, max_change, unmatched)
    explanation = explain_plan(facts)
    if explanation.fallback_reason:
        context.log.warning(f"Claude explanation not used: {explanation.fallback_reason}")
    with warehouse.connect(mbo.url()) as conn:
        # The total comes from pacing and the values from the chosen measure, not from the solver: say so first.
        text = f"{pace.message} {conversion_source_sentence(facts)} {explanation.text}"
        written = store.write_plan(conn, plan, text, explanation.source, explanation.campaign_explanations)
        stored = None if written else store.stored_plan(conn, plan.plan_id)
    if stored is not None:  # a refresh running alongside stored the same plan first
        yield from _unchanged_results(context, stored, pace, fingerprint)
        return

    uplift = plan.expected_value_recommended_reporting - plan.expected_value_current_reporting
    target, target_budget = plan.target_marginal_roas, plan.budget_at_target_marginal_roas
    low, high = plan.uplift_interval or (None, None)
    details = (
        f"{len(plan.rows)} campaigns, {int(plan.rows['held_reason'].notna().sum())} held; history "
        f"{plan.history_start}..{plan.history_end}, {sum(outliers.values())} outlier day(s) ignored; "
        f"solver: {plan.solver_message}. "
        + _scenario_line(plan, target, target_budget, max_change)
    )
    # A short set, headline first (the UI keeps this order; its numbers are plotted over time); the rest of what
    # the plan records, for whoever wants it, in one "facts" entry (marts.budget_plans has all of it too).
    facts = {
        "reporting_currency": plan.reporting_currency,
        "campaigns": len(plan.rows),
        "held_campaigns": int(plan.rows["held_reason"].notna().sum()),
        "low_confidence_campaigns": len(doubts),
        "history": f"{plan.history_start}..{plan.history_end}",
        "outlier_days": sum(outliers.values()),
        "pacing": pace.message,
        "conversion_source": plan.conversion_source,
        "ga4_unmatched_spend_share": None if unmatched is None else round(float(unmatched), 4),
        "explanation_source": explanation.source,
        "target_marginal_roas": float(target),
        "budget_at_target_marginal_roas": round(float(target_budget), 2),
        "dual_upper_bound": None if plan.upper_bound is None else round(float(plan.upper_bound), 2),
        "solver_message": plan.solver_message,
        "inputs_fingerprint": fingerprint,
    }
    yield dg.MaterializeResult(asset_key=asset_keys.PLANS, metadata={
        "plan_id": dg.MetadataValue.text(plan.plan_id),
        "total_daily_budget": dg.MetadataValue.float(round(plan.total_daily_budget_reporting, 2)),
        "current_total_daily_budget": dg.MetadataValue.float(round(pace.current_total_reporting, 2)),
        "expected_value_current": dg.MetadataValue.float(round(plan.expected_value_current_reporting, 2)),
        "expected_value_recommended": dg.MetadataValue.float(round(plan.expected_value_recommended_reporting, 2)),
        "expected_uplift": dg.MetadataValue.float(round(uplift, 2)),
        "expected_uplift_low": _optional_float(low, 2),
        "expected_uplift_high": _optional_float(high, 2),
        "optimality_gap": _optional_float(plan.optimality_gap),
        "explanation": dg.MetadataValue.md(text),
        "details": dg.MetadataValue.md(details),
        "recommendations": dg.MetadataValue.text(f"marts.budget_recommendations where plan_id = '{plan.plan_id}'"),
        "inputs_unchanged": dg.MetadataValue.bool(False),
        "facts": dg.MetadataValue.json(facts),
    })
    yield dg.MaterializeResult(asset_key=asset_keys.RECOMMENDATIONS, metadata={
        "plan_id": dg.MetadataValue.text(plan.plan_id),
        "dagster/row_count": dg.MetadataValue.int(len(plan.rows)),
        "dagster/table_name": dg.MetadataValue.text("marts.budget_recommendations"),
        "allocation_by_platform": _chart(context, inline_charts.platform_bars_markdown, plan, "allocation_by_platform"),
        "response_curves": _chart(context, inline_charts.response_curves_markdown, plan, "response_curves"),
        "largest_moves": dg.MetadataValue.md(_preview(plan)),
        **refresh_report(context.log, mbo.url(), plan.plan_id, len(plan.rows)),
        "inputs_unchanged": dg.MetadataValue.bool(False),
    })
