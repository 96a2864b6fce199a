"""Incremental marts: a run over a window of days rebuilds those days only, and equals a full rebuild.

One sandbox load of 20 days (2026-02-09 .. 02-28) through the real ``daily_refresh`` job (extracts and dbt;
the plan is not needed), built once for the module; each test works on a copy of that database
(``create database ... template``). The window runs use the real dbt project in a subprocess with the vars
the Dagster asset passes (``mbo_start_date`` / ``mbo_end_date``), or the Dagster job itself for a partition.

The same database shows what BI tools see in schema marts: every relation and column described (dbt's
persist_docs, the plan tables' own comments), and money as numeric with a fixed scale.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG, PARTITION_NAME_TAG

from mbo_pipelines import asset_keys
from mbo_pipelines import operations
from mbo_pipelines.definitions import build_definitions
from mbo_pipelines.defs.optimize.tables import COMMENTS, ensure_plan_tables
from mbo_pipelines.resources import MboResource
from mbo_pipelines.settings import dbt_env
from tests.transform.money_columns import MONEY_TYPE, expected_type, is_money

PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
TODAY = date(2026, 3, 1)
FIRST, LAST = date(2026, 2, 9), date(2026, 2, 28)  # 20 days loaded
NEW_DAY = TODAY  # added by hand after the load
WINDOW = (LAST - timedelta(days=1), NEW_DAY)  # the last 2 loaded days and the new one
INCREMENTAL_MARTS = ["fct_campaign_daily", "fct_campaign_attribution", "fct_platform_daily", "opt_campaign_inputs"]
DAILY_TABLES = {  # raw table: its date column
    "raw.google_ads_campaign_daily": "segments_date",
    "raw.meta_ads_campaign_daily": "date_start",
    "raw.tiktok_ads_campaign_daily": "stat_time_day",
    "raw.ga4_traffic_daily": "date",
}


def _defs(url: str) -> dg.Definitions:
    return build_definitions(mbo=MboResource(database_url=url, sandbox_today=TODAY.isoformat()))


def _extract_and_marts(defs: dg.Definitions) -> list[dg.AssetKey]:
    """Every asset of the daily refresh but the plan."""
    job = defs.resolve_job_def("daily_refresh")
    graph = job.asset_layer.asset_graph
    return [key for key in graph.get_all_asset_keys()
            if graph.get(key).is_executable and key not in (asset_keys.PLANS, asset_keys.RECOMMENDATIONS)]


def _run_job(url: str, tags: dict[str, str], instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    defs = _defs(url)
    result = defs.resolve_job_def("daily_refresh").execute_in_process(
        instance=instance or dg.DagsterInstance.ephemeral(), tags=tags, asset_selection=_extract_and_marts(defs),
        raise_on_error=False,
    )
    assert result.success, operations.failure_reason(result)
    return result


@pytest.fixture(scope="module")
def built_url(new_database) -> str:
    """20 sandbox days extracted and built by the daily refresh (a first build on an empty database)."""
    url = new_database("incr_base")
    _run_job(url, {ASSET_PARTITION_RANGE_START_TAG: FIRST.isoformat(), ASSET_PARTITION_RANGE_END_TAG: LAST.isoformat()})
    return url


@pytest.fixture
def copy_url(built_url: str, new_database) -> str:
    """A copy of the built database, for one test to change."""
    return new_database("incr", template=built_url.rsplit("/", 1)[1])


def _dbt(url: str, *args: str) -> None:
    dbt = Path(sys.executable).parent / "dbt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MBO_DB_", "DBT_"))}
    env.update(dbt_env(url))
    with tempfile.TemporaryDirectory(prefix="mbo-incr-dbt-") as tmp:
        result = subprocess.run(
            [str(dbt) if dbt.exists() else "dbt", *args, "--no-use-colors",
             "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
             "--target-path", f"{tmp}/target", "--log-path", f"{tmp}/logs"],
            env=env, capture_output=True, text=True, timeout=600,
        )
    assert result.returncode == 0, f"dbt {args} failed:\n{result.stdout[-6000:]}"


def _window_vars(start: date, end: date) -> str:
    return f"{{mbo_start_date: '{start}', mbo_end_date: '{end}'}}"


def _checksums_before(url: str, day: date) -> dict[str, tuple[int, str]]:
    """Per incremental mart: how many rows are dated before ``day``, and an md5 of all their columns."""
    with psycopg.connect(url) as conn:
        return {
            mart: conn.execute(
                f"select count(*), md5(coalesce(string_agg(t::text, '|' order by t::text), '')) "
                f"from marts.{mart} as t where date_day < %s", (day,)
            ).fetchone()
            for mart in INCREMENTAL_MARTS
        }


def _contents(url: str) -> dict[str, list[str]]:
    """Every row (all columns, as text) of every incremental mart, sorted."""
    with psycopg.connect(url) as conn:
        return {mart: [r[0] for r in conn.execute(f"select t::text from marts.{mart} as t order by 1")]
                for mart in INCREMENTAL_MARTS}


def _change_raw(url: str) -> dict[str, object]:
    """Change raw rows of the window's 2 loaded days only, and add the new day; return what was changed."""
    with psycopg.connect(url) as conn:
        conn.execute("update raw.google_ads_campaign_daily set metrics_cost_micros = metrics_cost_micros * 2 "
                     "where segments_date = %s", (LAST,))
        conn.execute("update raw.meta_ads_campaign_daily set spend = spend + 10 where date_start = %s", (WINDOW[0],))
        # GA4 saw half as much on the last day: the day's de-duplication factors change for every campaign.
        conn.execute("update raw.ga4_traffic_daily set key_events = key_events / 2, total_revenue = total_revenue / 2 "
                     "where date = %s", (LAST,))
        # A campaign-day the platform no longer reports: it must leave the marts too.
        gone = conn.execute(
            "delete from raw.tiktok_ads_campaign_daily where (advertiser_id, campaign_id, stat_time_day) = "
            "(select advertiser_id, campaign_id, stat_time_day from raw.tiktok_ads_campaign_daily "
            " where stat_time_day = %s and spend > 0 order by campaign_id limit 1) returning campaign_id", (LAST,)
        ).fetchone()[0]
        for table, column in DAILY_TABLES.items():  # the new day: a copy of the last one
            names = [r[0] for r in conn.execute(
                "select column_name from information_schema.columns where table_schema || '.' || table_name = %s "
                "order by ordinal_position", (table,))]
            values = [f"{n} + 1" if n == column else n for n in names]
            conn.execute(f"insert into {table} ({', '.join(names)}) select {', '.join(values)} from {table} "
                         f"where {column} = %s", (LAST,))
        conn.execute("insert into raw.fx_rates (date, currency, rate_to_usd, source) "
                     "select %s, currency, rate_to_usd, source from raw.fx_rates where date = "
                     "(select max(date) from raw.fx_rates) on conflict do nothing", (NEW_DAY,))
    return {"gone_campaign": gone}


