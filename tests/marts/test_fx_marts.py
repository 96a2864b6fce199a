"""Daily FX rates through the marts, on hand-written raw rows built by the real dbt project on a real PostgreSQL.

Two weeks of campaign data (2026-03-02 .. 03-15, two weekends) in USD and PLN accounts, reported in
EUR, with rates that change every business day: none at weekends, none for PLN on 03-11 and 03-12
(a gap within MBO_FX_MAX_FILL_DAYS), CHF published once (so its rate runs out after 7 days). The
expected numbers are computed here from the same published rates, forward filled by hand. One
``dbt build`` for the module; the failing cases run on databases of their own: one with a gap too
long to fill (the missing-rate test must fail and name the pairs), and copies of the built database
with one wrong row each (every singular test must fail on it; ``dbt test`` does not rebuild).
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest

from mbo_pipelines.defs.ingest.raw_tables import ensure_raw_tables
from mbo_pipelines.settings import dbt_env

PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
SEED = PROJECT_DIR / "seeds" / "account_monthly_budgets.csv"

FIRST, LAST = date(2026, 3, 2), date(2026, 3, 15)  # Monday .. Sunday: two weeks of facts
RATES_FROM, RATES_TO = date(2026, 1, 26), date(2026, 3, 13)  # business days; the seed's January needs 01-31
PLN_GAP = {date(2026, 3, 11), date(2026, 3, 12)}  # PLN not published: 03-10's rate carries
CHF_ONLY_ON = date(2026, 3, 2)
REPORTING = "EUR"
GOOGLE = ("google_ads", "1234567890")  # USD
META = ("meta_ads", "act_400500600")  # PLN, business days only
TIKTOK = ("tiktok_ads", "7100000000002")  # PLN, no conversions
GOOGLE_EUR = ("google_ads", "2345678901")  # in the seed, no data
MARCH, APRIL = date(2026, 3, 1), date(2026, 4, 1)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _business(day: date) -> bool:
    return day.weekday() < 5


def _published(currency: str, day: date) -> float | None:
    """The rate raw.fx_rates holds for (currency, day), or None: different every business day."""
    if not _business(day) or not RATES_FROM <= day <= RATES_TO:
        return None
    step = (day - FIRST).days
    if currency == "USD":
        return 1.0
    if currency == "EUR":
        return round(1.10 + 0.01 * step, 10)
    if currency == "PLN":
        return None if day in PLN_GAP else round(0.25 + 0.002 * step, 10)
    if currency == "CHF":
        return 1.13 if day == CHF_ONLY_ON else None
    raise AssertionError(currency)


def _rate(currency: str, day: date) -> float | None:
    """US dollars per unit on ``day``: the last rate published on or at most 7 days before it."""
    for back in range(8):
        rate = _published(currency, day - timedelta(days=back))
        if rate is not None:
            return rate
    return None


def _fx(currency: str, day: date) -> float:
    """Units of the reporting currency (EUR) per unit of ``currency`` on ``day``."""
    return _rate(currency, day) / _rate(REPORTING, day)


# The facts, in account-currency units: (platform, account, campaign, currency, day, spend, conversions, value).
def _facts() -> list[tuple]:
    rows = []
    for day in _days(FIRST, LAST):
        sunday = day == LAST  # nothing spent anywhere on the last day
        rows.append((*GOOGLE, "g1", "USD", day, 0 if sunday else 100, 0 if sunday else 2, 0 if sunday else 300))
        rows.append((*GOOGLE, "g2", "USD", day, 0, 0, 0))
        rows.append((*TIKTOK, "t1", "PLN", day, 0 if sunday else 400, 0, 0))
        if _business(day) and day <= date(2026, 3, 13):
            rows.append((*META, "m1", "PLN", day, 1000, 4, 2000))
    return rows


def _insert_rates(conn: psycopg.Connection, rows: list[tuple[date, str, float]]) -> None:
    conn.cursor().executemany(
        "insert into raw.fx_rates (date, currency, rate_to_usd, source) values (%s, %s, %s, 'test')", rows
    )


def _insert_facts(conn: psycopg.Connection, facts: list[tuple]) -> None:
    for platform, account, campaign, currency, day, spend, conversions, value in facts:
        if platform == "google_ads":
            conn.execute(
                "insert into raw.google_ads_campaign_daily (segments_date, customer_id, campaign_id, campaign_name, "
                "customer_currency_code, customer_time_zone, metrics_cost_micros, metrics_impressions, metrics_clicks, "
                "metrics_conversions, metrics_conversions_value) values (%s, %s, %s, %s, %s, 'America/New_York', %s, "
                "1000, 10, %s, %s)",
                (day, account, campaign, campaign, currency, spend * 1_000_000, conversions, value),
            )
        elif platform == "meta_ads":
            conn.execute(
                "insert into raw.meta_ads_campaign_daily (date_start, account_id, campaign_id, campaign_name, "
                "account_currency, account_timezone_name, spend, impressions, clicks, actions, action_values) "
                "values (%s, %s, %s, %s, %s, 'Europe/Warsaw', %s, 1000, 10, "
                "jsonb_build_array(jsonb_build_object('action_type', 'omni_purchase', 'value', %s::text)), "
                "jsonb_build_array(jsonb_build_object('action_type', 'omni_purchase', 'value', %s::text)))",
                (day, account.removeprefix("act_"), campaign, campaign, currency, spend, conversions, value),
            )
        else:
            conn.execute(
                "insert into raw.tiktok_ads_campaign_daily (stat_time_day, advertiser_id, campaign_id, campaign_name, "
                "currency, timezone, spend, impressions, clicks, conversion, total_purchase_value) "
                "values (%s, %s, %s, %s, %s, 'Europe/Warsaw', %s, 1000, 10, %s, %s)",
                (day, account, campaign, campaign, currency, spend, conversions, value),
            )


def _dbt(url: str, tmp: Path, *args: str, reporting: str = REPORTING) -> subprocess.Popen:
    """Start ``dbt <args>`` on ``url`` with its target and logs under ``tmp`` (so runs never clash)."""
    dbt = Path(sys.executable).parent / "dbt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MBO_DB_", "DBT_"))}
    env.update(dbt_env(url), MBO_REPORTING_CURRENCY=reporting, MBO_FX_MAX_FILL_DAYS="7")
    return subprocess.Popen(
        [str(dbt) if dbt.exists() else "dbt", *args, "--no-use-colors",
         "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
         "--target-path", str(tmp / "target"), "--log-path", str(tmp / "logs")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _finish(process: subprocess.Popen) -> tuple[int, str]:
    output, _ = process.communicate(timeout=600)
    return process.returncode, output


@pytest.fixture(scope="module")
def fx_db(new_database, tmp_path_factory):
    url = new_database("fx_marts")
    with psycopg.connect(url) as conn:
        ensure_raw_tables(conn)
        _insert_rates(conn, [
            (day, currency, _published(currency, day))
            for day in _days(RATES_FROM, RATES_TO)
            for currency in ("USD", "EUR", "PLN", "CHF")
            if _published(currency, day) is not None
        ])
        _insert_facts(conn, _facts())
        conn.commit()
    code, output = _finish(_dbt(url, tmp_path_factory.mktemp("dbt_fx"), "build"))
    assert code == 0, f"dbt build failed:\n{output[-8000:]}"
    return url


@pytest.fixture
def db(fx_db):
    with psycopg.connect(fx_db) as conn:
        yield conn


def _rows(db, sql: str, *params) -> list[dict]:
    cur = db.execute(sql, params)
    return [{d.name: v for d, v in zip(cur.description, values)} for values in cur.fetchall()]


def _budget(account: tuple[str, str], month: date) -> float:
    with SEED.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if (row["platform"], row["account_id"], row["month"]) == (*account, month.isoformat()):
                return float(row["monthly_budget"])
    raise AssertionError(f"no budget for {account} {month} in {SEED}")


def test_rates_are_forward_filled_over_weekends_and_gaps(db):
    rates = {
        (r["currency"], r["date_day"]): r
        for r in _rows(db, "select * from intermediate.int_fx_rates__daily where currency in ('PLN', 'EUR')")
    }
    friday, saturday, sunday = date(2026, 3, 6), date(2026, 3, 7), date(2026, 3, 8)
    for day in (saturday, sunday):
        assert rates["PLN", day]["rate_published_on"] == friday
        assert float(rates["PLN", day]["rate_to_usd"]) == pytest.approx(0.258)  # 0.25 + 0.002 x 4
    # PLN missing on Wednesday and Thursday: Tuesday's rate, while EUR moves on every day.
    for day in sorted(PLN_GAP):
        assert rates["PLN", day]["rate_published_on"] == date(2026, 3, 10)
        assert rates["EUR", day]["rate_published_on"] == day
        assert float(rates["PLN", day]["fx_rate_to_reporting"]) == pytest.approx(0.266 / (1.10 + 0.01 * (day - FIRST).days))
    assert rates["PLN", FIRST]["rate_published_on"] == FIRST and rates["PLN", FIRST]["reporting_currency"] == "EUR"
    # The calendar runs to the last fact day (a Sunday after the last publication), every day present.
    assert max(day for _, day in rates) == LAST
    assert len({day for currency, day in rates if currency == "PLN"}) == (LAST - RATES_FROM).days + 1


def test_no_rate_is_carried_further_than_fx_max_fill_days(db):
    chf = {r["date_day"]: r for r in _rows(db, "select * from intermediate.int_fx_rates__daily where currency = 'CHF'")}
    assert min(chf) == CHF_ONLY_ON and max(chf) == LAST  # from its first publication to the last day needed
    assert chf[CHF_ONLY_ON + timedelta(days=7)]["rate_published_on"] == CHF_ONLY_ON
    assert float(chf[CHF_ONLY_ON + timedelta(days=7)]["fx_rate_to_reporting"]) == pytest.approx(1.13 / 1.17)
    for day in _days(CHF_ONLY_ON + timedelta(days=8), LAST):
        assert chf[day]["rate_to_usd"] is None and chf[day]["rate_published_on"] is None, day
        assert chf[day]["fx_rate_to_reporting"] is None, day


def test_campaign_money_converts_at_each_days_rate(db):
    facts = _rows(db, "select * from marts.fct_campaign_daily where platform = 'meta_ads' order by date_day")
    assert [r["date_day"] for r in facts] == [d for d in _days(FIRST, date(2026, 3, 13)) if _business(d)]
    for row in facts:
        assert row["reporting_currency"] == "EUR"
        assert float(row["fx_rate_to_reporting"]) == pytest.approx(_fx("PLN", row["date_day"]), abs=1e-12)
        assert float(row["spend_reporting"]) == pytest.approx(1000 * _fx("PLN", row["date_day"]), abs=1e-6)
        assert float(row["conversion_value_reporting"]) == pytest.approx(2000 * _fx("PLN", row["date_day"]), abs=1e-6)
    # 03-11: PLN at 03-10's rate (0.266), EUR at its own (1.19).
    gap_day = next(r for r in facts if r["date_day"] == date(2026, 3, 11))
    assert float(gap_day["spend_reporting"]) == pytest.approx(1000 * 0.266 / 1.19, abs=1e-6)
    total = db.execute("select sum(spend_reporting) from marts.fct_campaign_daily").fetchone()[0]
    expected = sum(spend * _fx(currency, day) for _, _, _, currency, day, spend, _, _ in _facts())
    assert float(total) == pytest.approx(expected, abs=1e-4)
    # A weekend day of a USD account: Friday's EUR rate.
    usd = _rows(db, "select * from marts.fct_campaign_daily where campaign_id = 'g1' and date_day = '2026-03-07'")[0]
    assert float(usd["spend_reporting"]) == pytest.approx(100 / 1.14, abs=1e-6)


def test_campaign_budget_converts_at_the_latest_rate(db):
    [dim] = _rows(db, "select * from marts.dim_campaign where campaign_id = 't1'")
    assert dim["fx_rate_date"] == LAST  # the last day needed, a Sunday: Friday 03-13's rates
    assert float(dim["fx_rate_to_reporting"]) == pytest.approx(_fx("PLN", LAST), abs=1e-12)


def test_platform_daily_totals_ratios_and_shares(db):
    daily = {(r["date_day"], r["platform"]): r for r in _rows(db, "select * from marts.fct_platform_daily")}
    assert len(daily) == 14 * 2 + 10  # Google and TikTok every day, Meta on business days
    wednesday = date(2026, 3, 4)
    google, meta, tiktok = (daily[wednesday, p] for p in ("google_ads", "meta_ads", "tiktok_ads"))
    google_spend, meta_spend, tiktok_spend = 100 / 1.12, 1000 * 0.254 / 1.12, 400 * 0.254 / 1.12
    day_total = google_spend + meta_spend + tiktok_spend
    assert google["reporting_currency"] == "EUR"
    assert (google["campaigns"], google["accounts"], meta["campaigns"]) == (2, 1, 1)
    assert float(google["spend_reporting"]) == pytest.approx(google_spend, abs=1e-5)
    assert float(google["roas"]) == pytest.approx(3.0, abs=1e-6)  # 300 / 100, whatever the rate
    assert float(google["cpa_reporting"]) == pytest.approx(google_spend / 2, abs=1e-5)
    assert float(meta["conversion_value_reporting"]) == pytest.approx(2000 * 0.254 / 1.12, abs=1e-5)
    assert float(meta["cpa_reporting"]) == pytest.approx(meta_spend / 4, abs=1e-5)
    assert float(meta["share_of_spend"]) == pytest.approx(meta_spend / day_total, abs=1e-7)
    assert float(google["share_of_spend"] + meta["share_of_spend"] + tiktok["share_of_spend"]) == pytest.approx(1.0)
    # No conversions: no CPA (and a ROAS of 0, not NULL: it spent).
    assert tiktok["cpa_reporting"] is None and float(tiktok["roas"]) == 0.0
    # A weekend without Meta: shares of the two platforms that spent, at Friday's rates.
    saturday = date(2026, 3, 7)
    assert (saturday, "meta_ads") not in daily
    assert float(daily[saturday, "google_ads"]["share_of_spend"]) == pytest.approx(100 / (100 + 400 * 0.258), abs=1e-7)
    # The last day nothing was spent: no ROAS, no share.
    for platform in ("google_ads", "tiktok_ads"):
        last = daily[LAST, platform]
        assert float(last["spend_reporting"]) == 0.0
        assert last["roas"] is None and last["share_of_spend"] is None and last["cpa_reporting"] is None


def _pacing(db, account: tuple[str, str], month: date) -> dict:
    [row] = _rows(
        db, "select * from marts.fct_budget_pacing where platform = %s and account_id = %s and month = %s",
        *account, month,
    )
    return row


def test_budget_pacing_projects_the_last_seven_loaded_days(db):
    meta = _pacing(db, META, MARCH)
    # Last loaded day Friday 03-13; the window 03-07..03-13 has 5 business days of 1,000 and a weekend of 0.
    assert (meta["last_loaded_day"], meta["trailing_window_start"], meta["trailing_window_days"]) == (
        date(2026, 3, 13), date(2026, 3, 7), 7)
    pace = 5000 / 7
    assert float(meta["trailing_daily_spend"]) == pytest.approx(pace, abs=1e-6)
    assert meta["days_to_project"] == 18
    assert float(meta["projected_month_end_spend"]) == pytest.approx(10_000 + pace * 18, abs=1e-5)
    so_far_reporting = sum(1000 * _fx("PLN", d) for d in _days(FIRST, date(2026, 3, 13)) if _business(d))
    assert float(meta["spend_mtd_reporting"]) == pytest.approx(so_far_reporting, abs=1e-5)
    assert float(meta["projected_month_end_spend_reporting"]) == pytest.approx(
        so_far_reporting + pace * 18 * _fx("PLN", date(2026, 3, 13)), abs=1e-5)
    assert float(meta["projected_vs_budget"]) == pytest.approx((10_000 + pace * 18) / _budget(META, MARCH), abs=1e-6)

    google, google_april = _pacing(db, GOOGLE, MARCH), _pacing(db, GOOGLE, APRIL)
    # 03-09..03-15: six days of 100 and a Sunday of 0 (a row with 0 spend counts like a missing day).
    assert float(google["projected_month_end_spend"]) == pytest.approx(1300 + 600 / 7 * 16, abs=1e-5)
    assert float(google_april["projected_month_end_spend"]) == pytest.approx(600 / 7 * 30, abs=1e-5)  # all of April
    idle = _pacing(db, GOOGLE_EUR, MARCH)
    assert (idle["trailing_window_days"], float(idle["projected_month_end_spend"])) == (0, 0.0)
    assert idle["trailing_window_start"] is None


def test_marts_are_indexed_for_dashboards(db):
    found: dict[str, set] = {}
    for table, definition in db.execute("select tablename, indexdef from pg_indexes where schemaname = 'marts'"):
        columns = tuple(c.strip() for c in re.search(r"\((.*)\)", definition).group(1).split(","))
        found.setdefault(table, set()).add((columns, definition.startswith("CREATE UNIQUE")))
    expected = {
        "fct_campaign_daily": {(("date_day",), False), (("platform", "account_id", "campaign_id", "date_day"), True)},
        "dim_campaign": {(("campaign_key",), True), (("platform", "account_id", "campaign_id"), False)},
        "account_pacing": {(("platform", "account_id", "month"), True), (("month",), False)},
        "fct_budget_pacing": {(("platform", "account_id", "month"), True), (("month",), False)},
        "fct_platform_daily": {(("date_day", "platform"), True)},
    }
    for table, indexes in expected.items():
        assert indexes <= found.get(table, set()), table


def test_a_rate_gap_longer_than_the_fill_fails_and_names_the_pairs(new_database, tmp_path):
    """PLN published once, USD (the reporting currency here) twice, EUR never: the check lists each missing day."""
    url = new_database("fx_gap")
    with psycopg.connect(url) as conn:
        ensure_raw_tables(conn)
        _insert_rates(conn, [(FIRST, "PLN", 0.25), (FIRST, "USD", 1.0), (FIRST + timedelta(days=1), "USD", 1.0)])
        _insert_facts(conn, [(*TIKTOK, "t1", "PLN", day, 400, 0, 0) for day in _days(FIRST, date(2026, 3, 12))])
        conn.execute(
            "insert into raw.ga4_traffic_daily (date, property_id, session_source_medium, session_campaign_name, "
            "currency_code, time_zone, sessions, key_events, total_revenue) "
            "values ('2026-03-05', '1', 'google / organic', '(organic)', 'EUR', 'Europe/Berlin', 10, 1, 50)"
        )
        conn.commit()
    code, output = _finish(_dbt(url, tmp_path, "build", "--select", "+assert_fx_rate_for_every_fact_day", reporting="USD"))
    assert code != 0
    assert "FAIL 6 assert_fx_rate_for_every_fact_day" in output, output[-4000:]
    assert '"dbt_test__audit"."assert_fx_rate_for_every_fact_day"' in output  # where dbt says the rows are
    with psycopg.connect(url) as conn:
        missing = {
            (r[0], r[1]): r[2:]
            for r in conn.execute(
                "select currency, date_day, needed_by, last_published_on, days_since_published "
                "from dbt_test__audit.assert_fx_rate_for_every_fact_day"
            )
        }
    assert missing == {
        ("PLN", date(2026, 3, 10)): ("campaign facts", FIRST, 8),
        ("PLN", date(2026, 3, 11)): ("campaign facts", FIRST, 9),
        ("PLN", date(2026, 3, 12)): ("campaign facts", FIRST, 10),
        ("USD", date(2026, 3, 11)): ("reporting currency", date(2026, 3, 3), 8),
        ("USD", date(2026, 3, 12)): ("reporting currency", date(2026, 3, 3), 9),
        ("EUR", date(2026, 3, 5)): ("GA4 revenue", None, None),
    }


# Wrong data for each singular test, all in one copy of the built database, each in a table (or column) only that
# test reads, so each failure is its own; and how many rows each test must return. ``dbt test`` does not rebuild.
WRONG_DATA = {
    # Raw spend moved from one day to the next: per-platform totals still agree, per-day ones do not.
    "assert_mart_spend_matches_raw": (
        "update raw.google_ads_campaign_daily set metrics_cost_micros = metrics_cost_micros "
        "+ case segments_date when '2026-03-04' then 50000000 else -50000000 end "
        "where campaign_id = 'g1' and segments_date in ('2026-03-04', '2026-03-05')",
        2,
    ),
    # A day shown at the previous day's rate, and a budget converted at the month's first day's rate.
    "assert_reporting_columns_follow_the_rates": (
        "update marts.fct_campaign_daily set fx_rate_to_reporting = round(0.254 / 1.12, 12) "
        "where campaign_id = 'm1' and date_day = '2026-03-05'; "
        "update marts.account_pacing set monthly_budget_reporting = monthly_budget * 0.25 / 1.10 "
        "where platform = 'tiktok_ads' and account_id = '7100000000002' and month = '2026-03-01'",
        2,
    ),
    "assert_fx_rate_for_every_fact_day": (
        "delete from intermediate.int_fx_rates__daily where currency = 'PLN' and date_day = '2026-03-09'",
        1,
    ),
    "assert_platform_daily_matches_campaign_daily": (
        "update marts.fct_platform_daily set share_of_spend = share_of_spend + 0.01 "
        "where platform = 'tiktok_ads' and date_day = '2026-03-10'",
        1,
    ),
    "assert_budget_pacing_projection": (
        "update marts.fct_budget_pacing set projected_month_end_spend = projected_month_end_spend + 1 "
        "where platform = 'meta_ads' and account_id = 'act_400500600' and month = '2026-03-01'",
        1,
    ),
}


@pytest.fixture
def wrong_copy(fx_db, postgres_server_url):
    """A copy of the built database with every wrong row of WRONG_DATA; dropped afterwards."""
    source = fx_db.rsplit("/", 1)[1]
    name = f"{source}_wrong"
    url = fx_db.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(f'create database "{name}" template "{source}"')
        try:
            with psycopg.connect(url) as conn:
                for sql, _ in WRONG_DATA.values():
                    conn.execute(sql)
            yield url
        finally:
            admin.execute(f'drop database if exists "{name}" with (force)')


def test_every_singular_test_fails_on_wrong_data(wrong_copy, tmp_path):
    """(They all pass on the correct build: the module's ``dbt build`` runs them.)"""
    code, output = _finish(_dbt(wrong_copy, tmp_path, "test", "--select", *WRONG_DATA))
    assert code != 0
    for name, (_, failing_rows) in WRONG_DATA.items():
        assert f"FAIL {failing_rows} {name}" in output, f"{name}:\n{output[-4000:]}"
