"""``mbo report``'s page against the database it was written from: a real plan (the optimize asset on small
synthetic marts) and its ledger, on the session's PostgreSQL."""

from __future__ import annotations

import base64
import re
from html import escape

import psycopg
import pytest

from mbo_pipelines.report import NoPlanError, write_report
from tests.report.report_helpers import DOLLAR_NAME, HOSTILE_NAME, REFUSED, WHY_WAITING, Page, make_plan_database

NO_PLAN = "no plan yet: run `mbo demo` or `mbo refresh` first"


@pytest.fixture(scope="module")
def planned(new_database):
    return make_plan_database(new_database("report"))


@pytest.fixture(scope="module")
def html(planned, tmp_path_factory) -> str:
    path = write_report(planned.url, tmp_path_factory.mktemp("report") / "report.html")
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def page(html) -> Page:
    return Page(html)


@pytest.fixture
def db(planned):
    with psycopg.connect(planned.url) as conn:
        yield conn


def test_totals_are_the_plans_numbers(page, db, planned):
    total, before, after, low, high, gap, currency, current = db.execute(
        "select total_daily_budget_reporting, expected_value_current_reporting, expected_value_recommended_reporting, "
        "expected_uplift_low_reporting, expected_uplift_high_reporting, optimality_gap, reporting_currency, "
        "(select sum(current_daily_budget_reporting) from marts.budget_recommendations r where r.plan_id = p.plan_id) "
        "from marts.budget_plans p where plan_id = %s", (planned.plan_id,)).fetchone()
    assert page.text("plan-id") == planned.plan_id
    for element, stored in (("total-recommended", total), ("total-current", current), ("value-current", before),
                            ("value-recommended", after), ("uplift", after - before), ("uplift-low", low),
                            ("uplift-high", high), ("optimality-gap", gap)):
        assert page.same(element, stored), (element, page.value(element), stored)
    assert low is not None and gap is not None  # the plan has an interval and a certificate: both were shown
    assert total < current  # one account is paced below its budgets: the two totals differ
    # What a person reads is the same numbers, rounded.
    assert page.text("total-recommended").startswith(f"{total:,.2f} {currency}")
    assert page.text("total-current") == f"{current:,.2f} {currency}"
    assert page.text("uplift").startswith(f"{after - before:+,.2f} {currency}")
    assert f"90% interval {low:+,.2f} … {high:+,.2f}" in page.text("uplift")
    assert page.text("optimality-gap").startswith(f"{gap:.1e}")


def test_one_row_per_recommendation_with_its_budgets_and_ledger_status(page, db, planned):
    expected = db.execute(
        "select r.campaign_id, r.campaign_name, r.current_daily_budget, r.recommended_daily_budget, b.status "
        "from marts.budget_recommendations r join activation.budget_changes b using (plan_id, platform, account_id, "
        "campaign_id) where plan_id = %s", (planned.plan_id,)).fetchall()
    rows = page.rows["changes-table"]
    assert len(rows) == len(expected) == 12
    shown = {cells[2]: (cells[4], cells[5], cells[10]) for cells in rows}
    assert shown == {" ".join(f"{name} {cid}".split()): (f"{current:,.2f}", f"{recommended:,.2f}", status)
                     for cid, name, current, recommended, status in expected}


def test_the_explanation_is_on_the_page(html, db, planned):
    explanation, source = db.execute("select explanation, explanation_source from marts.budget_plans where plan_id = %s",
                                     (planned.plan_id,)).fetchone()
    assert len(explanation) > 100
    assert f'<p class="explanation">{escape(explanation)}</p>' in html
    assert f"Written by: {source}" in html


def test_the_ledger_counts_per_status_and_the_change_waiting_for_approval(page, db, planned):
    counts = dict(db.execute("select status, count(*) from activation.budget_changes where plan_id = %s group by 1",
                             (planned.plan_id,)).fetchall())
    assert counts == {"applied": 10, "pending_approval": 1, "refused": 1}
    assert {status: int(n) for status, n in page.rows["ledger-counts"]} == counts
    [waiting] = page.rows["waiting"]
    assert HOSTILE_NAME in waiting[2] and waiting[6] == WHY_WAITING
    refused = [cells for cells in page.rows["changes-table"] if cells[10] == "refused"]
    assert len(refused) == 1 and REFUSED not in refused[0][11]  # the ledger's error is in the ledger, not the plan


