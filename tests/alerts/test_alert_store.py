"""marts.alerts against PostgreSQL (new, continuing, merged, resolved, reopened; notification and explanation
bookkeeping; comments), the detector's inputs read from a small warehouse, and quality.reported_totals."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import psycopg
import pytest

from mbo_pipelines.defs.alerts import model, store
from mbo_pipelines.defs.alerts.detect import detect, history_days
from mbo_pipelines.defs.alerts.inputs import latest_day, mart_account, read_inputs
from mbo_pipelines.defs.alerts.model import Alert
from mbo_pipelines.defs.alerts.notify import notify_new_alerts
from mbo_pipelines.defs.alerts.thresholds import Thresholds
from mbo_pipelines.defs.ingest.raw_tables import GOOGLE_ADS_CAMPAIGN_DAILY, META_ADS_CAMPAIGN_DAILY
from mbo_pipelines.defs.quality.load import check_and_load
from tests.fakes.fake_webhook import FakeWebhook

DAY = date(2026, 3, 14)


def alert(kind: str = model.SPEND_SPIKE, first: date = DAY, last: date | None = None, campaign: str | None = "c1",
          metric: str = "spend", observed: float = 900.0) -> Alert:
    last = last or first
    return Alert(kind=kind, severity=model.ERROR, platform="google_ads", account_id="111", campaign_id=campaign,
                 metric=metric, observed=observed, expected=300.0, expected_low=120.0, expected_high=750.0,
                 first_day=first, last_day=last, message=f"Spend {observed:,.2f} USD from {first} to {last}.",
                 campaign_name=None if campaign is None else f"Campaign {campaign}", currency="USD")


@pytest.fixture
def url(new_database, request) -> str:
    return new_database(f"alerts_{request.node.name[:30]}")


def sync(url: str, found: list[Alert]) -> store.SyncResult:
    with psycopg.connect(url) as conn:
        return store.sync(conn, found)


def rows(url: str) -> list[dict]:
    with psycopg.connect(url) as conn:
        return list(conn.cursor(row_factory=psycopg.rows.dict_row).execute(
            "select * from marts.alerts order by first_day, alert_id"))


def ids(alerts: list[Alert]) -> list[str]:
    return [a.alert_id for a in alerts]


# ---------------------------------------------------------------------------- sync


def test_new_alerts_are_inserted_open_with_their_facts(url):
    spike, missing = alert(), Alert(
        kind=model.MISSING_DAY, severity=model.ERROR, platform="meta_ads", account_id=None, campaign_id=None,
        metric="rows", observed=0.0, expected=None, expected_low=None, expected_high=None, first_day=DAY,
        last_day=DAY, message="No rows from meta_ads.")
    result = sync(url, [spike, missing])
    assert (ids(result.new), result.continuing, result.resolved) == ([spike.alert_id, missing.alert_id], [], [])
    assert ids(result.open) == ids(result.new)
    stored = {r["alert_id"]: r for r in rows(url)}
    assert set(stored) == {spike.alert_id, missing.alert_id}
    row = stored[spike.alert_id]
    assert (row["status"], row["kind"], row["severity"], row["platform"], row["account_id"], row["campaign_id"],
            row["campaign_name"], row["metric"], row["currency"]) == (
        "open", "spend_spike", "error", "google_ads", "111", "c1", "Campaign c1", "spend", "USD")
    assert (row["observed"], row["expected"], row["expected_low"], row["expected_high"]) == (
        Decimal("900"), Decimal("300"), Decimal("120"), Decimal("750"))
    assert (row["first_day"], row["last_day"], row["days"], row["message"]) == (DAY, DAY, 1, spike.message)
    assert row["detected_at"] is not None and row["resolved_at"] is None and row["notified_at"] is None
    assert stored[missing.alert_id]["expected"] is None and stored[missing.alert_id]["account_id"] is None
    with psycopg.connect(url) as conn:
        assert sorted(store.open_alert_objects(conn), key=lambda a: a.kind) == [missing, spike]  # a round trip


def test_the_same_alert_found_again_continues_in_one_row(url):
    first = alert()
    sync(url, [first])
    (before,) = rows(url)
    later = alert(last=DAY + timedelta(days=1), observed=950.0)
    assert later.alert_id == first.alert_id
    result = sync(url, [later])
    assert (result.new, ids(result.continuing), result.resolved) == ([], [first.alert_id], [])
    (row,) = rows(url)
    assert (row["status"], row["first_day"], row["last_day"], row["days"]) == ("open", DAY, DAY + timedelta(days=1), 2)
    assert (row["observed"], row["message"]) == (Decimal("950"), later.message)
    assert row["detected_at"] == before["detected_at"] and row["updated_at"] > before["updated_at"]


def test_an_older_last_day_does_not_move_last_day_back(url):
    sync(url, [alert(last=DAY + timedelta(days=2))])
    sync(url, [alert(last=DAY + timedelta(days=1))])
    (row,) = rows(url)
    assert (row["last_day"], row["days"]) == (DAY + timedelta(days=2), 3)


def test_an_episode_longer_than_the_scan_window_merges_into_the_open_alert(url):
    """After scan_days the detector's run starts at the window's first day, a later first day and so another id:
    it is the same problem, so it keeps the stored alert's id and first day."""
    stored = alert(first=DAY - timedelta(days=7), last=DAY - timedelta(days=1))
    sync(url, [stored])
    window = alert(first=DAY - timedelta(days=6), last=DAY)
    assert window.alert_id != stored.alert_id
    result = sync(url, [window])
    assert result.new == [] and result.resolved == []
    (merged,) = result.continuing
    assert (merged.alert_id, merged.first_day, merged.last_day) == (stored.alert_id, stored.first_day, DAY)
    (row,) = rows(url)
    assert (row["alert_id"], row["status"], row["first_day"], row["last_day"], row["days"]) == (
        stored.alert_id, "open", DAY - timedelta(days=7), DAY, 8)


