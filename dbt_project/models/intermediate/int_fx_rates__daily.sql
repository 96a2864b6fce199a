{#
    One FX rate per calendar day and currency: the one place money is
    converted from. raw.fx_rates holds rates as published (business days
    only); this model lays a calendar under each currency, from its first
    published day to the last day anything needs a rate (the latest of: the
    campaign facts' last date_day, GA4's last date_day, the last published
    day), and carries each published rate forward at most fx_max_fill_days
    days (var, default env var MBO_FX_MAX_FILL_DAYS, else 7). A day further
    from its last publication keeps its row with NULL rates: the singular
    test assert_fx_rate_for_every_fact_day names every such (currency, day)
    a fact needs, and the marts' not_null tests fail.

    fx_rate_to_reporting divides by the reporting currency's rate of the
    same day (itself forward filled the same way), so it is NULL whenever
    either side has no rate that day. Materialized as a table (with an index
    on currency, date_day) because every mart joins to it.
#}

{%- set max_fill_days = fx_max_fill_days() %}

with

published as (

    select date_day, currency, rate_to_usd from {{ ref('stg_fx__rates') }}

),

last_needed_day as (

    select max(last_day) as last_day
    from (
        select max(date_day) as last_day from {{ ref('int_campaign_daily__unioned') }}
        union all
        select max(date_day) from {{ ref('stg_ga4__traffic_daily') }}
        union all
        select max(date_day) from published
    ) as last_days

),

calendar as (

    select
        currencies.currency,
        day::date as date_day

    from (
        select currency, min(date_day) as first_day
        from published
        group by currency
    ) as currencies
    cross join last_needed_day
    cross join lateral generate_series(
        currencies.first_day, last_needed_day.last_day, interval '1 day'
    ) as day

),

last_published as (

    -- The latest publication day on or before date_day (published days
    -- carry their own date, the others none; a running max finds it).
    select
        calendar.currency,
        calendar.date_day,
        max(published.date_day) over (
            partition by calendar.currency
            order by calendar.date_day
            rows between unbounded preceding and current row
        ) as last_published_on

    from calendar
    left join published
        on  published.currency = calendar.currency
        and published.date_day = calendar.date_day

),

filled as (

    select
        last_published.date_day,
        last_published.currency,
        published.rate_to_usd,
        published.date_day as rate_published_on

    from last_published
    left join published
        on  published.currency = last_published.currency
        and published.date_day = last_published.last_published_on
        and last_published.date_day - last_published.last_published_on <= {{ max_fill_days }}

),

reporting as (

    select date_day, currency, rate_to_usd
    from filled
    where currency = {{ reporting_currency() }}

),

final as (

    select
        filled.date_day,
        filled.currency,
        filled.rate_to_usd::numeric(20, 10)                                                  as rate_to_usd,
        filled.rate_published_on,
        {{ reporting_currency() }}::text                                                     as reporting_currency,
        (filled.rate_to_usd / nullif(reporting.rate_to_usd, 0))::numeric(38, 20)            as fx_rate_to_reporting

    from filled
    left join reporting
        on reporting.date_day = filled.date_day

)

select * from final
