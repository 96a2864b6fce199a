"""Open alerts as terminal text: what ``mbo alerts`` and the demo print."""

from __future__ import annotations

import psycopg

from mbo_pipelines.defs.alerts import store


def alerts_report(conn: psycopg.Connection, include_resolved: bool = False, limit: int = 100) -> str:
    """The open alerts (errors first), each with its explanation; ``include_resolved``: the latest resolved too."""
    rows = store.open_alerts(conn)
    lines = [f"Open alerts: {len(rows)}" + ("" if rows else " (marts.alerts)")]
    for row in rows[:limit]:
        lines += _alert_lines(row)
    if len(rows) > limit:
        lines.append(f"  ... {len(rows) - limit} more: select * from marts.alerts where status = 'open'")
    if include_resolved:
        resolved = conn.execute(
            "select alert_id, kind, platform, account_id, campaign_id, first_day, last_day, resolved_at "
            "from marts.alerts where status = 'resolved' order by resolved_at desc limit %s", (limit,)).fetchall()
        lines.append(f"Recently resolved: {len(resolved)}")
        for alert_id, kind, platform, account, campaign, first, last, when in resolved:
            scope = "/".join(p for p in (platform, account, campaign) if p)
            lines.append(f"  {alert_id} {kind} {scope} {first}..{last}, resolved {when:%Y-%m-%d %H:%M %Z}")
    return "\n".join(lines)


def _alert_lines(row: dict) -> list[str]:
    scope = "/".join(p for p in (row["platform"], row["account_id"], row["campaign_id"]) if p)
    name = f" \"{row['campaign_name']}\"" if row["campaign_name"] else ""
    days = row["first_day"] if row["first_day"] == row["last_day"] else f"{row['first_day']}..{row['last_day']}"
    lines = [f"  [{row['severity'].upper()}] {row['kind']} {scope}{name} ({days}) {row['alert_id']}",
             f"      {row['message']}"]
    if row["explanation"] and row["explanation"] != row["message"]:
        lines.append(f"      {row['explanation']}")
    return lines
