with

source as (

    select * from {{ source('raw', 'meta_ads_campaign_daily') }}

),

renamed as (

    select
        date_start::date                        as date_day,
        'meta_ads'::text                        as platform,
        account_id::text                        as account_id,
        campaign_id::text                       as campaign_id,
        campaign_name::text                     as campaign_name,
        upper(trim(account_currency))::text     as currency,
        account_timezone_name::text             as account_timezone,
        -- The Insights API reports spend in currency units already.
        spend::numeric                          as spend,
        impressions::bigint                     as impressions,
        clicks::bigint                          as clicks,
        purchases::numeric                      as conversions,
        purchase_value::numeric                 as conversion_value

    from source

),

final as (

    {{ standard_campaign_daily('renamed') }}

)

select * from final
