{#
    De-duplicated conversions never exceed what GA4 observed for paid
    traffic: per day, the sum of dedup_conversions over the campaigns GA4
    matched (fct_campaign_attribution, every platform) is at most the key
    events of that day's GA4 rows whose source / medium is in seed
    ga4_channel_mapping (matched to a campaign or not). The GA4 side is
    computed here from the raw table and the seed, not from the model or
    staging. Tolerance: a ten-thousandth (the model rounds each row to 6
    decimals). Returns the days that exceed it.
#}

with

paid_ga4 as (

    select
        raw_ga4.date as date_day,
        sum(raw_ga4.key_events::numeric) as ga4_paid_key_events

    from {{ source('raw', 'ga4_traffic_daily') }} as raw_ga4
    inner join {{ ref('ga4_channel_mapping') }} as mapping
        on  mapping.source = lower(trim(split_part(raw_ga4.session_source_medium, ' / ', 1)))
        and mapping.medium = lower(trim(split_part(raw_ga4.session_source_medium, ' / ', 2)))
    where {{ in_mbo_window('raw_ga4.date') }}
    group by raw_ga4.date

),

dedup as (

    select date_day, sum(dedup_conversions) as dedup_conversions
    from {{ ref('fct_campaign_attribution') }}
    where is_ga4_matched
      and {{ in_mbo_window('date_day') }}
    group by date_day

)

select
    dedup.date_day,
    dedup.dedup_conversions,
    coalesce(paid_ga4.ga4_paid_key_events, 0) as ga4_paid_key_events

from dedup
left join paid_ga4
    on paid_ga4.date_day = dedup.date_day
where dedup.dedup_conversions > coalesce(paid_ga4.ga4_paid_key_events, 0) + 0.0001
