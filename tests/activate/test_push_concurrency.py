"""Pushes racing each other in separate processes against one fake TikTok server: two pushes of the same plan,
and a push of a plan racing the push of its rollback.

Both processes load and wait at a start barrier, then go together; the platform is slow to take each write
so the other process acts while a write is in flight. Races interleave differently from run to run, so
the tests assert what must hold whatever the order: every change written at most once, every row settled,
and the ledger's applied changes, in order, exactly the writes the platform took.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pytest
from test_push_crashes import (
    ACTIVE,
    FACTORS,
    PAUSED,
    TikTokAccount,
    assert_events_consistent,
    empty_ledger,
    outcome,
    plan_for,
    rows_by_campaign,
    start_push,
    tiktok_account,
)

from mbo_pipelines.defs.activate.ledger import APPLIED, ROLLED_BACK, SKIPPED, SUPERSEDED, TERMINAL, TOOK_EFFECT

#: Seconds the platform takes to accept each write.
WRITE_DELAY = "0.25"
TIMEOUT = 60


@pytest.fixture(scope="module")
def own_database(new_database) -> str:
    """A database of this module's own (plans and rollbacks of other tests never newer than ours)."""
    return new_database("push_concurrency")


@pytest.fixture(autouse=True)
def _empty_ledger_after(own_database):
    yield
    empty_ledger(own_database)


@pytest.fixture
def tiktok(own_database, tmp_path) -> Iterator[TikTokAccount]:
    with tiktok_account(own_database, tmp_path) as account:
        yield account


def race(*processes: subprocess.Popen) -> list[tuple[int, str, str]]:
    """Release processes waiting at their start barrier together; (exit code, stdout, stderr) of each."""
    try:
        for process in processes:
            assert process.stdout.readline().strip() == "ready", process.stderr.read()
        for process in processes:
            process.stdin.write("go\n")
            process.stdin.flush()
        results = []
        for process in processes:
            stdout, stderr = process.communicate(timeout=TIMEOUT)
            results.append((process.returncode, stdout, stderr))
        return results
    finally:
        for process in processes:  # none is left waiting at the barrier, or hanging, when the test fails
            if process.poll() is None:
                process.kill()
                process.wait()


def assert_ledger_is_the_platforms_history(database_url: str, account: TikTokAccount, plan_ids: list[str],
                                           before: dict[str, Decimal]) -> None:
    """For each campaign, the plans' changes that took effect, in the order they did, are exactly the writes the
    platform took (so none was sent twice, and none is missing), and the platform runs the last of them (or
    the budget it had before, when none took effect)."""
    with psycopg.connect(database_url) as conn:
        took_effect = conn.execute(
            "select campaign_id, new_daily_budget from activation.budget_changes"
            " where plan_id = any(%s) and status = any(%s) order by applied_at, change_id",
            (plan_ids, list(TOOK_EFFECT)),
        ).fetchall()
    writes = account.writes()
    assert all(code == 0 for _, _, code in writes), writes
    for campaign in FACTORS:
        ledger_says = [budget for c, budget in took_effect if c == campaign]
        assert [budget for c, budget, _ in writes if c == campaign] == ledger_says, f"campaign {campaign}"
        assert account.budgets()[campaign] == (ledger_says[-1] if ledger_says else before[campaign])


@pytest.mark.parametrize("shape", [[], ["--one-at-a-time"], []], ids=["batch", "one at a time", "batch again"])
def test_two_pushes_of_one_plan_write_each_change_once(own_database, tiktok, shape):
    plan_id = plan_for(own_database, tiktok)
    before = tiktok.budgets()
    results = race(*(start_push(plan_id, tiktok.env, "--wait-for-go", "--write-delay", WRITE_DELAY, *shape)
                     for _ in range(2)))
    assert [code for code, _, _ in results] == [0, 0], [stderr for _, _, stderr in results]
    # One push holds the plan's lock and settles every change; the other waits for it and finds nothing to do.
    done = sorted((outcome(stdout)["recorded"], outcome(stdout)["processed"]) for _, stdout, _ in results)
    assert done == [(0, 0), (len(FACTORS), len(FACTORS))]
    rows = rows_by_campaign(own_database, plan_id)
    assert {c: r.status for c, r in rows.items()} == {**dict.fromkeys(ACTIVE, APPLIED), PAUSED: SKIPPED}
    assert sorted(c for c, _, _ in tiktok.writes()) == sorted(ACTIVE)
    assert all(r.attempts == (1 if c in ACTIVE else 0) for c, r in rows.items())
    assert_ledger_is_the_platforms_history(own_database, tiktok, [plan_id], before)
    assert_events_consistent(own_database, plan_id)


@pytest.mark.parametrize("after_applied", [1, 2, 3])
def test_a_push_racing_its_own_rollback_leaves_ledger_and_platform_in_agreement(own_database, tiktok, after_applied):
    plan_id = plan_for(own_database, tiktok)
    before = tiktok.budgets()
    slow = ["--one-at-a-time", "--write-delay", WRITE_DELAY, "--wait-for-go"]
    # The rollback is made as soon as the push has applied ``after_applied`` changes, while it goes on.
    (push_code, _, push_err), (rollback_code, rollback_out, rollback_err) = race(
        start_push(plan_id, tiktok.env, *slow),
        start_push(plan_id, tiktok.env, *slow, "--rollback", "--after-applied", str(after_applied)),
    )
    assert push_code == 0, push_err
    assert rollback_code == 0, rollback_err
    rollback_id = outcome(rollback_out)["plan_id"]

    pushed, rollback = rows_by_campaign(own_database, plan_id), rows_by_campaign(own_database, rollback_id)
    assert all(r.status in TERMINAL for r in [*pushed.values(), *rollback.values()])
    assert len(rollback) >= after_applied
    for campaign, undo in rollback.items():
        # A rollback row exists only for a change that had taken effect, and restores the budget before it.
        assert pushed[campaign].status in TOOK_EFFECT
        assert undo.new_daily_budget == before[campaign] and undo.old_daily_budget == pushed[campaign].new_daily_budget
        assert undo.status == APPLIED
    # Restored changes are rolled_back, and only those.
    assert {c for c, r in pushed.items() if r.status == ROLLED_BACK} == set(rollback)
    # The rest of the plan was applied before the rollback plan existed, or dropped as superseded by it.
    assert {r.status for c, r in pushed.items() if c in ACTIVE and c not in rollback} <= {APPLIED, SUPERSEDED}
    assert pushed[PAUSED].status in (SKIPPED, SUPERSEDED)
    assert_ledger_is_the_platforms_history(own_database, tiktok, [plan_id, rollback_id], before)
    assert_events_consistent(own_database, plan_id)
    assert_events_consistent(own_database, rollback_id)
