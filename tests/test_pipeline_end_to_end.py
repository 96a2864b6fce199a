"""The whole loop on the sandbox, once per session: extract 90 days → dbt → plan → push, then again.

These are the issue's acceptance points, checked against a real PostgreSQL
through the real Definitions (the same jobs `make demo` runs).
"""

from datetime import date, timedelta

import dagster as dg
import psycopg
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from mbo_pipelines import asset_keys
from tests.optimize.optimize_helpers import with_facts
from mbo_pipelines.definitions import build_definitions
from mbo_pipelines.defs.activate import ActivationResource
from mbo_pipelines.resources import MboResource
from mbo_pipelines.sandbox.platforms import SandboxMarket

TODAY = date(2026, 3, 1)
DAYS = 90
START, END = TODAY - timedelta(days=DAYS), TODAY - timedelta(days=1)


def _run_loop(defs: dg.Definitions, instance: dg.DagsterInstance) -> dict:
    """Refresh and push once; return the metadata of the plan's two materializations (budget_plans, then
    budget_recommendations)."""
    tags = {ASSET_PARTITION_RANGE_START_TAG: START.isoformat(), ASSET_PARTITION_RANGE_END_TAG: END.isoformat()}
    refresh = defs.resolve_job_def("daily_refresh").execute_in_process(instance=instance, tags=tags)
    assert refresh.success
    events = {e.materialization.asset_key: e.materialization.metadata for e in refresh.get_asset_materialization_events()
              if e.materialization.asset_key in (asset_keys.PLANS, asset_keys.RECOMMENDATIONS)}
    # The plan's metadata, then the recommendations' (charts, largest moves), in the order the UI shows them.
    metadata = with_facts({**events[asset_keys.PLANS], **events[asset_keys.RECOMMENDATIONS]})
    plan_id = metadata["plan_id"].value
    push = defs.resolve_job_def("push_budget_changes_job").execute_in_process(
        instance=instance, run_config={"ops": {"push_budget_changes": {"config": {"plan_id": plan_id}}}}
    )
    assert push.success
    return metadata


def _counts(conn) -> dict[str, int]:
    tables = ["raw.google_ads_campaign_daily", "raw.meta_ads_campaign_daily", "raw.tiktok_ads_campaign_daily",
              "raw.google_ads_campaigns", "raw.meta_ads_campaigns", "raw.tiktok_ads_campaigns",
              "marts.fct_campaign_daily", "marts.dim_campaign"]
    return {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in tables}


@pytest.fixture(scope="module")
def loop(new_database):
    """Run the loop twice on a database of its own; yield what each run left behind."""
    url = new_database("e2e")
    mbo = MboResource(database_url=url, sandbox_today=TODAY.isoformat())
    defs = build_definitions(
        mbo=mbo, activation=ActivationResource(database_url=url, sandbox_today=TODAY.isoformat())
    )
    instance = dg.DagsterInstance.ephemeral()
    first_metadata = _run_loop(defs, instance)
    with psycopg.connect(url) as conn:
        first_counts = _counts(conn)
    second_metadata = _run_loop(defs, instance)
    with psycopg.connect(url) as conn:
        second_counts = _counts(conn)
    plans = tuple(m["plan_id"].value for m in (first_metadata, second_metadata))
    return {"url": url, "plans": plans, "counts": (first_counts, second_counts), "metadata": second_metadata}


@pytest.fixture
def db(loop):
    with psycopg.connect(loop["url"]) as conn:
        yield conn


def test_mart_holds_every_day_for_every_sandbox_campaign(db):
    expected = db.execute("select count(*) from sandbox.campaigns where seed = 7").fetchone()[0]
    per_campaign = db.execute(
        "select platform, account_id, campaign_id, count(distinct date_day), min(date_day), max(date_day) "
        "from marts.fct_campaign_daily group by 1, 2, 3"
    ).fetchall()
    assert len(per_campaign) == expected
    assert {(n, lo, hi) for *_, n, lo, hi in per_campaign} == {(DAYS, START, END)}


def test_mart_spend_equals_raw_spend_per_platform(db):
    raw = dict(db.execute(
        """
        select 'google_ads', sum(metrics_cost_micros) / 1e6 from raw.google_ads_campaign_daily
        union all select 'meta_ads', sum(spend) from raw.meta_ads_campaign_daily
        union all select 'tiktok_ads', sum(spend) from raw.tiktok_ads_campaign_daily
        """
    ).fetchall())
    mart = dict(db.execute("select platform, sum(spend) from marts.fct_campaign_daily group by 1").fetchall())
    assert set(mart) == {"google_ads", "meta_ads", "tiktok_ads"}
    for platform, total in raw.items():
        assert float(mart[platform]) == pytest.approx(float(total), abs=0.01)


