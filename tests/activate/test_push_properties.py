"""Property-based tests of push_plan against a platform that fails, and is edited by others, at any step.

For random plans (1-8 campaigns, budgets 1.00-10000.00, recommendations equal
to, a cent from, within, at and beyond the limit), limits (``max_change``
0.05-0.60, by argument or ``MBO_MAX_BUDGET_CHANGE``), approval thresholds
(``MBO_APPROVAL_ABOVE_CHANGE``), campaign states, and, call by call, what the
platform does (writes failing before or after it applied them, the process
dying mid-call, reads failing, someone else changing a budget or a status
between any two calls), the plan is pushed once or twice on that platform, then
(after approving what waits, in some examples) again on a healthy platform, as
a resume would, then once more:

1. every write the platform received is positive, for an active campaign with a
   daily budget of its own, within ``max_change`` of the plan's current budget
   and of the budget in force at the moment of the write (half a cent of
   rounding), and passes the stale-plan rule against it; a change above the
   approval threshold is written only after a person approved it;
2. each change of the plan has exactly one ledger row; after a push that
   returned, a row stays open only when that push could not read the platform
   and the row may have been sent; after the healthy push every row is
   terminal or waiting for approval;
3. the ledger agrees with the platform: ``applied`` means the platform took a
   write of exactly that amount (and runs it, unless someone changed it
   since); a write the platform took is never recorded as anything but
   ``applied``; a change is written again only after a write that errored,
   always with the same amount; the last push writes nothing and moves nothing;
4. each row's events form one chain from ``proposed`` to the row's status.

"The budget in force at the moment of the write" is the budget the push's read
reported when someone else changed the campaign in the instant between that
read and the write (the read was the platform call right before the write): no
client can see such an edit, the platforms have no conditional write.

``KNOWN_SEQUENCES`` runs the fault sequences that matter most every time, whatever
hypothesis draws. ``MBO_PROPERTY_EXAMPLES`` (default 40) sets how many random
examples to try: raise it for a longer hunt.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import psycopg
import pytest
from activate_helpers import PlanRow, insert_plan, remove_test_plans
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from property_platform import (
    ACTIVE,
    CRASH_AFTER,
    DAILY,
    ERROR_AFTER,
    ERROR_BEFORE,
    FAULTS,
    LIFETIME,
    PAUSED,
    REMOVED,
    Campaign,
    Crash,
    OtherEdit,
    Script,
    ScriptedBatchPlatform,
    ScriptedPlatform,
    Step,
)

from mbo_pipelines.defs.activate import ledger, push_plan

CENT = Decimal("0.01")
HALF_CENT = Decimal("0.005")
#: Float arithmetic in the guardrails may pass a hair more than the exact decimal bound.
SLACK = Decimal("0.000001")


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class CampaignDraw:
    """One campaign: the plan's current and recommended budgets, and how the platform holds it."""

    current: Decimal
    recommended: Decimal
    status: str
    budget_mode: str


@dataclass(frozen=True)
class Scenario:
    """Everything one example draws."""

    max_change: float
    max_change_from_env: bool
    approval_above: float | None
    campaigns: tuple[CampaignDraw, ...]
    batch: bool
    faulty_pushes: int
    approve_waiting: bool


@st.composite
def campaign_draws(draw, max_change: float) -> CampaignDraw:
    """A campaign whose recommendation is equal to, a cent from, within, at or beyond ``max_change``."""
    current = Decimal(draw(st.integers(100, 1_000_000))).scaleb(-2)
    # Hypothesis favours the ends of a list: the kinds that get written stand there.
    kind = draw(st.sampled_from(["within", "equal", "cent", "beyond", "edge"]))
    sign = draw(st.sampled_from([1, -1]))
    limit = Decimal(str(max_change))
    if kind == "equal":
        recommended = current
    elif kind == "cent":
        recommended = current + sign * CENT
    elif kind == "within":
        recommended = _cents(current * (1 + sign * limit * Decimal(draw(st.integers(1, 99))) / 100))
    elif kind == "edge":
        recommended = _cents(current * (1 + sign * limit))
    else:
        recommended = _cents(current * (1 + sign * limit * Decimal(draw(st.integers(101, 300))) / 100))
    return CampaignDraw(current, max(recommended, Decimal("0.00")),
                        draw(st.sampled_from([ACTIVE, ACTIVE, PAUSED, ACTIVE, ACTIVE])),
                        draw(st.sampled_from([DAILY, DAILY, LIFETIME, DAILY, DAILY])))


