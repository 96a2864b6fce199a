"""The TikTok connector, over real HTTP (httpx) against a fake Business API v1.3 serving a known world."""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest

from mbo_pipelines.connectors import BatchBudgetWriter, BudgetChange, ConnectorError, PlatformConnector, send_budget_changes
from mbo_pipelines.defs.ingest.raw_tables import TIKTOK_ADS_CAMPAIGN_DAILY, TIKTOK_ADS_CAMPAIGNS
from mbo_pipelines.defs.ingest.tiktok_ads.client import TikTokConnector, report_windows
from tests.fakes.ad_world import ODD_NAMES, FakeAccount, FakeWorld, make_world
from tests.fakes.fake_tiktok import FakeTikTok

START, END = date(2025, 1, 1), date(2025, 3, 11)  # 70 days: three report windows
TOKEN = "tt-secret-token-0123456789abcdef"
USD, JPY = "7001", "7002"


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MBO_API_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("MBO_API_BACKOFF_SECONDS", "0.001")
    monkeypatch.setenv("MBO_API_MAX_BACKOFF_SECONDS", "0.01")
    # The token reaches the connector only through from_env's mapping: masking must not rely on os.environ.
    monkeypatch.delenv("TIKTOK_ACCESS_TOKEN", raising=False)


@pytest.fixture
def world() -> FakeWorld:
    return make_world([FakeAccount(USD, "USD", "America/New_York"), FakeAccount(JPY, "JPY", "Asia/Tokyo")],
                      START, END, seed=3)


@pytest.fixture
def fake(world: FakeWorld):
    with FakeTikTok(world, access_token=TOKEN) as server:
        yield server


def connect(fake: FakeTikTok, ids: str = f"{USD},{JPY}", token: str = TOKEN, **kwargs) -> TikTokConnector:
    env = {"MBO_TIKTOK_API_URL": fake.url, "TIKTOK_ACCESS_TOKEN": token, "MBO_TIKTOK_ADVERTISER_IDS": ids}
    return TikTokConnector.from_env(env, **kwargs)


def expected_daily(world: FakeWorld, start: date = START, end: date = END) -> list[dict]:
    rows = []
    for account in world.accounts:
        for campaign, day in world.rows(account.account_id, start, end):
            rows.append({
                "stat_time_day": day.day, "advertiser_id": account.account_id, "campaign_id": campaign.campaign_id,
                "campaign_name": campaign.name, "currency": account.currency, "timezone": account.timezone,
                "spend": day.spend, "impressions": day.impressions, "clicks": day.clicks,
                "conversion": day.conversions, "total_purchase_value": day.conversion_value,
            })
    return rows


def _key(row: dict) -> tuple:
    return row["advertiser_id"], row["campaign_id"], row["stat_time_day"]


# --- reads ---------------------------------------------------------------------------------------

def test_reads_every_campaign_day_across_pages(fake: FakeTikTok, world: FakeWorld):
    connector = connect(fake, page_size=7)
    assert isinstance(connector, PlatformConnector) and isinstance(connector, BatchBudgetWriter)
    rows = connector.fetch_campaign_daily(START, END)

    assert sorted(rows, key=_key) == sorted(expected_daily(world), key=_key)
    assert all(list(r) == TIKTOK_ADS_CAMPAIGN_DAILY.column_names for r in rows)
    assert all(isinstance(r["spend"], Decimal) and isinstance(r["impressions"], int) for r in rows)
    assert max(int(r.params["page"]) for r in fake.calls("report/integrated/get")) > 5
    # The odd names (unicode, quotes, SQL) arrive exactly as the platform sent them.
    assert {r["campaign_name"] for r in rows if r["advertiser_id"] == USD} == set(ODD_NAMES)


def test_report_request_uses_the_business_api_parameters(fake: FakeTikTok):
    connect(fake, ids=USD).fetch_campaign_daily(START, START + timedelta(days=2))
    (call,) = fake.calls("report/integrated/get")
    assert call.headers["access-token"] == TOKEN
    assert (call.params["report_type"], call.params["data_level"]) == ("BASIC", "AUCTION_CAMPAIGN")
    assert call.json_param("dimensions") == ["campaign_id", "stat_time_day"]
    assert call.json_param("metrics") == ["campaign_name", "spend", "impressions", "clicks", "conversion",
                                          "total_purchase_value"]


