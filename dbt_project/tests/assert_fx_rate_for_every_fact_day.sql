{#
    Every (currency, day) the facts need has a rate in int_fx_rates__daily:
    each campaign fact's account currency on its date_day
    (int_campaign_daily__unioned), each GA4 property's currency on its
    date_day (stg_ga4__traffic_daily), and the reporting currency on every
    one of those days. Returns one row per missing pair (currency, date_day),
    with what needs it and the last rate published on or before that day, so
    a failing run names them (stored in the failures table dbt prints).
    A pair is missing when no rate was published on or in the
    fx_max_fill_days days before it: load the rates for those days into
    raw.fx_rates (MBO_FX_RATES_CSV), or raise MBO_FX_MAX_FILL_DAYS.
#}

with

needed as (

    select distinct currency, date_day, 'campaign facts' as needed_by
    from {{ ref('int_campaign_daily__unioned') }}
    where {{ in_mbo_window('date_day') }}

    union all

    select distinct currency, date_day, 'GA4 revenue'
    from {{ ref('stg_ga4__traffic_daily') }}
    where currency is not null
      and {{ in_mbo_window('date_day') }}

),

needed_with_reporting as (

    select currency, date_day, needed_by from needed

    union all

    select distinct {{ reporting_currency() }}::text, date_day, 'reporting currency'
    from needed

),

missing as (

    select
        needed.currency,
        needed.date_day,
        string_agg(distinct needed.needed_by, ', ')  as needed_by

    from needed_with_reporting as needed
    left join {{ ref('int_fx_rates__daily') }} as rates
        on  rates.currency = needed.currency
        and rates.date_day = needed.date_day
    where rates.rate_to_usd is null
    group by needed.currency, needed.date_day

)

select
    missing.currency,
    missing.date_day,
    missing.needed_by,
    last_published.date_day                          as last_published_on,
    missing.date_day - last_published.date_day       as days_since_published,
    {{ fx_max_fill_days() }}                         as fx_max_fill_days

from missing
left join lateral (
    select max(published.date_day) as date_day
    from {{ ref('stg_fx__rates') }} as published
    where published.currency = missing.currency
      and published.date_day <= missing.date_day
) as last_published on true
