{#
    fct_budget_pacing's projection, re-derived for every row from
    fct_campaign_daily alone (not from account_pacing's day counts): the
    account's pace is its spend summed over the calendar days from its last
    loaded day - 6 to its last loaded day that are not before its first
    loaded day (a day without rows adds 0), divided by the number of those
    days; the days to project are the month's days after the last loaded
    day (the account's own, else the latest of any account); the projection
    is the month's spend so far plus pace x those days, and its reporting
    twin the month's spend_reporting plus pace x days x the row's
    fx_rate_to_reporting. Returns the rows off by more than a
    hundred-thousandth.
#}

with

-- The accounts with a pacing row (the budgeted ones) only: the others
-- have nothing to check here.
daily as (

    select platform, account_id, date_day, spend, spend_reporting
    from {{ ref('fct_campaign_daily') }}
    where (platform, account_id) in (select platform, account_id from {{ ref('fct_budget_pacing') }})

),

account_days as (

    select platform, account_id, date_day, sum(spend) as spend
    from daily
    group by platform, account_id, date_day

),

account_months as (

    select
        platform,
        account_id,
        date_trunc('month', date_day)::date  as month,
        sum(spend)                           as spend,
        sum(spend_reporting)                 as spend_reporting

    from daily
    group by 1, 2, 3

),

accounts as (

    select platform, account_id, min(date_day) as first_day, max(date_day) as last_day
    from account_days
    group by platform, account_id

),

pace as (

    select
        accounts.platform,
        accounts.account_id,
        sum(coalesce(account_days.spend, 0)) / count(*) as daily_pace

    from accounts
    cross join lateral generate_series(accounts.last_day - 6, accounts.last_day, interval '1 day') as calendar (day)
    left join account_days
        on  account_days.platform = accounts.platform
        and account_days.account_id = accounts.account_id
        and account_days.date_day = calendar.day::date
    where calendar.day::date >= accounts.first_day
    group by accounts.platform, accounts.account_id

),

expected as (

    select
        pacing.platform,
        pacing.account_id,
        pacing.month,
        pacing.fx_rate_to_reporting,
        pacing.projected_month_end_spend,
        pacing.projected_month_end_spend_reporting,
        coalesce(pace.daily_pace, 0)                                    as daily_pace,
        coalesce(account_months.spend, 0)                               as spend_so_far,
        coalesce(account_months.spend_reporting, 0)                     as spend_so_far_reporting,
        -- The month's days after the last loaded day (the account's own,
        -- else the latest of any account), counted on the calendar.
        (
            select count(*)
            from generate_series(
                pacing.month, (pacing.month + interval '1 month' - interval '1 day')::date, interval '1 day'
            ) as month_day (day)
            where month_day.day::date > coalesce(accounts.last_day, (select max(date_day) from daily))
        )                                                                as days_after

    from {{ ref('fct_budget_pacing') }} as pacing
    left join accounts
        on accounts.platform = pacing.platform and accounts.account_id = pacing.account_id
    left join pace
        on pace.platform = pacing.platform and pace.account_id = pacing.account_id
    left join account_months
        on  account_months.platform = pacing.platform
        and account_months.account_id = pacing.account_id
        and account_months.month = pacing.month

)

select
    platform,
    account_id,
    month,
    daily_pace,
    days_after,
    spend_so_far + daily_pace * days_after                                              as expected_projection,
    projected_month_end_spend,
    spend_so_far_reporting + daily_pace * days_after * fx_rate_to_reporting             as expected_projection_reporting,
    projected_month_end_spend_reporting

from expected
where projected_month_end_spend is null
   or projected_month_end_spend_reporting is null
   or abs(projected_month_end_spend - (spend_so_far + daily_pace * days_after)) > 0.00001
   or abs(projected_month_end_spend_reporting
          - (spend_so_far_reporting + daily_pace * days_after * fx_rate_to_reporting)) > 0.00001
