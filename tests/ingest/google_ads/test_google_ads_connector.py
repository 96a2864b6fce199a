"""The Google Ads connector's reads, retries, configuration and secrecy, through the real SDK against the gRPC fake."""

from __future__ import annotations

import logging
import time
from datetime import date, timedelta
from decimal import Decimal

import grpc
import pytest
from google.auth.credentials import AnonymousCredentials

from mbo_pipelines.connectors import BudgetChange, ConnectorError
from mbo_pipelines.defs.ingest.google_ads.client import GoogleAdsConnector
from mbo_pipelines.defs.ingest.google_ads.services import ServiceFactory
from mbo_pipelines.defs.ingest.raw_tables import GOOGLE_ADS_CAMPAIGN_DAILY, GOOGLE_ADS_CAMPAIGNS
from tests.fakes.ad_world import FakeAccount, make_world
from tests.fakes.fake_google_ads import MUTATE_BUDGETS, SEARCH_STREAM, FakeGoogleAds

START, END = date(2024, 3, 1), date(2024, 3, 9)
EUR, JPY = "1234567890", "9876543210"
TOKEN = "dev-token-for-tests"


@pytest.fixture
def world():
    return make_world([FakeAccount(EUR, "EUR", "Europe/Berlin"), FakeAccount(JPY, "JPY", "Asia/Tokyo")],
                      START, END, seed=3)


@pytest.fixture
def fake(world):
    with FakeGoogleAds(world, developer_token=TOKEN, batch_size=2) as server:
        yield server


def env_for(fake: FakeGoogleAds, **extra) -> dict[str, str]:
    return {"MBO_GOOGLE_ADS_ENDPOINT": fake.endpoint, "GOOGLE_ADS_DEVELOPER_TOKEN": TOKEN,
            "MBO_GOOGLE_ADS_CUSTOMER_IDS": "123-456-7890, 9876543210", **extra}


@pytest.fixture
def connector(fake):
    with GoogleAdsConnector.from_env(env_for(fake)) as c:
        yield c


def expected_daily(world, start=START, end=END) -> list[dict]:
    """The world's rows in raw.google_ads_campaign_daily's vocabulary, built independently of the connector."""
    rows = []
    for account in world.accounts:
        for campaign, day in world.rows(account.account_id, start, end):
            rows.append({
                "segments_date": day.day, "customer_id": account.account_id, "campaign_id": campaign.campaign_id,
                "campaign_name": campaign.name, "customer_currency_code": account.currency,
                "customer_time_zone": account.timezone, "metrics_cost_micros": int(day.spend * 1_000_000),
                "metrics_impressions": day.impressions, "metrics_clicks": day.clicks,
                "metrics_conversions": day.conversions, "metrics_conversions_value": day.conversion_value,
            })
    return rows


def streams(fake, customer=None) -> list:
    return [r for r in fake.requests if r.method == SEARCH_STREAM and customer in (None, r.customer_id)]


# --- reads -------------------------------------------------------------------------------------

def test_daily_rows_equal_the_world_across_batches_and_customers(connector, fake, world):
    rows = connector.fetch_campaign_daily(START, END)

    assert rows == expected_daily(world)
    assert all(list(r) == GOOGLE_ADS_CAMPAIGN_DAILY.column_names for r in rows)
    assert len(rows) > 4 * fake.batch_size  # many stream responses per customer
    assert [r.customer_id for r in streams(fake)] == [EUR, JPY]  # one stream per customer, not per campaign
    assert "segments.date BETWEEN '2024-03-01' AND '2024-03-09'" in streams(fake)[0].query


def test_daily_rows_keep_odd_names_paused_and_late_campaigns_and_whole_yen(connector, world):
    rows = connector.fetch_campaign_daily(START, END)
    by_campaign = {}
    for r in rows:
        by_campaign.setdefault((r["customer_id"], r["campaign_id"]), []).append(r)

    names = {r["campaign_name"] for r in rows if r["customer_id"] == EUR}
    assert "Robert'); DROP TABLE raw.google_ads_campaign_daily;--" in names
    assert "Zażółć gęślą jaźń — Black Friday 🎉" in names
    assert "キャンペーン 東京 \"quoted\", with comma" in names
    late, paused = world.campaigns[1], world.campaigns[2]
    assert min(r["segments_date"] for r in by_campaign[(EUR, late.campaign_id)]) == late.start_date > START
    assert max(r["segments_date"] for r in by_campaign[(EUR, paused.campaign_id)]) < END
    yen = [r["metrics_cost_micros"] for r in rows if r["customer_currency_code"] == "JPY"]
    assert yen and all(m % 1_000_000 == 0 and m > 1_000_000 for m in yen)


