"""The platform corpus' stage: the four platform fakes serving one small world, and the real extract assets.

``Stage`` runs the live extract assets (``MBO_SOURCE=live``, through the real
SDKs) against the fakes on 127.0.0.1 and reads back what they did: the raw
rows of a day, the quarantined rows and the gates' blocking failures. Each
platform is described by a ``Platform`` (its raw table, key and asset), so a
case reads the same whatever the platform.

The worlds are small and regular (two accounts of three campaigns each, every
campaign active every day), so breaking one campaign's row never leaves an
account without a valid row by accident: only the cases that mean to empty an
account trip the "account spent the day before and sent nothing" rule.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import dagster as dg
import psycopg
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from mbo_pipelines.defs.ingest.assets import extract_assets_for_environment
from mbo_pipelines.defs.ingest.raw_tables import (
    GA4_TRAFFIC_DAILY,
    GOOGLE_ADS_CAMPAIGN_DAILY,
    META_ADS_CAMPAIGN_DAILY,
    TIKTOK_ADS_CAMPAIGN_DAILY,
    RawTable,
)
from mbo_pipelines.defs.quality import store
from mbo_pipelines.resources import MboResource
from tests.fakes.ad_world import FakeAccount, FakeCampaign, FakeDay, FakeWorld, money
from tests.fakes.fake_ga4 import FakeGA4, ga4_rows_from_world
from tests.fakes.fake_google_ads import FakeGoogleAds
from tests.fakes.fake_meta import FakeMeta
from tests.fakes.fake_tiktok import FakeTikTok

GOOGLE_TOKEN, META_TOKEN, TIKTOK_TOKEN = "gdt-corpus-token", "EAAB-corpus-token", "tt-corpus-token"
GA4_PROPERTY = "314159265"
NAMES = ("Brand search", "Zażółć gęślą jaźń — Black Friday 🎉", "キャンペーン 東京 \"quoted\", with comma")


@dataclass(frozen=True)
class Platform:
    """One platform as the corpus sees it: its raw table, the asset that loads it and its accounts."""

    name: str
    table: RawTable
    accounts: tuple[FakeAccount, ...]
    id_base: int

    @property
    def asset_key(self) -> dg.AssetKey:
        return dg.AssetKey(["raw", "ga4_traffic_daily" if self.name == "ga4" else f"{self.name}_campaign_daily"])

    @property
    def short_table(self) -> str:
        return self.table.name.split(".")[1]

    def key(self, row: tuple) -> tuple:
        """A raw row's key (the table's key columns, in their order)."""
        names = self.table.column_names
        return tuple(row[names.index(c)] for c in self.table.key)


GOOGLE = Platform("google_ads", GOOGLE_ADS_CAMPAIGN_DAILY,
                  (FakeAccount("1234567890", "USD", "America/New_York"), FakeAccount("9876543210", "JPY", "Asia/Tokyo")),
                  1000)
META = Platform("meta_ads", META_ADS_CAMPAIGN_DAILY,
                (FakeAccount("111222333", "EUR", "Europe/Berlin"), FakeAccount("444555666", "USD", "America/Chicago")),
                2000)
TIKTOK = Platform("tiktok_ads", TIKTOK_ADS_CAMPAIGN_DAILY,
                  (FakeAccount("7200000000001", "USD", "America/Chicago"), FakeAccount("7200000000002", "PLN",
                                                                                        "Europe/Warsaw")),
                  3000)
#: GA4 reads the Google world's traffic (one property in USD).
GA4 = Platform("ga4", GA4_TRAFFIC_DAILY, (FakeAccount(GA4_PROPERTY, "USD", "America/New_York"),), 1000)


def corpus_world(platform: Platform, start: date, end: date) -> FakeWorld:
    """Every campaign of the platform's accounts active with performance on every day of [start, end]."""
    world = FakeWorld(accounts=list(platform.accounts), campaigns=[])
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    for a_index, account in enumerate(platform.accounts):
        scale = 150 if account.currency == "JPY" else 1
        for n, name in enumerate(NAMES):
            campaign = FakeCampaign(account.account_id, str(platform.id_base + 100 * a_index + n), name, "active",
                                    money(100.0 * (n + 1) * scale, account.currency))
            world.campaigns.append(campaign)
            world.daily[(account.account_id, campaign.campaign_id)] = [
                FakeDay(day, money((60 + 10 * n + day.toordinal() % 7) * scale * (n + 1) / 2, account.currency),
                        impressions=4000 + 100 * n + day.toordinal() % 13, clicks=80 + n + day.toordinal() % 5,
                        conversions=round(2.5 + n + (day.toordinal() % 3) / 4, 2),
                        conversion_value=round(120.5 + 30 * n + day.toordinal() % 11, 2))
                for day in days
            ]
    return world


