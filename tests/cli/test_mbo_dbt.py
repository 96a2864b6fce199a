"""One database for dbt too: the profile has no defaults that could reach another server, and `mbo dbt` runs dbt
on the database every other command uses."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from mbo_pipelines.embedded_db import free_port
from tests.cli.cli_helpers import ROOT, clean_env, mbo

DBT = str(Path(sys.executable).parent / "dbt")
PROJECT = ROOT / "dbt_project"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _dbt(*args: str, env: dict[str, str]):
    import subprocess

    return subprocess.run([DBT, *args, "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT)],
                          env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("unset", ["MBO_DB_HOST", "MBO_DB_PORT", "MBO_DB_USER", "MBO_DB_NAME"])
def test_a_hand_run_dbt_without_the_variables_stops_naming_them(tmp_path, unset):
    """No silent default (the old port 54329 could be another server's): dbt's own error names the variable. (The
    password may be empty: it does not choose the server.)"""
    given = {"MBO_DB_HOST": "127.0.0.1", "MBO_DB_PORT": str(free_port()), "MBO_DB_USER": "mbo_app",
             "MBO_DB_PASSWORD": "x", "MBO_DB_NAME": "mbo"}
    del given[unset]
    env = clean_env(tmp_path / "home", DBT_LOG_PATH=str(tmp_path / "logs"), **given)
    result = _dbt("debug", env=env)
    assert result.returncode != 0
    assert f"Env var required but not provided: '{unset}'" in _ANSI.sub("", result.stdout + result.stderr)


def test_mbo_dbt_reaches_the_database_every_command_uses(tmp_path, new_database):
    db = new_database("mbo_dbt")
    parsed = urlparse(db)
    # Decoys a shell may hold: `mbo dbt` must replace them with what the one URL says.
    env = clean_env(tmp_path / "home", MBO_DATABASE_URL=db, DBT_LOG_PATH=str(tmp_path / "logs"),
                    MBO_DB_HOST="203.0.113.1", MBO_DB_PORT=str(free_port()), MBO_DB_NAME="other")
    result, _ = mbo("dbt", "debug", env=env, timeout=300)
    output = _ANSI.sub("", result.stdout + result.stderr)
    assert result.returncode == 0, output
    assert "Connection test: [OK connection ok]" in output
    assert re.search(rf"\bhost: {parsed.hostname}$", output, re.M), output
    assert re.search(rf"\bport: {parsed.port or 5432}$", output, re.M), output
    assert re.search(rf"\bdatabase: {parsed.path.lstrip('/')}$", output, re.M), output
    assert re.search(rf"\buser: {parsed.username}$", output, re.M), output
    if parsed.password:
        assert parsed.password not in output
    # `--` is optional, and a bad setting stops it before dbt starts (tests/cli/test_mbo_bad_config.py has more).
    again, _ = mbo("dbt", "--", "debug", "--connection", env=env, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
