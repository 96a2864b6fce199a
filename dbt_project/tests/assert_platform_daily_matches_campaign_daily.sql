{#
    fct_platform_daily is fct_campaign_daily summed per day and platform:
    same (day, platform) pairs, same campaign count, spend, impressions,
    clicks, conversions and value in the reporting currency, and its ratios
    recomputed from those sums (roas, cpa_reporting, and share_of_spend
    against the day's total over every platform). Returns the pairs that
    differ (or exist on one side only).
#}

with

campaign_totals as (

    select
        date_day,
        platform,
        count(*)                         as campaigns,
        sum(spend_reporting)             as spend_reporting,
        sum(impressions)                 as impressions,
        sum(clicks)                      as clicks,
        sum(conversions)                 as conversions,
        sum(conversion_value_reporting)  as conversion_value_reporting

    from {{ ref('fct_campaign_daily') }}
    where {{ in_mbo_window('date_day') }}
    group by date_day, platform

),

day_totals as (

    select date_day, sum(spend_reporting) as spend_reporting
    from {{ ref('fct_campaign_daily') }}
    where {{ in_mbo_window('date_day') }}
    group by date_day

),

expected as (

    select
        campaign_totals.*,
        campaign_totals.conversion_value_reporting / nullif(campaign_totals.spend_reporting, 0)  as roas,
        campaign_totals.spend_reporting / nullif(campaign_totals.conversions, 0)                 as cpa_reporting,
        campaign_totals.spend_reporting / nullif(day_totals.spend_reporting, 0)                  as share_of_spend

    from campaign_totals
    inner join day_totals
        on day_totals.date_day = campaign_totals.date_day

),

platform_daily as (

    select * from {{ ref('fct_platform_daily') }}
    where {{ in_mbo_window('date_day') }}

)

select
    coalesce(expected.date_day, platform_daily.date_day)  as date_day,
    coalesce(expected.platform, platform_daily.platform)  as platform,
    expected.platform is null                             as missing_in_fct_campaign_daily,
    platform_daily.platform is null                       as missing_in_fct_platform_daily,
    expected.spend_reporting                              as expected_spend_reporting,
    platform_daily.spend_reporting,
    expected.share_of_spend                               as expected_share_of_spend,
    platform_daily.share_of_spend

from expected
full outer join platform_daily
    on  platform_daily.date_day = expected.date_day
    and platform_daily.platform = expected.platform
where expected.platform is null
   or platform_daily.platform is null
   or platform_daily.campaigns <> expected.campaigns
   or platform_daily.impressions <> expected.impressions
   or platform_daily.clicks <> expected.clicks
   or abs(platform_daily.spend_reporting - expected.spend_reporting) > 0.000001
   or abs(platform_daily.conversions - expected.conversions) > 0.000001
   or abs(platform_daily.conversion_value_reporting - expected.conversion_value_reporting) > 0.000001
   -- NULL exactly when the denominator is 0, else within the 6 / 10 decimals kept.
   or (platform_daily.roas is null) <> (expected.roas is null)
   or abs(platform_daily.roas - expected.roas) > 0.000001
   or (platform_daily.cpa_reporting is null) <> (expected.cpa_reporting is null)
   or abs(platform_daily.cpa_reporting - expected.cpa_reporting) > 0.000001
   or (platform_daily.share_of_spend is null) <> (expected.share_of_spend is null)
   or abs(platform_daily.share_of_spend - expected.share_of_spend) > 0.0000000001
