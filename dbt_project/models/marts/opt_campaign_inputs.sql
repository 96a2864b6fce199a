{#
    Exactly what the optimizer reads to fit its response curves: per campaign
    and day, spend and the two conversion-value measures in the reporting
    currency. The planner takes date_day, platform, account_id, campaign_id,
    spend_reporting and, per MBO_CONVERSION_SOURCE, platform_conversion_value_reporting
    (platform) or dedup_conversion_value_reporting (deduplicated) as its
    conversion value, for the days between a plan's history_start and history_end.
#}

{#- Incremental (whole days of the window) on a daily run; a plain table build of all history otherwise: macros/incremental_window.sql. -#}
{{ windowed_fact_config(['date_day', 'platform', 'account_id', 'campaign_id']) }}

with

attribution as (

    select * from {{ ref('fct_campaign_attribution') }}
    where {{ in_incremental_window('date_day') }}

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
