"""Configuration from environment variables: defaults, and errors that name the variable."""

import re

import pytest

from mbo_pipelines import settings
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
        ("MBO_MAX_BUDGET_CHANGE", "30%", settings.max_budget_change, "MBO_MAX_BUDGET_CHANGE must be a number, got '30%'"),
        ("MBO_MAX_BUDGET_CHANGE", "30", settings.max_budget_change, "MBO_MAX_BUDGET_CHANGE must be between 0 and 1"),
        ("MBO_PLAN_MAX_AGE_HOURS", "a day", limits_from_env, "MBO_PLAN_MAX_AGE_HOURS must be a number, got 'a day'"),
        ("MBO_SANDBOX_SEED", "seven", mbo_resource_from_env, "MBO_SANDBOX_SEED must be a whole number, got 'seven'"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch, name, raw, read, message):
    monkeypatch.setenv(name, raw)
    with pytest.raises(ValueError, match=re.escape(message)):
        read()
