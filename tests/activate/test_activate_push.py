"""push_plan against the real PostgreSQL and the real sandbox market."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

import psycopg
import pytest
from activate_helpers import (
    PlanRow,
    PlatformProxy,
    cents,
    insert_plan,
    ledger_rows,
    market_rows,
    sandbox_change_count,
    scale,
)

from mbo_pipelines import warehouse
from mbo_pipelines.connectors import ConnectorError
from mbo_pipelines.defs.activate import push_plan
from mbo_pipelines.defs.activate.push import LiveChangesNotAllowed, error_text
from mbo_pipelines.defs.optimize.tables import ensure_plan_tables

#: Positions in market_rows() (google_ads first, then meta_ads, then tiktok_ads) and factors within ±30%.
MIXED = {0: 1.10, 1: 0.80, 2: 1.25}


def _key(row: PlanRow) -> tuple[str, str, str]:
    return (row.platform, row.account_id, row.campaign_id)


def _first_of_each_platform(rows: list[PlanRow]) -> list[int]:
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        seen.setdefault(row.platform, i)
    return list(seen.values())


def _budgets_now(market, platform: str) -> dict[str, Decimal]:
    return {cid: cents(b) for cid, b in market.current_budgets(platform).items()}


def test_plan_applies_and_sandbox_budgets_equal_the_recommended(database_url, market, connectors):
    rows = market_rows(market)
    first = _first_of_each_platform(rows)
    scale(rows, {first[0]: 1.10, first[0] + 1: 0.80, first[1]: 1.25, first[2]: 0.75, first[2] + 1: 1.30})
    changed = [r for r in rows if r.recommended != r.current]
    before = sandbox_change_count(database_url, market.seed)
    plan_id = insert_plan(database_url, rows)

    summary = push_plan(database_url, plan_id, connectors)

    assert summary.ok and summary.recorded == len(changed) == 5 and summary.processed == 5
    assert summary.counts == {**dict.fromkeys(summary.counts, 0), "applied": 5}
    assert summary.dry_run_platforms == []
    for platform in {r.platform for r in rows}:
        now = _budgets_now(market, platform)
        assert now == {r.campaign_id: r.recommended for r in rows if r.platform == platform}
    ledger = ledger_rows(database_url, plan_id)
    assert set(ledger) == {_key(r) for r in changed}  # campaigns left as they are are not changes
    for r in changed:
        row = ledger[_key(r)]
        assert (row["old_daily_budget"], row["new_daily_budget"]) == (r.current, r.recommended)
        assert row["status"] == "applied" and row["applied_at"] is not None and row["error"] is None
        assert row["currency"] == r.currency and row["attempts"] == 1 and row["dry_run"] is False
        assert row["live_daily_budget"] == r.current
    assert sandbox_change_count(database_url, market.seed) == before + 5


def test_pushing_the_same_plan_again_applies_nothing_twice(database_url, market, connectors):
    rows = scale(market_rows(market), MIXED)
    plan_id = insert_plan(database_url, rows)
    first = push_plan(database_url, plan_id, connectors)
    ledger_before = ledger_rows(database_url, plan_id)
    writes_before = sandbox_change_count(database_url, market.seed)

    again = push_plan(database_url, plan_id, connectors)

    assert first.counts["applied"] == 3
    assert again.counts == first.counts and again.recorded == 0 and again.processed == 0
    assert ledger_rows(database_url, plan_id) == ledger_before  # not even a timestamp moved
    assert sandbox_change_count(database_url, market.seed) == writes_before


def test_a_change_beyond_the_maximum_is_blocked_and_never_sent(database_url, market, connectors):
    rows = scale(market_rows(market), {0: 1.50, 1: 0.60, 2: 1.20})
    before = _budgets_now(market, rows[0].platform)
    writes_before = sandbox_change_count(database_url, market.seed)
    plan_id = insert_plan(database_url, rows)

    summary = push_plan(database_url, plan_id, connectors)

    ledger = ledger_rows(database_url, plan_id)
    for blocked in rows[:2]:
        row = ledger[_key(blocked)]
        assert row["status"] == "refused" and row["applied_at"] is None
        assert row["error"].startswith("max_change: ") and "beyond the allowed ±30%" in row["error"]
    assert f"{rows[0].current:.2f} -> {rows[0].recommended:.2f} is a +50.0% change" in ledger[_key(rows[0])]["error"]
    assert ledger[_key(rows[2])]["status"] == "applied"
    now = _budgets_now(market, rows[0].platform)
    assert now[rows[0].campaign_id] == before[rows[0].campaign_id]
    assert now[rows[1].campaign_id] == before[rows[1].campaign_id]
    assert now[rows[2].campaign_id] == rows[2].recommended
    assert sandbox_change_count(database_url, market.seed) == writes_before + 1
    assert not summary.ok and summary.counts["refused"] == 2


def test_the_maximum_change_comes_from_the_environment(database_url, market, connectors, monkeypatch):
    monkeypatch.setenv("MBO_MAX_BUDGET_CHANGE", "0.60")
    rows = scale(market_rows(market), {0: 1.50})
    summary = push_plan(database_url, insert_plan(database_url, rows), connectors)
    assert summary.counts["applied"] == 1 and summary.ok


class FakeLivePlatform:
    """A stand-in for a real, external ad platform (Google Ads vocabulary): it only remembers what it was asked."""

    platform = "google_ads"
    is_live = True

    def __init__(self, budgets: dict[tuple[str, str], Decimal], currency: str = "USD"):
        self.budgets = dict(budgets)
        self.currency = currency
        self.calls: list[tuple[str, str, Decimal]] = []

    def fetch_campaign_daily(self, start, end) -> list[dict[str, Any]]:
        return []

    def fetch_campaigns(self) -> list[dict[str, Any]]:
        return [{"customer_id": a, "campaign_id": c, "customer_currency_code": self.currency,
                 "campaign_budget_amount_micros": int(b * 1_000_000)} for (a, c), b in self.budgets.items()]

    def set_daily_budget(self, account_id: str, campaign_id: str, amount: Decimal) -> None:
        self.calls.append((account_id, campaign_id, amount))
        self.budgets[(account_id, campaign_id)] = amount


def _live_plan(database_url: str) -> tuple[str, FakeLivePlatform, list[PlanRow]]:
    rows = [PlanRow("google_ads", "111", f"c{i}", "USD", Decimal("100.00"), Decimal(r))
            for i, r in enumerate(["110.00", "90.00", "100.00"])]
    live = FakeLivePlatform({("111", r.campaign_id): r.current for r in rows})
    return insert_plan(database_url, rows), live, rows


def _rehearsals(database_url: str, plan_id: str) -> list[dict]:
    with psycopg.connect(database_url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute("select * from activation.budget_rehearsals where plan_id = %s order by rehearsal_id",
                            (plan_id,)).fetchall()


def test_a_live_platform_defaults_to_a_rehearsal_that_writes_nothing_and_never_blocks_the_real_push(
        database_url, monkeypatch):
    plan_id, live, rows = _live_plan(database_url)

    summary = push_plan(database_url, plan_id, {"google_ads": live})

    assert live.calls == []
    assert summary.dry_run_platforms == ["google_ads"] and summary.ok
    assert summary.rehearsal_counts == {"rehearsed": 2, "refused": 0, "skipped": 0, "superseded": 0, "failed": 0}
    assert ledger_rows(database_url, plan_id) == {}  # the ledger is left for the real push
    rehearsed = _rehearsals(database_url, plan_id)
    assert [(r["campaign_id"], r["new_daily_budget"], r["outcome"]) for r in rehearsed] == [
        ("c0", Decimal("110.00"), "rehearsed"), ("c1", Decimal("90.00"), "rehearsed")]
    assert all(r["validated"] is False and r["live_daily_budget"] == Decimal("100.00") for r in rehearsed)

    # Rehearsing again still writes nothing; then the real push of the same plan applies it.
    push_plan(database_url, plan_id, {"google_ads": live})
    assert live.calls == [] and len(_rehearsals(database_url, plan_id)) == 4
    monkeypatch.setenv("MBO_ALLOW_LIVE_BUDGET_CHANGES", "1")
    applied = push_plan(database_url, plan_id, {"google_ads": live})
    assert applied.counts["applied"] == 2 and applied.ok
    assert sorted(live.calls) == [("111", "c0", Decimal("110.00")), ("111", "c1", Decimal("90.00"))]


def test_a_live_platform_applies_only_when_allowed(database_url, monkeypatch):
    plan_id, live, rows = _live_plan(database_url)
    with pytest.raises(LiveChangesNotAllowed, match="MBO_ALLOW_LIVE_BUDGET_CHANGES"):
        push_plan(database_url, plan_id, {"google_ads": live}, dry_run=False)
    assert live.calls == []

    monkeypatch.setenv("MBO_ALLOW_LIVE_BUDGET_CHANGES", "1")
    summary = push_plan(database_url, plan_id, {"google_ads": live})

    assert sorted(live.calls) == [("111", "c0", Decimal("110.00")), ("111", "c1", Decimal("90.00"))]
    assert summary.counts["applied"] == 2 and summary.dry_run_platforms == []


def test_dry_run_true_rehearses_even_the_sandbox(database_url, market, connectors):
    rows = scale(market_rows(market), MIXED)
    writes_before = sandbox_change_count(database_url, market.seed)
    summary = push_plan(database_url, insert_plan(database_url, rows), connectors, dry_run=True)
    assert summary.rehearsal_counts["rehearsed"] == 3
    assert summary.dry_run_platforms == ["google_ads", "meta_ads", "tiktok_ads"]
    assert sandbox_change_count(database_url, market.seed) == writes_before


def test_a_stale_plan_is_blocked_where_the_budget_changed_since(database_url, market, connectors):
    rows = scale(market_rows(market), MIXED)
    plan_id = insert_plan(database_url, rows)
    # Someone changes a budget by hand after the plan was made.
    manual = cents(rows[0].current * Decimal("1.05"))
    connectors[rows[0].platform].set_daily_budget(rows[0].account_id, rows[0].campaign_id, manual)

    summary = push_plan(database_url, plan_id, connectors)

    ledger = ledger_rows(database_url, plan_id)
    stale = ledger[_key(rows[0])]
    assert stale["status"] == "refused" and stale["error"].startswith("stale_plan: ")
    assert f"now {manual:.2f}, the plan assumed {rows[0].current:.2f}" in stale["error"]
    assert stale["live_daily_budget"] == manual
    assert _budgets_now(market, rows[0].platform)[rows[0].campaign_id] == manual  # the hand-set budget stays
    assert [ledger[_key(r)]["status"] for r in rows[1:3]] == ["applied", "applied"]
    assert summary.counts["refused"] == 1


def test_a_superseded_plan_is_blocked(database_url, market, connectors):
    rows = scale(market_rows(market), MIXED)
    old_plan = insert_plan(database_url, rows)
    new_plan = insert_plan(database_url, rows)
    writes_before = sandbox_change_count(database_url, market.seed)

    refused = push_plan(database_url, old_plan, connectors)

    assert refused.counts["superseded"] == 3 and refused.plan_problems == [
        f"latest_plan: plan {old_plan} is superseded by the newer plan {new_plan}"]
    assert all(r["error"] == refused.plan_problems[0] for r in ledger_rows(database_url, old_plan).values())
    assert sandbox_change_count(database_url, market.seed) == writes_before
    assert push_plan(database_url, new_plan, connectors).counts["applied"] == 3


@pytest.mark.parametrize(
    ("kwargs", "rule"),
    [
        ({"age_hours": 40}, "plan_age: plan is 40.0 hours old, older than the allowed 36 hours"),
        ({"total": 1.0}, "plan_total: recommended budgets sum to"),
        ({"reporting_override": {5: float("nan")}}, "finite_numbers: recommendation"),
        ({"solver_success": False}, "solver_success: the optimizer did not succeed (Iteration limit reached)"),
    ],
)
def test_a_plan_breaking_a_plan_rule_is_refused_whole(database_url, market, connectors, kwargs, rule):
    rows = scale(market_rows(market), MIXED)
    writes_before = sandbox_change_count(database_url, market.seed)

    summary = push_plan(database_url, insert_plan(database_url, rows, **kwargs), connectors)

    assert summary.counts["refused"] == 3 and summary.counts["applied"] == 0
    assert summary.plan_problems[0].startswith(rule)
    assert all(c.error.startswith(rule) for c in summary.changes)
    assert sandbox_change_count(database_url, market.seed) == writes_before


def test_a_nan_recommendation_is_recorded_and_blocked(database_url, market, connectors):
    rows = scale(market_rows(market), MIXED)
    rows[4].recommended = Decimal("NaN")
    summary = push_plan(database_url, insert_plan(database_url, rows, reporting_override={4: 0.0}), connectors)
    nan_row = ledger_rows(database_url, summary.plan_id)[_key(rows[4])]
    assert nan_row["status"] == "refused" and nan_row["new_daily_budget"].is_nan()
    assert "finite_numbers" in nan_row["error"] and summary.counts["applied"] == 0


class FlakyConnector(PlatformProxy):
    """The sandbox connector, except that writes to one campaign raise."""

    def __init__(self, inner, bad_campaign: str, exc: BaseException):
        super().__init__(inner)
        self.bad_campaign, self.exc = bad_campaign, exc

    def set_daily_budget(self, account_id, campaign_id, amount):
        if campaign_id == self.bad_campaign:
            raise self.exc
        self.inner.set_daily_budget(account_id, campaign_id, amount)


def test_a_failing_platform_call_is_recorded_and_the_rest_still_processed(database_url, market, connectors):
    rows = scale(market_rows(market), {0: 1.1, 1: 0.9, 2: 1.2})
    # The same database, reached with a password in the URL (ignored by trust auth): it must never reach the ledger.
    parsed = urlparse(database_url)
    password = parsed.password or "s3cret"
    url = database_url if parsed.password else database_url.replace("@", f":{password}@", 1)
    platform = rows[0].platform
    connectors[platform] = FlakyConnector(
        connectors[platform], rows[1].campaign_id, ConnectorError(f"quota exceeded (while logging to {url})"))
    plan_id = insert_plan(database_url, rows)

    summary = push_plan(url, plan_id, connectors)

    ledger = ledger_rows(database_url, plan_id)
    failed = ledger[_key(rows[1])]
    assert failed["status"] == "failed" and failed["error"] == "ConnectorError: quota exceeded (while logging to ***)"
    assert password not in failed["error"]
    assert failed["applied_at"] is None and failed["attempts"] == 1
    assert [ledger[_key(r)]["status"] for r in (rows[0], rows[2])] == ["applied", "applied"]
    assert summary.counts["failed"] == 1 and summary.counts["applied"] == 2 and not summary.ok
    # A failed row is final: a re-run does not try again.
    assert push_plan(database_url, plan_id, connectors).processed == 0


def test_errors_never_carry_the_database_password():
    url = "postgresql://mbo:s3cret@db.example:5432/mbo"
    text = error_text(RuntimeError(f"cannot reach {url} (password s3cret)"), ("ignored-url", "s3cret"))
    assert "s3cret" not in text and text.startswith("RuntimeError: cannot reach")


def test_a_platform_that_cannot_be_read_fails_its_changes(database_url, market, connectors):
    class Unreadable(FlakyConnector):
        def fetch_campaigns(self):
            raise ConnectorError("HTTP 503")

    rows = scale(market_rows(market), MIXED)
    connectors[rows[0].platform] = Unreadable(connectors[rows[0].platform], "", RuntimeError())
    del connectors["tiktok_ads"]
    tiktok = next(i for i, r in enumerate(rows) if r.platform == "tiktok_ads")
    scale(rows, {tiktok: 1.1})
    summary = push_plan(database_url, insert_plan(database_url, rows), connectors)
    ledger = ledger_rows(database_url, summary.plan_id)
    assert ledger[_key(rows[0])]["error"] == "could not read current budgets from google_ads: ConnectorError: HTTP 503"
    assert ledger[_key(rows[tiktok])]["error"] == "no connector configured for platform tiktok_ads (see `mbo platforms`)"
    assert summary.counts["failed"] == 4 and summary.counts["applied"] == 0


class Crash(BaseException):
    """The process dying between the platform call and the ledger update."""


def test_a_change_left_pending_by_a_crash_is_reconciled_not_sent_again(database_url, market, connectors):
    rows = scale(market_rows(market), {0: 1.2})
    plan_id = insert_plan(database_url, rows)

    class DiesAfterWriting(FlakyConnector):
        def set_daily_budget(self, account_id, campaign_id, amount):
            self.inner.set_daily_budget(account_id, campaign_id, amount)
            raise Crash()

    platform = rows[0].platform
    with pytest.raises(Crash):
        push_plan(database_url, plan_id, {**connectors, platform: DiesAfterWriting(connectors[platform], "", Crash())})
    left = ledger_rows(database_url, plan_id)[_key(rows[0])]
    assert left["status"] == "applying" and left["attempts"] == 1
    assert _budgets_now(market, platform)[rows[0].campaign_id] == rows[0].recommended

    # The platform already has the new budget: the resumed push reads it and records it, without a second write.
    writes = sandbox_change_count(database_url, market.seed)
    summary = push_plan(database_url, plan_id, connectors)
    row = ledger_rows(database_url, plan_id)[_key(rows[0])]
    assert row["status"] == "applied" and row["reconciled"] is True and row["attempts"] == 1
    assert summary.counts["applied"] == 1
    assert sandbox_change_count(database_url, market.seed) == writes
    assert _budgets_now(market, platform)[rows[0].campaign_id] == rows[0].recommended


def test_concurrent_pushes_of_one_plan_apply_each_change_once(database_url, market, connectors):
    rows = market_rows(market)
    scale(rows, {i: 1.1 for i in range(0, len(rows), 3)})
    changes = sum(r.recommended != r.current for r in rows)
    plan_id = insert_plan(database_url, rows)
    writes_before = sandbox_change_count(database_url, market.seed)
    start = threading.Barrier(2)
    results, errors = [], []

    def push():
        try:
            start.wait()
            results.append(push_plan(database_url, plan_id, connectors))
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=push) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert errors == []
    assert sorted(r.processed for r in results) == [0, changes]
    assert sandbox_change_count(database_url, market.seed) == writes_before + changes
    assert all(r["attempts"] == 1 for r in ledger_rows(database_url, plan_id).values())


def test_an_unknown_plan_is_an_error(database_url, connectors):
    with warehouse.connect(database_url) as conn:  # the marts tables exist, the plan does not
        warehouse.ensure_schemas(conn, ("marts",))
        ensure_plan_tables(conn)
        conn.commit()
    with pytest.raises(LookupError, match="no plan 'nope'"):
        push_plan(database_url, "nope", connectors)


def test_a_plan_that_forgot_to_convert_back_to_the_account_currency_is_refused(database_url, market, connectors):
    rows = scale(market_rows(market), MIXED)
    # The reporting-currency plan is 1.08 x the account-currency budgets sent: the conversion back was skipped.
    reporting = {i: float(r.recommended) * 1.08 for i, r in enumerate(rows)}
    total = sum(reporting.values())
    writes_before = sandbox_change_count(database_url, market.seed)
    summary = push_plan(database_url, insert_plan(database_url, rows, total=total, reporting_override=reporting),
                        connectors)
    assert summary.counts["applied"] == 0 and summary.counts["refused"] == 3
    assert any(p.startswith("currency_conversion: recommendation ") for p in summary.plan_problems)
    assert sandbox_change_count(database_url, market.seed) == writes_before


class SupersedingConnector(FlakyConnector):
    """The sandbox connector, except that its first write is followed by a newer plan appearing."""

    def __init__(self, inner, database_url: str, rows: list[PlanRow]):
        super().__init__(inner, bad_campaign="", exc=RuntimeError())
        self.database_url, self.rows, self.newer = database_url, rows, None

    def set_daily_budget(self, account_id, campaign_id, amount):
        self.inner.set_daily_budget(account_id, campaign_id, amount)
        if self.newer is None:
            self.newer = insert_plan(self.database_url, self.rows)


def test_a_plan_superseded_mid_push_sends_nothing_more(database_url, market, connectors):
    rows = market_rows(market)
    first = _first_of_each_platform(rows)  # google_ads is pushed first: two changes there, one on each other
    scale(rows, {first[0]: 1.1, first[0] + 1: 0.9, first[1]: 1.2, first[2]: 0.8})
    plan_id = insert_plan(database_url, rows)
    connectors = {**connectors, "google_ads": SupersedingConnector(connectors["google_ads"], database_url, rows)}
    before = {p: _budgets_now(market, p) for p in ("meta_ads", "tiktok_ads")}

    summary = push_plan(database_url, plan_id, connectors)

    ledger = ledger_rows(database_url, plan_id)
    assert ledger[_key(rows[first[0]])]["status"] == "applied"
    newer = connectors["google_ads"].newer
    for row in (rows[first[0] + 1], rows[first[1]], rows[first[2]]):
        assert ledger[_key(row)]["status"] == "superseded"
        assert ledger[_key(row)]["error"] == f"latest_plan: plan {plan_id} is superseded by the newer plan {newer}"
    assert {p: _budgets_now(market, p) for p in ("meta_ads", "tiktok_ads")} == before
    assert summary.counts == {**summary.counts, "applied": 1, "superseded": 3}


def test_the_maximum_change_is_also_checked_against_the_budget_in_force(database_url, market, connectors):
    rows = market_rows(market)
    first = rows[0]
    first.recommended = cents(first.current * Decimal("1.30"))  # +30% of the plan's current budget: allowed
    # The budget in force drifted down 0.5% since the plan (within the stale tolerance): +30.65% from it.
    in_force = cents(first.current * Decimal("0.995"))
    connectors[first.platform].set_daily_budget(first.account_id, first.campaign_id, in_force)
    summary = push_plan(database_url, insert_plan(database_url, rows), connectors)
    row = ledger_rows(database_url, summary.plan_id)[_key(first)]
    assert row["status"] == "refused"
    assert row["error"].startswith("max_change: ") and "of the budget in force on the platform" in row["error"]
    assert _budgets_now(market, first.platform)[first.campaign_id] == in_force


@pytest.mark.parametrize("value", ["0", "true", "yes", " ", "01"])
def test_only_exactly_1_allows_live_changes(database_url, monkeypatch, value):
    plan_id, live, rows = _live_plan(database_url)
    monkeypatch.setenv("MBO_ALLOW_LIVE_BUDGET_CHANGES", value)
    summary = push_plan(database_url, plan_id, {"google_ads": live})
    assert live.calls == [] and summary.rehearsal_counts["rehearsed"] == 2 and summary.counts["applied"] == 0


def test_a_crashed_push_resumed_after_the_plan_was_superseded_records_what_reached_the_platform(
        database_url, market, connectors):
    rows = scale(market_rows(market), {0: 1.2, 1: 0.9})
    plan_id = insert_plan(database_url, rows)

    class DiesAfterFirstWrite(FlakyConnector):
        def set_daily_budget(self, account_id, campaign_id, amount):
            self.inner.set_daily_budget(account_id, campaign_id, amount)
            raise Crash()

    platform = rows[0].platform
    with pytest.raises(Crash):
        push_plan(database_url, plan_id, {**connectors, platform: DiesAfterFirstWrite(connectors[platform], "", Crash())})
    insert_plan(database_url, rows)  # a newer plan arrives before the resume

    summary = push_plan(database_url, plan_id, connectors)

    ledger = ledger_rows(database_url, plan_id)
    reached, not_sent = ledger[_key(rows[0])], ledger[_key(rows[1])]
    assert reached["status"] == "applied" and reached["reconciled"] is True
    assert not_sent["status"] == "superseded" and not_sent["error"].startswith("latest_plan: ")
    assert summary.plan_problems and summary.counts["applied"] == 1


class HalvesAnotherBudgetWhenWriting(FlakyConnector):
    """The sandbox connector; after its first write, someone halves another campaign's budget by hand."""

    def __init__(self, inner, victim: PlanRow):
        super().__init__(inner, bad_campaign="", exc=RuntimeError())
        self.victim, self.done = victim, False

    def set_daily_budget(self, account_id, campaign_id, amount):
        self.inner.set_daily_budget(account_id, campaign_id, amount)
        if not self.done:
            self.done = True
            self.inner.set_daily_budget(self.victim.account_id, self.victim.campaign_id, cents(self.victim.current / 2))


