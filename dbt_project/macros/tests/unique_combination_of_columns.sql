{#
    Generic test: the combination of `combination_of_columns` is unique in
    the model (the model's grain). Fails with one row per duplicated key.
    Written here because the project cannot install dbt_utils (no network).

        data_tests:
          - unique_combination_of_columns:
              arguments:
                combination_of_columns: [date_day, platform, account_id, campaign_id]
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
    {%- set columns_csv = combination_of_columns | join(', ') %}
    select
        {{ columns_csv }},
        count(*) as n_records
    from {{ model }}
    group by {{ columns_csv }}
    having count(*) > 1
{% endtest %}
