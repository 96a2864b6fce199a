"""Tables the optimize step writes: ``marts.budget_plans`` and ``marts.budget_recommendations``.

A plan is one run of the allocator: its total, its certificate and its
plan-level explanation. Each recommendation row is one active campaign of a
plan. Budgets and expected values are in the campaign's own currency; the
``*_reporting`` columns are in the plan's reporting currency, in which the
solver works (so the recommended reporting budgets sum to the plan total).
"""

PLANS_DDL = """
create table if not exists marts.budget_plans (
  plan_id text primary key,
  created_at timestamptz not null default now(),
  reporting_currency text not null,
  total_daily_budget_reporting double precision not null,
  expected_value_current_reporting double precision not null,
  expected_value_recommended_reporting double precision not null,
  campaign_count integer not null,
  history_start date not null,
  history_end date not null,
  solver_success boolean not null,
  solver_message text not null,
  optimality_gap double precision,
  explanation text not null,
  explanation_source text not null
)
"""

RECOMMENDATIONS_DDL = """
create table if not exists marts.budget_recommendations (
  plan_id text not null references marts.budget_plans (plan_id),
  platform text not null,
  account_id text not null,
  campaign_id text not null,
  campaign_name text,
  currency text not null,
  current_daily_budget numeric(18, 2) not null,
  recommended_daily_budget numeric(18, 2) not null,
  expected_value_current double precision not null,
  expected_value_recommended double precision not null,
  marginal_roas double precision not null,
  reporting_currency text not null,
  current_daily_budget_reporting double precision not null,
  recommended_daily_budget_reporting double precision not null,
  explanation text not null,
  explanation_source text not null,
  created_at timestamptz not null default now(),
  primary key (plan_id, platform, account_id, campaign_id)
)
"""


#: Columns added after the first release, which ``ensure_plan_tables`` adds to existing databases:
#: the central 90% interval of the expected uplift (recommended - current), reporting currency;
#: and the spend scenario: the total daily budget (reporting currency) at which every campaign
#: spends until its next unit returns ``target_marginal_roas``, within the max change.
PLANS_ADDED_COLUMNS = {
    "expected_uplift_low_reporting": "double precision",
    "expected_uplift_high_reporting": "double precision",
    "target_marginal_roas": "double precision",
    "budget_at_target_marginal_roas_reporting": "double precision",
    # A rollback plan (``mbo rollback``): the plan whose applied changes it undoes.
    "rollback_of": "text",
    # Which conversion values the curves were fitted on (MBO_CONVERSION_SOURCE): 'platform' or 'deduplicated';
    # null for a rollback (it fits nothing) and for plans made before the setting existed.
    "conversion_source": "text",
}


def ensure_plan_tables(conn) -> None:
    """Create the marts schema and both plan tables, if missing, and add columns older databases lack."""
    conn.execute("create schema if not exists marts")
    conn.execute(PLANS_DDL)
    present = {
        name for (name,) in conn.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'marts' and table_name = 'budget_plans'"
        ).fetchall()
    }
    missing = [f"add column if not exists {name} {kind}" for name, kind in PLANS_ADDED_COLUMNS.items() if name not in present]
    if missing:  # only then: ALTER TABLE locks the table even when there is nothing to add
        conn.execute(f"alter table marts.budget_plans {', '.join(missing)}")
    conn.execute(RECOMMENDATIONS_DDL)
