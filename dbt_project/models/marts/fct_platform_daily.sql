{#
    The big picture: one row per date_day x platform, every campaign of
    every account of the platform summed in the reporting currency (each
    campaign-day's *_reporting amount of fct_campaign_daily, i.e. at that
    day's rate). date_day is each account's own day (its time zone), as in
    fct_campaign_daily: a platform's day sums its accounts' days, which need
    not be the same 24 hours.

    Ratios are of the sums: roas = value / spend, cpa = spend / conversions,
    share_of_spend = the platform's spend / every platform's spend that day.
    Each is NULL when its denominator is 0 rather than a division error or
    a misleading 0.
#}

{#- Incremental (whole days of the window) on a daily run; a plain table build of all history otherwise: macros/incremental_window.sql. -#}
{{ windowed_fact_config(['date_day', 'platform']) }}

with

daily as (

    select * from {{ ref('fct_campaign_daily') }}
    -- Whole days: share_of_spend divides by the day's total over every platform.
    where {{ in_incremental_window('date_day') }}

),

totals as (

    select
        date_day,
        platform,
        count(*)                         as campaigns,
        count(distinct account_id)       as accounts,
        sum(spend_reporting)             as spend_reporting,
        sum(impressions)                 as impressions,
        sum(clicks)                      as clicks,
        sum(conversions)                 as conversions,
        sum(conversion_value_reporting)  as conversion_value_reporting

    from daily
    group by date_day, platform

),

shares as (

    select
        totals.*,
        sum(spend_reporting) over (partition by date_day)  as day_spend_reporting

    from totals

),

final as (

    select
        date_day,
        platform,
        {{ reporting_currency() }}::text                                               as reporting_currency,
        campaigns::integer                                                             as campaigns,
        accounts::integer                                                              as accounts,
        spend_reporting::numeric(20, 6)                                                as spend_reporting,
        impressions::bigint                                                            as impressions,
        clicks::bigint                                                                 as clicks,
        conversions::numeric(20, 6)                                                    as conversions,
        conversion_value_reporting::numeric(20, 6)                                     as conversion_value_reporting,
        (conversion_value_reporting / nullif(spend_reporting, 0))::numeric(20, 6)      as roas,
        (spend_reporting / nullif(conversions, 0))::numeric(20, 6)                     as cpa_reporting,
        (spend_reporting / nullif(day_spend_reporting, 0))::numeric(20, 10)            as share_of_spend

    from shares

)

select * from final
