"""Sandbox faults: each kind changes exactly what it says on exactly its days, chosen the same way per seed."""

import os
import re
from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import pytest

from mbo_pipelines import config_check
from mbo_pipelines.embedded_db import free_port
from mbo_pipelines.resources import MboResource, mbo_resource_from_env
from mbo_pipelines.sandbox.faults import (
    CAMPAIGN_KINDS,
    FAULT_KINDS,
    RESTATEMENT_FACTOR,
    SPIKE_FACTOR,
    Fault,
    choose_target,
    resolve_faults,
)
from mbo_pipelines.sandbox.ga4 import NOT_SET, PAID_SOURCE_MEDIUMS, SandboxGA4
from mbo_pipelines.sandbox.market import PLATFORMS, generate_campaigns
from mbo_pipelines.sandbox.platforms import SandboxMarket

TODAY = date(2026, 3, 1)
WINDOW = (TODAY - timedelta(days=10), TODAY - timedelta(days=1))
# Per platform: the row's account and date fields, then spend, impressions, clicks, conversions, value.
FIELDS = {
    "google_ads": ("customer_id", "segments_date", "metrics_cost_micros", "metrics_impressions", "metrics_clicks",
                   "metrics_conversions", "metrics_conversions_value"),
    "meta_ads": ("account_id", "date_start", "spend", "impressions", "clicks", "actions", "action_values"),
    "tiktok_ads": ("advertiser_id", "stat_time_day", "spend", "impressions", "clicks", "conversion",
                   "total_purchase_value"),
}
Key = tuple[str, str, str, date]  # platform, account (Meta's without act_), campaign, day


def _metrics(platform: str, row: dict) -> np.ndarray:
    """spend, impressions, clicks, conversions, value of a raw row, as numbers in account currency."""
    spend, impressions, clicks, conversions, value = (row[f] for f in FIELDS[platform][2:])
    if platform == "google_ads":
        spend /= 1_000_000
    if platform == "meta_ads":
        conversions, value = conversions[0]["value"], value[0]["value"]
    return np.array([float(x) for x in (spend, impressions, clicks, conversions, value)])


def _rows(market: SandboxMarket, window: tuple[date, date] = WINDOW) -> dict[Key, dict]:
    """Every platform's raw rows of ``window``, by key."""
    rows = {}
    for platform in PLATFORMS:
        account, day = FIELDS[platform][:2]
        for row in market.connector(platform).fetch_campaign_daily(*window):
            key = (platform, str(row[account]), row["campaign_id"], row[day])
            assert key not in rows
            rows[key] = row
    return rows


def _in(fault: Fault, key: Key) -> bool:
    """Whether the row ``key`` is in the fault's scope and days."""
    platform, account, campaign, day = key
    return (platform == fault.platform
            and (fault.account_id is None or account == fault.account_id.removeprefix("act_"))
            and fault.campaign_id in (None, campaign)
            and fault.start <= day <= (fault.last or day))


def _assert_changes(clean: dict[Key, dict], faulty: dict[Key, dict], fault: Fault,
                    change: Callable[[np.ndarray], np.ndarray | None]) -> int:
    """Every row outside the fault is exactly the clean one; every row inside has the clean metrics
    ``change``d (None: no row), the rest of the row as it was. The number of rows inside."""
    assert set(faulty) <= set(clean)
    inside = 0
    for key, row in clean.items():
        if not _in(fault, key):
            assert faulty.get(key) == row, key
            continue
        inside += 1
        expected = change(_metrics(key[0], row))
        if expected is None:
            assert key not in faulty, key
            continue
        metric_fields = FIELDS[key[0]][2:]
        assert {k: v for k, v in faulty[key].items() if k not in metric_fields} == \
               {k: v for k, v in row.items() if k not in metric_fields}
        assert _metrics(key[0], faulty[key]) == pytest.approx(expected, abs=0.011), key
    return inside


def _pair(database_url: str, seed: int, faults, today: date = TODAY) -> tuple[SandboxMarket, SandboxMarket]:
    return (SandboxMarket(database_url, seed=seed, today=today),
            SandboxMarket(database_url, seed=seed, today=today, faults=faults))


