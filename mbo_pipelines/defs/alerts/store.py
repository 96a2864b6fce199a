"""``marts.alerts``: every alert with its state (open or resolved), explanation and notification time.

``sync`` folds one detection into the table: an alert found again (same id, or
an open alert of the same kind, scope and metric that ran up to the day before
the new one's first day) continues, keeping its id and first day; a new one is
inserted; an open one no longer found is resolved. Only new alerts are
explained and notified, so a continuing problem is one message, not one a day.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

import psycopg
from psycopg.rows import dict_row

from mbo_pipelines.defs.alerts.model import Alert

OPEN, RESOLVED = "open", "resolved"

ALERTS_DDL = """
create table if not exists marts.alerts (
  alert_id text primary key,
  kind text not null,
  severity text not null,
  status text not null,
  platform text not null,
  account_id text,
  campaign_id text,
  campaign_name text,
  metric text not null,
  observed numeric(20, 6) not null,
  expected numeric(20, 6),
  expected_low numeric(20, 6),
  expected_high numeric(20, 6),
  currency text,
  first_day date not null,
  last_day date not null,
  days integer not null,
  message text not null,
  explanation text,
  explanation_source text,
  explanation_note text,
  detected_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  resolved_at timestamptz,
  notified_at timestamptz
)
"""

#: ``COMMENT ON`` the table and its columns: the same text as the source ``alerts.alerts`` in
#: dbt_project/models/marts/_plan_tables.yml (tests/transform/test_plan_table_docs.py compares them).
COMMENTS: dict[str, str] = {
    "alert_id": "The alert's stable id: alert-<16 hex digits of its kind, scope, metric and first day>. A problem "
                "that continues keeps its id on every refresh.",
    "kind": "What broke: spend_spike, spend_drop, overspend, zero_delivery, tracking_break, efficiency_shift, "
            "missing_day, restatement or ga4_mismatch (README, Alerts).",
    "severity": "warn or error. Error alerts are explained by Claude when it is configured.",
    "status": "open while the detector still finds the problem on the latest refresh, resolved after.",
    "platform": "Ad platform the alert is about.",
    "account_id": "Ad account, or null for a whole platform (a missing day of every account).",
    "campaign_id": "Campaign, or null for a whole account or platform.",
    "campaign_name": "Campaign name when detected, or null.",
    "metric": "The metric that is off: spend, spend_vs_daily_budget, spend_mtd, conversions, roas, cpa, rows or "
              "ga4_sessions_per_click.",
    "observed": "The metric's value on last_day (money in currency; counts and ratios as they are).",
    "expected": "What the recent history predicts: the median of the same weekday over MBO_ALERT_WEEKS weeks, the "
                "usual conversion rate times the day's clicks, the daily budget, the first report; null for a "
                "missing day.",
    "expected_low": "Low end of the expected band (below it is unusual), or null.",
    "expected_high": "High end of the expected band (above it is unusual), or null.",
    "currency": "Currency of observed and expected when the metric is money (the reporting currency, or the "
                "account's for restatements and month pacing); null otherwise.",
    "first_day": "First day the problem was seen (the account's day).",
    "last_day": "Latest day the problem was seen.",
    "days": "Days covered, first_day to last_day included.",
    "message": "One deterministic sentence: what was observed against what, on which days.",
    "explanation": "Two or three sentences for a marketer (Claude's, grounded on the alert's numbers, or the "
                   "deterministic text).",
    "explanation_source": "Who wrote the explanation: claude or deterministic.",
    "explanation_note": "Why Claude's text was not used (a number not among the alert's facts, an API error), or "
                        "null.",
    "detected_at": "When the alert was first detected (UTC).",
    "updated_at": "When a refresh last found it (UTC).",
    "resolved_at": "When a refresh no longer found it (UTC), or null while open.",
    "notified_at": "When it was posted to MBO_ALERT_WEBHOOK_URL (UTC), or null.",
}
TABLE_COMMENT = ("One row per alert: a problem the detector found in the marts after a refresh, open or resolved. "
                 "Written by the Dagster asset marts/alerts; `mbo alerts` lists the open ones.")


def ensure_alerts_table(conn: psycopg.Connection) -> None:
    """Create ``marts.alerts`` (with its comments) if missing."""
    if conn.execute("select to_regclass('marts.alerts') is not null").fetchone()[0]:
        return
    from psycopg import sql

    conn.execute("create schema if not exists marts")
    conn.execute(ALERTS_DDL)
    conn.execute("create index if not exists alerts_open on marts.alerts (status, platform, account_id, campaign_id)")
    statements = [sql.SQL("comment on table marts.alerts is {}").format(sql.Literal(TABLE_COMMENT))]
    statements += [sql.SQL("comment on column {} is {}").format(sql.Identifier("marts", "alerts", column),
                                                                 sql.Literal(text)) for column, text in COMMENTS.items()]
    conn.execute(sql.SQL("; ").join(statements))


@dataclass(frozen=True)
class SyncResult:
    """What one detection changed: the alerts new today, those that continue, and the ids resolved."""

    new: list[Alert]
    continuing: list[Alert]
    resolved: list[str]

    @property
    def open(self) -> list[Alert]:
        return self.new + self.continuing


def _row(alert: Alert) -> dict:
    return {**alert.facts(), "first_day": alert.first_day, "last_day": alert.last_day}


def _alert(row: dict) -> Alert:
    def number(value):
        return None if value is None else float(value)

    return Alert(kind=row["kind"], severity=row["severity"], platform=row["platform"], account_id=row["account_id"],
                 campaign_id=row["campaign_id"], metric=row["metric"], observed=float(row["observed"]),
                 expected=number(row["expected"]), expected_low=number(row["expected_low"]),
                 expected_high=number(row["expected_high"]), first_day=row["first_day"], last_day=row["last_day"],
                 message=row["message"], campaign_name=row["campaign_name"], currency=row["currency"],
                 alert_id=row["alert_id"])


def continues(stored: Alert, found: Alert) -> bool:
    """Whether ``found`` is the problem ``stored`` still going on: the same kind, scope and metric, starting
    within the stored days or the day after (a detection's id changes once its episode outlasts the scan)."""
    same = (stored.kind, stored.platform, stored.account_id, stored.campaign_id, stored.metric) == (
        found.kind, found.platform, found.account_id, found.campaign_id, found.metric)
    return same and stored.first_day <= found.first_day <= stored.last_day + timedelta(days=1)


def sync(conn: psycopg.Connection, found: list[Alert]) -> SyncResult:
    """Fold the alerts ``found`` by one detection into marts.alerts (see the module docstring), in one transaction."""
    ensure_alerts_table(conn)
    with conn.transaction():
        conn.execute("lock table marts.alerts in share row exclusive mode")  # one refresh's sync at a time
        stored = {r["alert_id"]: r for r in conn.cursor(row_factory=dict_row).execute(
            "select * from marts.alerts where status = %s or alert_id = any(%s)",
            (OPEN, [a.alert_id for a in found]))}
        open_alerts = [_alert(r) for r in stored.values() if r["status"] == OPEN]
        new, continuing, kept = [], [], set()
        for alert in found:
            previous = stored.get(alert.alert_id)
            if previous is None:
                earlier = next((s for s in open_alerts if s.alert_id not in kept and continues(s, alert)), None)
                if earlier is not None:
                    alert = replace(alert, first_day=earlier.first_day, alert_id=earlier.alert_id)
                    previous = stored[earlier.alert_id]
            if previous is None:
                new.append(alert)
                conn.execute(
                    "insert into marts.alerts (alert_id, kind, severity, status, platform, account_id, campaign_id, "
                    "campaign_name, metric, observed, expected, expected_low, expected_high, currency, first_day, "
                    "last_day, days, message) values (%(alert_id)s, %(kind)s, %(severity)s, 'open', %(platform)s, "
                    "%(account_id)s, %(campaign_id)s, %(campaign_name)s, %(metric)s, %(observed)s, %(expected)s, "
                    "%(expected_low)s, %(expected_high)s, %(currency)s, %(first_day)s, %(last_day)s, %(days)s, "
                    "%(message)s)", _row(alert))
            else:
                continuing.append(alert)
                conn.execute(
                    "update marts.alerts set status = 'open', severity = %(severity)s, observed = %(observed)s, "
                    "expected = %(expected)s, expected_low = %(expected_low)s, expected_high = %(expected_high)s, "
                    "last_day = greatest(last_day, %(last_day)s), days = greatest(last_day, %(last_day)s) - first_day "
                    "+ 1, message = %(message)s, updated_at = now(), resolved_at = null where alert_id = %(alert_id)s",
                    _row(alert))
            kept.add(alert.alert_id)
        resolved = sorted(a.alert_id for a in open_alerts if a.alert_id not in kept)
        conn.execute("update marts.alerts set status = 'resolved', resolved_at = now(), updated_at = now() "
                     "where alert_id = any(%s)", (resolved,))
    return SyncResult(new, continuing, resolved)


def record_explanations(conn: psycopg.Connection, explained: list[tuple[str, str, str, str | None]]) -> None:
    """Store (alert_id, text, source, note) explanations."""
    if explained:
        conn.cursor().executemany(
            "update marts.alerts set explanation = %s, explanation_source = %s, explanation_note = %s "
            "where alert_id = %s", [(text, source, note, alert_id) for alert_id, text, source, note in explained])


def open_alerts(conn: psycopg.Connection) -> list[dict]:
    """The open alerts as rows (every column), errors first, then by kind and scope."""
    ensure_alerts_table(conn)
    return list(conn.cursor(row_factory=dict_row).execute(
        "select * from marts.alerts where status = 'open' "
        "order by severity = 'error' desc, kind, platform, account_id nulls first, campaign_id nulls first"))


def open_alert_objects(conn: psycopg.Connection) -> list[Alert]:
    """``open_alerts`` as Alert objects."""
    return [_alert(r) for r in open_alerts(conn)]


def unnotified(conn: psycopg.Connection, limit: int = 50) -> list[tuple[Alert, str | None]]:
    """Open alerts not yet posted to the webhook, oldest first, with their explanations."""
    ensure_alerts_table(conn)
    rows = conn.cursor(row_factory=dict_row).execute(
        "select * from marts.alerts where status = 'open' and notified_at is null order by detected_at, alert_id "
        "limit %s", (limit,)).fetchall()
    return [(_alert(r), r["explanation"]) for r in rows]


def mark_notified(conn: psycopg.Connection, alert_ids: list[str]) -> None:
    """Record that these alerts were posted."""
    conn.execute("update marts.alerts set notified_at = now() where alert_id = any(%s)", (list(alert_ids),))
