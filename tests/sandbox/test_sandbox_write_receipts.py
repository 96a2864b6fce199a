"""Write receipts: ``WriteReceipt`` itself (redacted, short, combined in order) and the sandbox connector's
``last_write`` after a write, a refusal, and ``send_budget_changes``."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest

from mbo_pipelines.connectors import (
    MAX_RECEIPT_RESPONSE,
    BudgetChange,
    ConnectorError,
    WriteReceipt,
    last_write,
    send_budget_changes,
)
from mbo_pipelines.sandbox.platforms import SandboxMarket

TODAY = date(2026, 4, 1)
SEED = 47  # its own sandbox campaigns, apart from other tests
SANDBOX_ID = re.compile(r"^sandbox-[0-9a-f]{32}$")


# --- WriteReceipt ------------------------------------------------------------------------------------

def test_a_receipt_masks_configured_secrets_and_the_connectors_own(monkeypatch):
    monkeypatch.setenv("META_ACCESS_TOKEN", "EAAG-env-token-123456")
    receipt = WriteReceipt.of("req-1", "echo EAAG-env-token-123456 and own-secret-98765 and access_token=abcdef",
                              secrets=("own-secret-98765",))

    assert receipt.response == "echo *** and *** and access_token=***"
    assert WriteReceipt("req-2", "EAAG-env-token-123456").response == "***"


def test_a_receipt_response_is_at_most_500_characters():
    receipt = WriteReceipt("req", "x" * 5000)
    assert len(receipt.response) == MAX_RECEIPT_RESPONSE == 500 and receipt.response.endswith("…")
    assert WriteReceipt("req", "short").response == "short"
    assert WriteReceipt(None, "  ").response is None


def test_receipts_combine_in_order_and_nothing_combines_to_none():
    one, two = WriteReceipt("a", "first"), WriteReceipt("b", "second")
    assert WriteReceipt.combine([one, None, two]) == WriteReceipt("a, b", "first | second")
    assert WriteReceipt.combine([one]) is one
    assert WriteReceipt.combine([]) is None and WriteReceipt.combine([None]) is None


def test_last_write_of_an_object_without_receipts_is_none():
    class Bare:
        last_write = "not a receipt"

    assert last_write(object()) is None and last_write(Bare()) is None


# --- the sandbox connector ---------------------------------------------------------------------------

@pytest.fixture
def connector(database_url):
    return SandboxMarket(database_url, seed=SEED, today=TODAY).connector("google_ads")


def test_each_write_gets_its_own_sandbox_request_id_and_says_what_was_set(connector):
    campaign = connector.fetch_campaigns()[0]
    account, cid = campaign["customer_id"], campaign["campaign_id"]
    assert connector.last_write is None

    connector.set_daily_budget(account, cid, Decimal("12.344"))
    first = connector.last_write
    connector.set_daily_budget(account, cid, Decimal("12.5"))

    assert SANDBOX_ID.match(first.request_id) and SANDBOX_ID.match(connector.last_write.request_id)
    assert first.request_id != connector.last_write.request_id
    assert first.response == f"set daily_budget=12.34 from {TODAY}"
    assert last_write(connector) is connector.last_write


def test_a_refused_write_raises_and_its_receipt_says_why(connector):
    with pytest.raises(ConnectorError, match="no campaign 999"):
        connector.set_daily_budget("0", "999", Decimal("10"))

    assert SANDBOX_ID.match(connector.last_write.request_id)
    assert connector.last_write.response.startswith("refused: ") and "no campaign 999" in connector.last_write.response


def test_send_budget_changes_leaves_one_receipt_naming_every_write_in_order(connector):
    first, second = connector.fetch_campaigns()[:2]
    changes = [BudgetChange(first["customer_id"], first["campaign_id"], Decimal("20")),
               BudgetChange(second["customer_id"], "999", Decimal("21")),
               BudgetChange(second["customer_id"], second["campaign_id"], Decimal("22"))]

    results = send_budget_changes(connector, changes)

    assert results[0] is None and results[1] and results[2] is None
    ids = connector.last_write.request_id.split(", ")
    assert len(ids) == 3 and len(set(ids)) == 3 and all(SANDBOX_ID.match(i) for i in ids)
    answers = connector.last_write.response.split(" | ")
    assert answers[0].startswith("set daily_budget=20.00") and answers[1].startswith("refused: ")
    assert answers[2].startswith("set daily_budget=22.00")


def test_a_dry_run_through_send_budget_changes_clears_the_last_receipt(connector):
    campaign = connector.fetch_campaigns()[0]
    change = BudgetChange(campaign["customer_id"], campaign["campaign_id"], Decimal("30"))
    send_budget_changes(connector, [change])
    assert connector.last_write is not None

    send_budget_changes(connector, [change], validate_only=True)
    assert connector.last_write is None
