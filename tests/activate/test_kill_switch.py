"""The kill switch in the database (`mbo kill-switch`): it stops a push that is running before its next write,
every later push, and lets the stopped changes go out once it is released."""

from __future__ import annotations

import pytest
from activate_helpers import PlatformProxy, cents, insert_plan, market_rows, sandbox_change_count, scale

from mbo_pipelines import warehouse
from mbo_pipelines.cli import main
from mbo_pipelines.defs.activate import kill_switch, push_plan


@pytest.fixture
def released(database_url):
    """The switch is released after the test, whatever happens (the database is shared)."""
    yield
    with warehouse.connect(database_url, autocommit=True) as conn:
        kill_switch.set_switch(conn, False, "test cleanup")


class PullsTheSwitchAfterOneWrite(PlatformProxy):
    """The sandbox platform, with an operator who pulls the kill switch right after its first write lands."""

    def __init__(self, inner, database_url: str):
        super().__init__(inner)
        self.database_url, self.writes = database_url, 0

    def set_daily_budget(self, account_id, campaign_id, amount):
        self.inner.set_daily_budget(account_id, campaign_id, amount)
        self.writes += 1
        with warehouse.connect(self.database_url, autocommit=True) as conn:
            kill_switch.set_switch(conn, True, "an operator", "budgets look wrong")


def test_pulling_the_switch_mid_push_stops_the_next_writes_until_it_is_released(
        database_url, market, connectors, released):
    rows = market_rows(market)
    platform = rows[0].platform
    mine = [i for i, r in enumerate(rows) if r.platform == platform][:3]
    scale(rows, dict.fromkeys(mine, 1.1))
    plan_id = insert_plan(database_url, rows)
    pulling = PullsTheSwitchAfterOneWrite(connectors[platform], database_url)

    stopped = push_plan(database_url, plan_id, {**connectors, platform: pulling})

    assert pulling.writes == 1 and not stopped.ok
    assert stopped.counts["applied"] == 1 and stopped.counts["approved"] == 2
    assert stopped.problems == {"approved": 2}

    # Still pulled: a later push sends nothing.
    writes = sandbox_change_count(database_url, market.seed)
    assert push_plan(database_url, plan_id, connectors).counts["approved"] == 2
    assert sandbox_change_count(database_url, market.seed) == writes

    with warehouse.connect(database_url, autocommit=True) as conn:
        kill_switch.set_switch(conn, False, "the operator")
    done = push_plan(database_url, plan_id, connectors)
    assert done.ok and done.counts["applied"] == 3
    assert all(cents(market.current_budgets(platform)[rows[i].campaign_id]) == rows[i].recommended for i in mine)


def test_mbo_kill_switch_pulls_shows_and_releases_it(database_url, monkeypatch, capsys, released):
    monkeypatch.setenv("MBO_DATABASE_URL", database_url)

    assert main(["kill-switch", "on", "--reason", "audit in progress"]) == 0
    pulled = capsys.readouterr().out
    assert pulled.startswith("kill_switch: pulled by ") and "(audit in progress)" in pulled
    assert "`mbo kill-switch off`" in pulled
    assert main(["kill-switch"]) == 0 and capsys.readouterr().out == pulled

    assert main(["kill-switch", "off"]) == 0
    assert capsys.readouterr().out.startswith("kill switch off")
    with warehouse.connect(database_url) as conn:
        assert kill_switch.reason_to_stop(conn) is None


def test_the_environments_switch_wins_over_a_released_database_switch(database_url, monkeypatch, released):
    monkeypatch.setenv("MBO_KILL_SWITCH", "yes")
    with warehouse.connect(database_url, autocommit=True) as conn:
        kill_switch.set_switch(conn, False, "someone")
        assert kill_switch.reason_to_stop(conn).startswith("kill_switch: MBO_KILL_SWITCH=yes")
