"""`mbo db start|status|url|stop` manage a real embedded server; `url` works for psql and drivers."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from mbo_pipelines.embedded_db import free_port
from tests.cli.cli_helpers import server_home


def _mbo(*args, env):
    return subprocess.run([sys.executable, "-m", "mbo_pipelines.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def env():
    clean = {k: v for k, v in os.environ.items() if k != "MBO_DATABASE_URL"}
    with server_home() as home:
        yield {**clean, "MBO_HOME": str(home / "home"), "MBO_PG_PORT": str(free_port())}


def test_db_lifecycle(env):
    assert _mbo("db", "status", env=env).returncode == 3
    assert _mbo("db", "url", env=env).returncode == 1
    started = _mbo("db", "start", env=env)
    assert started.returncode == 0, started.stderr
    try:
        assert "running on 127.0.0.1" in _mbo("db", "status", env=env).stdout
        url = _mbo("db", "url", env=env).stdout.strip()
        assert url.startswith("postgresql://mbo_app:") and url.endswith(f"@127.0.0.1:{env['MBO_PG_PORT']}/mbo")
        password = url.split(":")[2].split("@")[0]
        assert password not in started.stdout and "mbo_app:***@" in started.stdout
        for flag, role in (("--bi", "mbo_bi"), ("--admin", "mbo_admin"), (None, "mbo_app")):
            role_url = _mbo("db", "url", *([flag] if flag else []), env=env).stdout.strip()
            with psycopg.connect(role_url) as conn:
                assert conn.execute("select current_user, current_database()").fetchone() == (role, "mbo")
        if shutil.which("psql"):
            out = subprocess.run(["psql", url, "-Atc", "select 40 + 2"], capture_output=True, text=True, timeout=30)
            assert out.stdout.strip() == "42", out.stderr
        assert _mbo("db", "start", env=env).returncode == 0  # idempotent
        # A new MBO_PG_PORT while the server runs: `db start` refuses to pretend (one line, exit 1), others warn.
        moved = {**env, "MBO_PG_PORT": str(free_port())}
        refused = _mbo("db", "start", env=moved)
        assert refused.returncode == 1
        [line] = refused.stderr.strip().splitlines()
        assert f"runs on port {env['MBO_PG_PORT']}, not on port {moved['MBO_PG_PORT']} (MBO_PG_PORT)" in line
        assert "mbo db stop" in line
        status = _mbo("db", "status", env=moved)
        assert status.returncode == 0 and f"127.0.0.1:{env['MBO_PG_PORT']}" in status.stdout
        assert "warning" in status.stderr and "MBO_PG_PORT" in status.stderr
        assert _mbo("db", "url", env=moved).stdout.strip().endswith(f"@127.0.0.1:{env['MBO_PG_PORT']}/mbo")
    finally:
        assert _mbo("db", "stop", env=env).stdout.strip() == "stopped"
    assert _mbo("db", "status", env=env).returncode == 3


def test_database_url_overrides_the_embedded_server(env):
    env = {**env, "MBO_DATABASE_URL": "postgresql://someone:secret@db.example:5432/x"}
    assert _mbo("db", "url", env=env).stdout.strip() == env["MBO_DATABASE_URL"]
    status = _mbo("db", "status", env=env)
    assert "secret" not in status.stderr and "***" in status.stderr


def test_status_of_an_external_database_really_connects(env, new_database):
    reachable = _mbo("db", "status", env={**env, "MBO_DATABASE_URL": new_database("status")})
    assert reachable.returncode == 0, reachable.stderr
    assert reachable.stdout.startswith("reachable: ") and "MBO_DATABASE_URL" in reachable.stdout
    nowhere = f"postgresql://mbo_app:Sup3rsecret@127.0.0.1:{free_port()}/mbo"
    unreachable = _mbo("db", "status", env={**env, "MBO_DATABASE_URL": nowhere})
    assert unreachable.returncode == 1 and unreachable.stdout == ""
    [line] = unreachable.stderr.strip().splitlines()
    assert line.startswith("mbo: MBO_DATABASE_URL (postgresql://mbo_app:***@127.0.0.1:") and "Connection refused" in line
    assert "Sup3rsecret" not in line
    assert not (Path(env["MBO_HOME"]) / "pgdata").exists()


def test_port_taken_gives_a_clear_error(env, postgres_server_url):
    if os.environ.get("MBO_DATABASE_URL"):
        pytest.skip("needs the embedded test server's port")
    port = postgres_server_url.split(":")[-1].split("/")[0]
    result = _mbo("db", "start", env={**env, "MBO_PG_PORT": port})
    assert result.returncode != 0
    assert f"port {port}" in result.stderr and "MBO_PG_PORT" in result.stderr
