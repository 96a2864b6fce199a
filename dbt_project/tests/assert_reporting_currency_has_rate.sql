{#
    The reporting currency (var reporting_currency, default env var
    MBO_REPORTING_CURRENCY, else USD) must have a rate in seed
    currency_rates; otherwise every *_reporting column would be NULL.
    Returns the reporting currency when it has no rate.
#}

select reporting_currency
from (select {{ reporting_currency() }}::text as reporting_currency) as chosen
where not exists (
    select 1
    from {{ ref('currency_rates') }} as rates
    where rates.currency = chosen.reporting_currency
      and rates.rate_to_usd > 0
)
