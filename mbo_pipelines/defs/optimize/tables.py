"""Tables the optimize step writes: ``marts.budget_plans`` and ``marts.budget_recommendations``.

A plan is one run of the allocator: its total, its certificate and its
plan-level explanation. Each recommendation row is one active campaign of a
plan. Budgets and expected values are in the campaign's own currency; the
``*_reporting`` columns are in the plan's reporting currency, in which the
solver works (so the recommended reporting budgets sum to the plan total).

Money follows the marts' rule (dbt_project/README.md, "Money"): ``numeric(20, 6)``, never float; the
budgets MBO asks the platforms to set are whole cents, ``numeric(18, 2)``, as the ledger stores them.
Ratios (``marginal_roas``, ``target_marginal_roas``, ``optimality_gap``) are the solver's floats.

Every table and column carries a comment (``COMMENT ON``), the same text as its description in
dbt_project/models/marts/_plan_tables.yml, so BI tools and ``\\d+`` describe them as they do the dbt marts.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql

logger = logging.getLogger(__name__)

#: An amount of money (account or reporting currency): 6 decimals, a millionth of a currency unit.
MONEY = "numeric(20, 6)"
#: A budget a platform is asked to set (account currency): whole cents, as the planner rounds it.
BUDGET = "numeric(18, 2)"

PLANS_DDL = """
create table if not exists marts.budget_plans (
  plan_id text primary key,
  created_at timestamptz not null default now(),
  reporting_currency text not null,
  total_daily_budget_reporting numeric(20, 6) not null,
  expected_value_current_reporting numeric(20, 6) not null,
  expected_value_recommended_reporting numeric(20, 6) not null,
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
  expected_value_current numeric(20, 6) not null,
  expected_value_recommended numeric(20, 6) not null,
  marginal_roas double precision not null,
  reporting_currency text not null,
  current_daily_budget_reporting numeric(20, 6) not null,
  recommended_daily_budget_reporting numeric(20, 6) not null,
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
    "expected_uplift_low_reporting": MONEY,
    "expected_uplift_high_reporting": MONEY,
    "target_marginal_roas": "double precision",
    "budget_at_target_marginal_roas_reporting": MONEY,
    # A rollback plan (``mbo rollback``): the plan whose applied changes it undoes.
    "rollback_of": "text",
    # Which conversion values the curves were fitted on (MBO_CONVERSION_SOURCE): 'platform' or 'deduplicated';
    # null for a rollback (it fits nothing) and for plans made before the setting existed.
    "conversion_source": "text",
}

#: Columns added to ``marts.budget_recommendations`` after the first release (``ensure_plan_tables`` adds them).
RECOMMENDATIONS_ADDED_COLUMNS = {
    # Why the recommendation is low-confidence: the open alerts on the campaign's input data (marts.alerts).
    "low_confidence_reason": "text",
}

#: The money columns of each plan table and their type. Databases made before money was numeric have
#: ``double precision`` there: ``ensure_plan_tables`` converts them (rounded to the type's scale).
MONEY_COLUMNS = {
    "budget_plans": {
        "total_daily_budget_reporting": MONEY,
        "expected_value_current_reporting": MONEY,
        "expected_value_recommended_reporting": MONEY,
        "expected_uplift_low_reporting": MONEY,
        "expected_uplift_high_reporting": MONEY,
        "budget_at_target_marginal_roas_reporting": MONEY,
    },
    "budget_recommendations": {
        "current_daily_budget": BUDGET,
        "recommended_daily_budget": BUDGET,
        "expected_value_current": MONEY,
        "expected_value_recommended": MONEY,
        "current_daily_budget_reporting": MONEY,
        "recommended_daily_budget_reporting": MONEY,
    },
}

_MONEY_ACCOUNT = "Money in the account's currency: numeric(20, 6), 6 decimals, never float."
_MONEY_REPORTING = "Money in the reporting currency: numeric(20, 6), rounded to 6 decimals, never float."
_BUDGET_CENTS = "Account currency, whole cents: numeric(18, 2), as the platform is asked to set it."
_RATIO = "A ratio, not money: double precision, as the solver computed it."

