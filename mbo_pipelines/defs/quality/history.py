"""What a daily raw table already holds per account and day: the volume check's trailing history."""

from __future__ import annotations

from datetime import date

from psycopg import sql

from mbo_pipelines.defs.quality.rules import TableRules
from mbo_pipelines.defs.quality.validate import DailyTotals


def daily_totals(conn, rules: TableRules, start: date, end: date) -> DailyTotals:
    """(day, account) -> (rows, summed volume) for the loaded days in [start, end]."""
    if not rules.is_daily or rules.volume_column is None:
        return {}
    schema, name = rules.name.split(".")
    account = sql.SQL(" || '/' || ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in rules.account_columns)
    query = sql.SQL(
        "select {day}, {account}, count(*), coalesce(sum({volume}), 0)::float8 from {table} "
        "where {day} between %s and %s group by 1, 2"
    ).format(day=sql.Identifier(rules.table.date_column), account=account, volume=sql.Identifier(rules.volume_column),
             table=sql.Identifier(schema, name))
    return {(day, acct): (int(rows), float(volume)) for day, acct, rows, volume in conn.execute(query, (start, end))}
