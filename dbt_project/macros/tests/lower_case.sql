{#
    Generic test: every value is lower-case and has no surrounding spaces
    (value = lower(trim(value))), so it can be compared with values that
    models lower-case and trim (e.g. GA4 source / medium). NULLs pass.
#}
{% test lower_case(model, column_name) %}
    select *
    from {{ model }}
    where {{ column_name }} <> lower(trim({{ column_name }}))
{% endtest %}
