{#
    Generic test: a platform name MBO can key on: lower-case letters, digits
    and underscores (google_ads, linkedin_ads, ...). Platforms imported as CSV
    name themselves, so the marts cannot list their values; this keeps a typo
    such as "LinkedIn Ads" from becoming a platform of its own. NULLs pass.
#}
{% test platform_name(model, column_name) %}
    select *
    from {{ model }}
    where {{ column_name }} !~ '^[a-z][a-z0-9_]*$'
{% endtest %}
