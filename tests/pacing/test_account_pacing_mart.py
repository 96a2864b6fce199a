"""marts.account_pacing on a small hand-made raw data set, built by the real dbt project on a real PostgreSQL.

The monthly budgets are the shipped seed's (dbt_project/seeds/account_monthly_budgets.csv),
read here so the expected numbers follow the file. The FX rates (raw.fx_rates) change every
business day and are not published at weekends, so the reporting amounts are checked against
rates forward filled here by hand: a static rate, or a rate of the wrong day, fails. ``dbt build``
runs in a subprocess with its target and logs in a temporary directory, so it never touches
dbt_project/target.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest

from mbo_pipelines.defs.ingest.raw_tables import ensure_raw_tables
from mbo_pipelines.defs.optimize.pacing import paced_daily_totals
from mbo_pipelines.settings import dbt_env

PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
SEED = PROJECT_DIR / "seeds" / "account_monthly_budgets.csv"

GOOGLE = ("google_ads", "1234567890")  # USD; data through 2026-03-10
META = ("meta_ads", "act_400500600")  # PLN; data through 2026-03-08 only (a lagging account)
TIKTOK = ("tiktok_ads", "7100000000002")  # PLN; spends more than its March budget by 2026-03-10
GOOGLE_EUR = ("google_ads", "2345678901")  # in the seed, no data at all
MARCH, FEBRUARY, APRIL = date(2026, 3, 1), date(2026, 2, 1), date(2026, 4, 1)
# Rates are published Monday to Friday from RATES_FROM (before the seed's first month ends) to 2026-03-10.
RATES_FROM, RATES_TO = date(2026, 1, 26), date(2026, 3, 10)


def _published_rate(currency: str, day: date) -> float:
    """US dollars per unit published on business ``day``: a different rate every day (USD = 1)."""
    step = (day - RATES_FROM).days
    return {"USD": 1.0, "PLN": 0.25 + 0.001 * step, "EUR": 1.08 - 0.002 * step}[currency]


def _rate(currency: str, day: date) -> float:
    """The rate in force on ``day``: the last one published on or before it (weekends take Friday's)."""
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return _published_rate(currency, day)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _budget(account: tuple[str, str], month: date) -> float:
    with SEED.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if (row["platform"], row["account_id"], row["month"]) == (*account, month.isoformat()):
                return float(row["monthly_budget"])
    raise AssertionError(f"no budget for {account} {month} in {SEED}")


def _insert_rates(conn: psycopg.Connection) -> None:
    conn.cursor().executemany(
        "insert into raw.fx_rates (date, currency, rate_to_usd, source) values (%s, %s, %s, 'test')",
        [(day, currency, _published_rate(currency, day))
         for day in _days(RATES_FROM, RATES_TO) if day.weekday() < 5
         for currency in ("USD", "PLN", "EUR")],
    )


def _insert_raw(conn: psycopg.Connection) -> None:
    ensure_raw_tables(conn)
    _insert_rates(conn)
    # Google: two campaigns, 1,000 + 500 USD a day (in micros), 2026-02-27..2026-03-10.
    conn.cursor().executemany(
        "insert into raw.google_ads_campaign_daily (segments_date, customer_id, campaign_id, campaign_name, "
        "customer_currency_code, customer_time_zone, metrics_cost_micros, metrics_impressions, metrics_clicks, "
        "metrics_conversions, metrics_conversions_value) values (%s, %s, %s, %s, 'USD', 'America/New_York', %s, 1000, 10, 1, 100)",
        [(day, GOOGLE[1], cid, cid, micros)
         for day in _days(date(2026, 2, 27), date(2026, 3, 10))
         for cid, micros in (("g1", 1_000_000_000), ("g2", 500_000_000))],
    )
    # Meta: 12,000 PLN a day, 2026-03-01..2026-03-08.
    conn.cursor().executemany(
        "insert into raw.meta_ads_campaign_daily (date_start, account_id, campaign_id, campaign_name, account_currency, "
        "account_timezone_name, spend, impressions, clicks, actions, action_values) "
        "values (%s, %s, 'm1', 'm1', 'PLN', 'Europe/Warsaw', 12000, 1000, 10, "
        """'[{"action_type": "omni_purchase", "value": "1"}]', '[{"action_type": "omni_purchase", "value": "100"}]')""",
        # Meta's APIs report account ids without act_; staging adds it.
        [(day, META[1].removeprefix("act_")) for day in _days(MARCH, date(2026, 3, 8))],
    )
    # TikTok: 30,000 PLN a day, 2026-03-01..2026-03-10 (300,000: more than the month's budget).
    conn.cursor().executemany(
        "insert into raw.tiktok_ads_campaign_daily (stat_time_day, advertiser_id, campaign_id, campaign_name, currency, "
        "timezone, spend, impressions, clicks, conversion, total_purchase_value) "
        "values (%s, %s, 't1', 't1', 'PLN', 'Europe/Warsaw', 30000, 1000, 10, 1, 100)",
        [(day, TIKTOK[1]) for day in _days(MARCH, date(2026, 3, 10))],
    )
    conn.commit()


def _dbt_build(url: str, tmp: Path) -> subprocess.CompletedProcess:
    dbt = Path(sys.executable).parent / "dbt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MBO_DB_", "DBT_"))}
    env.update(dbt_env(url), MBO_REPORTING_CURRENCY="USD")
    return subprocess.run(
        [str(dbt) if dbt.exists() else "dbt", "build", "--no-use-colors",
         "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
         "--target-path", str(tmp / "target"), "--log-path", str(tmp / "logs")],
        env=env, capture_output=True, text=True, timeout=600,
    )


