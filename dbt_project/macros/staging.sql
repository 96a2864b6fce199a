{#
    The last step of every stg_<platform>__campaign_daily model: the standard
    daily column set, cast to the types the contracts declare. Platforms differ
    in their renamed CTE; from here on they are one vocabulary.
#}
{% macro standard_campaign_daily(relation) %}
    select
        date_day,
        platform,
        account_id,
        campaign_id,
        campaign_name,
        currency,
        account_timezone,
        spend::numeric(20, 6)             as spend,
        impressions,
        clicks,
        conversions::numeric(20, 6)       as conversions,
        conversion_value::numeric(20, 6)  as conversion_value

    from {{ relation }}
{% endmacro %}