def test_latest_plan_covers_active_campaigns_keeps_total_and_bounds(db, loop):
    latest = loop["plans"][1]
    assert db.execute("select plan_id from marts.budget_plans order by created_at desc limit 1").fetchone()[0] == latest
    active = db.execute("select count(*) from marts.dim_campaign where status = 'active'").fetchone()[0]
    total, summed, n, worst = db.execute(
        """
        select p.total_daily_budget_reporting, sum(r.recommended_daily_budget_reporting), count(*),
               max(abs(r.recommended_daily_budget / r.current_daily_budget - 1))
        from marts.budget_plans p join marts.budget_recommendations r using (plan_id)
        where plan_id = %s group by 1
        """,
        (latest,),
    ).fetchone()
    assert n == active > 0
    assert abs(summed - total) <= 0.01
    assert float(worst) <= 0.30 + 1e-9
    first_moves = db.execute(
        "select max(abs(recommended_daily_budget / current_daily_budget - 1)) from marts.budget_recommendations "
        "where plan_id = %s", (loop["plans"][0],)).fetchone()[0]
    assert float(first_moves) > 0.01  # the first plan really moves money


def test_changes_applied_and_sandbox_budgets_equal_recommended(db, loop):
    first, latest = loop["plans"]
    statuses = dict(db.execute(
        "select status, count(*) from activation.budget_changes where plan_id = %s group by 1", (first,)
    ).fetchall())
    assert set(statuses) == {"applied"}
    # The second run plans on the same history within the same day's limits: it asks for nothing more.
    assert db.execute("select count(*) from activation.budget_changes where plan_id = %s", (latest,)).fetchone()[0] == 0
    recommended = {
        (p, c): float(b) for p, c, b in db.execute(
            "select platform, campaign_id, recommended_daily_budget from marts.budget_recommendations where plan_id = %s",
            (latest,),
        )
    }
    market = SandboxMarket(loop["url"], seed=7, today=TODAY)
    current = {(p, c): b for p in ("google_ads", "meta_ads", "tiktok_ads") for c, b in market.current_budgets(p).items()}
    assert current == pytest.approx(recommended, abs=0.005)


def test_a_second_plan_the_same_day_stays_within_the_maximum_change_of_the_morning_budgets(db, loop):
    """Re-runs cannot stack: the second plan is within ±30% of the budgets before the first push, too."""
    first, second = loop["plans"]
    rows = db.execute(
        "select a.current_daily_budget, b.recommended_daily_budget from marts.budget_recommendations a "
        "join marts.budget_recommendations b using (platform, account_id, campaign_id) "
        "where a.plan_id = %s and b.plan_id = %s", (first, second),
    ).fetchall()
    assert len(rows) > 0
    worst = max(abs(float(new) / float(morning) - 1) for morning, new in rows)
    assert worst <= 0.30 + 0.005


def test_second_run_duplicates_nothing(loop, db):
    first, second = loop["counts"]
    assert first == second


def test_the_platform_received_each_applied_change_once_with_the_ledgers_amount(db, loop):
    """Counted at the platform (the sandbox's write log), not in the ledger, whose unique key allows one row."""
    ledger = db.execute(
        "select platform, account_id, campaign_id, new_daily_budget from activation.budget_changes "
        "where status = 'applied' order by applied_at, change_id"
    ).fetchall()
    writes = db.execute(
        "select platform, account_id, campaign_id, daily_budget from sandbox.budget_changes where seed = 7 "
        "order by change_id"
    ).fetchall()
    assert len(ledger) > 0 and {p for p, *_ in ledger} == {"google_ads", "meta_ads", "tiktok_ads"}
    assert writes == ledger


def test_pushed_budgets_convert_to_the_reporting_recommendation_at_the_latest_rate(db, loop):
    """The account-currency budget sent to the platform, times the currency's latest published rate in
    raw.fx_rates, is the reporting-currency plan (±1 cent)."""
    to_usd = dict(db.execute(
        "select distinct on (currency) currency, rate_to_usd::float from raw.fx_rates order by currency, date desc"
    ).fetchall())
    rows = db.execute(
        "select currency, current_daily_budget, recommended_daily_budget, current_daily_budget_reporting, "
        "recommended_daily_budget_reporting from marts.budget_recommendations where plan_id = %s", (loop["plans"][1],)
    ).fetchall()
    assert {c for c, *_ in rows} == {"USD", "EUR", "PLN"}
    for currency, current, recommended, current_rep, recommended_rep in rows:
        assert float(current) * to_usd[currency] == pytest.approx(float(current_rep), abs=0.01)
        assert float(recommended) * to_usd[currency] == pytest.approx(float(recommended_rep), abs=0.01)


