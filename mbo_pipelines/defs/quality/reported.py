"""``quality.reported_totals``: what each daily table's account-days summed to when first loaded, and now.

Every load records, per account and day it replaces, the rows and the volume
(spend; GA4: sessions) it wrote. The first load's numbers are kept beside the
latest, so a platform that restates a day (double-reports it, or takes spend
back) shows as the gap between the two (the alerts detector's restatements).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from mbo_pipelines.defs.quality.frames import account_of, number
from mbo_pipelines.defs.quality.rules import TableRules

REPORTED_DDL = """
create table if not exists quality.reported_totals (
  table_name text not null,
  account text not null,
  day date not null,
  first_rows integer not null,
  first_volume double precision not null,
  first_loaded_at timestamptz not null default now(),
  latest_rows integer not null,
  latest_volume double precision not null,
  latest_loaded_at timestamptz not null default now(),
  loads integer not null default 1,
  primary key (table_name, account, day)
)
"""


def day_totals(rules: TableRules, rows: list[dict[str, Any]], days: list[date]) -> dict[tuple[str, date], list]:
    """(account, day) -> [rows, volume in currency units] of ``rows`` on ``days``."""
    totals: dict[tuple[str, date], list] = defaultdict(lambda: [0, 0.0])
    wanted = set(days)
    scale = 1e-6 if rules.volume_column in rules.micros_columns else 1.0
    for row in rows:
        day = row.get(rules.table.date_column)
        if day not in wanted:
            continue
        total = totals[(account_of(rules, row), day)]
        total[0] += 1
        total[1] += float(number(row.get(rules.volume_column)) or 0) * scale
    return totals


def record_reported(conn, rules: TableRules, rows: list[dict[str, Any]], days: list[date]) -> None:
    """Record the totals a load wrote for ``days`` (an account without rows on a loaded day: 0)."""
    if not rules.is_daily or rules.volume_column is None or not days:
        return
    totals = day_totals(rules, rows, days)
    accounts = {account for account, _ in totals}
    known = conn.execute("select distinct account from quality.reported_totals where table_name = %s and day = any(%s)",
                         (rules.name, list(days))).fetchall()
    accounts |= {a for (a,) in known}
    values = [(rules.name, account, day, *totals.get((account, day), (0, 0.0))) for account in accounts for day in days]
    conn.cursor().executemany(
        "insert into quality.reported_totals as r (table_name, account, day, first_rows, first_volume, latest_rows, "
        "latest_volume) values (%s, %s, %s, %s, %s, %s, %s) on conflict (table_name, account, day) do update set "
        "latest_rows = excluded.latest_rows, latest_volume = excluded.latest_volume, latest_loaded_at = now(), "
        "loads = r.loads + 1",
        [(*v, v[3], v[4]) for v in values])