def test_campaign_rows_carry_status_budget_and_sharing(fake, world):
    world.campaigns[0].shared_budget_id = world.campaigns[1].shared_budget_id = "777"
    world.campaigns[1].daily_budget = world.campaigns[0].daily_budget
    with GoogleAdsConnector.from_env(env_for(fake)) as connector:
        rows = {(r["customer_id"], r["campaign_id"]): r for r in connector.fetch_campaigns()}

    assert len(rows) == len(world.campaigns)
    assert all(list(r) == GOOGLE_ADS_CAMPAIGNS.column_names for r in rows.values())
    first, second, paused = (rows[(EUR, c.campaign_id)] for c in world.campaigns[:3])
    assert first["campaign_budget_id"] == second["campaign_budget_id"] == "777"
    assert first["campaign_budget_explicitly_shared"] is True and first["campaign_budget_reference_count"] == 2
    assert first["campaign_budget_amount_micros"] == int(world.campaigns[0].daily_budget * 1_000_000)
    assert paused["campaign_status"] == "PAUSED" and first["campaign_status"] == "ENABLED"
    assert paused["campaign_budget_explicitly_shared"] is False and paused["campaign_budget_reference_count"] == 1
    assert paused["campaign_budget_id"] == fake.budget_id(EUR, world.campaigns[2].campaign_id)
    yen = rows[(JPY, world.campaigns[3].campaign_id)]
    assert yen["customer_currency_code"] == "JPY" and yen["customer_time_zone"] == "Asia/Tokyo"
    assert yen["campaign_budget_amount_micros"] == int(world.campaigns[3].daily_budget) * 1_000_000


def test_login_customer_id_is_sent_without_dashes(fake):
    with GoogleAdsConnector.from_env(env_for(fake, GOOGLE_ADS_LOGIN_CUSTOMER_ID="111-222-3333")) as connector:
        connector.fetch_campaigns()
    assert {r.login_customer_id for r in fake.requests} == {"1112223333"}


# --- retries -----------------------------------------------------------------------------------

@pytest.mark.parametrize("hint_in", [("failure",), ("status",)], ids=["quota_error_details", "rpc_retry_info"])
def test_resource_exhausted_is_retried_after_the_hinted_delay(connector, fake, world, monkeypatch, hint_in):
    monkeypatch.setenv("MBO_API_BACKOFF_SECONDS", "0")
    fake.fail_next(SEARCH_STREAM, grpc.StatusCode.RESOURCE_EXHAUSTED, retry_delay=0.4, retry_delay_in=hint_in)

    began = time.monotonic()
    rows = connector.fetch_campaign_daily(START, END)
    elapsed = time.monotonic() - began

    assert rows == expected_daily(world)
    assert elapsed >= 0.4
    assert len(streams(fake, EUR)) == 2


@pytest.mark.parametrize("code", [grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE])
def test_transient_errors_are_retried(connector, fake, world, code):
    fake.fail_next(SEARCH_STREAM, code, times=2)
    assert connector.fetch_campaign_daily(START, END) == expected_daily(world)
    assert len(streams(fake, EUR)) == 3


def test_a_stream_broken_midway_is_read_again_whole(connector, fake, world):
    fake.break_stream_after(batches=3)
    rows = connector.fetch_campaign_daily(START, END)

    assert rows == expected_daily(world)
    keys = [(r["customer_id"], r["campaign_id"], r["segments_date"]) for r in rows]
    assert len(keys) == len(set(keys))
    assert len(streams(fake, EUR)) == 2


def test_persistent_failure_names_customer_tries_and_request_id(connector, fake):
    fake.fail_next(SEARCH_STREAM, grpc.StatusCode.UNAVAILABLE, times=10)
    with pytest.raises(ConnectorError) as caught:
        connector.fetch_campaign_daily(START, END)

    message = str(caught.value)
    assert len(streams(fake)) == 3
    assert EUR in message and "after 3 tries" in message
    assert streams(fake)[-1].request_id in message


def test_a_refused_request_is_not_retried_and_names_customer_and_request_id(connector, fake):
    fake.fail_next(SEARCH_STREAM, grpc.StatusCode.PERMISSION_DENIED)
    with pytest.raises(ConnectorError) as caught:
        connector.fetch_campaigns()

    message = str(caught.value)
    assert len(streams(fake)) == 1
    assert EUR in message and streams(fake)[0].request_id in message
    assert "USER_PERMISSION_DENIED" in message and "GOOGLE_ADS_LOGIN_CUSTOMER_ID" in message