def test_an_alert_starting_the_day_after_the_open_one_ends_merges_into_it(url):
    stored = alert(first=DAY - timedelta(days=3), last=DAY - timedelta(days=1))
    sync(url, [stored])
    result = sync(url, [alert(first=DAY)])
    assert result.new == [] and ids(result.continuing) == [stored.alert_id]
    assert [(r["alert_id"], r["last_day"]) for r in rows(url)] == [(stored.alert_id, DAY)]


def test_a_gap_or_another_scope_or_metric_is_a_new_alert(url):
    stored = alert(first=DAY - timedelta(days=5), last=DAY - timedelta(days=2))
    sync(url, [stored])
    after_gap = alert(first=DAY)  # the day before (DAY - 1) was fine: a new episode
    other_campaign = alert(first=DAY - timedelta(days=1), campaign="c2")
    account = alert(first=DAY - timedelta(days=1), campaign=None)
    other_metric = alert(kind=model.EFFICIENCY_SHIFT, first=DAY - timedelta(days=1), metric="roas")
    result = sync(url, [after_gap, other_campaign, account, other_metric])
    assert ids(result.new) == ids([after_gap, other_campaign, account, other_metric])
    assert result.continuing == [] and result.resolved == [stored.alert_id]


def test_an_alert_no_longer_found_is_resolved_and_found_again_reopens_without_being_new(url):
    gone, stays = alert(), alert(campaign="c2")
    sync(url, [gone, stays])
    with psycopg.connect(url) as conn:
        store.mark_notified(conn, [gone.alert_id])
    result = sync(url, [stays])
    assert (result.new, ids(result.continuing), result.resolved) == ([], [stays.alert_id], [gone.alert_id])
    stored = {r["alert_id"]: r for r in rows(url)}
    assert (stored[gone.alert_id]["status"], stored[stays.alert_id]["status"]) == ("resolved", "open")
    assert stored[gone.alert_id]["resolved_at"] is not None and stored[stays.alert_id]["resolved_at"] is None
    assert sync(url, [stays]).resolved == []  # resolved once, not again on every refresh

    again = sync(url, [gone, stays])
    assert again.new == [] and set(ids(again.continuing)) == {gone.alert_id, stays.alert_id}
    row = {r["alert_id"]: r for r in rows(url)}[gone.alert_id]
    assert (row["status"], row["resolved_at"]) == ("open", None)
    assert row["notified_at"] == stored[gone.alert_id]["notified_at"]  # posted when new: not posted again
    with psycopg.connect(url) as conn:
        assert ids(a for a, _ in store.unnotified(conn)) == [stays.alert_id]


def test_a_resolved_alert_is_not_merged_into(url):
    stored = alert(first=DAY - timedelta(days=3), last=DAY - timedelta(days=1))
    sync(url, [stored])
    sync(url, [])
    result = sync(url, [alert(first=DAY)])
    assert ids(result.new) == [alert(first=DAY).alert_id] and result.continuing == []


# ---------------------------------------------------------------------------- notifications and explanations


