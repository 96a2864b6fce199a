{#
    GA4 traffic per day × source / medium × campaign name, split into source
    and medium, ready to be matched to ad platform campaigns.
#}

with

source as (

    select * from {{ source('raw', 'ga4_traffic_daily') }}

),

renamed as (

    select
        date::date                                              as date_day,
        property_id::text                                       as property_id,
        session_source_medium::text                             as source_medium,
        lower(trim(split_part(session_source_medium, ' / ', 1)))::text  as source,
        lower(trim(split_part(session_source_medium, ' / ', 2)))::text  as medium,
        session_campaign_name::text                             as campaign_name,
        upper(trim(currency_code))::text                        as currency,
        time_zone::text                                         as property_timezone,
        sessions::bigint                                        as sessions,
        key_events::numeric(20, 6)                              as key_events,
        total_revenue::numeric(20, 6)                           as total_revenue

    from source

)

select * from renamed
