"""Every column of the tables Python writes (plans, recommendations, the push ledger, quality results) is documented in dbt."""

import re
from pathlib import Path

import pytest
import yaml

from mbo_pipelines.defs.activate.ledger import EVENTS_DDL, LEDGER_ADDED_COLUMNS, LEDGER_DDL
from mbo_pipelines.defs.activate.rehearsals import REHEARSALS_ADDED_COLUMNS, REHEARSALS_DDL
from mbo_pipelines.defs.optimize.tables import (
    COMMENTS,
    MONEY_COLUMNS,
    PLANS_ADDED_COLUMNS,
    PLANS_DDL,
    RECOMMENDATIONS_ADDED_COLUMNS,
    RECOMMENDATIONS_DDL,
)
from mbo_pipelines.defs.alerts import store as alert_store
from mbo_pipelines.defs.quality.reported import REPORTED_DDL
from mbo_pipelines.defs.quality.store import CHECK_RESULTS_DDL
from tests.transform.money_columns import expected_type, is_money

DOCS = Path(__file__).resolve().parents[2] / "dbt_project" / "models" / "marts" / "_plan_tables.yml"
CONSTRAINTS = {"primary", "unique", "check", "constraint", "foreign"}


def ddl_columns(ddl: str) -> list[str]:
    """Column names of a ``create table`` statement, in order (constraint lines skipped)."""
    body = ddl[ddl.index("(") + 1 : ddl.rindex(")")]
    names = []
    for line in body.splitlines():
        match = re.match(r"\s*([a-z_][a-z0-9_]*)\s", line)
        if match and match.group(1) not in CONSTRAINTS:
            names.append(match.group(1))
    return names


def documented() -> dict[str, list[dict]]:
    sources = yaml.safe_load(DOCS.read_text())["sources"]
    return {f"{s['schema']}.{t['name']}": t["columns"] for s in sources for t in s["tables"]}


@pytest.mark.parametrize(
    ("table", "columns"),
    [
        ("marts.budget_plans", ddl_columns(PLANS_DDL) + list(PLANS_ADDED_COLUMNS)),
        ("marts.budget_recommendations", ddl_columns(RECOMMENDATIONS_DDL) + list(RECOMMENDATIONS_ADDED_COLUMNS)),
        ("activation.budget_changes", ddl_columns(LEDGER_DDL) + list(LEDGER_ADDED_COLUMNS)),
        ("activation.budget_change_events", ddl_columns(EVENTS_DDL)),
        ("activation.budget_rehearsals", ddl_columns(REHEARSALS_DDL) + list(REHEARSALS_ADDED_COLUMNS)),
        ("quality.check_results", ddl_columns(CHECK_RESULTS_DDL)),
        ("quality.reported_totals", ddl_columns(REPORTED_DDL)),
        ("marts.alerts", ddl_columns(alert_store.ALERTS_DDL)),
    ],
)
def test_docs_list_exactly_the_tables_columns_with_a_description(table, columns):
    docs = documented()[table]
    assert [c["name"] for c in docs] == columns
    assert all(str(c.get("description", "")).strip() for c in docs)


def ddl_types(ddl: str) -> dict[str, str]:
    """Column name -> declared type (``numeric(20, 6)``, ``double precision``, ...) of a ``create table``."""
    body = ddl[ddl.index("(") + 1 : ddl.rindex(")")]
    types = {}
    for line in body.splitlines():
        match = re.match(r"\s*([a-z_][a-z0-9_]*)\s+([a-z ]+?(?:\(\d+, \d+\))?)(?:\s+(?:not|primary|references|default)\b|,|$)", line)
        if match and match.group(1) not in CONSTRAINTS:
            types[match.group(1)] = match.group(2).strip()
    return types


@pytest.mark.parametrize("table", list(COMMENTS))
def test_the_plan_tables_comments_are_their_yml_descriptions(table):
    """tables.py comments the plan tables in the database (COMMENT ON) with the same text dbt docs shows."""
    [yml] = [t for s in yaml.safe_load(DOCS.read_text())["sources"] if s["name"] == "plans" for t in s["tables"]
             if t["name"] == table]
    description, columns = COMMENTS[table]
    assert yml["description"].strip() == description
    assert {c["name"]: c["description"].strip() for c in yml["columns"]} == columns


def test_the_alerts_tables_comments_are_its_yml_descriptions(new_database):
    """store.py comments marts.alerts in the database with the same text dbt docs shows."""
    import psycopg

    [yml] = [t for s in yaml.safe_load(DOCS.read_text())["sources"] if s["name"] == "alerts" for t in s["tables"]]
    assert yml["description"].strip() == alert_store.TABLE_COMMENT
    assert {c["name"]: c["description"].strip() for c in yml["columns"]} == alert_store.COMMENTS
    with psycopg.connect(new_database("alerts_comments")) as conn:
        alert_store.ensure_alerts_table(conn)
        comments = dict(conn.execute(
            "select a.attname, col_description(a.attrelid, a.attnum) from pg_attribute a "
            "where a.attrelid = 'marts.alerts'::regclass and a.attnum > 0 and not a.attisdropped").fetchall())
        table = conn.execute("select obj_description('marts.alerts'::regclass, 'pg_class')").fetchone()[0]
    assert (table, comments) == (alert_store.TABLE_COMMENT, alert_store.COMMENTS)


@pytest.mark.parametrize(
    ("table", "declared"),
    [
        ("budget_plans", {**ddl_types(PLANS_DDL), **PLANS_ADDED_COLUMNS}),
        ("budget_recommendations", ddl_types(RECOMMENDATIONS_DDL)),
    ],
)
def test_the_plan_tables_money_is_numeric_with_a_fixed_scale(table, declared):
    """Every money column (by name, tests/transform/money_columns.py) is declared with its numeric type, and is one
    ensure_plan_tables converts in older databases; ratios stay the solver's floats."""
    money = {column for column in declared if is_money(column)}
    assert money == set(MONEY_COLUMNS[table])
    for column in money:
        kind, precision, scale = expected_type(table, column)
        assert declared[column] == MONEY_COLUMNS[table][column] == f"{kind}({precision}, {scale})", column
    assert not any("double" in declared[c] or "real" in declared[c] for c in money)

