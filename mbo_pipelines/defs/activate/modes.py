"""Activation modes and approval thresholds: what a push may do on each platform, from the environment.

``MBO_ACTIVATION``:

- ``off``: the push records and sends nothing (a kill switch);
- ``dry_run``: a rehearsal (``activation.budget_rehearsals``), nothing written;
- ``approve``: every change waits in the ledger as ``pending_approval`` until ``mbo approve``;
- ``auto``: changes are applied, except those above an approval threshold, which wait.

Unset, live platforms rehearse (``dry_run``) and the sandbox applies (``auto``);
``MBO_ALLOW_LIVE_BUDGET_CHANGES=1`` means ``auto`` for live platforms too.
Thresholds (``auto`` mode): ``MBO_APPROVAL_ABOVE_CHANGE`` (a relative change,
e.g. 0.2) and ``MBO_APPROVAL_ABOVE_AMOUNT`` (a daily amount in the reporting
currency); a change above either waits for approval. Unset: no threshold.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal

from mbo_pipelines import settings

OFF, DRY_RUN, APPROVE, AUTO = "off", "dry_run", "approve", "auto"
MODES = (OFF, DRY_RUN, APPROVE, AUTO)
ALLOW_LIVE_ENV = "MBO_ALLOW_LIVE_BUDGET_CHANGES"


def configured_mode() -> str | None:
    """``MBO_ACTIVATION``, or None when unset; ValueError naming the variable for anything else."""
    value = os.environ.get("MBO_ACTIVATION", "").strip().lower()
    if not value:
        return None
    if value not in MODES:
        raise ValueError(f"MBO_ACTIVATION must be one of {', '.join(MODES)}, got {value!r}")
    return value


def live_changes_allowed() -> bool:
    """``MBO_ALLOW_LIVE_BUDGET_CHANGES=1`` (exactly 1)."""
    return os.environ.get(ALLOW_LIVE_ENV, "").strip() == "1"


def platform_mode(is_live: bool) -> str:
    """The mode of one platform: ``MBO_ACTIVATION`` if set, else auto for the sandbox, dry_run for live ones
    (auto with ``MBO_ALLOW_LIVE_BUDGET_CHANGES=1``)."""
    mode = configured_mode()
    if mode is not None:
        return mode
    return AUTO if not is_live or live_changes_allowed() else DRY_RUN


@dataclass(frozen=True)
class ApprovalThresholds:
    """Above either, a change in ``auto`` mode waits for approval (None: no such threshold)."""

    relative_change: float | None = None
    reporting_amount: float | None = None

    def holds(self, old: Decimal, new: Decimal, old_reporting: float, new_reporting: float) -> str | None:
        """Why a change must wait for approval, or None."""
        if self.relative_change is not None and old > 0:
            change = float(new / old - 1)
            if abs(change) > self.relative_change:
                return f"a {change:+.1%} change is above the approval threshold of ±{self.relative_change:.0%}"
        if self.reporting_amount is not None:
            delta = new_reporting - old_reporting
            if abs(delta) > self.reporting_amount:
                return (f"a change of {delta:+,.2f} a day (reporting currency) is above the approval threshold of "
                        f"{self.reporting_amount:,.2f}")
        return None


def approval_thresholds() -> ApprovalThresholds:
    """``MBO_APPROVAL_ABOVE_CHANGE`` and ``MBO_APPROVAL_ABOVE_AMOUNT``."""
    relative = os.environ.get("MBO_APPROVAL_ABOVE_CHANGE", "").strip()
    amount = os.environ.get("MBO_APPROVAL_ABOVE_AMOUNT", "").strip()
    thresholds = ApprovalThresholds(
        relative_change=settings.env_float("MBO_APPROVAL_ABOVE_CHANGE", 0.0) if relative else None,
        reporting_amount=settings.env_float("MBO_APPROVAL_ABOVE_AMOUNT", 0.0) if amount else None,
    )
    for name, value in (("MBO_APPROVAL_ABOVE_CHANGE", thresholds.relative_change),
                        ("MBO_APPROVAL_ABOVE_AMOUNT", thresholds.reporting_amount)):
        if value is not None and value < 0:
            raise ValueError(f"{name} must not be negative, got {value}")
    return thresholds
