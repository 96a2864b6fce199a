{#
    CSV imports (platforms without a native connector) in the standard daily
    vocabulary. The import already uses it; this only trims and types.
#}

with

source as (

    select * from {{ source('raw', 'csv_campaign_daily') }}

),

renamed as (

    select
        date::date                          as date_day,
        lower(trim(platform))::text         as platform,
        account_id::text                    as account_id,
        campaign_id::text                   as campaign_id,
        campaign_name::text                 as campaign_name,
        upper(trim(currency))::text         as currency,
        -- The import has no time zone column: days are the account's own, as written.
        null::text                          as account_timezone,
        spend::numeric                      as spend,
        impressions::bigint                 as impressions,
        clicks::bigint                      as clicks,
        conversions::numeric                as conversions,
        conversion_value::numeric           as conversion_value

    from source

),

final as (

    {{ standard_campaign_daily('renamed') }}

)

select * from final