def test_a_range_longer_than_30_days_is_read_in_windows(fake: FakeTikTok, world: FakeWorld):
    rows = connect(fake, ids=USD).fetch_campaign_daily(START, END)

    windows = sorted({(date.fromisoformat(c.params["start_date"]), date.fromisoformat(c.params["end_date"]))
                      for c in fake.calls("report/integrated/get")})
    assert windows == report_windows(START, END)
    assert len(windows) == 3 and all((last - first).days + 1 <= 30 for first, last in windows)
    assert windows[0][0] == START and windows[-1][1] == END
    assert all(b[0] == a[1] + timedelta(days=1) for a, b in pairwise(windows))
    expected = [r for r in expected_daily(world) if r["advertiser_id"] == USD]
    assert sorted(rows, key=_key) == sorted(expected, key=_key)


def test_currency_and_time_zone_are_asked_once_per_advertiser(fake: FakeTikTok):
    connector = connect(fake)
    daily = connector.fetch_campaign_daily(START, END)
    campaigns = connector.fetch_campaigns()

    assert sorted(c.json_param("advertiser_ids")[0] for c in fake.calls("advertiser/info")) == [USD, JPY]
    for row in daily + campaigns:
        assert (row["currency"], row["timezone"]) == (
            ("USD", "America/New_York") if row["advertiser_id"] == USD else ("JPY", "Asia/Tokyo"))


def test_campaigns_carry_status_budget_mode_and_budget(fake: FakeTikTok, world: FakeWorld):
    rows = connect(fake, page_size=2).fetch_campaigns()

    assert all(list(r) == TIKTOK_ADS_CAMPAIGNS.column_names for r in rows)
    by_id = {r["campaign_id"]: r for r in rows}
    assert set(by_id) == {c.campaign_id for c in world.campaigns}
    for c in world.campaigns:
        row = by_id[c.campaign_id]
        assert row["operation_status"] == ("ENABLE" if c.status == "active" else "DISABLE")
        assert row["budget"] == c.daily_budget and isinstance(row["budget"], Decimal)
        assert row["budget_mode"] == "BUDGET_MODE_DAY" and row["campaign_name"] == c.name
    assert [r["operation_status"] for r in rows if r["advertiser_id"] == USD] == ["ENABLE", "ENABLE", "DISABLE"]


def test_paused_and_late_starting_campaigns_have_rows_only_when_they_ran(fake: FakeTikTok, world: FakeWorld):
    rows = connect(fake, ids=USD).fetch_campaign_daily(START, END)
    days = {cid: sorted(r["stat_time_day"] for r in rows if r["campaign_id"] == cid) for cid in ("1001", "1002")}

    late = world.campaign(USD, "1001")
    assert late.start_date > START and days["1001"][0] == late.start_date
    assert days["1001"] == [d.day for d in world.daily[(USD, "1001")]]
    paused = world.campaign(USD, "1002")
    assert paused.status == "paused" and days["1002"][-1] < END - timedelta(days=30)


# --- retries and errors --------------------------------------------------------------------------

@pytest.mark.parametrize("code", [40100, 50000])
def test_rate_limit_and_system_errors_are_retried(fake: FakeTikTok, world: FakeWorld, code: int):
    fake.error_next(code=code)
    rows = connect(fake).fetch_campaign_daily(START, END)

    assert sorted(rows, key=_key) == sorted(expected_daily(world), key=_key)
    assert [r.code for r in fake.requests[:2]] == [code, 0]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_http_429_and_5xx_are_retried(fake: FakeTikTok, world: FakeWorld, status: int):
    fake.http_error_next(status=status, times=2)
    rows = connect(fake).fetch_campaigns()

    assert len(rows) == len(world.campaigns)
    assert [r.code for r in fake.requests[:3]] == [None, None, 0]


