"""MetaConnector through the real facebook-business SDK against FakeMeta on 127.0.0.1: reads, paging, async
reports, retries, usage-header waits, truncated pages, budget writes in minor units, secrets kept out."""

from __future__ import annotations

import dataclasses
import logging
from datetime import date, timedelta
from decimal import Decimal

import pytest

from mbo_pipelines.connectors import BatchBudgetWriter, BudgetChange, ConnectorError, PlatformConnector
from mbo_pipelines.defs.ingest.meta_ads.client import MetaConnector
from mbo_pipelines.defs.ingest.raw_tables import META_ADS_CAMPAIGN_DAILY, META_ADS_CAMPAIGNS
from tests.fakes.ad_world import FakeAccount, make_world
from tests.fakes.fake_meta import FakeMeta

TOKEN = "EAAGmeta-test-TOKEN-4f9c2d7e1b"
START, END = date(2024, 3, 1), date(2024, 4, 30)
USD, JPY, PLN = "1234567", "7654321", "5550001"


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setenv("META_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("MBO_API_MAX_ATTEMPTS", "4")
    monkeypatch.setenv("MBO_API_BACKOFF_SECONDS", "0.001")
    monkeypatch.setenv("MBO_API_MAX_BACKOFF_SECONDS", "0.02")


@pytest.fixture
def world():
    return make_world([FakeAccount(USD, "USD", "America/New_York"), FakeAccount(JPY, "JPY", "Asia/Tokyo"),
                       FakeAccount(PLN, "PLN", "Europe/Warsaw")], START, END, seed=3)


@pytest.fixture
def fake(world):
    with FakeMeta(world, access_token=TOKEN) as server:
        yield server


class Sleeps(list):
    """Records the usage-header waits instead of sleeping through them."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def connector(fake, page_size=4, accounts=(USD, JPY, PLN), **kwargs) -> MetaConnector:
    return MetaConnector(TOKEN, [f"act_{a}" for a in accounts], graph_url=fake.url, page_size=page_size, **kwargs)


def expected_daily(world, start, end, accounts=(USD, JPY, PLN)):
    return {(c.account_id, c.campaign_id, d.day): (d.spend, d.impressions, d.clicks)
            for a in accounts for c, d in world.rows(a, start, end)}


def loaded(rows):
    return {(r["account_id"], r["campaign_id"], r["date_start"]): (r["spend"], r["impressions"], r["clicks"])
            for r in rows}


def insight_pages(fake, account):
    return [r.page for r in fake.requests if r.method == "GET" and r.path == f"/act_{account}/insights"]


# -- reads ---------------------------------------------------------------------------------------

def test_reads_every_page_and_row_of_every_account_with_the_raw_table_columns(fake, world):
    start, end = START, START + timedelta(days=9)
    conn = connector(fake)
    assert isinstance(conn, PlatformConnector) and isinstance(conn, BatchBudgetWriter)
    rows = conn.fetch_campaign_daily(start, end)

    assert loaded(rows) == expected_daily(world, start, end)
    assert len(rows) == len(expected_daily(world, start, end))
    for account in (USD, JPY, PLN):
        pages = insight_pages(fake, account)
        assert pages == list(range(1, len(pages) + 1)) and len(pages) >= 5  # several pages, each once, in order
    row = rows[0]
    assert list(row) == META_ADS_CAMPAIGN_DAILY.column_names
    assert row["account_id"] == USD and isinstance(row["spend"], Decimal) and isinstance(row["clicks"], int)
    assert {r["account_timezone_name"] for r in rows if r["account_id"] == JPY} == {"Asia/Tokyo"}
    assert {r["account_currency"] for r in rows if r["account_id"] == PLN} == {"PLN"}
    assert {"action_type": "omni_purchase", "value": repr(world.daily[(USD, row["campaign_id"])][0].conversions)} \
        in row["actions"]
    # The account's fields are read once per account, not per page.
    assert sum(r.path == f"/act_{USD}" for r in fake.requests) == 1


def test_absent_action_lists_load_as_empty_lists_and_odd_names_survive(fake, world):
    start, end = START + timedelta(days=20), START + timedelta(days=34)  # every USD campaign has rows in here
    key = (USD, "1000")
    world.daily[key][20] = dataclasses.replace(world.daily[key][20], clicks=0, conversions=0.0, conversion_value=0.0)
    rows = connector(fake, accounts=(USD,), page_size=40).fetch_campaign_daily(start, end)
    first = next(r for r in rows if r["campaign_id"] == "1000" and r["date_start"] == start)
    assert first["actions"] == [] and first["action_values"] == []
    names = {r["campaign_name"] for r in rows}
    assert names == {c.name for c in world.campaigns if c.account_id == USD}
    assert "Robert'); DROP TABLE raw.google_ads_campaign_daily;--" in names and any("東京" in n for n in names)


def test_paused_campaign_and_campaign_starting_mid_range(fake, world):
    start, end = START + timedelta(days=15), START + timedelta(days=40)
    rows = connector(fake, page_size=50, accounts=(USD,)).fetch_campaign_daily(start, end)
    late = world.campaign(USD, "1001")
    late_days = sorted(r["date_start"] for r in rows if r["campaign_id"] == "1001")
    assert late_days[0] == late.start_date > start and late_days[-1] == end
    paused_days = sorted(r["date_start"] for r in rows if r["campaign_id"] == "1002")
    assert paused_days and paused_days[-1] < end  # the paused campaign stops reporting
    assert loaded(rows) == expected_daily(world, start, end, (USD,))


def test_a_range_over_30_days_goes_through_an_async_report_job(fake, world):
    start, end = START, START + timedelta(days=34)
    rows = connector(fake, page_size=25, accounts=(USD, JPY)).fetch_campaign_daily(start, end)
    assert loaded(rows) == expected_daily(world, start, end, (USD, JPY))
    jobs = [r for r in fake.requests if r.method == "POST" and r.path.endswith("/insights")]
    assert [r.path for r in jobs] == [f"/act_{USD}/insights", f"/act_{JPY}/insights"]
    assert jobs[0].params["time_range"] == {"since": start.isoformat(), "until": end.isoformat()}
    assert jobs[0].params["level"] == "campaign" and jobs[0].params["time_increment"] == "1"
    report_polls = [r for r in fake.requests if r.method == "GET" and r.path.strip("/").isdigit()]
    assert len(report_polls) == 4  # 'Job Running', then 'Job Completed', per account
    assert not insight_pages(fake, USD)  # no synchronous read of the long range
    report_pages = [r for r in fake.requests if r.path.endswith("/insights") and r.method == "GET"]
    assert len(report_pages) > 2


@pytest.mark.parametrize("status", ["Job Failed", "Job Skipped"])
def test_a_failed_async_report_is_a_connector_error_naming_the_account(fake, status):
    fake.fail_next_report(status)
    with pytest.raises(ConnectorError, match=rf"act_{USD}.*{status}"):
        connector(fake, accounts=(USD,)).fetch_campaign_daily(START, START + timedelta(days=40))


def test_campaigns_with_budgets_in_minor_units(fake, world):
    world.campaign(PLN, "1201").daily_budget = None  # budgets on the ad sets (no CBO)
    rows = {(r["account_id"], r["campaign_id"]): r for r in connector(fake, page_size=2).fetch_campaigns()}
    assert len(rows) == len(world.campaigns)
    assert list(next(iter(rows.values()))) == META_ADS_CAMPAIGNS.column_names
    for c in world.campaigns:
        row = rows[(c.account_id, c.campaign_id)]
        offset = 1 if c.account_id == JPY else 100
        assert row["daily_budget"] == (None if c.daily_budget is None else int(c.daily_budget * offset))
        assert row["campaign_name"] == c.name
        assert row["effective_status"] == ("PAUSED" if c.status == "paused" else "ACTIVE")
    assert rows[(JPY, "1100")]["account_currency"] == "JPY"
    assert rows[(PLN, "1201")]["daily_budget"] is None
    assert rows[(USD, "1002")]["effective_status"] == "PAUSED"


# -- faults ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("code", [17, 80000, 80004, 613])
def test_rate_limits_are_retried_on_the_failing_page_only(fake, world, code, caplog):
    fake.rate_limit_next(code=code, on=f"/act_{USD}/insights", page=2)
    sleeps = Sleeps()
    with caplog.at_level(logging.INFO):
        rows = connector(fake, accounts=(USD,), sleep=sleeps).fetch_campaign_daily(START, START + timedelta(days=9))
    assert loaded(rows) == expected_daily(world, START, START + timedelta(days=9), (USD,))
    pages = insight_pages(fake, USD)
    assert pages[:3] == [1, 2, 2] and pages.count(1) == 1  # page 2 again, not the whole listing
    assert f"Graph API error {code}" in caplog.text and "retrying" in caplog.text
    # The error's x-business-use-case-usage said "1 minute": waited, capped by MBO_API_MAX_BACKOFF_SECONDS.
    assert "access returns in 1 min" in caplog.text


def test_server_errors_are_retried_json_or_not(fake, world):
    fake.fail_next(status=500, on="/insights")
    fake.fail_next(status=503, on="/insights", body="<html><title>503 Service Unavailable</title>error</html>")
    fake.fail_next(status=502, on="/campaigns", page=1)
    conn = connector(fake, accounts=(USD,))
    assert loaded(conn.fetch_campaign_daily(START, START)) == expected_daily(world, START, START, (USD,))
    assert len(conn.fetch_campaigns()) == 3
    assert insight_pages(fake, USD)[:3] == [1, 1, 1]


def test_gives_up_after_max_attempts_naming_account_and_fbtrace_id(fake):
    fake.rate_limit_next(times=10, code=17, on="/insights")
    with pytest.raises(ConnectorError) as err:
        connector(fake, accounts=(USD,)).fetch_campaign_daily(START, START)
    message = str(err.value)
    assert f"act_{USD}" in message and "after 4 tries" in message and "AFakeTrace" in message
    assert "run again later" in message
    assert len(insight_pages(fake, USD)) == 4


def test_heavy_usage_headers_pause_the_next_call(fake, caplog):
    sleeps = Sleeps()
    fake.high_usage_next(percent=97)
    with caplog.at_level(logging.WARNING):
        connector(fake, accounts=(USD,), sleep=sleeps).fetch_campaigns()
    assert "reports 97% of the limit used" in caplog.text
    assert sleeps and 0 < sleeps[0] <= 0.02  # reset_time_duration 30 s, capped at MBO_API_MAX_BACKOFF_SECONDS


def test_a_truncated_page_fails_the_account_with_no_partial_rows(fake):
    fake.truncate_page(2, on=f"/act_{JPY}/insights")
    conn = connector(fake)
    with pytest.raises(ConnectorError, match=rf"act_{JPY}.*page 2.*not a JSON object"):
        conn.fetch_campaign_daily(START, START + timedelta(days=9))
    assert insight_pages(fake, JPY) == [1, 2]  # not retried into a silently different answer


@pytest.mark.parametrize("bad", [Decimal("-1.00"), Decimal("NaN")])
def test_a_bad_spend_value_is_passed_on_for_the_quality_checks(fake, world, bad):
    key = (PLN, "1200")
    world.daily[key][1] = dataclasses.replace(world.daily[key][1], spend=bad)
    rows = connector(fake, accounts=(PLN,)).fetch_campaign_daily(START, START + timedelta(days=3))
    [row] = [r for r in rows if r["campaign_id"] == "1200" and r["date_start"] == START + timedelta(days=1)]
    # Parsed, not refused: rules.py decides (tests/quality/test_corpus_platforms.py shows it quarantined).
    assert isinstance(row["spend"], Decimal) and str(row["spend"]) == str(bad)
    assert len(rows) == len(expected_daily(world, START, START + timedelta(days=3), (PLN,)))


def test_a_wrong_token_is_not_retried_and_says_what_to_do(fake, world):
    with FakeMeta(world, access_token="another-token-entirely") as other:
        with pytest.raises(ConnectorError, match=r"Graph API error 190.*META_ACCESS_TOKEN"):
            MetaConnector(TOKEN, [USD], graph_url=other.url).fetch_campaigns()
        assert len(other.requests) == 1


def test_conversion_action_missing_from_every_row_is_warned(fake, caplog):
    env = {**fake.env(), "MBO_META_CONVERSION_ACTION": "offsite_conversion.fb_pixel_purchase"}
    with caplog.at_level(logging.WARNING):
        MetaConnector.from_env(env).fetch_campaign_daily(START, START)
    assert "offsite_conversion.fb_pixel_purchase" in caplog.text and "omni_purchase" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        MetaConnector.from_env(fake.env()).fetch_campaign_daily(START, START)
    assert "no insights row reports" not in caplog.text


# -- writes ---------------------------------------------------------------------------------------

def test_jpy_budgets_are_written_in_whole_yen_and_read_back(fake):
    conn = connector(fake)
    assert conn.set_daily_budgets([BudgetChange(f"act_{JPY}", "1100", Decimal("12345.4")),
                                   BudgetChange(JPY, "1101", Decimal("9000"))]) == [None, None]
    writes = [r for r in fake.requests if r.method == "POST"]
    assert [(w.path, w.params["daily_budget"]) for w in writes] == [("/1100", "12345"), ("/1101", "9000")]
    assert fake.budgets()[(JPY, "1100")] == Decimal("12345")
    campaigns = {r["campaign_id"]: r for r in conn.fetch_campaigns()}
    assert campaigns["1100"]["daily_budget"] == 12345 and campaigns["1101"]["daily_budget"] == 9000


def test_usd_and_pln_budgets_are_written_in_cents(fake):
    conn = connector(fake)
    conn.set_daily_budget(f"act_{USD}", "1000", Decimal("55.555"))
    conn.set_daily_budget(PLN, "1200", Decimal("120"))
    posted = {r.path: r.params["daily_budget"] for r in fake.requests if r.method == "POST"}
    assert posted == {"/1000": "5556", "/1200": "12000"}
    assert fake.budgets()[(USD, "1000")] == Decimal("55.56") and fake.budgets()[(PLN, "1200")] == Decimal("120.00")
    campaigns = {r["campaign_id"]: r for r in conn.fetch_campaigns()}
    assert campaigns["1000"]["daily_budget"] == 5556 and campaigns["1200"]["daily_budget"] == 12000


def test_validate_only_sends_execution_options_and_changes_nothing(fake):
    before = fake.budgets()
    results = connector(fake).set_daily_budgets(
        [BudgetChange(USD, "1000", Decimal("75")), BudgetChange(JPY, "1100", Decimal("5000"))], validate_only=True)
    assert results == [None, None]
    writes = [r for r in fake.requests if r.method == "POST"]
    assert len(writes) == 2 and all(w.validate_only for w in writes)
    assert writes[0].params["execution_options"] == ["validate_only"]
    assert fake.budgets() == before


def test_a_rejected_write_returns_its_error_while_the_others_apply(fake):
    fake.reject_budget("1001", "Budget too low for this campaign's bid strategy", code=100)
    results = connector(fake).set_daily_budgets([
        BudgetChange(USD, "1000", Decimal("80")), BudgetChange(USD, "1001", Decimal("1")),
        BudgetChange(JPY, "1100", Decimal("7000"))])
    assert results[0] is None and results[2] is None
    assert "Graph API error 100" in results[1] and "Budget too low" in results[1] and "fbtrace_id AFakeTrace" in results[1]
    assert "campaign 1001" in results[1]
    assert fake.budgets()[(USD, "1000")] == Decimal("80.00") and fake.budgets()[(JPY, "1100")] == Decimal("7000")
    with pytest.raises(ConnectorError, match="Budget too low"):
        connector(fake).set_daily_budget(USD, "1001", Decimal("2"))


def test_invalid_amounts_are_refused_without_a_request(fake):
    results = connector(fake).set_daily_budgets([BudgetChange(USD, "1000", Decimal("0")),
                                                 BudgetChange(USD, "1000", Decimal("0.004")),
                                                 BudgetChange(USD, "1000", Decimal("Infinity"))])
    assert all(r and "1000" in r for r in results)
    assert not [r for r in fake.requests if r.method == "POST"]


def test_a_rejected_token_stops_the_push(fake, world):
    with FakeMeta(world, access_token="another-token-entirely") as other:
        conn = MetaConnector(TOKEN, [USD], graph_url=other.url)
        with pytest.raises(ConnectorError, match="190"):
            conn.set_daily_budgets([BudgetChange(USD, "1000", Decimal("80")), BudgetChange(USD, "1001", Decimal("80"))])
        assert len(other.requests) == 1


# -- secrets and the SDK's globals ------------------------------------------------------------------

def test_the_token_never_reaches_exceptions_or_logs(fake, world, caplog):
    errors = []
    with caplog.at_level(logging.DEBUG):
        fake.rate_limit_next(code=17)
        fake.fail_next(status=500, on="/insights", page=2)
        fake.truncate_page(3, on="/insights")
        fake.reject_budget("1001", "nope")
        conn = connector(fake, page_size=2, accounts=(USD,))
        with pytest.raises(ConnectorError) as err:
            conn.fetch_campaign_daily(START, START + timedelta(days=5))
        errors.append(str(err.value))
        errors.append(conn.set_daily_budgets([BudgetChange(USD, "1001", Decimal("10"))])[0])
        # Connection refused: requests' error quotes the URL, access_token=... included.
        closed = FakeMeta(world, access_token=TOKEN).start()
        url = closed.url
        closed.stop()
        with pytest.raises(ConnectorError) as err:
            MetaConnector.from_env({**fake.env(), "MBO_META_GRAPH_URL": url}).fetch_campaigns()
        errors.append(str(err.value))
    assert "access_token=***" in errors[-1]  # the leak this guards against is real
    for text in [*errors, caplog.text]:
        assert TOKEN not in text
    assert "Graph API error 17" in caplog.text  # the retries were logged (and redacted)


def test_crash_reporter_is_off_and_no_default_api_is_set(fake, monkeypatch):
    import sys

    from facebook_business.api import FacebookAdsApi
    from facebook_business.crashreporter import CrashReporter
    from facebook_business.session import FacebookSession

    hook = sys.excepthook
    connector(fake, accounts=(USD,)).fetch_campaigns()
    assert CrashReporter.reporter_instance is None and sys.excepthook is hook
    assert FacebookAdsApi.get_default_api() is None
    # Someone else in the process turned it on: building the connector turns it off again.
    monkeypatch.setattr(FacebookAdsApi, "_default_api", FacebookAdsApi(FacebookSession(app_id="1")))
    CrashReporter.enable()
    try:
        assert CrashReporter.reporter_instance is not None
        connector(fake, accounts=(USD,))
        assert CrashReporter.reporter_instance is None and sys.excepthook is hook
    finally:
        CrashReporter.disable()
    assert not [r for r in fake.requests if "instruments" in r.path]


def test_from_env_accepts_ids_with_or_without_act_and_defaults(monkeypatch):
    conn = MetaConnector.from_env({"META_ACCESS_TOKEN": TOKEN, "MBO_META_AD_ACCOUNT_IDS": f"act_{USD}, {JPY}"})
    assert conn.account_ids == (USD, JPY) and conn.conversion_action == "omni_purchase"
    assert conn._api._session.GRAPH == "https://graph.facebook.com"
    with pytest.raises(ConnectorError, match="META_ACCESS_TOKEN"):
        MetaConnector.from_env({"MBO_META_AD_ACCOUNT_IDS": USD})
    with pytest.raises(ValueError, match="MBO_META_AD_ACCOUNT_IDS"):
        MetaConnector.from_env({"META_ACCESS_TOKEN": TOKEN, "MBO_META_AD_ACCOUNT_IDS": "act_12x"})


def test_a_change_for_an_unreadable_account_fails_alone(fake):
    results = connector(fake).set_daily_budgets([BudgetChange("act_999", "1000", Decimal("10")),
                                                 BudgetChange(USD, "1000", Decimal("61"))])
    assert "act_999" in results[0] and "Graph API error 100/33" in results[0]
    assert results[1] is None and fake.budgets()[(USD, "1000")] == Decimal("61.00")


GOOD_INSIGHT = {"account_id": USD, "account_currency": "USD", "campaign_id": "1000", "campaign_name": "A",
                "date_start": "2024-03-01", "date_stop": "2024-03-01", "spend": "1.50", "impressions": "10",
                "clicks": "1"}
ACCOUNT = {"account_id": USD, "currency": "USD", "timezone_name": "UTC"}


@pytest.mark.parametrize("change, column, passed", [
    ({"date_start": "2024-02-29", "date_stop": "2024-02-29"}, "date_start", date(2024, 2, 29)),
    ({"date_start": "2024-02-30", "date_stop": "2024-02-30"}, "date_start", "2024-02-30"),
    ({"clicks": "3.5"}, "clicks", Decimal("3.5")),
    ({"clicks": "-3"}, "clicks", -3),
    ({"spend": "abc"}, "spend", "abc"),
    ({"spend": "Infinity"}, "spend", Decimal("Infinity")),
    ({"spend": "1e15"}, "spend", Decimal("1e15")),
    ({"impressions": None}, "impressions", None),
    ({"campaign_name": None}, "campaign_name", None),
    ({"campaign_id": None}, "campaign_id", None),
    ({"actions": [{"action_type": "omni_purchase", "value": "-2"}]}, "actions",
     [{"action_type": "omni_purchase", "value": "-2"}]),
    ({"action_values": [{"value": "2"}]}, "action_values", [{"value": "2"}]),
    ({"actions": "lots"}, "actions", "lots"),
    ({"account_currency": "EUR"}, "account_currency", "EUR"),
])
def test_insight_values_pass_on_for_the_quality_checks(change, column, passed):
    from mbo_pipelines.defs.ingest.meta_ads.rows import insight_row

    assert insight_row(GOOD_INSIGHT, ACCOUNT, START, END)["spend"] == Decimal("1.50")
    row = insight_row({**GOOD_INSIGHT, **change}, ACCOUNT, START, END)
    assert list(row) == META_ADS_CAMPAIGN_DAILY.column_names
    assert row[column] == passed and type(row[column]) is type(passed)


def test_an_absent_currency_is_the_accounts_and_absent_action_lists_are_empty():
    from mbo_pipelines.defs.ingest.meta_ads.rows import insight_row

    row = insight_row({k: v for k, v in GOOD_INSIGHT.items() if k != "account_currency"}, ACCOUNT, START, END)
    assert row["account_currency"] == "USD" and row["actions"] == [] and row["action_values"] == []


@pytest.mark.parametrize("change, words", [
    ({"date_stop": "2024-03-02"}, "covers 2024-03-01..2024-03-02, not one day"),
    ({"account_id": "999"}, "belongs to account 999"),
])
def test_insight_rows_that_make_the_answer_untrustworthy_fail_the_account(change, words):
    from mbo_pipelines.defs.ingest.meta_ads.rows import insight_row

    with pytest.raises(ConnectorError, match=rf"act_{USD}: campaign 1000 .*{words}"):
        insight_row({**GOOD_INSIGHT, **change}, ACCOUNT, START, END)


@pytest.mark.filterwarnings("ignore:Value of action:UserWarning")
def test_malformed_action_lists_are_passed_on_and_warned_about(fake, caplog):
    fake.edit_rows(lambda rows: [{**r, "actions": "lots", "action_values": [5, {"value": "1"}]} for r in rows],
                   on="/insights")
    with caplog.at_level(logging.WARNING):
        rows = connector(fake, accounts=(USD,)).fetch_campaign_daily(START, START)
    # The SDK wraps a lone value in a list; entries are passed on as they came, for the quality checks.
    assert rows and all(r["actions"] == ["lots"] and r["action_values"] == [5, {"value": "1"}] for r in rows)
    assert "no insights row reports action type 'omni_purchase'" in caplog.text and "seen: none" in caplog.text


@pytest.mark.parametrize("body, words", [
    ("<html><body>Sorry, something went wrong.</body></html>", "page 1"),
    ('{"data": [{"campaign_id": "1000", "spend": "1', "page 1"),
    ('{"data": 5}', "page 1"),
])
def test_a_body_that_is_not_a_page_of_rows_fails_the_account(fake, body, words):
    fake.serve_body_next(body, on=f"/act_{USD}/insights")
    with pytest.raises(ConnectorError, match=rf"act_{USD}.*{words}"):
        connector(fake, accounts=(USD,)).fetch_campaign_daily(START, START)
