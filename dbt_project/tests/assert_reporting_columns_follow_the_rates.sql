{#
    Every *_reporting amount is the account-currency amount times the day's
    rate, recomputed here from source('raw', 'fx_rates') (not through
    int_fx_rates__daily, so a wrong fill, join or ratio there cannot agree
    with it): the rate of a currency on a day is the latest one published on
    or before it, at most fx_max_fill_days earlier, and the reporting rate is
    rate_to_usd(currency) / rate_to_usd(reporting currency) on that day.

    Checked: every row of fct_campaign_daily (spend, conversion value and the
    fx_rate_to_reporting shown, at date_day's rate); dim_campaign's daily
    budget at its fx_rate_date; account_pacing's budgets at its
    fx_rate_date, and its spend_mtd_reporting against the month's spend of
    fct_campaign_daily with each day at its own rate; fct_platform_daily's
    spend and value per day and platform against the account-currency
    totals of fct_campaign_daily per currency times that day's rate.
    Returns the amounts that differ by more than a millionth of a unit per
    row summed (the columns keep 6 decimals), or lack a rate.
#}

{%- set max_fill_days = fx_max_fill_days() %}

with

fct as (

    select * from {{ ref('fct_campaign_daily') }}

),

-- One row per amount to check: the account-currency amount, its currency,
-- the day whose rate applies, the reporting amount the mart holds, and how
-- many rounded rows it sums (the tolerance).
amounts as (

    select 'fct_campaign_daily.spend_reporting' as checked, campaign_key || ':' || date_day as row_key,
           currency, date_day as rate_day, spend as amount, spend_reporting as amount_reporting, 1 as rows_summed
    from fct
    where {{ in_mbo_window('date_day') }}

    union all

    select 'fct_campaign_daily.conversion_value_reporting', campaign_key || ':' || date_day, currency, date_day,
           conversion_value, conversion_value_reporting, 1
    from fct
    where {{ in_mbo_window('date_day') }}

    union all

    -- The rate itself, shown to 12 decimals: compared as the amount 1.
    select 'fct_campaign_daily.fx_rate_to_reporting', campaign_key || ':' || date_day, currency, date_day,
           1, fx_rate_to_reporting, 1
    from fct
    where {{ in_mbo_window('date_day') }}

    union all

    select 'dim_campaign.daily_budget_reporting', campaign_key, currency, fx_rate_date,
           daily_budget, daily_budget_reporting, 1
    from {{ ref('dim_campaign') }}
    where daily_budget is not null

    union all

    select 'account_pacing.' || amount_name, platform || ':' || account_id || ':' || month, currency, fx_rate_date,
           amount, amount_reporting, 1
    from {{ ref('account_pacing') }}
    cross join lateral (
        values
            ('monthly_budget_reporting', monthly_budget, monthly_budget_reporting),
            ('remaining_budget_reporting', remaining_budget, remaining_budget_reporting),
            ('paced_daily_budget_reporting', paced_daily_budget, paced_daily_budget_reporting)
    ) as budget_amounts (amount_name, amount, amount_reporting)

    union all

    -- A month without any spend yet: spend_mtd_reporting must be 0.
    select 'account_pacing.spend_mtd_reporting', platform || ':' || account_id || ':' || month, currency, fx_rate_date,
           0, spend_mtd_reporting, 1
    from {{ ref('account_pacing') }} as pacing
    where not exists (
        select 1 from fct
        where fct.platform = pacing.platform
          and fct.account_id = pacing.account_id
          and fct.date_day between pacing.month and (pacing.month + interval '1 month' - interval '1 day')::date
    )

),

-- Sums whose days each convert at their own rate: one row per day and
-- currency, with the total the mart holds repeated, summed after the rates.
day_totals as (

    select
        'account_pacing.spend_mtd_reporting' as checked,
        pacing.platform || ':' || pacing.account_id || ':' || pacing.month as row_key,
        fct.currency,
        fct.date_day as rate_day,
        sum(fct.spend) as amount,
        pacing.spend_mtd_reporting as total_reporting,
        count(*) as rows_summed

    from {{ ref('account_pacing') }} as pacing
    inner join fct
        on  fct.platform = pacing.platform
        and fct.account_id = pacing.account_id
        and fct.date_day between pacing.month and (pacing.month + interval '1 month' - interval '1 day')::date
    group by 1, 2, 3, 4, 6

    union all

    select 'fct_platform_daily.spend_reporting', platform_daily.platform || ':' || platform_daily.date_day,
           fct.currency, fct.date_day, sum(fct.spend), platform_daily.spend_reporting, count(*)
    from {{ ref('fct_platform_daily') }} as platform_daily
    inner join fct
        on fct.platform = platform_daily.platform and fct.date_day = platform_daily.date_day
    where {{ in_mbo_window('platform_daily.date_day') }}
    group by 1, 2, 3, 4, 6

    union all

    select 'fct_platform_daily.conversion_value_reporting', platform_daily.platform || ':' || platform_daily.date_day,
           fct.currency, fct.date_day, sum(fct.conversion_value), platform_daily.conversion_value_reporting, count(*)
    from {{ ref('fct_platform_daily') }} as platform_daily
    inner join fct
        on fct.platform = platform_daily.platform and fct.date_day = platform_daily.date_day
    where {{ in_mbo_window('platform_daily.date_day') }}
    group by 1, 2, 3, 4, 6

),

to_convert as (

    select checked, row_key, currency, rate_day, amount, amount_reporting, rows_summed from amounts
    union all
    select checked, row_key, currency, rate_day, amount, total_reporting, rows_summed from day_totals

),

-- Each (currency, day) once, the reporting currency's too: the latest rate
-- published on or before the day, at most fx_max_fill_days earlier (read
-- from the raw table itself, so its primary key index serves the lookups).
pair_rates as (

    select
        pairs.currency,
        pairs.rate_day,
        (
            select raw_rates.rate_to_usd::numeric
            from {{ source('raw', 'fx_rates') }} as raw_rates
            where raw_rates.date between pairs.rate_day - {{ max_fill_days }} and pairs.rate_day
              and upper(trim(raw_rates.currency)) = pairs.currency
            order by raw_rates.date desc
            limit 1
        ) as rate_to_usd

    from (
        select currency, rate_day from to_convert
        union
        select {{ reporting_currency() }}::text, rate_day from to_convert
    ) as pairs

),

rated as (

    select
        to_convert.*,
        from_rate.rate_to_usd / nullif(reporting_rate.rate_to_usd, 0) as rate

    from to_convert
    left join pair_rates as from_rate
        on  from_rate.currency = to_convert.currency
        and from_rate.rate_day = to_convert.rate_day
    left join pair_rates as reporting_rate
        on  reporting_rate.currency = {{ reporting_currency() }}
        and reporting_rate.rate_day = to_convert.rate_day

),

compared as (

    select
        checked,
        row_key,
        min(amount_reporting)                  as mart_reporting,
        sum(amount * rate)                     as expected_reporting,
        bool_or(rate is null)                  as rate_missing,
        sum(rows_summed)                       as rows_summed,
        string_agg(currency || ' ' || rate_day || ' @ ' || coalesce(rate::text, 'no rate'), ', ' order by rate_day, currency) as rates_used

    from rated
    group by checked, row_key

)

select *
from compared
where rate_missing
   or mart_reporting is null
   or abs(mart_reporting - expected_reporting) > 0.000001 * rows_summed
