"""A plan is identified by its inputs: the same history window, data and settings give the same plan id (in
any process, whatever the row order or float noise), any change gives another; a plan is stored once, and the
real asset on unchanged marts names the stored plan instead of planning, explaining and writing a new one."""

import json
import os
import re
import subprocess
import sys
import threading
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pandas as pd
import psycopg
import pytest
from optimize_helpers import plan_metadata, synthetic_marts, write_synthetic_marts

from mbo_pipelines.defs.optimize import store
from mbo_pipelines.defs.optimize.assets import budget_recommendations
from mbo_pipelines.defs.optimize.planning import build_plan, new_plan_id, plan_id_for
from mbo_pipelines.defs.optimize.tables import ensure_plan_tables
from mbo_pipelines.resources import MboResource
from tests.fakes.fake_anthropic import FakeAnthropic

ID_FORMAT = re.compile(r"plan-\d{8}-[0-9a-f]{12}")


@pytest.fixture(scope="module")
def marts():
    daily, campaigns = synthetic_marts()
    campaigns["budget_24h_ago"] = float("nan")
    campaigns.loc[0, "budget_24h_ago"] = round(campaigns.loc[0, "daily_budget"] / 1.1, 2)
    return daily, campaigns


def _id(daily, campaigns, **settings) -> str:
    return plan_id_for(daily, campaigns, settings.pop("reporting_currency", "USD"), **settings)


def test_the_id_names_the_last_history_day_and_a_fingerprint(marts):
    daily, campaigns = marts
    plan_id = _id(daily, campaigns)
    assert ID_FORMAT.fullmatch(plan_id)
    assert plan_id.startswith(f"plan-{max(daily['date_day']):%Y%m%d}-")


def test_the_same_inputs_in_another_shape_give_the_same_id(marts):
    daily, campaigns = marts
    reference = _id(daily, campaigns, total_budget=1234.5, target_marginal_roas=1.0)
    shuffled_daily = daily.sample(frac=1, random_state=5)[list(reversed(daily.columns))]  # rows, columns, index
    shuffled_campaigns = campaigns.sample(frac=1, random_state=6).set_index("campaign_id", drop=False)
    noisy = daily.assign(
        date_day=daily["date_day"].map(date.isoformat),  # ISO text instead of dates
        spend_reporting=daily["spend_reporting"] * (1 + 1e-14),  # float noise far below a millionth
        conversion_value_reporting=daily["conversion_value_reporting"].map(lambda v: Decimal(repr(v))),
        extra_column="not an input",
    )
    summed = 0.1 + 0.2  # 0.30000000000000004
    assert _id(shuffled_daily, shuffled_campaigns, total_budget=1234.5, target_marginal_roas=1.0) == reference
    assert _id(noisy, campaigns, total_budget=1234.5 + 1e-12, target_marginal_roas=1.0) == reference
    assert _id(daily, campaigns, max_change=summed) == _id(daily, campaigns, max_change=0.3)


