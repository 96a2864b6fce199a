"""A real plan and ledger in a database of its own, cheaply: the real ``budget_recommendations`` asset on small
synthetic marts (``tests/optimize/optimize_helpers.py``), then ledger rows moved through the real ledger API
into several statuses, one of them waiting for approval. Also a small reader for the report's HTML."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from html.parser import HTMLParser

import dagster as dg
import psycopg
import pytest

from mbo_pipelines import asset_keys
from mbo_pipelines.defs.activate import ledger
from mbo_pipelines.defs.optimize.assets import budget_recommendations
from mbo_pipelines.resources import MboResource
from tests.optimize.optimize_helpers import synthetic_marts, write_synthetic_marts

#: A campaign name that is markup, and one matplotlib would read as mathematics.
#: The day the plan is made: the synthetic history (``synthetic_marts``) ends the day before.
TODAY = date(2026, 3, 2)
HOSTILE_NAME = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"> & "Q1" \'sale\''
DOLLAR_NAME = "Save $5 off $20 <b>now</b>"
WHY_WAITING = "approval_above_amount: <i>moves</i> 12.34 USD > 10.00"
REFUSED = "max_change: 45% > 30%"


@dataclass
class PlanDatabase:
    """A database with one plan and its ledger; ``metadata``: the asset's materialization metadata."""

    url: str
    plan_id: str
    asset_key: dg.AssetKey
    metadata: dict = field(repr=False)


def make_plan_database(url: str, instance: dg.DagsterInstance | None = None) -> PlanDatabase:
    """Synthetic marts (12 campaigns in USD and EUR on three platforms, two with hostile names; one account paced
    below its budgets), the real asset's plan (deterministic explanation), and its ledger: the hostile campaign waits for approval, one change is
    refused, the others are applied. ``instance``: where the materialization is recorded (default: ephemeral)."""
    daily, campaigns = synthetic_marts(campaigns_per_account=2)
    campaigns.loc[0, "campaign_name"] = HOSTILE_NAME
    campaigns.loc[1, "campaign_name"] = DOLLAR_NAME
    write_synthetic_marts(url, daily, campaigns)
    # One account paced below its budgets this month: the plan's total is less than the current one.
    paced = campaigns[(campaigns["platform"] == "google_ads") & (campaigns["account_id"] == "acc-usd")]
    budget = round(0.85 * float(paced["daily_budget_reporting"].sum()), 2)
    with psycopg.connect(url) as conn:
        conn.execute(
            "insert into marts.account_pacing (platform, account_id, month, currency, paced_daily_budget, "
            "paced_daily_budget_reporting, spend_mtd, days_left, pace_status, reporting_currency, last_loaded_day) "
            "values ('google_ads', 'acc-usd', %s, 'USD', %s, %s, 100, 30, 'overspending', 'USD', %s)",
            (TODAY.replace(day=1), budget, budget, TODAY - timedelta(days=1)))
    with pytest.MonkeyPatch.context() as env:
        for name in ("ANTHROPIC_API_KEY", "MBO_MAX_BUDGET_CHANGE", "MBO_CONVERSION_SOURCE", "MBO_TARGET_MARGINAL_ROAS",
                     "MBO_REPORTING_CURRENCY", "MBO_HISTORY_DAYS"):
            env.delenv(name, raising=False)
        result = dg.materialize([budget_recommendations], instance=instance,
                                resources={"mbo": MboResource(database_url=url, sandbox_today=TODAY.isoformat())})
    assert result.success
    # The materialization of marts.budget_recommendations (the plan's rows, with its charts in the metadata).
    [event] = [e for e in result.get_asset_materialization_events()
               if e.materialization.asset_key == asset_keys.RECOMMENDATIONS]
    metadata = event.materialization.metadata
    plan_id = metadata["plan_id"].value
    with psycopg.connect(url) as conn:
        ledger.ensure_ledger(conn)
        changes = conn.execute(
            "select platform, account_id, campaign_id, currency, current_daily_budget, recommended_daily_budget "
            "from marts.budget_recommendations where plan_id = %s order by platform, account_id, campaign_id",
            (plan_id,)).fetchall()
        ledger.record_proposed(conn, plan_id, [tuple(c) for c in changes], by="test")
        ids = {campaign: change_id for change_id, campaign in conn.execute(
            "select change_id, campaign_id from activation.budget_changes where plan_id = %s", (plan_id,))}
        hostile, refused = ids[campaigns.loc[0, "campaign_id"]], ids[campaigns.loc[2, "campaign_id"]]
        rest = [i for i in ids.values() if i not in (hostile, refused)]
        ledger.move(conn, [hostile], ledger.PENDING_APPROVAL, expect=ledger.OPEN, by="test", error=WHY_WAITING)
        ledger.move(conn, [refused], ledger.REFUSED, expect=ledger.OPEN, by="test", error=REFUSED)
        ledger.move(conn, rest, ledger.APPROVED, expect=ledger.OPEN, by="test", decided=True)
        ledger.move(conn, rest, ledger.APPLIED, expect=[ledger.APPROVED], by="test", live_daily_budget=Decimal("1"))
    return PlanDatabase(url, plan_id, event.materialization.asset_key, dict(metadata))


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Page(HTMLParser):
    """The report's HTML read back: each element with an ``id`` (its text and attributes), the rows of every
    table body by table id (each row's cell texts), every ``src``/``href`` value, every ``<script>`` opened."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.by_id: dict[str, dict] = {}
        self.rows: dict[str, list[list[str]]] = {}
        self.links: list[str] = []
        self.scripts = 0
        self._open: list[tuple[str, dict]] = []  # elements with an id whose text is being collected
        self._table: list[str | None] = []
        self._in_body = False
        self._cell: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.links += [v for k, v in attrs.items() if k in ("src", "href") and v]
        self.scripts += tag == "script"
        if "id" in attrs and tag not in VOID:
            entry = {"tag": tag, "attrs": attrs, "text": ""}
            self.by_id[attrs["id"]] = entry
            self._open.append((tag, entry))
        if tag == "table":
            self._table.append(attrs.get("id"))
            if attrs.get("id"):
                self.rows[attrs["id"]] = []
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body and self._table and self._table[-1]:
            self.rows[self._table[-1]].append([])
        elif tag == "td" and self._in_body and self._table and self._table[-1]:
            self._cell = []

    def handle_endtag(self, tag):
        if self._open and self._open[-1][0] == tag:
            self._open.pop()
        if tag == "td" and self._cell is not None:
            self.rows[self._table[-1]][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "table" and self._table:
            self._table.pop()

    def handle_data(self, data):
        for _, entry in self._open:
            entry["text"] += data
        if self._cell is not None:
            self._cell.append(data)

    def value(self, element_id: str) -> str:
        """The number an element's ``data-value`` holds, as written."""
        return self.by_id[element_id]["attrs"]["data-value"]

    def same(self, element_id: str, stored) -> bool:
        """Whether the element's ``data-value`` is exactly ``stored`` (a numeric column's Decimal, or a float)."""
        return type(stored)(self.value(element_id)) == stored

    def text(self, element_id: str) -> str:
        return " ".join(self.by_id[element_id]["text"].split())
