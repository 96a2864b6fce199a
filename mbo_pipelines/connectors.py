"""What every platform connector answers: campaign performance per day, campaign settings, and budget writes.

The sandbox implements this for the demo; the live connectors (Google Ads,
Meta, TikTok, under ``mbo_pipelines/defs/ingest/<platform>/``) implement the
same calls against the platforms' APIs. Rows use the platform's own column
names, exactly those of its ``raw`` tables.

Budget writes come in two shapes. Every connector has ``set_daily_budget``
(one campaign, an absolute amount). A connector whose API takes many changes
in one request, and can check them without applying them (Google Ads'
``validate_only``, Meta's ``execution_options``), also has
``set_daily_budgets``; ``send_budget_changes`` picks the right one.

Every connector also keeps a receipt of its last budget write, for the
ledger: ``last_write`` (a ``WriteReceipt`` or None). Each ``set_daily_budget``
and ``set_daily_budgets`` call sets it before it returns or raises, whether
the platform accepted, refused or failed the request: the platform's request
id and a short, redacted summary of what it answered, as far as it answered
at all. A request that got no answer (a network error) leaves no request
id and the error as the response; a call that sent nothing (every change
refused before sending, a validate-only call to a platform without one)
leaves None. A call that sends several requests (one per customer or per
campaign) leaves one receipt naming them all, in the order sent.

Reads before writes can be scoped: a connector that can read some of its
accounts only (``AccountCampaignReader.fetch_campaigns_of``) lets a push read
just the accounts a batch of changes touches, so pushing N changes reads
about N campaigns instead of N times the whole platform.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from mbo_pipelines.redaction import redact

#: Longest ``WriteReceipt.response`` kept (a ledger note, not an archive of the platform's answer).
MAX_RECEIPT_RESPONSE = 500


class ConnectorError(RuntimeError):
    """A platform call failed or returned data we refuse to load."""


@dataclass(frozen=True)
class BudgetChange:
    """One campaign's new daily budget, in the account's currency units.

    ``current`` is the budget the change starts from (what the platform
    reported just before the push); connectors of platforms where several
    campaigns share one budget move that budget by the sum of the differences.
    """

    account_id: str
    campaign_id: str
    amount: Decimal
    current: Decimal | None = None


@dataclass(frozen=True)
class WriteReceipt:
    """What the platform answered to one budget write call: its request id, and a short summary of its answer.

    ``response`` is redacted (every configured secret masked) and cut to
    ``MAX_RECEIPT_RESPONSE`` characters on construction, so a receipt never
    carries a token; pass a connector's own secrets through ``WriteReceipt.of``.
    """

    request_id: str | None
    response: str | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "request_id", _clean(self.request_id))
        object.__setattr__(self, "response", _clean(self.response, MAX_RECEIPT_RESPONSE))

    @classmethod
    def of(cls, request_id: str | None, response: str | None, secrets: Sequence[str | None] = ()) -> WriteReceipt:
        """A receipt with ``secrets`` (e.g. a token not read from the environment) masked besides the usual ones."""
        extra = tuple(secrets)
        return cls(redact(request_id, extra) if request_id else request_id,
                   redact(response, extra) if response else response)

    @classmethod
    def combine(cls, receipts: Iterable[WriteReceipt | None]) -> WriteReceipt | None:
        """One receipt for several requests: their ids and answers joined in order; None when there were none."""
        kept = [r for r in receipts if r is not None]
        if len(kept) <= 1:
            return kept[0] if kept else None
        ids = [r.request_id for r in kept if r.request_id]
        answers = [r.response for r in kept if r.response]
        return cls(", ".join(ids) or None, " | ".join(answers) or None)


def _clean(text: str | None, limit: int | None = None) -> str | None:
    if text is None:
        return None
    text = redact(str(text)).strip()
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text or None


def last_write(connector: object) -> WriteReceipt | None:
    """``connector.last_write``, or None for an object that keeps no receipts (a test double, a wrapper)."""
    receipt = getattr(connector, "last_write", None)
    return receipt if isinstance(receipt, WriteReceipt) else None


@runtime_checkable
class PlatformConnector(Protocol):
    """One ad platform's read and write surface."""

    platform: str
    #: True for a real ad platform: budget writes then default to dry-run.
    is_live: bool
    #: What the platform answered to the last budget write call (module docstring); None before any.
    last_write: WriteReceipt | None

    def fetch_campaign_daily(self, start: date, end: date) -> list[dict[str, Any]]:
        """Performance rows for every campaign and every day in [start, end]."""

    def fetch_campaigns(self) -> list[dict[str, Any]]:
        """Current settings of every campaign (name, status, daily budget, currency)."""

    def set_daily_budget(self, account_id: str, campaign_id: str, amount: Decimal) -> None:
        """Set a campaign's daily budget, in the account's currency units; sets ``last_write``."""


