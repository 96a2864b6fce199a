"""The database roles MBO runs under, where their passwords live, and the SQL that sets them up.

* ``mbo_admin``: the embedded server's superuser, used only to create roles and databases.
* ``mbo_app``: owns the database and its schemas; the pipeline, dbt and Dagster's storage connect as it. Not a
  superuser, so no ``COPY ... PROGRAM`` and no file access.
* ``mbo_bi`` (``MBO_BI_ROLE``): read-only, ``SELECT`` on schema ``marts`` and on tables created there later.

Passwords are generated on first start and kept in ``$MBO_HOME/db_passwords.json`` (mode 0600). They reach
PostgreSQL only as SCRAM verifiers computed here, so not even the server's log could show one.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

from psycopg import Connection, sql

ADMIN_ROLE = "mbo_admin"
APP_ROLE = "mbo_app"
DEFAULT_BI_ROLE = "mbo_bi"
#: The schema BI tools read; every other schema (raw, staging, the ledger's) stays closed to them.
BI_SCHEMA = "marts"
PASSWORDS_FILE = "db_passwords.json"

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_LOGIN_ONLY = sql.SQL("login nosuperuser nocreatedb nocreaterole noreplication nobypassrls inherit")


def bi_role() -> str:
    """The read-only role BI tools log in as (``MBO_BI_ROLE``, default ``mbo_bi``), checked to be a plain name."""
    name = os.environ.get("MBO_BI_ROLE", "").strip() or DEFAULT_BI_ROLE
    if not _ROLE_NAME.match(name):
        raise ValueError(
            f"MBO_BI_ROLE must be a lower-case PostgreSQL role name (letters, digits, underscores), got {name!r}"
        )
    return name


def role_names() -> dict[str, str]:
    """``{"admin": ..., "app": ..., "bi": ...}``: the name of each role MBO uses."""
    return {"admin": ADMIN_ROLE, "app": APP_ROLE, "bi": bi_role()}


def load_passwords(path: Path) -> dict[str, str]:
    """The stored passwords by role name; an empty dict when the file does not exist."""
    if not path.exists():
        return {}
    try:
        stored = json.loads(path.read_text())
    except ValueError:
        raise ValueError(f"{path} is not valid JSON: restore it from a backup, or see README, 'Security'") from None
    if not isinstance(stored, dict) or not all(isinstance(v, str) and v for v in stored.values()):
        raise ValueError(f"{path} must map role names to passwords: restore it, or see README, 'Security'")
    return stored


def ensure_passwords(path: Path, roles: list[str]) -> dict[str, str]:
    """The stored passwords, after generating one for each role in ``roles`` that has none yet.

    The file is written atomically with mode 0600 (and put back to 0600 if someone loosened it).
    """
    stored = load_passwords(path)
    missing = [role for role in roles if role not in stored]
    if missing:
        stored.update({role: secrets.token_urlsafe(24) for role in missing})
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(stored, handle, indent=2)
            handle.write("\n")
        os.replace(temporary, path)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return stored


def _verifier(conn: Connection, role: str, password: str) -> str:
    """The SCRAM-SHA-256 verifier of ``password`` (what PostgreSQL stores), computed by libpq on this side."""
    return conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()


def _role_exists(conn: Connection, role: str) -> bool:
    return conn.execute("select 1 from pg_catalog.pg_roles where rolname = %s", (role,)).fetchone() is not None


def ensure_role(conn: Connection, role: str, password: str, *, superuser: bool = False) -> None:
    """Create ``role`` or bring it back to what MBO expects: LOGIN with ``password``; no other power unless
    ``superuser``. Needs a connection that may create roles."""
    attributes = sql.SQL("login superuser") if superuser else _LOGIN_ONLY
    verb = sql.SQL("alter role" if _role_exists(conn, role) else "create role")
    conn.execute(sql.SQL("{} {} with {} password {}").format(
        verb, sql.Identifier(role), attributes, sql.Literal(_verifier(conn, role, password))))


def ensure_database(conn: Connection, database: str, owner: str, readers: list[str]) -> None:
    """Create ``database`` owned by ``owner`` (or hand an existing one to it); only the owner and ``readers``
    may connect. Runs outside a transaction (autocommit)."""
    exists = conn.execute("select 1 from pg_database where datname = %s", (database,)).fetchone()
    name, owner_id = sql.Identifier(database), sql.Identifier(owner)
    conn.execute(sql.SQL("alter database {} owner to {}" if exists else "create database {} owner {}")
                 .format(name, owner_id))
    conn.execute(sql.SQL("revoke all on database {} from public").format(name))
    for reader in readers:
        conn.execute(sql.SQL("grant connect on database {} to {}").format(name, sql.Identifier(reader)))


def bi_grant_statements(database: str, owner: str, bi: str, schema: str = BI_SCHEMA) -> list[sql.Composed]:
    """What gives ``bi`` read-only access to ``schema`` of ``database``: connect, usage, select on every table
    there, and default privileges so the tables ``owner`` creates there later are readable too.

    Run by the owner (``mbo db grant-bi``) or a superuser; the role itself must exist."""
    ids = {"db": sql.Identifier(database), "owner": sql.Identifier(owner), "bi": sql.Identifier(bi),
           "schema": sql.Identifier(schema)}
    return [sql.SQL(text).format(**ids) for text in (
        "grant connect on database {db} to {bi}",
        "create schema if not exists {schema} authorization {owner}",
        "grant usage on schema {schema} to {bi}",
        "grant select on all tables in schema {schema} to {bi}",
        "alter default privileges for role {owner} in schema {schema} grant select on tables to {bi}",
    )]


# Every object the old superuser owns in the current database's own schemas goes to the new owner. Tables
# before sequences: a column's sequence follows its table and cannot be moved on its own.
_HAND_OVER = """
do $mbo_hand_over$
declare
    item record;
