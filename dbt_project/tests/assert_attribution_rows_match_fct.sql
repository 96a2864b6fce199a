{#
    fct_campaign_attribution holds exactly the rows of fct_campaign_daily:
    none lost, none duplicated, none added, and its platform numbers (spend,
    conversions, conversion value, in account and reporting currency) equal
    fct's. Returns every key that is duplicated, missing on one side, or
    whose numbers differ.
#}

with

attribution as (

    select * from {{ ref('fct_campaign_attribution') }}
    where {{ in_mbo_window('date_day') }}

),

fct as (

    select * from {{ ref('fct_campaign_daily') }}
    where {{ in_mbo_window('date_day') }}

),

duplicated as (

    select date_day, platform, account_id, campaign_id, 'duplicated in fct_campaign_attribution' as problem
    from attribution
    group by date_day, platform, account_id, campaign_id
    having count(*) > 1

),

compared as (

    select
        coalesce(attribution.date_day, fct.date_day)        as date_day,
        coalesce(attribution.platform, fct.platform)        as platform,
        coalesce(attribution.account_id, fct.account_id)    as account_id,
        coalesce(attribution.campaign_id, fct.campaign_id)  as campaign_id,
        case
            when attribution.campaign_id is null then 'missing in fct_campaign_attribution'
            when fct.campaign_id is null then 'not in fct_campaign_daily'
            when attribution.spend is distinct from fct.spend
              or attribution.spend_reporting is distinct from fct.spend_reporting
              or attribution.platform_conversions is distinct from fct.conversions
              or attribution.platform_conversion_value is distinct from fct.conversion_value
              or attribution.platform_conversion_value_reporting is distinct from fct.conversion_value_reporting
              or attribution.currency is distinct from fct.currency
              or attribution.campaign_key is distinct from fct.campaign_key
                then 'platform numbers differ from fct_campaign_daily'
        end as problem

    from attribution
    full outer join fct
        on  fct.date_day = attribution.date_day
        and fct.platform = attribution.platform
        and fct.account_id = attribution.account_id
        and fct.campaign_id = attribution.campaign_id

)

select * from duplicated
union all
select * from compared where problem is not null
