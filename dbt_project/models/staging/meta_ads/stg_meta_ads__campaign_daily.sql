with

source as (

    select * from {{ source('raw', 'meta_ads_campaign_daily') }}

),

{#- The conversion MBO optimizes for: one action type of Meta's actions lists. -#}
{%- set action_type = var('meta_conversion_action') | string | trim -%}
{%- if not modules.re.match('^[a-z0-9_.:-]+$', action_type) -%}
    {{ exceptions.raise_compiler_error("MBO_META_CONVERSION_ACTION must be a Meta action type such as omni_purchase, got '" ~ action_type ~ "'") }}
{%- endif %}

renamed as (

    select
        date_start::date                        as date_day,
        'meta_ads'::text                        as platform,
        -- The APIs return digits; MBO names Meta accounts act_<digits>, as Ads Manager does.
        'act_' || account_id::text              as account_id,
        campaign_id::text                       as campaign_id,
        campaign_name::text                     as campaign_name,
        upper(trim(account_currency))::text     as currency,
        account_timezone_name::text             as account_timezone,
        -- The Insights API reports spend in currency units already.
        spend::numeric                          as spend,
        impressions::bigint                     as impressions,
        clicks::bigint                          as clicks,
        {{ meta_action_sum('actions', action_type) }}        as conversions,
        {{ meta_action_sum('action_values', action_type) }}  as conversion_value

    from source

),

final as (

    {{ standard_campaign_daily('renamed') }}

)

select * from final
