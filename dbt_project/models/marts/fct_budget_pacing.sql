{#
    account_pacing (every row and column) plus where the month is heading:
    a projected month-end spend at the account's recent pace.

    The recent pace is the account's average daily spend over its last 7
    loaded days: the window runs from max(last_loaded_day - 6, the account's
    first day in fct_campaign_daily) to last_loaded_day, and every calendar
    day in it counts, a day without rows as 0 spend. Days before the
    account's first loaded day are not counted (a new account's pace is not
    diluted by days it did not exist), so the window has 1 to 7 days. An
    account without any daily data has pace 0.

    projected_month_end_spend = spend_mtd + pace x the days of the month
    after last_loaded_day (days_in_month - days_elapsed: 0 once the month is
    over, the whole month when it has not begun). Its _reporting twin adds
    the projected days at account_pacing's fx_rate_to_reporting (the latest
    known rate, of fx_rate_date) to spend_mtd_reporting (each day at its own
    rate).
#}

{%- set trailing_days = 7 %}

with

pacing as (

    select * from {{ ref('account_pacing') }}

),

-- Each budgeted account's first and last loaded day, from dim_campaign's
-- per-campaign days (not a scan of every fact row).
account_range as (

    select platform, account_id, min(first_date_day) as first_loaded_day, max(last_date_day) as last_day
    from {{ ref('dim_campaign') }}
    where last_date_day is not null
      and (platform, account_id) in (select platform, account_id from pacing)
    group by platform, account_id

),

trailing_window as (

    select
        platform,
        account_id,
        greatest(last_day - {{ trailing_days - 1 }}, first_loaded_day)  as window_start,
        last_day                                                        as window_end

    from account_range

),

-- The facts of the trailing windows only, summed per account and day.
daily as (

    select daily.platform, daily.account_id, daily.date_day, sum(daily.spend) as spend
    from {{ ref('fct_campaign_daily') }} as daily
    inner join trailing_window
        on  daily.platform = trailing_window.platform
        and daily.account_id = trailing_window.account_id
        and daily.date_day between trailing_window.window_start and trailing_window.window_end
    group by daily.platform, daily.account_id, daily.date_day

),

trailing_spend as (

    select
        trailing_window.platform,
        trailing_window.account_id,
        trailing_window.window_start,
        trailing_window.window_end - trailing_window.window_start + 1  as window_days,
        coalesce(sum(daily.spend), 0)                                 as window_spend

    from trailing_window
    left join daily
        on  daily.platform = trailing_window.platform
        and daily.account_id = trailing_window.account_id
        and daily.date_day between trailing_window.window_start and trailing_window.window_end
    group by 1, 2, 3, 4

),

projected as (

    select
        pacing.*,
        trailing_spend.window_start                                   as trailing_window_start,
        coalesce(trailing_spend.window_days, 0)                       as trailing_window_days,
        coalesce(trailing_spend.window_spend / trailing_spend.window_days, 0)  as trailing_daily_spend,
        pacing.days_in_month - pacing.days_elapsed                    as days_to_project

    from pacing
    left join trailing_spend
        on  trailing_spend.platform = pacing.platform
        and trailing_spend.account_id = pacing.account_id

),

final as (

    select
        platform,
        account_id,
        month,
        currency,
        monthly_budget,
        last_loaded_day,
        days_in_month,
        days_elapsed,
        days_left,
        spend_mtd,
        target_spend_mtd,
        pace_status,
        remaining_budget,
        paced_daily_budget,
        reporting_currency,
        fx_rate_to_reporting,
        fx_rate_date,
        monthly_budget_reporting,
        spend_mtd_reporting,
        remaining_budget_reporting,
        paced_daily_budget_reporting,
        trailing_window_start,
        trailing_window_days::integer                                                    as trailing_window_days,
        trailing_daily_spend::numeric(20, 6)                                             as trailing_daily_spend,
        days_to_project::integer                                                         as days_to_project,
        (spend_mtd + trailing_daily_spend * days_to_project)::numeric(20, 6)             as projected_month_end_spend,
        (spend_mtd_reporting
            + trailing_daily_spend * days_to_project * fx_rate_to_reporting)::numeric(20, 6)  as projected_month_end_spend_reporting,
        ((spend_mtd + trailing_daily_spend * days_to_project)
            / nullif(monthly_budget, 0))::numeric(20, 6)                                 as projected_vs_budget

    from projected

)

select * from final