def test_a_window_run_leaves_older_rows_alone_and_equals_a_full_rebuild(copy_url):
    before = _checksums_before(copy_url, WINDOW[0])
    window_before = _contents(copy_url)
    changed = _change_raw(copy_url)

    _dbt(copy_url, "build", "--vars", _window_vars(*WINDOW))  # models and the (windowed) tests
    assert _checksums_before(copy_url, WINDOW[0]) == before
    assert all(count > 0 for count, _ in before.values())
    incremental = _contents(copy_url)
    for mart in INCREMENTAL_MARTS:  # the window really was rebuilt: new and changed rows
        assert incremental[mart] != window_before[mart], mart
    with psycopg.connect(copy_url) as conn:
        assert conn.execute("select count(*) from marts.fct_campaign_daily where platform = 'tiktok_ads' "
                            "and campaign_id = %s and date_day = %s", (changed["gone_campaign"], LAST)).fetchone()[0] == 0
        assert conn.execute("select count(*) from marts.opt_campaign_inputs where date_day = %s",
                            (NEW_DAY,)).fetchone()[0] > 0

    _dbt(copy_url, "run", "--full-refresh")
    assert _contents(copy_url) == incremental


TAMPERED = "Tampered/Zone"


def _tamper(url: str, day: date) -> tuple:
    """Overwrite one fct_campaign_daily row's account_timezone on ``day`` (a column no test recomputes); return its
    key. A rebuild of that day puts the real one back."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            f"update marts.fct_campaign_daily set account_timezone = '{TAMPERED}' "
            "where (platform, account_id, campaign_id, date_day) "
            "= (select platform, account_id, campaign_id, date_day from marts.fct_campaign_daily where date_day = %s "
            "order by 1, 2, 3 limit 1) returning platform, account_id, campaign_id, date_day", (day,)
        ).fetchone()


def _timezone(url: str, key: tuple) -> str:
    with psycopg.connect(url) as conn:
        return conn.execute("select account_timezone from marts.fct_campaign_daily where (platform, account_id, "
                            "campaign_id, date_day) = (%s, %s, %s, %s)", key).fetchone()[0]


def test_a_partition_run_rebuilds_its_day_and_the_lookback_days_only(copy_url, monkeypatch):
    monkeypatch.setenv("MBO_LOOKBACK_DAYS", "3")
    old, in_window = _tamper(copy_url, FIRST + timedelta(days=2)), _tamper(copy_url, LAST - timedelta(days=3))

    instance = dg.DagsterInstance.ephemeral()
    result = _run_job(copy_url, {PARTITION_NAME_TAG: LAST.isoformat()}, instance)

    assert _timezone(copy_url, old) == TAMPERED  # before the window: not rebuilt
    assert _timezone(copy_url, in_window) != TAMPERED  # LAST - 3: rebuilt
    vars_line = f'"mbo_start_date": "{LAST - timedelta(days=3)}", "mbo_end_date": "{LAST}"'
    logged = [e.user_message for e in instance.all_logs(result.run_id) if "dbt build --vars" in e.user_message]
    assert any(vars_line in line for line in logged), logged
    built = {e.materialization.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    assert set(INCREMENTAL_MARTS) <= built
    # Each built table's materialization carries its exact row count; views are not counted.
    counts = {e.materialization.asset_key.path[-1]: e.materialization.metadata.get("dagster/row_count")
              for e in result.get_asset_materialization_events()}
    with psycopg.connect(copy_url) as conn:
        for table in (*INCREMENTAL_MARTS, "dim_campaign", "account_pacing"):
            assert counts[table].value == conn.execute(f"select count(*) from marts.{table}").fetchone()[0] > 0, table
    assert counts["stg_google_ads__campaign_daily"] is None


def test_refresh_full_rebuilds_every_day(copy_url, tmp_path):
    old = _tamper(copy_url, FIRST)
    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        outcome = operations.refresh(_defs(copy_url), instance, LAST, LAST, full=True)
    assert outcome.ok, outcome.message
    assert _timezone(copy_url, old) != TAMPERED


DESCRIBED_SCHEMAS = ["marts", "staging", "intermediate", "reference"]


def _dbt_manifest(url: str, target: Path, *args: str) -> dict:
    """Run dbt (as ``_dbt``) with its target in ``target``; the manifest of that run."""
    dbt = Path(sys.executable).parent / "dbt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MBO_DB_", "DBT_"))}
    env.update(dbt_env(url))
    result = subprocess.run(
        [str(dbt) if dbt.exists() else "dbt", *args, "--no-use-colors",
         "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
         "--target-path", str(target / "target"), "--log-path", str(target / "logs")],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, f"dbt {args} failed:\n{result.stdout[-6000:]}"
    return json.loads((target / "target" / "manifest.json").read_text())


def _database_descriptions(url: str) -> dict[tuple[str, str, str | None], str | None]:
    """(schema, relation, column; None for the relation itself) -> its comment, for every table, view and
    materialized view of ``DESCRIBED_SCHEMAS`` and each of their columns."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """
            select n.nspname, c.relname, null::name, obj_description(c.oid, 'pg_class')
            from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = any(%(schemas)s) and c.relkind in ('r', 'p', 'v', 'm', 'f')
            union all
            select n.nspname, c.relname, a.attname, col_description(c.oid, a.attnum)
            from pg_class c join pg_namespace n on n.oid = c.relnamespace
            join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
            where n.nspname = any(%(schemas)s) and c.relkind in ('r', 'p', 'v', 'm', 'f')
            """,
            {"schemas": DESCRIBED_SCHEMAS},
        ).fetchall()
    return {(schema, relation, column): text for schema, relation, column, text in rows}


def _yml_descriptions(manifest: dict) -> dict[tuple[str, str, str | None], str]:
    """The same keys -> the rendered yml description, for every model and seed, and the plan and alert tables
    (sources)."""
    documented = [node for node in manifest["nodes"].values() if node["resource_type"] in ("model", "seed")]
    documented += [node for node in manifest["sources"].values() if node["source_name"] in ("plans", "alerts")]
    expected = {}
    for node in documented:
        relation = node.get("alias") or node.get("identifier") or node["name"]
        expected[(node["schema"], relation, None)] = node["description"]
        for column, spec in node["columns"].items():
            expected[(node["schema"], relation, column)] = spec["description"]
    return expected


def test_every_relation_and_column_in_marts_has_its_yml_description_in_the_database(copy_url, tmp_path):
    """What BI tools and ``\\d+`` show: dbt's persist_docs on tables, views, seeds and the incremental marts'
    delete+insert runs, and the comments the plan tables give themselves, each the yml's description."""
    with psycopg.connect(copy_url) as conn:
        ensure_plan_tables(conn)  # as the optimizer creates them
        assert conn.execute("select count(*) from marts.budget_plans").fetchone()[0] == 0
    # A window run must write them again: drop some first, then rebuild the incremental marts' window.
    with psycopg.connect(copy_url, autocommit=True) as conn:
        for mart in INCREMENTAL_MARTS:
            conn.execute(f"comment on table marts.{mart} is null")
            conn.execute(f"comment on column marts.{mart}.date_day is null")
    manifest = _dbt_manifest(copy_url, tmp_path, "run", "--select", *INCREMENTAL_MARTS, "--vars", _window_vars(*WINDOW))

    described, expected = _database_descriptions(copy_url), _yml_descriptions(manifest)
    in_marts = {key: text for key, text in described.items() if key[0] == "marts"}
    relations = {relation for _, relation, column in in_marts if column is None}
    assert {*INCREMENTAL_MARTS, "dim_campaign", "account_pacing", "fct_budget_pacing",
            *COMMENTS} <= relations
    assert sorted(".".join(filter(None, key)) for key, text in in_marts.items() if not (text or "").strip()) == []
    assert sorted(".".join(filter(None, key)) for key in in_marts if key not in expected) == []
    different = {".".join(filter(None, key)): (text, expected[key])
                 for key, text in described.items() if key in expected and text != expected[key]}
    assert different == {}
    # staging, intermediate and the seeds are described too (every relation dbt built there)
    built = {key[:2] for key in described if key[0] != "marts"}
    assert built and built <= {key[:2] for key in expected}


