{#
    Platform-reported conversions next to what GA4 observed for the same
    campaign, and a de-duplicated measure. One row per row of
    fct_campaign_daily (date_day x platform x account_id x campaign_id).

    Matching: a GA4 row (stg_ga4__traffic_daily) is paid traffic of platform
    p when its (source, medium) is in seed ga4_channel_mapping; it matches
    p's campaigns whose lower(trim(campaign_name)) equals its
    lower(trim(campaign_name)) on the same calendar date_day (the account's
    day on one side, the property's on the other). GA4's placeholder
    "(not set)" (untagged links) and empty names never match. Campaigns that
    share the matched name on that day (e.g. in two accounts) split the GA4
    numbers in proportion to their spend in the reporting currency (equally
    when none spent).

    De-duplication, per day d and platform p, over p's matched campaigns:
        f_conv(d, p)  = min(1, sum ga4_key_events / sum platform_conversions)          (1 when the claims are 0)
        f_value(d, p) = min(1, sum ga4_revenue_reporting / sum platform_conversion_value_reporting)   (idem)
    dedup = platform number x factor on matched campaigns; unmatched
    campaigns keep their platform numbers (factor 1).

    Money: GA4 revenue is in the property's currency; it is converted to the
    reporting currency at that day's rate (int_fx_rates__daily), and from
    there to the account's currency at the account currency's rate of the
    day. LEFT JOINs throughout: a missing rate gives NULL, which the
    not_null tests turn into a failed build instead of lost revenue.
#}

{#- Incremental (whole days of the window) on a daily run; a plain table build of all history otherwise: macros/incremental_window.sql. -#}
{{ windowed_fact_config(['date_day', 'platform', 'account_id', 'campaign_id']) }}

with

campaigns as (

    select
        campaign_key,
        date_day,
        platform,
        account_id,
        campaign_id,
        campaign_name,
        currency,
        account_timezone,
        reporting_currency,
        fx_rate_to_reporting,
        spend,
        spend_reporting,
        conversions                  as platform_conversions,
        conversion_value             as platform_conversion_value,
        conversion_value_reporting   as platform_conversion_value_reporting,
        lower(trim(campaign_name))   as match_name

    from {{ ref('fct_campaign_daily') }}
    -- Whole days: the factors and the same-name shares are per day.
    where {{ in_incremental_window('date_day') }}

),

mapping as (

    select source, medium, platform from {{ ref('ga4_channel_mapping') }}

),

fx as (

    select date_day, currency, fx_rate_to_reporting
    from {{ ref('int_fx_rates__daily') }}

),

paid_ga4 as (

    select
        ga4.date_day,
        mapping.platform,
        lower(trim(ga4.campaign_name))               as match_name,
        ga4.sessions,
        ga4.key_events,
        ga4.total_revenue * fx.fx_rate_to_reporting  as revenue_reporting

    from {{ ref('stg_ga4__traffic_daily') }} as ga4
    inner join mapping
        on  mapping.source = ga4.source
        and mapping.medium = ga4.medium
    left join fx
        on  fx.currency = ga4.currency
        and fx.date_day = ga4.date_day
    where lower(trim(ga4.campaign_name)) not in ('', '(not set)')
      and {{ in_incremental_window('ga4.date_day') }}

),

ga4_by_name as (

    select
        date_day,
        platform,
        match_name,
        sum(sessions)    as sessions,
        sum(key_events)  as key_events,
        -- sum() skips NULLs: one row without a rate makes the total NULL (and the build fail) rather than low.
        case when bool_and(revenue_reporting is not null) then sum(revenue_reporting) end  as revenue_reporting

    from paid_ga4
    group by date_day, platform, match_name

),

matched as (

    select
        campaigns.*,
        ga4_by_name.platform is not null  as is_ga4_matched,
        ga4_by_name.sessions              as name_sessions,
        ga4_by_name.key_events            as name_key_events,
        ga4_by_name.revenue_reporting     as name_revenue_reporting,
        case
            when ga4_by_name.platform is null then null
            -- Shares of spend in one currency: the campaigns may be in accounts of different currencies.
            when sum(campaigns.spend_reporting) over same_name > 0
                then campaigns.spend_reporting / sum(campaigns.spend_reporting) over same_name
            else 1.0 / count(*) over same_name
        end                               as ga4_share

    from campaigns
    left join ga4_by_name
        on  ga4_by_name.date_day = campaigns.date_day
        and ga4_by_name.platform = campaigns.platform
        and ga4_by_name.match_name = campaigns.match_name
    window same_name as (partition by campaigns.date_day, campaigns.platform, campaigns.match_name)

),

attributed as (

    select
        matched.*,
        name_sessions * ga4_share                   as ga4_sessions_exact,
        name_key_events * ga4_share                 as ga4_key_events_exact,
        name_revenue_reporting * ga4_share          as ga4_revenue_reporting_exact,
        account_fx.fx_rate_to_reporting             as account_fx_rate_to_reporting

    from matched
    left join fx as account_fx
        on  account_fx.currency = matched.currency
        and account_fx.date_day = matched.date_day

),

platform_days as (

    select
        date_day,
        platform,
        case
            when sum(platform_conversions) = 0 then 1
            else least(1, sum(ga4_key_events_exact) / sum(platform_conversions))
        end  as dedup_factor_conversions,
        case
            when bool_or(ga4_revenue_reporting_exact is null) then null
            when sum(platform_conversion_value_reporting) = 0 then 1
            else least(1, sum(ga4_revenue_reporting_exact) / sum(platform_conversion_value_reporting))
        end  as dedup_factor_value

    from attributed
    where is_ga4_matched
    group by date_day, platform

),

factored as (

    select
        attributed.*,
        case when attributed.is_ga4_matched then platform_days.dedup_factor_conversions else 1 end  as factor_conversions,
        case when attributed.is_ga4_matched then platform_days.dedup_factor_value else 1 end        as factor_value

    from attributed
    left join platform_days
        on  platform_days.date_day = attributed.date_day
        and platform_days.platform = attributed.platform

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
        account_timezone,
        reporting_currency,
        fx_rate_to_reporting,
        spend,
        spend_reporting,
        platform_conversions,
        platform_conversion_value,
        platform_conversion_value_reporting,
        is_ga4_matched,
        ga4_share::numeric(24, 12)                                                               as ga4_share,
        ga4_sessions_exact::numeric(20, 6)                                                       as ga4_sessions,
        ga4_key_events_exact::numeric(20, 6)                                                     as ga4_key_events,
        (ga4_revenue_reporting_exact / nullif(account_fx_rate_to_reporting, 0))::numeric(20, 6)  as ga4_revenue,
        ga4_revenue_reporting_exact::numeric(20, 6)                                              as ga4_revenue_reporting,
        factor_conversions::numeric(24, 12)                                                      as dedup_factor_conversions,
        factor_value::numeric(24, 12)                                                            as dedup_factor_value,
        -- Truncated, not rounded, to 6 decimals: the sums never exceed what GA4 saw, not even by rounding.
        trunc(platform_conversions * factor_conversions, 6)::numeric(20, 6)                      as dedup_conversions,
        trunc(platform_conversion_value * factor_value, 6)::numeric(20, 6)                       as dedup_conversion_value,
        trunc(platform_conversion_value_reporting * factor_value, 6)::numeric(20, 6)             as dedup_conversion_value_reporting

    from factored

)

select * from final