_FACTORS = st.sampled_from([Decimal(f) for f in ("0.5", "0.9", "0.995", "1.005", "1.2", "2")])
_STATUSES = st.sampled_from([PAUSED, ACTIVE, REMOVED])
other_edits = st.one_of(
    st.builds(OtherEdit, campaign=st.integers(0, 7), factor=_FACTORS),
    st.builds(OtherEdit, campaign=st.integers(0, 7), status=_STATUSES),
    st.builds(OtherEdit, campaign=st.integers(0, 7), factor=_FACTORS, status=_STATUSES),
)
_FAULTS = st.sampled_from(FAULTS)
_ERRORS = st.sampled_from([ERROR_BEFORE, ERROR_AFTER])
#: What happens at one platform call: mostly nothing; else an error (more often than a crash, which ends the
#: push), someone else's edit, or both.
call_steps = st.one_of(st.just(Step()), st.just(Step()), st.just(Step()),
                       st.builds(Step, fault=_ERRORS), st.builds(Step, fault=_ERRORS), st.builds(Step, fault=_FAULTS),
                       st.builds(Step, other=other_edits), st.builds(Step, other=other_edits, fault=_FAULTS))


@st.composite
def scenarios(draw) -> Scenario:
    """A plan, its limits and thresholds, and how the platform holds its campaigns."""
    max_change = draw(st.integers(5, 60)) / 100
    return Scenario(
        max_change=max_change,
        max_change_from_env=draw(st.booleans()),
        approval_above=draw(st.none() | st.integers(0, 60).map(lambda p: p / 100)),
        campaigns=tuple(draw(st.lists(campaign_draws(max_change), min_size=1, max_size=8))),
        batch=draw(st.booleans()),
        faulty_pushes=draw(st.integers(1, 2)),
        approve_waiting=draw(st.booleans()),
    )


def _rows(database_url: str, plan_id: str) -> dict[str, dict]:
    with psycopg.connect(database_url, row_factory=psycopg.rows.dict_row) as conn:
        rows = conn.execute("select * from activation.budget_changes where plan_id = %s", (plan_id,)).fetchall()
    return {r["campaign_id"]: r for r in rows}


def _events(database_url: str, plan_id: str) -> dict[int, list[tuple]]:
    with psycopg.connect(database_url) as conn:
        found = conn.execute(
            "select change_id, from_status, to_status from activation.budget_change_events where plan_id = %s"
            " order by event_id", (plan_id,)).fetchall()
    chains: dict[int, list[tuple]] = {}
    for change_id, from_status, to_status in found:
        chains.setdefault(change_id, []).append((from_status, to_status))
    return chains


def _push(database_url: str, plan_id: str, platform: ScriptedPlatform, scenario: Scenario) -> bool:
    """Push the plan; False when the process "died" in a platform call."""
    try:
        push_plan(database_url, plan_id, {"tiktok_ads": platform}, lock_wait_seconds=10,
                  max_change=None if scenario.max_change_from_env else scenario.max_change)
    except Crash:
        return False
    return True


def _within(amount: Decimal, base: Decimal, fraction: Decimal) -> bool:
    return abs(amount - base) <= fraction * base + HALF_CENT + SLACK


def _not_stale(live: Decimal, current: Decimal, new: Decimal) -> bool:
    tolerance = Decimal("0.01")
    return abs(live - current) <= tolerance * current + SLACK or abs(live - new) <= tolerance * new + SLACK


