{#
    Raw -> mart, row by row: every (platform, account, campaign, day) of the
    raw tables is in fct_campaign_daily and nothing else is, with every
    metric equal to the raw value in account-currency units. The unit
    conversions are written out here, independently of the staging models
    and macros (Google micros / 1e6; Meta conversions summed from its actions
    lists with a JSON path rather than the staging macro's jsonb_array_elements),
    so a wrong conversion cannot make both sides agree. Returns the rows that
    differ or are missing on one side.
#}

{%- set action_type = var('meta_conversion_action') | string | trim -%}

with

raw_daily as (

    select 'google_ads' as platform, customer_id as account_id, campaign_id, segments_date as date_day,
           metrics_cost_micros::numeric / 1000000 as spend, metrics_impressions as impressions,
           metrics_clicks as clicks, metrics_conversions::numeric as conversions,
           metrics_conversions_value::numeric as conversion_value
    from {{ source('raw', 'google_ads_campaign_daily') }}
    where {{ in_mbo_window('segments_date') }}

    union all

    select 'meta_ads', 'act_' || account_id, campaign_id, date_start,
           spend::numeric, impressions, clicks,
           (select coalesce(sum((v #>> '{}')::numeric), 0)
            from jsonb_path_query(actions, '$[*] ? (@.action_type == $t).value', jsonb_build_object('t', '{{ action_type }}')) v),
           (select coalesce(sum((v #>> '{}')::numeric), 0)
            from jsonb_path_query(action_values, '$[*] ? (@.action_type == $t).value', jsonb_build_object('t', '{{ action_type }}')) v)
    from {{ source('raw', 'meta_ads_campaign_daily') }}
    where {{ in_mbo_window('date_start') }}

    union all

    select 'tiktok_ads', advertiser_id, campaign_id, stat_time_day,
           spend::numeric, impressions, clicks, conversion::numeric, total_purchase_value::numeric
    from {{ source('raw', 'tiktok_ads_campaign_daily') }}
    where {{ in_mbo_window('stat_time_day') }}

    union all

    select lower(trim(platform)), account_id, campaign_id, date,
           spend::numeric, impressions, clicks, conversions::numeric, conversion_value::numeric
    from {{ source('raw', 'csv_campaign_daily') }}
    where {{ in_mbo_window('date') }}

),

mart as (

    select platform, account_id, campaign_id, date_day, spend, impressions, clicks, conversions, conversion_value
    from {{ ref('fct_campaign_daily') }}
    where {{ in_mbo_window('date_day') }}

),

compared as (

    select
        coalesce(raw_daily.platform, mart.platform)       as platform,
        coalesce(raw_daily.account_id, mart.account_id)   as account_id,
        coalesce(raw_daily.campaign_id, mart.campaign_id) as campaign_id,
        coalesce(raw_daily.date_day, mart.date_day)       as date_day,
        raw_daily.platform is null                        as missing_in_raw,
        mart.platform is null                             as missing_in_mart,
        -- The mart keeps 6 decimals: a double's extra digits round away.
        abs(raw_daily.spend - mart.spend) > 0.000001
            or raw_daily.impressions <> mart.impressions
            or raw_daily.clicks <> mart.clicks
            or abs(raw_daily.conversions - mart.conversions) > 0.000001
            or abs(raw_daily.conversion_value - mart.conversion_value) > 0.000001 as metric_differs

    from raw_daily
    full outer join mart
        on  mart.platform = raw_daily.platform
        and mart.account_id = raw_daily.account_id
        and mart.campaign_id = raw_daily.campaign_id
        and mart.date_day = raw_daily.date_day

)

select *
from compared
where missing_in_raw or missing_in_mart or metric_differs
