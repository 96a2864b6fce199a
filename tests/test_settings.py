"""Configuration from environment variables: defaults, and errors that name the variable."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mbo_pipelines import config_check, settings
from mbo_pipelines.embedded_db import free_port
from mbo_pipelines.defs.activate.guardrails import limits_from_env
from mbo_pipelines.resources import mbo_resource_from_env


def test_defaults_when_unset_or_blank(monkeypatch):
    for name in ("MBO_HISTORY_DAYS", "MBO_TARGET_MARGINAL_ROAS", "MBO_MAX_BUDGET_CHANGE", "MBO_SANDBOX_SEED"):
        monkeypatch.setenv(name, "  ")
    assert settings.history_days() == 90
    assert settings.target_marginal_roas() == 1.0
    assert settings.max_budget_change() == 0.3
    assert mbo_resource_from_env().sandbox_seed == 7


@pytest.mark.parametrize(
    ("name", "raw", "read", "message"),
    [
        ("MBO_HISTORY_DAYS", "ninety", settings.history_days, "MBO_HISTORY_DAYS must be a whole number, got 'ninety'"),
        ("MBO_HISTORY_DAYS", "0", settings.history_days, "MBO_HISTORY_DAYS must be at least 1, got 0"),
        ("MBO_TARGET_MARGINAL_ROAS", "1,5", settings.target_marginal_roas, "MBO_TARGET_MARGINAL_ROAS must be a number, got '1,5'"),
        ("MBO_TARGET_MARGINAL_ROAS", "nan", settings.target_marginal_roas, "MBO_TARGET_MARGINAL_ROAS must be a finite number"),
        ("MBO_TARGET_MARGINAL_ROAS", "-1", settings.target_marginal_roas, "MBO_TARGET_MARGINAL_ROAS must be positive"),
        ("MBO_MAX_BUDGET_CHANGE", "30%", settings.max_budget_change,
         "MBO_MAX_BUDGET_CHANGE must be a number greater than 0 and at most 1 (a fraction of the budget), got '30%'"),
        ("MBO_MAX_BUDGET_CHANGE", "30", settings.max_budget_change,
         "MBO_MAX_BUDGET_CHANGE must be a number greater than 0 and at most 1 (a fraction of the budget), got '30'"),
        ("MBO_MAX_BUDGET_CHANGE", "0", settings.max_budget_change, "MBO_MAX_BUDGET_CHANGE must be a number greater than 0"),
        ("MBO_MAX_BUDGET_CHANGE", "inf", settings.max_budget_change, "got 'inf'"),
        ("MBO_PG_PORT", "5432x", settings.embedded_port, "MBO_PG_PORT must be a port number between 1 and 65535, got '5432x'"),
        ("MBO_PG_PORT", "65536", settings.embedded_port, "MBO_PG_PORT must be a port number between 1 and 65535"),
        ("MBO_REPORTING_CURRENCY", "euro", settings.reporting_currency,
         "MBO_REPORTING_CURRENCY must be a three-letter ISO 4217 code, got 'euro'"),
        ("MBO_FX_MAX_FILL_DAYS", "7; drop table x", settings.fx_max_fill_days,
         "MBO_FX_MAX_FILL_DAYS must be a whole number of days from 0 to 9999"),
        ("MBO_FX_MAX_FILL_DAYS", "10000", settings.fx_max_fill_days, "MBO_FX_MAX_FILL_DAYS must be a whole number"),
        ("MBO_META_CONVERSION_ACTION", "x' or '1", settings.meta_conversion_action,
         "MBO_META_CONVERSION_ACTION must be a Meta action type such as omni_purchase"),
        ("MBO_DATABASE_URL", "host=db password=pw", settings.external_database_url,
         "MBO_DATABASE_URL must be a postgresql:// URL"),
        ("MBO_DATABASE_URL", "mysql://u:pw@db/x", settings.external_database_url,
         "MBO_DATABASE_URL must be a postgresql:// URL, got a mysql:// URL"),
        ("MBO_DATABASE_URL", "postgresql://u:pw@db:port/x", settings.external_database_url,
         "MBO_DATABASE_URL has a port that is not a number"),
        ("MBO_DATABASE_URL", "postgresql:///mbo", settings.external_database_url, "MBO_DATABASE_URL names no host"),
        ("MBO_PLAN_MAX_AGE_HOURS", "a day", limits_from_env, "MBO_PLAN_MAX_AGE_HOURS must be a number, got 'a day'"),
        ("MBO_SANDBOX_SEED", "seven", mbo_resource_from_env, "MBO_SANDBOX_SEED must be a whole number, got 'seven'"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch, name, raw, read, message):
    monkeypatch.setenv(name, raw)
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        read()
    assert "pw" not in str(raised.value)  # a database URL's password is never repeated


def test_the_defaults_the_dbt_project_shares(monkeypatch):
    for name in ("MBO_REPORTING_CURRENCY", "MBO_FX_MAX_FILL_DAYS", "MBO_META_CONVERSION_ACTION", "MBO_PG_PORT",
                 "MBO_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert settings.reporting_currency() == "USD"
    assert settings.fx_max_fill_days() == 7
    assert settings.meta_conversion_action() == "omni_purchase"
    assert settings.embedded_port() == 54329
    assert settings.external_database_url() is None
    monkeypatch.setenv("MBO_REPORTING_CURRENCY", " eur ")
    monkeypatch.setenv("MBO_FX_MAX_FILL_DAYS", "0")
    monkeypatch.setenv("MBO_META_CONVERSION_ACTION", "offsite_conversion.fb_pixel_purchase")
    monkeypatch.setenv("MBO_DATABASE_URL", " postgres://u:p@db.example/mbo ")
    assert settings.reporting_currency() == "EUR"
    assert settings.fx_max_fill_days() == 0
    assert settings.meta_conversion_action() == "offsite_conversion.fb_pixel_purchase"
    assert settings.external_database_url() == "postgres://u:p@db.example/mbo"


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://mbo_app:s3cr%40t@127.0.0.1:54329/mbo", "postgresql://mbo_app:***@127.0.0.1:54329/mbo"),
    ("postgresql://mbo_app:p@ss@db/mbo", "postgresql://mbo_app:***@db/mbo"),
    ("postgresql://db/mbo?user=u&password=hunter22&sslmode=require", "postgresql://db/mbo?user=u&password=***&sslmode=require"),
    ("host=db user=u password='a b' dbname=mbo", "host=db user=u password=*** dbname=mbo"),
    ("postgresql://mbo_app@db/mbo", "postgresql://mbo_app@db/mbo"),
    ("https://graph.facebook.com", "https://graph.facebook.com"),
])
def test_redact_url_masks_every_password(url, shown):
    assert settings.redact_url(url) == shown


# --- config_check: every setting, checked by the reader the pipeline uses ------------------------------------

ROOT = Path(__file__).resolve().parents[1]
#: A bad value of every setting MBO parses (live-mode ones below).
BAD_VALUES = {
    "MBO_DATABASE_URL": "mysql://mbo@db/mbo",
    "MBO_HOME": "{file}",
    "DAGSTER_HOME": "{file}",
    "MBO_PG_PORT": "70000",
    "MBO_BI_ROLE": "BI Team",
    "MBO_REPORTING_CURRENCY": "US Dollar",
    "MBO_FX_RATES_CSV": "/nonexistent/eurofxref-hist.csv",
    "MBO_FX_MAX_FILL_DAYS": "-1",
    "MBO_META_CONVERSION_ACTION": "Purchase Value",
    "MBO_START_DATE": "tomorrow",
    "MBO_LOOKBACK_DAYS": "-1",
    "MBO_VOLUME_MIN_RATIO": "2",
    "MBO_VOLUME_MAX_RATIO": "0.5",
    "MBO_VOLUME_WEEKS": "0",
    "MBO_MARTS_MAX_AGE_HOURS": "0",
    "MBO_CONVERSION_SOURCE": "ga4",
    "MBO_HISTORY_DAYS": "0",
    "MBO_MAX_BUDGET_CHANGE": "1.5",
    "MBO_TARGET_MARGINAL_ROAS": "0",
    "MBO_PLAN_MAX_AGE_HOURS": "0",
    "MBO_REPORT_MAX_CAMPAIGNS": "-1",
    "MBO_ACTIVATION": "yes",
    "MBO_ALLOW_LIVE_BUDGET_CHANGES": "true",
    "MBO_APPROVAL_ABOVE_CHANGE": "-1",
    "MBO_APPROVAL_ABOVE_AMOUNT": "lots",
    "MBO_ACCOUNTS_FILE": "/nonexistent/mbo_accounts.toml",
    "MBO_MIN_DAILY_BUDGET": "-5",
    "MBO_MAX_DAILY_BUDGET": "0",
    "MBO_ACCOUNT_DAILY_CAP": "a lot",
    "MBO_COOLDOWN_HOURS": "-1",
    "MBO_PUSH_BATCH_SIZE": "1.5",
    "MBO_RESUME_AFTER_MINUTES": "soon",
    "MBO_SOURCE": "production",
    "MBO_IMPORT_DIR": "/nonexistent/imports",
    "MBO_API_MAX_ATTEMPTS": "0",
    "MBO_API_BACKOFF_SECONDS": "-1",
    "MBO_API_MAX_BACKOFF_SECONDS": "1",
    "MBO_SANDBOX_SEED": "seven",
    "MBO_SANDBOX_CAMPAIGNS": "0",
    "MBO_SANDBOX_TODAY": "2026-13-01",
    "MBO_SANDBOX_FAULTS": "pixel_break",
    "MBO_ALERT_WEBHOOK_URL": "hooks.slack.com/services/T0/B0/secret",
    "MBO_ALERT_ACTION": "pause",
    "MBO_ALERT_Z": "-3",
    "MBO_ALERT_RATIO": "1",
    "MBO_ALERT_MIN_SPEND": "some",
    "MBO_ALERT_MIN_CLICKS": "0",
    "MBO_ALERT_OVERSPEND_RATIO": "0.5",
    "MBO_ALERT_PACING_RATIO": "1",
    "MBO_ALERT_RESTATEMENT_RATIO": "0",
    "MBO_ALERT_WEEKS": "0",
    "MBO_ALERT_SCAN_DAYS": "a week",
    "MBO_ALERT_P_VALUE": "-0.1",
    "MBO_ALERT_TRACKING_FACTOR": "1",
}
LIVE_BAD_VALUES = {
    "MBO_GOOGLE_ADS_CUSTOMER_IDS": "12-34",
    "MBO_META_AD_ACCOUNT_IDS": "acct_1",
    "MBO_TIKTOK_ADVERTISER_IDS": "tt-1",
    "MBO_GA4_PROPERTY_IDS": "properties/1",
}


@pytest.fixture
def clean(monkeypatch, tmp_path):
    """No MBO or platform variable but an MBO_HOME of the test's own and a free port for the embedded server."""
    for name in list(os.environ):
        if name.startswith(("MBO_", "GOOGLE_ADS_", "META_", "TIKTOK_", "GOOGLE_APPLICATION", "DAGSTER_HOME")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MBO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MBO_PG_PORT", str(free_port()))
    (tmp_path / "a-file").write_text("")
    return tmp_path


def test_a_clean_configuration_has_no_problem(clean):
    assert config_check.check_settings() == []


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_every_setting_is_checked_with_one_line_naming_it(clean, monkeypatch, name):
    monkeypatch.setenv(name, BAD_VALUES[name].format(file=clean / "a-file"))
    problems = config_check.check_settings()
    assert len(problems) == 1, problems
    [problem] = problems
    line = str(problem)
    assert name in line and problem.fatal and "\n" not in line
    assert problem.fix or "unset it" in line  # the fix, said by the check or by the reader itself


@pytest.mark.parametrize("name", sorted(LIVE_BAD_VALUES))
def test_every_live_id_list_is_checked(clean, monkeypatch, name):
    monkeypatch.setenv("MBO_SOURCE", "live")
    monkeypatch.setenv("MBO_FX_RATES_CSV", str(clean / "a-file"))
    monkeypatch.setenv(name, LIVE_BAD_VALUES[name])
    [problem] = config_check.check_settings()
    assert problem.variable == name and problem.fix


def test_the_check_leaves_the_partitions_to_the_command(clean):
    """The check must not import what fixes the daily partitions' first day at import (defs.ingest.partitions): `mbo
    extract` and the demo record an earlier first day after the check, before they load the definitions."""
    code = ("import sys; from mbo_pipelines import config_check; assert config_check.check_settings() == []; "
            "print(sorted(m for m in sys.modules if m.startswith(('mbo_pipelines.defs.ingest.partitions', "
            "'mbo_pipelines.defs.ingest.assets', 'mbo_pipelines.definitions'))))")
    result = subprocess.run([sys.executable, "-c", code], env=dict(os.environ), capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_every_variable_the_code_reads_is_known_and_documented():
    """`mbo check` lists every MBO_* variable the code (and the dbt project) reads, and the README documents each."""
    sources = [*ROOT.glob("mbo_pipelines/**/*.py"), *ROOT.glob("optimizer/**/*.py"),
               *(p for p in ROOT.glob("dbt_project/**/*") if p.suffix in (".sql", ".yml")
                 and not {"target", "logs", "dbt_packages"} & set(p.relative_to(ROOT).parts))]
    read = {name for path in sources for name in re.findall(r"\bMBO_[A-Z0-9_]*[A-Z0-9]\b", path.read_text())}
    listed = {name for _, names in config_check.VARIABLES for name, _ in names}
    assert read - listed - config_check.OTHER_VARIABLES == set()
    readme = (ROOT / "README.md").read_text()
    assert [name for name in sorted(listed | config_check.OTHER_VARIABLES) if f"`{name}`" not in readme] == []
