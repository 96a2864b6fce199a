"""Extract assets: per platform, campaign performance per day (partitioned) and current campaign settings.

Each daily asset replaces its partitions' rows in one transaction (COPY), so
re-materializing a day never duplicates it. A run over a range of days is
one backfill run (single-run backfill policy), one transaction per asset.
"""


from datetime import timedelta

import dagster as dg
from psycopg.types.json import Jsonb

from mbo_pipelines import warehouse
from mbo_pipelines.defs.ingest.partitions import daily_partitions
from mbo_pipelines.defs.ingest.raw_tables import CAMPAIGN_TABLES, DAILY_TABLES, RawTable, ensure_raw_tables
from mbo_pipelines.defs.ingest.validation import validate_rows
from mbo_pipelines.resources import PLATFORMS, MboResource


def _load(mbo: MboResource, table: RawTable, rows: list[dict], window=None) -> int:
    columns = table.column_names
    json_columns = set(table.json_columns)
    values = [[Jsonb(row[c]) if c in json_columns else row.get(c) for c in columns] for row in rows]
    with warehouse.connect(mbo.url()) as conn:
        ensure_raw_tables(conn)
        conn.commit()
        if window:
            return warehouse.replace_date_range(conn, table.name, table.date_column, *window, columns, values)
        return warehouse.replace_table_contents(conn, table.name, columns, values)


def _summary(rows: list[dict], table: RawTable) -> dict:
    account_col, campaign_col = table.key[0], table.key[1]
    return {
        "row_count": dg.MetadataValue.int(len(rows)),
        "accounts": dg.MetadataValue.int(len({r[account_col] for r in rows})),
        "campaigns": dg.MetadataValue.int(len({(r[account_col], r[campaign_col]) for r in rows})),
        "table": dg.MetadataValue.text(table.name),
    }


def build_daily_asset(platform: str) -> dg.AssetsDefinition:
    """The daily-partitioned performance asset ``raw/<platform>_campaign_daily``."""
    table = DAILY_TABLES[platform]

    @dg.asset(
        key=["raw", f"{platform}_campaign_daily"],
        group_name="ingest",
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"python", "postgres"},
        description=f"{platform} performance per campaign and day, as the platform reports it, in {table.name}.",
    )
    def _daily(context: dg.AssetExecutionContext, mbo: MboResource) -> dg.MaterializeResult:
        window = context.partition_time_window
        start, end = window.start.date(), window.end.date() - timedelta(days=1)
        context.log.info(f"extracting {platform} {start}..{end}")
        rows = mbo.connector(platform).fetch_campaign_daily(start, end)
        validate_rows(platform, table, rows, (start, end))
        written = _load(mbo, table, rows, (start, end))
        days = sorted({r[table.date_column] for r in rows})
        return dg.MaterializeResult(
            metadata={
                **_summary(rows, table),
                "rows_written": dg.MetadataValue.int(written),
                "date_range": dg.MetadataValue.text(f"{days[0]}..{days[-1]}" if days else f"no complete day in {start}..{end}"),
                "days": dg.MetadataValue.int(len(days)),
            }
        )

    return _daily


def build_campaigns_asset(platform: str) -> dg.AssetsDefinition:
    """The snapshot asset ``raw/<platform>_campaigns``: every campaign's current settings."""
    table = CAMPAIGN_TABLES[platform]

    @dg.asset(
        key=["raw", f"{platform}_campaigns"],
        group_name="ingest",
        kinds={"python", "postgres"},
        description=f"Current {platform} campaign settings (name, status, daily budget) in {table.name}.",
    )
    def _campaigns(context: dg.AssetExecutionContext, mbo: MboResource) -> dg.MaterializeResult:
        rows = mbo.connector(platform).fetch_campaigns()
        validate_rows(platform, table, rows)
        _load(mbo, table, rows)
        return dg.MaterializeResult(metadata=_summary(rows, table))

    return _campaigns


daily_assets = [build_daily_asset(p) for p in PLATFORMS]
campaign_assets = [build_campaigns_asset(p) for p in PLATFORMS]
extract_assets = [*daily_assets, *campaign_assets]
