"""An ``MBO_HOME`` made by the previous MBO (one trusted superuser ``postgres``, every object its own) is upgraded
in place on its next start: the roles are added, ``trust`` is gone, mbo_app owns everything, no row is lost, and the
whole demo runs again on it, as mbo_app.

A system run (two real `mbo demo` processes and a server of its own, about two minutes): `make test` collects it
skipped; `.ci/run` runs it as a step of its own (`make test-upgrade`, which sets ``MBO_UPGRADE_TEST=1``), and
`make mutants` sets that variable for the mutants it guards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from mbo_pipelines import db_roles
from mbo_pipelines.embedded_db import EmbeddedServer, _bin, _run, _runs_as_root, free_port

#: Opt-in, as tests/bench/test_bench_pipeline.py's real run is: `make test-upgrade` (and `.ci/run`) sets it.
RUN_UPGRADE = os.environ.get("MBO_UPGRADE_TEST", "").strip() == "1"
pytestmark = pytest.mark.skipif(not RUN_UPGRADE, reason="set MBO_UPGRADE_TEST=1 (`make test-upgrade`, as .ci/run "
                                                        "does): two real `mbo demo` runs, about two minutes")

OUR_SCHEMAS = ("raw", "staging", "intermediate", "marts", "reference", "activation", "sandbox", "public")


def make_legacy_home(home: Path, port: int) -> str:
    """Exactly what ``EmbeddedServer.start`` did up to commit 5a32032: ``initdb --auth=trust -U postgres``, the
    server started on 127.0.0.1 without a socket, database ``mbo`` created by ``postgres``. Returns that URL."""
    server = EmbeddedServer(pgdata=home / "pgdata", port=port)
    server.pgdata.mkdir(parents=True)
    if _runs_as_root():
        server._grant_system_user_access()
    _run([_bin("initdb"), "-D", str(server.pgdata), "--auth=trust", "--encoding=utf8", "-U", "postgres"], timeout=120)
    _run([_bin("pg_ctl"), "-D", str(server.pgdata), "-w", "-t", "60", "-l", str(server.log_path),
          "-o", f"-h 127.0.0.1 -p {port} -k ''", "start"], timeout=90)
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as conn:
        conn.execute("create database mbo")
    return f"postgresql://postgres@127.0.0.1:{port}/mbo"


def _mbo(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mbo_pipelines.cli", *args], env=env, capture_output=True,
                          text=True, timeout=600)


def _relations(conn: psycopg.Connection) -> dict[str, tuple[str, int | None]]:
    """Every table and view of MBO's schemas (and Dagster's, in public): its owner and, for tables, its rows."""
    found = conn.execute(
        "select format('%%I.%%I', n.nspname, c.relname), pg_get_userbyid(c.relowner), c.relkind "
        "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = any(%s) and c.relkind in ('r', 'v', 'm', 'S')", (list(OUR_SCHEMAS),)).fetchall()
    return {name: (owner, conn.execute(f"select count(*) from {name}").fetchone()[0] if kind == "r" else None)
            for name, owner, kind in found}


@pytest.fixture(scope="module")
def upgraded(tmp_path_factory):
    home = tmp_path_factory.mktemp("legacy_home")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MBO_DATABASE_URL", "DAGSTER_HOME", "MBO_BI_ROLE")}
    env.update(MBO_HOME=str(home), MBO_PG_PORT=str(port))
    legacy_url = make_legacy_home(home, port)
    server = EmbeddedServer(pgdata=home / "pgdata", port=port)
    try:
        # The previous version's demo, as the trusted superuser (MBO_DATABASE_URL stands in for its embedded URL).
        first = _mbo("demo", "--days", "7", env={**env, "MBO_DATABASE_URL": legacy_url})
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        with psycopg.connect(legacy_url) as conn:
            before = _relations(conn)
        started = _mbo("db", "start", env=env)  # the server is still running, as `make demo` leaves it
        assert started.returncode == 0, started.stderr
        yield {"server": server, "env": env, "before": before, "legacy_url": legacy_url, "started": started}
    finally:
        server.destroy()


def test_upgrade_keeps_every_row_and_hands_everything_to_mbo_app(upgraded):
    before = upgraded["before"]
    assert {owner for owner, _ in before.values()} == {"postgres"}
    assert before["marts.fct_campaign_daily"][1] > 0 and before["activation.budget_changes"][1] > 0
    assert any(name.startswith("public.") for name in before)  # Dagster's run storage
    with psycopg.connect(upgraded["server"].url()) as conn:
        after = _relations(conn)
        schema_owners = dict(conn.execute(
            "select nspname, pg_get_userbyid(nspowner) from pg_namespace where nspname = any(%s)",
            (list(OUR_SCHEMAS),)).fetchall())
    assert after == {name: (db_roles.APP_ROLE, rows) for name, (_, rows) in before.items()}
    assert set(schema_owners.values()) <= {db_roles.APP_ROLE, "pg_database_owner"}, schema_owners
    assert "mbo_app:***@" in upgraded["started"].stdout


def test_upgrade_removes_trust_and_the_old_superusers_login(upgraded):
    server = upgraded["server"]
    assert not server.trusts_logins()
    for user in ("postgres", db_roles.ADMIN_ROLE, db_roles.APP_ROLE):
        with pytest.raises(psycopg.OperationalError, match="no password supplied"):
            psycopg.connect(upgraded["legacy_url"].replace("postgres@", f"{user}@"), connect_timeout=5)
    with psycopg.connect(server.url("admin", "postgres")) as conn:
        assert conn.execute("select rolcanlogin, rolpassword from pg_authid where rolname = 'postgres'").fetchone() \
            == (False, None)
        assert conn.execute("select count(*) from pg_hba_file_rules where auth_method = 'trust' "
                            "or 'replication' = any(database)").fetchone() == (0,)


def test_bi_reads_the_upgraded_marts_but_not_raw_or_the_ledger(upgraded):
    with psycopg.connect(upgraded["server"].url("bi")) as bi:
        assert bi.execute("select count(*) from marts.fct_campaign_daily").fetchone()[0] > 0
        assert bi.execute("select count(*) from marts.budget_recommendations").fetchone()[0] > 0
    for table in ("raw.google_ads_campaign_daily", "activation.budget_changes"):
        with psycopg.connect(upgraded["server"].url("bi")) as bi, pytest.raises(errors.InsufficientPrivilege):
            bi.execute(f"select 1 from {table}")


def test_the_demo_runs_again_on_the_upgraded_home_as_mbo_app(upgraded):
    again = _mbo("demo", "--days", "7", env=upgraded["env"])
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    with psycopg.connect(upgraded["server"].url()) as conn:
        plans, owners = conn.execute(
            "select count(distinct plan_id), (select array_agg(distinct pg_get_userbyid(relowner)) from pg_class c "
            " join pg_namespace n on n.oid = c.relnamespace where n.nspname = any(%s) and c.relkind = 'r') "
            "from activation.budget_changes", (list(OUR_SCHEMAS),)).fetchone()
    assert plans >= 1 and owners == [db_roles.APP_ROLE]
    assert "Pushed (activation.budget_changes):" in again.stdout
