"""A push goes out in batches (``MBO_PUSH_BATCH_SIZE``): one fresh read, one newer-plan check and two ledger
transactions per batch, and every safety property kept at the batch's edges.

The platforms are the in-memory TikTok of ``property_platform`` (a test double of the platform, not of MBO):
``BatchReading`` writes one change at a time but lets the push read it once per batch; ``ScriptedBatchPlatform``
takes a batch in one request.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import psycopg
import pytest
from activate_helpers import PlanRow, insert_plan, ledger_rows
from property_platform import CRASH_AFTER, Campaign, Crash, ScriptedBatchPlatform, ScriptedPlatform, Step

from mbo_pipelines.defs.activate import push_plan
from mbo_pipelines.defs.activate.push import batch_size_from_env

CHANGES = 300
BATCH = 40


class BatchReading(ScriptedPlatform):
    """A one-at-a-time platform that offers to be read once per batch of writes."""

    reads_per_batch = True


class NewerPlanAfterWrite(BatchReading):
    """The same platform, where a newer plan of the same campaigns appears right after its ``at``-th write."""

    def __init__(self, *args, database_url: str, rows: list[PlanRow], at: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.database_url, self.rows, self.at, self.newer = database_url, rows, at, None

    def set_daily_budget(self, account_id, campaign_id, amount):
        super().set_daily_budget(account_id, campaign_id, amount)
        if len(self.writes) == self.at:
            self.newer = insert_plan(self.database_url, self.rows)


def _plan(n: int = CHANGES) -> tuple[str, list[PlanRow], dict[str, Campaign]]:
    """An account of its own with ``n`` campaigns at 100.00, each planned at 110.00."""
    account = f"adv-{uuid.uuid4().hex[:12]}"
    rows = [PlanRow("tiktok_ads", account, f"c{i:04d}", "USD", Decimal("100.00"), Decimal("110.00")) for i in range(n)]
    return account, rows, {r.campaign_id: Campaign(Decimal("100.00")) for r in rows}


def _reads(platform: ScriptedPlatform) -> int:
    return platform.calls - len({w.step for w in platform.writes})


@pytest.mark.parametrize("platform_class", [BatchReading, ScriptedBatchPlatform])
def test_a_push_in_small_batches_applies_exactly_the_plan_with_one_receipt_per_change(
        database_url, monkeypatch, platform_class):
    monkeypatch.setenv("MBO_PUSH_BATCH_SIZE", str(BATCH))
    account, rows, campaigns = _plan()
    platform = platform_class(account, campaigns)
    plan_id = insert_plan(database_url, rows)

    summary = push_plan(database_url, plan_id, {"tiktok_ads": platform})

    assert summary.ok and summary.recorded == summary.processed == CHANGES
    assert summary.counts["applied"] == CHANGES
    assert {cid: c.budget for cid, c in platform.campaigns.items()} == {r.campaign_id: r.recommended for r in rows}
    assert sorted(w.campaign_id for w in platform.writes) == sorted(campaigns)  # each written once
    # One fresh read per batch, each before that batch's writes and after the previous batch's.
    batches = -(-CHANGES // BATCH)
    assert _reads(platform) == batches
    assert all(w.read_budget == Decimal("100.00") for w in platform.writes)
    ledger_by_key = ledger_rows(database_url, plan_id)
    assert len(ledger_by_key) == CHANGES
    receipts = {w.campaign_id: f"req-{w.step}" for w in platform.writes}
    for (_, _, campaign_id), row in ledger_by_key.items():
        assert row["status"] == "applied" and row["attempts"] == 1
        assert row["request_id"] == receipts[campaign_id]
    # One write request per change, or one per batch for a platform that takes many.
    per_request = BATCH if platform_class is ScriptedBatchPlatform else 1
    assert len(set(receipts.values())) == -(-CHANGES // per_request)


def test_a_newer_plan_mid_push_stops_the_rest_at_the_next_batch_boundary(database_url):
    account, rows, campaigns = _plan()
    platform = NewerPlanAfterWrite(account, campaigns, database_url=database_url, rows=rows, at=BATCH + 10)
    plan_id = insert_plan(database_url, rows)

    summary = push_plan(database_url, plan_id, {"tiktok_ads": platform}, batch_size=BATCH)

    # The batch the newer plan arrived in was checked before it, so it finishes; nothing after it is sent.
    written = [w.campaign_id for w in platform.writes]
    assert written == [r.campaign_id for r in rows[:2 * BATCH]]
    assert summary.counts["applied"] == 2 * BATCH and summary.counts["superseded"] == CHANGES - 2 * BATCH
    ledger_by_key = ledger_rows(database_url, plan_id)
    assert len(ledger_by_key) == CHANGES
    reason = f"latest_plan: plan {plan_id} is superseded by the newer plan {platform.newer}"
    for row in rows[2 * BATCH:]:
        entry = ledger_by_key[(row.platform, row.account_id, row.campaign_id)]
        assert entry["status"] == "superseded" and entry["error"] == reason and entry["attempts"] == 0
        assert platform.campaigns[row.campaign_id].budget == row.current
    for row in rows[:2 * BATCH]:
        assert ledger_by_key[(row.platform, row.account_id, row.campaign_id)]["request_id"] is not None


def test_a_crash_mid_batch_leaves_the_batch_applying_and_the_resume_writes_nothing_twice(database_url):
    account, rows, campaigns = _plan(3 * BATCH)
    # Calls: 0 is the first batch's read, 1..BATCH its writes; the 10th write lands, then the process dies.
    platform = BatchReading(account, campaigns, script={10: Step(fault=CRASH_AFTER)})
    plan_id = insert_plan(database_url, rows)

    with pytest.raises(Crash):
        push_plan(database_url, plan_id, {"tiktok_ads": platform}, batch_size=BATCH)

    # Every change of the batch was marked applying (its attempt counted) before the first write was sent.
    with psycopg.connect(database_url) as conn:
        statuses = dict(conn.execute(
            "select campaign_id, status || '/' || attempts from activation.budget_changes where plan_id = %s",
            (plan_id,)).fetchall())
    assert statuses == {r.campaign_id: ("applying/1" if i < BATCH else "approved/0") for i, r in enumerate(rows)}
    assert len(platform.writes) == 10

    platform.heal()
    summary = push_plan(database_url, plan_id, {"tiktok_ads": platform}, batch_size=BATCH)

    assert summary.ok and summary.counts["applied"] == 3 * BATCH
    assert sorted(w.campaign_id for w in platform.writes) == sorted(campaigns)  # each written exactly once
    assert {cid: c.budget for cid, c in platform.campaigns.items()} == {r.campaign_id: r.recommended for r in rows}
    with psycopg.connect(database_url) as conn:
        reconciled = conn.execute("select count(*) from activation.budget_changes where plan_id = %s and reconciled",
                                  (plan_id,)).fetchone()[0]
    assert reconciled == 10  # the writes that landed before the crash were read back, not sent again


@pytest.mark.parametrize("value", ["0", "-3", "abc", "2.5"])
def test_a_batch_size_that_is_not_a_whole_number_of_at_least_1_is_an_error(monkeypatch, value):
    monkeypatch.setenv("MBO_PUSH_BATCH_SIZE", value)
    with pytest.raises(ValueError, match="MBO_PUSH_BATCH_SIZE"):
        batch_size_from_env()
    assert batch_size_from_env(7) == 7
