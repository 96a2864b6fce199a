"""A CSV import of 50 campaigns over 90 days flows through `mbo refresh` to the marts and a plan, and
`mbo push` records its changes as `manual` in the ledger: nothing is sent anywhere."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest

from tests.fakes.csv_files import write_import_files
from tests.fakes.ecb_rates import write_ecb_history
from tests.live.live_helpers import mbo_env, query, run_mbo

START, END = date(2026, 7, 1), date(2026, 9, 28)  # 90 days
#: Rates from before the first month of the shipped monthly budgets (seed account_monthly_budgets), as the
#: ECB history file (from 1999) would have: account_pacing converts every budget month at its own rate.
RATES_FROM = date(2025, 12, 1)


@pytest.fixture(scope="module")
def imported(new_database, tmp_path_factory):
    home = tmp_path_factory.mktemp("csv-e2e")
    (home / "imports").mkdir()
    files = write_import_files(home / "imports", START, END, campaigns=50, seed=5)
    url = new_database("csv_e2e")
    # Live mode with no ad platform enabled: the CSV import is the only source.
    rates = write_ecb_history(home / "eurofxref-hist.csv", RATES_FROM, END)
    env = mbo_env(url, home, MBO_SOURCE="live", MBO_IMPORT_DIR=str(home / "imports"), MBO_FX_RATES_CSV=str(rates))
    refresh = run_mbo("refresh", "--start", START.isoformat(), "--end", END.isoformat(), env=env)
    assert refresh.returncode == 0, refresh.stderr
    push = run_mbo("push", env=env)
    return {"url": url, "rows": files.rows, "refresh": refresh, "push": push}


def test_marts_hold_every_imported_row(imported):
    expected = {(r["platform"], r["account_id"], r["campaign_id"], r["date"]):
                (r["spend"], r["impressions"], r["clicks"]) for r in imported["rows"]}
    assert len({k[:3] for k in expected}) == 50
    mart = {
        (p, a, c, d): (spend, impressions, clicks)
        for p, a, c, d, spend, impressions, clicks in query(
            imported["url"],
            "select platform, account_id, campaign_id, date_day, spend, impressions, clicks from marts.fct_campaign_daily",
        )
    }
    assert mart.keys() == expected.keys()
    for k, (spend, impressions, clicks) in expected.items():
        assert mart[k] == (Decimal(spend), impressions, clicks), k


def test_a_plan_covers_the_active_imported_campaigns(imported):
    latest = {}
    for r in sorted(imported["rows"], key=lambda r: r["date"]):
        latest[(r["platform"], r["account_id"], r["campaign_id"])] = r
    active = {k for k, r in latest.items() if r["status"] == "active"}
    plan_id = imported["refresh"].stdout.split("plan ")[1].split()[0]
    planned = {tuple(r) for r in query(imported["url"],
               "select platform, account_id, campaign_id from marts.budget_recommendations where plan_id = %s", (plan_id,))}
    assert planned == active
    # The plan is fitted on the MBO_HISTORY_DAYS (90) days ending at --end.
    assert query(imported["url"], "select history_start, history_end from marts.budget_plans where plan_id = %s",
                 (plan_id,)) == [(START, END)]
    current = dict(query(imported["url"],
                         "select platform || '/' || account_id || '/' || campaign_id, current_daily_budget "
                         "from marts.budget_recommendations where plan_id = %s", (plan_id,)))
    for (platform, account, campaign) in active:
        assert float(current[f"{platform}/{account}/{campaign}"]) == pytest.approx(float(latest[(platform, account, campaign)]["daily_budget"]))


def test_push_records_manual_changes_and_sends_nothing(imported):
    push = imported["push"]
    assert push.returncode == 0, push.stderr
    statuses = defaultdict(int)
    for platform, status, error in query(imported["url"], "select platform, status, error from activation.budget_changes"):
        statuses[status] += 1
        assert platform in {"linkedin_ads", "microsoft_ads", "snapchat_ads"}
        assert status == "manual" and "set this budget by hand" in error
    assert statuses["manual"] > 0
    assert f"{statuses['manual']} manual" in push.stdout
