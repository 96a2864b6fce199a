"""Read the marts the planner needs and write plans to ``marts.budget_plans`` / ``marts.budget_recommendations``.

The history comes from ``marts.opt_campaign_inputs``, exactly what the optimizer reads, so a stored plan can be
reproduced from SQL: its history is ``select date_day, platform, account_id, campaign_id, spend_reporting, <value>
from marts.opt_campaign_inputs where date_day between <history_start> and <history_end>``, ``<value>`` being the
column of its ``conversion_source`` (``CONVERSION_VALUE_COLUMNS``).

A plan is written once: its id is a fingerprint of its inputs, and writing a plan whose id is
already stored changes nothing (``write_plan`` returns False).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from mbo_pipelines import warehouse
from mbo_pipelines.columnar_read import copy_frame
from mbo_pipelines.defs.activate import ledger
from mbo_pipelines.defs.optimize.planning import Plan
from mbo_pipelines.defs.optimize.tables import ensure_plan_tables

INPUTS_TABLE = "marts.opt_campaign_inputs"
#: The column of ``marts.opt_campaign_inputs`` each conversion source (``MBO_CONVERSION_SOURCE``) fits on.
CONVERSION_VALUE_COLUMNS = {
    "platform": "platform_conversion_value_reporting",
    "deduplicated": "dedup_conversion_value_reporting",
}

RECOMMENDATION_COLUMNS = [
    "plan_id", "platform", "account_id", "campaign_id", "campaign_name", "currency",
    "current_daily_budget", "recommended_daily_budget", "expected_value_current",
    "expected_value_recommended", "marginal_roas", "reporting_currency",
    "current_daily_budget_reporting", "recommended_daily_budget_reporting",
    "explanation", "explanation_source", "created_at", "low_confidence_reason",
]


def _frame(conn: psycopg.Connection, query: str | sql.Composable, params=()) -> pd.DataFrame:
    with conn.cursor() as cur:
        cur.execute(query, params)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def history_query(conversion_source: str) -> sql.Composed:
    """The query of ``read_history`` (parameters: end, days), its value column the one of ``conversion_source``."""
    return sql.SQL(
        """
        with last as (select coalesce(%s::date, max(date_day)) as day from marts.opt_campaign_inputs)
        select date_day, platform, account_id, campaign_id, spend_reporting,
               {value} as conversion_value_reporting, coalesce(is_ga4_matched, false) as is_ga4_matched
        from marts.opt_campaign_inputs, last
        where date_day > last.day - %s::int and date_day <= last.day
        """
    ).format(value=sql.Identifier(CONVERSION_VALUE_COLUMNS[conversion_source]))


def read_history(conn: psycopg.Connection, days: int, end: date | None = None,
                 conversion_source: str = "platform") -> pd.DataFrame:
    """The ``days`` days of ``marts.opt_campaign_inputs`` ending at ``end`` (default: its latest day).

    Columns: date_day, platform, account_id, campaign_id, spend_reporting, ``conversion_value_reporting`` (the
    value column of ``conversion_source``, see ``CONVERSION_VALUE_COLUMNS``) and ``is_ga4_matched`` (false when
    null). LookupError when the mart does not exist yet; ValueError for an unknown conversion source.
    """
    if conversion_source not in CONVERSION_VALUE_COLUMNS:
        raise ValueError(f"conversion source must be one of {', '.join(CONVERSION_VALUE_COLUMNS)}, "
                         f"got {conversion_source!r} (set MBO_CONVERSION_SOURCE)")
    if not warehouse.table_exists(conn, INPUTS_TABLE):
        raise LookupError(
            f"{INPUTS_TABLE} does not exist, so there is no history to plan on: build the marts first "
            "(`mbo refresh`, or `dbt build` in dbt_project/)"
        )
    return copy_frame(conn, history_query(conversion_source), (end, days),
                      texts=["platform", "account_id", "campaign_id"], days=["date_day"],
                      numbers=["spend_reporting", "conversion_value_reporting"], flags=["is_ga4_matched"])


def read_active_campaigns(conn: psycopg.Connection) -> pd.DataFrame:
    """Active campaigns from ``marts.dim_campaign`` with their current budgets, and ``budget_24h_ago``: the
    budget in force before MBO's changes of the last 24 hours (NaN for a campaign it did not change)."""
    frame = _frame(
        conn,
        """
        select platform, account_id, campaign_id, campaign_name, currency, daily_budget, daily_budget_reporting
        from marts.dim_campaign
        -- A campaign without a daily budget of its own (Meta ad-set budgets) has nothing to reallocate.
        where status = 'active' and daily_budget is not null
        """,
    )
    for column in ("daily_budget", "daily_budget_reporting"):
        frame[column] = frame[column].astype(float)
    day_ago = ledger.budgets_in_force_before(conn, hours=24)
    frame["budget_24h_ago"] = [
        float(day_ago[key]) if key in day_ago else float("nan")
        for key in frame[["platform", "account_id", "campaign_id"]].itertuples(index=False, name=None)
    ]
    return frame