@runtime_checkable
class BatchBudgetWriter(Protocol):
    """A connector that sends many budget changes per request, and can validate them without applying."""

    #: True when ``validate_only=True`` sends a request the platform checks but does not apply.
    supports_validate_only: bool

    def set_daily_budgets(self, changes: Sequence[BudgetChange], validate_only: bool = False) -> list[str | None]:
        """Send ``changes``; one result per change, in order: None when accepted, else the platform's reason.

        Raises ``ConnectorError`` when the request as a whole failed (nothing is known to be applied).
        Sets ``last_write`` either way.
        """


@runtime_checkable
class AccountCampaignReader(Protocol):
    """A connector that can read the campaigns of some of its accounts only."""

    def fetch_campaigns_of(self, account_ids: Collection[str]) -> list[dict[str, Any]]:
        """``fetch_campaigns()`` rows of every campaign in the accounts named (spelled as MBO spells them: Meta's
        with or without ``act_``); accounts the connector does not manage give no rows."""


def fetch_campaigns_of(connector: PlatformConnector, account_ids: Collection[str]) -> list[dict[str, Any]]:
    """The current settings of every campaign in ``account_ids``: one scoped read when the connector offers it
    (``AccountCampaignReader``), else every campaign it manages (rows of other accounts included)."""
    if isinstance(connector, AccountCampaignReader):
        return connector.fetch_campaigns_of(account_ids)
    return connector.fetch_campaigns()


def send_budget_changes(
    connector: PlatformConnector, changes: Sequence[BudgetChange], validate_only: bool = False
) -> list[str | None]:
    """Apply (or, with ``validate_only``, only validate) ``changes`` through whichever write call the connector has.

    Returns one result per change: None when accepted, else the reason. A
    connector without a validate-only request is sent nothing when
    ``validate_only`` is set: every change then counts as accepted unchecked.

    Afterwards ``connector.last_write`` is the receipt of everything this call
    sent (``WriteReceipt.combine`` of one receipt per ``set_daily_budget`` call
    when the connector writes one change at a time), or None when it sent
    nothing. For one receipt per change, pass one change per call.
    """
    _forget_last_write(connector)
    if isinstance(connector, BatchBudgetWriter):
        if validate_only and not connector.supports_validate_only:
            return [None] * len(changes)
        return connector.set_daily_budgets(changes, validate_only=validate_only)
    if validate_only:
        return [None] * len(changes)
    results: list[str | None] = []
    receipts: list[WriteReceipt | None] = []
    for change in changes:
        try:
            connector.set_daily_budget(change.account_id, change.campaign_id, change.amount)
        except Exception as exc:  # noqa: BLE001 - one campaign's failure is its own result
            results.append(f"{type(exc).__name__}: {exc}")
        else:
            results.append(None)
        receipts.append(last_write(connector))
    if hasattr(connector, "last_write"):
        connector.last_write = WriteReceipt.combine(receipts)
    return results


def _forget_last_write(connector: object) -> None:
    """Drop the previous call's receipt, so a call that sends nothing does not leave a stale one."""
    if hasattr(connector, "last_write"):
        connector.last_write = None
