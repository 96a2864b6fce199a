with

source as (

    select * from {{ source('raw', 'tiktok_ads_campaign_daily') }}

),

renamed as (

    select
        stat_time_day::date             as date_day,
        'tiktok_ads'::text              as platform,
        advertiser_id::text             as account_id,
        campaign_id::text               as campaign_id,
        campaign_name::text             as campaign_name,
        upper(trim(currency))::text     as currency,
        timezone::text                  as account_timezone,
        -- TikTok reports spend in currency units already.
        spend::numeric                  as spend,
        impressions::bigint             as impressions,
        clicks::bigint                  as clicks,
        conversion::numeric             as conversions,
        total_purchase_value::numeric   as conversion_value

    from source

),

final as (

    {{ standard_campaign_daily('renamed') }}

)

select * from final