#: ``COMMENT ON`` each plan table: its description, then one per column. The same text as the sources
#: ``plans.budget_plans`` / ``plans.budget_recommendations`` in dbt_project/models/marts/_plan_tables.yml
#: (tests/transform/test_dbt_project.py compares them).
COMMENTS: dict[str, tuple[str, dict[str, str]]] = {
    "budget_plans": (
        "One row per plan: the total the solver allocated, what it expects, and how sure it is. Written by the "
        "Dagster asset budget_recommendations (and mbo rollback); plans are never updated.",
        {
            "plan_id": "The plan's id: plan-<last history day, YYYYMMDD>-<12 hex digits of the fingerprint of its "
                       "inputs> (the same inputs give the same id), or rollback-<UTC time>-<random> for a rollback "
                       "plan. What the push sensor acts on.",
            "created_at": "When the plan was made (UTC).",
            "reporting_currency": "Currency of every *_reporting column (MBO_REPORTING_CURRENCY).",
            "total_daily_budget_reporting": "Daily budget the plan allocates across its campaigns (the paced total, "
                                            f"clipped to what the max change allows). {_MONEY_REPORTING}",
            "expected_value_current_reporting": "Expected daily conversion value at the current budgets, on the "
                                                f"fitted response curves. {_MONEY_REPORTING}",
            "expected_value_recommended_reporting": "Expected daily conversion value at the recommended budgets, on "
                                                    f"the same curves. {_MONEY_REPORTING}",
            "campaign_count": "Number of campaigns in the plan (rows in budget_recommendations).",
            "history_start": "First day of the history the response curves were fitted on.",
            "history_end": "Last day of that history.",
            "solver_success": "Whether the allocator found and certified a feasible allocation.",
            "solver_message": "How the allocation was solved and how good it is, in words (and any clipping of the "
                              "total).",
            "optimality_gap": "Certified bound on how far the plan's expected value is from the best possible, "
                              f"relative (Lagrangian dual bound); 0 means proven optimal. {_RATIO}",
            "explanation": "The plan-level explanation shown to marketers (Claude's or the deterministic one), "
                           "preceded by the pacing sentence.",
            "explanation_source": "Who wrote the explanation: claude, deterministic or rollback.",
            "expected_uplift_low_reporting": "Low end of the central 90% interval of the expected daily uplift "
                                             "(recommended minus current); parameter uncertainty. Null for plans made "
                                             f"before intervals existed. {_MONEY_REPORTING}",
            "expected_uplift_high_reporting": f"High end of that interval. {_MONEY_REPORTING}",
            "target_marginal_roas": "Marginal ROAS of the spend scenario (MBO_TARGET_MARGINAL_ROAS); null for older "
                                    f"plans. {_RATIO}",
            "budget_at_target_marginal_roas_reporting": "How much to spend at all: the total daily budget at which "
                                                        "every campaign spends until its next unit returns "
                                                        "target_marginal_roas, each within the max change of its "
                                                        f"budget. Reported, never applied. {_MONEY_REPORTING}",
            "rollback_of": "For a plan made by mbo rollback, the plan whose applied changes it undoes (its budgets "
                           "are those in force before that plan); null for a plan of the optimizer.",
            "conversion_source": "Which conversion values the response curves were fitted on "
                                 "(MBO_CONVERSION_SOURCE): 'platform' (as the ad platforms report them) or "
                                 "'deduplicated' (de-duplicated against GA4, marts.fct_campaign_attribution; "
                                 "campaigns GA4 could not match keep their platform numbers). Part of the plan's "
                                 "identity. Null for rollback plans and for plans made before the setting existed.",
        },
    ),
    "budget_recommendations": (
        "One row per plan and active campaign: its current and recommended daily budget and why.",
        {
            "plan_id": "The plan (budget_plans.plan_id).",
            "platform": "Ad platform of the campaign (google_ads, meta_ads, tiktok_ads, or a CSV import's).",
            "account_id": "Ad account id on the platform.",
            "campaign_id": "Campaign id on the platform.",
            "campaign_name": "Campaign name when the plan was made.",
            "currency": "The account's currency, in which the budget and value columns without _reporting are.",
            "current_daily_budget": f"The campaign's daily budget when the plan was made. {_BUDGET_CENTS}",
            "recommended_daily_budget": "The plan's daily budget for the campaign, within the max change of the "
                                        f"current one. {_BUDGET_CENTS}",
            "expected_value_current": f"Expected daily conversion value at the current budget. {_MONEY_ACCOUNT}",
            "expected_value_recommended": "Expected daily conversion value at the recommended budget. "
                                          f"{_MONEY_ACCOUNT}",
            "marginal_roas": "Value one more unit of spend earns at the recommended budget, on the campaign's "
                             f"fitted curve. {_RATIO}",
            "reporting_currency": "Currency of the *_reporting columns.",
            "current_daily_budget_reporting": f"Current daily budget in the reporting currency. {_MONEY_REPORTING}",
            "recommended_daily_budget_reporting": "Recommended daily budget in the reporting currency; these sum to "
                                                  "budget_plans.total_daily_budget_reporting. "
                                                  f"{_MONEY_REPORTING}",
            "explanation": "One sentence on what the plan does to this campaign and why (held campaigns say so).",
            "explanation_source": "Who wrote the explanation: claude, deterministic or rollback.",
            "created_at": "When the row was written (UTC).",
            "low_confidence_reason": "Why this recommendation is low-confidence: the open alerts on the campaign's "
                                     "input data (marts.alerts ids, kinds and what they saw); null when none. With "
                                     "MBO_ALERT_ACTION=hold (the default) the plan keeps the campaign's budget; with "
                                     "approve its change waits for approval.",
        },
    ),
}


