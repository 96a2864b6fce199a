"""``make demo``: the whole loop on the sandbox, then a short report of what it did."""

import contextlib
import os
import warnings
from datetime import date, datetime, timedelta, timezone

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from mbo_pipelines import asset_keys, partition_start, warehouse
from mbo_pipelines.defs.activate.dagster_defs import run_config_for
from mbo_pipelines.defs.alerts.listing import alerts_report
from mbo_pipelines.instance import prepare_environment, run_instance

# The report is the demo's output; run logs stay in the Dagster UI (`make dev`).
warnings.filterwarnings("ignore", category=dg.BetaWarning)
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _today() -> date:
    pinned = os.environ.get("MBO_SANDBOX_TODAY")
    return date.fromisoformat(pinned) if pinned else datetime.now(timezone.utc).date()


#: The demo's sandbox breaks one campaign's conversion tracking two days before today (unless MBO_SANDBOX_FAULTS
#: says otherwise, ``none`` for a clean market): the alert is found, explained and the campaign's budget held.
DEMO_FAULTS = "tracking_break@-2"


def run_demo(days: int = 90) -> int:
    """Extract ``days`` days of sandbox data, build the marts, plan, push once, and print a report."""
    os.environ.setdefault("MBO_SANDBOX_FAULTS", DEMO_FAULTS)
    url = prepare_environment()
    end = _today() - timedelta(days=1)
    start = end - timedelta(days=days - 1)
    partition_start.remember_first_day(start)  # before the definitions: their partitions reach back to it
    from mbo_pipelines import job_runs
    from mbo_pipelines.definitions import defs  # after the environment is prepared

    instance = run_instance()
    log_path = instance.root_directory and f"{instance.root_directory}/demo.log"
    print(f"MBO demo: sandbox data {start}..{end} ({days} days): extract → dbt build → plan → push ...", flush=True)

    # dbt prints its progress to stdout: keep it in a log file, not in the report. The runs are the code
    # location's (job_runs): the Dagster UI lists them under their jobs, and its sensor sees the plan as pushed.
    with open(log_path, "w") as log, contextlib.redirect_stdout(log):
        refresh = job_runs.run_job(
            defs.resolve_job_def("daily_refresh"), instance, run_config=QUIET, raise_on_error=True,
            tags={ASSET_PARTITION_RANGE_START_TAG: start.isoformat(), ASSET_PARTITION_RANGE_END_TAG: end.isoformat()},
        )
    plan_id = next(
        m.materialization.metadata["plan_id"].value
        for m in refresh.get_asset_materialization_events()
        if m.materialization.asset_key == asset_keys.RECOMMENDATIONS
    )
    threshold = _demo_approval_threshold(url, plan_id)
    if threshold is not None:
        # Show approvals: the plan's largest move waits for a person, the rest is applied.
        os.environ["MBO_APPROVAL_ABOVE_AMOUNT"] = f"{threshold:.2f}"
    job_runs.run_job(defs.resolve_job_def("push_budget_changes_job"), instance, run_config={**QUIET, **run_config_for(plan_id)},
                     tags={"mbo/plan_id": plan_id}, raise_on_error=True)
    with warehouse.connect(url) as conn:
        print(report(conn, plan_id))
    print(f"\ndbt and run logs: {log_path}")
    print("Explore it: `make dev` (Dagster UI on http://127.0.0.1:3000), "
          "`psql \"$(.venv/bin/mbo db url)\"`; stop the database with `.venv/bin/mbo db stop`.")
    return 0


def _demo_approval_threshold(url: str, plan_id: str) -> float | None:
    """An approval threshold just below the plan's largest move (so that one change waits for approval), unless
    the user configured activation or approvals themselves, or the plan has no single largest move."""
    if any(os.environ.get(name, "").strip() for name in
           ("MBO_ACTIVATION", "MBO_APPROVAL_ABOVE_CHANGE", "MBO_APPROVAL_ABOVE_AMOUNT")):
        return None
    with warehouse.connect(url) as conn:
        moves = sorted((abs(float(new) - float(old)) for old, new in conn.execute(
            "select current_daily_budget_reporting, recommended_daily_budget_reporting "
            "from marts.budget_recommendations where plan_id = %s", (plan_id,))), reverse=True)
    if len(moves) < 2 or moves[0] - moves[1] < 0.02:
        return None
    return (moves[0] + moves[1]) / 2


def _quality_line(conn) -> str:
    """One line on the data-quality checks of the extract: results, failures, quarantined rows."""
    if conn.execute("select to_regclass('quality.latest_check_results') is null").fetchone()[0]:
        return "Data quality: no extract has been checked yet."
    results, failed, tables = conn.execute(
        "select count(*), count(*) filter (where not passed), count(distinct table_name) "
        "from quality.latest_check_results").fetchone()
    from mbo_pipelines.defs.quality.store import quarantine_counts

    quarantined = sum(n for _, n in quarantine_counts(conn))
    return (f"Data quality: {results - failed} of {results} check results passed on {tables} tables, "
            f"{quarantined} rows quarantined (`.venv/bin/mbo quality`).")


