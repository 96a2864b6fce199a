{#
    Read-only access for BI tools (Metabase, Superset, Looker Studio, Power BI,
    plain SQL) to schema marts, for the role named by the `bi_role` var
    (default env var MBO_BI_ROLE, else mbo_bi).

    * on-run-start calls ensure_bi_role(): creates the role (LOGIN, no
      password) when it is missing, so the marts' `grants` config can name it.
    * every mart's `grants` config (dbt_project.yml) grants it select.
    * on-run-end calls grant_bi_access('marts'): usage on the schema, select
      on every table in it (also the plan tables Python creates), and default
      privileges so tables the same user creates there later are readable too.

    The role gets nothing else: no usage on raw, staging, intermediate or
    reference, no insert / update / delete, no create. No password is ever
    written here (dbt logs the SQL it runs): the embedded server creates the
    role with its password before dbt runs (mbo_pipelines/db_roles.py), so
    the hook finds it; on your own server `mbo db grant-bi` creates it, or an
    administrator sets a password with ALTER ROLE ... PASSWORD.

    Both hooks act only for commands that build models (build, run, retry);
    compile, docs generate, seed, test and snapshot leave roles and grants alone.
#}


{#
    The `bi_role` var, checked to be a plain lower-case PostgreSQL identifier
    (it is written into GRANT statements unquoted, as dbt's grants config does).
#}
{% macro bi_role() -%}
    {%- set raw_value = var('bi_role', 'mbo_bi') | string | trim -%}
    {%- if not modules.re.match('^[a-z_][a-z0-9_]{0,62}$', raw_value) -%}
        {{ exceptions.raise_compiler_error(
            "bi_role (env var MBO_BI_ROLE) must be a lower-case PostgreSQL role name "
            ~ "(letters, digits, underscores; not starting with a digit), got '" ~ raw_value ~ "'"
        ) }}
    {%- endif -%}
    {{ raw_value }}
{%- endmacro %}


{# Whether the running dbt command builds models (and so grants on them). #}
{% macro bi_access_applies() -%}
    {{ return(flags.WHICH in ['build', 'run', 'retry']) }}
{%- endmacro %}


{#
    on-run-start: CREATE ROLE <bi_role> LOGIN when it does not exist yet.
    Tolerates another run creating it at the same moment (duplicate_object,
    or unique_violation on pg_authid when both inserts race); when the dbt
    user may not create roles, fails with the statement an administrator
    must run.
#}
{% macro ensure_bi_role() -%}
    {%- set role = bi_role() -%}
    {%- if not bi_access_applies() -%}
        select 1 as bi_role_not_needed_by_this_command
    {%- else -%}
do $mbo_bi_role$
begin
    if not exists (select from pg_catalog.pg_roles where rolname = '{{ role }}') then
        begin
            create role {{ role }} login;
        exception
            when duplicate_object or unique_violation then
                null;  -- another run created it meanwhile
            when insufficient_privilege then
                raise exception using message = format(
                    'MBO: database user "%s" may not create the read-only BI role "{{ role }}" (dbt var bi_role, env var MBO_BI_ROLE). '
                    'An administrator must run once: CREATE ROLE {{ role }} LOGIN PASSWORD ''<choose one>''; '
                    '(or give "%s" CREATEROLE, or set MBO_BI_ROLE to an existing role), then re-run dbt.',
                    current_user, current_user);
        end;
    end if;
end
$mbo_bi_role$
    {%- endif -%}
{%- endmacro %}


{#
    on-run-end: read-only access to everything in `schema_name` for the BI
    role. Does nothing when the schema does not exist yet (e.g. a build that
    failed before any mart).
#}
{% macro grant_bi_access(schema_name) -%}
    {%- set role = bi_role() -%}
    {%- if not modules.re.match('^[a-z_][a-z0-9_]*$', schema_name) -%}
        {{ exceptions.raise_compiler_error("grant_bi_access: schema name must be a plain identifier, got '" ~ schema_name ~ "'") }}
    {%- endif -%}
    {%- if not bi_access_applies() -%}
        select 1 as bi_access_not_changed_by_this_command
    {%- else -%}
do $mbo_bi_access$
begin
    if to_regnamespace('{{ schema_name }}') is not null then
        grant usage on schema {{ schema_name }} to {{ role }};
        grant select on all tables in schema {{ schema_name }} to {{ role }};
        -- Tables this user creates in the schema later (e.g. the plan tables
        -- Python creates, or marts rebuilt by dbt) are readable at once.
        alter default privileges in schema {{ schema_name }} grant select on tables to {{ role }};
    end if;
end
$mbo_bi_access$
    {%- endif -%}
{%- endmacro %}
