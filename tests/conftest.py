"""Session-wide fixtures: one real PostgreSQL server for the whole test run.

``MBO_DATABASE_URL`` points the tests at an existing server (they create and
drop their own databases on it); otherwise an embedded PostgreSQL is started
in a temporary directory on a free port and removed at the end of the session.
Its test databases belong to mbo_app, and tests reach them as mbo_app, the
non-superuser role the pipeline runs as; ``role_url`` gives the other roles.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest

from mbo_pipelines import db_roles
from mbo_pipelines.embedded_db import EmbeddedServer, free_port

# The tests pin their sandbox clock to days in 2025 and 2026: their partitions must exist whatever today is (the
# default start, MBO_HISTORY_DAYS before today, has its own test in tests/ingest/test_partitions_start.py).
os.environ.setdefault("MBO_START_DATE", "2025-01-01")
# Nothing a test runs writes into the developer's .mbo/ (the plan's report page, the first day loaded, ...).
os.environ["MBO_HOME"] = tempfile.mkdtemp(prefix="mbo-test-home-")
# The plan and push assets rewrite the report page on every run (about a second each); the suite makes dozens of
# plans, so only tests/report/test_report_link.py lets them.
os.environ.setdefault("MBO_REPORT_MAX_CAMPAIGNS", "0")


@pytest.fixture(scope="session")
def embedded_test_server() -> EmbeddedServer | None:
    """The session's embedded PostgreSQL, with MBO's roles and password logins; None with ``MBO_DATABASE_URL``."""
    if os.environ.get("MBO_DATABASE_URL", "").strip():
        yield None
        return
    # Its own folder, not pytest's basetemp: pytest prunes old basetemps, which
    # another pytest run on the same machine could do under a live server.
    home = Path(tempfile.mkdtemp(prefix="mbo-test-pg-"))
    server = EmbeddedServer(pgdata=home / "pgdata", port=free_port())
    server.start()
    yield server
    server.destroy()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server_url(embedded_test_server: EmbeddedServer | None) -> str:
    """URL of a role that may create databases and roles: the embedded server's mbo_admin, or
    ``MBO_DATABASE_URL`` (whose user the tests then run as throughout)."""
    if embedded_test_server is None:
        return os.environ["MBO_DATABASE_URL"].strip()
    return embedded_test_server.url("admin", "postgres")


@pytest.fixture(scope="session")
def role_url(embedded_test_server: EmbeddedServer | None) -> Callable[[str, str], str]:
    """Factory: the URL of a test database (from ``new_database``) as MBO's ``app``, ``bi`` or ``admin`` role.

    With ``MBO_DATABASE_URL``, ``app`` and ``admin`` are its own user; ``bi`` gets a fresh password (a test
    needing it is skipped when that user may not set one)."""
    bi_password: list[str] = []

    def url_as(url: str, role: str) -> str:
        database = urlparse(url).path.lstrip("/")
        if embedded_test_server is not None:
            return embedded_test_server.url(role, database)
        if role != "bi":
            return url
        name = db_roles.bi_role()
        if not bi_password:
            try:
                with psycopg.connect(url, autocommit=True) as conn:
                    db_roles.ensure_role(conn, name, password := uuid.uuid4().hex)
            except psycopg.errors.InsufficientPrivilege:
                pytest.skip(f"MBO_DATABASE_URL's user may not set a password for {name}")
            bi_password.append(password)
        parsed = urlparse(url)
        return parsed._replace(netloc=f"{name}:{bi_password[0]}@{parsed.hostname}:{parsed.port or 5432}").geturl()

    return url_as


@pytest.fixture(scope="session")
def new_database(embedded_test_server: EmbeddedServer | None, postgres_server_url: str) -> Callable[..., str]:
    """Factory: a fresh, empty database on the test server, owned by mbo_app and reached as it (the role the
    pipeline runs as); dropped at the end of the session."""
    created: list[str] = []

    def make(label: str, template: str | None = None) -> str:
        """A new database (a copy of the database ``template`` names, when given); its URL."""
        name = f"mbo_test_{label}_{uuid.uuid4().hex[:6]}"
        created.append(name)
        if embedded_test_server is not None:
            return embedded_test_server.create_database(name, template)
        with psycopg.connect(postgres_server_url, autocommit=True) as conn:
            conn.execute(f'create database "{name}"' + (f' template "{template}"' if template else ""))
        return postgres_server_url.rsplit("/", 1)[0] + f"/{name}"

    yield make
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        for name in created:
            conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="session")
def database_url(new_database) -> str:
    """A shared scratch database for tests that keep to their own tables, seeds and ids."""
    return new_database("shared")


@pytest.fixture
def conn(database_url: str):
    """A connection to the shared database (rolled back at the end)."""
    with psycopg.connect(database_url) as connection:
        yield connection
        connection.rollback()
