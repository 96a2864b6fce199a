with

source as (

    select * from {{ source('raw', 'meta_ads_campaigns') }}

),

renamed as (

    select
        'meta_ads'::text                        as platform,
        'act_' || account_id::text              as account_id,
        campaign_id::text                       as campaign_id,
        campaign_name::text                     as campaign_name,
        upper(trim(effective_status))           as platform_status,
        upper(trim(account_currency))::text     as currency,
        account_timezone_name::text             as account_timezone,
        -- The Marketing API returns budgets in the currency's minor units
        -- (cents for USD/EUR/PLN/GBP, whole units for JPY/KRW/...).
        {{ minor_units_to_currency('daily_budget', 'upper(trim(account_currency))') }}
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
            when 'ACTIVE' then 'active'
            when 'PAUSED' then 'paused'
            when 'DELETED' then 'removed'
            when 'ARCHIVED' then 'removed'
            else lower(platform_status)
        end::text                      as status,
        currency,
        account_timezone,
        daily_budget::numeric(20, 6)   as daily_budget

    from renamed

)

select * from final
