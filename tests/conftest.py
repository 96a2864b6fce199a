"""Session-wide fixtures: one real PostgreSQL server for the whole test run.

``MBO_DATABASE_URL`` points the tests at an existing server (they create and
drop their own databases on it); otherwise an embedded PostgreSQL is started
in a temporary directory on a free port and removed at the end of the session.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from mbo_pipelines.embedded_db import EmbeddedServer, free_port


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """URL of a database on a running PostgreSQL server, used to create test databases."""
    base_url = os.environ.get("MBO_DATABASE_URL", "").strip()
    if base_url:
        yield base_url
        return
    # Its own folder, not pytest's basetemp: pytest prunes old basetemps, which
    # another pytest run on the same machine could do under a live server.
    home = Path(tempfile.mkdtemp(prefix="mbo-test-pg-"))
    server = EmbeddedServer(pgdata=home / "pgdata", port=free_port())
    url = server.start()
    yield url
    server.destroy()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def new_database(postgres_server_url: str) -> Callable[..., str]:
    """Factory: a fresh, empty database on the test server; dropped at the end of the session."""
    created: list[str] = []

    def make(label: str, template: str | None = None) -> str:
        """A new database (a copy of the database ``template`` names, when given); its URL."""
        name = f"mbo_test_{label}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(postgres_server_url, autocommit=True) as conn:
            conn.execute(f'create database "{name}"' + (f' template "{template}"' if template else ""))
        created.append(name)
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