@pytest.mark.parametrize("problem, column, passed", [("missing_campaign_id", "campaign_id", None),
                                                     ("bad_date", "segments_date", "2024-02-30")])
def test_a_malformed_daily_row_is_passed_on_for_the_quality_checks(connector, fake, world, problem, column, passed):
    fake.serve_malformed_row(problem)
    rows = connector.fetch_campaign_daily(START, END)
    # Loaded leniently: rules.py decides (tests/quality/test_corpus_platforms.py shows such rows quarantined).
    assert len(rows) == len(expected_daily(world))
    assert rows[0][column] == passed and rows[1:] == expected_daily(world)[1:]


def test_values_out_of_range_are_passed_on_for_the_quality_checks(connector, fake, world):
    def edit(rows):
        rows[0].metrics.cost_micros = -5_000_000
        rows[0].metrics.conversions = float("nan")
        rows[0].segments.date = (START - timedelta(days=3)).isoformat()
        del rows[0].campaign.name
        return rows

    fake.edit_rows(edit)
    first = connector.fetch_campaign_daily(START, END)[0]
    assert first["metrics_cost_micros"] == -5_000_000 and first["metrics_conversions"] != first["metrics_conversions"]
    assert first["segments_date"] == START - timedelta(days=3) and first["campaign_name"] is None


def test_a_campaign_row_without_its_id_loads_nothing_and_names_the_customer(connector, fake):
    fake.edit_rows(lambda rows: [rows[0].__class__(campaign={"name": "x"}, customer=rows[0].customer,
                                                   campaign_budget=rows[0].campaign_budget), *rows[1:]], daily=False)
    with pytest.raises(ConnectorError) as caught:
        connector.fetch_campaigns()
    assert EUR in str(caught.value) and "campaign.id" in str(caught.value)
    assert streams(fake)[0].request_id in str(caught.value)


@pytest.mark.parametrize("how", ["truncate", "garbage"])
def test_a_stream_that_does_not_parse_fails_naming_the_customer(fake, how, monkeypatch):
    # Retried (three tries here), then closed: the SDK's request log once hung the retry and the close after a
    # response that did not parse (services.py's _LoggingInterceptor).
    fake.corrupt_next_stream(how, times=5)
    with GoogleAdsConnector.from_env(env_for(fake)) as connector, pytest.raises(ConnectorError) as caught:
        connector.fetch_campaign_daily(START, END)
    assert EUR in str(caught.value) and "reading campaign performance" in str(caught.value)
    assert "Exception deserializing response" in str(caught.value) and len(streams(fake)) == 3


# --- developer token and configuration -------------------------------------------------------

def test_a_request_without_developer_token_is_rejected(fake):
    services = ServiceFactory(endpoint=fake.endpoint, credentials=AnonymousCredentials(), developer_token=None,
                              login_customer_id=None, plaintext=True)
    with GoogleAdsConnector(services, [EUR]) as connector, pytest.raises(ConnectorError) as caught:
        connector.fetch_campaigns()
    assert "DEVELOPER_TOKEN_PARAMETER_MISSING" in str(caught.value)
    assert [r.developer_token_sent for r in fake.requests] == [False]


def test_a_wrong_developer_token_is_rejected_with_a_hint(fake):
    with GoogleAdsConnector.from_env(env_for(fake, GOOGLE_ADS_DEVELOPER_TOKEN="not-the-token")) as connector:
        with pytest.raises(ConnectorError) as caught:
            connector.fetch_campaigns()
    assert "DEVELOPER_TOKEN_INVALID" in str(caught.value) and "GOOGLE_ADS_DEVELOPER_TOKEN" in str(caught.value)
    assert "not-the-token" not in str(caught.value)


