{#
    One row per date_day x platform x account_id x campaign_id: the daily
    performance of every campaign on every platform, with money both in the
    account's own currency and in the reporting currency.

    Every amount converts at its own day's rate: int_fx_rates__daily joined
    on (currency, date_day) with a LEFT JOIN on purpose: a day without a rate
    yields a NULL fx_rate_to_reporting, which the not_null tests turn into a
    failed build (an inner join would silently drop the campaign's spend).
    date_day is the account's own day (its time zone), and the rate is that
    calendar day's.
#}

{#- Incremental (whole days of the window) on a daily run; a plain table build of all history otherwise: macros/incremental_window.sql. -#}
{{ windowed_fact_config(['date_day', 'platform', 'account_id', 'campaign_id']) }}

with

daily as (

    select * from {{ ref('int_campaign_daily__unioned') }}
    where {{ in_incremental_window('date_day') }}

),

fx as (

    select date_day, currency, fx_rate_to_reporting
    from {{ ref('int_fx_rates__daily') }}
    where {{ in_incremental_window('date_day') }}

),

converted as (

    select
        daily.*,
        fx.fx_rate_to_reporting

    from daily
    left join fx
        on  fx.currency = daily.currency
        and fx.date_day = daily.date_day

),

final as (

    select
        (platform || ':' || account_id || ':' || campaign_id)::text  as campaign_key,
        date_day,
        platform,
        account_id,
        campaign_id,
        campaign_name,
        currency,
        account_timezone,
        spend,
        impressions,
        clicks,
        conversions,
        conversion_value,
        (conversion_value / nullif(spend, 0))::numeric(20, 6)        as roas,
        {{ reporting_currency() }}::text                             as reporting_currency,
        fx_rate_to_reporting::numeric(24, 12)                        as fx_rate_to_reporting,
        (spend * fx_rate_to_reporting)::numeric(20, 6)               as spend_reporting,
        (conversion_value * fx_rate_to_reporting)::numeric(20, 6)    as conversion_value_reporting

    from converted

)

select * from final
