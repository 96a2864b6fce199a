{#
    Every *_reporting amount of fct_campaign_daily and dim_campaign is the
    account-currency amount times the rate from seed currency_rates
    (rate_to_usd of the currency / rate_to_usd of the reporting currency),
    computed here from the seed, not from int_currency_rates__to_reporting,
    so a wrong or missing conversion in the models cannot agree with it.
    Returns the rows off by more than a millionth of a unit (the columns keep 6 decimals).
#}

with

rates as (

    select
        rates.currency,
        rates.rate_to_usd / reporting.rate_to_usd as rate

    from {{ ref('currency_rates') }} as rates
    cross join {{ ref('currency_rates') }} as reporting
    where reporting.currency = {{ reporting_currency() }}

),

daily as (

    select 'fct_campaign_daily' as model, campaign_key, date_day::text as day_or_budget,
           spend, spend_reporting, conversion_value, conversion_value_reporting, currency, reporting_currency
    from {{ ref('fct_campaign_daily') }}

),

budgets as (

    select 'dim_campaign' as model, campaign_key, 'daily_budget' as day_or_budget,
           daily_budget as spend, daily_budget_reporting as spend_reporting,
           0 as conversion_value, 0 as conversion_value_reporting, currency, reporting_currency
    from {{ ref('dim_campaign') }}
    where daily_budget is not null

),

checked as (

    select both_models.*, rates.rate
    from (select * from daily union all select * from budgets) as both_models
    left join rates
        on rates.currency = both_models.currency

)

select *
from checked
where rate is null
   or reporting_currency <> {{ reporting_currency() }}
   or abs(spend * rate - spend_reporting) > 0.000001
   or abs(conversion_value * rate - conversion_value_reporting) > 0.000001
