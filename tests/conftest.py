"""Session-wide fixtures: one real PostgreSQL for the whole test run.

``MBO_DATABASE_URL`` points the tests at an existing server; otherwise an
embedded PostgreSQL is started in a temporary directory on a free port and
removed at the end of the session.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg
import pytest

from mbo_pipelines.embedded_db import EmbeddedServer, free_port


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of a fresh, empty database on a real PostgreSQL server."""
    base_url = os.environ.get("MBO_DATABASE_URL", "").strip()
    if base_url:
        # A dedicated database so tests never touch the user's data.
        name = f"mbo_test_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(f'create database "{name}"')
        url = base_url.rsplit("/", 1)[0] + f"/{name}"
        yield url
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')
        return
    server = EmbeddedServer(pgdata=Path(tmp_path_factory.mktemp("mbo")) / "pgdata", port=free_port())
    url = server.start()
    yield url
    server.destroy()


@pytest.fixture
def conn(database_url: str):
    """A connection to the session database (autocommit off; rolled back at the end)."""
    with psycopg.connect(database_url) as connection:
        yield connection
        connection.rollback()
