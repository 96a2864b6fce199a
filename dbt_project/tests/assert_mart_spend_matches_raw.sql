{#
    Consistency test (in the spirit of fivetran's ad_reporting consistency
    tests): per platform, total spend in marts.fct_campaign_daily must equal
    total spend in the raw tables after unit conversion (Google micros /
    1,000,000; Meta, TikTok and CSV imports already in currency units), in each account's
    own currency, to within 0.01. Returns the platforms that disagree; a
    platform present on only one side counts as a mismatch. The conversions
    are written out here rather than calling the staging macros, so a wrong
    macro cannot make both sides agree.
#}

with

raw_spend as (

    select 'google_ads' as platform, sum(metrics_cost_micros)::numeric / 1000000 as spend
    from {{ source('raw', 'google_ads_campaign_daily') }}

    union all

    select 'meta_ads' as platform, sum(spend::numeric) as spend
    from {{ source('raw', 'meta_ads_campaign_daily') }}

    union all

    select 'tiktok_ads' as platform, sum(spend::numeric) as spend
    from {{ source('raw', 'tiktok_ads_campaign_daily') }}

    union all

    select lower(trim(platform)) as platform, sum(spend::numeric) as spend
    from {{ source('raw', 'csv_campaign_daily') }}
    group by 1

),

mart_spend as (

    select platform, sum(spend) as spend
    from {{ ref('fct_campaign_daily') }}
    group by platform

),

compared as (

    select
        coalesce(raw_spend.platform, mart_spend.platform) as platform,
        coalesce(raw_spend.spend, 0)                      as raw_spend,
        coalesce(mart_spend.spend, 0)                     as mart_spend

    from raw_spend
    full outer join mart_spend
        on mart_spend.platform = raw_spend.platform

)

select
    platform,
    raw_spend,
    mart_spend,
    mart_spend - raw_spend as difference

from compared
where abs(mart_spend - raw_spend) > 0.01
