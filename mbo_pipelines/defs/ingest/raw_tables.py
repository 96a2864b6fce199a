"""The ``raw`` schema: one table per platform and entity, in each platform's own vocabulary.

Raw tables keep what the platform said (Google's micros, Meta's minor units,
TikTok's decimal amounts); dbt staging maps them onto one standard column set.
Daily tables are keyed by account × campaign × day and replaced per partition.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RawTable:
    """A raw table: its name, columns with SQL types, the date column partitions replace on, and its key."""

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    date_column: str | None = None

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    def ddl(self) -> str:
        cols = ",\n  ".join(f"{name} {sql_type}" for name, sql_type in self.columns)
        audit = ",\n  _loaded_at timestamptz not null default now(),\n  _run_id text"
        return (
            f"create table if not exists {self.name} (\n  {cols}{audit},\n"
            f"  primary key ({', '.join(self.key)})\n)"
        )


GOOGLE_ADS_CAMPAIGN_DAILY = RawTable(
    name="raw.google_ads_campaign_daily",
    columns=(
        ("segments_date", "date not null"),
        ("customer_id", "text not null"),
        ("campaign_id", "text not null"),
        ("campaign_name", "text not null"),
        ("customer_currency_code", "text not null"),
        ("customer_time_zone", "text not null"),
        ("metrics_cost_micros", "bigint not null"),
        ("metrics_impressions", "bigint not null"),
        ("metrics_clicks", "bigint not null"),
        ("metrics_conversions", "double precision not null"),
        ("metrics_conversions_value", "double precision not null"),
    ),
    key=("customer_id", "campaign_id", "segments_date"),
    date_column="segments_date",
)

GOOGLE_ADS_CAMPAIGNS = RawTable(
    name="raw.google_ads_campaigns",
    columns=(
        ("customer_id", "text not null"),
        ("campaign_id", "text not null"),
        ("campaign_name", "text not null"),
        ("campaign_status", "text not null"),  # ENABLED | PAUSED | REMOVED
        ("customer_currency_code", "text not null"),
        ("customer_time_zone", "text not null"),
        ("campaign_budget_amount_micros", "bigint not null"),
    ),
    key=("customer_id", "campaign_id"),
)

META_ADS_CAMPAIGN_DAILY = RawTable(
    name="raw.meta_ads_campaign_daily",
    columns=(
        ("date_start", "date not null"),
        ("account_id", "text not null"),  # act_<digits>
        ("campaign_id", "text not null"),
        ("campaign_name", "text not null"),
        ("account_currency", "text not null"),
        ("account_timezone_name", "text not null"),
        ("spend", "numeric(18, 2) not null"),  # currency units, as the Insights API returns
        ("impressions", "bigint not null"),
        ("clicks", "bigint not null"),
        ("purchases", "double precision not null"),
        ("purchase_value", "double precision not null"),
    ),
    key=("account_id", "campaign_id", "date_start"),
    date_column="date_start",
)

META_ADS_CAMPAIGNS = RawTable(
    name="raw.meta_ads_campaigns",
    columns=(
        ("account_id", "text not null"),
        ("campaign_id", "text not null"),
        ("campaign_name", "text not null"),
        ("effective_status", "text not null"),  # ACTIVE | PAUSED
        ("account_currency", "text not null"),
        ("account_timezone_name", "text not null"),
        ("daily_budget", "bigint not null"),  # minor units (cents), as the Marketing API returns
    ),
    key=("account_id", "campaign_id"),
)

TIKTOK_ADS_CAMPAIGN_DAILY = RawTable(
    name="raw.tiktok_ads_campaign_daily",
    columns=(
        ("stat_time_day", "date not null"),
        ("advertiser_id", "text not null"),
        ("campaign_id", "text not null"),
        ("campaign_name", "text not null"),
        ("currency", "text not null"),
        ("timezone", "text not null"),
        ("spend", "numeric(18, 2) not null"),  # currency units
        ("impressions", "bigint not null"),
        ("clicks", "bigint not null"),
        ("conversion", "double precision not null"),
        ("total_purchase_value", "double precision not null"),
    ),
    key=("advertiser_id", "campaign_id", "stat_time_day"),
    date_column="stat_time_day",
)

TIKTOK_ADS_CAMPAIGNS = RawTable(
    name="raw.tiktok_ads_campaigns",
    columns=(
        ("advertiser_id", "text not null"),
        ("campaign_id", "text not null"),
        ("campaign_name", "text not null"),
        ("operation_status", "text not null"),  # ENABLE | DISABLE
        ("currency", "text not null"),
        ("timezone", "text not null"),
        ("budget_mode", "text not null"),  # BUDGET_MODE_DAY
        ("budget", "numeric(18, 2) not null"),  # currency units
    ),
    key=("advertiser_id", "campaign_id"),
)

DAILY_TABLES = {
    "google_ads": GOOGLE_ADS_CAMPAIGN_DAILY,
    "meta_ads": META_ADS_CAMPAIGN_DAILY,
    "tiktok_ads": TIKTOK_ADS_CAMPAIGN_DAILY,
}
CAMPAIGN_TABLES = {
    "google_ads": GOOGLE_ADS_CAMPAIGNS,
    "meta_ads": META_ADS_CAMPAIGNS,
    "tiktok_ads": TIKTOK_ADS_CAMPAIGNS,
}
ALL_TABLES = (*DAILY_TABLES.values(), *CAMPAIGN_TABLES.values())


def ensure_raw_tables(conn) -> None:
    """Create the raw schema and every raw table, if missing."""
    conn.execute("create schema if not exists raw")
    for table in ALL_TABLES:
        conn.execute(table.ddl())
