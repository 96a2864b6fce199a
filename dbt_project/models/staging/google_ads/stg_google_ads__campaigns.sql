with

source as (

    select * from {{ source('raw', 'google_ads_campaigns') }}

),

renamed as (

    select
        'google_ads'::text                                        as platform,
        customer_id::text                                         as account_id,
        campaign_id::text                                         as campaign_id,
        campaign_name::text                                       as campaign_name,
        upper(trim(campaign_status))                              as platform_status,
        upper(trim(customer_currency_code))::text                 as currency,
        customer_time_zone::text                                  as account_timezone,
        -- A budget shared by several campaigns counts once: each campaign gets an even share of it.
        {{ micros_to_currency('campaign_budget_amount_micros') }}
            / case when campaign_budget_explicitly_shared
                   then greatest(campaign_budget_reference_count, 1) else 1 end
                                                                  as daily_budget

    from source

),

final as (

    select
        platform,
        account_id,
        campaign_id,
        campaign_name,
        case platform_status
            when 'ENABLED' then 'active'
            when 'PAUSED' then 'paused'
            when 'REMOVED' then 'removed'
            else lower(platform_status)
        end::text                      as status,
        currency,
        account_timezone,
        daily_budget::numeric(20, 6)   as daily_budget

    from renamed

)

select * from final
