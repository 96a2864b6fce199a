"""Per-account settings (the accounts file) and limits as the push applies them: modes, clipping, cap, cooldown,
and the kill switch, each recorded in the ledger with the rule and the numbers."""

from __future__ import annotations

from decimal import Decimal

from activate_helpers import cents, insert_plan, ledger_rows, market_rows, sandbox_change_count, scale

from mbo_pipelines.defs.activate import push_plan


def _key(row):
    return (row.platform, row.account_id, row.campaign_id)


def _accounts_file(tmp_path, monkeypatch, text: str) -> None:
    path = tmp_path / "mbo_accounts.toml"
    path.write_text(text)
    monkeypatch.setenv("MBO_ACCOUNTS_FILE", str(path))


def _budget(market, row) -> Decimal:
    return cents(market.current_budgets(row.platform)[row.campaign_id])


def _of_account(rows, platform):
    """Positions of the rows of the first account of ``platform``."""
    account = next(r.account_id for r in rows if r.platform == platform)
    return [i for i, r in enumerate(rows) if r.platform == platform and r.account_id == account]


def test_a_change_above_the_accounts_maximum_is_clipped_and_the_ledger_says_by_how_much(
        database_url, market, connectors, tmp_path, monkeypatch):
    rows = market_rows(market)
    i = _of_account(rows, "google_ads")[0]
    scale(rows, {i: 1.25})
    maximum = cents(rows[i].current * Decimal("1.1"))
    _accounts_file(tmp_path, monkeypatch,
                   f'[accounts."google_ads/{rows[i].account_id}"]\nmax_daily_budget = "{maximum}"\n')

    plan_id = insert_plan(database_url, rows)
    summary = push_plan(database_url, plan_id, connectors)

    row = ledger_rows(database_url, plan_id)[_key(rows[i])]
    assert summary.ok and row["status"] == "applied"
    assert row["requested_daily_budget"] == rows[i].recommended and row["new_daily_budget"] == maximum
    assert row["guardrail_notes"] == (f"max_daily_budget: clipped {rows[i].recommended:.2f} -> {maximum:.2f} "
                                      f"(by -{rows[i].recommended - maximum:.2f})")
    assert _budget(market, rows[i]) == maximum


def test_an_account_in_approve_mode_waits_while_the_others_apply(database_url, market, connectors, tmp_path, monkeypatch):
    rows = market_rows(market)
    held, other = _of_account(rows, "meta_ads")[0], _of_account(rows, "tiktok_ads")[0]
    scale(rows, {held: 1.1, other: 0.9})
    _accounts_file(tmp_path, monkeypatch, f'[accounts."meta_ads/{rows[held].account_id}"]\nmode = "approve"\n')

    plan_id = insert_plan(database_url, rows)
    push_plan(database_url, plan_id, connectors)

    ledger = ledger_rows(database_url, plan_id)
    assert ledger[_key(rows[held])]["status"] == "pending_approval"
    assert "activation mode is approve" in ledger[_key(rows[held])]["error"]
    assert ledger[_key(rows[other])]["status"] == "applied"
    assert _budget(market, rows[held]) == rows[held].current


def test_an_account_switched_off_in_the_file_records_and_sends_nothing(
        database_url, market, connectors, tmp_path, monkeypatch):
    rows = market_rows(market)
    off = _of_account(rows, "tiktok_ads")[0]
    scale(rows, {off: 1.1})
    _accounts_file(tmp_path, monkeypatch, '[platforms.tiktok_ads]\nmode = "off"\n')
    writes = sandbox_change_count(database_url, market.seed)

    plan_id = insert_plan(database_url, rows)
    summary = push_plan(database_url, plan_id, connectors)

    assert _key(rows[off]) not in ledger_rows(database_url, plan_id) and summary.recorded == 0
    assert sandbox_change_count(database_url, market.seed) == writes


