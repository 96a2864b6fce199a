"""What a push may do for each account: its activation mode, guardrail limits and approval thresholds.

One place resolves them, from (strongest first): the kill switch (``MBO_KILL_SWITCH``), the push's own
``dry_run`` argument, the accounts file (``account_settings``), the environment, the built-in defaults.
Live platforms need an explicit choice to write: an account or environment mode that writes, or
``MBO_ALLOW_LIVE_BUDGET_CHANGES=1``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mbo_pipelines.defs.activate import guardrails, modes
from mbo_pipelines.defs.activate.account_settings import (
    AccountSettings,
    AccountSettingsBook,
    kill_switch_on,
    load_account_settings,
)

ALLOW_LIVE_ENV = modes.ALLOW_LIVE_ENV


class LiveChangesNotAllowed(RuntimeError):
    """Asked to change budgets on a live platform without MBO_ALLOW_LIVE_BUDGET_CHANGES=1."""


@dataclass(frozen=True)
class Policy:
    """Every account's mode, limits and approval thresholds for one push."""

    book: AccountSettingsBook
    live_platforms: frozenset[str]
    #: The push's ``dry_run`` argument: None (the settings decide), True (rehearse all), False (apply all).
    dry_run: bool | None = None
    #: The push's ``max_change`` argument, which wins over every account's.
    max_change: float | None = None
    #: Why every write is stopped, or None.
    kill_switch: str | None = None

    def settings(self, platform: str, account_id: str) -> AccountSettings:
        """The account's settings (its section, else its platform's, else the defaults)."""
        return self.book.for_account(platform, account_id)

    def mode(self, platform: str, account_id: str | None = None) -> str:
        """The account's mode (``account_id`` None: the platform's, from its section or the defaults)."""
        chosen = (self.settings(platform, account_id) if account_id is not None
                  else self.book.platforms.get(platform, self.book.defaults))
        return self._override(platform, chosen.activation_mode(platform in self.live_platforms))

    def _override(self, platform: str, mode: str) -> str:
        if self.kill_switch:
            return modes.OFF
        if self.dry_run is True:
            return modes.DRY_RUN
        if self.dry_run is False and mode in (modes.DRY_RUN, modes.OFF):
            if platform in self.live_platforms and not modes.live_changes_allowed():
                raise LiveChangesNotAllowed(
                    f"dry_run=False asks to change live budgets on {platform}, but {ALLOW_LIVE_ENV} is not 1"
                )
            return modes.AUTO
        return mode

    def limits(self, platform: str, account_id: str, base: guardrails.Limits) -> guardrails.Limits:
        """``base`` with the account's maximum change (unless the push was given one)."""
        if self.max_change is not None:
            return base
        return dataclasses.replace(base, max_change=self.settings(platform, account_id).max_change)

    def held(self, rec: Mapping[str, Any]) -> str | None:
        """Why a recommendation (a ``marts.budget_recommendations`` row) must wait for a person, or None."""
        mode = self.mode(rec["platform"], rec["account_id"])
        if mode == modes.APPROVE:
            return "the account's activation mode is approve"
        if mode != modes.AUTO or not guardrails.is_finite_number(rec["recommended_daily_budget_reporting"]):
            return None
        if rec.get("low_confidence_reason"):
            return f"low confidence: {rec['low_confidence_reason']}"
        thresholds = self.settings(rec["platform"], rec["account_id"]).approval_thresholds()
        return thresholds.holds(rec["current_daily_budget"], rec["recommended_daily_budget"],
                                float(rec["current_daily_budget_reporting"]),
                                float(rec["recommended_daily_budget_reporting"]))


def load_policy(live_platforms: set[str] | frozenset[str], dry_run: bool | None = None,
                max_change: float | None = None) -> Policy:
    """The policy of one push: the accounts file (``MBO_ACCOUNTS_FILE`` or ``mbo_accounts.toml``) over the
    environment; raises ``LiveChangesNotAllowed`` when ``dry_run=False`` would write to a live platform
    without permission, and ValueError for a bad accounts file."""
    policy = Policy(load_account_settings(), frozenset(live_platforms), dry_run, max_change, kill_switch_on())
    for platform in live_platforms:
        policy.mode(platform)  # the live-permission check, before anything is recorded
    return policy
