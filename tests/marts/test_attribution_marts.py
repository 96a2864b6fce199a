"""marts.fct_campaign_attribution and marts.opt_campaign_inputs on hand-written raw rows, built by the real dbt project.

The data set (reporting currency USD), two days, 2026-03-02 and 2026-03-03:

* google_ads, account GOOGLE_USD (USD) and GOOGLE_EUR (EUR): "Brand Search" and "Generic" over-claim
  against GA4 rows whose names differ in case and spaces; "Shared" runs in both accounts (GA4 split by
  spend); "Untagged" has only GA4 "(not set)" traffic (unmatched), and GA4's "(not set)" never matches
  a campaign of that name either; an organic GA4 row carries the name "Brand Search" and must be ignored.
* meta_ads, account META_EUR (EUR): "Prospecting" under-claims on day 1 (factors 1) against facebook and
  instagram paid_social rows, over-claims on day 2; its GA4 revenue is in USD, converted to EUR at each
  day's rate (1.10, then 1.20).

Every expected number is computed by hand below. One ``dbt build`` per module; its target and logs
go to a temporary directory.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from mbo_pipelines.defs.ingest.raw_tables import ensure_raw_tables
from mbo_pipelines.settings import dbt_env

PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"

DAY1, DAY2 = date(2026, 3, 2), date(2026, 3, 3)
FIRST_RATE_DAY = date(2026, 1, 1)
GOOGLE_USD, GOOGLE_EUR, META_EUR = "5550000001", "5550000002", "5550000003"
EUR_RATE = {DAY1: Decimal("1.10"), DAY2: Decimal("1.20")}  # USD per EUR
PROPERTY = "400000099"

# (day, customer, campaign id, name, currency, spend, conversions, value)
GOOGLE_ROWS = [
    (DAY1, GOOGLE_USD, "g1", "Brand Search", "USD", 100, 10, 1000),
    (DAY1, GOOGLE_USD, "g2", "Generic", "USD", 50, 4, 200),
    (DAY1, GOOGLE_USD, "g3", "Shared", "USD", 30, 3, 90),
    (DAY1, GOOGLE_EUR, "g4", "Shared", "EUR", 10, 1, 50),
    (DAY1, GOOGLE_USD, "g5", "Untagged", "USD", 20, 2, 80),
    (DAY2, GOOGLE_USD, "g1", "Brand Search", "USD", 100, 9, 900),  # no GA4 row that day
    (DAY2, GOOGLE_USD, "g6", "(Not Set)", "USD", 5, 1, 10),  # named like GA4's placeholder: never matched
]
# (day, account (digits), campaign id, name, spend, conversions, value), EUR
META_ROWS = [
    (DAY1, META_EUR, "m1", "Prospecting", 200, 5, 300),
    (DAY2, META_EUR, "m1", "Prospecting", 100, 2, 120),
]
# (day, source / medium, campaign name, sessions, key events, revenue USD)
GA4_ROWS = [
    (DAY1, "google / cpc", " brand search ", 40, 6, 500),
    (DAY1, "google / cpc", "GENERIC", 20, 2, 100),
    (DAY1, "google / cpc", "Shared", 41, 4.1, 82),
    (DAY1, "google / cpc", "(not set)", 15, 1, 30),
    (DAY1, "google / organic", "Brand Search", 500, 50, 5000),  # not paid: ignored
    (DAY1, "facebook / paid_social", "Prospecting", 60, 3, 200),
    (DAY1, "instagram / paid_social", "prospecting", 30, 4, 240),
    (DAY1, "facebook / referral", "(referral)", 70, 9, 900),  # not paid: ignored
    (DAY2, "facebook / paid_social", "Prospecting ", 25, 1, 60),
    (DAY2, "google / cpc", "(not set)", 5, 1, 10),
    (DAY2, "(direct) / (none)", "(direct)", 80, 8, 800),  # not paid: ignored
]


def _insert_raw(conn: psycopg.Connection) -> None:
    ensure_raw_tables(conn)
    cur = conn.cursor()
    cur.executemany(
        "insert into raw.google_ads_campaign_daily (segments_date, customer_id, campaign_id, campaign_name, "
        "customer_currency_code, customer_time_zone, metrics_cost_micros, metrics_impressions, metrics_clicks, "
        "metrics_conversions, metrics_conversions_value) values (%s, %s, %s, %s, %s, 'America/New_York', %s, 100, 10, %s, %s)",
        [(d, acct, cid, name, ccy, spend * 1_000_000, conv, value) for d, acct, cid, name, ccy, spend, conv, value in GOOGLE_ROWS],
    )
    cur.executemany(
        "insert into raw.meta_ads_campaign_daily (date_start, account_id, campaign_id, campaign_name, account_currency, "
        "account_timezone_name, spend, impressions, clicks, actions, action_values) "
        "values (%s, %s, %s, %s, 'EUR', 'Europe/Paris', %s, 100, 10, "
        """jsonb_build_array(jsonb_build_object('action_type', 'omni_purchase', 'value', %s::text)), """
        """jsonb_build_array(jsonb_build_object('action_type', 'omni_purchase', 'value', %s::text)))""",
        [(d, acct, cid, name, spend, conv, value) for d, acct, cid, name, spend, conv, value in META_ROWS],
    )
    cur.executemany(
        "insert into raw.ga4_traffic_daily (date, property_id, session_source_medium, session_campaign_name, "
        "currency_code, time_zone, sessions, key_events, total_revenue) "
        "values (%s, %s, %s, %s, 'USD', 'America/New_York', %s, %s, %s)",
        [(d, PROPERTY, sm, name, sessions, key, revenue) for d, sm, name, sessions, key, revenue in GA4_ROWS],
    )
    # Rates from 2026-01-01 (account_pacing converts the seed's January and February budgets, in USD, EUR
    # and PLN, too); EUR is 1.05 before the two days the assertions use.
    days = [FIRST_RATE_DAY + timedelta(days=i) for i in range((DAY2 - FIRST_RATE_DAY).days + 1)]
    cur.executemany(
        "insert into raw.fx_rates (date, currency, rate_to_usd, source) values (%s, %s, %s, 'test')",
        [(d, ccy, rate) for d in days
         for ccy, rate in (("USD", Decimal(1)), ("EUR", EUR_RATE.get(d, Decimal("1.05"))), ("PLN", Decimal("0.25")))],
    )
    conn.commit()


def _dbt(url: str, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    dbt = Path(sys.executable).parent / "dbt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MBO_DB_", "DBT_", "MBO_BI_"))}
    env.update(dbt_env(url), MBO_REPORTING_CURRENCY="USD")
    return subprocess.run(
        [str(dbt) if dbt.exists() else "dbt", *args, "--no-use-colors",
         "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
         "--target-path", str(tmp / "target"), "--log-path", str(tmp / "logs")],
        env=env, capture_output=True, text=True, timeout=600,
    )


@pytest.fixture(scope="module")
def built(new_database, tmp_path_factory) -> tuple[str, Path]:
    url = new_database("attribution")
    with psycopg.connect(url) as conn:
        _insert_raw(conn)
    tmp = tmp_path_factory.mktemp("dbt_attribution")
    result = _dbt(url, tmp, "build")
    assert result.returncode == 0, f"dbt build failed:\n{result.stdout[-8000:]}\n{result.stderr[-2000:]}"
    return url, tmp


@pytest.fixture
def db(built):
    with psycopg.connect(built[0]) as conn:
        yield conn


def _rows(db, table: str) -> dict[tuple[date, str], dict]:
    cur = db.execute(f"select * from marts.{table}")
    names = [d.name for d in cur.description]
    rows = [dict(zip(names, values)) for values in cur.fetchall()]
    return {(row["date_day"], row["campaign_id"]): row for row in rows}


def _close(actual, expected, tol: float = 1e-6) -> bool:
    return actual is not None and abs(float(actual) - float(expected)) <= tol


# Day 1, google_ads, matched campaigns g1..g4: claims 10 + 4 + 3 + 1 conversions and 1000 + 200 + 90 + 55
# (50 EUR at 1.10) USD of value; GA4 saw 6 + 2 + 4.1 key events and 500 + 100 + 82 USD (g5's "(not set)"
# traffic is paid but matches no campaign, organic is not paid).
GOOGLE_F_CONV = (6 + 2 + 4.1) / (10 + 4 + 3 + 1)
GOOGLE_F_VALUE = (500 + 100 + 82) / (1000 + 200 + 90 + 55)


def test_one_row_per_fct_row_with_its_platform_numbers(db):
    attribution, fct = _rows(db, "fct_campaign_attribution"), _rows(db, "fct_campaign_daily")
    assert set(attribution) == set(fct) and len(attribution) == len(GOOGLE_ROWS) + len(META_ROWS)
    for key, row in attribution.items():
        assert row["platform_conversions"] == fct[key]["conversions"], key
        assert row["platform_conversion_value_reporting"] == fct[key]["conversion_value_reporting"], key
        assert row["spend_reporting"] == fct[key]["spend_reporting"], key


def test_over_claiming_platform_is_scaled_to_what_ga4_saw(db):
    rows = _rows(db, "fct_campaign_attribution")
    brand = rows[(DAY1, "g1")]  # GA4's " brand search " matches "Brand Search"; the organic row does not count
    assert brand["is_ga4_matched"] is True
    assert (float(brand["ga4_sessions"]), float(brand["ga4_key_events"]), float(brand["ga4_revenue"])) == (40, 6, 500)
    assert _close(brand["dedup_factor_conversions"], GOOGLE_F_CONV, 1e-12)
    assert _close(brand["dedup_factor_value"], GOOGLE_F_VALUE, 1e-12)
    assert _close(brand["dedup_conversions"], 10 * GOOGLE_F_CONV)
    assert _close(brand["dedup_conversion_value"], 1000 * GOOGLE_F_VALUE)
    assert _close(rows[(DAY1, "g2")]["dedup_conversions"], 4 * GOOGLE_F_CONV)  # "GENERIC" matches "Generic"
    matched = [rows[(DAY1, c)] for c in ("g1", "g2", "g3", "g4")]
    assert _close(sum(float(r["dedup_conversions"]) for r in matched), 6 + 2 + 4.1, 1e-5)
    assert _close(sum(float(r["dedup_conversion_value_reporting"]) for r in matched), 500 + 100 + 82, 1e-5)


def test_campaigns_sharing_a_name_split_ga4_by_spend(db):
    rows = _rows(db, "fct_campaign_attribution")
    usd, eur = rows[(DAY1, "g3")], rows[(DAY1, "g4")]
    # Spend 30 USD and 10 EUR = 11 USD: shares 30/41 and 11/41 of 41 sessions, 4.1 key events, 82 USD.
    assert _close(usd["ga4_share"], 30 / 41, 1e-12) and _close(eur["ga4_share"], 11 / 41, 1e-12)
    assert (float(usd["ga4_sessions"]), float(eur["ga4_sessions"])) == (30, 11)
    assert _close(usd["ga4_key_events"], 3.0) and _close(eur["ga4_key_events"], 1.1)
    assert _close(usd["ga4_revenue_reporting"], 60) and _close(eur["ga4_revenue_reporting"], 22)
    assert _close(eur["ga4_revenue"], 20)  # 22 USD at 1.10 USD per EUR
    assert _close(eur["dedup_conversion_value"], 50 * GOOGLE_F_VALUE)
    assert _close(eur["dedup_conversion_value_reporting"], 55 * GOOGLE_F_VALUE)


def test_untagged_and_unmatched_campaigns_keep_their_platform_numbers(db):
    rows = _rows(db, "fct_campaign_attribution")
    # GA4 "(not set)" only; no GA4 row at all that day; a campaign named like GA4's "(not set)".
    for key in [(DAY1, "g5"), (DAY2, "g1"), (DAY2, "g6")]:
        row = rows[key]
        assert row["is_ga4_matched"] is False, key
        assert row["dedup_conversions"] == row["platform_conversions"], key
        assert row["dedup_conversion_value"] == row["platform_conversion_value"], key
        assert row["dedup_conversion_value_reporting"] == row["platform_conversion_value_reporting"], key
        assert (row["dedup_factor_conversions"], row["dedup_factor_value"]) == (1, 1), key
        assert [row[c] for c in ("ga4_sessions", "ga4_key_events", "ga4_revenue", "ga4_revenue_reporting")] == [None] * 4


def test_under_claiming_platform_keeps_its_claims_and_revenue_converts_at_the_days_rate(db):
    rows = _rows(db, "fct_campaign_attribution")
    day1, day2 = rows[(DAY1, "m1")], rows[(DAY2, "m1")]
    # Day 1: facebook and instagram paid_social rows, 7 key events and 440 USD against claims of 5 and 330 USD.
    assert day1["is_ga4_matched"] is True
    assert (float(day1["ga4_sessions"]), float(day1["ga4_key_events"])) == (90, 7)
    assert _close(day1["ga4_revenue_reporting"], 440) and _close(day1["ga4_revenue"], 400)  # 440 / 1.10
    assert (day1["dedup_factor_conversions"], day1["dedup_factor_value"]) == (1, 1)
    assert (float(day1["dedup_conversions"]), float(day1["dedup_conversion_value"])) == (5, 300)
    # Day 2: 1 key event and 60 USD (= 50 EUR at 1.20) against 2 conversions and 120 EUR (144 USD).
    assert _close(day2["ga4_revenue"], 50) and _close(day2["fx_rate_to_reporting"], 1.2)
    assert _close(day2["dedup_factor_conversions"], 0.5, 1e-12)
    assert _close(day2["dedup_factor_value"], 60 / 144, 1e-12)
    assert _close(day2["dedup_conversions"], 1)
    assert _close(day2["dedup_conversion_value"], 50) and _close(day2["dedup_conversion_value_reporting"], 60)


def test_opt_campaign_inputs_is_the_attribution_the_optimizer_reads(db):
    inputs, attribution = _rows(db, "opt_campaign_inputs"), _rows(db, "fct_campaign_attribution")
    assert set(inputs) == set(attribution)
    for key, row in inputs.items():
        for column in ("campaign_key", "platform", "account_id", "currency", "reporting_currency", "spend_reporting",
                       "platform_conversion_value_reporting", "dedup_conversion_value_reporting", "is_ga4_matched"):
            assert row[column] == attribution[key][column], (key, column)


def test_marts_have_the_indexes_dashboards_use(db):
    for table in ("fct_campaign_attribution", "opt_campaign_inputs"):
        indexes = [definition for (definition,) in db.execute(
            "select indexdef from pg_indexes where schemaname = 'marts' and tablename = %s", (table,))]
        assert any(d.startswith("CREATE UNIQUE INDEX") and d.endswith("(platform, account_id, campaign_id, date_day)")
                   for d in indexes), (table, indexes)
        assert any(d.endswith("(date_day)") for d in indexes), (table, indexes)


def _test_failures(stdout: str) -> dict[str, int]:
    return {name: int(count) for count, name in re.findall(r"FAIL (\d+) (assert_\w+)", stdout)}


def test_singular_tests_fail_on_wrong_attribution(built):
    """Each singular test fails on the wrong row made for it (and on nothing made for another test)."""
    url, tmp = built
    key = "platform = %s and account_id = %s and campaign_id = %s and date_day = %s"
    g1, g5 = ("google_ads", GOOGLE_USD, "g1", DAY1), ("google_ads", GOOGLE_USD, "g5", DAY1)
    g1_day2, m1_day2 = ("google_ads", GOOGLE_USD, "g1", DAY2), ("meta_ads", f"act_{META_EUR}", "m1", DAY2)
    with psycopg.connect(url) as conn:
        backup = conn.execute("select * from marts.fct_campaign_attribution").fetchall()
        columns = [d.name for d in conn.execute("select * from marts.fct_campaign_attribution limit 0").description]
        # More de-duplicated conversions, then more value, than GA4 saw that day.
        conn.execute(f"update marts.fct_campaign_attribution set dedup_conversions = dedup_conversions + 100 where {key}", g1)
        conn.execute("update marts.fct_campaign_attribution set dedup_conversion_value_reporting = "
                     f"dedup_conversion_value_reporting + 1000 where {key}", g1)
        # A row of fct_campaign_daily lost.
        conn.execute(f"delete from marts.fct_campaign_attribution where {key}", g1_day2)
        # An unmatched campaign whose dedup number moved, and a matched one wrongly flagged unmatched.
        conn.execute(f"update marts.fct_campaign_attribution set dedup_conversions = dedup_conversions + 1 where {key}", g5)
        conn.execute(
            "update marts.fct_campaign_attribution set is_ga4_matched = false, ga4_share = null, ga4_sessions = null, "
            "ga4_key_events = null, ga4_revenue = null, ga4_revenue_reporting = null, dedup_factor_conversions = 1, "
            "dedup_factor_value = 1, dedup_conversions = platform_conversions, dedup_conversion_value = "
            f"platform_conversion_value, dedup_conversion_value_reporting = platform_conversion_value_reporting where {key}",
            m1_day2,
        )
        conn.commit()
        try:
            result = _dbt(url, tmp, "test", "--select", "assert_dedup_conversions_within_ga4_paid_total",
                          "assert_dedup_value_within_ga4_paid_total", "assert_attribution_rows_match_fct",
                          "assert_unmatched_attribution_keeps_platform_numbers")
        finally:
            conn.execute("truncate marts.fct_campaign_attribution")
            with conn.cursor() as cur:
                cur.executemany(
                    f"insert into marts.fct_campaign_attribution ({', '.join(columns)}) "
                    f"values ({', '.join(['%s'] * len(columns))})", backup)
            conn.commit()
    assert result.returncode != 0
    assert _test_failures(result.stdout) == {
        "assert_dedup_conversions_within_ga4_paid_total": 1,  # day 1
        "assert_dedup_value_within_ga4_paid_total": 1,
        "assert_attribution_rows_match_fct": 1,
        "assert_unmatched_attribution_keeps_platform_numbers": 2,
    }, result.stdout[-4000:]
