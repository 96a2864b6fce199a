{#
    Every platform's current campaigns (with status and daily budget) in one
    relation, in the standard vocabulary staging produces.
#}
{%- set campaign_models = [
    'stg_google_ads__campaigns',
    'stg_meta_ads__campaigns',
    'stg_tiktok_ads__campaigns',
    'stg_csv__campaigns',
] -%}

with

{% for model_name in campaign_models %}
{{ model_name }} as (

    select
        platform,
        account_id,
        campaign_id,
        campaign_name,
        status,
        currency,
        account_timezone,
        daily_budget

    from {{ ref(model_name) }}

),

{% endfor %}
unioned as (

    {% for model_name in campaign_models %}
    select * from {{ model_name }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from unioned