def check_writes_keep_the_guardrails(platform: ScriptedPlatform, scenario: Scenario, plan: dict[str, PlanRow],
                                     rows: dict[str, dict]) -> None:
    """Property 1: every write is one the guardrails allow against the budget in force when it was made."""
    limit = Decimal(str(scenario.max_change))
    assert platform.unknown_writes == [], "writes to campaigns the platform does not have"
    for w in platform.writes:
        assert w.campaign_id in rows, f"{w} is for a campaign without a change in the ledger"
        assert w.read_budget is not None, f"{w} was sent without reading the platform first"
        budget, status = (w.read_budget, w.read_status) if w.edited_unseen else (w.before, w.status_before)
        current = plan[w.campaign_id].current
        assert w.amount == rows[w.campaign_id]["new_daily_budget"], f"{w} is not the ledger's amount"
        assert w.amount > 0, f"{w}: a budget must be positive"
        assert status == ACTIVE, f"{w}: the campaign was {status} on the platform"
        assert platform.campaigns[w.campaign_id].budget_mode == DAILY, f"{w}: the campaign has a lifetime budget"
        assert _within(w.amount, budget, limit), f"{w}: beyond ±{limit} of the budget in force {budget}"
        assert _within(w.amount, current, limit), f"{w}: beyond ±{limit} of the plan's current budget {current}"
        assert _not_stale(budget, current, w.amount), f"{w}: the plan assumed {current}, the platform ran {budget}"


def check_held_changes_wait(platform: ScriptedPlatform, scenario: Scenario, plan: dict[str, PlanRow],
                            rows: dict[str, dict], approved_at: int) -> None:
    """Property 1, approvals: a change above ``MBO_APPROVAL_ABOVE_CHANGE`` is never written before a person
    approved it (at platform call ``approved_at``); it waits until then, and nothing else waits."""
    for cid, row in rows.items():
        old, new = plan[cid].current, plan[cid].recommended
        held = scenario.approval_above is not None and abs(float(new / old - 1)) > scenario.approval_above
        if not held:
            assert row["status"] != ledger.PENDING_APPROVAL, f"{cid} waits for approval below the threshold"
            continue
        early = [w for w in platform.writes if w.campaign_id == cid and w.step < approved_at]
        assert early == [], f"{cid} is above the approval threshold but was written before approval: {early}"
        if not scenario.approve_waiting:
            assert row["status"] == ledger.PENDING_APPROVAL, f"{cid} is above the threshold but {row['status']}"


def check_ledger_agrees_with_platform(platform: ScriptedPlatform, rows: dict[str, dict]) -> None:
    """Property 3: applied means taken; taken means applied; a change is sent again only after an error."""
    for cid, row in rows.items():
        writes = [w for w in platform.writes if w.campaign_id == cid]
        taken = [w for w in writes if w.took_effect]
        status, new = row["status"], row["new_daily_budget"]
        for earlier in writes[:-1]:
            assert earlier.errored, f"{cid} written again after the platform confirmed {earlier}: {writes}"
        if status in (ledger.PENDING_APPROVAL, ledger.REJECTED):
            assert writes == [], f"{cid} is {status} but was written: {writes}"
        if status == ledger.APPLIED:
            assert any(w.amount == new for w in taken), f"{cid} is applied but the platform never took {new}: {writes}"
            edited_after = [e for e in platform.edits if e.campaign_id == cid and e.moved_budget
                            and e.step > taken[-1].step]
            if not edited_after:
                assert platform.campaigns[cid].budget == new, f"{cid} is applied but the platform runs " \
                                                               f"{platform.campaigns[cid].budget}, not {new}"
        if not taken:
            continue
        confirmed = any(w.outcome == "ok" for w in writes)
        # A write whose answer was lost, after which someone else moved the budget, cannot be told apart from
        # one that never arrived: the ledger may then say what the platform shows.
        blurred = any(e.campaign_id == cid and e.moved_budget and e.step > taken[0].step for e in platform.edits)
        if confirmed or not blurred:
            assert status == ledger.APPLIED, (
                f"{cid}: the platform took {taken[0]} but the ledger says {status} ({row['error']})")


