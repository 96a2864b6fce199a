"""An in-memory ad platform (TikTok's vocabulary) that fails and gets edited by other people on cue.

The push's property tests drive it with a script: a ``Step`` for each platform
call (every ``fetch_campaigns`` and every budget write is one), saying what
someone else does in the platform's UI just before the call, and how the call
itself fails, if it does. The script is a mapping from call number to step (the
calls not in it just work), or a function of the call number and kind (``read``
or ``write``) that returns the step, so that hypothesis can decide call by call.

It is the platform, not MBO's code: it keeps budgets and statuses, and records
every write with the budget and status in force just before it, and what the
last successful read had reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from mbo_pipelines.connectors import BudgetChange, ConnectorError, WriteReceipt

CENT = Decimal("0.01")

#: The call fails before the platform applies anything (a refused request, an HTTP 503).
ERROR_BEFORE = "error_before"
#: The platform applies the write, then the call fails (a timeout: the answer is lost).
ERROR_AFTER = "error_after"
#: The push process dies as the call starts, before the platform applies anything.
CRASH_BEFORE = "crash_before"
#: The platform applies the write, then the push process dies before it hears back.
CRASH_AFTER = "crash_after"
FAULTS = (ERROR_BEFORE, ERROR_AFTER, CRASH_BEFORE, CRASH_AFTER)

ACTIVE, PAUSED, REMOVED = "ENABLE", "DISABLE", "DELETE"
DAILY, LIFETIME = "BUDGET_MODE_DAY", "BUDGET_MODE_TOTAL"


class Crash(BaseException):
    """The push process dying in the middle of a platform call (not an ``Exception``: nothing catches it)."""


@dataclass(frozen=True)
class OtherEdit:
    """Someone else's change in the platform's UI: campaign ``campaign`` (an index, modulo the number of
    campaigns) gets its budget scaled by ``factor`` and/or its status set to ``status``."""

    campaign: int
    factor: Decimal | None = None
    status: str | None = None


@dataclass(frozen=True)
class Step:
    """What happens at one platform call: someone else's edit just before it, and the call's own fault."""

    other: OtherEdit | None = None
    fault: str | None = None


#: Call number -> step (calls not listed just work), or a function of the call number and ``read``/``write``.
Script = Mapping[int, Step] | Callable[[int, str], Step]


@dataclass
class Campaign:
    """One campaign as the platform keeps it."""

    budget: Decimal
    status: str = ACTIVE
    budget_mode: str = DAILY


@dataclass(frozen=True)
class Write:
    """One budget write the platform received (``outcome``: ``ok`` or one of ``FAULTS``)."""

    step: int
    campaign_id: str
    amount: Decimal
    #: The budget and status in force just before the write.
    before: Decimal
    status_before: str
    #: What the last successful read before the write reported (None: never read).
    read_budget: Decimal | None
    read_status: str | None
    #: Someone else changed the campaign in the instant between the caller's read and this write (the call
    #: right before this one was that read): no caller can see such an edit.
    edited_unseen: bool
    outcome: str

    @property
    def took_effect(self) -> bool:
        """True when the platform applied the write (whatever the caller heard)."""
        return self.outcome in ("ok", ERROR_AFTER, CRASH_AFTER)

    @property
    def errored(self) -> bool:
        """True when the caller did not hear a success."""
        return self.outcome != "ok"


@dataclass(frozen=True)
class Edit:
    """A change someone else made (budget or status), with the platform call it came before."""

    step: int
    campaign_id: str
    budget_before: Decimal
    budget_after: Decimal
    status_after: str

    @property
    def moved_budget(self) -> bool:
        """True when the edit changed the budget (not only the status)."""
        return self.budget_after != self.budget_before


@dataclass
class ScriptedPlatform:
    """A TikTok-style connector over in-memory campaigns, following ``script`` (see the module docstring).

    ``avoid`` maps campaign id to amounts someone else's edit never lands on (the test's target budgets:
    a hand edit that happened to set exactly MBO's number would look like MBO's write).
    """

    account_id: str
    campaigns: dict[str, Campaign]
    script: Script = field(default_factory=dict)
    avoid: Mapping[str, Decimal] = field(default_factory=dict)
    currency: str = "USD"

    platform = "tiktok_ads"
    is_live = False

    def __post_init__(self) -> None:
        self.calls = 0
        self.writes: list[Write] = []
        self.edits: list[Edit] = []
        self.failed_reads = 0
        #: Writes to campaigns the platform does not have (refused, as a real platform would).
        self.unknown_writes: list[tuple[str, str, Decimal]] = []
        self.last_write: WriteReceipt | None = None
        self._read: dict[str, tuple[Decimal, str]] = {}
        self._edited_now: set[str] = set()
        self._previous_call_read = self._unseen = False

    def heal(self) -> None:
        """From now on: no faults, and nobody else touches the campaigns."""
        self.script = {}

    # --- the connector surface -----------------------------------------------------------------

    def fetch_campaign_daily(self, start, end) -> list[dict[str, Any]]:
        """No performance data: the push never asks for it."""
        return []

    def fetch_campaigns(self) -> list[dict[str, Any]]:
        """Every campaign as TikTok's campaign/get reports it (or the scripted failure)."""
        fault = self._begin("read")
        if fault in (CRASH_BEFORE, CRASH_AFTER):
            raise Crash()
        if fault is not None:
            self.failed_reads += 1
            raise ConnectorError("HTTP 503: the platform is unavailable, try again later")
        self._read = {cid: (c.budget, c.status) for cid, c in self.campaigns.items()}
        self._previous_call_read = True
        return [{"advertiser_id": self.account_id, "campaign_id": cid, "campaign_name": f"campaign {cid}",
                 "currency": self.currency, "budget": float(c.budget), "budget_mode": c.budget_mode,
                 "operation_status": c.status} for cid, c in self.campaigns.items()]

    def set_daily_budget(self, account_id: str, campaign_id: str, amount: Decimal) -> None:
        """Set one campaign's budget (or fail as scripted)."""
        step, fault = self.calls, self._begin("write")
        self._take(step, fault, [(account_id, campaign_id, amount)])

    # --- internals ------------------------------------------------------------------------------

    def _begin(self, kind: str) -> str | None:
        """Count a call, apply someone else's edit scripted before it, and return its fault."""
        step = self.calls
        self.calls += 1
        self._unseen = self._previous_call_read
        self._previous_call_read = False
        self._edited_now = set()
        scripted = self.script(step, kind) if callable(self.script) else self.script.get(step, Step())
        if scripted.other is not None:
            self._edit(step, scripted.other)
        return scripted.fault

    def _edit(self, step: int, edit: OtherEdit) -> None:
        cid = sorted(self.campaigns)[edit.campaign % len(self.campaigns)]
        campaign = self.campaigns[cid]
        before = campaign.budget
        if edit.factor is not None:
            budget = max(CENT, (before * edit.factor).quantize(CENT, rounding=ROUND_HALF_UP))
            if budget == self.avoid.get(cid):
                budget += CENT
            campaign.budget = budget
        if edit.status is not None:
            campaign.status = edit.status
        self._edited_now.add(cid)
        self.edits.append(Edit(step, cid, before, campaign.budget, campaign.status))

    def _take(self, step: int, fault: str | None, changes: list[tuple[str, str, Decimal]]) -> None:
        """Record and (unless the fault comes first) apply the writes of one call."""
        outcome = fault or "ok"
        unknown = [c for c in changes if c[0] != self.account_id or c[1] not in self.campaigns]
        if unknown:
            self.unknown_writes += unknown
            raise ConnectorError(f"campaign not found: {unknown}")
        for account_id, campaign_id, amount in changes:
            campaign = self.campaigns[campaign_id]
            read = self._read.get(campaign_id)
            self.writes.append(Write(step, campaign_id, Decimal(amount), campaign.budget, campaign.status,
                                     read[0] if read else None, read[1] if read else None,
                                     self._unseen and campaign_id in self._edited_now, outcome))
        if fault in (ERROR_BEFORE, CRASH_BEFORE):
            self.last_write = WriteReceipt(f"req-{step}", "HTTP 503") if fault == ERROR_BEFORE else None
            if fault == CRASH_BEFORE:
                raise Crash()
            raise ConnectorError("HTTP 503: the platform is unavailable, try again later")
        for _, campaign_id, amount in changes:
            self.campaigns[campaign_id].budget = Decimal(amount)
        self.last_write = WriteReceipt(f"req-{step}", "OK" if fault is None else None)
        if fault == CRASH_AFTER:
            raise Crash()
        if fault == ERROR_AFTER:
            raise TimeoutError("read timed out")


@dataclass
class ScriptedBatchPlatform(ScriptedPlatform):
    """The same platform, taking every change of a push in one request (as Google Ads and Meta do)."""

    supports_validate_only = False

    def set_daily_budgets(self, changes: Sequence[BudgetChange], validate_only: bool = False) -> list[str | None]:
        """Apply ``changes`` in one request (or fail as scripted, for the whole request); ``validate_only``
        checks nothing and applies nothing (this platform says it has no such request)."""
        if validate_only:
            return [None] * len(changes)
        step, fault = self.calls, self._begin("write")
        self._take(step, fault, [(c.account_id, c.campaign_id, c.amount) for c in changes])
        return [None] * len(changes)
