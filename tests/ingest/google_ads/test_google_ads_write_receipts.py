"""The Google Ads connector's write receipts (``last_write``) through the real SDK against the gRPC fake: the
request id Google sent in the response metadata, on success, partial failure and failure, and no token."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import grpc
import pytest

from mbo_pipelines.connectors import BudgetChange, ConnectorError, PlatformConnector, send_budget_changes
from mbo_pipelines.defs.ingest.google_ads.client import GoogleAdsConnector
from tests.fakes.ad_world import FakeAccount, make_world
from tests.fakes.fake_google_ads import MUTATE_BUDGETS, FakeGoogleAds

START, END = date(2024, 5, 1), date(2024, 5, 2)
EUR, JPY = "3141592653", "2718281828"
TOKEN = "dev-token-receipts-5b1e0c"


@pytest.fixture
def fake():
    world = make_world([FakeAccount(EUR, "EUR", "Europe/Berlin"), FakeAccount(JPY, "JPY", "Asia/Tokyo")],
                       START, END, seed=5, campaigns_per_account=3)
    with FakeGoogleAds(world, developer_token=TOKEN) as server:
        yield server


@pytest.fixture
def connector(fake):
    env = {"MBO_GOOGLE_ADS_ENDPOINT": fake.endpoint, "GOOGLE_ADS_DEVELOPER_TOKEN": TOKEN,
           "MBO_GOOGLE_ADS_CUSTOMER_IDS": f"{EUR},{JPY}"}
    with GoogleAdsConnector.from_env(env) as c:
        yield c


def mutate_ids(fake) -> list[str]:
    return [r.request_id for r in fake.requests if r.method == MUTATE_BUDGETS]


def test_a_write_names_the_request_google_answered_and_the_budget_it_changed(connector, fake):
    assert isinstance(connector, PlatformConnector) and connector.last_write is None
    connector.set_daily_budget(EUR, "1000", Decimal("42"))
    first = connector.last_write
    connector.set_daily_budget(EUR, "1000", Decimal("43"))

    (one, two) = mutate_ids(fake)
    assert first.request_id == one and connector.last_write.request_id == two
    assert f"customers/{EUR}/campaignBudgets/91000" in first.response


def test_a_partial_failure_is_in_the_receipt(connector, fake):
    fake.reject_budget("1001", "Budget amount is too large for this account.")
    results = connector.set_daily_budgets([BudgetChange(EUR, "1000", Decimal("40")),
                                           BudgetChange(EUR, "1001", Decimal("41"))])

    assert results[0] is None and results[1]
    receipt = connector.last_write
    assert receipt.request_id == mutate_ids(fake)[-1]
    assert "partial_failure_error" in receipt.response and "too large for this account" in receipt.response


def test_a_refused_request_leaves_its_request_id_and_googles_error(connector, fake):
    connector.set_daily_budget(EUR, "1000", Decimal("40"))
    fake.fail_next(MUTATE_BUDGETS, grpc.StatusCode.PERMISSION_DENIED)
    with pytest.raises(ConnectorError):
        connector.set_daily_budget(EUR, "1000", Decimal("44"))

    assert connector.last_write.request_id == mutate_ids(fake)[-1]
    assert "PERMISSION_DENIED" in connector.last_write.response


def test_after_retries_the_receipt_names_the_last_try(connector, fake, monkeypatch):
    monkeypatch.setenv("MBO_API_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("MBO_API_BACKOFF_SECONDS", "0.001")
    fake.fail_next(MUTATE_BUDGETS, grpc.StatusCode.UNAVAILABLE, times=1)
    assert connector.set_daily_budgets([BudgetChange(EUR, "1000", Decimal("45"))]) == [None]
    failed, succeeded = mutate_ids(fake)
    assert connector.last_write.request_id == succeeded and "campaignBudgets/91000" in connector.last_write.response

    fake.fail_next(MUTATE_BUDGETS, grpc.StatusCode.UNAVAILABLE, times=3)
    with pytest.raises(ConnectorError):
        connector.set_daily_budgets([BudgetChange(EUR, "1000", Decimal("46"))])
    assert connector.last_write.request_id == mutate_ids(fake)[-1]
    assert "UNAVAILABLE" in connector.last_write.response


def test_one_request_per_customer_all_named_in_order(connector, fake):
    send_budget_changes(connector, [BudgetChange(EUR, "1000", Decimal("40")),
                                    BudgetChange(JPY, "1100", Decimal("4000"))], validate_only=True)

    assert connector.last_write.request_id == ", ".join(mutate_ids(fake))
    assert connector.last_write.response.count("validate_only") == 2


def test_a_call_that_sends_nothing_leaves_no_receipt(connector, fake):
    connector.set_daily_budget(EUR, "1000", Decimal("40"))
    results = connector.set_daily_budgets([BudgetChange(EUR, "424242", Decimal("10"))])

    assert results[0] and len(mutate_ids(fake)) == 1
    assert connector.last_write is None


def test_the_developer_token_never_reaches_a_receipt(connector, fake):
    fake.reject_budget("1000", f"Token {TOKEN} may not change this budget.")
    connector.set_daily_budgets([BudgetChange(EUR, "1000", Decimal("40"))])

    assert "may not change this budget" in connector.last_write.response
    assert TOKEN not in connector.last_write.response and "***" in connector.last_write.response
