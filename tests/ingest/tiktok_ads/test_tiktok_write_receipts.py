"""The TikTok connector's write receipts (``last_write``) over real HTTP against FakeTikTok: the ``request_id``
of each ``campaign/update`` answer with its code and message, on success and refusal, and no token."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from mbo_pipelines.connectors import BudgetChange, ConnectorError, send_budget_changes
from mbo_pipelines.defs.ingest.tiktok_ads.client import TikTokConnector
from tests.fakes.ad_world import FakeAccount, make_world
from tests.fakes.fake_tiktok import FakeTikTok

TOKEN = "tt-receipts-token-7c3e91d0a5"
USD, JPY = "7301", "7302"


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MBO_API_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("MBO_API_BACKOFF_SECONDS", "0.001")
    monkeypatch.setenv("MBO_API_MAX_BACKOFF_SECONDS", "0.01")
    # The token reaches the connector only through from_env's mapping: masking must not rely on os.environ.
    monkeypatch.delenv("TIKTOK_ACCESS_TOKEN", raising=False)


@pytest.fixture
def fake():
    world = make_world([FakeAccount(USD, "USD", "America/New_York"), FakeAccount(JPY, "JPY", "Asia/Tokyo")],
                       date(2025, 2, 1), date(2025, 2, 2), seed=4, campaigns_per_account=3)
    with FakeTikTok(world, access_token=TOKEN) as server:
        yield server


def connect(fake: FakeTikTok) -> TikTokConnector:
    return TikTokConnector.from_env({"MBO_TIKTOK_API_URL": fake.url, "TIKTOK_ACCESS_TOKEN": TOKEN,
                                     "MBO_TIKTOK_ADVERTISER_IDS": f"{USD},{JPY}"})


def update_ids(fake: FakeTikTok) -> list[str]:
    return [r.request_id for r in fake.calls("campaign/update")]


def test_a_write_names_tiktoks_request_id_code_and_message(fake):
    connector = connect(fake)
    assert connector.last_write is None
    connector.set_daily_budget(USD, "1000", Decimal("80"))
    first = connector.last_write
    connector.set_daily_budget(USD, "1000", Decimal("81"))

    one, two = update_ids(fake)
    assert first.request_id == one and connector.last_write.request_id == two
    assert first.response == "campaign 1000: code 0: OK"


def test_a_refused_write_raises_and_leaves_tiktoks_code_and_message(fake):
    fake.reject_budget("1001", 40002, "Budget must be at least 50.00 USD.")
    connector = connect(fake)
    with pytest.raises(ConnectorError):
        connector.set_daily_budget(USD, "1001", Decimal("20"))

    assert connector.last_write.request_id == update_ids(fake)[-1]
    assert connector.last_write.response == "campaign 1001: code 40002: Budget must be at least 50.00 USD."


def test_an_http_error_that_outlasts_the_retries_leaves_the_last_logid(fake):
    connector = connect(fake)
    fake.http_error_next(status=503, times=3, on="campaign/update")
    (result,) = connector.set_daily_budgets([BudgetChange(USD, "1000", Decimal("82"))])

    assert result and len(update_ids(fake)) == 3
    assert connector.last_write.request_id == update_ids(fake)[-1]
    assert connector.last_write.response.startswith("campaign 1000: HTTP 503")


def test_an_update_tiktok_never_answered_leaves_the_error_and_no_request_id(fake):
    fake.drop_next(times=3, on="campaign/update")
    connector = connect(fake)
    (result,) = connector.set_daily_budgets([BudgetChange(USD, "1000", Decimal("83"))])

    assert result and len(fake.calls("campaign/update")) == 3
    assert connector.last_write.request_id is None
    assert connector.last_write.response.startswith("campaign 1000: no answer:")
    assert "network error" in connector.last_write.response


def test_a_batch_names_every_update_in_order_and_skips_writes_never_sent(fake):
    fake.set_budget_mode("1002", "BUDGET_MODE_TOTAL")
    connector = connect(fake)
    results = send_budget_changes(connector, [BudgetChange(USD, "1000", Decimal("80")),
                                              BudgetChange(USD, "1002", Decimal("80")),
                                              BudgetChange(JPY, "1100", Decimal("9000"))])

    assert results[0] is None and results[1] and results[2] is None
    assert connector.last_write.request_id == ", ".join(update_ids(fake))
    assert connector.last_write.response == "campaign 1000: code 0: OK | campaign 1100: code 0: OK"


def test_a_dry_run_sends_nothing_and_leaves_no_receipt(fake):
    connector = connect(fake)
    connector.set_daily_budget(USD, "1000", Decimal("80"))
    connector.set_daily_budgets([BudgetChange(USD, "1000", Decimal("90"))], validate_only=True)
    assert connector.last_write is None


def test_a_refusal_quoting_the_token_leaves_a_receipt_without_it(fake):
    fake.reject_budget("1000", 40001, f"token {TOKEN} may not raise budgets")
    connector = connect(fake)
    connector.set_daily_budgets([BudgetChange(USD, "1000", Decimal("99"))])

    assert "may not raise budgets" in connector.last_write.response
    assert TOKEN not in connector.last_write.response
