"""The Dagster instance the demo and ``make dev`` share: run and event storage in the MBO PostgreSQL."""

import os
from pathlib import Path

from mbo_pipelines import settings

DAGSTER_YAML = """\
# Written by `mbo`: Dagster keeps runs, events and schedules in the MBO database,
# so `make dev` shows what `make demo` materialized.
storage:
  postgres:
    postgres_url:
      env: MBO_DATABASE_URL
# A run whose process died is marked failed by the daemon (dagster dev runs one), not left STARTED.
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  poll_interval_seconds: 60
telemetry:
  enabled: false
"""


def ensure_dagster_home() -> Path:
    """Use ``DAGSTER_HOME`` if set, else ``$MBO_HOME/dagster``; write its dagster.yaml if missing; export it."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.mbo_home() / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def prepare_environment() -> str:
    """Resolve the warehouse (starting the embedded server if needed) and export what Dagster and dbt read.

    Returns the database URL; callers must not print it (it may hold a password).
    """
    url = settings.database_url()
    os.environ["MBO_DATABASE_URL"] = url
    os.environ.update(settings.dbt_env(url))
    ensure_dagster_home()
    return url


def run_instance():
    """The Dagster instance (``DAGSTER_HOME``) for runs this process executes itself (``mbo extract`` / ``refresh``
    / ``push``, the demo, the benchmark).

    Its PostgreSQL storages keep a few connections open, as the webserver's do, instead of connecting anew for
    every event: a daily dbt build reports ~400 test results, which cost ~3 000 connections (12 s of a 35 s
    build at 5 000 campaigns). No statement timeout: a run's writes are not the UI's reads.
    """
    import dagster as dg

    instance = dg.DagsterInstance.get()
    instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=4)
    return instance