def test_every_new_mart_is_built_from_the_sandbox(db, loop):
    """Attribution against the sandbox's GA4, platform totals, pacing projection and the optimizer's inputs."""
    facts = db.execute("select count(*) from marts.fct_campaign_daily").fetchone()[0]
    claimed, dedup, matched, rows = db.execute(
        "select sum(platform_conversions), sum(dedup_conversions), count(*) filter (where is_ga4_matched), count(*) "
        "from marts.fct_campaign_attribution").fetchone()
    assert rows == facts and db.execute("select count(*) from marts.opt_campaign_inputs").fetchone()[0] == facts
    # One untagged campaign per account (6 of the market's campaigns) cannot be matched; the rest are.
    assert 0.7 * rows < matched < rows
    assert 0.4 * float(claimed) < float(dedup) < 0.9 * float(claimed)  # GA4 sees 45-85% of the claims
    platforms = db.execute("select count(distinct platform), count(distinct date_day), sum(share_of_spend) "
                           "from marts.fct_platform_daily").fetchone()
    assert platforms[:2] == (3, DAYS) and float(platforms[2]) == pytest.approx(DAYS)
    projected = db.execute("select count(*) from marts.fct_budget_pacing where month = %s "
                           "and projected_month_end_spend > 0", (TODAY.replace(day=1),)).fetchone()[0]
    assert projected == 6
    plan_source = db.execute("select conversion_source from marts.budget_plans where plan_id = %s",
                             (loop["plans"][1],)).fetchone()[0]
    assert plan_source == "platform"


def test_pushing_the_same_plan_again_applies_nothing(loop):
    url = loop["url"]
    defs = build_definitions(
        mbo=MboResource(database_url=url, sandbox_today=TODAY.isoformat()),
        activation=ActivationResource(database_url=url, sandbox_today=TODAY.isoformat()),
    )
    with psycopg.connect(url) as conn:
        before = conn.execute("select count(*) from sandbox.budget_changes").fetchone()[0]
    latest = loop["plans"][1]
    result = defs.resolve_job_def("push_budget_changes_job").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {"push_budget_changes": {"config": {"plan_id": latest}}}},
    )
    assert result.success
    with psycopg.connect(url) as conn:
        assert conn.execute("select count(*) from sandbox.budget_changes").fetchone()[0] == before


def test_plan_metadata_shows_certificate_uplift_interval_and_charts(loop, db):
    metadata = loop["metadata"]
    assert {"optimality_gap", "dual_upper_bound", "expected_uplift", "expected_uplift_low", "expected_uplift_high",
            "response_curves", "allocation_by_platform"} <= set(metadata)
    low, high = metadata["expected_uplift_low"].value, metadata["expected_uplift_high"].value
    assert low <= metadata["expected_uplift"].value <= high
    assert metadata["dual_upper_bound"].value >= metadata["expected_value_recommended"].value - 0.01
    for key in ("response_curves", "allocation_by_platform"):
        # Small enough for the asset page to show it in place (the UI folds Markdown of 1 000 characters or more).
        assert metadata[key].value.startswith("![") and "](data:image/svg+xml;base64,PHN2Zy" in metadata[key].value
        assert len(metadata[key].value) < 1000
    stored = db.execute(
        "select expected_uplift_low_reporting, expected_uplift_high_reporting from marts.budget_plans where plan_id = %s",
        (loop["plans"][1],),
    ).fetchone()
    assert None not in stored
    assert tuple(map(float, stored)) == pytest.approx((low, high), abs=0.01)  # numeric: read as Decimal


def test_plan_total_is_the_paced_total_within_the_change_bounds(db, loop):
    """Within-month pacing: each account's remaining monthly budget over the days left, clipped to ±30%."""
    latest = loop["plans"][1]
    paced = db.execute(
        "select sum(paced_daily_budget_reporting) from marts.account_pacing where month = %s",
        (TODAY.replace(day=1),),
    ).fetchone()[0]
    current = db.execute(
        "select sum(current_daily_budget_reporting) from marts.budget_recommendations where plan_id = %s", (latest,)
    ).fetchone()[0]
    total = db.execute(
        "select total_daily_budget_reporting from marts.budget_plans where plan_id = %s", (latest,)
    ).fetchone()[0]
    assert paced is not None
    current, total = float(current), float(total)  # numeric(20, 6): read as Decimal, each amount rounded to 6 decimals
    expected = min(max(float(paced), 0.7 * current), 1.3 * current)
    assert total == pytest.approx(expected, abs=1e-4)


