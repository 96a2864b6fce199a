{#
    The processed window of an incremental run: the days between the vars
    mbo_start_date and mbo_end_date (ISO dates, both included), which the
    Dagster dbt asset passes from the run's partition range (its first day
    minus the extracts' lookback days, to its last day). Without the vars,
    or with --full-refresh, there is no window: models build and tests scan
    all history.

    The incremental fact marts (fct_campaign_daily, fct_campaign_attribution,
    fct_platform_daily, opt_campaign_inputs) rebuild whole days of the
    window: their per-day aggregates (attribution's factors, platforms'
    shares of the day's spend) need every row of the day.
#}


{#
    The window as a (start, end) pair of ISO date strings, or none. Each var
    must be a YYYY-MM-DD date (so it can never inject SQL) and both or
    neither must be given; --full-refresh ignores them.
#}
{% macro mbo_window() -%}
    {%- set start = var('mbo_start_date', none) -%}
    {%- set end = var('mbo_end_date', none) -%}
    {%- if start is none and end is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if start is none or end is none -%}
        {{ exceptions.raise_compiler_error(
            "mbo_start_date and mbo_end_date go together (the days an incremental run processes); got only "
            ~ ("mbo_start_date" if end is none else "mbo_end_date")
        ) }}
    {%- endif -%}
    {%- set start = start | string | trim -%}
    {%- set end = end | string | trim -%}
    {%- for name, value in [('mbo_start_date', start), ('mbo_end_date', end)] -%}
        {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', value) -%}
            {{ exceptions.raise_compiler_error(name ~ " must be a date YYYY-MM-DD, got '" ~ value ~ "'") }}
        {%- endif -%}
    {%- endfor -%}
    {%- if end < start -%}
        {{ exceptions.raise_compiler_error("mbo_end_date " ~ end ~ " is before mbo_start_date " ~ start) }}
    {%- endif -%}
    {%- if flags.FULL_REFRESH -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return((start, end)) }}
{%- endmacro %}


{#
    SQL condition keeping the window's days of `column` (a date), or `true`
    when there is no window. For data tests (where: config) and singular
    tests: they check the processed window on daily runs, all history
    otherwise.
#}
{% macro in_mbo_window(column) -%}
    {%- set window = mbo_window() -%}
    {%- if window is none -%}
        true
    {%- else -%}
        {{ column }} between '{{ window[0] }}'::date and '{{ window[1] }}'::date
    {%- endif -%}
{%- endmacro %}


{#
    SQL condition for an incremental model's input rows: the window's days
    of `column` when the model is being updated in place (is_incremental()),
    `true` when it is built from scratch (first build, --full-refresh, or no
    window).
#}
{% macro in_incremental_window(column) -%}
    {%- if is_incremental() -%}
        {{ in_mbo_window(column) }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}


{#
    Pre-hook of the incremental fact marts: on an incremental run with a
    window, delete the window's days from the mart first, in the same
    transaction as the insert. delete+insert on the model's keys replaces
    the rows that are rebuilt; this also removes rows whose raw rows are
    gone (a platform re-read that no longer reports a campaign-day), so the
    mart equals a full rebuild. Empty (no statement) otherwise.
#}
{% macro delete_incremental_window(column='date_day') -%}
    {%- if is_incremental() and mbo_window() is not none -%}
        delete from {{ this }} where {{ in_mbo_window(column) }}
    {%- endif -%}
{%- endmacro %}


{#
    The relation a generic data test reads (dbt's get_where_subquery, here
    overridden): with its own `where` config, that filter (dbt's behaviour);
    otherwise, on an incremental fact mart or a daily staging view
    (mbo_windowed_relations), the processed window's days
    (in_mbo_window('date_day'): every day when there is no window). So the
    unique / not_null / range tests on the big daily relations check the
    days a daily run rebuilt, and all history on a full build.
#}
{% macro default__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if not where and relation.identifier in mbo_windowed_relations() -%}
        {%- set where = in_mbo_window('date_day') -%}
    {%- endif -%}
    {%- if where and where != 'true' -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}


{# The incremental fact marts, rebuilt by whole days of the window (their date column: date_day). #}
{% macro mbo_windowed_marts() -%}
    {{ return(['fct_campaign_daily', 'fct_campaign_attribution', 'fct_platform_daily', 'opt_campaign_inputs']) }}
{%- endmacro %}


{#
    Every relation whose generic tests check the window's days on a daily
    run: the incremental fact marts, and the daily staging views and their
    union under them (date column date_day), whose tests otherwise read all
    of raw's history every day.
#}
{% macro mbo_windowed_relations() -%}
    {{ return(mbo_windowed_marts() + [
        'stg_google_ads__campaign_daily', 'stg_meta_ads__campaign_daily', 'stg_tiktok_ads__campaign_daily',
        'stg_csv__campaign_daily', 'stg_ga4__traffic_daily', 'int_campaign_daily__unioned',
    ]) }}
{%- endmacro %}


{#
    The config of a fact mart built over the window: incremental (delete+insert on
    unique_key, whole days of the window deleted first by the pre-hook) when the
    window vars are set, a plain table of all history otherwise. The key delete
    is limited to the window's days (incremental_predicates: every row it could
    match is in the window), so it reads the date index instead of the whole
    mart. One definition
    for fct_campaign_daily, fct_campaign_attribution, fct_platform_daily and
    opt_campaign_inputs.
#}
{% macro windowed_fact_config(unique_key) -%}
    {{ config(
        materialized=('incremental' if mbo_window() is not none else 'table'),
        incremental_strategy='delete+insert',
        unique_key=unique_key,
        incremental_predicates=([in_mbo_window('DBT_INTERNAL_DEST.date_day')] if mbo_window() is not none else none),
        on_schema_change='fail',
        pre_hook="{{ delete_incremental_window('date_day') }}",
    ) }}
{%- endmacro %}
