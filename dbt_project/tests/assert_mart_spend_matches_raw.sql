{#
    Consistency test (in the spirit of fivetran's ad_reporting consistency
    tests): per platform and day, total spend and total conversions in
    marts.fct_campaign_daily equal the raw tables' after unit conversion
    (Google micros / 1,000,000; Meta, TikTok and CSV imports already in
    currency units; Meta conversions are the var meta_conversion_action
    entries of its actions lists), in each account's own currency, to within
    0.01. Returns the (platform, day) pairs that disagree; a pair present on
    only one side counts as a mismatch. The conversions are written out here
    rather than calling the staging macros, so a wrong macro cannot make both
    sides agree. (assert_mart_matches_raw checks the same row by row.)
#}

{%- set action_type = var('meta_conversion_action') | string | trim -%}

with

raw_totals as (

    select 'google_ads' as platform, segments_date as date_day,
           sum(metrics_cost_micros)::numeric / 1000000 as spend,
           sum(metrics_conversions::numeric) as conversions
    from {{ source('raw', 'google_ads_campaign_daily') }}
    where {{ in_mbo_window('segments_date') }}
    group by 1, 2

    union all

    select 'meta_ads', date_start,
           sum(spend::numeric),
           sum((select coalesce(sum((v #>> '{}')::numeric), 0)
                from jsonb_path_query(actions, '$[*] ? (@.action_type == $t).value', jsonb_build_object('t', '{{ action_type }}')) v))
    from {{ source('raw', 'meta_ads_campaign_daily') }}
    where {{ in_mbo_window('date_start') }}
    group by 1, 2

    union all

    select 'tiktok_ads', stat_time_day, sum(spend::numeric), sum(conversion::numeric)
    from {{ source('raw', 'tiktok_ads_campaign_daily') }}
    where {{ in_mbo_window('stat_time_day') }}
    group by 1, 2

    union all

    select lower(trim(platform)), date, sum(spend::numeric), sum(conversions::numeric)
    from {{ source('raw', 'csv_campaign_daily') }}
    where {{ in_mbo_window('date') }}
    group by 1, 2

),

mart_totals as (

    select platform, date_day, sum(spend) as spend, sum(conversions) as conversions
    from {{ ref('fct_campaign_daily') }}
    where {{ in_mbo_window('date_day') }}
    group by platform, date_day

),

compared as (

    select
        coalesce(raw_totals.platform, mart_totals.platform) as platform,
        coalesce(raw_totals.date_day, mart_totals.date_day) as date_day,
        coalesce(raw_totals.spend, 0)                       as raw_spend,
        coalesce(mart_totals.spend, 0)                      as mart_spend,
        coalesce(raw_totals.conversions, 0)                 as raw_conversions,
        coalesce(mart_totals.conversions, 0)                as mart_conversions,
        raw_totals.platform is null                         as missing_in_raw,
        mart_totals.platform is null                        as missing_in_mart

    from raw_totals
    full outer join mart_totals
        on  mart_totals.platform = raw_totals.platform
        and mart_totals.date_day = raw_totals.date_day

)

select
    platform,
    date_day,
    raw_spend,
    mart_spend,
    mart_spend - raw_spend                              as spend_difference,
    raw_conversions,
    mart_conversions,
    mart_conversions - raw_conversions                  as conversions_difference,
    missing_in_raw,
    missing_in_mart

from compared
where missing_in_raw
   or missing_in_mart
   or abs(mart_spend - raw_spend) > 0.01
   or abs(mart_conversions - raw_conversions) > 0.01
