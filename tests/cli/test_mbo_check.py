"""`mbo check`: every variable's value in effect with secrets masked, the database reached, the platforms' state;
exit 1 with one line per problem."""

from __future__ import annotations

from urllib.parse import urlparse

from mbo_pipelines.embedded_db import free_port
from tests.cli.cli_helpers import clean_env, mbo, server_home, stderr_lines

API_KEY = "sk-ant-api03-FAKEkey0123456789"
TOKEN = "EAABfaketoken0123456789"
GRAPH_PASSWORD = "graphPassw0rd"


def _value(stdout: str, name: str) -> str:
    line = next(line for line in stdout.splitlines() if line.strip().startswith(name + " "))
    return line.split(None, 1)[1].strip()


def test_check_shows_the_configuration_with_secrets_masked_and_reaches_the_database(tmp_path, new_database):
    db = new_database("check")
    env = clean_env(tmp_path / "home", MBO_DATABASE_URL=db, ANTHROPIC_API_KEY=API_KEY, META_ACCESS_TOKEN=TOKEN,
                    MBO_META_GRAPH_URL=f"https://graph:{GRAPH_PASSWORD}@graph.example/v1",
                    MBO_MAX_BUDGET_CHANGE="0.25", MBO_MAX_BUDGT_CHANGE="0.2")
    result, _ = mbo("check", env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert result.stdout.rstrip().endswith("all fine")
    for secret in (API_KEY, TOKEN, GRAPH_PASSWORD, urlparse(db).password or API_KEY):
        assert secret not in output
    assert _value(result.stdout, "ANTHROPIC_API_KEY") == "***"
    assert _value(result.stdout, "META_ACCESS_TOKEN") == "***"
    assert _value(result.stdout, "MBO_META_GRAPH_URL") == "https://graph:***@graph.example/v1"
    if urlparse(db).password:
        assert ":***@" in _value(result.stdout, "MBO_DATABASE_URL")
    assert _value(result.stdout, "MBO_MAX_BUDGET_CHANGE") == "0.25"
    assert _value(result.stdout, "MBO_HISTORY_DAYS") == "(default: 90)"
    assert "not read by MBO (a typo?): MBO_MAX_BUDGT_CHANGE" in result.stdout
    database = next(line for line in result.stdout.splitlines() if line.startswith("database:"))
    assert "reachable" in database and f"database {urlparse(db).path.lstrip('/')} as" in database
    assert "MBO_SOURCE=sandbox" in result.stdout
    assert stderr_lines(result) == []


def test_check_reports_an_unreachable_database(tmp_path):
    url = f"postgresql://mbo_app:{GRAPH_PASSWORD}@127.0.0.1:{free_port()}/mbo"
    result, _ = mbo("check", env=clean_env(tmp_path / "home", MBO_DATABASE_URL=url))
    assert result.returncode == 1
    assert "NOT reachable" in result.stdout
    [line] = stderr_lines(result)
    assert line.startswith("mbo: MBO_DATABASE_URL (postgresql://mbo_app:***@127.0.0.1:") and "refused" in line
    assert GRAPH_PASSWORD not in result.stdout + result.stderr


def test_check_in_live_mode_says_what_each_platform_misses(tmp_path, new_database):
    fx = tmp_path / "eurofxref-hist.csv"
    fx.write_text("Date,USD,\n2026-03-02,1.08,\n")
    env = clean_env(tmp_path / "home", MBO_DATABASE_URL=new_database("check_live"), MBO_SOURCE="live",
                    MBO_FX_RATES_CSV=str(fx), MBO_META_AD_ACCOUNT_IDS="act_1", META_ACCESS_TOKEN=TOKEN,
                    MBO_GOOGLE_ADS_CUSTOMER_IDS="123-456-7890")
    result, _ = mbo("check", env=env)
    assert result.returncode == 1
    [line] = stderr_lines(result)
    assert line.startswith("mbo: GOOGLE_ADS_DEVELOPER_TOKEN") or "GOOGLE_ADS_DEVELOPER_TOKEN" in line
    assert "unset MBO_GOOGLE_ADS_CUSTOMER_IDS" in line
    platforms = result.stdout.split("platforms:", 1)[1]
    assert "enabled: 1 account(s): 1" in platforms  # meta_ads
    assert "ENABLED but missing GOOGLE_ADS_DEVELOPER_TOKEN" in platforms
    assert "disabled: set MBO_TIKTOK_ADVERTISER_IDS" in platforms
    assert TOKEN not in result.stdout + result.stderr


def test_check_lists_every_problem(tmp_path):
    env = clean_env(tmp_path / "home", MBO_PG_PORT=str(free_port()), MBO_MAX_BUDGET_CHANGE="2",
                    MBO_CONVERSION_SOURCE="ga4", MBO_DATABASE_URL=f"postgresql://u:{GRAPH_PASSWORD}@127.0.0.1:{free_port()}/x")
    result, _ = mbo("check", env=env)
    lines = stderr_lines(result)
    assert result.returncode == 1
    assert [line.split()[1] for line in lines] == ["MBO_DATABASE_URL", "MBO_CONVERSION_SOURCE", "MBO_MAX_BUDGET_CHANGE"]
    assert result.stdout.rstrip().endswith("3 problem(s): see above (stderr)")


def test_check_starts_the_embedded_server_as_other_commands_do():
    with server_home() as home:
        result, _ = mbo("check", env=clean_env(home, MBO_PG_PORT=str(free_port())), timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        database = next(line for line in result.stdout.splitlines() if line.startswith("database:"))
        assert "the embedded PostgreSQL" in database and "reachable" in database and ":***@" in database
        assert (home / "pgdata" / "PG_VERSION").exists()
