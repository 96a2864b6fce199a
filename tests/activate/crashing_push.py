"""A push (or a rollback and its push) of one plan in a process of its own, which can die at a chosen step.

The crash and concurrency tests run it as a subprocess, against the fake TikTok server their own
process serves (so what the platform took survives the crash)::

    python tests/activate/crashing_push.py PLAN_ID [--crash before-fetch|before-write|after-write --at N]
        [--one-at-a-time] [--write-delay SECONDS] [--wait-for-go] [--rollback --after-applied N]

It builds the real ``TikTokConnector`` from the environment (``MBO_TIKTOK_API_URL``,
``TIKTOK_ACCESS_TOKEN``, ``MBO_TIKTOK_ADVERTISER_IDS``), wraps it in a test-owned proxy at the
platform boundary, and calls ``push_plan`` on ``MBO_DATABASE_URL`` (``MBO_ALLOW_LIVE_BUDGET_CHANGES=1``
must be set for anything to be written). The proxy calls ``os._exit(CRASH_EXIT)``:

- ``before-fetch``: before the Nth ``fetch_campaigns`` (the fresh read before a write);
- ``before-write``: before the Nth budget write is sent;
- ``after-write``: after the platform took the Nth write, before the push hears of it.

``--one-at-a-time`` hides the connector's batch write, so the push reads and writes one change at a
time (as it does with the sandbox); by default TikTok takes the plan's changes as one batch.
``--wait-for-go`` prints ``ready`` once imported and waits for a line on stdin (a start barrier for races).
``--rollback`` makes the rollback plan of PLAN_ID (``create_rollback_plan``) once at least
``--after-applied`` of its changes are applied, and pushes that instead.

Exit codes: 0 with one JSON line on stdout (the pushed plan, ``processed`` and the status counts),
``CRASH_EXIT`` when the proxy killed the process, ``NOTHING_TO_ROLL_BACK`` when ``--rollback`` found no
applied change in time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from decimal import Decimal

# Imported before the start barrier (``--wait-for-go``), so racing processes really start together.
from mbo_pipelines import warehouse
from mbo_pipelines.connectors import BudgetChange, ConnectorError, WriteReceipt
from mbo_pipelines.defs.activate.push import push_plan
from mbo_pipelines.defs.ingest.tiktok_ads.client import TikTokConnector

CRASH_EXIT = 17
NOTHING_TO_ROLL_BACK = 3
STEPS = ("before-fetch", "before-write", "after-write")


class OneAtATime:
    """The connector behind the platform boundary, one budget write per call; dies at the chosen step."""

    def __init__(self, inner, crash: str | None = None, at: int = 1, write_delay: float = 0.0):
        self.inner, self.crash, self.at, self.write_delay = inner, crash, at, write_delay
        self.platform, self.is_live = inner.platform, inner.is_live
        self.last_write = None
        self.fetches = self.writes = 0

    def _die_if(self, step: str, count: int) -> None:
        if self.crash == step and count == self.at:
            os._exit(CRASH_EXIT)  # no cleanup, no flush, no exception handler: the process is just gone

    def fetch_campaign_daily(self, start, end):
        return self.inner.fetch_campaign_daily(start, end)

    def fetch_campaigns(self):
        self.fetches += 1
        self._die_if("before-fetch", self.fetches)
        return self.inner.fetch_campaigns()

    def _write(self, change) -> str | None:
        """Send one change through the real connector; its result (None when applied)."""
        self.writes += 1
        self._die_if("before-write", self.writes)
        if self.write_delay:
            time.sleep(self.write_delay)  # a slow platform: keeps a racing process's window open
        result = self.inner.set_daily_budgets([change])[0]
        self._die_if("after-write", self.writes)
        return result

    def set_daily_budget(self, account_id: str, campaign_id: str, amount: Decimal) -> None:
        error = self._write(BudgetChange(account_id, campaign_id, amount))
        self.last_write = self.inner.last_write
        if error:
            raise ConnectorError(error)


class Batched(OneAtATime):
    """The same proxy keeping the connector's batch write (one call for the plan's changes, sent one by one)."""

    @property
    def supports_validate_only(self) -> bool:
        return self.inner.supports_validate_only

    def set_daily_budgets(self, changes: Sequence, validate_only: bool = False) -> list[str | None]:
        if validate_only:
            result = self.inner.set_daily_budgets(changes, validate_only=True)
            self.last_write = self.inner.last_write
            return result
        results, receipts = [], []
        for change in changes:
            results.append(self._write(change))
            receipts.append(self.inner.last_write)
        self.last_write = WriteReceipt.combine(receipts)
        return results


def _wait_for_rollback(create_rollback_plan, database_url: str, plan_id: str, applied: int,
                       timeout: float = 30.0) -> str | None:
    """Make the rollback plan of ``plan_id`` once it has ``applied`` applied changes; its id, or None on timeout."""
    deadline = time.monotonic() + timeout
    with warehouse.connect(database_url) as conn:
        while time.monotonic() < deadline:
            done = conn.execute("select count(*) from activation.budget_changes where plan_id = %s and status = 'applied'",
                                (plan_id,)).fetchone()[0] if warehouse.table_exists(conn, "activation.budget_changes") else 0
            conn.rollback()
            if done >= applied:
                rollback_id = create_rollback_plan(conn, plan_id)
                conn.commit()
                return rollback_id
            time.sleep(0.02)
    return None


def main(argv: list[str] | None = None) -> int:
    """Run one push as the arguments say (module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plan_id")
    parser.add_argument("--crash", choices=STEPS, default=None)
    parser.add_argument("--at", type=int, default=1, help="the Nth read or write (from 1)")
    parser.add_argument("--one-at-a-time", action="store_true")
    parser.add_argument("--write-delay", type=float, default=0.0, help="seconds each write waits before it is sent")
    parser.add_argument("--wait-for-go", action="store_true")
    parser.add_argument("--rollback", action="store_true")
    parser.add_argument("--after-applied", type=int, default=1)
    args = parser.parse_args(argv)

    database_url = os.environ.get("MBO_DATABASE_URL", "").strip()
    if not database_url:
        parser.error("set MBO_DATABASE_URL to the test database the plan is in")
    if args.rollback:
        # Slow to import (the optimizer's planning): imported only when needed, and before the start barrier.
        from mbo_pipelines.defs.activate.rollback import create_rollback_plan
    if args.wait_for_go:
        print("ready", flush=True)
        sys.stdin.readline()
    plan_id = args.plan_id
    if args.rollback:
        plan_id = _wait_for_rollback(create_rollback_plan, database_url, args.plan_id, args.after_applied)
        if plan_id is None:
            print(json.dumps({"rollback_of": args.plan_id, "plan_id": None}), flush=True)
            return NOTHING_TO_ROLL_BACK
    proxy = OneAtATime if args.one_at_a_time else Batched
    with TikTokConnector.from_env() as tiktok:
        connector = proxy(tiktok, args.crash, args.at, args.write_delay)
        summary = push_plan(database_url, plan_id, {"tiktok_ads": connector}, run_id=f"pid {os.getpid()}")
    counts = {status: n for status, n in summary.counts.items() if n}
    print(json.dumps({"plan_id": plan_id, "processed": summary.processed, "recorded": summary.recorded,
                      "counts": counts}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
