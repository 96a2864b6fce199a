{#
    Generic test: every value of the (date) column is the first day of its
    month (NULLs pass). Fails with every other row.
#}
{% test first_day_of_month(model, column_name) %}
    select *
    from {{ model }}
    where {{ column_name }} <> date_trunc('month', {{ column_name }})::date
{% endtest %}