def test_a_budget_changed_on_the_platform_during_the_push_is_not_overwritten(database_url, market, connectors):
    rows = scale(market_rows(market), {0: 1.2, 1: 1.3})
    platform = rows[0].platform
    connectors = {**connectors, platform: HalvesAnotherBudgetWhenWriting(connectors[platform], rows[1])}

    summary = push_plan(database_url, insert_plan(database_url, rows), connectors)

    victim = ledger_rows(database_url, summary.plan_id)[_key(rows[1])]
    halved = cents(rows[1].current / 2)
    assert victim["status"] == "refused" and victim["error"].startswith("stale_plan: ")
    assert victim["live_daily_budget"] == halved
    assert _budgets_now(market, platform)[rows[1].campaign_id] == halved


class AppliesThenTimesOut(FlakyConnector):
    """The platform takes the write, then the call times out (the answer is lost)."""

    def set_daily_budget(self, account_id, campaign_id, amount):
        self.inner.set_daily_budget(account_id, campaign_id, amount)
        if campaign_id == self.bad_campaign:
            raise TimeoutError("read timed out")


def test_a_write_that_timed_out_after_the_platform_took_it_is_applied_and_reconciled(database_url, market, connectors):
    rows = scale(market_rows(market), {0: 1.2, 1: 0.8})
    platform = rows[0].platform
    connectors = {**connectors, platform: AppliesThenTimesOut(connectors[platform], rows[0].campaign_id, None)}

    summary = push_plan(database_url, insert_plan(database_url, rows), connectors)

    ledger = ledger_rows(database_url, summary.plan_id)
    timed_out = ledger[_key(rows[0])]
    assert timed_out["status"] == "applied" and timed_out["reconciled"] is True
    assert timed_out["error"] == "reconciled after: TimeoutError: read timed out"
    assert ledger[_key(rows[1])]["status"] == "applied" and ledger[_key(rows[1])]["reconciled"] is False
    assert summary.ok


