"""check_and_load against PostgreSQL: quarantine instead of loss, held-back days keep their rows, acceptance."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import psycopg
import pytest

from mbo_pipelines.defs.ingest.raw_tables import TIKTOK_ADS_CAMPAIGN_DAILY, TIKTOK_ADS_CAMPAIGNS
from mbo_pipelines.defs.quality import store
from mbo_pipelines.defs.quality.load import check_and_load

TABLE = TIKTOK_ADS_CAMPAIGN_DAILY
FIRST = date(2026, 3, 2)  # a Monday
DAYS = 35  # five weeks: enough same-weekday history for the volume band


def _row(day: date, advertiser: str = "A1", campaign: str = "c1", **overrides) -> dict:
    row = {"stat_time_day": day, "advertiser_id": advertiser, "campaign_id": campaign,
           "campaign_name": f"Campaign {campaign}", "currency": "EUR", "timezone": "Europe/Paris",
           "spend": Decimal("100.00"), "impressions": 1000, "clicks": 20, "conversion": 2.0,
           "total_purchase_value": 50.0}
    row.update(overrides)
    return row


def _day_rows(day: date) -> list[dict]:
    return [_row(day, advertiser, f"{advertiser}-c{n}") for advertiser in ("A1", "A2") for n in range(3)]


def _raw(url: str, day: date) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("select advertiser_id, campaign_id, campaign_name, spend from raw.tiktok_ads_campaign_daily "
                            "where stat_time_day = %s order by 1, 2", (day,)).fetchall()


def _quarantine(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("select campaign_id, campaign_name, _day, _reason, _partition, _run_id "
                            "from quarantine.tiktok_ads_campaign_daily order by campaign_id").fetchall()


def _failures(url: str, day: date) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return store.blocking_failures(conn, day, day)


@pytest.fixture()
def url(new_database, request):
    """A fresh database with five clean weeks loaded (one run, as a first backfill does)."""
    url = new_database(f"quality_{request.node.name[:40]}")
    rows = [r for n in range(DAYS) for r in _day_rows(FIRST + timedelta(days=n))]
    outcome = check_and_load(url, TABLE, rows, (FIRST, FIRST + timedelta(days=DAYS - 1)), "backfill", "run-0")
    assert outcome.written == len(rows) and outcome.quarantined == 0
    return url


LAST = FIRST + timedelta(days=DAYS - 1)


def test_clean_backfill_passes_every_check_on_every_day(url):
    with psycopg.connect(url) as conn:
        results = conn.execute("select check_name, count(*), bool_and(passed) from quality.latest_check_results "
                               "where table_name = %s group by 1 order by 1", (TABLE.name,)).fetchall()
    assert results == [("valid_rows", DAYS, True), ("valid_table", DAYS, True), ("volume", DAYS, True)]


def test_a_nul_byte_in_one_name_quarantines_that_row_and_loads_the_rest(url):
    rows = _day_rows(LAST)
    rows[1]["campaign_name"] = "Black\x00Friday"
    rows[2]["campaign_name"] = "lone \ud800 surrogate"
    outcome = check_and_load(url, TABLE, rows, (LAST, LAST), LAST.isoformat(), "run-1")
    assert (outcome.written, outcome.quarantined) == (4, 2)
    quarantined = _quarantine(url)
    assert [(q[0], q[1], q[2], q[4], q[5]) for q in quarantined] == [
        ("A1-c1", "Black\\u0000Friday", LAST, LAST.isoformat(), "run-1"),
        ("A1-c2", "lone \\ud800 surrogate", LAST, LAST.isoformat(), "run-1"),
    ]
    assert all("campaign_name has control characters or is not valid UTF-8" in q[3] for q in quarantined)
    # The rows loaded before for the two quarantined campaigns stay: a bad re-read erases nothing.
    assert [(r[1], r[2]) for r in _raw(url, LAST)] == [
        ("A1-c0", "Campaign A1-c0"), ("A1-c1", "Campaign A1-c1"), ("A1-c2", "Campaign A1-c2"),
        ("A2-c0", "Campaign A2-c0"), ("A2-c1", "Campaign A2-c1"), ("A2-c2", "Campaign A2-c2")]
    assert _failures(url, LAST) == []  # row-level: not blocking

    # The platform fixes the names: the day reloads whole and its quarantine of the earlier run goes.
    check_and_load(url, TABLE, _day_rows(LAST), (LAST, LAST), LAST.isoformat(), "run-2")
    assert len(_raw(url, LAST)) == 6 and _quarantine(url) == []


def test_a_bad_reread_of_a_loaded_row_keeps_the_good_one_and_replaces_the_rest(url):
    rows = _day_rows(LAST)
    for row in rows:
        row["spend"] = Decimal("120.00")  # restated by the platform
    rows[4]["spend"] = Decimal("-5.00")  # A2-c1 now comes back broken
    rows.append(_row(LAST, "A2", "A2-new", campaign_name="tab\there"))  # a new campaign, broken from the start
    outcome = check_and_load(url, TABLE, rows, (LAST, LAST), LAST.isoformat(), "run-1")
    assert outcome.report.kept_keys() == [("A2", "A2-c1", LAST.isoformat()), ("A2", "A2-new", LAST.isoformat())]
    assert [(r[1], r[3]) for r in _raw(url, LAST)] == [
        ("A1-c0", Decimal("120.0000")), ("A1-c1", Decimal("120.0000")), ("A1-c2", Decimal("120.0000")),
        ("A2-c0", Decimal("120.0000")), ("A2-c1", Decimal("100.0000")), ("A2-c2", Decimal("120.0000"))]
    assert [q[0] for q in _quarantine(url)] == ["A2-c1", "A2-new"]


def test_a_volume_collapse_holds_the_day_back_and_keeps_what_was_loaded(url):
    before = _raw(url, LAST)
    rows = [_row(LAST, "A1", "A1-c0", spend=Decimal("1.00")), _row(LAST, "A2", "A2-c0", spend=Decimal("1.00"))]
    outcome = check_and_load(url, TABLE, rows, (LAST, LAST), LAST.isoformat(), "run-1")
    assert outcome.written == 0 and LAST in outcome.report.held_days
    assert _raw(url, LAST) == before
    [(table, day, check, summary)] = _failures(url, LAST)
    assert (table, day, check) == (TABLE.name, LAST, "volume")
    assert "fewer rows" in summary and "volume collapsed" in summary
    assert [q[3].startswith("day held back: ") for q in _quarantine(url)] == [True, True]

    # The operator confirms the drop is real: the gate opens and the next extract of that day loads it.
    with psycopg.connect(url) as conn:
        assert store.accept(conn, TABLE.name, "volume", LAST, "ana", "campaigns paused for a stock-out") == 1
    assert _failures(url, LAST) == []
    outcome = check_and_load(url, TABLE, rows, (LAST, LAST), LAST.isoformat(), "run-2")
    assert outcome.written == 2 and [r[3] for r in _raw(url, LAST)] == [Decimal("1.0000")] * 2


def test_an_account_that_spent_yesterday_and_sent_nothing_holds_the_day(url, monkeypatch):
    monkeypatch.setenv("MBO_VOLUME_MIN_RATIO", "0")  # only the account rule can fail here
    rows = [r for r in _day_rows(LAST) if r["advertiser_id"] == "A1"]
    outcome = check_and_load(url, TABLE, rows, (LAST, LAST), LAST.isoformat(), "run-1")
    assert outcome.written == 0
    [(_, _, check, summary)] = _failures(url, LAST)
    assert check == "volume" and "an account that spent the day before sent no rows" in summary
    assert "accounts A2 spent on" in outcome.report.held_days[LAST][0]


def test_a_day_an_account_reports_another_currency_than_its_usual_one_is_held_back(url):
    before = {day: _raw(url, day) for day in (LAST - timedelta(days=2), LAST - timedelta(days=1), LAST)}
    rows = [r for day in before for r in _day_rows(day)]
    for row in rows:
        row["spend"] = Decimal("101.00")
        if row["advertiser_id"] == "A2" and row["stat_time_day"] == LAST:
            row["currency"] = "USD"  # A2 reported EUR the days before
    outcome = check_and_load(url, TABLE, rows, (LAST - timedelta(days=2), LAST), "range", "run-1")
    assert set(outcome.report.held_days) == {LAST}
    assert _raw(url, LAST) == before[LAST]
    assert [r[3] for r in _raw(url, LAST - timedelta(days=1))] == [Decimal("101.0000")] * 6  # reloaded
    assert [(t, d, c) for t, d, c, _ in _failures(url, LAST)] == [(TABLE.name, LAST, "valid_table")]
    assert "A2 on 2026-04-05: USD (its other rows: EUR)" in outcome.report.held_days[LAST][0]

    # Half and half: no usual currency to tell which is wrong, so every day of the account is held.
    rows = _day_rows(LAST - timedelta(days=1)) + _day_rows(LAST)
    for row in rows:
        if row["advertiser_id"] == "A2" and row["stat_time_day"] == LAST:
            row["currency"] = "USD"
    outcome = check_and_load(url, TABLE, rows, (LAST - timedelta(days=1), LAST), "range", "run-2")
    assert set(outcome.report.held_days) == {LAST - timedelta(days=1), LAST}


def test_columns_that_differ_hold_every_day_back(url):
    before = _raw(url, LAST)
    rows = [dict(row, surprise="x") for row in _day_rows(LAST)]
    outcome = check_and_load(url, TABLE, rows, (LAST, LAST), LAST.isoformat(), "run-1")
    assert not outcome.report.loads_anything and outcome.written == 0
    assert _raw(url, LAST) == before
    [(_, _, check, summary)] = _failures(url, LAST)
    assert check == "valid_table" and "unexpected surprise" in summary


def test_a_snapshot_with_a_bad_currency_quarantines_the_row_and_keeps_the_rest(new_database):
    url = new_database("quality_snapshot")
    good = {"advertiser_id": "A1", "campaign_id": "c1", "campaign_name": "one", "operation_status": "ENABLE",
            "currency": "EUR", "timezone": "UTC", "budget_mode": "BUDGET_MODE_DAY", "budget": Decimal("50.00")}
    assert check_and_load(url, TIKTOK_ADS_CAMPAIGNS, [good], None, "snapshot", "run-0").written == 1
    bad = dict(good, campaign_id="c2", currency="EURO")
    outcome = check_and_load(url, TIKTOK_ADS_CAMPAIGNS, [good, bad], None, "snapshot", "run-1")
    assert (outcome.written, outcome.quarantined) == (1, 1)
    with psycopg.connect(url) as conn:
        [(reason,)] = conn.execute("select _reason from quarantine.tiktok_ads_campaigns").fetchall()
        assert "currency is not an ISO 4217 currency code" in reason
        # Two currencies in one account: the snapshot is not replaced at all.
        mixed = dict(good, campaign_id="c3", currency="USD")
        outcome = check_and_load(url, TIKTOK_ADS_CAMPAIGNS, [dict(good, budget=Decimal(9)), mixed], None, "snapshot", "r2")
        assert outcome.written == 0
        assert conn.execute("select campaign_id, budget from raw.tiktok_ads_campaigns").fetchall() == [("c1", Decimal("50.00"))]
        [(table, day, check, _)] = store.blocking_failures(conn, None, None)
        assert (table, day, check) == (TIKTOK_ADS_CAMPAIGNS.name, None, "valid_table")
