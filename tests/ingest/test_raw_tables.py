"""Raw tables from an older MBO (the sandbox's own Meta columns) are set aside, never dropped, and replaced."""

import psycopg

from mbo_pipelines.defs.ingest.raw_tables import META_ADS_CAMPAIGN_DAILY, ensure_raw_tables


def test_a_raw_table_with_old_columns_is_renamed_aside_with_its_rows_and_views(new_database):
    url = new_database("raw_migrate")
    with psycopg.connect(url) as conn:
        conn.execute("create schema raw")
        conn.execute("create table raw.meta_ads_campaign_daily (date_start date, account_id text, campaign_id text, "
                     "purchases double precision, purchase_value double precision, _loaded_at timestamptz, _run_id text)")
        conn.execute("insert into raw.meta_ads_campaign_daily values ('2026-01-01', 'act_1', '9', 2, 50, now(), 'r')")
        conn.execute("create schema staging")
        conn.execute("create view staging.old_meta as select * from raw.meta_ads_campaign_daily")
        conn.commit()
        ensure_raw_tables(conn)
        ensure_raw_tables(conn)  # a second run changes nothing
        tables = [r[0] for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'raw' "
            "and table_name like 'meta_ads_campaign_daily%' order by 1").fetchall()]
        [aside] = [t for t in tables if t != "meta_ads_campaign_daily"]
        assert aside.startswith("meta_ads_campaign_daily__before_")
        assert conn.execute(f'select purchases, purchase_value from raw."{aside}"').fetchall() == [(2.0, 50.0)]
        columns = [r[0] for r in conn.execute(
            "select column_name from information_schema.columns where table_schema = 'raw' "
            "and table_name = 'meta_ads_campaign_daily' order by ordinal_position").fetchall()]
        assert columns == [*META_ADS_CAMPAIGN_DAILY.column_names, "_loaded_at", "_run_id"]
        assert conn.execute("select to_regclass('staging.old_meta')").fetchone()[0] is None