class TimesOutThenCannotBeRead(AppliesThenTimesOut):
    """The write goes through and times out, and the platform then cannot be read until ``healthy``."""

    healthy = True

    def set_daily_budget(self, account_id, campaign_id, amount):
        self.healthy = campaign_id != self.bad_campaign
        super().set_daily_budget(account_id, campaign_id, amount)

    def fetch_campaigns(self):
        if not self.healthy:
            raise ConnectionError("connection reset by peer")
        return super().fetch_campaigns()


def test_a_write_whose_outcome_cannot_be_read_stays_applying_until_a_push_can_read_it(
        database_url, market, connectors):
    rows = scale(market_rows(market), {0: 1.2})
    platform = rows[0].platform
    flaky = TimesOutThenCannotBeRead(connectors[platform], rows[0].campaign_id, None)
    plan_id = insert_plan(database_url, rows)

    first = push_plan(database_url, plan_id, {**connectors, platform: flaky})

    row = ledger_rows(database_url, plan_id)[_key(rows[0])]
    assert row["status"] == "applying" and row["error"].startswith("unsettled: TimeoutError: read timed out")
    assert not first.ok and first.problems == {"applying": 1}

    flaky.healthy = True
    second = push_plan(database_url, plan_id, {**connectors, platform: flaky})
    row = ledger_rows(database_url, plan_id)[_key(rows[0])]
    assert second.ok and row["status"] == "applied" and row["reconciled"] is True and row["attempts"] == 1
    assert row["live_daily_budget"] == rows[0].current  # the budget before the write, what a rollback restores


