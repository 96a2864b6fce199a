{#
    One row per platform x account_id x campaign_id: every campaign the
    platforms list now, plus every campaign that has daily data but is no
    longer listed (e.g. a Meta campaign deleted or archived after it spent).
    Those are given status 'removed' and a NULL daily budget, and
    is_listed_on_platform = false, so fct_campaign_daily -> dim_campaign
    always resolves.

    The daily budget is a current amount, so it converts at the currency's
    latest rate: the one of the latest date_day of int_fx_rates__daily on
    which the currency (and the reporting currency) has a rate, shown as
    fx_rate_date. The rate is joined with a LEFT JOIN, so a currency without
    any rate fails the not_null tests instead of dropping the campaign.
#}

with recursive

campaigns as (

    select * from {{ ref('int_campaigns__unioned') }}

),

fx as (

    select distinct on (currency)
        currency,
        date_day as fx_rate_date,
        fx_rate_to_reporting
    from {{ ref('int_fx_rates__daily') }}
    where fx_rate_to_reporting is not null
    order by currency, date_day desc

),

-- Every campaign with daily data: a skip scan of fct_campaign_daily's
-- (platform, account_id, campaign_id, date_day) index, one probe per
-- campaign instead of a scan of all history (its unique index).
daily_keys as (

    (
        select platform, account_id, campaign_id
        from {{ ref('fct_campaign_daily') }}
        order by platform, account_id, campaign_id
        limit 1
    )
    union all
    select next_key.platform, next_key.account_id, next_key.campaign_id
    from daily_keys
    cross join lateral (
        select daily.platform, daily.account_id, daily.campaign_id
        from {{ ref('fct_campaign_daily') }} as daily
        where (daily.platform, daily.account_id, daily.campaign_id)
            > (daily_keys.platform, daily_keys.account_id, daily_keys.campaign_id)
        order by daily.platform, daily.account_id, daily.campaign_id
        limit 1
    ) as next_key

),

-- Each campaign's first and last day, and its name, currency and time
-- zone on the last day: two more probes per campaign.
daily_summary as (

    select
        daily_keys.platform,
        daily_keys.account_id,
        daily_keys.campaign_id,
        first_row.date_day          as first_date_day,
        last_row.date_day           as last_date_day,
        last_row.campaign_name,
        last_row.currency,
        last_row.account_timezone
    from daily_keys
    cross join lateral (
        select daily.date_day
        from {{ ref('fct_campaign_daily') }} as daily
        where daily.platform = daily_keys.platform
          and daily.account_id = daily_keys.account_id
          and daily.campaign_id = daily_keys.campaign_id
        order by daily.date_day
        limit 1
    ) as first_row
    cross join lateral (
        select daily.date_day, daily.campaign_name, daily.currency, daily.account_timezone
        from {{ ref('fct_campaign_daily') }} as daily
        where daily.platform = daily_keys.platform
          and daily.account_id = daily_keys.account_id
          and daily.campaign_id = daily_keys.campaign_id
        order by daily.date_day desc
        limit 1
    ) as last_row

),

campaign_keys as (

    select platform, account_id, campaign_id from campaigns
    union
    select platform, account_id, campaign_id from daily_summary

),

joined as (

    select
        campaign_keys.platform,
        campaign_keys.account_id,
        campaign_keys.campaign_id,
        coalesce(campaigns.campaign_name, daily_summary.campaign_name)        as campaign_name,
        coalesce(campaigns.status, 'removed')                                as status,
        campaigns.campaign_id is not null                                    as is_listed_on_platform,
        coalesce(campaigns.currency, daily_summary.currency)                  as currency,
        coalesce(campaigns.account_timezone, daily_summary.account_timezone)  as account_timezone,
        campaigns.daily_budget,
        daily_summary.first_date_day,
        daily_summary.last_date_day

    from campaign_keys
    left join campaigns
        on  campaigns.platform = campaign_keys.platform
        and campaigns.account_id = campaign_keys.account_id
        and campaigns.campaign_id = campaign_keys.campaign_id
    left join daily_summary
        on  daily_summary.platform = campaign_keys.platform
        and daily_summary.account_id = campaign_keys.account_id
        and daily_summary.campaign_id = campaign_keys.campaign_id

),

converted as (

    select
        joined.*,
        fx.fx_rate_date,
        fx.fx_rate_to_reporting

    from joined
    left join fx
        on fx.currency = joined.currency

),

final as (

    select
        (platform || ':' || account_id || ':' || campaign_id)::text  as campaign_key,
        platform,
        account_id,
        campaign_id,
        campaign_name,
        status,
        is_listed_on_platform,
        currency,
        account_timezone,
        daily_budget,
        {{ reporting_currency() }}::text                             as reporting_currency,
        fx_rate_to_reporting::numeric(24, 12)                        as fx_rate_to_reporting,
        fx_rate_date,
        (daily_budget * fx_rate_to_reporting)::numeric(20, 6)        as daily_budget_reporting,
        first_date_day,
        last_date_day

    from converted

)

select * from final
