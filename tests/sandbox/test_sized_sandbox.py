"""The sized sandbox (``MBO_SANDBOX_CAMPAIGNS``): deterministic per seed and size, the default market unchanged,
a day's numbers independent of what was simulated before, and budget writes of one row each."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import psycopg
import pytest

from mbo_pipelines.connectors import BudgetChange, send_budget_changes
from mbo_pipelines.resources import mbo_resource_from_env
from mbo_pipelines.sandbox.ga4 import NOT_SET, SandboxGA4
from mbo_pipelines.sandbox.market import PLATFORMS, generate_campaigns, sized_budget_schedules
from mbo_pipelines.sandbox.platforms import SandboxMarket

TODAY = date(2026, 3, 1)
SEED = 53  # this module's own sized markets
#: Hashes of the default market (seed 7) as the sandbox served it before it could be sized: the 51 campaigns'
#: rows for the market's first 20 days and for 20 Jan - 28 Feb 2026, their settings, and GA4 for February.
PINNED = {
    "google_ads/daily": "faa2350a1b980520", "google_ads/campaigns": "417919a5395990ea",
    "meta_ads/daily": "1c626cf76d7e6f29", "meta_ads/campaigns": "707082bcde2ccce3",
    "tiktok_ads/daily": "97618b65cd8288ae", "tiktok_ads/campaigns": "7ea2692539c5a445",
    "ga4": "5a2e256fea64524a",
}


def _hash(rows: list[dict]) -> str:
    return hashlib.sha256(json.dumps(rows, default=str, sort_keys=True).encode()).hexdigest()[:16]


@pytest.fixture(scope="module")
def url(new_database) -> str:
    return new_database("sized_sandbox")


def test_the_default_market_serves_exactly_what_it_served_before(url):
    market = SandboxMarket(url, seed=7, today=TODAY)
    got = {}
    for platform in PLATFORMS:
        connector = market.connector(platform)
        rows = (connector.fetch_campaign_daily(date(2025, 1, 1), date(2025, 1, 20))
                + connector.fetch_campaign_daily(date(2026, 1, 20), date(2026, 2, 28)))
        got[f"{platform}/daily"] = _hash(rows)
        got[f"{platform}/campaigns"] = _hash(connector.fetch_campaigns())
    got["ga4"] = _hash(SandboxGA4(market).fetch_traffic_daily(date(2026, 2, 1), date(2026, 2, 28)))
    assert got == PINNED
    assert len(market.campaigns()) == 51 == len(generate_campaigns(7))


def test_a_sized_market_draws_accounts_round_robin_from_the_default_markets_distributions():
    campaigns = generate_campaigns(SEED, 500)
    assert len(campaigns) == 500 and [c.index for c in campaigns] == list(range(500))
    assert len({c.campaign_id for c in campaigns}) == 500
    accounts = Counter((c.platform, c.account_id) for c in campaigns)
    assert {p for p, _ in accounts} == set(PLATFORMS)
    assert all(5 <= n <= 10 for n in list(accounts.values())[:-1])  # the last account may be cut short
    assert {c.currency for c in campaigns} == {"USD", "EUR", "PLN"}
    for platform, account in accounts:
        mine = {(c.currency, c.timezone) for c in campaigns if (c.platform, c.account_id) == (platform, account)}
        assert len(mine) == 1
    assert {c.timezone for c in campaigns if c.currency == "PLN"} == {"Europe/Warsaw"}
    per_platform = Counter(p for p, _ in accounts)
    assert max(per_platform.values()) - min(per_platform.values()) <= 1


@pytest.mark.parametrize("size", [1, 7])
def test_tiny_sizes_work(url, size):
    market = SandboxMarket(url, seed=SEED, today=TODAY, campaigns=size)
    assert len(market.campaigns()) == size
    day = TODAY - timedelta(days=1)
    rows = [r for p in PLATFORMS for r in market.connector(p).fetch_campaign_daily(day, day)]
    assert len(rows) == size
    assert sum(len(market.connector(p).fetch_campaigns()) for p in PLATFORMS) == size


def test_a_sized_market_is_deterministic_per_seed_and_apart_from_the_default_market(url, new_database):
    window = (date(2026, 2, 1), date(2026, 2, 7))

    def served(database: str, seed: int) -> tuple[list, list]:
        market = SandboxMarket(database, seed=seed, today=TODAY, campaigns=40)
        connector = market.connector("meta_ads")
        return connector.fetch_campaigns(), connector.fetch_campaign_daily(*window)

    first, again, elsewhere = served(url, SEED), served(url, SEED), served(new_database("sized_sandbox_b"), SEED)
    other_seed = served(url, SEED + 1)
    assert first == again == elsewhere
    assert len(first[1]) == 7 * len(first[0]) > 0
    assert first[0] != other_seed[0] and first[1] != other_seed[1]
    with psycopg.connect(url) as conn:
        sizes = dict(conn.execute("select market_size, count(*) from sandbox.campaigns where seed = %s "
                                  "group by market_size", (SEED,)).fetchall())
    assert sizes[40] == 40


def test_a_large_market_lists_its_campaigns(url):
    market = SandboxMarket(url, seed=SEED, today=TODAY, campaigns=5_000)
    listed = [r for p in PLATFORMS for r in market.connector(p).fetch_campaigns()]
    assert len(listed) == 5_000
    assert len({r["campaign_id"] for r in listed}) == 5_000


def test_a_day_is_the_same_whatever_was_simulated_before(url):
    day = date(2026, 1, 15)
    long_run = SandboxMarket(url, seed=SEED, today=TODAY, campaigns=60)
    connector = long_run.connector("google_ads")
    in_window = [r for r in connector.fetch_campaign_daily(day - timedelta(days=30), day + timedelta(days=29))
                 if r["segments_date"] == day]
    after_long = connector.fetch_campaign_daily(day, day)
    direct = SandboxMarket(url, seed=SEED, today=TODAY, campaigns=60).connector("google_ads").fetch_campaign_daily(
        day, day)
    assert direct == after_long == in_window and len(direct) > 5


def test_a_budget_change_takes_effect_from_today_and_leaves_the_past(url):
    market = SandboxMarket(url, seed=SEED, today=TODAY, campaigns=30)
    connector = market.connector("tiktok_ads")
    target = connector.fetch_campaigns()[0]
    account, cid = target["advertiser_id"], target["campaign_id"]
    past = connector.fetch_campaign_daily(TODAY - timedelta(days=3), TODAY - timedelta(days=1))

    connector.set_daily_budget(account, cid, Decimal("777.777"))

    assert connector.last_write.response == f"set daily_budget=777.78 from {TODAY}"
    assert market.current_budgets("tiktok_ads")[cid] == 777.78
    later = SandboxMarket(url, seed=SEED, today=TODAY + timedelta(days=4), campaigns=30).connector("tiktok_ads")
    assert later.fetch_campaign_daily(TODAY - timedelta(days=3), TODAY - timedelta(days=1)) == past
    spends = [r["spend"] for r in later.fetch_campaign_daily(TODAY, TODAY + timedelta(days=3)) if r["campaign_id"] == cid]
    assert len(spends) == 4 and all(Decimal("0.92") * Decimal("777.78") <= s <= Decimal("777.78") for s in spends)


def test_a_batch_of_budget_changes_is_stored_in_one_go_with_a_receipt_per_change(url):
    market = SandboxMarket(url, seed=SEED, today=TODAY, campaigns=45)
    connector = market.connector("meta_ads")
    first, second = connector.fetch_campaigns()[:2]
    account = f"act_{first['account_id']}"
    changes = [BudgetChange(account, first["campaign_id"], Decimal("41")),
               BudgetChange(account, "999", Decimal("42")),
               BudgetChange(f"act_{second['account_id']}", second["campaign_id"], Decimal("-1")),
               BudgetChange(f"act_{second['account_id']}", second["campaign_id"], Decimal("43.005"))]

    results = send_budget_changes(connector, changes)

    assert results[0] is None and results[3] is None
    assert results[1] == f"ConnectorError: meta_ads: no campaign 999 in account {account}"
    assert results[2].startswith("ConnectorError: ") and "positive" in results[2]
    answers = connector.last_write.response.split(" | ")
    assert len(set(connector.last_write.request_id.split(", "))) == 4
    assert answers[0] == f"set daily_budget=41.00 from {TODAY}" and answers[3] == f"set daily_budget=43.01 from {TODAY}"
    assert answers[1].startswith("refused: ") and answers[2].startswith("refused: ")
    budgets = market.current_budgets("meta_ads")
    assert (budgets[first["campaign_id"]], budgets[second["campaign_id"]]) == (41.0, 43.01)
    assert send_budget_changes(connector, changes, validate_only=True) == [None] * 4


def test_ga4_sees_one_untagged_campaign_per_account_of_a_sized_market(url):
    market = SandboxMarket(url, seed=SEED, today=TODAY, campaigns=100)
    traits = SandboxGA4(market).traits()
    accounts = {(c.platform, c.account_id) for c in market.campaigns()}
    assert sorted((p, a) for (p, a, _), t in traits.items() if t.session_campaign_name == NOT_SET) == sorted(accounts)
    day = TODAY - timedelta(days=1)
    rows = SandboxGA4(market).fetch_traffic_daily(day, day)
    assert {r["session_source_medium"] for r in rows} >= {"google / cpc", "tiktok / paid_social"}


def test_the_size_comes_from_the_environment(monkeypatch):
    # A URL that is never connected to: building connectors must not start the default embedded server.
    monkeypatch.setenv("MBO_DATABASE_URL", "postgresql://unused@127.0.0.1:1/unused")
    monkeypatch.delenv("MBO_SANDBOX_CAMPAIGNS", raising=False)
    assert mbo_resource_from_env().sandbox_campaigns is None
    monkeypatch.setenv("MBO_SANDBOX_CAMPAIGNS", "250")
    resource = mbo_resource_from_env()
    assert resource.sandbox_campaigns == 250
    assert resource.connector("google_ads").market.size == 250
    from mbo_pipelines.defs.activate import ActivationResource

    activation = ActivationResource(**resource.model_dump())
    assert activation.connectors()["meta_ads"].market.size == 250
    monkeypatch.setenv("MBO_SANDBOX_CAMPAIGNS", "0")
    with pytest.raises(ValueError, match="MBO_SANDBOX_CAMPAIGNS"):
        mbo_resource_from_env()
    with pytest.raises(ValueError, match="whole number of campaigns"):
        SandboxMarket("postgresql://unused", campaigns=0)


def test_a_sized_markets_budget_schedules_are_drawn_together_and_each_depends_on_its_campaign_only():
    campaigns = generate_campaigns(SEED, 2_500)  # three blocks of schedules
    end = date(2026, 3, 1)
    together = sized_budget_schedules(campaigns, SEED, end)
    # One campaign alone, drawn further, or in another company: the same days.
    for i in (0, 999, 1_000, 2_499):
        alone = sized_budget_schedules([campaigns[i]], SEED, end + timedelta(days=400))
        assert np.array_equal(alone[0, : together.shape[1]], together[i])
    assert np.array_equal(sized_budget_schedules(campaigns[::-1], SEED, end)[::-1], together)
    assert not np.array_equal(sized_budget_schedules(campaigns, SEED + 1, end), together)
    # The advertiser's rules: steps of 10-25 days, levels within 0.5-1.8 of the base budget, not all the same.
    base = np.array([c.base_budget for c in campaigns])[:, None]
    assert (together >= np.round(0.5 * base, 2) - 0.01).all() and (together <= np.round(1.8 * base, 2) + 0.01).all()
    for row in together[:50]:
        changes = np.flatnonzero(np.diff(row)) + 1
        runs = np.diff(np.concatenate([[0], changes]))
        # (Two steps can land on the same level, clamped: their runs merge. The last run is cut at ``end``.)
        assert len(runs) > 10 and runs[:-1].min() >= 10 and 10 <= np.median(runs) <= 25
    # The market serves them: a sized market's budgets before any change are these schedules.
    assert len({float(v) for v in together[:, -1]}) > 2_000
