{#
    The campaigns of the CSV imports, as of each campaign's latest imported
    day: its name, status and daily budget on that day.
#}

with

source as (

    select * from {{ source('raw', 'csv_campaign_daily') }}

),

latest as (

    select distinct on (platform, account_id, campaign_id)
        lower(trim(platform))::text         as platform,
        account_id::text                    as account_id,
        campaign_id::text                   as campaign_id,
        campaign_name::text                 as campaign_name,
        lower(trim(status))::text           as status,
        upper(trim(currency))::text         as currency,
        null::text                          as account_timezone,
        daily_budget::numeric(20, 6)        as daily_budget

    from source
    order by platform, account_id, campaign_id, date desc

)

select * from latest