def test_the_clean_market_raises_no_alert_and_holds_nothing(db, loop):
    """The sandbox without faults is the detector's clean baseline: 90 days, two refreshes, not one alert."""
    assert db.execute("select count(*) from marts.alerts").fetchone()[0] == 0
    assert db.execute("select count(*) from marts.budget_recommendations where low_confidence_reason is not null "
                      "or explanation like '%%alert-%%'").fetchone()[0] == 0


def test_demo_report_lists_marts_plan_and_pushes(db, loop):
    """The report `make demo` prints, built from the same database."""
    from mbo_pipelines.demo import report

    latest = loop["plans"][0]  # the plan that moved money (the second asks for nothing more the same day)
    text = report(db, latest)
    assert "marts.fct_campaign_daily" in text and "marts.budget_recommendations" in text
    assert f"Plan {latest}" in text and "90% interval" in text
    results, passed, tables = db.execute("select count(*), count(*) filter (where passed), count(distinct table_name) "
                                         "from quality.latest_check_results").fetchone()
    assert results > 0 and tables >= 6  # the three sandbox platforms' two tables at least
    assert f"Data quality: {passed} of {results} check results passed on {tables} tables, " in text
    assert "Attribution: the platforms claimed " in text and "marts.fct_campaign_attribution" in text
    assert "Open alerts: 0" in text
    target_budget = db.execute(
        "select budget_at_target_marginal_roas_reporting from marts.budget_plans where plan_id = %s", (latest,)
    ).fetchone()[0]
    assert f"How much to spend at all: until the next USD returns 1.00 USD, {target_budget:,.2f} USD per day" in text
    campaign_lines = [line for line in text.splitlines() if " → " in line and line.strip().split()[0] in
                      ("google_ads", "meta_ads", "tiktok_ads")]
    assert len(campaign_lines) == db.execute(
        "select count(*) from marts.budget_recommendations where plan_id = %s", (latest,)
    ).fetchone()[0]
    assert "applied" in text.split("Pushed (activation.budget_changes):")[1]


def _readme_dashboard_queries() -> list[str]:
    """The SQL block after "Three queries a dashboard runs" in README.md, split into its statements."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("Three queries a dashboard runs:", 1)[1].split("```sql", 1)[1].split("```", 1)[0]
    return [q.strip() for q in block.split(";") if q.strip()]


def test_the_readmes_dashboard_queries_run_as_the_bi_role(loop, role_url):
    """What the README tells analysts to run works, as mbo_bi, on the marts the loop built; raw stays closed."""
    queries = _readme_dashboard_queries()
    assert len(queries) == 3
    with psycopg.connect(role_url(loop["url"], "bi")) as conn:
        assert conn.execute("select current_user").fetchone()[0] == "mbo_bi"
        for query in queries:
            # The queries are about "now"; the loop's sandbox clock is pinned in the past, so shift it.
            rows = conn.execute(query.replace("current_date", f"date '{TODAY}'")).fetchall()
            assert rows and all(None not in row[:3] for row in rows), query
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select 1 from raw.google_ads_campaign_daily limit 1")


def test_the_bi_role_reads_every_mart_and_nothing_else(loop, role_url):
    """On the database the whole loop built (as mbo_app): mbo_bi selects every relation in marts; every table
    anywhere else (raw, the activation ledger, the sandbox, Dagster's) is closed to it, and it can change nothing."""
    with psycopg.connect(loop["url"]) as owner:
        relations = owner.execute(
            "select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where c.relkind in ('r', 'p', 'v', 'm') and n.nspname !~ '^pg_' and n.nspname <> 'information_schema' "
            "order by 1, 2").fetchall()
    marts = [name for schema, name in relations if schema == "marts"]
    others = [(schema, name) for schema, name in relations if schema != "marts"]
    assert {"fct_campaign_daily", "budget_recommendations", "fct_budget_pacing"} <= set(marts)
    assert {"raw", "activation", "sandbox", "staging"} <= {schema for schema, _ in others}
    refused = []
    with psycopg.connect(role_url(loop["url"], "bi"), autocommit=True) as bi:
        for name in marts:
            bi.execute(f'select * from marts."{name}" limit 1').fetchall()
        for schema, name in others:
            try:
                bi.execute(f'select * from "{schema}"."{name}" limit 1')
            except psycopg.errors.InsufficientPrivilege:
                refused.append((schema, name))
        for statement in ("delete from marts.fct_campaign_daily", "update activation.budget_changes set status = 'x'",
                          "create table marts.scratch (id int)", "create temporary table scratch (id int)"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                bi.execute(statement)
    assert refused == others