def _ga4(market: SandboxMarket) -> dict[tuple, dict]:
    rows = SandboxGA4(market).fetch_traffic_daily(*WINDOW)
    return {(r["date"], r["session_source_medium"], r["session_campaign_name"]): r for r in rows}


def _ga4_name(market: SandboxMarket, fault: Fault) -> str:
    name = SandboxGA4(market).traits()[(fault.platform, fault.account_id, fault.campaign_id)].session_campaign_name
    assert name != NOT_SET  # the seed picks a tagged campaign, so its GA4 rows are its own
    return name


def test_tracking_break_zeroes_the_platforms_conversions_from_its_start(database_url):
    clean, faulty = _pair(database_url, 901, "tracking_break@-3")
    [fault] = faulty.faults
    assert (fault.kind, fault.start, fault.last) == ("tracking_break", TODAY - timedelta(days=3), None)
    inside = _assert_changes(_rows(clean), _rows(faulty), fault, lambda m: m * [1, 1, 1, 0, 0])
    assert inside == 3
    assert _ga4(faulty) == _ga4(clean)  # GA4's own tag still counts


def _whole_counts(factors: list[float]) -> Callable[[np.ndarray], np.ndarray]:
    """Metrics x ``factors``, impressions and clicks rounded to whole numbers (clicks x 1.8 is not a count)."""
    def change(m: np.ndarray) -> np.ndarray:
        out = m * factors
        out[1:3] = np.round(out[1:3])
        return out
    return change


@pytest.mark.parametrize(("spec", "kind", "factor", "factors"), [
    ("tracking_break*0.25@-3", "tracking_break", 0.25, [1, 1, 1, 0.25, 0.25]),
    ("spend_spike*1.8@-3", "spend_spike", 1.8, [1.8, 1.8, 1.8, 1, 1]),
])
def test_a_graded_fault_multiplies_by_its_factor_and_keeps_counts_whole(database_url, spec, kind, factor, factors):
    clean, faulty = _pair(database_url, 905, spec)
    [fault] = faulty.faults
    assert (fault.kind, fault.factor, fault.multiplier) == (kind, factor, factor)
    assert _assert_changes(_rows(clean), _rows(faulty), fault, _whole_counts(factors)) == 3


def test_spend_spike_triples_spend_impressions_and_clicks_and_ga4_sessions(database_url):
    clean, faulty = _pair(database_url, 902, "spend_spike@-4")
    [fault] = faulty.faults
    assert (fault.kind, fault.start, fault.last) == ("spend_spike", TODAY - timedelta(days=4), None)
    spike = [SPIKE_FACTOR] * 3 + [1, 1]
    assert _assert_changes(_rows(clean), _rows(faulty), fault, lambda m: m * spike) == 4

    name, mediums = _ga4_name(clean, fault), PAID_SOURCE_MEDIUMS[fault.platform]
    before, after = _ga4(clean), _ga4(faulty)
    assert set(before) == set(after)
    spiked = 0
    for key, row in before.items():
        day, medium, campaign = key
        if campaign == name and medium in mediums and day >= fault.start:
            assert (after[key]["key_events"], after[key]["total_revenue"]) == (row["key_events"], row["total_revenue"])
            spiked += 1
        else:
            assert after[key] == row, key
    assert spiked == 4 * len(mediums)
    for day in {d for d, _, _ in before if d >= fault.start}:
        sessions = [sum(rows[(day, m, name)]["sessions"] for m in mediums) for rows in (before, after)]
        assert abs(sessions[1] - SPIKE_FACTOR * sessions[0]) <= 2  # rounding of sessions = clicks x landing rate


def test_zero_delivery_drops_the_campaigns_rows_and_ga4_traffic_but_keeps_it_active(database_url):
    clean, faulty = _pair(database_url, 903, "zero_delivery@-2")
    [fault] = faulty.faults
    assert _assert_changes(_rows(clean), _rows(faulty), fault, lambda m: None) == 2

    name, mediums = _ga4_name(clean, fault), PAID_SOURCE_MEDIUMS[fault.platform]
    before, after = _ga4(clean), _ga4(faulty)
    gone = {k for k in before if k[2] == name and k[1] in mediums and k[0] >= fault.start}
    assert len(gone) == 2 * len(mediums) and set(after) == set(before) - gone
    assert all(after[k] == before[k] for k in after)

    listed = {r["campaign_id"]: r for r in faulty.connector(fault.platform).fetch_campaigns()}
    assert listed == {r["campaign_id"]: r for r in clean.connector(fault.platform).fetch_campaigns()}
    assert fault.campaign_id in listed


