"""The sandbox market: deterministic, in each platform's vocabulary, and a budget set through it changes spend."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from mbo_pipelines.connectors import ConnectorError, PlatformConnector
from mbo_pipelines.sandbox.market import PLATFORMS, generate_campaigns
from mbo_pipelines.sandbox.platforms import SandboxMarket

TODAY = date(2026, 3, 1)


def test_market_shape_matches_the_spec():
    campaigns = generate_campaigns(7)
    for platform in PLATFORMS:
        mine = [c for c in campaigns if c.platform == platform]
        accounts = {c.account_id: c.currency for c in mine}
        assert len(accounts) == 2
        assert any(currency != "USD" for currency in accounts.values())
        for account in accounts:
            assert 5 <= sum(c.account_id == account for c in mine) <= 20
    assert len({(c.platform, c.campaign_id) for c in campaigns}) == len(campaigns)


def test_same_seed_same_numbers(database_url):
    a = SandboxMarket(database_url, seed=11, today=TODAY).connector("meta_ads")
    b = SandboxMarket(database_url, seed=11, today=TODAY).connector("meta_ads")
    window = (date(2026, 1, 1), date(2026, 1, 31))
    assert a.fetch_campaign_daily(*window) == b.fetch_campaign_daily(*window)
    # A day's numbers do not depend on the window it was asked in.
    one_day = a.fetch_campaign_daily(date(2026, 1, 15), date(2026, 1, 15))
    in_month = [r for r in a.fetch_campaign_daily(*window) if r["date_start"] == date(2026, 1, 15)]
    assert one_day == in_month


def test_rows_use_each_platforms_units(database_url):
    market = SandboxMarket(database_url, seed=11, today=TODAY)
    assert isinstance(market.connector("google_ads"), PlatformConnector)
    google = market.connector("google_ads").fetch_campaign_daily(date(2026, 2, 1), date(2026, 2, 1))
    assert google
    assert all(isinstance(r["metrics_cost_micros"], int) for r in google)
    assert all(r["metrics_cost_micros"] % 10_000 == 0 for r in google)  # whole cents in micros
    meta = market.connector("meta_ads").fetch_campaigns()
    assert meta
    assert all(isinstance(r["daily_budget"], int) for r in meta)  # minor units
    tiktok = market.connector("tiktok_ads").fetch_campaigns()
    assert tiktok
    assert all(isinstance(r["budget"], Decimal) for r in tiktok)


def test_no_rows_for_incomplete_days(database_url):
    connector = SandboxMarket(database_url, seed=11, today=TODAY).connector("tiktok_ads")
    assert connector.fetch_campaign_daily(TODAY, TODAY + timedelta(days=3)) == []


def test_budget_set_through_the_sandbox_drives_spend_from_then_on(database_url):
    seed = 12
    before = SandboxMarket(database_url, seed=seed, today=TODAY).connector("google_ads")
    campaign = before.fetch_campaigns()[0]
    account, cid = campaign["customer_id"], campaign["campaign_id"]
    old_budget = campaign["campaign_budget_amount_micros"] / 1e6
    history_before = before.fetch_campaign_daily(TODAY - timedelta(days=5), TODAY - timedelta(days=1))

    before.set_daily_budget(account, cid, Decimal(str(round(old_budget * 1.3, 2))))

    after_market = SandboxMarket(database_url, seed=seed, today=TODAY + timedelta(days=8))
    after = after_market.connector("google_ads")
    assert after_market.current_budgets("google_ads")[cid] == pytest.approx(round(old_budget * 1.3, 2))
    # The past did not change...
    assert after.fetch_campaign_daily(TODAY - timedelta(days=5), TODAY - timedelta(days=1)) == history_before
    # ...and spend from the change on follows the new budget (platforms pace at 93–99%).
    new_days = [r for r in after.fetch_campaign_daily(TODAY, TODAY + timedelta(days=7)) if r["campaign_id"] == cid]
    assert len(new_days) == 8
    for row in new_days:
        spend = row["metrics_cost_micros"] / 1e6
        assert old_budget * 1.3 * 0.92 <= spend <= old_budget * 1.3


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-5"), Decimal("NaN")])
def test_rejects_bad_budgets(database_url, amount):
    connector = SandboxMarket(database_url, seed=13, today=TODAY).connector("tiktok_ads")
    campaign = connector.fetch_campaigns()[0]
    with pytest.raises(ConnectorError, match="positive"):
        connector.set_daily_budget(campaign["advertiser_id"], campaign["campaign_id"], amount)


def test_rejects_unknown_campaign(database_url):
    connector = SandboxMarket(database_url, seed=13, today=TODAY).connector("tiktok_ads")
    with pytest.raises(ConnectorError, match="no campaign 999"):
        connector.set_daily_budget("7100000000001", "999", Decimal("10"))
