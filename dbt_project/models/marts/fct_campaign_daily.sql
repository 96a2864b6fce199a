{#
    One row per date_day x platform x account_id x campaign_id: the daily
    performance of every campaign on every platform, with money both in the
    account's own currency and in the reporting currency.

    Rates are joined with LEFT JOINs on purpose: a currency without a rate
    yields a NULL fx_rate_to_reporting, which the not_null tests turn into a
    failed build (an inner join would silently drop the campaign's spend).
#}

with

daily as (

    select * from {{ ref('int_campaign_daily__unioned') }}

),

rates as (

    select currency, rate_to_usd from {{ ref('currency_rates') }}

),

reporting as (

    select
        reporting_currency,
        rates.rate_to_usd as reporting_rate_to_usd

    from (select {{ reporting_currency() }}::text as reporting_currency) as chosen
    left join rates
        on rates.currency = chosen.reporting_currency

),

converted as (

    select
        daily.*,
        reporting.reporting_currency,
        rates.rate_to_usd / nullif(reporting.reporting_rate_to_usd, 0) as fx_rate_to_reporting

    from daily
    cross join reporting
    left join rates
        on rates.currency = daily.currency

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
        reporting_currency,
        fx_rate_to_reporting::numeric(24, 12)                        as fx_rate_to_reporting,
        (spend * fx_rate_to_reporting)::numeric(20, 6)               as spend_reporting,
        (conversion_value * fx_rate_to_reporting)::numeric(20, 6)    as conversion_value_reporting

    from converted

)

select * from final