def test_money_in_marts_is_numeric_with_a_fixed_scale(copy_url):
    """No float money anywhere in schema marts (dbt marts and plan tables): each money column, found by its
    name (tests/transform/money_columns.py), is numeric(20, 6), or numeric(18, 2) for a budget to set."""
    with psycopg.connect(copy_url) as conn:
        ensure_plan_tables(conn)
        columns = conn.execute(
            "select table_name, column_name, data_type, numeric_precision, numeric_scale "
            "from information_schema.columns where table_schema = 'marts'"
        ).fetchall()
    money = {(table, column): (kind, precision, scale)
             for table, column, kind, precision, scale in columns if is_money(column)}
    assert sorted(f"{t}.{c}" for (t, c), (kind, *_) in money.items() if kind in ("real", "double precision")) == []
    assert {f"{t}.{c}": got for (t, c), got in money.items() if got != expected_type(t, c)} == {}
    # The names find the money of every kind of mart, and no ratio.
    assert {("fct_campaign_daily", "spend"), ("fct_campaign_daily", "conversion_value_reporting"),
            ("fct_platform_daily", "cpa_reporting"), ("fct_budget_pacing", "projected_month_end_spend"),
            ("fct_campaign_attribution", "ga4_revenue"), ("opt_campaign_inputs", "dedup_conversion_value_reporting"),
            ("dim_campaign", "daily_budget_reporting"), ("budget_plans", "total_daily_budget_reporting"),
            ("budget_plans", "expected_uplift_low_reporting"), ("budget_recommendations", "expected_value_current"),
            ("budget_recommendations", "recommended_daily_budget")} <= set(money)
    ratios = {"roas", "share_of_spend", "projected_vs_budget", "dedup_factor_value", "fx_rate_to_reporting",
              "marginal_roas", "target_marginal_roas", "optimality_gap"}
    assert not {column for _, column in money} & ratios
    assert sum(got == MONEY_TYPE for got in money.values()) > 40