@pytest.fixture(scope="module")
def pacing_db(new_database, tmp_path_factory):
    url = new_database("pacing")
    with psycopg.connect(url) as conn:
        _insert_raw(conn)
    result = _dbt_build(url, tmp_path_factory.mktemp("dbt_pacing"))
    assert result.returncode == 0, f"dbt build failed:\n{result.stdout[-8000:]}\n{result.stderr[-2000:]}"
    return url


@pytest.fixture
def db(pacing_db):
    with psycopg.connect(pacing_db) as conn:
        yield conn


def _row(db, account: tuple[str, str], month: date) -> dict:
    with db.cursor() as cur:
        cur.execute(
            "select * from marts.account_pacing where platform = %s and account_id = %s and month = %s",
            (*account, month),
        )
        [values] = cur.fetchall()
        return {d.name: v for d, v in zip(cur.description, values)}


def test_one_row_per_seed_row(db):
    with SEED.open(newline="") as handle:
        seed_rows = sum(1 for _ in csv.DictReader(handle))
    assert db.execute("select count(*) from marts.account_pacing").fetchone()[0] == seed_rows


def test_month_in_progress_spreads_what_is_left_over_the_days_left(db):
    row = _row(db, GOOGLE, MARCH)
    budget = _budget(GOOGLE, MARCH)
    assert row["last_loaded_day"] == date(2026, 3, 10)
    assert (row["days_in_month"], row["days_elapsed"], row["days_left"]) == (31, 10, 21)
    assert float(row["spend_mtd"]) == 15_000.0  # March only: the two February days are not counted
    assert float(row["remaining_budget"]) == pytest.approx(budget - 15_000)
    assert float(row["paced_daily_budget"]) == pytest.approx((budget - 15_000) / 21, abs=1e-6)
    assert float(row["target_spend_mtd"]) == pytest.approx(budget * 10 / 31, abs=1e-6)
    assert row["pace_status"] == "underspending"  # 15,000 is far below 10/31 of any sandbox budget
    assert row["reporting_currency"] == "USD"
    assert float(row["paced_daily_budget_reporting"]) == pytest.approx((budget - 15_000) / 21, abs=1e-6)


def test_lagging_account_counts_from_its_own_last_day_and_converts_to_reporting(db):
    row = _row(db, META, MARCH)
    budget = _budget(META, MARCH)
    assert row["last_loaded_day"] == date(2026, 3, 8)
    assert (row["days_elapsed"], row["days_left"]) == (8, 23)
    assert float(row["spend_mtd"]) == 96_000.0
    paced = (budget - 96_000) / 23
    assert float(row["paced_daily_budget"]) == pytest.approx(paced, abs=1e-6)
    # Budgets convert at the rate of the last loaded day, a Sunday: Friday 2026-03-06's.
    assert row["fx_rate_date"] == date(2026, 3, 8)
    assert float(row["fx_rate_to_reporting"]) == pytest.approx(_published_rate("PLN", date(2026, 3, 6)), abs=1e-12)
    assert float(row["paced_daily_budget_reporting"]) == pytest.approx(paced * _rate("PLN", date(2026, 3, 8)), abs=1e-5)
    # Spend converts day by day: 03-01 (a Sunday) at Friday 02-27's rate, ..., 03-07 and 03-08 at 03-06's.
    spent_reporting = sum(12_000 * _rate("PLN", day) for day in _days(MARCH, date(2026, 3, 8)))
    assert float(row["spend_mtd_reporting"]) == pytest.approx(spent_reporting, abs=1e-5)
    assert abs(spent_reporting - 96_000 * float(row["fx_rate_to_reporting"])) > 10  # not one rate for the month
    assert float(row["target_spend_mtd"]) == pytest.approx(budget * 8 / 31, abs=1e-6)
    assert 96_000 > 1.1 * budget * 8 / 31  # the data set spends well ahead of the seed's March budget
    assert row["pace_status"] == "overspending"


def test_budget_already_spent_paces_zero(db):
    row = _row(db, TIKTOK, MARCH)
    assert _budget(TIKTOK, MARCH) < 300_000  # the data set spends more than the month's budget
    assert float(row["spend_mtd"]) == 300_000.0
    assert float(row["remaining_budget"]) == 0.0
    assert float(row["paced_daily_budget"]) == 0.0
    assert row["pace_status"] == "overspending"


