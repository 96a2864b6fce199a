"""The plan tables Python creates in schema marts (mbo_pipelines/defs/optimize/tables.py) on a real PostgreSQL:
money is numeric with a fixed scale, also in a database made when it was double precision, and every table and
column carries its description as a comment, whatever characters it has; a second call changes nothing."""

from __future__ import annotations

import logging
from decimal import Decimal

import psycopg
import pytest

from mbo_pipelines.defs.optimize import tables
from mbo_pipelines.defs.optimize.tables import COMMENTS, MONEY_COLUMNS, ensure_plan_tables
from tests.transform.money_columns import expected_type, is_money

#: The plan tables as the releases before numeric money made them (money in double precision, no comments).
OLD_DDL = [
    """
    create table marts.budget_plans (
      plan_id text primary key, created_at timestamptz not null default now(), reporting_currency text not null,
      total_daily_budget_reporting double precision not null, expected_value_current_reporting double precision not null,
      expected_value_recommended_reporting double precision not null, campaign_count integer not null,
      history_start date not null, history_end date not null, solver_success boolean not null,
      solver_message text not null, optimality_gap double precision, explanation text not null,
      explanation_source text not null, expected_uplift_low_reporting double precision,
      expected_uplift_high_reporting double precision, target_marginal_roas double precision,
      budget_at_target_marginal_roas_reporting double precision, rollback_of text, conversion_source text)
    """,
    """
    create table marts.budget_recommendations (
      plan_id text not null references marts.budget_plans (plan_id), platform text not null,
      account_id text not null, campaign_id text not null, campaign_name text, currency text not null,
      current_daily_budget numeric(18, 2) not null, recommended_daily_budget numeric(18, 2) not null,
      expected_value_current double precision not null, expected_value_recommended double precision not null,
      marginal_roas double precision not null, reporting_currency text not null,
      current_daily_budget_reporting double precision not null,
      recommended_daily_budget_reporting double precision not null, explanation text not null,
      explanation_source text not null, created_at timestamptz not null default now(),
      primary key (plan_id, platform, account_id, campaign_id))
    """,
]


