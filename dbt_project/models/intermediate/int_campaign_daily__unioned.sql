{#
    Every platform's daily campaign performance in one relation. Staging
    already maps each platform onto the same columns, so this is a plain
    UNION ALL; a new platform is one more staging model in the list.
#}
{%- set daily_models = [
    'stg_google_ads__campaign_daily',
    'stg_meta_ads__campaign_daily',
    'stg_tiktok_ads__campaign_daily',
    'stg_csv__campaign_daily',
] -%}

with

{% for model_name in daily_models %}
{{ model_name }} as (

    select
        date_day,
        platform,
        account_id,
        campaign_id,
        campaign_name,
        currency,
        account_timezone,
        spend,
        impressions,
        clicks,
        conversions,
        conversion_value

    from {{ ref(model_name) }}

),

{% endfor %}
unioned as (

    {% for model_name in daily_models %}
    select * from {{ model_name }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from unioned
