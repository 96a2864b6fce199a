{#
    Exactly what the optimizer reads to fit its response curves: per campaign
    and day, spend and the two conversion-value measures in the reporting
    currency. The planner takes date_day, platform, account_id, campaign_id,
    spend_reporting and, per MBO_CONVERSION_SOURCE, platform_conversion_value_reporting
    (platform) or dedup_conversion_value_reporting (deduplicated) as its
    conversion value, for the days between a plan's history_start and history_end.
#}

with

attribution as (

    select * from {{ ref('fct_campaign_attribution') }}

),

final as (

    select
        campaign_key,
        date_day,
        platform,
        account_id,
        campaign_id,
        campaign_name,
        currency,
        reporting_currency,
        spend,
        spend_reporting,
        platform_conversions,
        platform_conversion_value_reporting,
        dedup_conversions,
        dedup_conversion_value_reporting,
        is_ga4_matched

    from attribution

)

select * from final
