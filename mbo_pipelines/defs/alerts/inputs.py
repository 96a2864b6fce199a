"""Read the detector's inputs from the warehouse: the marts' recent history, and what the raw tables hold.

The raw side (days each account reported, first and latest reports) is read
from the raw tables and ``quality.reported_totals``, not the marts, so a day
the marts could not be built for still shows as missing.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import psycopg
from psycopg import sql

from mbo_pipelines.columnar_read import copy_frame
from mbo_pipelines.defs.alerts.detect import DetectorInput, history_days
from mbo_pipelines.defs.alerts.thresholds import Thresholds
from mbo_pipelines.defs.ingest.raw_tables import DAILY_TABLES
from mbo_pipelines.defs.quality.history import daily_totals
from mbo_pipelines.defs.quality.rules import rules_for

#: How each platform's raw account id reads in the marts (staging's rule: Meta's gains ``act_``).
_MART_ACCOUNT = {"meta_ads": lambda account: f"act_{account}"}


_TEXTS = ["platform", "account_id", "campaign_id", "campaign_name"]
_NUMBERS = ["spend", "clicks", "conversions", "conversion_value"]
_DAILY = sql.SQL("select date_day, platform, account_id, campaign_id, campaign_name, spend_reporting as spend, "
                 "clicks, conversions, conversion_value_reporting as conversion_value from marts.fct_campaign_daily "
                 "where date_day between %s and %s")


def mart_account(platform: str, account: str) -> str:
    """A raw table's account id as the marts write it."""
    return _MART_ACCOUNT.get(platform, str)(str(account))


def _exists(conn: psycopg.Connection, table: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (table,)).fetchone()[0]


def _frame(conn: psycopg.Connection, query: str, params: tuple, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(conn.execute(query, params).fetchall(), columns=columns)


def latest_day(conn: psycopg.Connection) -> date | None:
    """The latest day any platform's raw daily table holds (None: no data yet)."""
    days = [conn.execute(f"select max({t.date_column}) from {t.name}").fetchone()[0]
            for t in DAILY_TABLES.values() if _exists(conn, t.name)]
    days = [d for d in days if d is not None]
    return max(days) if days else None


def read_inputs(conn: psycopg.Connection, as_of: date, reporting_currency: str, thresholds: Thresholds) -> DetectorInput:
    """The detector's input for the days up to ``as_of`` (as many as ``detect.history_days`` needs)."""
    start = as_of - timedelta(days=history_days(thresholds) - 1)
    daily = pd.DataFrame(columns=["date_day", *_TEXTS, *_NUMBERS])
    if _exists(conn, "marts.fct_campaign_daily"):
        # Streamed, not fetched: a tuple and objects per row took ~1 GB at 20,000 campaigns x 63 days.
        daily = copy_frame(conn, _DAILY, (start, as_of), texts=_TEXTS, days=["date_day"], numbers=_NUMBERS)
    inputs = DetectorInput(as_of=as_of, reporting_currency=reporting_currency, daily=daily)
    if _exists(conn, "marts.dim_campaign"):
        inputs.campaigns = _frame(conn, "select platform, account_id, campaign_id, campaign_name, status, "
                                        "daily_budget_reporting::float8 from marts.dim_campaign", (),
                                  list(inputs.campaigns.columns))
    inputs.platform_days = _platform_days(conn, start, as_of)
    inputs.reports = _reports(conn, as_of - timedelta(days=thresholds.scan_days - 1), as_of)
    if _exists(conn, "marts.account_pacing"):
        inputs.pacing = _frame(conn, "select platform, account_id, month, currency, spend_mtd::float8, "
                                     "target_spend_mtd::float8, days_elapsed from marts.account_pacing "
                                     "where month = date_trunc('month', %s::date)::date", (as_of,),
                               list(inputs.pacing.columns))
    if _exists(conn, "marts.fct_campaign_attribution") and _exists(conn, "marts.fct_campaign_daily"):
        inputs.ga4 = _frame(conn, "select a.platform, a.date_day, sum(d.clicks)::float8, sum(a.ga4_sessions)::float8, "
                                  "sum(a.ga4_key_events)::float8 "
                                  "from marts.fct_campaign_attribution a join marts.fct_campaign_daily d "
                                  "using (campaign_key, date_day) where a.is_ga4_matched and a.date_day between %s "
                                  "and %s group by 1, 2", (start, as_of), list(inputs.ga4.columns))
    return inputs


def _platform_days(conn: psycopg.Connection, start: date, end: date) -> pd.DataFrame:
    rows = []
    for platform, table in DAILY_TABLES.items():
        if not _exists(conn, table.name):
            continue
        rules = rules_for(table)
        scale = 1e-6 if rules.volume_column in rules.micros_columns else 1.0  # Google's micros
        for (day, account), (_, volume) in daily_totals(conn, rules, start, end).items():
            rows.append((platform, mart_account(platform, account), day, volume * scale))
    return pd.DataFrame(rows, columns=["platform", "account_id", "date_day", "spend"])


def _reports(conn: psycopg.Connection, start: date, end: date) -> pd.DataFrame:
    columns = ["platform", "account_id", "date_day", "currency", "first_spend", "latest_spend"]
    if not _exists(conn, "quality.reported_totals"):
        return pd.DataFrame(columns=columns)
    platforms = {table.name: platform for platform, table in DAILY_TABLES.items()}
    found = conn.execute("select table_name, account, day, first_volume, latest_volume from quality.reported_totals "
                         "where table_name = any(%s) and day between %s and %s",
                         (list(platforms), start, end)).fetchall()
    currencies = {}
    if _exists(conn, "marts.dim_campaign"):
        currencies = dict(((p, a), c) for p, a, c in conn.execute(
            "select distinct platform, account_id, currency from marts.dim_campaign").fetchall())
    rows = []
    for table, account, day, first, latest in found:
        platform = platforms[table]
        account = mart_account(platform, account)
        rows.append((platform, account, day, currencies.get((platform, account), ""), first, latest))
    return pd.DataFrame(rows, columns=columns)