def test_a_persistent_error_fails_after_max_attempts_naming_advertiser_and_request_id(fake: FakeTikTok):
    fake.error_next(code=40100, times=10)
    with pytest.raises(ConnectorError) as raised:
        connect(fake, ids=USD).fetch_campaign_daily(START, END)

    assert len(fake.requests) == 3  # MBO_API_MAX_ATTEMPTS
    message = str(raised.value)
    assert f"advertiser {USD}" in message and fake.requests[-1].request_id in message and "3 tries" in message


def test_an_error_that_will_not_pass_is_not_retried(fake: FakeTikTok):
    fake.error_next(code=40002, message="start_date is invalid")
    with pytest.raises(ConnectorError) as raised:
        connect(fake, ids=USD).fetch_campaigns()

    assert len(fake.requests) == 1
    message = str(raised.value)
    assert "40002" in message and "start_date is invalid" in message and fake.requests[0].request_id in message


def test_a_truncated_page_fails_naming_the_advertiser(fake: FakeTikTok):
    fake.truncate_page(2)
    with pytest.raises(ConnectorError, match=rf"advertiser {USD}: report .* page 2: .*not valid JSON"):
        connect(fake, ids=USD, page_size=10).fetch_campaign_daily(START, END)


@pytest.mark.parametrize(("field", "value", "column", "passed"), [
    ("spend", "NaN", "spend", Decimal("NaN")), ("spend", "-1.00", "spend", Decimal("-1.00")),
    ("spend", "1e15", "spend", Decimal("1e15")), ("impressions", "12.5", "impressions", Decimal("12.5")),
    ("clicks", "-3", "clicks", -3), ("conversion", "inf", "conversion", float("inf")),
    ("total_purchase_value", "n/a", "total_purchase_value", "n/a"),
    ("stat_time_day", "2024-12-31 00:00:00", "stat_time_day", date(2024, 12, 31)),
    ("stat_time_day", "yesterday", "stat_time_day", "yesterday"),
    ("campaign_name", "Sale\x00\x07", "campaign_name", "Sale\x00\x07"),
])
def test_malformed_values_are_passed_on_for_the_quality_checks(fake: FakeTikTok, world: FakeWorld, field: str,
                                                               value: str, column: str, passed):
    fake.override_field("1000", field, value)
    rows = connect(fake, ids=USD).fetch_campaign_daily(START, START)
    # Not refused: rules.py decides (tests/quality/test_corpus_platforms.py shows such rows quarantined).
    [mine] = [r for r in rows if r["campaign_id"] == "1000"]
    expected = [r for r in expected_daily(world, START, START) if r["advertiser_id"] == USD]
    assert [r for r in rows if r is not mine] == [r for r in expected if r["campaign_id"] != "1000"]
    assert type(mine[column]) is type(passed)
    assert mine[column].is_nan() if passed != passed else mine[column] == passed


@pytest.mark.parametrize("items", [[{"dimensions": {"campaign_id": "1000"}}], ["not a row"],
                                   [{"dimensions": {"campaign_id": ["1000"], "stat_time_day": "2025-01-01"},
                                     "metrics": {}}]])
def test_an_item_that_is_not_a_report_row_fails_naming_the_advertiser(fake: FakeTikTok, items):
    fake.edit_items(lambda _: items, on="report/integrated/get")
    with pytest.raises(ConnectorError, match=rf"advertiser {USD}: report 2025-01-01..2025-01-05: .*nothing was loaded"):
        connect(fake, ids=USD).fetch_campaign_daily(START, START + timedelta(days=4))


def test_a_page_whose_list_is_not_a_list_fails_naming_the_advertiser(fake: FakeTikTok):
    body = {"code": 0, "message": "OK", "request_id": "r1",
            "data": {"list": 5, "page_info": {"page": 1, "page_size": 10, "total_number": 1, "total_page": 1}}}
    fake.serve_body_next(json.dumps(body), on="report/integrated/get")
    with pytest.raises(ConnectorError, match=rf"advertiser {USD}: report .* page 1 has no list"):
        connect(fake, ids=USD).fetch_campaign_daily(START, START)


