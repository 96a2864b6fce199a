"""A push killed (``os._exit``) at each step, then resumed: nothing applied twice, nothing lost, the ledger right.

Each crash runs ``crashing_push.py`` in a process of its own against a fake TikTok server this process serves, so
the platform keeps what it took when the push dies. The resume is another process: the same script
without a crash, or ``mbo push --resume`` through the CLI. The script's processes are forked from one that has
imported its modules once (tests/fork_server.py): each still dies alone, at its step, with ``os._exit``. Then
every row of the plan is settled, each campaign got exactly one budget write (a write the dead push never sent is
sent once by the resume), the platform runs every applied row's budget, a write the dead push sent but never
recorded is ``applied`` by reading it back (``reconciled``), and each row's events form one unbroken chain of
allowed moves.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from activate_helpers import PlanRow, cents, insert_plan

from mbo_pipelines.defs.activate import ledger
from mbo_pipelines.defs.activate.ledger import (
    APPLIED,
    APPLYING,
    APPROVED,
    FAILED,
    PENDING_APPROVAL,
    PROPOSED,
    REFUSED,
    REJECTED,
    ROLLED_BACK,
    SKIPPED,
    SUPERSEDED,
    TOOK_EFFECT,
)
from tests.fakes.ad_world import FakeAccount, make_world
from tests.fakes.fake_tiktok import FakeTikTok
from tests.fork_server import ForkServer
from tests.live.live_helpers import mbo_env, run_mbo

SCRIPT = Path(__file__).with_name("crashing_push.py")
ROOT = Path(__file__).resolve().parents[2]
CRASH_EXIT = 17
TOKEN = "tt-crash-token-5b1d"
DAY = date(2026, 2, 1)
#: Campaigns 1000-1002 are active, 1003 paused (make_world pauses an account's last campaign).
FACTORS = {"1000": 1.2, "1001": 0.9, "1002": 1.1, "1003": 1.1}
ACTIVE = ("1000", "1001", "1002")
PAUSED = "1003"
#: A fresh advertiser per test: the ledger's 24-hour and cooldown rules never see another test's changes.
_ADVERTISERS = itertools.count(7_310_000_000_001)

#: The moves a ledger row may make (``ledger`` module docstring); None: the row is recorded.
TRANSITIONS = {
    None: {PROPOSED},
    PROPOSED: {APPROVED, PENDING_APPROVAL},
    PENDING_APPROVAL: {APPROVED, REJECTED},
    APPROVED: {APPLYING, FAILED, REFUSED, SKIPPED, SUPERSEDED},
    # Sent again (attempts + 1) after a read-back showed the platform never took it.
    APPLYING: {APPLYING, APPLIED, FAILED, REFUSED, SKIPPED, SUPERSEDED},
    APPLIED: {ROLLED_BACK},
}


# --- helpers the concurrency tests share ---------------------------------------------------------------


@dataclass
class TikTokAccount:
    """A fake TikTok server with one advertiser, and the environment of a push subprocess that uses it."""

    fake: FakeTikTok
    advertiser: str
    env: dict[str, str]

    def writes(self, since: int = 0) -> list[tuple[str, Decimal, int | None]]:
        """(campaign_id, budget, TikTok code) of every ``campaign/update`` received from request ``since`` on."""
        return [(str(r.body["campaign_id"]), Decimal(str(r.body["budget"])), r.code)
                for r in self.fake.requests[since:] if r.endpoint == "campaign/update"]

    def budgets(self) -> dict[str, Decimal]:
        """campaign_id -> daily budget on the platform now."""
        return {campaign: budget for (_, campaign), budget in self.fake.budgets().items()}


@contextlib.contextmanager
def tiktok_account(database_url: str, home: Path) -> Iterator[TikTokAccount]:
    """A fake TikTok advertiser of its own (campaigns 1000-1003, 1003 paused), served while in the block."""
    advertiser = str(next(_ADVERTISERS))
    world = make_world([FakeAccount(advertiser, "USD", "America/New_York")], DAY, DAY, seed=11, campaigns_per_account=4)
    with FakeTikTok(world, access_token=TOKEN) as fake:
        env = mbo_env(database_url, home, MBO_SOURCE="live", MBO_ALLOW_LIVE_BUDGET_CHANGES="1",
                      MBO_TIKTOK_API_URL=fake.url, TIKTOK_ACCESS_TOKEN=TOKEN, MBO_TIKTOK_ADVERTISER_IDS=advertiser)
        yield TikTokAccount(fake, advertiser, env)


def empty_ledger(database_url: str) -> None:
    """Delete every plan, ledger row, event and rehearsal of a test module's own database."""
    with psycopg.connect(database_url) as conn:
        for table in ("activation.budget_change_events", "activation.budget_changes", "activation.budget_rehearsals",
                      "marts.budget_recommendations", "marts.budget_plans"):
            if conn.execute("select to_regclass(%s)", (table,)).fetchone()[0]:
                conn.execute(f"delete from {table}")