def check_event_chains(rows: dict[str, dict], chains: dict[int, list[tuple]]) -> None:
    """Property 4: null -> proposed -> ... -> the row's status, each step starting where the last ended."""
    for cid, row in rows.items():
        chain = chains.get(row["change_id"], [])
        assert chain and chain[0] == (None, ledger.PROPOSED), f"{cid}: events do not start at proposed: {chain}"
        for (_, reached), (left, _) in zip(chain, chain[1:]):
            assert left == reached, f"{cid}: an event leaves {left} but the one before reached {reached}: {chain}"
        assert chain[-1][1] == row["status"], f"{cid}: events end at {chain[-1][1]}, the row is {row['status']}"


def run_and_check(database_url: str, monkeypatch, scenario: Scenario, script: Script) -> None:
    """Push the scenario's plan on a platform following ``script`` (``faulty_pushes`` times), then on the
    healed platform (after approving what waits, if the scenario says so), then once more; check the
    properties of the module docstring."""
    if scenario.max_change_from_env:
        monkeypatch.setenv("MBO_MAX_BUDGET_CHANGE", str(scenario.max_change))
    else:
        monkeypatch.delenv("MBO_MAX_BUDGET_CHANGE", raising=False)
    if scenario.approval_above is None:
        monkeypatch.delenv("MBO_APPROVAL_ABOVE_CHANGE", raising=False)
    else:
        monkeypatch.setenv("MBO_APPROVAL_ABOVE_CHANGE", str(scenario.approval_above))
    # An account of its own: the rolling 24-hour limit and the cooldown read the ledger across plans.
    account = f"adv-{uuid.uuid4().hex[:12]}"
    plan = {f"c{i}": PlanRow("tiktok_ads", account, f"c{i}", "USD", c.current, c.recommended)
            for i, c in enumerate(scenario.campaigns)}
    platform_class = ScriptedBatchPlatform if scenario.batch else ScriptedPlatform
    platform = platform_class(
        account, {cid: Campaign(c.current, c.status, c.budget_mode) for cid, c in zip(plan, scenario.campaigns)},
        script, avoid={cid: r.recommended for cid, r in plan.items()})
    plan_id = insert_plan(database_url, list(plan.values()))
    try:
        for _ in range(scenario.faulty_pushes):
            failed_reads = platform.failed_reads
            if _push(database_url, plan_id, platform, scenario):
                for cid, row in _rows(database_url, plan_id).items():
                    if row["status"] in ledger.OPEN:
                        assert row["attempts"] > 0 and platform.failed_reads > failed_reads, (
                            f"{cid} left {row['status']} by a push that returned")
        platform.heal()
        approved_at = platform.calls
        if scenario.approve_waiting:
            with psycopg.connect(database_url, autocommit=True) as conn:
                ledger.decide(conn, plan_id, True, by="property test")
        assert _push(database_url, plan_id, platform, scenario)

        rows = _rows(database_url, plan_id)
        changes = {cid for cid, r in plan.items() if r.recommended != r.current}
        assert set(rows) == changes, "each change of the plan has exactly one ledger row"
        for cid, row in rows.items():
            assert row["status"] in ledger.TERMINAL + ledger.WAITING, f"{cid} still {row['status']} on a healthy platform"
        check_writes_keep_the_guardrails(platform, scenario, plan, rows)
        check_held_changes_wait(platform, scenario, plan, rows, approved_at)
        check_ledger_agrees_with_platform(platform, rows)
        check_event_chains(rows, _events(database_url, plan_id))

        writes, chains = list(platform.writes), _events(database_url, plan_id)
        assert _push(database_url, plan_id, platform, scenario)
        assert platform.writes == writes, "a push of a settled plan wrote again"
        assert _rows(database_url, plan_id) == rows and _events(database_url, plan_id) == chains
    finally:
        remove_test_plans(database_url)