def test_a_campaign_budget_that_cannot_be_trusted_fails_the_read(fake: FakeTikTok):
    def bad_budget(items):
        return [{**item, "budget": -5} if item["campaign_id"] == "1000" else item for item in items]

    fake.edit_items(bad_budget, on="campaign/get")
    with pytest.raises(ConnectorError, match=rf"advertiser {USD}, campaign 1000: campaign field budget -5"):
        connect(fake, ids=USD).fetch_campaigns()


def test_a_campaign_day_reported_twice_fails_the_read(fake: FakeTikTok):
    fake.override_field("1000", "stat_time_day", "2025-01-05 00:00:00")
    with pytest.raises(ConnectorError, match=f"advertiser {USD}: .*campaign 1000 on 2025-01-05 twice"):
        connect(fake, ids=USD).fetch_campaign_daily(START, END)


def test_a_wrong_token_fails_without_showing_it(fake: FakeTikTok, caplog: pytest.LogCaptureFixture):
    wrong = "tt-wrong-token-9876543210fedcba"
    with caplog.at_level(logging.DEBUG), pytest.raises(ConnectorError) as raised:
        connect(fake, token=wrong).fetch_campaigns()

    assert "40105" in str(raised.value) and "TIKTOK_ACCESS_TOKEN" in str(raised.value)
    assert wrong in fake.requests[0].headers["access-token"]  # the server did echo it...
    assert wrong not in str(raised.value) and wrong not in caplog.text  # ...and it went no further


def test_the_token_never_reaches_exceptions_logs_or_write_results(fake: FakeTikTok, caplog: pytest.LogCaptureFixture):
    lines: list[str] = []
    fake.error_next(code=40100, times=2, message=f"slow down, Access-Token: {TOKEN}")
    with caplog.at_level(logging.DEBUG):
        connect(fake, ids=USD).fetch_campaigns()
        connect(fake, ids=USD, log=lines.append).fetch_campaigns()
        fake.error_next(code=50000, times=3, message=f"broken for {TOKEN}")
        with pytest.raises(ConnectorError) as raised:
            connect(fake, ids=USD, log=lines.append).fetch_campaigns()
        fake.reject_budget("1000", 40002, f"token {TOKEN} may not raise budgets")
        (result,) = connect(fake, ids=USD).set_daily_budgets([BudgetChange(USD, "1000", Decimal("99"))])

    assert "try 1 of 3" in caplog.text and any("try 1 of 3" in line for line in lines)  # the retries were logged
    assert "broken for" in str(raised.value) and "may not raise budgets" in result
    for text in (caplog.text, "\n".join(lines), str(raised.value), result):
        assert TOKEN not in text


# --- budget writes -------------------------------------------------------------------------------

def test_jpy_budgets_are_written_in_whole_yen_and_usd_in_cents(fake: FakeTikTok):
    connector = connect(fake)
    connector.set_daily_budget(JPY, "1100", Decimal("12345.6"))
    connector.set_daily_budget(USD, "1000", Decimal("123.456"))

    writes = {c.body["campaign_id"]: c.body for c in fake.calls("campaign/update")}
    assert writes["1100"] == {"advertiser_id": JPY, "campaign_id": "1100", "budget": 12346}
    assert isinstance(writes["1100"]["budget"], int)
    assert writes["1000"]["budget"] == 123.46
    assert fake.budgets()[(JPY, "1100")] == Decimal("12346") and fake.budgets()[(USD, "1000")] == Decimal("123.46")


def test_a_rejected_write_returns_its_error_while_the_others_apply(fake: FakeTikTok, world: FakeWorld):
    before = fake.budgets()
    fake.reject_budget("1001", 40002, "Budget must be at least 50.00 USD.")
    results = connect(fake).set_daily_budgets([
        BudgetChange(USD, "1000", Decimal("80.00")),
        BudgetChange(USD, "1001", Decimal("20.00")),
        BudgetChange(JPY, "1101", Decimal("15000")),
    ])

    assert results[0] is None and results[2] is None
    rejected = fake.calls("campaign/update")[1]
    assert "campaign 1001" in results[1] and "40002" in results[1] and "at least 50.00 USD" in results[1]
    assert rejected.request_id in results[1]
    after = fake.budgets()
    assert after[(USD, "1000")] == Decimal("80.00") and after[(JPY, "1101")] == Decimal("15000")
    assert after[(USD, "1001")] == before[(USD, "1001")]
    assert len(fake.calls("campaign/update")) == 3  # one request per change


