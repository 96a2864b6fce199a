{#
    De-duplicated conversion value never exceeds the revenue GA4 observed
    for paid traffic: per day, the sum of dedup_conversion_value_reporting
    over the campaigns GA4 matched (fct_campaign_attribution, every
    platform) is at most the revenue of that day's GA4 rows whose source /
    medium is in seed ga4_channel_mapping, converted from the property's
    currency at the day's rate (int_fx_rates__daily). The GA4 side is
    computed here from the raw table and the seed. A GA4 revenue without a
    rate counts as a failure. Tolerance: a ten-thousandth of a unit.
    Returns the days that exceed it.
#}

with

paid_ga4 as (

    select
        raw_ga4.date as date_day,
        sum(raw_ga4.total_revenue::numeric * rates.fx_rate_to_reporting) as ga4_paid_revenue_reporting,
        count(*) filter (where rates.fx_rate_to_reporting is null)       as rows_without_rate

    from {{ source('raw', 'ga4_traffic_daily') }} as raw_ga4
    inner join {{ ref('ga4_channel_mapping') }} as mapping
        on  mapping.source = lower(trim(split_part(raw_ga4.session_source_medium, ' / ', 1)))
        and mapping.medium = lower(trim(split_part(raw_ga4.session_source_medium, ' / ', 2)))
    left join {{ ref('int_fx_rates__daily') }} as rates
        on  rates.currency = upper(trim(raw_ga4.currency_code))
        and rates.date_day = raw_ga4.date
    where {{ in_mbo_window('raw_ga4.date') }}
    group by raw_ga4.date

),

dedup as (

    select date_day, sum(dedup_conversion_value_reporting) as dedup_conversion_value_reporting
    from {{ ref('fct_campaign_attribution') }}
    where is_ga4_matched
      and {{ in_mbo_window('date_day') }}
    group by date_day

)

select
    dedup.date_day,
    dedup.dedup_conversion_value_reporting,
    paid_ga4.ga4_paid_revenue_reporting,
    paid_ga4.rows_without_rate

from dedup
left join paid_ga4
    on paid_ga4.date_day = dedup.date_day
where coalesce(paid_ga4.rows_without_rate, 0) > 0
   or dedup.dedup_conversion_value_reporting > coalesce(paid_ga4.ga4_paid_revenue_reporting, 0) + 0.0001