def test_increases_beyond_the_accounts_daily_cap_are_clipped_to_the_room_left_after_its_decreases(
        database_url, market, connectors, tmp_path, monkeypatch):
    rows = market_rows(market)
    account = _of_account(rows, "google_ads")
    down = account[0]
    # Increases are taken smallest first: up1 is the one with the smaller rise.
    up1, up2 = sorted(account[1:3], key=lambda i: rows[i].current)
    scale(rows, {down: 0.9, up1: 1.2, up2: 1.2})
    total_now = sum(rows[i].current for i in account)
    freed = rows[down].current - rows[down].recommended
    half_of_up1 = cents((rows[up1].recommended - rows[up1].current) / 2)
    cap = total_now - freed + half_of_up1  # after the decrease, room for half of up1's rise and nothing more
    _accounts_file(tmp_path, monkeypatch,
                   f'[accounts."google_ads/{rows[down].account_id}"]\ndaily_cap = "{cap}"\n')

    plan_id = insert_plan(database_url, rows)
    push_plan(database_url, plan_id, connectors)

    ledger = ledger_rows(database_url, plan_id)
    assert ledger[_key(rows[down])]["status"] == "applied"
    assert sum(_budget(market, rows[i]) for i in account) <= cap
    assert ledger[_key(rows[up1])]["status"] == "applied"
    assert ledger[_key(rows[up1])]["new_daily_budget"] == rows[up1].current + half_of_up1
    assert ledger[_key(rows[up1])]["guardrail_notes"].startswith("daily_cap: clipped")
    assert ledger[_key(rows[up2])]["status"] == "refused"
    assert ledger[_key(rows[up2])]["error"].startswith("daily_cap: ")


def test_a_cooldown_refuses_a_second_change_within_it_but_lets_an_undo_through(
        database_url, market, connectors, tmp_path, monkeypatch):
    rows = market_rows(market)
    a, b = _of_account(rows, "tiktok_ads")[:2]
    first = scale(market_rows(market), {a: 1.2, b: 1.2})
    push_plan(database_url, insert_plan(database_url, first), connectors)
    _accounts_file(tmp_path, monkeypatch, "[defaults]\ncooldown_hours = 6\n")

    # An hour later (well, now): campaign a goes further, campaign b goes back to where it was.
    second = market_rows(market)
    second[a].recommended = cents(second[a].current * Decimal("1.1"))
    second[b].recommended = rows[b].current
    plan_id = insert_plan(database_url, second)
    push_plan(database_url, plan_id, connectors)

    ledger = ledger_rows(database_url, plan_id)
    assert ledger[_key(second[a])]["status"] == "refused"
    assert ledger[_key(second[a])]["error"].startswith("cooldown: ")
    assert ledger[_key(second[b])]["status"] == "applied" and _budget(market, second[b]) == rows[b].current


def test_the_kill_switch_stops_every_write_whatever_the_accounts_file_says(
        database_url, market, connectors, tmp_path, monkeypatch):
    rows = scale(market_rows(market), {0: 1.1, 1: 0.9})
    _accounts_file(tmp_path, monkeypatch, f'[defaults]\nmode = "auto"\n[accounts."{rows[0].platform}/{rows[0].account_id}"]'
                                          f'\nmode = "auto"\n')
    monkeypatch.setenv("MBO_KILL_SWITCH", "1")
    writes = sandbox_change_count(database_url, market.seed)

    plan_id = insert_plan(database_url, rows)
    summary = push_plan(database_url, plan_id, connectors)

    assert summary.recorded == 0 and summary.counts["applied"] == 0
    assert sandbox_change_count(database_url, market.seed) == writes

    # Approved changes left by an earlier push wait too, open and visible, until the switch is off.
    monkeypatch.delenv("MBO_KILL_SWITCH")
    monkeypatch.setenv("MBO_ACTIVATION", "approve")
    _accounts_file(tmp_path, monkeypatch, "")
    push_plan(database_url, plan_id, connectors)
    from mbo_pipelines import warehouse
    from mbo_pipelines.defs.activate import ledger
    with warehouse.connect(database_url, autocommit=True) as conn:
        assert ledger.decide(conn, plan_id, True, "test") == 2
    monkeypatch.setenv("MBO_KILL_SWITCH", "1")
    parked = push_plan(database_url, plan_id, connectors)
    assert parked.counts["approved"] == 2 and not parked.ok
    assert sandbox_change_count(database_url, market.seed) == writes