def test_set_daily_budget_raises_when_tiktok_refuses(fake: FakeTikTok):
    fake.reject_budget("1000", 40002, "Budget is too low.")
    with pytest.raises(ConnectorError, match="campaign 1000.*40002.*Budget is too low"):
        connect(fake).set_daily_budget(USD, "1000", Decimal("1"))


def test_a_write_is_retried_after_a_system_error(fake: FakeTikTok):
    connector = connect(fake)
    connector.fetch_campaigns()  # advertiser settings cached: the next error hits the write path
    fake.error_next(code=50000)
    assert connector.set_daily_budgets([BudgetChange(USD, "1000", Decimal("77.70"))]) == [None]
    assert fake.budgets()[(USD, "1000")] == Decimal("77.70")


def test_dry_run_sends_nothing(fake: FakeTikTok):
    connector = connect(fake)
    changes = [BudgetChange(USD, "1000", Decimal("80")), BudgetChange(JPY, "1100", Decimal("9000"))]
    before = fake.budgets()

    assert connector.supports_validate_only is False
    assert connector.set_daily_budgets(changes, validate_only=True) == [None, None]
    assert send_budget_changes(connector, changes, validate_only=True) == [None, None]
    assert fake.requests == [] and fake.budgets() == before


@pytest.mark.parametrize(("change", "words"), [
    (BudgetChange(USD, "1000", Decimal("0.001")), "at least 0.01"),
    (BudgetChange(USD, "1000", Decimal("NaN")), "not a finite"),
    (BudgetChange(JPY, "1100", Decimal("0.4")), "at least 1"),
    (BudgetChange(USD, "9999", Decimal("50")), "no such campaign"),
    (BudgetChange("7999", "1000", Decimal("50")), "not in MBO_TIKTOK_ADVERTISER_IDS"),
])
def test_writes_that_cannot_be_right_are_not_sent(fake: FakeTikTok, change: BudgetChange, words: str):
    (result,) = connect(fake).set_daily_budgets([change])
    assert words in result
    assert fake.calls("campaign/update") == []


def test_a_campaign_without_a_daily_budget_is_not_written(fake: FakeTikTok):
    fake.set_budget_mode("1000", "BUDGET_MODE_TOTAL")
    before = fake.budgets()
    results = connect(fake).set_daily_budgets([BudgetChange(USD, "1000", Decimal("80")),
                                               BudgetChange(USD, "1001", Decimal("81"))])

    assert "BUDGET_MODE_TOTAL" in results[0] and results[1] is None
    assert [c.body["campaign_id"] for c in fake.calls("campaign/update")] == ["1001"]
    assert fake.budgets()[(USD, "1000")] == before[(USD, "1000")]


# --- configuration -------------------------------------------------------------------------------

def test_configuration_errors_name_the_variable():
    with pytest.raises(ConnectorError, match="TIKTOK_ACCESS_TOKEN"):
        TikTokConnector.from_env({"MBO_TIKTOK_ADVERTISER_IDS": USD})
    with pytest.raises(ValueError, match="MBO_TIKTOK_ADVERTISER_IDS"):
        TikTokConnector.from_env({"MBO_TIKTOK_ADVERTISER_IDS": "act_1", "TIKTOK_ACCESS_TOKEN": TOKEN})
    with pytest.raises(ConnectorError, match="MBO_TIKTOK_API_URL.*https"):
        TikTokConnector.from_env({"MBO_TIKTOK_ADVERTISER_IDS": USD, "TIKTOK_ACCESS_TOKEN": TOKEN,
                                  "MBO_TIKTOK_API_URL": "http://tiktok.example.com/open_api"})


def test_report_windows():
    assert report_windows(START, START) == [(START, START)]
    assert report_windows(START, START + timedelta(days=29)) == [(START, START + timedelta(days=29))]
    assert report_windows(START, START + timedelta(days=30)) == [
        (START, START + timedelta(days=29)), (START + timedelta(days=30), START + timedelta(days=30))]
    assert report_windows(END, START) == []