def test_past_and_future_months(db):
    february = _row(db, GOOGLE, FEBRUARY)
    assert float(february["spend_mtd"]) == 3_000.0  # 2026-02-27 and 28
    assert (february["days_in_month"], february["days_elapsed"], february["days_left"]) == (28, 28, 1)
    april = _row(db, GOOGLE, APRIL)
    assert float(april["spend_mtd"]) == 0.0
    assert (april["days_in_month"], april["days_elapsed"], april["days_left"]) == (30, 0, 30)
    assert float(april["paced_daily_budget"]) == pytest.approx(_budget(GOOGLE, APRIL) / 30, abs=1e-6)
    assert april["pace_status"] == "on_track"


def test_budgets_convert_at_the_rate_of_the_month_end_or_last_loaded_day(db):
    """A month over converts at its last day's rate (a Saturday: Friday's); a month to come at the latest known."""
    february, april = _row(db, TIKTOK, FEBRUARY), _row(db, TIKTOK, APRIL)
    assert february["fx_rate_date"] == date(2026, 2, 28)
    assert float(february["fx_rate_to_reporting"]) == pytest.approx(_published_rate("PLN", date(2026, 2, 27)), abs=1e-12)
    assert float(february["monthly_budget_reporting"]) == pytest.approx(
        _budget(TIKTOK, FEBRUARY) * _rate("PLN", date(2026, 2, 28)), abs=1e-5)
    assert april["fx_rate_date"] == date(2026, 3, 10)
    assert float(april["remaining_budget_reporting"]) == pytest.approx(
        _budget(TIKTOK, APRIL) * _rate("PLN", date(2026, 3, 10)), abs=1e-5)


def test_budget_pacing_folds_in_every_row_and_column_of_account_pacing(db):
    pacing = db.execute("select * from marts.account_pacing order by platform, account_id, month")
    columns = [d.name for d in pacing.description]
    rows = pacing.fetchall()
    folded = db.execute(
        f"select {', '.join(columns)} from marts.fct_budget_pacing order by platform, account_id, month"
    ).fetchall()
    assert folded == rows
    # Google spends 1,500 a day every day: 15,000 by 03-10, then 21 more days at that pace.
    row = db.execute(
        "select projected_month_end_spend from marts.fct_budget_pacing where platform = %s and account_id = %s "
        "and month = %s", (*GOOGLE, MARCH),
    ).fetchone()
    assert float(row[0]) == 15_000 + 1_500 * 21


def test_account_without_data_uses_the_latest_day_of_any_account(db):
    row = _row(db, GOOGLE_EUR, MARCH)
    budget = _budget(GOOGLE_EUR, MARCH)
    assert row["last_loaded_day"] == date(2026, 3, 10)
    assert (float(row["spend_mtd"]), row["days_left"]) == (0.0, 21)
    assert float(row["paced_daily_budget"]) == pytest.approx(budget / 21, abs=1e-6)
    assert float(row["paced_daily_budget_reporting"]) == pytest.approx(budget / 21 * _rate("EUR", date(2026, 3, 10)), abs=1e-5)


def test_paced_daily_totals_reads_the_month_of_today(db):
    frame = paced_daily_totals(db, date(2026, 3, 11))
    assert list(frame.columns[:8]) == [
        "platform", "account_id", "currency", "paced_daily_budget", "paced_daily_budget_reporting",
        "spend_mtd", "days_left", "pace_status",
    ]
    assert len(frame) == 6  # every sandbox account has a March 2026 budget
    google = frame.set_index(["platform", "account_id"]).loc[GOOGLE]
    assert google["days_left"] == 21 and google["spend_mtd"] == 15_000.0
    assert google["paced_daily_budget_reporting"] == pytest.approx((_budget(GOOGLE, MARCH) - 15_000) / 21, abs=1e-6)
    assert paced_daily_totals(db, date(2031, 1, 15)).empty  # no budgets that month


def test_budget_in_another_currency_than_the_account_fails_the_build(new_database, tmp_path):
    """Spend in EUR against the seed's USD budget of google_ads/1234567890: the build must fail, not subtract."""
    url = new_database("pacing_ccy")
    with psycopg.connect(url) as conn:
        ensure_raw_tables(conn)
        conn.execute(
            "insert into raw.google_ads_campaign_daily (segments_date, customer_id, campaign_id, campaign_name, "
            "customer_currency_code, customer_time_zone, metrics_cost_micros, metrics_impressions, metrics_clicks, "
            "metrics_conversions, metrics_conversions_value) "
            "values ('2026-03-01', %s, 'g1', 'g1', 'EUR', 'Europe/Berlin', 1000000, 10, 1, 0, 0)",
            (GOOGLE[1],),
        )
        _insert_rates(conn)
        conn.commit()
    result = _dbt_build(url, tmp_path)
    assert result.returncode != 0
    assert "FAIL 24 assert_monthly_budget_currency_is_the_accounts" in result.stdout  # one row per month of 2026-27
    assert "SKIP relation marts.account_pacing" in result.stdout
