"""The Meta connector's write receipts (``last_write``) through facebook-business against FakeMeta: the
``x-fb-request-id`` of the update request Meta answered, its JSON answer, and no token."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from mbo_pipelines.connectors import BudgetChange, ConnectorError
from mbo_pipelines.defs.ingest.meta_ads.client import MetaConnector
from tests.fakes.ad_world import FakeAccount, make_world
from tests.fakes.fake_meta import FakeMeta

TOKEN = "EAAGreceipts-TOKEN-8d2f6a0c37"
USD, JPY = "2468013", "1357924"


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    # The token reaches the connector only as an argument: masking must not rely on os.environ.
    monkeypatch.delenv("META_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("MBO_API_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("MBO_API_BACKOFF_SECONDS", "0.001")
    monkeypatch.setenv("MBO_API_MAX_BACKOFF_SECONDS", "0.01")


@pytest.fixture
def fake():
    world = make_world([FakeAccount(USD, "USD", "America/New_York"), FakeAccount(JPY, "JPY", "Asia/Tokyo")],
                       date(2024, 6, 1), date(2024, 6, 2), seed=9, campaigns_per_account=3)
    with FakeMeta(world, access_token=TOKEN) as server:
        yield server


def connect(fake, token: str = TOKEN) -> MetaConnector:
    return MetaConnector(token, [f"act_{USD}", f"act_{JPY}"], graph_url=fake.url)


def posts(fake) -> list:
    return [r for r in fake.requests if r.method == "POST"]


def test_a_write_names_metas_request_id_and_its_answer(fake):
    conn = connect(fake)
    assert conn.last_write is None
    conn.set_daily_budget(USD, "1000", Decimal("55"))
    first = conn.last_write
    conn.set_daily_budget(USD, "1000", Decimal("56"))

    one, two = posts(fake)
    assert first.request_id == one.request_id and conn.last_write.request_id == two.request_id
    assert '"success": true' in first.response and "campaign 1000" in first.response


def test_a_rejected_write_leaves_metas_error_body(fake):
    fake.reject_budget("1001", "Budget too low for this campaign's bid strategy", code=100)
    conn = connect(fake)
    with pytest.raises(ConnectorError):
        conn.set_daily_budget(USD, "1001", Decimal("1"))

    assert conn.last_write.request_id == posts(fake)[-1].request_id
    assert "Budget too low" in conn.last_write.response and '"code": 100' in conn.last_write.response


def test_a_retried_write_names_the_try_meta_accepted(fake):
    conn = connect(fake)
    fake.fail_next(status=503, on="/1000")
    assert conn.set_daily_budgets([BudgetChange(USD, "1000", Decimal("60"))]) == [None]

    failed, accepted = posts(fake)
    assert conn.last_write.request_id == accepted.request_id != failed.request_id
    assert "HTTP 200" in conn.last_write.response


def test_an_update_meta_never_answered_leaves_the_error_and_no_request_id(fake):
    conn = connect(fake)
    conn.set_daily_budget(USD, "1000", Decimal("55"))
    fake.drop_next(times=3, on="/1001")
    (result,) = conn.set_daily_budgets([BudgetChange(USD, "1001", Decimal("56"))])

    assert result and len(posts(fake)) == 4
    assert conn.last_write.request_id is None
    assert "no answer" in conn.last_write.response and "ConnectionError" in conn.last_write.response


def test_every_update_of_a_batch_is_named_in_order_and_validate_only_too(fake):
    conn = connect(fake)
    conn.set_daily_budgets([BudgetChange(USD, "1000", Decimal("60")), BudgetChange(USD, "1000", Decimal("0")),
                            BudgetChange(JPY, "1100", Decimal("6000"))], validate_only=True)

    assert conn.last_write.request_id == ", ".join(r.request_id for r in posts(fake))
    assert len(posts(fake)) == 2  # the zero budget was refused before sending: no request, no receipt


def test_a_call_that_sends_nothing_clears_the_last_receipt(fake):
    conn = connect(fake)
    conn.set_daily_budget(USD, "1000", Decimal("55"))
    conn.set_daily_budgets([BudgetChange(USD, "1000", Decimal("-1"))])
    assert conn.last_write is None


def test_a_refusal_quoting_the_token_leaves_a_receipt_without_it(fake):
    fake.reject_budget("1000", f"token {TOKEN} lacks ads_management")
    conn = connect(fake)
    conn.set_daily_budgets([BudgetChange(USD, "1000", Decimal("70"))])

    assert "lacks ads_management" in conn.last_write.response and TOKEN not in conn.last_write.response


def test_a_token_revoked_mid_push_raises_with_the_receipt_of_the_refused_request(fake):
    conn = connect(fake)
    conn.set_daily_budget(USD, "1000", Decimal("70"))
    fake.access_token = "a-token-issued-after-ours"
    with pytest.raises(ConnectorError, match="190"):
        conn.set_daily_budgets([BudgetChange(USD, "1001", Decimal("80")), BudgetChange(USD, "1002", Decimal("80"))])

    assert len(posts(fake)) == 2
    assert conn.last_write.request_id == posts(fake)[-1].request_id and "190" in conn.last_write.response
