"""The Google Ads connector: campaign performance and settings through GAQL streams, budget writes in batches.

Built from the environment by ``GoogleAdsConnector.from_env()``:

- ``GOOGLE_ADS_DEVELOPER_TOKEN``, ``GOOGLE_ADS_CLIENT_ID``, ``GOOGLE_ADS_CLIENT_SECRET``,
  ``GOOGLE_ADS_REFRESH_TOKEN`` (the SDK's own variables; OAuth ones are not needed
  for a loopback endpoint), ``GOOGLE_ADS_LOGIN_CUSTOMER_ID`` (a manager account, optional);
- ``MBO_GOOGLE_ADS_CUSTOMER_IDS``: the customers to read and write (``123-456-7890, ...``);
- ``MBO_GOOGLE_ADS_ENDPOINT``: ``host:port`` of the API (default ``googleads.googleapis.com:443``);
  on a loopback address the connector talks plaintext gRPC without OAuth (the tests' fake).

Every call goes through ``call_with_retries``: RESOURCE_EXHAUSTED (after the
delay Google asks for), INTERNAL and UNAVAILABLE are tried again. A stream is
collected whole before any row is made of it, so one that breaks mid-way is
read again from the start, never half-loaded.

Budget writes leave ``last_write`` (``mbo_pipelines.connectors.WriteReceipt``):
the ``request-id`` of each customer's ``MutateCampaignBudgets`` call (read
from the response metadata, success or failure) and what Google answered:
the results' resource names and the partial-failure message, or the error.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from google.ads.googleads.v26.resources.types.campaign_budget import CampaignBudget
from google.ads.googleads.v26.services.types.campaign_budget_service import (
    CampaignBudgetOperation,
    MutateCampaignBudgetsRequest,
)
from google.auth.credentials import AnonymousCredentials
from google.oauth2.credentials import Credentials as OAuthCredentials
from google.protobuf import field_mask_pb2

from mbo_pipelines.connectors import BudgetChange, ConnectorError, WriteReceipt
from mbo_pipelines.defs.ingest.google_ads import budgets, failures, queries
from mbo_pipelines.defs.ingest.google_ads.services import DEFAULT_ENDPOINT, ServiceFactory
from mbo_pipelines.defs.ingest.retrying import call_with_retries
from mbo_pipelines.platform_setup import google_customer_ids, is_loopback_endpoint
from mbo_pipelines.redaction import redact

PLATFORM = "google_ads"
OAUTH_VARIABLES = ("GOOGLE_ADS_CLIENT_ID", "GOOGLE_ADS_CLIENT_SECRET", "GOOGLE_ADS_REFRESH_TOKEN")
SECRET_VARIABLES = ("GOOGLE_ADS_DEVELOPER_TOKEN", "GOOGLE_ADS_CLIENT_SECRET", "GOOGLE_ADS_REFRESH_TOKEN")
# The token endpoint the SDK's installed-app credentials use.
_TOKEN_URI = "https://accounts.google.com/o/oauth2/token"
# Generous: a stream of a large account's year is long, but a hung call must end.
STREAM_TIMEOUT_SECONDS = 3600.0
MUTATE_TIMEOUT_SECONDS = 300.0
T = TypeVar("T")


class GoogleAdsConnector:
    """Reads campaigns and daily performance of ``customer_ids`` and writes their daily budgets."""

    platform = PLATFORM
    is_live = True
    supports_validate_only = True

    def __init__(self, services: ServiceFactory, customer_ids: Sequence[str], log: Any = None,
                 secrets: Sequence[str] = ()):
        self._services = services
        self.customer_ids = tuple(customer_ids)
        self._log = log or logging.getLogger(__name__)
        # Masked in every message besides the environment's secrets (``env`` need not be os.environ).
        self._secrets = tuple(secrets)
        # customer -> campaign id -> budget, from the last campaigns read (kept current by our writes).
        self._budgets: dict[str, dict[str, budgets.Budget]] = {}
        #: What Google answered to the last budget write call (``mbo_pipelines.connectors``).
        self.last_write: WriteReceipt | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, log: Any = None) -> GoogleAdsConnector:
        """The connector configured by the ``GOOGLE_ADS_*`` and ``MBO_GOOGLE_ADS_*`` variables (module docstring)."""
        env = os.environ if env is None else env

        def value(name: str) -> str:
            return (env.get(name) or "").strip()

        endpoint = value("MBO_GOOGLE_ADS_ENDPOINT") or DEFAULT_ENDPOINT
        plaintext = is_loopback_endpoint(endpoint)
        required = ("GOOGLE_ADS_DEVELOPER_TOKEN", *(() if plaintext else OAUTH_VARIABLES))
        missing = [name for name in required if not value(name)]
        try:
            customers = google_customer_ids(value("MBO_GOOGLE_ADS_CUSTOMER_IDS"))
        except ValueError as exc:
            raise ConnectorError(f"{PLATFORM}: {exc}") from None
        if not customers:
            missing.insert(0, "MBO_GOOGLE_ADS_CUSTOMER_IDS")
        if missing:
            raise ConnectorError(f"{PLATFORM}: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set; "
                                 f"set {'it' if len(missing) == 1 else 'them'} (see `mbo platforms`)")
        if plaintext:
            credentials = AnonymousCredentials()
        else:
            credentials = OAuthCredentials(None, refresh_token=value("GOOGLE_ADS_REFRESH_TOKEN"),
                                           client_id=value("GOOGLE_ADS_CLIENT_ID"),
                                           client_secret=value("GOOGLE_ADS_CLIENT_SECRET"), token_uri=_TOKEN_URI)
        secrets = tuple(value(name) for name in SECRET_VARIABLES)
        services = ServiceFactory(endpoint=endpoint, credentials=credentials, secrets=secrets,
                                  developer_token=value("GOOGLE_ADS_DEVELOPER_TOKEN"),
                                  login_customer_id=value("GOOGLE_ADS_LOGIN_CUSTOMER_ID").replace("-", "") or None,
                                  plaintext=plaintext)
        return cls(services, customers, log=log, secrets=secrets)

    def close(self) -> None:
        """Close the gRPC channel."""
        self._services.close()

    def __enter__(self) -> GoogleAdsConnector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- reads -------------------------------------------------------------------------------

    def fetch_campaign_daily(self, start: date, end: date) -> list[dict[str, Any]]:
        """``raw.google_ads_campaign_daily`` rows for every campaign and day in [start, end], every customer."""
        rows: list[dict[str, Any]] = []
        for customer in self.customer_ids:
            what = f"{PLATFORM} customer {customer}: reading campaign performance {start}..{end}"
            batches = self._stream(customer, queries.daily_query(start, end), what)
            rows += self._parse(customer, batches, what, lambda row: queries.daily_row(customer, row, start, end))
        return rows

    def fetch_campaigns(self) -> list[dict[str, Any]]:
        """``raw.google_ads_campaigns`` rows: every campaign (removed ones too) with its budget."""
        return self.fetch_campaigns_of(self.customer_ids)

    def fetch_campaigns_of(self, account_ids: Collection[str]) -> list[dict[str, Any]]:
        """``fetch_campaigns()`` of the configured customers among ``account_ids`` (with or without dashes)."""
        wanted = {str(a).replace("-", "") for a in account_ids}
        rows: list[dict[str, Any]] = []
        for customer in self.customer_ids:
            if customer in wanted:
                rows += self._campaigns(customer)
        return rows

    def _campaigns(self, customer: str) -> list[dict[str, Any]]:
        what = f"{PLATFORM} customer {customer}: reading campaigns"
        batches = self._stream(customer, queries.campaigns_query(), what)
        parsed = self._parse(customer, batches, what, lambda row: queries.campaign_row(customer, row))
        rows = [r for r in parsed if r is not None]
        if len(rows) < len(parsed):
            self._log.warning(f"{what}: {len(parsed) - len(rows)} campaign(s) without a daily budget amount skipped "
                              f"(MBO sets daily budgets only)")
        self._budgets[customer] = {
            r["campaign_id"]: budgets.Budget(r["campaign_budget_id"], r["campaign_budget_amount_micros"],
                                             r["campaign_budget_explicitly_shared"],
                                             r["campaign_budget_reference_count"], r["customer_currency_code"])
            for r in rows
        }
        return rows

    def _stream(self, customer: str, query: str, what: str) -> list:
        """Every response of one search stream; a stream that fails part-way is read again from the start."""
        service = self._services.get("GoogleAdsService")
        return self._call(what, lambda: list(service.search_stream(customer_id=customer, query=query,
                                                                   timeout=STREAM_TIMEOUT_SECONDS)))

    def _parse(self, customer: str, batches: list, what: str, make: Callable[[Any], T]) -> list[T]:
        out: list[T] = []
        for batch in batches:
            for row in batch.results:
                try:
                    out.append(make(row))
                except queries.MalformedRow as exc:
                    raise ConnectorError(
                        f"{what}: Google Ads returned a malformed row (request id {batch.request_id or 'unknown'}): "
                        f"{redact(str(exc), self._secrets)}; nothing was loaded for customer {customer}. Run again; if it "
                        f"persists, report the request id to Google Ads support") from None
        return out

    # --- writes ------------------------------------------------------------------------------

    def set_daily_budget(self, account_id: str, campaign_id: str, amount: Decimal) -> None:
        """Set one campaign's daily budget (currency units); ConnectorError when Google Ads refuses it."""
        error = self.set_daily_budgets([BudgetChange(account_id, campaign_id, Decimal(str(amount)))])[0]
        if error:
            raise ConnectorError(f"{PLATFORM} customer {account_id} campaign {campaign_id}: "
                                 f"budget change to {amount} refused: {error}")

    def set_daily_budgets(self, changes: Sequence[BudgetChange], validate_only: bool = False) -> list[str | None]:
        """One ``MutateCampaignBudgets`` request per customer (partial failure on; ``validate_only`` checks
        without applying). One result per change: None when accepted, else Google's reason.

        ConnectorError when no customer's request went through (nothing is known to be applied).
        Sets ``last_write`` to the receipts of the requests sent, one per customer, in order.
        """
        receipts: list[WriteReceipt] = []
        try:
            return self._write_all(changes, validate_only, receipts)
        finally:
            self.last_write = WriteReceipt.combine(receipts)

    def _write_all(self, changes: Sequence[BudgetChange], validate_only: bool,
                   receipts: list[WriteReceipt]) -> list[str | None]:
        results: list[str | None] = [None] * len(changes)
        by_customer: dict[str, list[int]] = {}
        for i, change in enumerate(changes):
            by_customer.setdefault(str(change.account_id).replace("-", ""), []).append(i)
        first_failure: ConnectorError | None = None
        sent = False
        for customer, indexes in by_customer.items():
            try:
                results_for = self._write_customer(customer, changes, indexes, validate_only, receipts)
            except ConnectorError as exc:
                first_failure = first_failure or exc
                for i in indexes:
                    results[i] = redact(str(exc), self._secrets)
                continue
            sent = True
            for i, result in results_for.items():
                results[i] = result
        if first_failure is not None and not sent:
            raise first_failure
        return results

    def _write_customer(self, customer: str, changes: Sequence[BudgetChange], indexes: list[int],
                        validate_only: bool, receipts: list[WriteReceipt]) -> dict[int, str | None]:
        if customer not in self.customer_ids:
            raise ConnectorError(f"{PLATFORM} customer {customer} is not in MBO_GOOGLE_ADS_CUSTOMER_IDS: "
                                 f"refusing to change its budgets")
        if customer not in self._budgets:
            self._campaigns(customer)
        operations, refused = budgets.plan(changes, indexes, self._budgets[customer])
        results: dict[int, str | None] = {i: None for i in indexes} | refused
        if not operations:
            return results
        what = (f"{PLATFORM} customer {customer}: {'validating' if validate_only else 'setting'} "
                f"{len(operations)} campaign budget(s)")
        request = MutateCampaignBudgetsRequest(
            customer_id=customer, partial_failure=True, validate_only=validate_only,
            operations=[CampaignBudgetOperation(
                update=CampaignBudget(resource_name=f"customers/{customer}/campaignBudgets/{op.budget_id}",
                                      amount_micros=op.amount_micros),
                update_mask=field_mask_pb2.FieldMask(paths=["amount_micros"]),
            ) for op in operations],
        )
        service = self._services.get("CampaignBudgetService")
        self._services.request_ids.take()  # forget any earlier call's id
        try:
            response = self._call(what, lambda: service.mutate_campaign_budgets(request=request,
                                                                              timeout=MUTATE_TIMEOUT_SECONDS))
        except Exception as exc:
            receipts.append(WriteReceipt.of(self._services.request_ids.take(), str(exc), self._secrets))
            raise
        receipts.append(WriteReceipt.of(self._services.request_ids.take(),
                                        mutate_summary(customer, response, validate_only), self._secrets))
        errors = failures.operation_errors(response.partial_failure_error)
        for index, op in enumerate(operations):
            texts = errors.get(index, []) + errors.get(None, [])
            error = redact("; ".join(texts), self._secrets) if texts else None
            for i in op.changes:
                results[i] = error
            if error is None and not validate_only:
                self._remember(customer, op)
        return results

    def _remember(self, customer: str, op: budgets.Operation) -> None:
        """Keep the cached budget current after a write, so the next shared-budget sum starts from it."""
        cached = self._budgets.get(customer, {})
        for campaign_id, budget in cached.items():
            if budget.budget_id == op.budget_id:
                cached[campaign_id] = budgets.Budget(budget.budget_id, op.amount_micros, budget.explicitly_shared,
                                                     budget.reference_count, budget.currency)

    # --- every call --------------------------------------------------------------------------

    def _call(self, what: str, call: Callable[[], T]) -> T:
        """``call()`` with retries; Google's errors read into GoogleAdsCallFailed, final ones into ConnectorError."""

        def attempt() -> T:
            try:
                return call()
            except Exception as exc:
                failure = failures.from_exception(exc, secrets=self._secrets)
                if failure is None:
                    raise
                if not failure.retryable:
                    raise ConnectorError(
                        f"{what} failed (request id {failure.request_id or 'unknown'}): {failure}; "
                        f"{failure.hint()}") from None
                raise failure from None

        return call_with_retries(attempt, what=what, classify=failures.classify, log=self._log.warning)


def mutate_summary(customer: str, response, validate_only: bool) -> str:
    """A ``MutateCampaignBudgetsResponse`` in a line: the results' resource names and the partial-failure message."""
    names = ", ".join(r.resource_name or "-" for r in response.results)
    text = f"customer {customer}: {'validate_only, ' if validate_only else ''}results [{names}]"
    status = response.partial_failure_error
    if status.code or status.message:
        text += f"; partial_failure_error: {status.message or f'status {status.code}'}"
    return text
