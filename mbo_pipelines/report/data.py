"""What ``mbo report`` shows, read from the database: one plan, its recommendations and its ledger rows.

Everything comes from ``marts.budget_plans``, ``marts.budget_recommendations`` and, when the plan was pushed,
``activation.budget_changes``; nothing is recomputed here but sums and the reporting-currency amounts of the
expected values (the stored local amounts times each campaign's rate, as the plan converted them).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pandas as pd
import psycopg
from psycopg.rows import dict_row

from mbo_pipelines import warehouse
from mbo_pipelines.defs.activate import ledger

LEDGER_TABLE = "activation.budget_changes"
#: The numeric columns of ``marts.budget_recommendations`` (money as numeric or, in older databases, float).
NUMBERS = ("current_daily_budget", "recommended_daily_budget", "expected_value_current", "expected_value_recommended",
           "marginal_roas", "current_daily_budget_reporting", "recommended_daily_budget_reporting")
NO_PLAN_YET = "no plan yet: run `mbo demo` or `mbo refresh` first"


class NoPlanError(LookupError):
    """There is no plan to report on (none made yet, or no plan of the id asked for)."""


@dataclass(frozen=True)
class PlanReport:
    """One plan as the report shows it.

    ``plan``: its ``marts.budget_plans`` row, as stored (money as ``Decimal`` where the column is numeric).
    ``current_total``: the sum of its campaigns' current budgets (reporting currency), summed by the database.
    ``rows``: its recommendations, one per campaign (ordered by platform, account, campaign), numbers as floats,
    with ``ledger_status`` (None when not in the ledger), ``fx`` (reporting units per local unit) and the expected
    values in the reporting currency. ``status_counts``: ledger rows per status, only the statuses present (empty
    when not pushed). ``waiting``: the rows waiting for approval.
    """

    plan: dict
    current_total: Decimal | float
    rows: pd.DataFrame
    status_counts: dict[str, int]
    waiting: list[ledger.LedgerRow]

    @property
    def recommended_total(self) -> Decimal | float:
        """The plan's total recommended daily budget (reporting currency), as stored with the plan."""
        return self.plan["total_daily_budget_reporting"]


def plan_id_or_latest(conn: psycopg.Connection, plan_id: str | None) -> str:
    """``plan_id`` if given, else the newest plan (by ``created_at``, as ``mbo push`` picks it); NoPlanError if none."""
    if not warehouse.table_exists(conn, "marts.budget_plans"):
        raise NoPlanError(NO_PLAN_YET)
    if plan_id is not None:
        return plan_id
    row = conn.execute("select plan_id from marts.budget_plans order by created_at desc, plan_id desc limit 1").fetchone()
    if row is None:
        raise NoPlanError(NO_PLAN_YET)
    return row[0]


def read_plan_report(conn: psycopg.Connection, plan_id: str | None = None) -> PlanReport:
    """The plan ``plan_id`` (default: the latest) with its recommendations and ledger; NoPlanError when missing."""
    plan_id = plan_id_or_latest(conn, plan_id)
    with conn.cursor(row_factory=dict_row) as cur:
        plan = cur.execute("select * from marts.budget_plans where plan_id = %s", (plan_id,)).fetchone()
    if plan is None:
        raise NoPlanError(f"no plan {plan_id!r} in marts.budget_plans (`mbo changes` names the latest one)")
    pushed = warehouse.table_exists(conn, LEDGER_TABLE)
    status = "b.status" if pushed else "null::text"
    join = (f"left join {LEDGER_TABLE} b on (b.plan_id, b.platform, b.account_id, b.campaign_id) = "
            "(r.plan_id, r.platform, r.account_id, r.campaign_id)") if pushed else ""
    with conn.cursor() as cur:
        cur.execute(
            f"select r.*, {status} as ledger_status from marts.budget_recommendations r {join} "
            "where r.plan_id = %s order by r.platform, r.account_id, r.campaign_id",
            (plan_id,),
        )
        rows = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
    for column in NUMBERS:
        rows[column] = rows[column].astype(float)
    current_total = conn.execute("select coalesce(sum(current_daily_budget_reporting), 0) from "
                                 "marts.budget_recommendations where plan_id = %s", (plan_id,)).fetchone()[0]
    rows["fx"] = rows["current_daily_budget_reporting"] / rows["current_daily_budget"]
    rows["expected_value_current_reporting"] = rows["expected_value_current"] * rows["fx"]
    rows["expected_value_recommended_reporting"] = rows["expected_value_recommended"] * rows["fx"]
    counts, waiting = {}, []
    if pushed:
        counts = {s: n for s, n in ledger.status_counts(conn, plan_id).items() if n}
        waiting = ledger.plan_rows(conn, plan_id, ledger.PENDING_APPROVAL)
    return PlanReport(plan=plan, current_total=current_total, rows=rows, status_counts=counts, waiting=waiting)