def _attribution_line(conn) -> str:
    """Platform claims against GA4 and the de-duplicated total, over the attribution mart's days."""
    if conn.execute("select to_regclass('marts.fct_campaign_attribution') is null").fetchone()[0]:
        return "Attribution: marts.fct_campaign_attribution is not built yet."
    claimed, observed, dedup, matched, campaigns = conn.execute(
        "select coalesce(sum(platform_conversions), 0), coalesce(sum(ga4_key_events), 0), "
        "coalesce(sum(dedup_conversions), 0), count(distinct campaign_key) filter (where is_ga4_matched), "
        "count(distinct campaign_key) from marts.fct_campaign_attribution").fetchone()
    return (f"Attribution: the platforms claimed {claimed:,.0f} conversions, GA4 observed {observed:,.0f} "
            f"on the {matched} of {campaigns} campaigns it could match; de-duplicated: {dedup:,.0f} "
            "(marts.fct_campaign_attribution).")


def report(conn, plan_id: str) -> str:
    """Rows per mart, the plan per campaign, and what the push did."""
    lines = ["", "Rows per mart table:"]
    tables = conn.execute(
        "select table_name from information_schema.tables where table_schema = 'marts' order by table_name"
    ).fetchall()
    for (table,) in tables:
        count = conn.execute(f'select count(*) from marts."{table}"').fetchone()[0]
        lines.append(f"  marts.{table:<28} {count:>8}")
    lines += ["", _quality_line(conn), _attribution_line(conn), "", alerts_report(conn)]

    plan = conn.execute(
        "select reporting_currency, total_daily_budget_reporting, expected_value_current_reporting, "
        "expected_value_recommended_reporting, optimality_gap, explanation_source, explanation, "
        "expected_uplift_low_reporting, expected_uplift_high_reporting, "
        "target_marginal_roas, budget_at_target_marginal_roas_reporting "
        "from marts.budget_plans where plan_id = %s",
        (plan_id,),
    ).fetchone()
    cur, total, before, after, gap, source, text, low, high, target, target_budget = plan
    interval = "" if low is None else f", 90% interval {low:+,.2f} … {high:+,.2f}"
    lines += [
        "",
        f"Plan {plan_id}: total daily budget {total:,.2f} {cur}; expected daily value "
        f"{before:,.2f} → {after:,.2f} {cur} ({after - before:+,.2f}{interval}); optimality gap "
        f"{'n/a' if gap is None else f'{gap:.1e}'}",
        *(
            [f"How much to spend at all: until the next {cur} returns {target:.2f} {cur}, "
             f"{target_budget:,.2f} {cur} per day (within the max change per campaign)"]
            if target_budget is not None else []
        ),
        "  platform     campaign                  currency      current → recommended   expected value change",
    ]
    for row in conn.execute(
        "select platform, campaign_name, currency, current_daily_budget, recommended_daily_budget, "
        "expected_value_recommended - expected_value_current "
        "from marts.budget_recommendations where plan_id = %s order by platform, account_id, campaign_id",
        (plan_id,),
    ):
        platform, name, currency, current, recommended, delta = row
        lines.append(f"  {platform:<12} {name:<25} {currency:<8} {current:>10,.2f} → {recommended:>10,.2f}   {delta:>+12,.2f}")
    doubts = conn.execute(
        "select platform, campaign_name, currency, current_daily_budget, recommended_daily_budget, "
        "low_confidence_reason from marts.budget_recommendations where plan_id = %s and low_confidence_reason "
        "is not null order by platform, account_id, campaign_id", (plan_id,)).fetchall()
    if doubts:
        lines += ["", "Low confidence (open alerts on their data):"]
        for platform, name, currency, current, recommended, why in doubts:
            what = (f"held at {current:,.2f} {currency}" if current == recommended
                    else f"{current:,.2f} → {recommended:,.2f} {currency} waits for approval")
            lines.append(f"  {platform} {name}: {what}: {why}")
    lines += ["", f"Explanation ({source}):", f"  {text}", "", "Pushed (activation.budget_changes):"]
    for status, count in conn.execute(
        "select status, count(*) from activation.budget_changes where plan_id = %s group by status order by status",
        (plan_id,),
    ):
        lines.append(f"  {status:<17} {count}")
    waiting = conn.execute(
        "select platform, campaign_id, currency, old_daily_budget, new_daily_budget, error "
        "from activation.budget_changes where plan_id = %s and status = 'pending_approval' "
        "order by platform, campaign_id", (plan_id,),
    ).fetchall()
    if waiting:
        lines += ["", "Waiting for approval:"]
        for platform, campaign, currency, old, new, why in waiting:
            lines.append(f"  {platform} {campaign} {old:,.2f} → {new:,.2f} {currency}: {why}")
        lines.append(f"  Approve with `.venv/bin/mbo approve {plan_id}` (or reject with `.venv/bin/mbo reject {plan_id}`).")
    return "\n".join(lines)
