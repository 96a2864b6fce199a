"""push_plan against the live connectors and their fakes: shared Google budgets, Meta campaigns without a
budget of their own, and a platform whose write is rejected, with the ledger saying what became of each."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from activate_helpers import PlanRow, insert_plan, ledger_rows

from mbo_pipelines.defs.activate import push_plan
from mbo_pipelines.defs.ingest.google_ads.client import GoogleAdsConnector
from mbo_pipelines.defs.ingest.meta_ads.client import MetaConnector
from tests.fakes.ad_world import FakeAccount, make_world
from tests.fakes.fake_google_ads import FakeGoogleAds
from tests.fakes.fake_meta import FakeMeta

DAY = date(2026, 2, 1)
CUSTOMER = "1234567890"


@pytest.fixture(autouse=True)
def allow_writes(monkeypatch):
    monkeypatch.setenv("MBO_ALLOW_LIVE_BUDGET_CHANGES", "1")
    monkeypatch.setenv("MBO_API_BACKOFF_SECONDS", "0.001")


@pytest.fixture
def google():
    world = make_world([FakeAccount(CUSTOMER, "USD", "America/New_York")], DAY, DAY, seed=4, campaigns_per_account=4)
    for campaign in world.campaigns[:3]:  # 1000, 1001, 1002 share one budget of 300 (100 each, as the marts count)
        campaign.shared_budget_id, campaign.daily_budget, campaign.status = "777", Decimal("300.00"), "active"
    world.campaigns[3].daily_budget, world.campaigns[3].status = Decimal("80.00"), "active"
    with FakeGoogleAds(world, developer_token="dev-token") as fake:
        env = {"MBO_GOOGLE_ADS_ENDPOINT": fake.endpoint, "GOOGLE_ADS_DEVELOPER_TOKEN": "dev-token",
               "MBO_GOOGLE_ADS_CUSTOMER_IDS": CUSTOMER}
        with GoogleAdsConnector.from_env(env) as connector:
            yield fake, connector


def _row(campaign_id: str, current: str, recommended: str) -> PlanRow:
    return PlanRow("google_ads", CUSTOMER, campaign_id, "USD", Decimal(current), Decimal(recommended))


def test_a_shared_budget_moves_once_by_the_plans_changes_when_all_its_campaigns_are_in_the_plan(database_url, google):
    fake, connector = google
    rows = [_row("1000", "100", "120"), _row("1001", "100", "90"), _row("1002", "100", "100"), _row("1003", "80", "70")]
    summary = push_plan(database_url, insert_plan(database_url, rows), {"google_ads": connector})
    assert summary.ok and summary.counts["applied"] == 3
    budgets = fake.budgets()
    assert budgets[(CUSTOMER, "1000")] == Decimal("310.00")  # 300 + 20 - 10, one operation for the budget
    assert budgets[(CUSTOMER, "1003")] == Decimal("70.00")


def test_a_shared_budget_with_a_campaign_outside_the_plan_is_refused_and_untouched(database_url, google):
    fake, connector = google
    rows = [_row("1000", "100", "120"), _row("1001", "100", "90"), _row("1003", "80", "90")]  # 1002 is not in it
    summary = push_plan(database_url, insert_plan(database_url, rows), {"google_ads": connector})
    ledger = ledger_rows(database_url, summary.plan_id)
    for campaign in ("1000", "1001"):
        row = ledger[("google_ads", CUSTOMER, campaign)]
        assert row["status"] == "refused"
        assert row["error"].startswith("shared_budget: budget 777 is shared by campaigns 1000, 1001, 1002; 1002 is not")
    assert ledger[("google_ads", CUSTOMER, "1003")]["status"] == "applied"
    assert fake.budgets()[(CUSTOMER, "1000")] == Decimal("300.00")
    assert not summary.ok  # blocked changes fail the push run, so someone looks


def test_meta_campaign_without_a_budget_of_its_own_is_blocked_and_a_rejected_write_fails_alone(database_url):
    world = make_world([FakeAccount("555666777", "JPY", "Asia/Tokyo")], DAY, DAY, seed=5, campaigns_per_account=3)
    for campaign in world.campaigns:
        campaign.status = "active"
    world.campaigns[0].daily_budget = None  # budgets on its ad sets
    world.campaigns[1].daily_budget = Decimal("10000")
    world.campaigns[2].daily_budget = Decimal("20000")
    with FakeMeta(world, access_token="meta-token") as fake:
        fake.reject_budget(world.campaigns[2].campaign_id, "Budget too low for this objective", code=1885650)
        connector = MetaConnector.from_env(fake.env())
        rows = [PlanRow("meta_ads", "act_555666777", c.campaign_id, "JPY", Decimal(current), Decimal(new))
                for c, current, new in zip(world.campaigns, ("5000", "10000", "20000"), ("5500", "11000", "18000"))]
        summary = push_plan(database_url, insert_plan(database_url, rows), {"meta_ads": connector})
        ledger = ledger_rows(database_url, summary.plan_id)
        statuses = {cid: ledger[("meta_ads", "act_555666777", cid)] for cid in (c.campaign_id for c in world.campaigns)}
        first, second, third = (statuses[c.campaign_id] for c in world.campaigns)
        assert first["status"] == "skipped" and first["error"].startswith("own_budget:")
        assert second["status"] == "applied" and fake.budgets()[("555666777", world.campaigns[1].campaign_id)] == Decimal("11000")
        assert third["status"] == "failed" and "Budget too low" in third["error"]
        assert fake.budgets()[("555666777", world.campaigns[2].campaign_id)] == Decimal("20000")
        assert "meta-token" not in third["error"]


def test_a_live_platform_gets_its_minimum_and_whole_currency_units_the_ledger_saying_by_how_much(database_url):
    world = make_world([FakeAccount("888999000", "JPY", "Asia/Tokyo")], DAY, DAY, seed=6, campaigns_per_account=2)
    for campaign in world.campaigns:
        campaign.status = "active"
    world.campaigns[0].daily_budget = Decimal("180")   # cut to 126: below Meta's minimum in JPY (150)
    world.campaigns[1].daily_budget = Decimal("10000")  # a plan in hundredths of a yen: rounded toward 10000
    with FakeMeta(world, access_token="meta-token") as fake:
        connector = MetaConnector.from_env(fake.env())
        rows = [PlanRow("meta_ads", "act_888999000", world.campaigns[0].campaign_id, "JPY", Decimal("180"),
                        Decimal("126")),
                PlanRow("meta_ads", "act_888999000", world.campaigns[1].campaign_id, "JPY", Decimal("10000"),
                        Decimal("11000.75"))]
        summary = push_plan(database_url, insert_plan(database_url, rows), {"meta_ads": connector})
        ledger = ledger_rows(database_url, summary.plan_id)
        low = ledger[("meta_ads", "act_888999000", world.campaigns[0].campaign_id)]
        rounded = ledger[("meta_ads", "act_888999000", world.campaigns[1].campaign_id)]
        assert summary.ok and low["status"] == rounded["status"] == "applied"
        assert low["new_daily_budget"] == Decimal("150") and low["requested_daily_budget"] == Decimal("126")
        assert low["guardrail_notes"].startswith("platform_minimum: clipped 126.00 -> 150.00 (by +24.00)")
        assert rounded["new_daily_budget"] == Decimal("11000")
        assert rounded["guardrail_notes"].startswith("currency_unit: clipped 11000.75 -> 11000")
        assert fake.budgets()[("888999000", world.campaigns[0].campaign_id)] == Decimal("150")
        assert fake.budgets()[("888999000", world.campaigns[1].campaign_id)] == Decimal("11000")


def test_one_request_of_changes_keeps_the_accounts_daily_cap_counting_its_own_decreases_and_increases(
        database_url, tmp_path, monkeypatch):
    world = make_world([FakeAccount("5550001111", "USD", "America/New_York")], DAY, DAY, seed=7, campaigns_per_account=3)
    for campaign in world.campaigns:
        campaign.daily_budget, campaign.status, campaign.shared_budget_id = Decimal("100.00"), "active", None
    accounts = tmp_path / "mbo_accounts.toml"
    accounts.write_text('[accounts."google_ads/5550001111"]\ndaily_cap = 310\n')
    monkeypatch.setenv("MBO_ACCOUNTS_FILE", str(accounts))
    down, up, more = (c.campaign_id for c in world.campaigns)
    with FakeGoogleAds(world, developer_token="dev-token") as fake:
        env = {"MBO_GOOGLE_ADS_ENDPOINT": fake.endpoint, "GOOGLE_ADS_DEVELOPER_TOKEN": "dev-token",
               "MBO_GOOGLE_ADS_CUSTOMER_IDS": "5550001111"}
        with GoogleAdsConnector.from_env(env) as connector:
            rows = [PlanRow("google_ads", "5550001111", cid, "USD", Decimal("100.00"), Decimal(new))
                    for cid, new in ((down, "80.00"), (up, "120.00"), (more, "130.00"))]
            summary = push_plan(database_url, insert_plan(database_url, rows), {"google_ads": connector})
        budgets = fake.budgets()
    ledger = ledger_rows(database_url, summary.plan_id)
    # One request: the 20 freed by the cut and the 10 under the cap go to the smaller rise first, then the rest.
    assert [budgets[("5550001111", cid)] for cid in (down, up, more)] == [Decimal("80.00"), Decimal("120.00"),
                                                                          Decimal("110.00")]
    assert sum(budgets.values()) == Decimal("310.00")
    assert ledger[("google_ads", "5550001111", more)]["guardrail_notes"].startswith("daily_cap: clipped 130.00 -> 110.00")
    assert summary.ok
