{#
    Use a model's custom schema verbatim (`staging`, `intermediate`, `marts`,
    `reference`) instead of dbt's default `<target_schema>_<custom_schema>`.
    Nodes without a custom schema fall back to the target's schema.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