def test_unnotified_lists_open_alerts_until_marked_and_continuing_ones_are_not_listed_again(url):
    a, b = alert(), alert(campaign="c2")
    sync(url, [a])
    sync(url, [a, b])  # b detected after a
    with psycopg.connect(url) as conn:
        assert store.unnotified(conn) == [(a, None), (b, None)]
        assert store.unnotified(conn, limit=1) == [(a, None)]
        store.mark_notified(conn, [a.alert_id])
        assert store.unnotified(conn) == [(b, None)]
    sync(url, [replace(a, last_day=DAY + timedelta(days=1)), b])
    with psycopg.connect(url) as conn:
        assert ids(x for x, _ in store.unnotified(conn)) == [b.alert_id]
        notified = conn.execute("select alert_id from marts.alerts where notified_at is not null").fetchall()
    assert notified == [(a.alert_id,)]
    sync(url, [a])  # b resolved: no longer waiting to be posted
    with psycopg.connect(url) as conn:
        assert store.unnotified(conn) == []


def test_explanations_are_recorded_and_come_with_the_unnotified_alert(url):
    a, b = alert(), alert(campaign="c2")
    sync(url, [a, b])
    with psycopg.connect(url) as conn:
        store.record_explanations(conn, [(a.alert_id, "Spend tripled.", "claude", None),
                                         (b.alert_id, "Spend rose.", "deterministic", "an invented number: 12")])
        store.record_explanations(conn, [])
        same_time = sorted([(a, "Spend tripled."), (b, "Spend rose.")], key=lambda pair: pair[0].alert_id)
        assert store.unnotified(conn) == same_time  # detected in one sync: by id
    stored = {r["alert_id"]: r for r in rows(url)}
    assert [(stored[x.alert_id]["explanation_source"], stored[x.alert_id]["explanation_note"]) for x in (a, b)] == [
        ("claude", None), ("deterministic", "an invented number: 12")]


def test_only_alerts_the_webhook_took_are_marked_notified(url):
    a, b = alert(), alert(campaign="c2")
    sync(url, [a])
    sync(url, [a, b])
    with FakeWebhook() as webhook:
        webhook.fail_next(1, status=400)  # a is refused (not retried); b goes through
        delivered, failed = notify_new_alerts(webhook.url, url)
        assert (delivered, list(failed)) == (1, [a.alert_id])
        with psycopg.connect(url) as conn:
            assert ids(x for x, _ in store.unnotified(conn)) == [a.alert_id]
        assert notify_new_alerts(webhook.url, url) == (1, {})  # a, tried again on the next tick
        assert notify_new_alerts(webhook.url, url) == (0, {})
        assert [r.status for r in webhook.requests] == [400, 200, 200]


def test_the_table_and_every_column_carry_their_comments(url):
    with psycopg.connect(url) as conn:
        store.ensure_alerts_table(conn)
        store.ensure_alerts_table(conn)  # idempotent
        table = conn.execute("select obj_description('marts.alerts'::regclass, 'pg_class')").fetchone()[0]
        columns = dict(conn.execute(
            "select a.attname, col_description(a.attrelid, a.attnum) from pg_attribute a "
            "where a.attrelid = 'marts.alerts'::regclass and a.attnum > 0 and not a.attisdropped").fetchall())
    assert table == store.TABLE_COMMENT
    assert columns == store.COMMENTS


# ---------------------------------------------------------------------------- the detector's inputs


def google_row(day: date, campaign: str, cost: float, customer: str = "1112223333") -> dict:
    return {"segments_date": day, "customer_id": customer, "campaign_id": campaign,
            "campaign_name": f"Google {campaign}", "customer_currency_code": "USD", "customer_time_zone": "UTC",
            "metrics_cost_micros": round(cost * 1_000_000), "metrics_impressions": 1000, "metrics_clicks": 50,
            "metrics_conversions": 2.0, "metrics_conversions_value": 80.0}


def meta_row(day: date, campaign: str, spend: str, account: str = "222") -> dict:
    return {"date_start": day, "account_id": account, "campaign_id": campaign, "campaign_name": f"Meta {campaign}",
            "account_currency": "EUR", "account_timezone_name": "Europe/Paris", "spend": Decimal(spend),
            "impressions": 1000, "clicks": 40, "actions": [{"action_type": "omni_purchase", "value": "2"}],
            "action_values": [{"action_type": "omni_purchase", "value": "90.0"}]}


