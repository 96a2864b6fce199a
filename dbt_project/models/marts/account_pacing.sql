{#
    Within-month pacing: one row per platform x account_id x month of seed
    account_monthly_budgets. What the account has spent in that month so far
    (from fct_campaign_daily, up to the account's last loaded day), what is
    left of the monthly budget, and that remainder spread evenly over the
    days left: the daily total to allocate from now on.

    Days are the platforms' days (date_day, in each account's time zone).
    "Last loaded day" is the account's latest date_day in fct_campaign_daily
    (the latest day of any account when it has none). The days left run from
    the day after it to the end of the month, so a month not yet begun
    counts all its days and spends the whole budget evenly; a month already
    over has 1 day left (never 0, so the division is defined).

    Money is in the budget's currency (which must be the account's own:
    test assert_monthly_budget_currency_is_the_accounts), and converted to
    the reporting currency with the daily rates of int_fx_rates__daily:
    spend_mtd_reporting is the sum of the days' spend_reporting of
    fct_campaign_daily (each day at its own rate); the other amounts are
    budgets and plans, not spent on one day, so they convert at the rate of
    fx_rate_date = least(last_loaded_day, month_end): the latest day whose
    spend is known (or the month's last day for a month already over). The
    rate is joined with a LEFT JOIN, so a missing rate fails the not_null
    tests instead of dropping the account.
#}

{#- spend_mtd within +-10% of the budget's pro-rata share of the days elapsed is on track. -#}
{%- set pace_tolerance = 0.10 %}

with

budgets as (

    select platform, account_id, month, monthly_budget, currency
    from {{ ref('account_monthly_budgets') }}

),

-- Only the budgeted accounts' days in the budgets' months (through
-- fct_campaign_daily's (platform, account_id, ...) index), not every fact row.
daily as (

    select platform, account_id, date_day, spend, spend_reporting
    from {{ ref('fct_campaign_daily') }}
    where (platform, account_id) in (select platform, account_id from budgets)
      and date_day >= (select min(month) from budgets)
      and date_day < (select max(month) from budgets) + interval '1 month'

),

fx as (

    select date_day, currency, fx_rate_to_reporting
    from {{ ref('int_fx_rates__daily') }}

),

-- The facts are read once: summed per account and month (one group by,
-- not a scan per budget row); every later step reads these sums.
account_months as (

    select
        platform,
        account_id,
        date_trunc('month', date_day)::date  as month,
        coalesce(sum(spend), 0)              as spend_mtd,
        -- A day without a rate makes the whole sum NULL (not_null fails)
        -- rather than silently leaving that day's spend out.
        case
            when bool_or(spend_reporting is null) then null
            else coalesce(sum(spend_reporting), 0)
        end                                  as spend_mtd_reporting

    from daily
    group by 1, 2, 3

),

-- Each account's last loaded day (and any account's), from dim_campaign's
-- per-campaign last days: the same days as the facts', without reading them.
account_last_day as (

    select platform, account_id, max(last_date_day) as last_loaded_day
    from {{ ref('dim_campaign') }}
    where last_date_day is not null
    group by platform, account_id

),

any_last_day as (

    select max(last_date_day) as last_loaded_day from {{ ref('dim_campaign') }}

),

calendar as (

    select
        budgets.*,
        (budgets.month + interval '1 month' - interval '1 day')::date             as month_end,
        coalesce(account_last_day.last_loaded_day, any_last_day.last_loaded_day)  as last_loaded_day

    from budgets
    cross join any_last_day
    left join account_last_day
        on  account_last_day.platform = budgets.platform
        and account_last_day.account_id = budgets.account_id

),

days as (

    select
        calendar.*,
        month_end - month + 1 as days_in_month,
        -- Days of the month after the last loaded day, 0 once the month is
        -- over. GREATEST ignores NULL: no data at all means no day elapsed.
        month_end - least(greatest(last_loaded_day, month - 1), month_end) as days_after_last_loaded

    from calendar

),

spent as (

    select
        days.*,
        days.days_in_month - days.days_after_last_loaded  as days_elapsed,
        greatest(days.days_after_last_loaded, 1)          as days_left,
        -- LEAST ignores NULL: without any data, the month's last day.
        least(days.last_loaded_day, days.month_end)       as fx_rate_date,
        -- No spend in the month: 0 (in both currencies).
        coalesce(account_months.spend_mtd, 0)  as spend_mtd,
        case
            when account_months.month is null then 0
            else account_months.spend_mtd_reporting
        end                                    as spend_mtd_reporting

    from days
    left join account_months
        on  account_months.platform = days.platform
        and account_months.account_id = days.account_id
        and account_months.month = days.month

),

budgeted as (

    select
        spent.*,
        spent.monthly_budget * spent.days_elapsed / spent.days_in_month  as target_spend_mtd,
        greatest(spent.monthly_budget - spent.spend_mtd, 0)              as remaining_budget

    from spent

),

converted as (

    select
        budgeted.*,
        budgeted.remaining_budget / budgeted.days_left  as paced_daily_budget,
        case
            when budgeted.spend_mtd > budgeted.target_spend_mtd * {{ 1 + pace_tolerance }} then 'overspending'
            when budgeted.spend_mtd < budgeted.target_spend_mtd * {{ 1 - pace_tolerance }} then 'underspending'
            else 'on_track'
        end                                             as pace_status,
        fx.fx_rate_to_reporting

    from budgeted
    left join fx
        on  fx.currency = budgeted.currency
        and fx.date_day = budgeted.fx_rate_date

),

final as (

    select
        platform,
        account_id,
        month,
        currency,
        monthly_budget::numeric(20, 6)                                      as monthly_budget,
        last_loaded_day,
        days_in_month::integer                                              as days_in_month,
        days_elapsed::integer                                               as days_elapsed,
        days_left::integer                                                  as days_left,
        spend_mtd::numeric(20, 6)                                           as spend_mtd,
        target_spend_mtd::numeric(20, 6)                                    as target_spend_mtd,
        pace_status::text                                                   as pace_status,
        remaining_budget::numeric(20, 6)                                    as remaining_budget,
        paced_daily_budget::numeric(20, 6)                                  as paced_daily_budget,
        {{ reporting_currency() }}::text                                    as reporting_currency,
        fx_rate_to_reporting::numeric(24, 12)                               as fx_rate_to_reporting,
        fx_rate_date,
        (monthly_budget * fx_rate_to_reporting)::numeric(20, 6)             as monthly_budget_reporting,
        spend_mtd_reporting::numeric(20, 6)                                 as spend_mtd_reporting,
        (remaining_budget * fx_rate_to_reporting)::numeric(20, 6)           as remaining_budget_reporting,
        (paced_daily_budget * fx_rate_to_reporting)::numeric(20, 6)         as paced_daily_budget_reporting

    from converted

)

select * from final