@settings(max_examples=int(os.environ.get("MBO_PROPERTY_EXAMPLES", "40")), deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(scenario=scenarios(), data=st.data())
def test_pushes_under_platform_faults_keep_the_guardrails_and_a_true_ledger(database_url, monkeypatch, scenario,
                                                                             data):
    run_and_check(database_url, monkeypatch, scenario,
                  lambda call, kind: data.draw(call_steps, label=f"platform call {call} ({kind})"))


def _campaign(current: str, recommended: str, status: str = ACTIVE, budget_mode: str = DAILY) -> CampaignDraw:
    return CampaignDraw(Decimal(current), Decimal(recommended), status, budget_mode)


def _plan(*campaigns: CampaignDraw, batch: bool = False, faulty_pushes: int = 1,
          approval_above: float | None = None) -> Scenario:
    return Scenario(max_change=0.3, max_change_from_env=False, approval_above=approval_above, campaigns=campaigns,
                    batch=batch, faulty_pushes=faulty_pushes, approve_waiting=False)


#: Fault sequences worth running every time, by name: (scenario, call number -> step). Call 0 is the first read.
KNOWN_SEQUENCES = {
    # The platform takes the write, the answer times out, and reading it back fails: the change must stay
    # open for the next push to read back, not be recorded failed with the money moved.
    "timed-out-then-unreadable": (_plan(_campaign("100.00", "110.00")),
                                  {1: Step(fault=ERROR_AFTER), 2: Step(fault=ERROR_BEFORE)}),
    "batch-timed-out-then-unreadable": (_plan(_campaign("100.00", "110.00"), _campaign("50.00", "45.00"), batch=True),
                                        {1: Step(fault=ERROR_AFTER), 2: Step(fault=ERROR_BEFORE)}),
    # A write the platform refuses: nothing moved, so nothing is applied.
    "refused-by-the-platform": (_plan(_campaign("100.00", "110.00")), {1: Step(fault=ERROR_BEFORE)}),
    # Drifted 0.5 % down by hand before the push: +30 % of the plan's budget is +30.65 % of the live one.
    "drifted-before-the-read": (_plan(_campaign("100.00", "130.00")),
                                {0: Step(other=OtherEdit(0, factor=Decimal("0.995")))}),
    # Raised 20 % by hand before the push: the plan no longer describes the campaign.
    "edited-before-the-read": (_plan(_campaign("100.00", "110.00")),
                               {0: Step(other=OtherEdit(0, factor=Decimal("1.2")))}),
    # Someone halves the second campaign while the first is written (the issue's +160 %).
    "halved-between-writes": (_plan(_campaign("100.00", "120.00"), _campaign("100.00", "125.00")),
                              {2: Step(other=OtherEdit(1, factor=Decimal("0.5")))}),
    # The process dies after the platform took the write, and the first resume cannot read the platform.
    "crashed-then-unreadable-resume": (_plan(_campaign("100.00", "110.00"), faulty_pushes=2),
                                       {1: Step(fault=CRASH_AFTER), 2: Step(fault=ERROR_BEFORE)}),
    # Paused, or on a lifetime budget, on the platform: nothing to change.
    "paused-on-the-platform": (_plan(_campaign("100.00", "110.00", status=PAUSED)), {}),
    "lifetime-budget": (_plan(_campaign("100.00", "110.00", budget_mode=LIFETIME)), {}),
    # +25 % is above the approval threshold of 10 %: it waits, unsent; +5 % goes through.
    "held-for-approval": (_plan(_campaign("100.00", "125.00"), _campaign("100.00", "105.00"), approval_above=0.1),
                          {}),
    # Paused by hand between the read and the write: no client can see it; the write goes to a paused campaign.
    "paused-between-read-and-write": (_plan(_campaign("100.00", "110.00")),
                                      {1: Step(other=OtherEdit(0, status=PAUSED))}),
}


@pytest.mark.parametrize("name", list(KNOWN_SEQUENCES))
def test_known_fault_sequences_keep_the_guardrails_and_a_true_ledger(database_url, monkeypatch, name):
    scenario, script = KNOWN_SEQUENCES[name]
    run_and_check(database_url, monkeypatch, scenario, script)
