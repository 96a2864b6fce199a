{#
    A campaign GA4 did not match keeps its platform numbers: when
    is_ga4_matched is false, dedup_conversions / dedup_conversion_value(_reporting)
    equal the platform's, both factors are 1 and every ga4_* column is NULL.
    And it really was unmatched: no GA4 row of a source / medium mapped to
    its platform (seed ga4_channel_mapping) carries its name
    (lower(trim), GA4's "(not set)" excepted) on its day, computed here from
    the raw table. Returns the offending rows.
#}

with

paid_names as (

    select distinct
        raw_ga4.date                                     as date_day,
        mapping.platform,
        lower(trim(raw_ga4.session_campaign_name))       as match_name

    from {{ source('raw', 'ga4_traffic_daily') }} as raw_ga4
    inner join {{ ref('ga4_channel_mapping') }} as mapping
        on  mapping.source = lower(trim(split_part(raw_ga4.session_source_medium, ' / ', 1)))
        and mapping.medium = lower(trim(split_part(raw_ga4.session_source_medium, ' / ', 2)))
    where lower(trim(raw_ga4.session_campaign_name)) not in ('', '(not set)')
      and {{ in_mbo_window('raw_ga4.date') }}

),

unmatched as (

    select *
    from {{ ref('fct_campaign_attribution') }}
    where not is_ga4_matched
      and {{ in_mbo_window('date_day') }}

)

select
    unmatched.date_day,
    unmatched.platform,
    unmatched.account_id,
    unmatched.campaign_id,
    unmatched.campaign_name,
    paid_names.match_name is not null as ga4_has_a_paid_row_with_its_name

from unmatched
left join paid_names
    on  paid_names.date_day = unmatched.date_day
    and paid_names.platform = unmatched.platform
    and paid_names.match_name = lower(trim(unmatched.campaign_name))
where paid_names.match_name is not null
   or unmatched.dedup_conversions is distinct from unmatched.platform_conversions
   or unmatched.dedup_conversion_value is distinct from unmatched.platform_conversion_value
   or unmatched.dedup_conversion_value_reporting is distinct from unmatched.platform_conversion_value_reporting
   or unmatched.dedup_factor_conversions <> 1
   or unmatched.dedup_factor_value <> 1
   or unmatched.ga4_share is not null
   or unmatched.ga4_sessions is not null
   or unmatched.ga4_key_events is not null
   or unmatched.ga4_revenue is not null
   or unmatched.ga4_revenue_reporting is not null
