{#
    Generic test: the column is never negative (NULLs pass; pair with
    not_null when the column is required). Fails with every negative row.
#}
{% test non_negative(model, column_name) %}
    select *
    from {{ model }}
    where {{ column_name }} < 0
{% endtest %}
