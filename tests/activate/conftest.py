"""Fixtures for the activation tests.

The session database is shared with other tests, so every test uses its own
sandbox seed (its own campaigns and budget history) and uuid plan ids.
"""

from __future__ import annotations

import pytest
from activate_helpers import TODAY, remove_test_plans

from mbo_pipelines.sandbox.market import PLATFORMS
from mbo_pipelines.sandbox.platforms import SandboxMarket

# Seeds of our own: other tests use the default seed (7) and small ones.
_SEEDS = iter(range(4101, 10_000))


@pytest.fixture
def market(database_url: str) -> SandboxMarket:
    """A sandbox market of its own (a fresh seed per test), its clock fixed at TODAY."""
    return SandboxMarket(database_url, seed=next(_SEEDS), today=TODAY)


@pytest.fixture
def connectors(market: SandboxMarket) -> dict:
    return {p: market.connector(p) for p in PLATFORMS}


@pytest.fixture(autouse=True)
def _clean_activation_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests start without the operator's activation settings (an empty accounts file, not the checkout's)."""
    for name in ("MBO_ALLOW_LIVE_BUDGET_CHANGES", "MBO_MAX_BUDGET_CHANGE", "MBO_PLAN_MAX_AGE_HOURS", "MBO_ACTIVATION",
                 "MBO_APPROVAL_ABOVE_CHANGE", "MBO_APPROVAL_ABOVE_AMOUNT", "MBO_MIN_DAILY_BUDGET",
                 "MBO_MAX_DAILY_BUDGET", "MBO_ACCOUNT_DAILY_CAP", "MBO_COOLDOWN_HOURS", "MBO_KILL_SWITCH"):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path_factory.getbasetemp() / "mbo_accounts.empty.toml"
    empty.touch()
    monkeypatch.setenv("MBO_ACCOUNTS_FILE", str(empty))


@pytest.fixture(autouse=True)
def _remove_test_plans(database_url: str):
    yield
    remove_test_plans(database_url)
