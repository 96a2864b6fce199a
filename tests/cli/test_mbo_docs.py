"""``mbo docs``: dbt's documentation generated offline from the warehouse and served on 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import psycopg
import pytest

from mbo_pipelines.defs.ingest.raw_tables import ensure_raw_tables
from mbo_pipelines.settings import dbt_env
from tests.live.live_helpers import mbo_env, run_mbo

PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
#: A password in the warehouse URL (the test server trusts loopback, so it is never checked): it must not leak.
PASSWORD = "docs-secret-4711"
NEW_MARTS = ("fct_campaign_attribution", "fct_platform_daily", "fct_budget_pacing", "opt_campaign_inputs")


def _with_password(url: str) -> str:
    return re.sub(r"://([^:@/]+)@", rf"://\1:{PASSWORD}@", url, count=1)


@pytest.fixture(scope="module")
def env(new_database, tmp_path_factory):
    """A warehouse whose models exist (the seeds and models built on empty raw tables, in one dbt run: no data tests),
    and mbo's environment."""
    url = new_database("mbo_docs")
    with psycopg.connect(url) as conn:
        ensure_raw_tables(conn)
    tmp = tmp_path_factory.mktemp("docs_dbt")
    dbt = Path(sys.executable).parent / "dbt"
    run_env = {k: v for k, v in os.environ.items() if not k.startswith(("MBO_DB_", "DBT_"))}
    run_env.update(dbt_env(url))
    built = subprocess.run(
        [str(dbt), "build", "--resource-type", "seed", "--resource-type", "model",
         "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
         "--target-path", str(tmp / "target"), "--log-path", str(tmp / "logs")],
        env=run_env, capture_output=True, text=True, timeout=600,
    )
    assert built.returncode == 0, built.stdout[-4000:]
    return mbo_env(_with_password(url), tmp_path_factory.mktemp("docs_home"))


def _site_manifest_and_catalog(page: str) -> tuple[dict, dict]:
    """The manifest and catalog dbt's static page embeds (``{manifest:{...},catalog:{...}}`` in its script)."""
    decoder = json.JSONDecoder()
    found = {}
    for label in ("manifest", "catalog"):
        marker = page.find(f"{label}:{{")
        assert marker >= 0, f"no embedded {label} in the page"
        found[label], _ = decoder.raw_decode(page, marker + len(label) + 1)
    return found["manifest"], found["catalog"]


def test_generates_a_self_contained_site_of_every_mart_without_secrets(env):
    result = run_mbo("docs", "--no-serve", env=env)
    assert result.returncode == 0, result.stderr
    page = (Path(env["MBO_HOME"]) / "dbt-docs" / "site" / "index.html").read_text()
    manifest, catalog = _site_manifest_and_catalog(page)
    for mart in ("fct_campaign_daily", *NEW_MARTS):
        node = manifest["nodes"][f"model.mbo.{mart}"]
        assert node["description"].strip() and node["columns"], mart
        # The catalog comes from the warehouse: the table exists, with its columns' types.
        columns = catalog["nodes"][f"model.mbo.{mart}"]["columns"]
        assert set(node["columns"]) <= {c.lower() for c in columns}, mart
    assert catalog["nodes"]["model.mbo.fct_campaign_attribution"]["columns"]["dedup_conversions"]["type"].startswith("numeric")
    published = list((Path(env["MBO_HOME"]) / "dbt-docs" / "site").iterdir())
    assert [p.name for p in published] == ["index.html"]  # not dbt's target folder
    assert PASSWORD not in page and PASSWORD not in result.stdout + result.stderr


def test_serves_the_site_on_loopback(env):
    server = subprocess.Popen([sys.executable, "-m", "mbo_pipelines.cli", "docs", "--port", "0"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        while "serving" not in line:
            line = server.stdout.readline()
            assert line, f"mbo docs stopped: {server.stderr.read()[-3000:]}"
        address = re.search(r"http://([\d.]+):(\d+)/", line)
        assert address and address.group(1) == "127.0.0.1", line
        with urllib.request.urlopen(f"http://127.0.0.1:{address.group(2)}/", timeout=30) as response:
            page = response.read().decode()
        assert response.status == 200 and "fct_campaign_attribution" in page
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a machine busy writing to disk can stall the exit: do not leak it
            server.kill()
            server.wait()


def test_a_warehouse_it_cannot_reach_fails_with_what_to_do(env):
    broken = {**env, "MBO_DATABASE_URL": re.sub(r":(\d+)/", ":1/", env["MBO_DATABASE_URL"], count=1)}
    result = run_mbo("docs", "--no-serve", env=broken)
    assert result.returncode == 1
    # Found before dbt starts (the configuration check): one line naming the variable and the fix.
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("mbo: MBO_DATABASE_URL (") and "Connection refused" in line and "start the PostgreSQL" in line
    assert result.stdout == ""
    assert PASSWORD not in result.stderr + result.stdout
