"""Per-account activation settings: the TOML file, its layering over the environment, its errors, the kill switch."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from mbo_pipelines import settings
from mbo_pipelines.defs.activate import modes
from mbo_pipelines.defs.activate.account_settings import (
    AccountSettings,
    accounts_file,
    env_defaults,
    kill_switch_on,
    load_account_settings,
)

_ENV = ("MBO_ACCOUNTS_FILE", "MBO_KILL_SWITCH", "MBO_ACTIVATION", "MBO_ALLOW_LIVE_BUDGET_CHANGES",
        "MBO_MAX_BUDGET_CHANGE", "MBO_APPROVAL_ABOVE_CHANGE", "MBO_APPROVAL_ABOVE_AMOUNT", "MBO_MIN_DAILY_BUDGET",
        "MBO_MAX_DAILY_BUDGET", "MBO_ACCOUNT_DAILY_CAP", "MBO_COOLDOWN_HOURS")


@pytest.fixture(autouse=True)
def _no_activation_env(monkeypatch):
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _remove_test_plans():
    """These tests never touch a database: replace the package's plan cleanup (which needs one) with nothing."""
    yield


def write(tmp_path: Path, text: str, name: str = "accounts_settings_test.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_each_setting_comes_from_the_narrowest_section_that_sets_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MBO_ACTIVATION", "dry_run")
    monkeypatch.setenv("MBO_MAX_BUDGET_CHANGE", "0.25")
    monkeypatch.setenv("MBO_COOLDOWN_HOURS", "2")
    monkeypatch.setenv("MBO_MIN_DAILY_BUDGET", "3")
    monkeypatch.setenv("MBO_APPROVAL_ABOVE_AMOUNT", "250")
    path = write(tmp_path, """
[defaults]
max_change = 0.2
[platforms.meta_ads]
cooldown_hours = 4
max_daily_budget = 800
[accounts."meta_ads/act_100200300"]
mode = "approve"
max_daily_budget = 500
daily_cap = "2000.50"
[accounts."google_ads/1234567890"]
min_daily_budget = 7
""")
    book = load_account_settings(path)
    assert book.source == path

    account = book.for_account("meta_ads", "act_100200300")
    assert account == AccountSettings(mode="approve", max_change=0.2, min_daily_budget=Decimal("3"),
                                      max_daily_budget=Decimal("500"), daily_cap=Decimal("2000.50"),
                                      cooldown_hours=4.0, approval_above_amount=250.0)
    assert account.sections == ("environment", "defaults", "platforms.meta_ads", 'accounts."meta_ads/act_100200300"')
    # Another Meta account: the platform section over the defaults over the environment.
    other_meta = book.for_account("meta_ads", "act_999")
    assert (other_meta.mode, other_meta.max_change, other_meta.cooldown_hours, other_meta.max_daily_budget,
            other_meta.daily_cap) == ("dry_run", 0.2, 4.0, Decimal("800"), None)
    # An account of a platform without a section: its own section, else the defaults.
    google = book.for_account("google_ads", "1234567890")
    assert (google.min_daily_budget, google.cooldown_hours, google.max_daily_budget) == (Decimal("7"), 2.0, None)
    assert book.for_account("tiktok_ads", "7100000000001") == book.defaults
    assert book.defaults == AccountSettings(mode="dry_run", max_change=0.2, min_daily_budget=Decimal("3"),
                                            cooldown_hours=2.0, approval_above_amount=250.0)


def test_without_file_or_environment_the_builtin_defaults_apply(tmp_path):
    book = load_account_settings(write(tmp_path, ""))
    assert book.for_account("google_ads", "1234567890") == AccountSettings()
    assert AccountSettings() == AccountSettings(mode=None, max_change=0.30, min_daily_budget=None, max_daily_budget=None,
                                                daily_cap=None, cooldown_hours=0.0, approval_above_change=None,
                                                approval_above_amount=None)
    assert env_defaults() == AccountSettings()


def test_the_file_is_the_variable_else_the_project_one_else_none(tmp_path, monkeypatch):
    root = tmp_path / "project"
    root.mkdir()
    assert accounts_file(root) is None
    (root / "mbo_accounts.toml").write_text('[defaults]\nmode = "approve"\n')
    assert accounts_file(root) == root / "mbo_accounts.toml"

    configured = write(tmp_path, '[defaults]\nmode = "off"\n', "accounts_settings_env.toml")
    monkeypatch.setenv("MBO_ACCOUNTS_FILE", str(configured))
    assert accounts_file(root) == configured
    book = load_account_settings()
    assert book.source == configured and book.for_account("meta_ads", "act_1").mode == "off"

    monkeypatch.setenv("MBO_ACCOUNTS_FILE", str(tmp_path / "missing.toml"))
    with pytest.raises(ValueError, match=r"MBO_ACCOUNTS_FILE is '.*missing\.toml', which is not a file"):
        accounts_file(root)


