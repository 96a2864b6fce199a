"""The Google Ads connector's budget writes through the real SDK against the gRPC fake: rounding, validate-only,
partial failures, shared budgets, retries."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import grpc
import pytest

from mbo_pipelines.connectors import BudgetChange, ConnectorError, send_budget_changes
from mbo_pipelines.defs.ingest.google_ads.budgets import to_micros
from mbo_pipelines.defs.ingest.google_ads.client import GoogleAdsConnector
from tests.fakes.ad_world import FakeAccount, make_world
from tests.fakes.fake_google_ads import MUTATE_BUDGETS, SEARCH_STREAM, FakeGoogleAds

START, END = date(2024, 3, 1), date(2024, 3, 3)
EUR, JPY = "1234567890", "9876543210"
TOKEN = "dev-token-for-tests"


@pytest.fixture
def world():
    world = make_world([FakeAccount(EUR, "EUR", "Europe/Berlin"), FakeAccount(JPY, "JPY", "Asia/Tokyo")],
                       START, END, seed=11, campaigns_per_account=4)
    # EUR campaigns 1002 and 1003 spend from one explicitly shared budget of 100.00.
    for campaign in world.campaigns[2:4]:
        campaign.shared_budget_id, campaign.daily_budget = "777", Decimal("100.00")
    return world


@pytest.fixture
def fake(world):
    with FakeGoogleAds(world, developer_token=TOKEN) as server:
        yield server


@pytest.fixture
def connector(fake):
    env = {"MBO_GOOGLE_ADS_ENDPOINT": fake.endpoint, "GOOGLE_ADS_DEVELOPER_TOKEN": TOKEN,
           "MBO_GOOGLE_ADS_CUSTOMER_IDS": f"{EUR},{JPY}"}
    with GoogleAdsConnector.from_env(env) as c:
        yield c


def mutates(fake) -> list:
    return [r for r in fake.requests if r.method == MUTATE_BUDGETS]


def test_budgets_are_written_in_the_currencys_minimum_unit(connector, fake):
    before = fake.budgets()
    results = connector.set_daily_budgets([
        BudgetChange(EUR, "1000", Decimal("55.555")),
        BudgetChange(JPY, "1100", Decimal("1234.6")),
        BudgetChange(JPY, "1101", Decimal("800.4")),
    ])

    assert results == [None, None, None]
    after = fake.budgets()
    assert after[(EUR, "1000")] == Decimal("55.56")
    assert after[(JPY, "1100")] == Decimal("1235") and after[(JPY, "1101")] == Decimal("800")
    assert {k: v for k, v in after.items() if k not in {(EUR, "1000"), (JPY, "1100"), (JPY, "1101")}} == \
        {k: v for k, v in before.items() if k not in {(EUR, "1000"), (JPY, "1100"), (JPY, "1101")}}
    eur, jpy = mutates(fake)
    assert eur.operations == [(f"customers/{EUR}/campaignBudgets/91000", 55_560_000, ("amount_micros",))]
    assert [op[1] for op in jpy.operations] == [1_235_000_000, 800_000_000]
    assert eur.partial_failure and not eur.validate_only


def test_rounding_helper_knows_zero_decimal_currencies():
    assert to_micros(Decimal("10.005"), "EUR") == 10_010_000
    assert to_micros(Decimal("10.5"), "JPY") == 11_000_000
    assert to_micros(Decimal("99.4"), "KRW") == 99_000_000


def test_validate_only_sends_the_request_but_changes_nothing(connector, fake):
    before = fake.budgets()
    fake.reject_budget("1001", "Budget is too large for this account.")
    results = send_budget_changes(connector, [BudgetChange(EUR, "1000", Decimal("60")),
                                              BudgetChange(EUR, "1001", Decimal("61"))], validate_only=True)

    assert fake.budgets() == before
    assert [r.validate_only for r in mutates(fake)] == [True]
    assert results[0] is None
    assert "Budget is too large for this account." in results[1]


def test_a_partial_failure_fails_only_its_change(connector, fake):
    fake.reject_budget("1001", "Budget is too large for this account.")
    before = fake.budgets()
    results = connector.set_daily_budgets([BudgetChange(EUR, "1000", Decimal("60")),
                                           BudgetChange(EUR, "1001", Decimal("61")),
                                           BudgetChange(JPY, "1100", Decimal("7000"))])

    assert results[0] is None and results[2] is None
    assert "MONEY_AMOUNT_TOO_LARGE" in results[1] and "Budget is too large" in results[1]
    assert mutates(fake)[0].request_id in results[1]
    after = fake.budgets()
    assert after[(EUR, "1000")] == Decimal("60") and after[(JPY, "1100")] == Decimal("7000")
    assert after[(EUR, "1001")] == before[(EUR, "1001")]


def test_a_shared_budget_moves_once_by_the_sum_of_the_differences(connector, fake):
    # Each campaign's share of the 100.00 budget is 50.00: +10.00 and -5.50 move the budget to 104.50.
    results = connector.set_daily_budgets([BudgetChange(EUR, "1002", Decimal("60.00"), Decimal("50.00")),
                                           BudgetChange(EUR, "1003", Decimal("44.50"), Decimal("50.00"))])

    assert results == [None, None]
    assert mutates(fake)[0].operations == [(f"customers/{EUR}/campaignBudgets/777", 104_500_000, ("amount_micros",))]
    assert fake.budgets()[(EUR, "1002")] == fake.budgets()[(EUR, "1003")] == Decimal("104.5")

    # The next push starts from the budget as written, without reading the campaigns again.
    connector.set_daily_budgets([BudgetChange(EUR, "1002", Decimal("55.25"), Decimal("52.25")),
                                 BudgetChange(EUR, "1003", Decimal("52.25"), Decimal("52.25"))])
    assert fake.budgets()[(EUR, "1002")] == Decimal("107.5")
    assert [r.method for r in fake.requests] == [SEARCH_STREAM, MUTATE_BUDGETS, MUTATE_BUDGETS]


def test_a_rejected_shared_budget_fails_every_change_on_it(connector, fake):
    fake.reject_budget("1003", "Budget below the per-day minimum.")
    results = connector.set_daily_budgets([BudgetChange(EUR, "1002", Decimal("60"), Decimal("50")),
                                           BudgetChange(EUR, "1003", Decimal("40"), Decimal("50")),
                                           BudgetChange(EUR, "1000", Decimal("70"))])
    assert "per-day minimum" in results[0] and results[0] == results[1]
    assert results[2] is None
    assert fake.budgets()[(EUR, "1002")] == Decimal("100.00")


def test_set_daily_budget_sets_one_and_raises_on_refusal(connector, fake):
    connector.set_daily_budget(JPY, "1102", Decimal("4321"))
    assert fake.budgets()[(JPY, "1102")] == Decimal("4321")

    fake.reject_budget("1102", "Budget is too large for this account.")
    with pytest.raises(ConnectorError, match=rf"{JPY}.*1102.*Budget is too large"):
        connector.set_daily_budget(JPY, "1102", Decimal("99999"))


def test_set_daily_budget_on_a_shared_budget_moves_it_by_the_campaigns_share(connector, fake):
    connector.set_daily_budget(EUR, "1002", Decimal("65"))  # share 50 → the budget grows by 15
    assert fake.budgets()[(EUR, "1003")] == Decimal("115")


def test_unknown_campaigns_and_bad_amounts_are_refused_before_sending(connector, fake):
    results = connector.set_daily_budgets([BudgetChange(EUR, "424242", Decimal("10")),
                                           BudgetChange(EUR, "1000", Decimal("-3")),
                                           BudgetChange(EUR, "1001", Decimal("0.004")),
                                           BudgetChange(EUR, "1000", Decimal("12"))])
    assert "424242" in results[0] and "positive" in results[1] and "smallest amount" in results[2]
    assert results[3] is None
    assert [len(r.operations) for r in mutates(fake)] == [1]


def test_mutate_is_retried_after_resource_exhausted_and_applied_once(connector, fake):
    fake.fail_next(MUTATE_BUDGETS, grpc.StatusCode.RESOURCE_EXHAUSTED, retry_delay=0.05)
    assert connector.set_daily_budgets([BudgetChange(EUR, "1000", Decimal("77"))]) == [None]
    assert len(mutates(fake)) == 2 and fake.budgets()[(EUR, "1000")] == Decimal("77")


def test_a_whole_request_failure_raises_for_one_customer_and_is_per_change_for_several(connector, fake):
    connector.fetch_campaigns()
    fake.fail_next(MUTATE_BUDGETS, grpc.StatusCode.PERMISSION_DENIED)
    with pytest.raises(ConnectorError) as caught:
        connector.set_daily_budgets([BudgetChange(EUR, "1000", Decimal("70"))])
    assert EUR in str(caught.value) and mutates(fake)[-1].request_id in str(caught.value)

    fake.fail_next(MUTATE_BUDGETS, grpc.StatusCode.PERMISSION_DENIED)
    results = connector.set_daily_budgets([BudgetChange(EUR, "1000", Decimal("71")),
                                           BudgetChange(JPY, "1100", Decimal("5000"))])
    assert "USER_PERMISSION_DENIED" in results[0] and results[1] is None
    assert fake.budgets()[(JPY, "1100")] == Decimal("5000") and fake.budgets()[(EUR, "1000")] != Decimal("71")


def test_customers_outside_the_configuration_are_not_written(connector, fake):
    with pytest.raises(ConnectorError, match="5555555555 is not in MBO_GOOGLE_ADS_CUSTOMER_IDS"):
        connector.set_daily_budgets([BudgetChange("555-555-5555", "1", Decimal("10"))])
    assert fake.requests == []