def test_a_campaign_paused_on_the_platform_after_planning_keeps_its_budget(database_url, market, connectors):
    rows = scale(market_rows(market), {0: 1.2})
    with warehouse.connect(database_url) as conn:  # paused in the platform's own UI
        conn.execute("update sandbox.campaigns set status = 'paused' where seed = %s and campaign_id = %s",
                     (market.seed, rows[0].campaign_id))
        conn.commit()
    summary = push_plan(database_url, insert_plan(database_url, rows), connectors)
    row = ledger_rows(database_url, summary.plan_id)[_key(rows[0])]
    assert row["status"] == "skipped" and row["error"].startswith("campaign_status: the campaign is paused")
    assert _budgets_now(market, rows[0].platform)[rows[0].campaign_id] == rows[0].current


def test_plans_pushed_the_same_day_cannot_stack_their_changes(database_url, market, connectors):
    rows = market_rows(market)
    first = rows[0]
    original = first.current
    first.recommended = cents(original * Decimal("1.30"))
    assert push_plan(database_url, insert_plan(database_url, rows), connectors).counts["applied"] == 1

    # A re-run plans another +30% from the new budget: +69% on the day.
    again = market_rows(market)
    again[0].recommended = cents(again[0].current * Decimal("1.30"))
    summary = push_plan(database_url, insert_plan(database_url, again), connectors)
    row = ledger_rows(database_url, summary.plan_id)[_key(again[0])]
    assert row["status"] == "refused" and row["error"].startswith(f"max_change_24h: {original:.2f} -> ")
    assert _budgets_now(market, first.platform)[first.campaign_id] == cents(original * Decimal("1.30"))

    # Going back to the morning's budget is always allowed.
    undo = market_rows(market)
    undo[0].recommended = original
    assert push_plan(database_url, insert_plan(database_url, undo), connectors).counts["applied"] == 1
    assert _budgets_now(market, first.platform)[first.campaign_id] == original
