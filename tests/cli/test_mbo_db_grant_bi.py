"""`mbo db grant-bi`: read-only access to the marts for the BI role on any server (MBO_DATABASE_URL), run as the
pipeline's own user; the role is created when that user may, else an administrator is told what to run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from urllib.parse import urlparse

import psycopg
import pytest
from psycopg import errors


def _mbo(*args: str, url: str, bi_role: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MBO_BI_ROLE"}
    env.update(MBO_DATABASE_URL=url, **({"MBO_BI_ROLE": bi_role} if bi_role else {}))
    return subprocess.run([sys.executable, "-m", "mbo_pipelines.cli", "db", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def _with_marts_table(url: str, name: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create schema if not exists marts")
        conn.execute(f"create table marts.{name} as select 42 as answer")


def test_grant_bi_opens_the_marts_now_and_later_and_nothing_else(new_database, role_url):
    url = new_database("grant_bi")
    _with_marts_table(url, "before")
    bi_url = role_url(url, "bi")
    with psycopg.connect(bi_url) as bi, pytest.raises(errors.InsufficientPrivilege):
        bi.execute("select * from marts.before")

    result = _mbo("grant-bi", url=url)

    assert result.returncode == 0, result.stderr
    assert "mbo_bi may read every table in schema marts" in result.stdout and "password" not in result.stdout
    _with_marts_table(url, "after")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create schema elsewhere")
        conn.execute("create table elsewhere.secret as select 1 as id")
    with psycopg.connect(bi_url, autocommit=True) as bi:
        assert bi.execute("select answer from marts.before").fetchone() == (42,)
        assert bi.execute("select answer from marts.after").fetchone() == (42,)
        for statement in ("select * from elsewhere.secret", "insert into marts.after values (1)",
                          "create table marts.mine (id int)"):
            with pytest.raises(errors.InsufficientPrivilege):
                bi.execute(statement)


def test_a_user_that_may_not_create_the_role_is_told_what_an_admin_must_run(new_database, role_url):
    url = role_url(new_database("grant_bi_nocreate"), "app")
    with psycopg.connect(url) as conn:
        if conn.execute("select rolsuper or rolcreaterole from pg_roles where rolname = current_user").fetchone()[0]:
            pytest.skip("MBO_DATABASE_URL's user may create roles")
    role = f"mbo_bi_{uuid.uuid4().hex[:8]}"

    result = _mbo("grant-bi", url=url, bi_role=role)

    assert result.returncode == 1
    assert f"An administrator must run once: CREATE ROLE {role} LOGIN PASSWORD '<choose one>';" in result.stderr
    assert "then run `mbo db grant-bi` again" in result.stderr


def test_a_user_that_may_create_the_role_creates_it_with_a_password_shown_once(new_database, role_url):
    url = role_url(new_database("grant_bi_create"), "admin")
    _with_marts_table(url, "before")
    role = f"mbo_bi_{uuid.uuid4().hex[:8]}"
    try:
        result = _mbo("grant-bi", url=url, bi_role=role)
        assert result.returncode == 0, result.stderr
        password = re.search(r"password \(shown once, stored nowhere\): (\S+)", result.stdout).group(1)
        parsed = urlparse(url)
        bi_url = parsed._replace(netloc=f"{role}:{password}@{parsed.hostname}:{parsed.port}").geturl()
        with psycopg.connect(bi_url) as bi:
            assert bi.execute("select answer from marts.before").fetchone() == (42,)
            attributes = bi.execute("select rolsuper, rolcreaterole, rolcreatedb from pg_roles "
                                    "where rolname = current_user").fetchone()
        assert attributes == (False, False, False)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"drop owned by {role}")
            conn.execute(f"drop role if exists {role}")


def test_print_sql_is_what_an_administrator_runs_by_hand(new_database):
    url = new_database("grant_bi_sql")
    database, owner = urlparse(url).path.lstrip("/"), urlparse(url).username
    result = _mbo("grant-bi", "--print-sql", url=url)
    assert result.returncode == 0, result.stderr
    statements = [line for line in result.stdout.splitlines() if line and not line.startswith("--")]
    assert statements[0].startswith("CREATE ROLE mbo_bi LOGIN PASSWORD '<choose one>';")
    assert statements[1:] == [
        f'grant connect on database "{database}" to "mbo_bi";',
        f'create schema if not exists "marts" authorization "{owner}";',
        'grant usage on schema "marts" to "mbo_bi";',
        'grant select on all tables in schema "marts" to "mbo_bi";',
        f'alter default privileges for role "{owner}" in schema "marts" grant select on tables to "mbo_bi";',
    ]


def test_url_of_a_managed_role_is_refused_for_an_external_server(new_database):
    result = _mbo("url", "--bi", url=new_database("grant_bi_url"))
    assert result.returncode == 1 and "mbo db grant-bi" in result.stderr
