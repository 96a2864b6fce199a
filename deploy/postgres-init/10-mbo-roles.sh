#!/usr/bin/env bash
# MBO's database roles, created once by the postgres image on its first start (an empty pgdata
# volume): docker-compose.yml mounts this folder read-only at /docker-entrypoint-initdb.d. The
# image's entrypoint runs this file (executable) or sources it (`. file`, when the mount drops
# the executable bit), as the `postgres` system user, with a socket-only server up and
# POSTGRES_USER (mbo_admin, the superuser initdb created) allowed in without a password.
#
#   mbo_admin  the image's superuser: creates the roles and the database here, nothing else.
#              It may log in over the Unix socket only (`docker compose exec postgres psql -U
#              mbo_admin`): this script puts a `reject` line for it first in pg_hba.conf.
#   mbo_app    LOGIN, no superuser / createdb / createrole; owns database `mbo`. The code
#              location, daemon and webserver (pipeline, dbt, Dagster's storage) log in as it.
#   mbo_bi     LOGIN, read-only (MBO_BI_ROLE, default mbo_bi): CONNECT on `mbo` here; its
#              SELECT on schema `marts` is granted by dbt's hooks, which run as the owner mbo_app.
#
# Environment (docker-compose.yml passes it from .env): MBO_APP_PASSWORD, MBO_BI_PASSWORD,
# optionally MBO_BI_ROLE. The passwords reach psql as psql variables (-v) and are quoted by psql
# (:'var'); the SQL below is a quoted here-document, so the shell splices nothing into it.
#
# The image runs it only when the pgdata volume is empty. It is safe to run again (roles and
# database are altered, not re-created; the pg_hba line is added once), which is how the mbo_app
# and mbo_bi passwords are changed later: edit .env, then
#   docker compose up -d postgres        (recreates the container with the new values)
#   docker compose exec -u postgres postgres bash /docker-entrypoint-initdb.d/10-mbo-roles.sh
#   docker compose up -d                 (recreates the Dagster services with the new URL)

# A subshell: when the entrypoint sources this file, `set -u` and the variables stay in here.
(
set -euo pipefail

: "${POSTGRES_USER:?POSTGRES_USER is not set (the postgres image sets it)}"
: "${MBO_APP_PASSWORD:?MBO_APP_PASSWORD is not set: put it in .env (see .env.example)}"
: "${MBO_BI_PASSWORD:?MBO_BI_PASSWORD is not set: put it in .env (see .env.example)}"
bi_role="${MBO_BI_ROLE:-mbo_bi}"

psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password --quiet \
    --username "$POSTGRES_USER" --dbname postgres \
    -v db=mbo \
    -v app_role=mbo_app -v app_password="$MBO_APP_PASSWORD" \
    -v bi_role="$bi_role" -v bi_password="$MBO_BI_PASSWORD" <<'EOSQL'
-- A statement that fails is not copied into the server log (it would carry a password).
SET log_min_error_statement = panic;
SET log_statement = none;

SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_role') AS app_role_missing,
       NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'bi_role') AS bi_role_missing,
       NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') AS db_missing \gset

\if :app_role_missing
CREATE ROLE :"app_role";
\endif
ALTER ROLE :"app_role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'app_password';

\if :bi_role_missing
CREATE ROLE :"bi_role";
\endif
ALTER ROLE :"bi_role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'bi_password';

\if :db_missing
CREATE DATABASE :"db" OWNER :"app_role";
\else
ALTER DATABASE :"db" OWNER TO :"app_role";
\endif

-- Only MBO's roles may connect: PUBLIC loses its default CONNECT and TEMPORARY.
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"app_role";
GRANT CONNECT ON DATABASE :"db" TO :"bi_role";
EOSQL

# The superuser never logs in over TCP (first matching line wins in pg_hba.conf; `local` socket
# connections, used by `docker compose exec`, are not `host` lines and stay as they are).
hba="${PGDATA:?PGDATA is not set (the postgres image sets it)}/pg_hba.conf"
reject="host all \"$POSTGRES_USER\" all reject"
if ! grep -qxF "$reject" "$hba"; then
    rest="$(cat "$hba")"
    printf '# MBO: the superuser logs in over the Unix socket only (deploy/postgres-init)\n%s\n%s\n' \
        "$reject" "$rest" > "$hba"
fi
)
