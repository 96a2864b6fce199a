{#
    The one place the reporting-currency rate is computed: for every currency
    of seed currency_rates, how many units of the reporting currency (dbt var
    reporting_currency) one unit of it is worth. Every mart converts money
    with a LEFT JOIN to this model on its currency.

    The reporting currency is picked with a LEFT JOIN too, so a reporting
    currency without a rate yields NULL fx_rate_to_reporting on every row
    (the not_null test fails) instead of an empty relation. The ratio keeps
    20 decimal places (all PostgreSQL computes for the seed's rates); the
    marts convert with it and round only the fx_rate_to_reporting they show.
#}

with

rates as (

    select currency, rate_to_usd from {{ ref('currency_rates') }}

),

reporting as (

    select
        chosen.reporting_currency,
        rates.rate_to_usd as reporting_rate_to_usd

    from (select {{ reporting_currency() }}::text as reporting_currency) as chosen
    left join rates
        on rates.currency = chosen.reporting_currency

),

final as (

    select
        rates.currency,
        reporting.reporting_currency,
        (rates.rate_to_usd / nullif(reporting.reporting_rate_to_usd, 0))::numeric(38, 20) as fx_rate_to_reporting

    from rates
    cross join reporting

)

select * from final
