with

source as (

    select * from {{ source('raw', 'tiktok_ads_campaigns') }}

),

renamed as (

    select
        'tiktok_ads'::text              as platform,
        advertiser_id::text             as account_id,
        campaign_id::text               as campaign_id,
        campaign_name::text             as campaign_name,
        upper(trim(operation_status))   as platform_status,
        upper(trim(currency))::text     as currency,
        timezone::text                  as account_timezone,
        upper(trim(budget_mode))        as budget_mode,
        -- TikTok budgets are in currency units; only BUDGET_MODE_DAY is a daily budget.
        budget::numeric                 as budget

    from source

),

final as (

    select
        platform,
        account_id,
        campaign_id,
        campaign_name,
        case platform_status
            when 'ENABLE' then 'active'
            when 'DISABLE' then 'paused'
            when 'DELETE' then 'removed'
            else lower(platform_status)
        end::text                                       as status,
        currency,
        account_timezone,
        case
            when budget_mode = 'BUDGET_MODE_DAY' then budget
        end::numeric(20, 6)                             as daily_budget

    from renamed

)

select * from final