MARTS = """
create schema if not exists marts;
create table marts.fct_campaign_daily (campaign_key text, date_day date, platform text, account_id text,
  campaign_id text, campaign_name text, spend_reporting numeric(20, 6), clicks bigint, conversions numeric,
  conversion_value_reporting numeric(20, 6));
create table marts.dim_campaign (platform text, account_id text, campaign_id text, campaign_name text, status text,
  currency text, daily_budget_reporting numeric(20, 6));
create table marts.account_pacing (platform text, account_id text, month date, currency text,
  spend_mtd numeric(20, 6), target_spend_mtd numeric(20, 6), days_elapsed integer);
create table marts.fct_campaign_attribution (campaign_key text, date_day date, platform text, is_ga4_matched boolean,
  ga4_sessions numeric, ga4_key_events numeric);
insert into marts.dim_campaign values
  ('google_ads', '1112223333', 'g1', 'Google g1', 'active', 'USD', 30),
  ('meta_ads', 'act_222', 'm1', 'Meta m1', 'paused', 'EUR', 55.5);
insert into marts.account_pacing values
  ('meta_ads', 'act_222', '2026-03-01', 'EUR', 700, 500, 14),
  ('meta_ads', 'act_222', '2026-02-01', 'EUR', 1400, 1400, 28);
"""


@pytest.fixture(scope="module")
def warehouse_url(new_database) -> str:
    """Two days of Google and Meta loaded by the real checked loader (Meta's last day re-read at twice its first
    report), and hand-written marts with the columns read_inputs selects."""
    url = new_database("alert_inputs")
    before = DAY - timedelta(days=1)
    google = [google_row(d, c, cost) for d in (before, DAY) for c, cost in (("g1", 12.5), ("g2", 7.25))]
    check_and_load(url, GOOGLE_ADS_CAMPAIGN_DAILY, google, (before, DAY), "backfill", "run-0")
    check_and_load(url, META_ADS_CAMPAIGN_DAILY, [meta_row(d, "m1", "40.00") for d in (before, DAY)], (before, DAY),
                   "backfill", "run-0")
    check_and_load(url, META_ADS_CAMPAIGN_DAILY, [meta_row(DAY, "m1", "80.00")], (DAY, DAY), DAY.isoformat(), "run-1")
    start = DAY - timedelta(days=history_days(Thresholds()) - 1)
    with psycopg.connect(url) as conn:
        conn.execute(MARTS)
        for day, spend in ((start - timedelta(days=1), 1.0), (start, 2.0), (before, 3.0), (DAY, 4.0),
                           (DAY + timedelta(days=1), 5.0)):
            conn.execute("insert into marts.fct_campaign_daily values (%s, %s, 'google_ads', '1112223333', 'g1', "
                         "'Google g1', %s, 50, 2, 80)", ("google_ads|g1", day, spend))
            conn.execute("insert into marts.fct_campaign_attribution values ('google_ads|g1', %s, 'google_ads', "
                         "true, 45, 3)", (day,))
        conn.execute("insert into marts.fct_campaign_daily values ('meta_ads|m1', %s, 'meta_ads', 'act_222', 'm1', "
                     "'Meta m1', 43.2, 40, 2, 97.2)", (DAY,))
        conn.execute("insert into marts.fct_campaign_attribution values ('meta_ads|m1', %s, 'meta_ads', false, 9, 1)",
                     (DAY,))
    return url


@pytest.fixture(scope="module")
def inputs(warehouse_url):
    with psycopg.connect(warehouse_url) as conn:
        return read_inputs(conn, DAY, "USD", Thresholds())


def test_read_inputs_reads_the_campaign_days_of_the_history_window(inputs):
    daily = inputs.daily.sort_values(["platform", "date_day"]).reset_index(drop=True)
    assert list(daily.columns) == ["date_day", "platform", "account_id", "campaign_id", "campaign_name", "spend",
                                   "clicks", "conversions", "conversion_value"]
    start = DAY - timedelta(days=history_days(Thresholds()) - 1)
    assert [(r.date_day, r.platform, r.spend) for r in daily.itertuples()] == [
        (start, "google_ads", 2.0), (DAY - timedelta(days=1), "google_ads", 3.0), (DAY, "google_ads", 4.0),
        (DAY, "meta_ads", 43.2)]
    assert (inputs.as_of, inputs.reporting_currency) == (DAY, "USD")
    assert daily.loc[3, ["account_id", "clicks", "conversions", "conversion_value"]].tolist() == [
        "act_222", 40.0, 2.0, 97.2]


