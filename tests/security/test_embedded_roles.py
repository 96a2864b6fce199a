"""The embedded server's least privilege, on the session's real server: password logins over 127.0.0.1 only,
an application role without superpowers, passwords kept where only their owner reads them."""

from __future__ import annotations

import stat
from urllib.parse import urlparse

import psycopg
import pytest
from psycopg import errors

from mbo_pipelines import db_roles


@pytest.fixture(scope="module")
def server(embedded_test_server):
    if embedded_test_server is None:
        pytest.skip("checks the embedded server (MBO_DATABASE_URL is set)")
    return embedded_test_server


def _without_password(url: str, user: str | None = None) -> str:
    parsed = urlparse(url)
    return parsed._replace(netloc=f"{user or parsed.username}@{parsed.hostname}:{parsed.port}").geturl()


@pytest.mark.parametrize("role", ["admin", "app", "bi", "postgres"])
def test_no_login_without_the_right_password(server, role):
    url = server.url("admin", "postgres")
    user = role if role == "postgres" else db_roles.role_names()[role]
    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        psycopg.connect(_without_password(url, user), connect_timeout=5)
    wrong = urlparse(url)._replace(netloc=f"{user}:not-the-password@{urlparse(url).hostname}:{urlparse(url).port}")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong.geturl(), connect_timeout=5)


def test_the_server_listens_on_loopback_and_trusts_nobody(server):
    with psycopg.connect(server.url("admin", "postgres")) as conn:
        settings = dict(conn.execute(
            "select name, setting from pg_settings where name in "
            "('listen_addresses', 'unix_socket_directories', 'password_encryption')").fetchall())
        rules = conn.execute(
            "select type, database, user_name, address, auth_method, error from pg_hba_file_rules").fetchall()
    assert settings == {"listen_addresses": "127.0.0.1", "unix_socket_directories": "",
                        "password_encryption": "scram-sha-256"}
    assert rules == [("host", ["all"], ["all"], "127.0.0.1", "scram-sha-256", None)]


def test_roles_have_exactly_their_powers(server):
    names = db_roles.role_names()
    with psycopg.connect(server.url("admin", "postgres")) as conn:
        roles = {row[0]: row[1:] for row in conn.execute(
            "select rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolcanlogin "
            "from pg_roles where rolcanlogin or rolname = 'postgres'").fetchall()}
        members = conn.execute(
            "select count(*) from pg_auth_members m join pg_roles r on r.oid = m.member "
            "where r.rolname = any(%s)", ([names["app"], names["bi"]],)).fetchone()[0]
        owner, public_acl = conn.execute(
            "select pg_get_userbyid(datdba), datacl::text[] from pg_database where datname = 'mbo'").fetchone()
    assert roles[names["admin"]] == (True, True, True, True, True, True)
    assert roles[names["app"]] == (False, False, False, False, False, True)
    assert roles[names["bi"]] == (False, False, False, False, False, True)
    assert set(roles) == {names["admin"], names["app"], names["bi"]}  # nobody else logs in (no `postgres`)
    assert members == 0  # neither may SET ROLE to another role
    assert owner == names["app"]
    assert not any(entry.startswith("=") for entry in public_acl), public_acl  # PUBLIC may not even connect
    assert f"{names['bi']}=c/{names['app']}" in public_acl


@pytest.mark.parametrize(
    "statement",
    [
        "copy (select 1) to program 'id'",
        "create temporary table t (line text); copy t from program 'id'",
        "select pg_read_file('postgresql.conf')",
        "select pg_ls_dir('.')",
        "create role mbo_intruder login",
        "alter role mbo_app superuser",
        "alter role mbo_bi password 'x'",
        "create database mbo_intruder",
        "alter system set log_statement = 'all'",
        "set role mbo_admin",
        "select lo_import('/etc/passwd')",
    ],
)
def test_the_app_role_has_no_superpowers(new_database, statement):
    with psycopg.connect(new_database("app_powers"), autocommit=True) as app:
        assert app.execute("select current_user").fetchone()[0] == db_roles.APP_ROLE
        with pytest.raises(errors.InsufficientPrivilege):
            for part in statement.split(";"):
                app.execute(part)


def test_passwords_are_kept_for_their_owner_only(server):
    path = server.passwords_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = db_roles.load_passwords(path)
    assert set(stored) == set(db_roles.role_names().values())
    assert len(set(stored.values())) == 3 and all(len(p) >= 24 for p in stored.values())
    # The server only ever saw SCRAM verifiers: no password in its log or its configuration.
    logged = server.log_path.read_text() + "".join(
        f.read_text(errors="replace") for f in server.pgdata.glob("*.conf"))
    assert not [p for p in stored.values() if p in logged]


def test_a_loosened_password_file_is_put_back_to_0600(tmp_path):
    path = tmp_path / db_roles.PASSWORDS_FILE
    first = db_roles.ensure_passwords(path, ["a", "b"])
    path.chmod(0o644)
    assert db_roles.ensure_passwords(path, ["a", "b"]) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = db_roles.ensure_passwords(path, ["a", "b", "c"])  # a new role's password is added, the others kept
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert {k: again[k] for k in first} == first and set(again) == {"a", "b", "c"}