def test_missing_day_is_missing_the_day_after_and_back_as_late_data_later(database_url):
    day = TODAY - timedelta(days=3)
    fresh_clean, fresh = _pair(database_url, 904, f"missing_day@{day}", today=day + timedelta(days=1))
    later_clean, later = _pair(database_url, 904, f"missing_day@{day}", today=day + timedelta(days=2))
    [fault] = fresh.faults
    assert fault == Fault("missing_day", fault.platform, None, None, day, day) and later.faults == [fault]
    assert _assert_changes(_rows(fresh_clean), _rows(fresh), fault, lambda m: None) > 5
    assert _rows(later) == _rows(later_clean)
    assert any(k[0] == fault.platform and k[3] == day for k in _rows(later))
    assert _ga4(fresh) == _ga4(fresh_clean)


def test_missing_day_defaults_to_the_last_complete_day(database_url):
    clean, faulty = _pair(database_url, 904, "missing_day")
    [fault] = faulty.faults
    assert (fault.start, fault.last) == (TODAY - timedelta(days=1),) * 2
    assert _assert_changes(_rows(clean), _rows(faulty), fault, lambda m: None) > 5


def test_restatement_doubles_an_accounts_day_only_when_fetched_later(database_url):
    day = TODAY - timedelta(days=4)
    fresh_clean, fresh = _pair(database_url, 905, f"restatement@{day}", today=day + timedelta(days=1))
    later_clean, later = _pair(database_url, 905, f"restatement@{day}", today=day + timedelta(days=3))
    [fault] = later.faults
    assert (fault.kind, fault.campaign_id, fault.start, fault.last) == ("restatement", None, day, day)
    assert _rows(fresh) == _rows(fresh_clean)
    doubled = _assert_changes(_rows(later_clean), _rows(later), fault, lambda m: m * RESTATEMENT_FACTOR)
    assert doubled == sum(c.account_id == fault.account_id for c in later.campaigns())
    assert _ga4(later) == _ga4(later_clean)


def test_restatement_defaults_to_two_days_back_and_shows_today(database_url):
    clean, faulty = _pair(database_url, 905, "restatement")
    [fault] = faulty.faults
    assert (fault.start, fault.last) == (TODAY - timedelta(days=2),) * 2
    assert _assert_changes(_rows(clean), _rows(faulty), fault, lambda m: m * RESTATEMENT_FACTOR) >= 5


def test_same_seed_and_spec_same_faults_and_rows(database_url):
    spec = "tracking_break,spend_spike@-3,zero_delivery@2026-02-25,missing_day@-2,restatement"
    a = SandboxMarket(database_url, seed=906, today=TODAY, faults=spec)
    b = SandboxMarket(database_url, seed=906, today=TODAY, faults=spec)
    assert a.faults == b.faults and [f.kind for f in a.faults] == list(FAULT_KINDS)
    assert _rows(a) == _rows(b) != _rows(SandboxMarket(database_url, seed=906, today=TODAY))
    assert _ga4(a) == _ga4(b)
    # Resolved faults passed back as a list give the same market.
    assert _rows(SandboxMarket(database_url, seed=906, today=TODAY, faults=a.faults)) == _rows(a)


@pytest.mark.parametrize("seed", [7, 11, 906])
def test_targets_are_well_budgeted_and_differ_per_kind(seed):
    campaigns = generate_campaigns(seed)
    targets = [choose_target(kind, campaigns, seed) for kind in CAMPAIGN_KINDS]
    assert len(set(targets)) == 3
    for platform, account_id, campaign_id in targets:
        [c] = [c for c in campaigns if (c.platform, c.account_id, c.campaign_id) == (platform, account_id, campaign_id)]
        peers = [p.base_budget for p in campaigns if p.currency == c.currency]
        assert c.base_budget >= np.median(peers)
    assert choose_target("missing_day", campaigns, seed)[1:] == (None, None)
    platform, account_id, campaign_id = choose_target("restatement", campaigns, seed)
    assert campaign_id is None and any(c.account_id == account_id and c.platform == platform for c in campaigns)
    assert choose_target("spend_spike", campaigns, seed) == choose_target("spend_spike", generate_campaigns(seed), seed)