def test_hostile_names_are_text_not_markup(html, page):
    for text in (HOSTILE_NAME, DOLLAR_NAME, WHY_WAITING):
        assert text not in html and escape(text) in html
    assert "<script>window" not in html and "<b>now" not in html and "<img src=x" not in html
    assert page.scripts == 1  # the page's own sorting script
    names = [cells[2] for cells in page.rows["changes-table"]]
    assert any(name.startswith(" ".join(HOSTILE_NAME.split())) for name in names)
    assert any(name.startswith(DOLLAR_NAME) for name in names)


def test_nothing_is_fetched_from_anywhere(html, page):
    assert page.links and all(link.startswith("data:image/png;base64,") for link in page.links)
    assert not re.search(r"""(src|href|action)\s*=\s*["']?\s*(https?:)?//""", html, re.IGNORECASE)
    assert "default-src 'none'" in html


def test_charts_are_the_plans_and_the_curves_reproduce_it(page):
    pngs = [base64.b64decode(link.split(",", 1)[1]) for link in page.links]
    assert len(pngs) == 2 and all(png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 2_000 for png in pngs)
    # Refitted on the plan's history, the curves give the plan's own expected values: they are its curves.
    assert page.text("curves-note").endswith("at the plan's budgets they give its expected values exactly.")


def test_the_latest_plan_by_default_and_an_older_one_by_id(planned, tmp_path):
    older = "plan-older-copy"
    with psycopg.connect(planned.url) as conn:
        columns = [c for (c,) in conn.execute(
            "select column_name from information_schema.columns where table_schema = 'marts' "
            "and table_name = 'budget_plans' and column_name not in ('plan_id', 'created_at')")]
        conn.execute(f"insert into marts.budget_plans (plan_id, created_at, {', '.join(columns)}) "
                     f"select %s, created_at - interval '1 day', {', '.join(columns)} from marts.budget_plans "
                     "where plan_id = %s", (older, planned.plan_id))
        columns = [c for (c,) in conn.execute(
            "select column_name from information_schema.columns where table_schema = 'marts' "
            "and table_name = 'budget_recommendations' and column_name <> 'plan_id'")]
        conn.execute(f"insert into marts.budget_recommendations (plan_id, {', '.join(columns)}) "
                     f"select %s, {', '.join(columns)} from marts.budget_recommendations where plan_id = %s",
                     (older, planned.plan_id))
    latest = Page(write_report(planned.url, tmp_path / "latest.html").read_text())
    assert latest.text("plan-id") == planned.plan_id
    chosen = Page(write_report(planned.url, tmp_path / "older.html", older).read_text())
    assert chosen.text("plan-id") == older
    assert "Not pushed yet" in chosen.text("not-pushed") and "ledger-counts" not in chosen.by_id
    assert len(chosen.rows["changes-table"]) == 12
    assert {cells[10] for cells in chosen.rows["changes-table"]} == {""}  # the latest plan's ledger is not its own


def test_default_output_is_in_mbo_home(planned, tmp_path, monkeypatch):
    monkeypatch.setenv("MBO_HOME", str(tmp_path / "home"))
    assert write_report(planned.url) == (tmp_path / "home" / "report.html").resolve()
    assert (tmp_path / "home" / "report.html").read_text().startswith("<!doctype html>")


def test_no_plan_yet_is_one_clear_line(new_database, planned, tmp_path):
    empty = new_database("report_empty")
    with pytest.raises(NoPlanError, match=re.escape(NO_PLAN)):
        write_report(empty, tmp_path / "r.html")
    with psycopg.connect(empty) as conn:  # the tables exist, no plan in them
        from mbo_pipelines.defs.optimize.tables import ensure_plan_tables

        ensure_plan_tables(conn)
    with pytest.raises(NoPlanError, match=re.escape(NO_PLAN)):
        write_report(empty, tmp_path / "r.html")
    with pytest.raises(NoPlanError, match="no plan 'plan-nope' in marts.budget_plans"):
        write_report(planned.url, tmp_path / "r.html", "plan-nope")
    assert not (tmp_path / "r.html").exists()