def plan_for(database_url: str, account: TikTokAccount, factors: dict[str, float] = FACTORS) -> str:
    """A plan moving each campaign of ``factors`` from its budget on the platform by that factor; its id."""
    budgets = account.budgets()
    rows = [PlanRow("tiktok_ads", account.advertiser, campaign, "USD", budgets[campaign],
                    cents(budgets[campaign] * Decimal(str(factor)))) for campaign, factor in factors.items()]
    return insert_plan(database_url, rows)


def start_push(plan_id: str, env: dict[str, str], *options: str) -> subprocess.Popen:
    """``crashing_push.py PLAN_ID OPTIONS`` in a subprocess (stdin, stdout and stderr piped, as text), importing
    MBO from this checkout: ``python PATH`` puts only the script's folder on sys.path, and the installed package
    may be another copy (``make mutants`` runs the tests in a scratch copy with planted bugs)."""
    path = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return subprocess.Popen([sys.executable, str(SCRIPT), plan_id, *options], env={**env, "PYTHONPATH": path},
                            text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def outcome(stdout: str) -> dict:
    """The JSON line a finished ``crashing_push.py`` printed last."""
    return json.loads(stdout.strip().splitlines()[-1])


def rows_by_campaign(database_url: str, plan_id: str) -> dict[str, ledger.LedgerRow]:
    """The plan's ledger rows by campaign id."""
    with psycopg.connect(database_url) as conn:
        return {r.campaign_id: r for r in ledger.plan_rows(conn, plan_id)}


def assert_events_consistent(database_url: str, plan_id: str) -> None:
    """Each row's events chain from its recording to its status, by allowed moves only; one ``applying`` per
    attempt; a change that took effect entered ``applied`` exactly once."""
    with psycopg.connect(database_url) as conn:
        for row in ledger.plan_rows(conn, plan_id):
            events = ledger.events(conn, row.change_id)
            where = f"campaign {row.campaign_id} of {plan_id}: events {[(e[0], e[1]) for e in events]}"
            assert events and events[0][0] is None, where
            for before, after in itertools.pairwise(events):
                assert after[0] == before[1], f"broken chain: {where}"
            for from_status, to_status, *_ in events:
                assert to_status in TRANSITIONS.get(from_status, set()), f"{from_status} -> {to_status}: {where}"
            assert events[-1][1] == row.status, where
            assert sum(e[1] == APPLYING for e in events) == row.attempts, where
            assert sum(e[1] == APPLIED for e in events) == (1 if row.status in TOOK_EFFECT else 0), where


@pytest.fixture(scope="module")
def own_database(new_database) -> str:
    """A database of this module's own: ``mbo push --resume`` resumes every unfinished plan it finds."""
    return new_database("push_crashes")


@pytest.fixture(autouse=True)
def _empty_ledger_after(own_database):
    yield
    empty_ledger(own_database)


@pytest.fixture
def tiktok(own_database, tmp_path) -> Iterator[TikTokAccount]:
    with tiktok_account(own_database, tmp_path) as account:
        yield account


#: What ``crashing_push.py`` imports (``--rollback`` too): its forked processes start with them loaded.
SCRIPT_IMPORTS = ["mbo_pipelines.warehouse", "mbo_pipelines.connectors", "mbo_pipelines.defs.activate.push",
                  "mbo_pipelines.defs.ingest.tiktok_ads.client", "mbo_pipelines.defs.activate.rollback"]


@pytest.fixture(scope="module")
def run_push() -> Iterator:
    """``run_push(PLAN_ID, ENV, *OPTIONS)``: ``crashing_push.py PLAN_ID OPTIONS`` to its end (or its crash), in a
    process forked from one that imported the script's modules once; the completed process."""
    with ForkServer(SCRIPT_IMPORTS) as server:
        def run(plan_id: str, env: dict[str, str], *options: str, timeout: float = 120) -> subprocess.CompletedProcess:
            return server.run_path(SCRIPT, plan_id, *options, env=env, timeout=timeout)

        yield run


# --- the crash tests -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Crash:
    """Where one run dies (``step`` at the ``at``-th read or write), and what it must have done by then."""

    step: str
    at: int
    #: Budget writes the platform took in this run.
    writes: int
    #: Rows it left ``applying``.
    applying: int

    def options(self) -> list[str]:
        return ["--crash", self.step, "--at", str(self.at)]


# One at a time (the push reads, checks and writes each change in turn): rows 1000, 1001, 1002, then the
# paused 1003 (read, then skipped).
SINGLE = {
    "first read, after record and approve": [Crash("before-fetch", 1, writes=0, applying=0)],
    "before write 1": [Crash("before-write", 1, writes=0, applying=1)],
    "after write 1 took effect": [Crash("after-write", 1, writes=1, applying=1)],
    "second read": [Crash("before-fetch", 2, writes=1, applying=0)],
    "before write 2": [Crash("before-write", 2, writes=1, applying=1)],
    "after write 2 took effect": [Crash("after-write", 2, writes=2, applying=1)],
    "after the last write took effect": [Crash("after-write", 3, writes=3, applying=1)],
    "read of the paused campaign": [Crash("before-fetch", 4, writes=3, applying=0)],
    "twice after a write": [Crash("after-write", 1, writes=1, applying=1),
                            Crash("after-write", 1, writes=1, applying=1)],
    "twice before the same write": [Crash("before-write", 2, writes=1, applying=1),
                                    Crash("before-write", 1, writes=0, applying=1)],
}
# As TikTok's connector does it: one read, then every change ``applying`` before the batch is sent, and nothing
# recorded until the whole batch returns (so after write 1 is the same as before write 2).
BATCH = {
    "batch: first read": [Crash("before-fetch", 1, writes=0, applying=0)],
    "batch: before write 1": [Crash("before-write", 1, writes=0, applying=3)],
    "batch: after write 1 took effect": [Crash("after-write", 1, writes=1, applying=3)],
    "batch: after the last write took effect": [Crash("after-write", 3, writes=3, applying=3)],
    "batch: twice": [Crash("after-write", 2, writes=2, applying=3), Crash("after-write", 1, writes=1, applying=1)],
}
CASES = [pytest.param(True, crashes, False, id=name) for name, crashes in SINGLE.items()]
CASES += [pytest.param(False, crashes, False, id=name) for name, crashes in BATCH.items()]
# The operator's way to resume, through Dagster and the live connector it builds itself.
CASES += [pytest.param(True, SINGLE["after write 2 took effect"], True, id="mbo push --resume after write 2"),
          pytest.param(False, BATCH["batch: after write 1 took effect"], True,
                       id="mbo push --resume, batch: after write 1")]


@pytest.mark.parametrize(("one_at_a_time", "crashes", "via_cli"), CASES)
def test_a_push_killed_at_any_step_resumes_without_writing_anything_twice(own_database, tiktok, run_push,
                                                                          one_at_a_time, crashes, via_cli):
    plan_id = plan_for(own_database, tiktok)
    before = tiktok.budgets()
    shape = ["--one-at-a-time"] if one_at_a_time else []
    written_in: dict[str, int] = {}  # campaign -> the run whose write the platform took
    left: list[dict[str, str]] = []  # each crashed run's ledger: campaign -> status
    for run, crash in enumerate(crashes):
        mark = len(tiktok.fake.requests)
        died = run_push(plan_id, tiktok.env, *shape, *crash.options())
        assert died.returncode == CRASH_EXIT, f"run {run} did not die at {crash}: {died.stdout}{died.stderr}"
        writes = tiktok.writes(mark)
        assert len(writes) == crash.writes, f"run {run} ({crash}) sent {writes}"
        written_in.update({campaign: run for campaign, _, _ in writes})
        statuses = {c: r.status for c, r in rows_by_campaign(own_database, plan_id).items()}
        assert sorted(statuses) == sorted(FACTORS) and PROPOSED not in statuses.values(), \
            f"every change is recorded and decided before the first read: {statuses}"
        assert list(statuses.values()).count(APPLYING) == crash.applying, f"after run {run} ({crash}): {statuses}"
        left.append(statuses)

    mark = len(tiktok.fake.requests)
    if via_cli:
        resumed = run_mbo("push", "--resume", env=tiktok.env, timeout=300)
        assert resumed.returncode == 0, resumed.stderr
        assert resumed.stdout.startswith("resumed 1 plan(s)") and plan_id in resumed.stdout
    else:
        resumed = run_push(plan_id, tiktok.env, *shape)
        assert resumed.returncode == 0, resumed.stderr
    written_in.update({campaign: len(crashes) for campaign, _, _ in tiktok.writes(mark)})

    rows = rows_by_campaign(own_database, plan_id)
    assert {c: r.status for c, r in rows.items()} == {**dict.fromkeys(ACTIVE, APPLIED), PAUSED: SKIPPED}
    # Nothing applied twice, nothing lost: one write per active campaign, each of its new budget, all taken.
    writes = tiktok.writes()
    assert sorted(c for c, _, _ in writes) == sorted(ACTIVE), f"writes: {writes}"
    assert all(code == 0 and budget == rows[c].new_daily_budget for c, budget, code in writes), writes
    assert tiktok.budgets() == {**{c: rows[c].new_daily_budget for c in ACTIVE}, PAUSED: before[PAUSED]}
    for campaign in ACTIVE:
        row, run = rows[campaign], written_in[campaign]
        # Written by a run that died before recording it: the next run read it back instead of sending it again.
        taken_unrecorded = run < len(crashes) and left[run][campaign] == APPLYING
        assert row.reconciled is taken_unrecorded, f"{campaign}: {row}"
        assert row.applied_at is not None and row.live_daily_budget is not None
    assert_events_consistent(own_database, plan_id)




def test_a_rollback_after_a_resumed_push_restores_the_budgets_before_it(own_database, tiktok, run_push):
    plan_id = plan_for(own_database, tiktok)
    before = tiktok.budgets()
    crashed = run_push(plan_id, tiktok.env, "--one-at-a-time", "--crash", "after-write", "--at", "1")
    assert crashed.returncode == CRASH_EXIT, crashed.stderr
    assert run_push(plan_id, tiktok.env, "--one-at-a-time").returncode == 0
    assert rows_by_campaign(own_database, plan_id)["1000"].reconciled

    rolled = run_push(plan_id, tiktok.env, "--one-at-a-time", "--rollback")
    assert rolled.returncode == 0, rolled.stderr
    assert {c: r.status for c, r in rows_by_campaign(own_database, plan_id).items()} == {
        **dict.fromkeys(ACTIVE, ROLLED_BACK), PAUSED: SKIPPED}
    assert tiktok.budgets() == before
