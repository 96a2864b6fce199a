"""A push at scale: a plan for 5 000 sandbox campaigns lands on the platforms exactly as planned, in batches
that each read only the accounts they change (a push reads about N campaigns, not N times the platform)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from decimal import Decimal

from activate_helpers import TODAY, insert_plan, ledger_rows, market_rows, scale

from mbo_pipelines.connectors import BudgetChange
from mbo_pipelines.defs.activate import push_plan
from mbo_pipelines.defs.activate.guardrails import live_campaigns
from mbo_pipelines.sandbox.market import PLATFORMS
from mbo_pipelines.sandbox.platforms import SandboxConnector, SandboxMarket

SIZE = 5_000
SEED = 4_001  # this module's own market (the activation fixtures draw seeds from 4101 on)
BATCH = 200


class RecordedReads:
    """A sandbox platform that notes every read: which accounts were asked for (None: all) and how many
    campaigns came back. A wrapper of the platform's own calls, not of MBO's."""

    def __init__(self, inner: SandboxConnector):
        self.inner = inner
        self.platform, self.is_live = inner.platform, inner.is_live
        self.supports_validate_only = inner.supports_validate_only
        self.reads: list[tuple[frozenset[str] | None, int]] = []

    @property
    def last_write(self):
        return self.inner.last_write

    @last_write.setter
    def last_write(self, receipt) -> None:
        self.inner.last_write = receipt

    def fetch_campaign_daily(self, start, end):
        return self.inner.fetch_campaign_daily(start, end)

    def fetch_campaigns(self):
        rows = self.inner.fetch_campaigns()
        self.reads.append((None, len(rows)))
        return rows

    def fetch_campaigns_of(self, account_ids: Collection[str]):
        rows = self.inner.fetch_campaigns_of(account_ids)
        self.reads.append((frozenset(account_ids), len(rows)))
        return rows

    def set_daily_budget(self, account_id: str, campaign_id: str, amount: Decimal) -> None:
        self.inner.set_daily_budget(account_id, campaign_id, amount)

    def set_daily_budgets(self, changes: Sequence[BudgetChange], validate_only: bool = False):
        return self.inner.set_daily_budgets(changes, validate_only=validate_only)


class Lines:
    """A run log that keeps its lines."""

    def __init__(self):
        self.lines: list[tuple[str, str]] = []

    def info(self, text: str) -> None:
        self.lines.append(("info", text))

    def warning(self, text: str) -> None:
        self.lines.append(("warning", text))

    def error(self, text: str) -> None:
        self.lines.append(("error", text))


def test_the_pushed_budgets_equal_the_plan_at_5000_campaigns(database_url):
    market = SandboxMarket(database_url, seed=SEED, today=TODAY, campaigns=SIZE)
    rows = market_rows(market)
    assert len(rows) == SIZE
    # Moves of -20 % .. +19 % (inside the default 30 % limit), every 50th campaign left as it is.
    scale(rows, {i: 0.8 + 0.01 * (i * 37 % 40) for i in range(SIZE) if i % 50})
    changed = [r for r in rows if r.recommended != r.current]
    plan_id = insert_plan(database_url, rows)
    platforms = {p: RecordedReads(market.connector(p)) for p in PLATFORMS}

    log = Lines()

    summary = push_plan(database_url, plan_id, platforms, batch_size=BATCH, log=log)

    assert summary.ok, summary
    assert summary.counts["applied"] == len(changed) == summary.recorded >= 4_500
    # What every platform runs now, read afresh: exactly the plan, the unchanged campaigns included.
    fresh = SandboxMarket(database_url, seed=SEED, today=TODAY, campaigns=SIZE)
    running = {}
    for platform in PLATFORMS:
        live = live_campaigns(platform, fresh.connector(platform).fetch_campaigns())
        running.update({(platform, *key): c.daily_budget for key, c in live.items()})
    assert running == {(r.platform, r.account_id, r.campaign_id): r.recommended for r in rows}
    ledger = ledger_rows(database_url, plan_id)
    assert len(ledger) == len(changed)
    assert all(row["status"] == "applied" and row["attempts"] == 1 for row in ledger.values())
    # The run log says what happened per platform (each line is a Dagster event, a database write), not per change.
    applied = [text for level, text in log.lines if " change(s) applied: " in text]
    assert sorted(text.split(":")[0] for text in applied) == sorted(PLATFORMS)
    assert sum(int(text.split(": ")[1].split()[0]) for text in applied) == len(changed)
    assert len(log.lines) < 10

    # Each batch read only the accounts it changes: never the whole platform, about one read per campaign.
    reads = [read for p in platforms.values() for read in p.reads]
    batches = sum(-(-sum(r.platform == p for r in changed) // BATCH) for p in PLATFORMS)
    assert len(reads) == batches
    assert all(accounts is not None for accounts, _ in reads)
    largest_account = max(len([c for c in market.campaigns() if c.account_id == a])
                          for a in {c.account_id for c in market.campaigns()})
    # An account split between two batches is read by both: at most one account's campaigns extra per batch.
    assert sum(n for _, n in reads) <= SIZE + batches * largest_account