def test_a_kind_named_twice_gets_two_targets():
    campaigns = generate_campaigns(7)
    faults = resolve_faults("spend_spike@-5,spend_spike@2026-02-20", campaigns, 7, TODAY)
    assert [f.start for f in faults] == [TODAY - timedelta(days=5), date(2026, 2, 20)]
    assert faults[0].campaign_id != faults[1].campaign_id


@pytest.mark.parametrize(("spec", "item"), [
    ("spend_spik", "spend_spik"), ("tracking_break,bogus@-1", "bogus@-1"), ("spend_spike@yesterday", "spend_spike@yesterday"),
    ("missing_day@-0", "missing_day@-0"), ("restatement@2026-02-30", "restatement@2026-02-30"),
    ("tracking_break*1.5@-2", "tracking_break*1.5@-2"), ("spend_spike*0.5", "spend_spike*0.5"),
    ("restatement*1", "restatement*1"), ("zero_delivery*0.5", "zero_delivery*0.5"), ("spend_spike*x", "spend_spike*x"),
    ("spend_spike*nan", "spend_spike*nan"),
])
def test_a_bad_spec_names_the_item_the_kinds_and_the_syntax(database_url, spec, item):
    with pytest.raises(ValueError) as raised:
        SandboxMarket(database_url, seed=907, today=TODAY, faults=spec)
    message = str(raised.value)
    assert repr(item) in message and "kind[*FACTOR][@START][=TARGET]" in message and "\n" not in message
    assert all(kind in message for kind in FAULT_KINDS)


@pytest.mark.parametrize("spec", [None, "", "  ", "none", " None "])
def test_none_is_no_faults(database_url, spec):
    market = SandboxMarket(database_url, seed=908, today=TODAY, faults=spec)
    assert market.faults == []
    assert _rows(market) == _rows(SandboxMarket(database_url, seed=908, today=TODAY))


def test_fault_scopes_are_checked():
    day = TODAY - timedelta(days=1)
    with pytest.raises(ValueError, match="scoped to a platform"):
        Fault("missing_day", "meta_ads", "act_100200300", None, day)
    with pytest.raises(ValueError, match="scoped to a campaign"):
        Fault("spend_spike", "meta_ads", "act_100200300", None, day)
    with pytest.raises(ValueError, match="valid kinds"):
        Fault("outage", "meta_ads", None, None, day)
    assert Fault("restatement", "meta_ads", "act_100200300", None, day).last == day
    assert Fault("tracking_break", "meta_ads", "act_100200300", "1", day).last is None


def test_the_resource_passes_the_env_spec_through(database_url, monkeypatch):
    monkeypatch.setenv("MBO_SANDBOX_FAULTS", " zero_delivery@-2 ")
    resource = mbo_resource_from_env()
    assert resource.sandbox_faults == "zero_delivery@-2"
    market = MboResource(database_url=database_url, sandbox_seed=909, sandbox_today=TODAY.isoformat(),
                         sandbox_faults=resource.sandbox_faults)._sandbox_market()
    assert [(f.kind, f.start) for f in market.faults] == [("zero_delivery", TODAY - timedelta(days=2))]
    monkeypatch.setenv("MBO_SANDBOX_FAULTS", "none")
    assert mbo_resource_from_env().sandbox_faults == "none"


def test_a_bad_env_spec_is_one_mbo_check_line(monkeypatch, tmp_path):
    for name in [n for n in os.environ if n.startswith(("MBO_", "DAGSTER_HOME"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MBO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MBO_PG_PORT", str(free_port()))
    monkeypatch.setenv("MBO_SANDBOX_FAULTS", "spend_spike@soon")
    with pytest.raises(ValueError, match=re.escape("MBO_SANDBOX_FAULTS: bad sandbox fault 'spend_spike@soon'")):
        mbo_resource_from_env()
    [problem] = config_check.check_settings()
    assert problem.variable == "MBO_SANDBOX_FAULTS" and problem.fatal and "\n" not in str(problem)
    assert "unset it" in str(problem)
