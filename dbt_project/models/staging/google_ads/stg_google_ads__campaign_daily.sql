with

source as (

    select * from {{ source('raw', 'google_ads_campaign_daily') }}

),

renamed as (

    select
        segments_date::date                                   as date_day,
        'google_ads'::text                                    as platform,
        customer_id::text                                     as account_id,
        campaign_id::text                                     as campaign_id,
        campaign_name::text                                   as campaign_name,
        upper(trim(customer_currency_code))::text             as currency,
        customer_time_zone::text                              as account_timezone,
        {{ micros_to_currency('metrics_cost_micros') }}        as spend,
        metrics_impressions::bigint                           as impressions,
        metrics_clicks::bigint                                as clicks,
        metrics_conversions::numeric                          as conversions,
        metrics_conversions_value::numeric                    as conversion_value

    from source

),

final as (

    {{ standard_campaign_daily('renamed') }}

)

select * from final
