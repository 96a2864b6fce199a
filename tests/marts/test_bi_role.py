"""The read-only BI role (dbt var bi_role, default mbo_bi) on a real dbt build.

As mbo_bi (with the password the test server's role_url gives) every relation in schema
marts is readable: the dbt marts, a table that was in marts before the role existed, the plan tables
Python creates after it, and the marts a second dbt run recreates. Writing, creating and reading
anything outside marts fail. The on-run-start hook creates a missing role once and reuses it; a dbt
user that may not create roles is told what an administrator must run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from mbo_pipelines.defs.ingest.raw_tables import ensure_raw_tables
from mbo_pipelines.defs.optimize.tables import ensure_plan_tables
from mbo_pipelines.settings import dbt_env

PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
BI_ROLE = "mbo_bi"
DBT_MARTS = {"fct_campaign_daily", "dim_campaign", "account_pacing", "fct_campaign_attribution", "opt_campaign_inputs"}


def _dbt(url: str, tmp: Path, *args: str, role: str = BI_ROLE) -> subprocess.CompletedProcess:
    dbt = Path(sys.executable).parent / "dbt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MBO_DB_", "DBT_"))}
    env.update(dbt_env(url), MBO_REPORTING_CURRENCY="USD", MBO_BI_ROLE=role)
    return subprocess.run(
        [str(dbt) if dbt.exists() else "dbt", *args, "--no-use-colors",
         "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
         "--target-path", str(tmp / "target"), "--log-path", str(tmp / "logs")],
        env=env, capture_output=True, text=True, timeout=600,
    )


def _insert_raw(conn: psycopg.Connection) -> None:
    ensure_raw_tables(conn)
    conn.execute(
        "insert into raw.google_ads_campaign_daily (segments_date, customer_id, campaign_id, campaign_name, "
        "customer_currency_code, customer_time_zone, metrics_cost_micros, metrics_impressions, metrics_clicks, "
        "metrics_conversions, metrics_conversions_value) "
        "values ('2026-03-02', '5550000009', 'c1', 'Brand', 'USD', 'America/New_York', 10000000, 100, 10, 1, 50)"
    )
    first = date(2026, 1, 1)  # account_pacing converts the seed's budgets (USD, EUR, PLN) from January
    conn.cursor().executemany(
        "insert into raw.fx_rates (date, currency, rate_to_usd, source) values (%s, %s, %s, 'test')",
        [(first + timedelta(days=i), ccy, rate) for i in range(61)
         for ccy, rate in (("USD", 1), ("EUR", 1.08), ("PLN", 0.25))],
    )
    conn.commit()


@pytest.fixture(scope="module")
def bi_db(new_database, tmp_path_factory) -> tuple[str, Path]:
    url = new_database("bi_role")
    with psycopg.connect(url) as conn:
        _insert_raw(conn)
        # A table in marts from before the role existed (e.g. an older database's export).
        conn.execute("create schema marts")
        conn.execute("create table marts.legacy_export as select 1 as id")
        conn.commit()
    tmp = tmp_path_factory.mktemp("dbt_bi_role")
    result = _dbt(url, tmp, "build")
    assert result.returncode == 0, f"dbt build failed:\n{result.stdout[-8000:]}\n{result.stderr[-2000:]}"
    return url, tmp


def _marts_relations(admin: psycopg.Connection) -> dict[str, int]:
    """Every relation in schema marts (listed as the admin: information_schema hides what a role cannot see), with its oid."""
    return dict(admin.execute(
        "select t.table_name, (quote_ident(t.table_schema) || '.' || quote_ident(t.table_name))::regclass::oid::int "
        "from information_schema.tables t where t.table_schema = 'marts'"
    ).fetchall())


def _unreadable(bi_url: str, tables: list[str]) -> dict[str, str]:
    problems = {}
    with psycopg.connect(bi_url, autocommit=True) as bi:
        for table in tables:
            try:
                bi.execute(f'select * from marts."{table}" limit 1').fetchall()
            except psycopg.Error as error:
                problems[table] = str(error).strip()
    return problems


def test_bi_role_reads_every_relation_in_marts_including_later_ones(bi_db, role_url):
    url, tmp = bi_db
    bi_url = role_url(url, "bi")
    with psycopg.connect(url, autocommit=True) as admin:
        attributes = admin.execute(
            "select rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolinherit, rolbypassrls "
            "from pg_roles where rolname = %s", (BI_ROLE,)).fetchone()
        assert attributes == (True, False, False, False, True, False)
        before = _marts_relations(admin)
        assert DBT_MARTS | {"legacy_export"} <= set(before)
        assert _unreadable(bi_url, sorted(before)) == {}

        ensure_plan_tables(admin)  # created by Python after the role and its default privileges exist
        with_plans = _marts_relations(admin)
        assert {"budget_plans", "budget_recommendations"} <= set(with_plans)
        assert _unreadable(bi_url, sorted(with_plans)) == {}

        result = _dbt(url, tmp, "run")
        assert result.returncode == 0, f"dbt run failed:\n{result.stdout[-8000:]}"
        after = _marts_relations(admin)
        assert set(after) == set(with_plans)
        assert all(after[m] != with_plans[m] for m in DBT_MARTS), "the second run should recreate the marts"
        assert _unreadable(bi_url, sorted(after)) == {}


@pytest.mark.parametrize(
    "statement",
    [
        "insert into marts.fct_campaign_daily (campaign_key) values ('x')",
        "update marts.fct_campaign_attribution set spend = 0",
        "delete from marts.opt_campaign_inputs",
        "truncate marts.dim_campaign",
        "create table marts.bi_scratch (id int)",
        "create view marts.bi_view as select 1 as id",
        "create table public.bi_scratch (id int)",
        "create schema bi_scratch",
        "select * from raw.fx_rates",
        "select * from raw.ga4_traffic_daily",
        "select * from staging.stg_ga4__traffic_daily",
        "select * from intermediate.int_fx_rates__daily",
        "select * from reference.ga4_channel_mapping",
    ],
)
def test_bi_role_cannot_write_create_or_read_outside_marts(bi_db, role_url, statement):
    with psycopg.connect(role_url(bi_db[0], "bi"), autocommit=True) as bi:
        with pytest.raises(errors.InsufficientPrivilege):
            bi.execute(statement)


def test_missing_role_is_created_with_login_and_nothing_more(new_database, role_url, tmp_path):
    """The on-run-start hook creates a role that does not exist yet, when dbt's user may create roles (here the
    superuser; an existing one, as mbo_bi in the module's second run above, is left alone)."""
    url = role_url(new_database("bi_create"), "admin")
    role = f"mbo_bi_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url) as conn:
        ensure_raw_tables(conn)
    try:
        result = _dbt(url, tmp_path, "run", "--select", "stg_ga4__traffic_daily", role=role)
        assert result.returncode == 0, f"dbt run failed:\n{result.stdout[-4000:]}"
        with psycopg.connect(url, autocommit=True) as admin:
            assert admin.execute(
                "select rolcanlogin, rolsuper, rolcreaterole, rolcreatedb from pg_roles where rolname = %s", (role,)
            ).fetchall() == [(True, False, False, False)]
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"drop owned by {role}")
            admin.execute(f"drop role if exists {role}")


def test_dbt_user_that_cannot_create_roles_is_told_what_an_admin_must_run(new_database, tmp_path):
    """mbo_app, the role the pipeline runs dbt as, may not create roles."""
    url = new_database("bi_nocreate")
    role = f"mbo_bi_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url) as conn:
        user, powerful = conn.execute(
            "select rolname, rolsuper or rolcreaterole from pg_roles where rolname = current_user").fetchone()
        ensure_raw_tables(conn)
    if powerful:
        pytest.skip(f"MBO_DATABASE_URL's user {user} may create roles")
    result = _dbt(url, tmp_path, "run", "--select", "stg_ga4__traffic_daily", role=role)
    # dbt still runs the selected models after a failed on-run-start hook (a mart's grant to the
    # missing role would fail too), but the run fails and says what to do.
    assert result.returncode != 0
    assert "ERROR hook: mbo.on-run-start.0" in result.stdout
    assert f'database user "{user}" may not create the read-only BI role "{role}"' in result.stdout
    assert f"An administrator must run once: CREATE ROLE {role} LOGIN PASSWORD '<choose one>';" in result.stdout
    with psycopg.connect(url) as conn:
        assert conn.execute("select count(*) from pg_roles where rolname = %s", (role,)).fetchone() == (0,)
