"""Run the ``mbo`` command as a user would, in a subprocess, on a test database and a Dagster home of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

#: Variables of the developer's own shell that must not leak into a test's `mbo` (accounts, tokens, modes).
_PREFIXES = ("MBO_", "GOOGLE_ADS_", "META_", "TIKTOK_", "ANTHROPIC_", "DAGSTER_HOME")


def mbo_env(database_url: str, home: Path, **variables: str) -> dict[str, str]:
    """The environment of a test's ``mbo``: the test database, its own MBO_HOME / DAGSTER_HOME, fast retries."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_PREFIXES)}
    env.update({
        "MBO_DATABASE_URL": database_url,
        "MBO_HOME": str(home / "mbo"),
        "DAGSTER_HOME": str(home / "dagster"),
        "MBO_API_BACKOFF_SECONDS": "0.01",
        "MBO_API_MAX_BACKOFF_SECONDS": "0.2",
    })
    env.update(variables)
    return env


def run_mbo(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    """``mbo ARGS`` with ``env``; stdout and stderr captured as text."""
    return subprocess.run([sys.executable, "-m", "mbo_pipelines.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def query(database_url: str, sql: str, params=()) -> list[tuple]:
    """All rows of one query."""
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql, params).fetchall()