def test_missing_configuration_is_named_without_values():
    with pytest.raises(ConnectorError) as caught:
        GoogleAdsConnector.from_env({"MBO_GOOGLE_ADS_ENDPOINT": "127.0.0.1:1", "MBO_GOOGLE_ADS_CUSTOMER_IDS": EUR})
    assert "GOOGLE_ADS_DEVELOPER_TOKEN" in str(caught.value)

    with pytest.raises(ConnectorError) as caught:
        GoogleAdsConnector.from_env({"GOOGLE_ADS_DEVELOPER_TOKEN": "devtoken-value-4711",
                                     "GOOGLE_ADS_CLIENT_ID": "client-id-value-4711"})
    message = str(caught.value)
    for name in ("MBO_GOOGLE_ADS_CUSTOMER_IDS", "GOOGLE_ADS_CLIENT_SECRET", "GOOGLE_ADS_REFRESH_TOKEN"):
        assert name in message
    assert "GOOGLE_ADS_CLIENT_ID" not in message and "4711" not in message

    with pytest.raises(ConnectorError, match="12345 is not a 10-digit customer id"):
        GoogleAdsConnector.from_env({"GOOGLE_ADS_DEVELOPER_TOKEN": "x", "MBO_GOOGLE_ADS_ENDPOINT": "127.0.0.1:1",
                                     "MBO_GOOGLE_ADS_CUSTOMER_IDS": "12345"})


@pytest.mark.parametrize("in_environment", [True, False], ids=["os_environ", "env_mapping_only"])
def test_no_secret_reaches_errors_results_or_logs(fake, monkeypatch, caplog, in_environment):
    secrets = {"GOOGLE_ADS_DEVELOPER_TOKEN": "devtoken-SECRET-7f3a9c", "GOOGLE_ADS_REFRESH_TOKEN": "refresh-SECRET-1d2e3f",
               "GOOGLE_ADS_CLIENT_SECRET": "client-SECRET-9b8a7c"}
    for name, value in secrets.items():
        if in_environment:
            monkeypatch.setenv(name, value)
        else:
            monkeypatch.delenv(name, raising=False)
    fake.developer_token = secrets["GOOGLE_ADS_DEVELOPER_TOKEN"]
    # A server that echoes a secret back (as some error texts do) must not get it into MBO's messages.
    echo = f"bad value {secrets['GOOGLE_ADS_REFRESH_TOKEN']} for {secrets['GOOGLE_ADS_CLIENT_SECRET']}"
    caplog.set_level(logging.DEBUG)
    texts = []
    with GoogleAdsConnector.from_env(env_for(fake, **secrets)) as connector:
        fake.fail_next(SEARCH_STREAM, grpc.StatusCode.RESOURCE_EXHAUSTED, retry_delay=0.01, message=echo)
        connector.fetch_campaign_daily(START, END)
        fake.fail_next(SEARCH_STREAM, grpc.StatusCode.INTERNAL, times=5, message=echo)
        with pytest.raises(ConnectorError) as persistent:
            connector.fetch_campaigns()
        fake.fail_next(MUTATE_BUDGETS, grpc.StatusCode.UNAUTHENTICATED, message=echo)
        with pytest.raises(ConnectorError) as refused:
            connector.set_daily_budget(EUR, fake.world.campaigns[0].campaign_id, Decimal("50"))
        fake.reject_budget(fake.world.campaigns[0].campaign_id, echo)
        texts += connector.set_daily_budgets([BudgetChange(EUR, fake.world.campaigns[0].campaign_id, Decimal("51"))])
    texts += [str(persistent.value), str(refused.value), caplog.text]

    assert "try 1 of 3 failed" in caplog.text  # our retries were logged
    assert "FaultMessage: bad value ***" in caplog.text  # and so were the SDK's own request logs, masked
    assert "bad value ***" in str(persistent.value) and "bad value ***" in texts[0]
    for value in secrets.values():
        assert not any(value in (t or "") for t in texts), value


def test_thousands_of_campaigns_cost_one_request_per_customer():
    big = make_world([FakeAccount(EUR, "EUR", "Europe/Berlin")], START, START + timedelta(days=1), seed=5,
                     campaigns_per_account=1500)
    with FakeGoogleAds(big, developer_token=TOKEN, batch_size=500) as server:
        env = env_for(server, MBO_GOOGLE_ADS_CUSTOMER_IDS=EUR)
        with GoogleAdsConnector.from_env(env) as connector:
            rows = connector.fetch_campaign_daily(START, START + timedelta(days=1))
            changes = [BudgetChange(EUR, c.campaign_id, c.daily_budget + 1) for c in big.campaigns]
            results = connector.set_daily_budgets(changes)
    assert len(rows) == len(expected_daily(big, START, START + timedelta(days=1)))
    assert results == [None] * 1500
    assert [r.method for r in server.requests] == [SEARCH_STREAM, SEARCH_STREAM, MUTATE_BUDGETS]
    assert len(server.requests[-1].operations) == 1500