def ensure_plan_tables(conn: psycopg.Connection) -> None:
    """Create the marts schema and both plan tables, if missing; bring older databases up to date (the columns
    they lack, money as numeric) and comment every table and column. Idempotent: on an up-to-date database it
    only reads the catalog."""
    conn.execute("create schema if not exists marts")
    conn.execute(PLANS_DDL)
    _add_columns(conn, "budget_plans", PLANS_ADDED_COLUMNS)
    conn.execute(RECOMMENDATIONS_DDL)
    _add_columns(conn, "budget_recommendations", RECOMMENDATIONS_ADDED_COLUMNS)
    _money_as_numeric(conn)
    _comment(conn)


def _add_columns(conn: psycopg.Connection, table: str, columns: dict[str, str]) -> None:
    """Add the ``columns`` that ``marts.<table>`` lacks."""
    present = {
        name for (name,) in conn.execute(
            "select column_name from information_schema.columns where table_schema = 'marts' and table_name = %s",
            (table,),
        ).fetchall()
    }
    missing = [f"add column if not exists {name} {kind}" for name, kind in columns.items() if name not in present]
    if missing:  # only then: ALTER TABLE locks the table even when there is nothing to add
        conn.execute(f"alter table marts.{table} {', '.join(missing)}")


def _catalog(conn: psycopg.Connection) -> dict[tuple[str, str | None], tuple[str | None, str | None]]:
    """(table, column) -> (type, comment) of the plan tables' columns, and (table, None) -> (None, table comment)."""
    rows = conn.execute(
        """
        select c.relname, a.attname, format_type(a.atttypid, a.atttypmod), col_description(c.oid, a.attnum)
        from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where n.nspname = 'marts' and c.relname = any(%(tables)s)
        union all
        select c.relname, null, null, obj_description(c.oid, 'pg_class')
        from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'marts' and c.relname = any(%(tables)s)
        """,
        {"tables": list(COMMENTS)},
    ).fetchall()
    return {(table, column): (kind, comment) for table, column, kind, comment in rows}


def _same_type(a: str | None, b: str) -> bool:
    return a is not None and a.replace(" ", "") == b.replace(" ", "")


def _money_as_numeric(conn: psycopg.Connection) -> None:
    """Convert money columns of another type (``double precision`` before money was numeric) to theirs, rounded
    to its scale; an infinity (no numeric(p, s) holds one) becomes NaN, still not a finite number."""
    catalog = _catalog(conn)
    for table, columns in MONEY_COLUMNS.items():
        stale = [c for c, kind in columns.items() if (table, c) in catalog and not _same_type(catalog[(table, c)][0], kind)]
        if not stale:
            continue
        changes = sql.SQL(", ").join(
            sql.SQL("alter column {c} type {kind} using "
                    "case when {c}::text in ('Infinity', '-Infinity') then 'NaN' else {c}::numeric end").format(
                c=sql.Identifier(column), kind=sql.SQL(columns[column]))
            for column in stale
        )
        try:
            with conn.transaction():
                conn.execute(sql.SQL("alter table {} {}").format(sql.Identifier("marts", table), changes))
        except psycopg.errors.FeatureNotSupported as error:  # e.g. a view of the user's reads the column
            logger.warning("marts.%s keeps the old types of %s: %s", table, ", ".join(stale), error)


def _comment(conn: psycopg.Connection) -> None:
    """``COMMENT ON`` each plan table and column whose comment differs from ``COMMENTS`` (texts as literals)."""
    catalog = _catalog(conn)
    statements = []
    for table, (description, columns) in COMMENTS.items():
        if catalog.get((table, None), (None, None))[1] != description:
            statements.append(sql.SQL("comment on table {} is {}").format(
                sql.Identifier("marts", table), sql.Literal(description)))
        for column, text in columns.items():
            if (table, column) in catalog and catalog[(table, column)][1] != text:
                statements.append(sql.SQL("comment on column {} is {}").format(
                    sql.Identifier("marts", table, column), sql.Literal(text)))
    if statements:  # only then: COMMENT locks the table
        conn.execute(sql.SQL("; ").join(statements))