@dataclass
class Stage:
    """The fakes, their worlds and the database the extracts load."""

    url: str
    google: FakeGoogleAds
    meta: FakeMeta
    tiktok: FakeTikTok
    ga4: FakeGA4

    def env(self) -> dict[str, str]:
        """The live configuration of all four platforms, pointed at the fakes (fast retries, no lookback)."""
        return {
            "MBO_SOURCE": "live", "MBO_LOOKBACK_DAYS": "0",
            "MBO_API_MAX_ATTEMPTS": "2", "MBO_API_BACKOFF_SECONDS": "0.001", "MBO_API_MAX_BACKOFF_SECONDS": "0.01",
            "MBO_GOOGLE_ADS_ENDPOINT": self.google.endpoint, "GOOGLE_ADS_DEVELOPER_TOKEN": GOOGLE_TOKEN,
            "MBO_GOOGLE_ADS_CUSTOMER_IDS": ",".join(a.account_id for a in GOOGLE.accounts),
            **self.meta.env(),
            "MBO_TIKTOK_API_URL": self.tiktok.url, "TIKTOK_ACCESS_TOKEN": TIKTOK_TOKEN,
            "MBO_TIKTOK_ADVERTISER_IDS": ",".join(a.account_id for a in TIKTOK.accounts),
            "MBO_GA4_PROPERTY_IDS": GA4_PROPERTY, "MBO_GA4_ENDPOINT": self.ga4.url,
        }

    def clear(self) -> None:
        """Every fake serves its world as it is again."""
        self.google.clear_edits()
        self.meta.clear_faults()
        self.tiktok.clear_edits()
        self.ga4.clear_edits()

    def extract(self, platform: Platform, first: date, last: date | None = None) -> dg.ExecuteInProcessResult:
        """Run the platform's daily extract asset for [first, last]; a failure is returned, not raised."""
        tags = {ASSET_PARTITION_RANGE_START_TAG: first.isoformat(),
                ASSET_PARTITION_RANGE_END_TAG: (last or first).isoformat()}
        return dg.materialize(extract_assets_for_environment(), tags=tags, raise_on_error=False,
                              resources={"mbo": MboResource(database_url=self.url, source="live")},
                              selection=dg.AssetSelection.assets(platform.asset_key))

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """All rows of one query on the stage's database."""
        with psycopg.connect(self.url) as conn:
            return conn.execute(sql, params).fetchall()

    def raw(self, platform: Platform, first: date, last: date | None = None) -> dict[tuple, tuple]:
        """The raw rows of [first, last] by key, every column of the raw table."""
        table = platform.table
        rows = self.query(f"select {', '.join(table.column_names)} from {table.name} "
                          f"where {table.date_column} between %s and %s", (first, last or first))
        return {platform.key(row): row for row in rows}

    def quarantined(self, platform: Platform, day: date | None) -> list[dict[str, Any]]:
        """The rows of ``quarantine.<table>`` for ``day`` (None: rows whose day could not be told)."""
        columns = [*platform.table.column_names, "_reason", "_partition", "_run_id"]
        rows = self.query(f"select {', '.join(columns)} from quarantine.{platform.short_table} "
                          "where _day is not distinct from %s order by _quarantined_at, _reason", (day,))
        return [dict(zip(columns, row)) for row in rows]

    def blocking(self, day: date) -> list[tuple]:
        """(table, day, check) of the blocking failures the gates see on ``day``."""
        with psycopg.connect(self.url) as conn:
            return [(t, d, c) for t, d, c, _ in store.blocking_failures(conn, day, day)]

    def tables(self) -> list[str]:
        """Every table and view of the database outside PostgreSQL's own schemas, ``schema.name``."""
        return [name for (name,) in self.query(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema not in ('pg_catalog', 'information_schema') order by 1")]


@contextlib.contextmanager
def stage(url: str, start: date, end: date) -> Iterator[Stage]:
    """The four fakes serving the corpus worlds of [start, end], with their live configuration in the environment."""
    google_world = corpus_world(GOOGLE, start, end)
    ga4_rows = ga4_rows_from_world(google_world, account_ids={GOOGLE.accounts[0].account_id})
    with contextlib.ExitStack() as stack:
        google = stack.enter_context(FakeGoogleAds(google_world, developer_token=GOOGLE_TOKEN, batch_size=4))
        meta = stack.enter_context(FakeMeta(corpus_world(META, start, end), access_token=META_TOKEN))
        tiktok = stack.enter_context(FakeTikTok(corpus_world(TIKTOK, start, end), access_token=TIKTOK_TOKEN))
        ga4 = stack.enter_context(FakeGA4({GA4_PROPERTY: ga4_rows}, currency="USD", time_zone="America/New_York"))
        the_stage = Stage(url, google, meta, tiktok, ga4)
        with pytest.MonkeyPatch.context() as patch:
            patch.delenv("MBO_IMPORT_DIR", raising=False)
            for name, value in the_stage.env().items():
                patch.setenv(name, value)
            yield the_stage


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    """The messages of every step failure of a run, causes included, in one string."""
    texts = []
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            while error is not None:
                texts.append(error.message)
                error = error.cause
    return "\n".join(texts)


def evaluation(result: dg.ExecuteInProcessResult, check: str):
    """The run's evaluation of asset check ``check``."""
    [found] = [e for e in result.get_asset_check_evaluations() if e.check_name == check]
    return found