def _old_database(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("create schema marts")
        for ddl in OLD_DDL:
            conn.execute(ddl)
        conn.execute(
            "insert into marts.budget_plans (plan_id, reporting_currency, total_daily_budget_reporting, "
            "expected_value_current_reporting, expected_value_recommended_reporting, campaign_count, history_start, "
            "history_end, solver_success, solver_message, optimality_gap, explanation, explanation_source, "
            "expected_uplift_low_reporting, target_marginal_roas) "
            "values ('plan-old', 'USD', 13115.671600000001, 0.1::float8 + 0.2::float8, 'NaN', 1, '2026-01-01', '2026-01-31', true, "
            "'ok', 1e-9, 'x', 'deterministic', '-Infinity', 1.0)")
        conn.execute(
            "insert into marts.budget_recommendations values ('plan-old', 'google_ads', '1', 'c1', 'Brand', 'EUR', "
            "100, 110, 247.37, 250.123456789, 1.25, 'USD', 108.00000000000001, 118.8, 'y', 'deterministic')")


def _types(conn: psycopg.Connection) -> dict[tuple[str, str], tuple[str, int | None, int | None]]:
    return {(t, c): (kind, precision, scale) for t, c, kind, precision, scale in conn.execute(
        "select table_name, column_name, data_type, numeric_precision, numeric_scale from information_schema.columns "
        "where table_schema = 'marts'").fetchall()}


def _comments(conn: psycopg.Connection) -> dict[tuple[str, str | None], str | None]:
    rows = conn.execute(
        """
        select c.relname, null::name, obj_description(c.oid, 'pg_class')
        from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'marts' and c.relkind = 'r'
        union all
        select c.relname, a.attname, col_description(c.oid, a.attnum)
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where n.nspname = 'marts' and c.relkind = 'r'
        """).fetchall()
    return {(table, column): text for table, column, text in rows}


def _expected_comments() -> dict[tuple[str, str | None], str]:
    expected = {}
    for table, (description, columns) in COMMENTS.items():
        expected[(table, None)] = description
        expected.update({(table, column): text for column, text in columns.items()})
    return expected


class _Recording:
    """A connection that records the SQL it is given (``ensure_plan_tables`` only needs execute and transaction)."""

    def __init__(self, conn: psycopg.Connection):
        self.conn, self.statements = conn, []

    def execute(self, query, params=None):
        self.statements.append(query.as_string(self.conn) if hasattr(query, "as_string") else query)
        return self.conn.execute(query, params)

    def transaction(self):
        return self.conn.transaction()


def test_a_new_database_gets_numeric_money_and_every_comment(new_database):
    with psycopg.connect(new_database("plan_tables_new")) as conn:
        ensure_plan_tables(conn)
        types, comments = _types(conn), _comments(conn)
    money = {key: got for key, got in types.items() if is_money(key[1])}
    assert set(money) == {(t, c) for t, columns in MONEY_COLUMNS.items() for c in columns}
    assert {key: got for key, got in money.items() if got != expected_type(*key)} == {}
    assert comments == _expected_comments()


def test_an_older_database_is_converted_rounding_to_the_scale_and_commented(new_database):
    url = new_database("plan_tables_old")
    _old_database(url)
    with psycopg.connect(url) as conn:
        ensure_plan_tables(conn)
        conn.commit()
        types, comments = _types(conn), _comments(conn)
        plan = conn.execute(
            "select total_daily_budget_reporting, expected_value_current_reporting, "
            "expected_value_recommended_reporting, expected_uplift_low_reporting, optimality_gap, target_marginal_roas "
            "from marts.budget_plans").fetchone()
        rec = conn.execute(
            "select current_daily_budget, expected_value_current, expected_value_recommended, marginal_roas, "
            "current_daily_budget_reporting, recommended_daily_budget_reporting from marts.budget_recommendations"
        ).fetchone()
    assert {key: got for key, got in types.items() if is_money(key[1]) and got != expected_type(*key)} == {}
    assert types[("budget_plans", "optimality_gap")][0] == "double precision"  # a ratio: left alone
    total, current, recommended, low, gap, target = plan
    assert (total, current) == (Decimal("13115.671600"), Decimal("0.300000"))
    assert recommended.is_nan() and low.is_nan()  # not finite before, not finite now (numeric(20, 6) has no infinity)
    assert (gap, target) == (1e-9, 1.0)
    assert rec == (Decimal("100.00"), Decimal("247.370000"), Decimal("250.123457"), 1.25,
                   Decimal("108.000000"), Decimal("118.800000"))
    assert {key: text for key, text in comments.items() if key[0] in COMMENTS} == _expected_comments()


def test_a_second_call_changes_nothing(new_database):
    url = new_database("plan_tables_again")
    _old_database(url)
    with psycopg.connect(url) as conn:
        first = _Recording(conn)
        ensure_plan_tables(first)
        assert any(s.startswith("alter table") for s in first.statements)
        assert any(s.startswith("comment on") for s in first.statements)
        again = _Recording(conn)
        ensure_plan_tables(again)
    assert [s for s in again.statements if s.lstrip().startswith(("alter", "comment"))] == []


def test_quotes_and_other_special_characters_in_a_description_are_literals(new_database, monkeypatch):
    tricky = ("It's \"quoted\"; drop table marts.budget_plans; -- $$ $x$ $dbt_comment_literal_block$ \\ %s %% "
              "{} E'\\n' \n a second line, ünïcödé, €")
    description, columns = COMMENTS["budget_recommendations"]
    monkeypatch.setitem(tables.COMMENTS, "budget_recommendations",
                        (tricky, {**columns, "campaign_name": tricky + " (column)"}))
    with psycopg.connect(new_database("plan_tables_quotes")) as conn:
        ensure_plan_tables(conn)
        comments = _comments(conn)
        assert conn.execute("select count(*) from marts.budget_plans").fetchone() == (0,)
    assert comments[("budget_recommendations", None)] == tricky
    assert comments[("budget_recommendations", "campaign_name")] == tricky + " (column)"


def test_a_view_on_an_old_money_column_keeps_its_type_with_a_warning(new_database, caplog):
    """PostgreSQL cannot change the type of a column a view reads: the plans still work, the log says why."""
    url = new_database("plan_tables_view")
    _old_database(url)
    with psycopg.connect(url) as conn:
        conn.execute("create view marts.plan_totals as select plan_id, total_daily_budget_reporting from marts.budget_plans")
        conn.commit()
        with caplog.at_level(logging.WARNING, logger=tables.__name__):
            ensure_plan_tables(conn)
        conn.commit()
        types, comments = _types(conn), _comments(conn)
    assert types[("budget_plans", "total_daily_budget_reporting")][0] == "double precision"
    assert "marts.budget_plans keeps the old types of total_daily_budget_reporting" in caplog.text
    assert types[("budget_recommendations", "expected_value_current")] == ("numeric", 20, 6)
    assert comments[("budget_plans", "plan_id")] == COMMENTS["budget_plans"][1]["plan_id"]


@pytest.mark.parametrize("table", list(COMMENTS))
def test_every_column_of_the_ddl_has_a_comment_and_no_other(new_database, table):
    """COMMENTS names exactly the tables' columns (a comment for a missing column would be silently skipped)."""
    with psycopg.connect(new_database(f"plan_tables_cols_{table[:12]}")) as conn:
        ensure_plan_tables(conn)
        columns = [c for (c,) in conn.execute(
            "select column_name from information_schema.columns where table_schema = 'marts' and table_name = %s "
            "order by ordinal_position", (table,))]
    assert list(COMMENTS[table][1]) == columns