def stored_plan(conn: psycopg.Connection, plan_id: str) -> dict | None:
    """The ``marts.budget_plans`` row of ``plan_id`` as a dict, or None (also when no plan was ever written).
    Its money (numeric, read as Decimal) comes as float, as the planner's numbers are."""
    if conn.execute("select to_regclass('marts.budget_plans')").fetchone()[0] is None:
        return None
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("select * from marts.budget_plans where plan_id = %s", (plan_id,)).fetchone()
    return None if row is None else {k: float(v) if isinstance(v, Decimal) else v for k, v in row.items()}


def write_plan(conn: psycopg.Connection, plan: Plan, explanation: str, source: str, campaign_explanations: dict) -> bool:
    """Insert the plan and its rows in one transaction; True if written.

    False, changing nothing, when a plan with the same id is already stored: the same inputs make the
    same plan, so a re-run (or a refresh racing this one) must neither duplicate nor rewrite it.
    """
    ensure_plan_tables(conn)
    rows = plan.rows.copy()
    rows["plan_id"] = plan.plan_id
    rows["created_at"] = plan.created_at
    rows["explanation"] = [
        campaign_explanations.get(key, explanation)
        for key in rows[["platform", "account_id", "campaign_id"]].itertuples(index=False, name=None)
    ]
    rows["explanation_source"] = source
    # Text that may be missing: None (SQL null), never a float NaN the driver would write as the text 'NaN'.
    reasons = rows["low_confidence_reason"] if "low_confidence_reason" in rows else pd.Series(None, index=rows.index)
    rows["low_confidence_reason"] = reasons.astype(object).where(reasons.notna(), None)
    with conn.transaction():
        inserted = conn.execute(
            """
            insert into marts.budget_plans (
              plan_id, created_at, reporting_currency, total_daily_budget_reporting,
              expected_value_current_reporting, expected_value_recommended_reporting, campaign_count,
              history_start, history_end, solver_success, solver_message, optimality_gap,
              explanation, explanation_source, expected_uplift_low_reporting, expected_uplift_high_reporting,
              target_marginal_roas, budget_at_target_marginal_roas_reporting, conversion_source)
            values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            on conflict (plan_id) do nothing
            returning plan_id
            """,
            (plan.plan_id, plan.created_at, plan.reporting_currency, plan.total_daily_budget_reporting,
             plan.expected_value_current_reporting, plan.expected_value_recommended_reporting, len(rows),
             plan.history_start, plan.history_end, plan.solver_success, plan.solver_message,
             plan.optimality_gap, explanation, source, *(plan.uplift_interval or (None, None)),
             plan.target_marginal_roas, plan.budget_at_target_marginal_roas, plan.conversion_source),
        ).fetchone()
        if inserted is None:
            return False
        with conn.cursor() as cur:
            cur.executemany(
                f"insert into marts.budget_recommendations ({', '.join(RECOMMENDATION_COLUMNS)}) "
                f"values ({', '.join(['%s'] * len(RECOMMENDATION_COLUMNS))})",
                [tuple(_plain(v) for v in r) for r in rows[RECOMMENDATION_COLUMNS].itertuples(index=False)],
            )
    return True


def _plain(value):
    """numpy scalars → Python scalars for the driver."""
    return value.item() if hasattr(value, "item") else value
