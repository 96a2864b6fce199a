{#
    Money helpers. Every amount leaving staging is numeric, in currency units
    (e.g. 12.34 USD, 1500 JPY).
#}

{# Google Ads reports money in micros: 1 currency unit = 1,000,000 micros. #}
{% macro micros_to_currency(column_name) -%}
    cast({{ column_name }} as numeric) / 1000000
{%- endmacro %}


{#
    Number of minor-unit digits Meta's Marketing API uses for a currency
    (its "offset": 100 -> 2 digits, 1 -> 0 digits). Meta uses offset 1 for
    CLP, COP, CRC, HUF, IDR, ISK, JPY, KRW, PYG, TWD and VND, and 100 for
    every other supported currency (including BHD/JOD/KWD, which ISO 4217
    gives 3 digits). https://developers.facebook.com/docs/marketing-api/currencies
#}
{% macro currency_minor_digits(currency_column) -%}
    case
        when upper({{ currency_column }}) in (
            'CLP', 'COP', 'CRC', 'HUF', 'IDR', 'ISK', 'JPY', 'KRW', 'PYG', 'TWD', 'VND'
        ) then 0
        else 2
    end
{%- endmacro %}


{# Minor units (e.g. Meta's daily_budget in cents) -> currency units. #}
{% macro minor_units_to_currency(amount_column, currency_column) -%}
    cast({{ amount_column }} as numeric) / power(10::numeric, {{ currency_minor_digits(currency_column) }})
{%- endmacro %}


{#
    The reporting currency as a SQL string literal. Reads the
    `reporting_currency` var (default: env var MBO_REPORTING_CURRENCY, else
    USD), trims and upper-cases it, and refuses anything that is not a
    three-letter code, so the value can never inject SQL.
#}
{% macro reporting_currency() -%}
    {%- set raw_value = var('reporting_currency', 'USD') | string | trim | upper -%}
    {%- set code = raw_value if raw_value else 'USD' -%}
    {%- if not modules.re.match('^[A-Z]{3}$', code) -%}
        {{ exceptions.raise_compiler_error(
            "reporting_currency must be a three-letter ISO 4217 code, got '" ~ raw_value ~ "'"
        ) }}
    {%- endif -%}
    '{{ code }}'
{%- endmacro %}


{#
    Meta's actions / action_values lists ([{"action_type": ..., "value": "12.5"}, ...], values as
    strings): the sum of the values of one action type, 0 when the list has none.
#}
{% macro meta_action_sum(list_column, action_type) -%}
    coalesce((
        select sum((element ->> 'value')::numeric)
        from jsonb_array_elements({{ list_column }}) as element
        where element ->> 'action_type' = '{{ action_type }}'
    ), 0)
{%- endmacro %}


{#
    The `fx_max_fill_days` var (default env var MBO_FX_MAX_FILL_DAYS, else 7)
    as a plain integer: how many days after its publication a rate is still
    used. Raises a compilation error unless it is a whole number >= 0, so the
    value can never inject SQL.
#}
{% macro fx_max_fill_days() -%}
    {%- set raw_value = var('fx_max_fill_days', 7) | string | trim -%}
    {%- if not modules.re.match('^[0-9]{1,4}$', raw_value) -%}
        {{ exceptions.raise_compiler_error(
            "fx_max_fill_days (env var MBO_FX_MAX_FILL_DAYS) must be a whole number of days >= 0, got '" ~ raw_value ~ "'"
        ) }}
    {%- endif -%}
    {{ raw_value | int }}
{%- endmacro %}
