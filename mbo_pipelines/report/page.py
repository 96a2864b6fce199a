"""The report as one HTML page: inline CSS, one small inline script (sorting), charts as ``data:`` PNGs.

Every string from the database goes through ``html.escape`` (``_e``), and the page's Content-Security-Policy
allows only its own style and script (by hash) and ``data:`` images: no request leaves the page, and markup
smuggled into a campaign name would neither render nor run.
"""

from __future__ import annotations

import base64
import hashlib
import math
from datetime import datetime, timezone
from decimal import Decimal
from html import escape

from mbo_pipelines.report.curves import Chart
from mbo_pipelines.report.data import PlanReport

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1200px;padding:1.5rem;color:#1d1d1f}
h1{font-size:1.4rem;margin:0 0 .3rem}h2{font-size:1.1rem;margin:2rem 0 .6rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
code{font:12px ui-monospace,monospace;background:#f3f3f3;padding:0 .25em;border-radius:3px}
.meta,.note,footer{color:#666;font-size:.9em}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(14rem,1fr));gap:.6rem;margin:0}
.cards div{border:1px solid #ddd;border-radius:6px;padding:.6rem .8rem}
.cards dt{color:#666;font-size:.85em}.cards dd{margin:0;font-size:1.2em;font-variant-numeric:tabular-nums}
.cards dd small{display:block;font-size:.7em;color:#666}
img.chart{display:block;max-width:100%;height:auto;border:1px solid #eee;margin:.5rem 0}
.explanation{white-space:pre-wrap;max-width:60rem}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid #eee;padding:.3rem .5rem;text-align:left;vertical-align:top}
td.num,th.num{text-align:right}
thead th{position:sticky;top:0;background:#fafafa;border-bottom:2px solid #ccc;padding:0}
thead th button{all:unset;box-sizing:border-box;display:block;width:100%;padding:.35rem .5rem;cursor:pointer}
th.num button{text-align:right}
th[aria-sort=ascending] button::after{content:" \\25B2"}th[aria-sort=descending] button::after{content:" \\25BC"}
.up{color:#0a6b2e}.down{color:#a4262c}.small{font-size:.85em;color:#666}
.status-pending_approval{font-weight:600;color:#8a5300}
.scroll{overflow-x:auto}td.note{min-width:24rem}
"""

JS = """
(function () {
  "use strict";
  function key(row, column, numeric) {
    var cell = row.cells[column], raw = cell.getAttribute("data-sort");
    if (raw === null) raw = cell.textContent.trim();
    if (!numeric) return raw.toLowerCase();
    var number = parseFloat(raw);
    return isNaN(number) ? -Infinity : number;
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    var headers = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(headers, function (th, column) {
      th.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(headers, function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var numeric = th.getAttribute("data-type") === "number", body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows).map(function (row, i) {
          return {row: row, key: key(row, column, numeric), i: i};
        });
        rows.sort(function (a, b) {
          var order = a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
          return (ascending ? order : -order) || a.i - b.i;
        });
        var fragment = document.createDocumentFragment();
        rows.forEach(function (entry) { fragment.appendChild(entry.row); });
        body.appendChild(fragment);
      });
    });
  });
})();
"""


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


#: Only the page's own style and script, images only from ``data:`` URIs, nothing fetched, no forms.
CONTENT_SECURITY_POLICY = (f"default-src 'none'; img-src data:; style-src {_hash(CSS)}; script-src {_hash(JS)}; "
                           "base-uri 'none'; form-action 'none'")


def _e(value) -> str:
    """Any value as HTML text, quotes included (safe in attributes too); None as an empty string."""
    return "" if value is None else escape(str(value), quote=True)


def _missing(value) -> bool:
    """None, or a NaN (a float's, or a numeric column's)."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or (
        isinstance(value, Decimal) and value.is_nan())


def _money(value, currency: str = "", signed: bool = False) -> str:
    if _missing(value):
        return "n/a"
    text = f"{float(value):+,.2f}" if signed else f"{float(value):,.2f}"
    return f"{text} {currency}".strip()


def _raw(value) -> str:
    """A number as stored, for machines: a ``Decimal`` exactly as the database gave it, a float by ``repr``."""
    if _missing(value):
        return ""
    return str(value) if isinstance(value, Decimal) else repr(float(value))


def _card(card_id: str, label: str, value, shown: str, detail: str = "") -> str:
    """One figure of the totals; ``data-value`` holds the number as stored (``_raw``). ``detail`` is HTML: the
    caller escapes what it puts in."""
    raw = _raw(value)
    small = f"<small>{detail}</small>" if detail else ""
    return (f'<div><dt>{_e(label)}</dt><dd id="{card_id}" data-value="{_e(raw)}">{_e(shown)}{small}</dd></div>')


def _totals(report: PlanReport) -> str:
    plan, cur = report.plan, report.plan["reporting_currency"]
    before, after = plan["expected_value_current_reporting"], plan["expected_value_recommended_reporting"]
    low, high = plan.get("expected_uplift_low_reporting"), plan.get("expected_uplift_high_reporting")
    gap = plan.get("optimality_gap")
    interval = "" if _missing(low) or _missing(high) else (
        f'90% interval <span id="uplift-low" data-value="{_raw(low)}">{_e(_money(low, signed=True))}</span> … '
        f'<span id="uplift-high" data-value="{_raw(high)}">{_e(_money(high, signed=True))}</span>')
    change = float(report.recommended_total) - float(report.current_total)
    cards = [
        _card("total-current", "Current total daily budget", report.current_total, _money(report.current_total, cur)),
        _card("total-recommended", "Recommended total daily budget", report.recommended_total,
              _money(report.recommended_total, cur), _e(f"{_money(change, cur, signed=True)} vs current")),
        _card("value-current", "Expected value per day, current budgets", before, _money(before, cur)),
        _card("value-recommended", "Expected value per day, recommended", after, _money(after, cur)),
        _card("uplift", "Expected uplift per day", after - before, _money(after - before, cur, signed=True), interval),
        _card("optimality-gap", "Optimality gap (certified)", gap, "n/a" if _missing(gap) else f"{float(gap):.1e}",
              _e(plan["solver_message"])),
    ]
    target, budget = plan.get("target_marginal_roas"), plan.get("budget_at_target_marginal_roas_reporting")
    if not _missing(budget):
        cards.append(_card("spend-scenario", f"Total where the next {cur} returns {float(target):.2f} {cur}", budget,
                           _money(budget, cur), "reported, never applied"))
    return f'<section id="totals"><h2>Totals</h2><dl class="cards">{"".join(cards)}</dl></section>'


def _charts(charts: list[Chart], curves_note: str) -> str:
    parts = []
    for chart in charts:
        if chart.data_uri is None:
            parts.append(f'<p class="note">{_e(chart.note)}</p>')
        else:
            parts.append(f'<figure><img class="chart" src="{_e(chart.data_uri)}" alt="{_e(chart.alt)}">'
                         f'<figcaption class="note">{_e(chart.alt)}</figcaption></figure>')
    parts.append(f'<p class="note" id="curves-note">{_e(curves_note)}</p>')
    return f'<section id="charts"><h2>Per platform and response curves</h2>{"".join(parts)}</section>'


def _explanation(report: PlanReport) -> str:
    plan = report.plan
    return (f'<section id="explanation"><h2>Explanation</h2><p class="explanation">{_e(plan["explanation"])}</p>'
            f'<p class="meta">Written by: {_e(plan["explanation_source"])}</p></section>')


def _ledger(report: PlanReport) -> str:
    plan_id = report.plan["plan_id"]
    if not report.status_counts:
        return ('<section id="ledger"><h2>Ledger</h2><p id="not-pushed">Not pushed yet: no change of this plan is in '
                f'activation.budget_changes (<code>mbo push {_e(plan_id)}</code>).</p></section>')
    counts = "".join(f'<tr data-status="{_e(s)}"><td class="status-{_e(s)}">{_e(s)}</td><td class="num">{n}</td></tr>'
                     for s, n in report.status_counts.items())
    parts = ['<section id="ledger"><h2>Ledger (activation.budget_changes)</h2>',
             f'<table id="ledger-counts"><thead><tr><th>status</th><th class="num">changes</th></tr></thead>'
             f'<tbody>{counts}</tbody></table>']
    if report.waiting:
        names = {(r.platform, r.account_id, r.campaign_id): r.campaign_name for r in report.rows.itertuples(index=False)}
        rows = "".join(
            f'<tr><td>{_e(r.platform)}</td><td>{_e(r.account_id)}</td>'
            f'<td>{_e(names.get((r.platform, r.account_id, r.campaign_id)))} '
            f'<span class="small">{_e(r.campaign_id)}</span></td><td class="num">{_e(_money(r.old_daily_budget))}</td>'
            f'<td class="num">{_e(_money(r.new_daily_budget))}</td><td>{_e(r.currency)}</td><td>{_e(r.error)}</td></tr>'
            for r in report.waiting)
        parts += [f'<h3>Waiting for approval ({len(report.waiting)})</h3>',
                  '<table id="waiting"><thead><tr><th>platform</th><th>account</th><th>campaign</th>'
                  '<th class="num">old</th><th class="num">new</th><th>currency</th><th>why</th></tr></thead>'
                  f'<tbody>{rows}</tbody></table>',
                  f'<p>Approve with <code>mbo approve {_e(plan_id)}</code> or reject with '
                  f'<code>mbo reject {_e(plan_id)}</code> (<code>--campaign ID</code> for some).</p>']
    return "".join(parts) + "</section>"


#: The table of changes: each column's header and how the page's script sorts it (as text or as numbers).
COLUMNS = [
    ("platform", "text"), ("account", "text"), ("campaign", "text"), ("currency", "text"),
    ("current", "number"), ("recommended", "number"), ("change", "number"), ("change (reporting)", "number"),
    ("Δ expected value (reporting)", "number"), ("marginal ROAS", "number"), ("ledger", "text"), ("note", "text"),
]


def _number_cell(value, text: str, css: str = "num") -> str:
    return f'<td class="{css}" data-sort="{"" if _missing(value) else repr(float(value))}">{_e(text)}</td>'


def _change_row(r, plan_explanation: str) -> str:
    change = r.recommended_daily_budget / r.current_daily_budget - 1 if r.current_daily_budget else 0.0
    move = r.recommended_daily_budget_reporting - r.current_daily_budget_reporting
    gain = r.expected_value_recommended_reporting - r.expected_value_current_reporting
    trend = "num up" if move > 0.005 else "num down" if move < -0.005 else "num"
    note = "" if r.explanation == plan_explanation else r.explanation
    status = r.ledger_status if isinstance(r.ledger_status, str) else ""
    return (
        f"<tr><td>{_e(r.platform)}</td><td>{_e(r.account_id)}</td>"
        f'<td data-sort="{_e(r.campaign_name)}">{_e(r.campaign_name)} <span class="small">{_e(r.campaign_id)}</span></td>'
        f"<td>{_e(r.currency)}</td>"
        + _number_cell(r.current_daily_budget, f"{r.current_daily_budget:,.2f}")
        + _number_cell(r.recommended_daily_budget, f"{r.recommended_daily_budget:,.2f}")
        + _number_cell(change, f"{change:+.1%}", trend)
        + _number_cell(move, f"{move:+,.2f}", trend)
        + _number_cell(gain, f"{gain:+,.2f}")
        + _number_cell(r.marginal_roas, f"{r.marginal_roas:.2f}")
        + f'<td class="status-{_e(status)}">{_e(status)}</td>'
        f'<td class="small note">{_e(note)}</td></tr>'
    )


def _changes(report: PlanReport) -> str:
    head = "".join(f'<th{" class=num" if kind == "number" else ""} data-type="{kind}" scope="col">'
                   f'<button type="button">{_e(name)}</button></th>' for name, kind in COLUMNS)
    explanation = report.plan["explanation"]
    body = "".join(_change_row(r, explanation) for r in report.rows.itertuples(index=False))
    return (f'<section id="changes"><h2>Recommended changes ({len(report.rows):,} campaigns; amounts per day, '
            'click a header to sort)</h2><div class="scroll"><table id="changes-table" class="sortable">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div></section>")


def render_page(report: PlanReport, charts: list[Chart], curves_note: str, now: datetime | None = None) -> str:
    """The whole page as a string."""
    plan = report.plan
    now = now or datetime.now(timezone.utc)
    meta = (f"Created {plan['created_at']:%Y-%m-%d %H:%M %Z} · history {plan['history_start']}..{plan['history_end']}"
            f" · {plan['campaign_count']:,} campaigns · amounts in {plan['reporting_currency']} unless a column "
            f"says otherwise · conversion values: {plan.get('conversion_source') or 'not recorded'}")
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>MBO plan {_e(plan['plan_id'])}</title><style>{CSS}</style></head><body>"
        f'<header><h1>Budget plan <code id="plan-id">{_e(plan["plan_id"])}</code></h1>'
        f'<p class="meta">{_e(meta)}</p></header>'
        + _totals(report) + _charts(charts, curves_note) + _explanation(report) + _ledger(report) + _changes(report)
        + f"<footer><p>Written by <code>mbo report</code> at {now:%Y-%m-%d %H:%M:%S} UTC from marts.budget_plans, "
        "marts.budget_recommendations and activation.budget_changes.</p></footer>"
        f"<script>{JS}</script></body></html>\n"
    )