def test_account_ids_are_matched_as_the_platforms_write_them(tmp_path):
    book = load_account_settings(write(tmp_path, """
[accounts."meta_ads/100200300"]
mode = "approve"
[accounts."google_ads/123-456-7890"]
mode = "off"
[accounts."linkedin_ads/urn:li:sponsoredAccount:42"]
mode = "dry_run"
"""))
    assert book.for_account("meta_ads", "act_100200300").mode == "approve"
    assert book.for_account("meta_ads", "100200300").mode == "approve"
    assert book.for_account("google_ads", "1234567890").mode == "off"
    assert book.for_account("linkedin_ads", "urn:li:sponsoredAccount:42").mode == "dry_run"
    assert book.for_account("google_ads", "1234567891").mode is None


def test_none_removes_a_limit_set_more_broadly_and_floats_are_read_as_written(tmp_path, monkeypatch):
    monkeypatch.setenv("MBO_MAX_DAILY_BUDGET", "500")
    monkeypatch.setenv("MBO_APPROVAL_ABOVE_CHANGE", "0.2")
    book = load_account_settings(write(tmp_path, """
[accounts."tiktok_ads/7100000000001"]
max_daily_budget = "none"
approval_above_change = "None"
min_daily_budget = 0.1
"""))
    account = book.for_account("tiktok_ads", "7100000000001")
    assert account.max_daily_budget is None and account.approval_above_change is None
    assert account.min_daily_budget == Decimal("0.1")  # not 0.1000000000000000055511151231257827
    assert book.defaults.max_daily_budget == Decimal("500")


def test_the_example_file_loads_as_documented():
    book = load_account_settings(settings.PROJECT_ROOT / "mbo_accounts.example.toml")
    google = book.for_account("google_ads", "1234567890")
    assert (google.mode, google.min_daily_budget, google.max_daily_budget, google.daily_cap, google.cooldown_hours) == (
        "approve", Decimal("5"), Decimal("500"), Decimal("2000"), 6.0)
    meta = book.for_account("meta_ads", "act_100200300")
    assert (meta.mode, meta.approval_above_change, meta.approval_above_amount) == ("auto", 0.2, 100.0)
    assert book.for_account("tiktok_ads", "7100000000002").min_daily_budget == Decimal("60")


@pytest.mark.parametrize(("text", "message"), [
    ('[accounts."google_ads/1234567890"]\nmax_budget = 5\n',
     r'\[accounts\."google_ads/1234567890"\] has an unknown key \'max_budget\'; the keys allowed are mode, max_change, '
     r'min_daily_budget, max_daily_budget, daily_cap, cooldown_hours, approval_above_change, approval_above_amount'),
    ('[platforms.meta_ads]\nmode = "yolo"\n',
     r"\[platforms\.meta_ads\] mode = 'yolo': must be one of 'off', 'dry_run', 'approve', 'auto'"),
    ('[defaults]\nmin_daily_budget = -5\n',
     r"\[defaults\] min_daily_budget = -5: must be an amount of at least 0, such as 500 or \"12\.50\""),
    ('[defaults]\ndaily_cap = "lots"\n', r"\[defaults\] daily_cap = 'lots': must be an amount of at least 0"),
    ('[defaults]\ncooldown_hours = -1\n', r"\[defaults\] cooldown_hours = -1: must be a number of at least 0"),
    ('[defaults]\nmax_change = 30\n', r"\[defaults\] max_change = 30: must be a fraction in \(0, 1\]"),
    ('[defaults]\nmax_daily_budget = 0\n', r"\[defaults\] max_daily_budget = 0: must be an amount greater than 0"),
    ('[defaults]\napproval_above_amount = true\n', r"\[defaults\] approval_above_amount = True: must be a number"),
    ('[accounts."google_ads/1"]\nmin_daily_budget = 50\nmax_daily_budget = 10\n',
     r'\[accounts\."google_ads/1"\]: \'1\' is not a 10-digit customer id, dashes allowed'),
    ('[accounts."google_ads/1234567890"]\nmin_daily_budget = 50\nmax_daily_budget = 10\n',
     r'\[accounts\."google_ads/1234567890"\] min_daily_budget, max_daily_budget: min_daily_budget 50 is above '
     r'max_daily_budget 10'),
    # The minimum of the account and the maximum of its platform disagree.
    ('[platforms.google_ads]\nmax_daily_budget = 10\n[accounts."google_ads/1234567890"]\nmin_daily_budget = 50\n',
     r'\[accounts\."google_ads/1234567890"\] min_daily_budget: min_daily_budget 50 is above max_daily_budget 10 '
     r'\(with the values inherited from environment, platforms\.google_ads\)'),
    ('[accounts.google_ads.1234567890]\nmode = "off"\n',
     r'\[accounts\."google_ads"\] is not an account key; write accounts as \[accounts\."<platform>/<account id>"\]'),
    ('[accounts."1234567890"]\nmode = "off"\n', r'\[accounts\."1234567890"\] is not an account key'),
    ('[accounts."Google Ads/1234567890"]\nmode = "off"\n', r'\[accounts\."Google Ads/1234567890"\] is not an account key'),
    ('[accounts."meta_ads/act_1"]\nmode = "off"\n[accounts."meta_ads/1"]\nmode = "auto"\n',
     r'\[accounts\."meta_ads/1"\] is the same account as another section \(meta_ads/act_1\)'),
    ('[platforms."Meta Ads"]\nmode = "off"\n', r"\[platforms\.Meta Ads\]: 'Meta Ads' is not a platform name"),
    ('[account."google_ads/1234567890"]\nmode = "off"\n',
     r'unknown section \[account\]; the file holds only \[defaults\], \[platforms\.<platform>\] and '
     r'\[accounts\."<platform>/<account id>"\]'),
    ('accounts = 3\n', r"\[accounts\] must be a table of sections"),
    ('[defaults\nmode = "off"\n', r"not valid TOML \(.*line 1.*\); see mbo_accounts\.example\.toml"),
])
def test_mistakes_in_the_file_name_the_file_the_section_and_the_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ": " + message):
        load_account_settings(path)


