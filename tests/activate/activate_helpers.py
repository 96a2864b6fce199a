"""Helpers for the activation tests: plans written straight into the marts tables, ledger and sandbox reads."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import psycopg

from mbo_pipelines import warehouse
from mbo_pipelines.defs.optimize.tables import ensure_plan_tables
from mbo_pipelines.sandbox.market import PLATFORMS
from mbo_pipelines.sandbox.platforms import SandboxMarket

TODAY = date(2026, 3, 1)
#: Plans the tests wrote, removed again after each test (the session database is shared).
CREATED_PLANS: list[str] = []


@dataclass
class PlanRow:
    """One campaign of a test plan."""

    platform: str
    account_id: str
    campaign_id: str
    currency: str
    current: Decimal
    recommended: Decimal


def cents(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def market_rows(market: SandboxMarket, platforms: Iterable[str] = PLATFORMS) -> list[PlanRow]:
    """Every campaign of the market with its budget in force today, recommended = current."""
    rows = []
    for platform in platforms:
        budgets = market.current_budgets(platform)
        for c in market.campaigns(platform):
            current = cents(budgets[c.campaign_id])
            rows.append(PlanRow(platform, c.account_id, c.campaign_id, c.currency, current, current))
    return rows


def scale(rows: list[PlanRow], factors: dict[int, float]) -> list[PlanRow]:
    """Set ``recommended = current * factor`` for the rows at the given positions."""
    for i, factor in factors.items():
        rows[i].recommended = cents(rows[i].current * Decimal(str(factor)))
    return rows


def insert_plan(
    database_url: str,
    rows: list[PlanRow],
    *,
    plan_id: str | None = None,
    age_hours: float = 0.0,
    total: float | None = None,
    solver_success: bool = True,
    reporting_override: dict[int, float] | None = None,
) -> str:
    """Write a plan and its recommendations (reporting currency = native, for simplicity); return its id.

    ``total`` defaults to the sum of the recommended budgets; ``reporting_override``
    replaces the recommended reporting budget of some rows (e.g. with NaN).
    """
    plan_id = plan_id or f"test-{uuid.uuid4()}"
    CREATED_PLANS.append(plan_id)
    reporting = [float(r.recommended) for r in rows]
    for i, value in (reporting_override or {}).items():
        reporting[i] = value
    total = sum(float(r.recommended) for r in rows) if total is None else total
    with warehouse.connect(database_url) as conn:
        warehouse.ensure_schemas(conn, ("marts",))
        ensure_plan_tables(conn)
        conn.execute(
            """
            insert into marts.budget_plans
              (plan_id, created_at, reporting_currency, total_daily_budget_reporting,
               expected_value_current_reporting, expected_value_recommended_reporting, campaign_count,
               history_start, history_end, solver_success, solver_message, explanation, explanation_source)
            values (%s, clock_timestamp() - make_interval(secs => %s), 'USD', %s, 1000, 1100, %s,
                    '2025-12-01', '2026-02-28', %s, %s, 'test plan', 'template')
            """,
            (plan_id, age_hours * 3600, total, len(rows), solver_success,
             "Optimization terminated successfully" if solver_success else "Iteration limit reached"),
        )
        with conn.cursor() as cur:
            cur.executemany(
                """
                insert into marts.budget_recommendations
                  (plan_id, platform, account_id, campaign_id, campaign_name, currency, current_daily_budget,
                   recommended_daily_budget, expected_value_current, expected_value_recommended, marginal_roas,
                   reporting_currency, current_daily_budget_reporting, recommended_daily_budget_reporting,
                   explanation, explanation_source)
                values (%s, %s, %s, %s, %s, %s, %s, %s, 10, 11, 1.5, 'USD', %s, %s, 'because', 'template')
                """,
                [(plan_id, r.platform, r.account_id, r.campaign_id, f"campaign {r.campaign_id}", r.currency,
                  r.current, r.recommended, float(r.current), reporting[i]) for i, r in enumerate(rows)],
            )
        conn.commit()
    return plan_id


def ledger_rows(database_url: str, plan_id: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The plan's ledger rows keyed by (platform, account_id, campaign_id)."""
    with psycopg.connect(database_url, row_factory=psycopg.rows.dict_row) as conn:
        rows = conn.execute("select * from activation.budget_changes where plan_id = %s", (plan_id,)).fetchall()
    return {(r["platform"], r["account_id"], r["campaign_id"]): r for r in rows}


def sandbox_change_count(database_url: str, seed: int) -> int:
    """Rows in sandbox.budget_changes for one seed (every budget ever written through the sandbox)."""
    with psycopg.connect(database_url) as conn:
        if not warehouse.table_exists(conn, "sandbox.budget_changes"):
            return 0
        return conn.execute("select count(*) from sandbox.budget_changes where seed = %s", (seed,)).fetchone()[0]


def remove_test_plans(database_url: str) -> None:
    """Delete the plans the tests wrote, and their ledger rows, so other tests never see them."""
    with warehouse.connect(database_url) as conn:
        for table in ("marts.budget_recommendations", "marts.budget_plans", "activation.budget_change_events",
                      "activation.budget_changes",
                      "activation.budget_rehearsals"):
            if warehouse.table_exists(conn, table):
                conn.execute(f"delete from {table} where plan_id = any(%s)", (CREATED_PLANS,))
        conn.commit()
    CREATED_PLANS.clear()


class PlatformProxy:
    """A platform connector passing every call to ``inner``: tests subclass it to make the platform misbehave
    (fail a write, change something between calls) at its boundary, never inside MBO's code."""

    def __init__(self, inner):
        self.inner = inner
        self.platform, self.is_live = inner.platform, inner.is_live

    def fetch_campaign_daily(self, start, end):
        return self.inner.fetch_campaign_daily(start, end)

    def fetch_campaigns(self):
        return self.inner.fetch_campaigns()

    def set_daily_budget(self, account_id, campaign_id, amount):
        self.inner.set_daily_budget(account_id, campaign_id, amount)