def test_the_id_is_the_same_in_other_processes(marts):
    """No dependence on string hashing, dict order or the clock: fresh interpreters with other hash seeds agree."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from optimize_helpers import synthetic_marts\n"
        "from mbo_pipelines.defs.optimize.planning import plan_id_for\n"
        "daily, campaigns = synthetic_marts()\n"
        "print(plan_id_for(daily, campaigns, 'USD', 0.25, 1500.0, 2.0))\n"
    )
    daily, campaigns = synthetic_marts()
    expected = plan_id_for(daily, campaigns, "USD", 0.25, 1500.0, 2.0)
    for seed in ("1", "4242"):
        result = subprocess.run(
            [sys.executable, "-c", script, str(Path(__file__).parent)], capture_output=True, text=True, timeout=120,
            env={**os.environ, "PYTHONHASHSEED": seed}, cwd=Path(__file__).parents[2], check=True,
        )
        assert result.stdout.strip() == expected


def test_a_pinned_input_has_a_pinned_id():
    """The canonical form is part of the contract: changing it changes every stored plan's id, so it must be
    deliberate (bump PLAN_IDENTITY_VERSION and update this id)."""
    daily = pd.DataFrame({
        "date_day": [date(2026, 3, 1), date(2026, 3, 2)], "platform": "google_ads", "account_id": "a-1",
        "campaign_id": "c-1", "spend_reporting": [100.0, 120.5], "conversion_value_reporting": [300.25, 310.0],
    })
    campaigns = pd.DataFrame([{
        "platform": "google_ads", "account_id": "a-1", "campaign_id": "c-1", "campaign_name": "Brand",
        "currency": "EUR", "daily_budget": 110.0, "daily_budget_reporting": 118.8, "budget_24h_ago": float("nan"),
    }])
    assert plan_id_for(daily, campaigns, "USD") == "plan-20260302-2cf663ae1140"


def _changed_inputs(daily, campaigns):
    """(name, daily, campaigns, settings): one change each to the data, the window or the settings."""
    first_day, last_day = min(daily["date_day"]), max(daily["date_day"])
    one_more_day = daily[daily["date_day"] == last_day].assign(date_day=last_day + timedelta(days=1))
    yield "spend of one day +0.01", daily.assign(spend_reporting=daily["spend_reporting"].where(
        daily.index != 7, daily["spend_reporting"] + 0.01)), campaigns, {}
    yield "conversion value of one day", daily.assign(conversion_value_reporting=daily["conversion_value_reporting"].where(
        daily.index != 7, 0.0)), campaigns, {}
    yield "one row missing", daily.drop(index=11), campaigns, {}
    yield "window starts a day later", daily[daily["date_day"] != first_day], campaigns, {}
    yield "window ends a day later", pd.concat([daily, one_more_day], ignore_index=True), campaigns, {}
    yield "a current budget", daily, campaigns.assign(daily_budget=campaigns["daily_budget"].where(
        campaigns.index != 1, campaigns["daily_budget"] + 1)), {}
    yield "a reporting budget", daily, campaigns.assign(daily_budget_reporting=campaigns["daily_budget_reporting"].where(
        campaigns.index != 1, campaigns["daily_budget_reporting"] + 1)), {}
    yield "budget 24 hours ago known", daily, campaigns.assign(budget_24h_ago=campaigns["budget_24h_ago"].where(
        campaigns.index != 2, 99.0)), {}
    yield "budget 24 hours ago unknown", daily, campaigns.drop(columns="budget_24h_ago"), {}
    yield "a campaign name", daily, campaigns.assign(campaign_name=campaigns["campaign_name"].where(
        campaigns.index != 3, "renamed")), {}
    yield "a campaign fewer", daily, campaigns.drop(index=4), {}
    yield "reporting currency", daily, campaigns, {"reporting_currency": "EUR"}
    yield "max change", daily, campaigns, {"max_change": 0.2}
    yield "total budget given", daily, campaigns, {"total_budget": float(campaigns["daily_budget_reporting"].sum())}
    yield "total budget", daily, campaigns, {"total_budget": 1000.01}
    yield "target marginal ROAS", daily, campaigns, {"target_marginal_roas": 1.5}
    yield "conversion source", daily, campaigns, {"conversion_source": "deduplicated"}


def test_any_change_to_data_window_or_settings_gives_another_id(marts):
    daily, campaigns = marts
    ids = {"unchanged": _id(daily, campaigns, total_budget=1000.0)}
    for name, changed_daily, changed_campaigns, settings in _changed_inputs(daily, campaigns):
        ids[name] = _id(changed_daily, changed_campaigns, **({"total_budget": 1000.0} | settings))
    ids["no total budget"] = _id(daily, campaigns)  # the sum of the current budgets: another setting
    assert len(set(ids.values())) == len(ids), json.dumps(ids, indent=1)


def test_build_plan_carries_the_id_of_its_inputs_whatever_the_clock(marts):
    daily, campaigns = marts
    morning = build_plan(daily, campaigns, "USD", now=datetime(2026, 3, 2, 8, tzinfo=timezone.utc))
    evening = build_plan(daily.iloc[::-1], campaigns, "USD", now=datetime(2026, 3, 2, 20, tzinfo=timezone.utc))
    assert morning.plan_id == evening.plan_id == _id(daily, campaigns)
    assert build_plan(daily, campaigns, "USD", max_change=0.2).plan_id != morning.plan_id


def test_random_ids_stay_available_for_rollbacks():
    now = datetime(2026, 11, 21, 12, tzinfo=timezone.utc)
    first, second = new_plan_id(now), new_plan_id(now)
    assert first != second and re.fullmatch(r"plan-20261121T120000Z-[0-9a-f]{6}", first)


def _stored(url: str) -> tuple[list, list]:
    with psycopg.connect(url) as conn:
        plans = conn.execute("select * from marts.budget_plans order by plan_id").fetchall()
        rows = conn.execute("select * from marts.budget_recommendations order by plan_id, campaign_id").fetchall()
    return plans, rows


def test_writing_the_same_plan_twice_keeps_one_plan_and_its_rows(new_database, marts):
    url = new_database("plan_identity_store")
    daily, campaigns = marts
    plan = build_plan(daily, campaigns, "USD", now=datetime(2026, 3, 2, 8, tzinfo=timezone.utc))
    again = build_plan(daily, campaigns, "USD", now=datetime(2026, 3, 2, 9, tzinfo=timezone.utc))
    with psycopg.connect(url) as conn:
        assert store.stored_plan(conn, plan.plan_id) is None  # no table yet: no plan
        assert store.write_plan(conn, plan, "first text", "deterministic", {}) is True
    before = _stored(url)
    with psycopg.connect(url) as conn:
        assert store.write_plan(conn, again, "second text", "claude", {}) is False
        assert store.stored_plan(conn, plan.plan_id)["explanation"] == "first text"
    plans, rows = _stored(url)
    assert len(plans) == 1 and len(rows) == len(campaigns)
    assert (plans, rows) == before


def test_two_refreshes_writing_the_same_plan_at_once_store_it_once(new_database, marts):
    """The second insert waits for the first transaction, then finds the plan there instead of failing."""
    url = new_database("plan_identity_race")
    daily, campaigns = marts
    plan = build_plan(daily, campaigns, "USD")
    with psycopg.connect(url) as conn:
        ensure_plan_tables(conn)
    outcome = {}

    def second_refresh():
        try:
            with psycopg.connect(url) as conn:
                outcome["written"] = store.write_plan(conn, plan, "second text", "deterministic", {})
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = error

    with psycopg.connect(url) as first:
        assert store.write_plan(first, plan, "first text", "deterministic", {}) is True
        racer = threading.Thread(target=second_refresh)
        racer.start()
        racer.join(timeout=0.5)
        assert racer.is_alive()  # blocked on the first, uncommitted, plan row
        first.commit()
    racer.join(timeout=30)
    assert outcome == {"written": False}
    plans, rows = _stored(url)
    assert [p[0] for p in plans] == [plan.plan_id] and len(rows) == len(campaigns)


@pytest.fixture(scope="module")
def asset_database(new_database):
    url = new_database("plan_identity_asset")
    daily, campaigns = synthetic_marts(days=40, seed=11)
    write_synthetic_marts(url, daily, campaigns)
    return url


@pytest.fixture(scope="module")
def three_refreshes(asset_database):
    """The asset materialized twice on unchanged marts, then once after a budget changed; Claude on a fake server."""
    resources = {"mbo": MboResource(database_url=asset_database)}
    metadata, claude_calls, stored = [], [], []  # stored: (plans, recommendation rows) after each refresh
    with FakeAnthropic(api_key="sk-ant-plan-identity") as claude, pytest.MonkeyPatch.context() as env:
        claude.reply("The plan moves budget toward the campaigns that return the most.")
        env.setenv("ANTHROPIC_API_KEY", "sk-ant-plan-identity")
        env.setenv("ANTHROPIC_BASE_URL", claude.url)
        env.delenv("MBO_MAX_BUDGET_CHANGE", raising=False)
        for step in range(3):
            if step == 2:
                with psycopg.connect(asset_database) as conn:
                    conn.execute("update marts.dim_campaign set daily_budget = daily_budget + 1, "
                                 "daily_budget_reporting = daily_budget_reporting + 1 where campaign_id = 'go-usd-0'")
            result = dg.materialize([budget_recommendations], resources=resources)
            assert result.success
            metadata.append(plan_metadata(result))
            claude_calls.append(len(claude.requests))
            with psycopg.connect(asset_database) as conn:
                stored.append(conn.execute(
                    "select (select count(*) from marts.budget_plans), (select count(*) from marts.budget_recommendations)"
                ).fetchone())
    return metadata, claude_calls, stored


def test_the_asset_on_unchanged_marts_names_the_stored_plan_and_writes_nothing(three_refreshes, asset_database):
    (first, second, _), claude_calls, stored = three_refreshes
    plan_id = first["plan_id"].value
    assert ID_FORMAT.fullmatch(plan_id)
    assert first["inputs_unchanged"].value is False and second["inputs_unchanged"].value is True
    assert second["plan_id"].value == plan_id  # the push sensor's run key: the same plan is not pushed again
    assert second["inputs_fingerprint"].value == first["inputs_fingerprint"].value
    assert plan_id in second["status"].value and "unchanged" in second["status"].value
    assert second["explanation"].value == first["explanation"].value
    assert second["explanation_source"].value == first["explanation_source"].value == "claude"
    assert second["total_daily_budget"].value == first["total_daily_budget"].value
    assert claude_calls[1] == claude_calls[0] >= 1  # no new explanation asked for
    with psycopg.connect(asset_database) as conn:
        campaigns = conn.execute("select count(*) from marts.dim_campaign").fetchone()[0]
    assert stored[0] == stored[1] == (1, campaigns)  # one plan, its rows not duplicated


def test_the_asset_makes_a_new_plan_when_the_marts_change(three_refreshes, asset_database):
    (first, _, third), claude_calls, _ = three_refreshes
    assert third["inputs_unchanged"].value is False
    assert third["plan_id"].value != first["plan_id"].value
    assert claude_calls[2] > claude_calls[1]
    with psycopg.connect(asset_database) as conn:
        plans = sorted(p for (p,) in conn.execute("select plan_id from marts.budget_plans"))
    assert plans == sorted([first["plan_id"].value, third["plan_id"].value])