@pytest.mark.parametrize(("env", "message"), [
    ({"MBO_MIN_DAILY_BUDGET": "-1"}, "MBO_MIN_DAILY_BUDGET must be an amount of money of at least 0, such as 12.50, got '-1'"),
    ({"MBO_ACCOUNT_DAILY_CAP": "1,000"}, "MBO_ACCOUNT_DAILY_CAP must be an amount of money of at least 0"),
    ({"MBO_MAX_DAILY_BUDGET": "NaN"}, "MBO_MAX_DAILY_BUDGET must be an amount of money of at least 0"),
    ({"MBO_MAX_DAILY_BUDGET": "0"}, "MBO_MAX_DAILY_BUDGET must be greater than 0 (unset it for no maximum)"),
    ({"MBO_MIN_DAILY_BUDGET": "50", "MBO_MAX_DAILY_BUDGET": "10"},
     "MBO_MIN_DAILY_BUDGET (50) is above MBO_MAX_DAILY_BUDGET (10)"),
    ({"MBO_COOLDOWN_HOURS": "-2"}, "MBO_COOLDOWN_HOURS must be a number of hours of at least 0, got -2.0"),
    ({"MBO_COOLDOWN_HOURS": "six"}, "MBO_COOLDOWN_HOURS must be a number, got 'six'"),
    ({"MBO_ACTIVATION": "yes"}, "MBO_ACTIVATION must be one of off, dry_run, approve, auto, got 'yes'"),
])
def test_bad_environment_defaults_name_the_variable(monkeypatch, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=re.escape(message)):
        env_defaults()


def test_settings_built_in_code_are_checked_too():
    with pytest.raises(ValueError, match=r"min_daily_budget 9 is above max_daily_budget 5"):
        AccountSettings(min_daily_budget=Decimal(9), max_daily_budget=Decimal(5))
    with pytest.raises(ValueError, match=r"mode must be one of off, dry_run, approve, auto, got 'on'"):
        AccountSettings(mode="on")
    with pytest.raises(ValueError, match=r"daily_cap must be an amount of at least 0, got -1"):
        AccountSettings(daily_cap=Decimal(-1))


def test_an_account_without_a_mode_keeps_the_platform_default(monkeypatch):
    unset = AccountSettings()
    assert (unset.activation_mode(is_live=True), unset.activation_mode(is_live=False)) == (modes.DRY_RUN, modes.AUTO)
    monkeypatch.setenv("MBO_ALLOW_LIVE_BUDGET_CHANGES", "1")
    assert unset.activation_mode(is_live=True) == modes.AUTO
    assert AccountSettings(mode="approve").activation_mode(is_live=False) == modes.APPROVE


def test_approval_thresholds_of_an_account():
    thresholds = AccountSettings(approval_above_change=0.2, approval_above_amount=100.0).approval_thresholds()
    assert thresholds.holds(Decimal(100), Decimal(119), 100.0, 119.0) is None
    assert "above the approval threshold of ±20%" in thresholds.holds(Decimal(100), Decimal(125), 100.0, 125.0)
    assert "above the approval threshold of 100.00" in thresholds.holds(Decimal(1000), Decimal(1150), 1000.0, 1150.0)
    assert AccountSettings().approval_thresholds().holds(Decimal(1), Decimal(100), 1.0, 100.0) is None


@pytest.mark.parametrize(("raw", "on"), [
    ("", False), ("0", False), ("false", False), (" OFF ", False), ("no", False),
    ("1", True), ("true", True), ("yes", True), ("stop", True),
])
def test_kill_switch(monkeypatch, raw, on):
    monkeypatch.setenv("MBO_KILL_SWITCH", raw)
    reason = kill_switch_on()
    assert (reason is not None) == on
    if on:
        assert reason.startswith(f"kill_switch: MBO_KILL_SWITCH={raw.strip()} stops every budget write")


def test_kill_switch_is_off_when_unset():
    assert kill_switch_on() is None