begin
    for item in
        select n.nspname from pg_namespace n
        where n.nspowner = {old}::regrole and n.nspname !~ '^pg_' and n.nspname <> 'information_schema'
    loop
        execute format('alter schema %I owner to %I', item.nspname, {new});
    end loop;
    for item in
        select c.oid::regclass as rel,
               case c.relkind when 'v' then 'view' when 'm' then 'materialized view'
                              when 'f' then 'foreign table' else 'table' end as kind
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relowner = {old}::regrole and c.relkind in ('r', 'p', 'v', 'm', 'f')
          and n.nspname !~ '^pg_' and n.nspname <> 'information_schema'
    loop
        execute format('alter %s %s owner to %I', item.kind, item.rel, {new});
    end loop;
    for item in
        select c.oid::regclass as rel from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relowner = {old}::regrole and c.relkind = 'S'
          and n.nspname !~ '^pg_' and n.nspname <> 'information_schema'
    loop
        execute format('alter sequence %s owner to %I', item.rel, {new});
    end loop;
    for item in
        select p.oid::regprocedure as routine from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where p.proowner = {old}::regrole and n.nspname !~ '^pg_' and n.nspname <> 'information_schema'
    loop
        execute format('alter routine %s owner to %I', item.routine, {new});
    end loop;
    for item in
        select t.oid::regtype as type_name from pg_type t join pg_namespace n on n.oid = t.typnamespace
        where t.typowner = {old}::regrole and t.typtype in ('e', 'd', 'r')
          and n.nspname !~ '^pg_' and n.nspname <> 'information_schema'
    loop
        execute format('alter type %s owner to %I', item.type_name, {new});
    end loop;
end
$mbo_hand_over$
"""


def hand_over(conn: Connection, old_owner: str, new_owner: str) -> None:
    """Make ``new_owner`` the owner of every schema, table, view, sequence, routine and type ``old_owner`` owns
    in the current database (``REASSIGN OWNED`` refuses the bootstrap superuser). Grants are kept."""
    conn.execute(sql.SQL(_HAND_OVER).format(old=sql.Literal(old_owner), new=sql.Literal(new_owner)))


class BiRoleMissing(RuntimeError):
    """The BI role does not exist and the connecting user may not create it."""


def grant_bi(url: str) -> str | None:
    """Give the BI role (``MBO_BI_ROLE``) read-only access to the marts of the database at ``url``, for the tables
    its user creates there now and later; create the role first when missing and the user may.

    Returns the password of a role created here (shown once, stored nowhere), None when the role existed.
    Raises :class:`BiRoleMissing`, with the statement an administrator must run, when it cannot be created.
    """
    import psycopg
    from psycopg import errors

    bi = bi_role()
    with psycopg.connect(url, autocommit=True) as conn:
        owner, database = conn.execute("select current_user, current_database()").fetchone()
        password = None
        if not _role_exists(conn, bi):
            password = secrets.token_urlsafe(24)
            try:
                ensure_role(conn, bi, password)
            except errors.InsufficientPrivilege:
                raise BiRoleMissing(
                    f'database user "{owner}" may not create the read-only role "{bi}". An administrator must '
                    f"run once: CREATE ROLE {bi} LOGIN PASSWORD '<choose one>'; then run `mbo db grant-bi` again."
                ) from None
        for statement in bi_grant_statements(database, owner, bi):
            conn.execute(statement)
    return password


def grant_bi_sql(database: str, owner: str) -> str:
    """The SQL ``mbo db grant-bi`` runs, for an administrator to run by hand (``mbo db grant-bi --print-sql``)."""
    bi = bi_role()
    lines = [f"CREATE ROLE {bi} LOGIN PASSWORD '<choose one>';  -- once, as a user allowed to create roles",
             f"-- then, as {owner} (the user MBO's pipeline connects as):"]
    lines += [statement.as_string(None) + ";" for statement in bi_grant_statements(database, owner, bi)]
    return "\n".join(lines)