def test_read_inputs_reads_campaigns_pacing_of_this_month_and_ga4_of_matched_campaigns(inputs):
    campaigns = inputs.campaigns.sort_values("platform")
    assert campaigns.values.tolist() == [["google_ads", "1112223333", "g1", "Google g1", "active", 30.0],
                                         ["meta_ads", "act_222", "m1", "Meta m1", "paused", 55.5]]
    assert inputs.pacing.values.tolist() == [["meta_ads", "act_222", date(2026, 3, 1), "EUR", 700.0, 500.0, 14]]
    ga4 = inputs.ga4.sort_values("date_day")
    assert set(ga4["platform"]) == {"google_ads"}  # Meta's campaign is not GA4-matched
    assert ga4[["date_day", "clicks", "sessions", "key_events"]].values.tolist()[-2:] == [
        [DAY - timedelta(days=1), 50.0, 45.0, 3.0], [DAY, 50.0, 45.0, 3.0]]


def test_read_inputs_reads_raw_days_with_meta_accounts_as_the_marts_name_them_and_google_micros_in_units(inputs):
    days = sorted(inputs.platform_days.itertuples(index=False, name=None))
    before = DAY - timedelta(days=1)
    assert days == [("google_ads", "1112223333", before, pytest.approx(19.75)),
                    ("google_ads", "1112223333", DAY, pytest.approx(19.75)),
                    ("meta_ads", "act_222", before, 40.0), ("meta_ads", "act_222", DAY, 80.0)]
    assert mart_account("meta_ads", "222") == "act_222" and mart_account("google_ads", "1112223333") == "1112223333"


def test_read_inputs_reads_first_and_latest_reports_in_the_account_currency(inputs):
    reports = sorted(inputs.reports.itertuples(index=False, name=None))
    before = DAY - timedelta(days=1)
    assert reports == [
        ("google_ads", "1112223333", before, "USD", pytest.approx(19.75), pytest.approx(19.75)),
        ("google_ads", "1112223333", DAY, "USD", pytest.approx(19.75), pytest.approx(19.75)),
        ("meta_ads", "act_222", before, "EUR", 40.0, 40.0),
        ("meta_ads", "act_222", DAY, "EUR", 40.0, 80.0),
    ]


def test_the_detector_finds_the_restated_meta_day_and_the_overspent_month_in_what_was_read(inputs, warehouse_url):
    found = {(a.kind, a.scope, a.metric): a for a in detect(inputs)}
    assert set(found) == {("restatement", "meta_ads/act_222", "spend"), ("overspend", "meta_ads/act_222", "spend_mtd")}
    restated = found[("restatement", "meta_ads/act_222", "spend")]
    assert (restated.first_day, restated.observed, restated.expected, restated.currency) == (DAY, 80.0, 40.0, "EUR")
    with psycopg.connect(warehouse_url) as conn:
        assert latest_day(conn) == DAY


def test_read_inputs_on_an_empty_warehouse_gives_empty_frames(new_database):
    with psycopg.connect(new_database("alert_inputs_empty")) as conn:
        assert latest_day(conn) is None
        inputs = read_inputs(conn, DAY, "USD", Thresholds())
    for frame in (inputs.daily, inputs.campaigns, inputs.platform_days, inputs.reports, inputs.pacing, inputs.ga4):
        assert frame.empty
    assert detect(inputs) == []


# ---------------------------------------------------------------------------- quality.reported_totals


def reported(url: str, table: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("select account, day, first_rows, first_volume, latest_rows, latest_volume, loads, "
                            "first_loaded_at < latest_loaded_at from quality.reported_totals where table_name = %s "
                            "order by account, day", (table,)).fetchall()


def test_loading_a_day_twice_keeps_the_first_report_and_updates_the_latest(new_database):
    url = new_database("reported_totals")
    table = GOOGLE_ADS_CAMPAIGN_DAILY
    first = [google_row(DAY, "g1", 12.5), google_row(DAY, "g2", 7.25), google_row(DAY, "g3", 3.0, customer="999")]
    check_and_load(url, table, first, (DAY, DAY), DAY.isoformat(), "run-0")
    assert reported(url, table.name) == [("1112223333", DAY, 2, pytest.approx(19.75), 2, pytest.approx(19.75), 1, False),
                                         ("999", DAY, 1, 3.0, 1, 3.0, 1, False)]
    # Re-read: the platform restated g1 and dropped customer 999's day altogether.
    check_and_load(url, table, [google_row(DAY, "g1", 30.0), google_row(DAY, "g2", 7.25)], (DAY, DAY),
                   DAY.isoformat(), "run-1")
    assert reported(url, table.name) == [("1112223333", DAY, 2, pytest.approx(19.75), 2, pytest.approx(37.25), 2, True),
                                         ("999", DAY, 1, 3.0, 0, 0.0, 2, True)]
