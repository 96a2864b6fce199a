"""A fake Google Ads API (v26) on 127.0.0.1: a real gRPC server speaking the SDK's own protobuf messages.

It serves ``GoogleAdsService.SearchStream`` (the GAQL the connector sends, on
the ``campaign`` resource, optionally segmented by ``segments.date``) and
``CampaignBudgetService.MutateCampaignBudgets`` (``amount_micros`` updates),
from and to a ``FakeWorld``. Errors look like Google's: the call is aborted
with a status code, a serialized ``GoogleAdsFailure`` in the trailing metadata
key ``google.ads.googleads.v26.errors.googleadsfailure-bin`` and a
``request-id``, so the SDK raises a real ``GoogleAdsException`` (or, for
INTERNAL and RESOURCE_EXHAUSTED, which the SDK leaves alone, a gRPC error
carrying the same metadata).

Usage::

    world = make_world([FakeAccount("1234567890", "EUR", "Europe/Berlin")], start, end)
    with FakeGoogleAds(world, developer_token="dev-token") as fake:
        env = {"MBO_GOOGLE_ADS_ENDPOINT": fake.endpoint, "GOOGLE_ADS_DEVELOPER_TOKEN": "dev-token",
               "MBO_GOOGLE_ADS_CUSTOMER_IDS": "123-456-7890"}
        fake.fail_next("SearchStream", grpc.StatusCode.RESOURCE_EXHAUSTED, retry_delay=0.2)
        rows = GoogleAdsConnector.from_env(env).fetch_campaign_daily(start, end)
        fake.budgets()   # {(customer_id, campaign_id): Decimal currency units}
        fake.requests    # every call received, oldest first (FakeRequest)

Budgets: a campaign without ``shared_budget_id`` has a budget of its own
(id ``fake.budget_id(account, campaign)``, ``"9" + campaign_id``); campaigns
with the same ``shared_budget_id`` in one account share one explicitly shared
budget. A campaign's ``daily_budget`` in the world is its budget's whole
amount: for a shared budget every campaign on it carries the same amount (the
first one's is served), a write sets all of them, and ``budgets()`` reports
the whole budget for each campaign on it.

Fault injection (each applies to the next calls of the named method;
methods are ``"SearchStream"`` and ``"MutateCampaignBudgets"``):

- ``fail_next(method, code, times=1, retry_delay=None, retry_delay_in=("failure", "status"), message=None)``:
  abort with ``code`` (a ``grpc.StatusCode``) and a matching GoogleAdsFailure (its message ``message``);
  ``retry_delay`` (seconds) goes into the failure's ``quota_error_details.retry_delay``
  and/or a ``google.rpc.RetryInfo`` in ``grpc-status-details-bin``.
- ``break_stream_after(batches, times=1)``: send ``batches`` responses (or all,
  if fewer), then abort with UNAVAILABLE.
- ``serve_malformed_row(problem, times=1)``: the first row of the next stream
  is broken: ``"missing_campaign_id"`` or ``"bad_date"`` (an impossible date).
- ``reject_budget(campaign_id, message)``: every operation on that campaign's
  budget fails (a partial failure when the request allows it); ``message=None`` lifts it.
- ``corrupt_next_stream(how="truncate", times=1)``: the next ``times`` streams send, as their first
  response, bytes that are not a ``SearchGoogleAdsStreamResponse``: the serialized message cut short
  (``"truncate"``: its last byte missing) or ``"garbage"``.

Malformed data (for the data-quality corpus): ``edit_rows(edit, daily=True)`` serves
``edit(rows) -> rows`` (a list of ``GoogleAdsRow``, before batching: drop fields, repeat rows, set
NaN or negative metrics, other currencies) instead of the rows of every daily stream (``daily=False``:
of every campaign listing), until ``clear_edits()``.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import grpc
from google.ads.googleads.v26.common.types.metrics import Metrics
from google.ads.googleads.v26.common.types.segments import Segments
from google.ads.googleads.v26.errors.types.errors import (
    ErrorCode,
    ErrorDetails,
    ErrorLocation,
    GoogleAdsError,
    GoogleAdsFailure,
    QuotaErrorDetails,
)
from google.ads.googleads.v26.resources.types.campaign import Campaign
from google.ads.googleads.v26.resources.types.campaign_budget import CampaignBudget
from google.ads.googleads.v26.resources.types.customer import Customer
from google.ads.googleads.v26.services.types.campaign_budget_service import (
    MutateCampaignBudgetResult,
    MutateCampaignBudgetsRequest,
    MutateCampaignBudgetsResponse,
)
from google.ads.googleads.v26.services.types.google_ads_service import (
    GoogleAdsRow,
    SearchGoogleAdsStreamRequest,
    SearchGoogleAdsStreamResponse,
)
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from tests.fakes.ad_world import ZERO_DECIMAL_CURRENCIES, FakeCampaign, FakeWorld

SEARCH_STREAM, MUTATE_BUDGETS = "SearchStream", "MutateCampaignBudgets"
FAILURE_KEY = "google.ads.googleads.v26.errors.googleadsfailure-bin"
_FAILURE_TYPE_URL = "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure"
_SERVICES = "google.ads.googleads.v26.services."

_QUERY = re.compile(r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<resource>\w+)(?:\s+WHERE\s+(?P<where>.+?))?\s*$",
                    re.IGNORECASE | re.DOTALL)
_DATE_RANGE = re.compile(r"^segments\.date\s+BETWEEN\s+'(\d{4}-\d{2}-\d{2})'\s+AND\s+'(\d{4}-\d{2}-\d{2})'$",
                         re.IGNORECASE)
_BUDGET_NAME = re.compile(r"^customers/(\d+)/campaignBudgets/(\d+)$")
#: Fields the fake can set, by GAQL name.
SUPPORTED_FIELDS = frozenset({
    "customer.id", "customer.currency_code", "customer.time_zone",
    "campaign.id", "campaign.name", "campaign.status",
    "campaign_budget.id", "campaign_budget.amount_micros", "campaign_budget.explicitly_shared",
    "campaign_budget.reference_count",
    "metrics.cost_micros", "metrics.impressions", "metrics.clicks", "metrics.conversions",
    "metrics.conversions_value", "segments.date",
})
# The GoogleAdsFailure error code a fault injected with a status code carries.
_ERROR_FOR_STATUS = {
    grpc.StatusCode.RESOURCE_EXHAUSTED: {"quota_error": "RESOURCE_TEMPORARILY_EXHAUSTED"},
    grpc.StatusCode.INTERNAL: {"internal_error": "INTERNAL_ERROR"},
    grpc.StatusCode.UNAVAILABLE: {"internal_error": "TRANSIENT_ERROR"},
    grpc.StatusCode.PERMISSION_DENIED: {"authorization_error": "USER_PERMISSION_DENIED"},
    grpc.StatusCode.UNAUTHENTICATED: {"authentication_error": "AUTHENTICATION_ERROR"},
}


@dataclass
class FakeRequest:
    """One call the fake received."""

    method: str
    customer_id: str
    request_id: str
    developer_token_sent: bool
    login_customer_id: str | None = None
    query: str | None = None
    #: MutateCampaignBudgets: (resource_name, amount_micros, update_mask paths) per operation.
    operations: list[tuple[str, int, tuple[str, ...]]] = field(default_factory=list)
    validate_only: bool = False
    partial_failure: bool = False


@dataclass
class _Fault:
    code: grpc.StatusCode
    times: int
    retry_delay: float | None = None
    retry_delay_in: tuple[str, ...] = ("failure", "status")
    message: str | None = None


class _Abort(Exception):
    """Raised inside a handler to end the call the way Google does (status, GoogleAdsFailure, request id)."""

    def __init__(self, code: grpc.StatusCode, message: str, error_code: dict[str, str], *,
                 retry_delay: float | None = None, retry_delay_in: tuple[str, ...] = ()):
        super().__init__(message)
        self.code, self.message, self.error_code = code, message, error_code
        self.retry_delay, self.retry_delay_in = retry_delay, retry_delay_in
        self.request_id: str | None = None


def budget_micros(amount: Decimal) -> int:
    """Currency units → micros."""
    return int(Decimal(amount) * 1_000_000)


class FakeGoogleAds:
    """A Google Ads API v26 gRPC server for ``world`` on 127.0.0.1 (see the module docstring)."""

    def __init__(self, world: FakeWorld, developer_token: str = "fake-developer-token", batch_size: int = 2):
        self.world = world
        self.developer_token = developer_token
        self.batch_size = batch_size
        self.requests: list[FakeRequest] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._faults: dict[str, list[_Fault]] = {SEARCH_STREAM: [], MUTATE_BUDGETS: []}
        self._breaks: list[list[int]] = []  # [batches, times]
        self._malformed: list[list] = []  # [problem, times]
        self._rejected: dict[str, str] = {}
        self._edits: list[tuple[Callable[[list[GoogleAdsRow]], list[GoogleAdsRow]], bool]] = []
        self._corrupt: list[list] = []  # [how, times]
        self._server: grpc.Server | None = None
        self.port: int | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeGoogleAds:
        """Start serving on a free port of 127.0.0.1."""
        handlers = [
            grpc.method_handlers_generic_handler(_SERVICES + "GoogleAdsService", {
                SEARCH_STREAM: grpc.unary_stream_rpc_method_handler(
                    self._search_stream, request_deserializer=SearchGoogleAdsStreamRequest.deserialize,
                    response_serializer=_serialize_stream_response),
            }),
            grpc.method_handlers_generic_handler(_SERVICES + "CampaignBudgetService", {
                MUTATE_BUDGETS: grpc.unary_unary_rpc_method_handler(
                    self._mutate_budgets, request_deserializer=MutateCampaignBudgetsRequest.deserialize,
                    response_serializer=MutateCampaignBudgetsResponse.serialize),
            }),
        ]
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), handlers=handlers)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None)
            self._server = None

    def __enter__(self) -> FakeGoogleAds:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        """``127.0.0.1:<port>``, for ``MBO_GOOGLE_ADS_ENDPOINT``."""
        return f"127.0.0.1:{self.port}"

    # --- what tests read ---------------------------------------------------------------------

    def budgets(self) -> dict[tuple[str, str], Decimal]:
        """Every campaign's budget in currency units; for a shared budget, the whole budget's amount."""
        with self._lock:
            return {(c.account_id, c.campaign_id): c.daily_budget for c in self.world.campaigns}

    def budget_id(self, account_id: str, campaign_id: str) -> str:
        """The id of the budget ``campaign_id`` spends from."""
        return _budget_id(self.world.campaign(account_id, campaign_id))

    # --- fault injection ---------------------------------------------------------------------

    def fail_next(self, method: str, code: grpc.StatusCode, times: int = 1, retry_delay: float | None = None,
                  retry_delay_in: tuple[str, ...] = ("failure", "status"), message: str | None = None) -> None:
        """The next ``times`` calls of ``method`` fail with ``code``, hinting ``retry_delay`` seconds if given."""
        with self._lock:
            self._faults[method].append(_Fault(code, times, retry_delay, tuple(retry_delay_in), message))

    def break_stream_after(self, batches: int, times: int = 1) -> None:
        """The next ``times`` streams abort with UNAVAILABLE after ``batches`` responses."""
        with self._lock:
            self._breaks.append([batches, times])

    def serve_malformed_row(self, problem: str = "missing_campaign_id", times: int = 1) -> None:
        """The next ``times`` streams start with a broken row: ``missing_campaign_id`` or ``bad_date``."""
        if problem not in ("missing_campaign_id", "bad_date"):
            raise ValueError(f"unknown malformation {problem!r}")
        with self._lock:
            self._malformed.append([problem, times])

    def corrupt_next_stream(self, how: str = "truncate", times: int = 1) -> None:
        """The next ``times`` streams' first response is not a valid message: ``truncate`` or ``garbage``."""
        if how not in ("truncate", "garbage"):
            raise ValueError(f"unknown corruption {how!r}")
        with self._lock:
            self._corrupt.append([how, times])

    def edit_rows(self, edit: Callable[[list[GoogleAdsRow]], list[GoogleAdsRow]], daily: bool = True) -> None:
        """Serve ``edit(rows)`` instead of the rows of every daily stream (``daily=False``: campaign listing)."""
        with self._lock:
            self._edits.append((edit, daily))

    def clear_edits(self) -> None:
        """Serve the world as it is again (drops ``edit_rows`` and pending ``corrupt_next_stream``)."""
        with self._lock:
            self._edits.clear()
            self._corrupt.clear()

    def reject_budget(self, campaign_id: str, message: str | None) -> None:
        """Operations on ``campaign_id``'s budget fail with ``message`` (None: accept them again)."""
        with self._lock:
            if message is None:
                self._rejected.pop(campaign_id, None)
            else:
                self._rejected[campaign_id] = message

    # --- handlers ----------------------------------------------------------------------------

    def _begin(self, method: str, customer_id: str, context: grpc.ServicerContext, **details) -> FakeRequest:
        metadata = dict(context.invocation_metadata())
        request = FakeRequest(method, customer_id, f"fake-request-{next(self._ids):05d}",
                              "developer-token" in metadata, metadata.get("login-customer-id"), **details)
        with self._lock:
            self.requests.append(request)
        try:
            self._admit(method, customer_id, metadata)
        except _Abort as abort:
            abort.request_id = request.request_id
            raise
        return request

    def _admit(self, method: str, customer_id: str, metadata: dict) -> None:
        """Google's checks before a call does anything: developer token, injected faults, account access."""
        if "developer-token" not in metadata:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "The developer token is missing from the request.",
                         {"request_error": "DEVELOPER_TOKEN_PARAMETER_MISSING"})
        if metadata["developer-token"] != self.developer_token:
            raise _Abort(grpc.StatusCode.UNAUTHENTICATED, "The developer token is not valid.",
                         {"authentication_error": "DEVELOPER_TOKEN_INVALID"})
        with self._lock:
            fault = _take(self._faults[method])
        if fault is not None:
            raise _Abort(fault.code, fault.message or f"Injected {fault.code.name} failure.",
                         _ERROR_FOR_STATUS.get(fault.code, {"internal_error": "INTERNAL_ERROR"}),
                         retry_delay=fault.retry_delay, retry_delay_in=fault.retry_delay_in)
        if customer_id not in {a.account_id for a in self.world.accounts}:
            raise _Abort(grpc.StatusCode.PERMISSION_DENIED,
                         "The caller does not have permission to access customer.",
                         {"authorization_error": "USER_PERMISSION_DENIED"})

    def _search_stream(self, request: SearchGoogleAdsStreamRequest, context: grpc.ServicerContext):
        try:
            record = self._begin(SEARCH_STREAM, request.customer_id, context, query=request.query)
            fields, start, end = _parse_query(request.query)
            rows = self._rows(request.customer_id, fields, start, end)
            with self._lock:
                broken = _take(self._malformed)
                cut = _take(self._breaks)
                corrupt = _take(self._corrupt)
                edits = [edit for edit, daily in self._edits if daily == (start is not None)]
            if broken is not None and rows:
                _malform(rows[0], broken)
            for edit in edits:
                rows = edit(rows)
            context.set_trailing_metadata((("request-id", record.request_id),))
            batches = [rows[i:i + self.batch_size] for i in range(0, len(rows), self.batch_size)]
            for n, batch in enumerate(batches):
                if cut is not None and n == cut:
                    break
                response = SearchGoogleAdsStreamResponse(results=batch, field_mask={"paths": fields},
                                                         request_id=record.request_id)
                yield _Corrupt(response, corrupt) if corrupt is not None and n == 0 else response
            if cut is not None:
                raise _Abort(grpc.StatusCode.UNAVAILABLE, "The service is currently unavailable.",
                             {"internal_error": "TRANSIENT_ERROR"})
        except _Abort as abort:
            _abort(context, abort, abort.request_id or record.request_id)

    def _mutate_budgets(self, request: MutateCampaignBudgetsRequest, context: grpc.ServicerContext):
        operations = [(op.update.resource_name, op.update.amount_micros, tuple(op.update_mask.paths))
                      for op in request.operations]
        try:
            record = self._begin(MUTATE_BUDGETS, request.customer_id, context, operations=operations,
                                 validate_only=request.validate_only, partial_failure=request.partial_failure)
            context.set_trailing_metadata((("request-id", record.request_id),))
            return self._apply_budgets(request, record)
        except _Abort as abort:
            _abort(context, abort, abort.request_id or record.request_id)

    # --- the world in Google's vocabulary ----------------------------------------------------

    def _rows(self, customer_id: str, fields: list[str], start: date | None, end: date | None) -> list[GoogleAdsRow]:
        account = self.world.account(customer_id)
        with self._lock:
            if start is None:
                pairs = [(c, None) for c in self.world.campaigns if c.account_id == customer_id]
            else:
                pairs = self.world.rows(customer_id, start, end)
            campaigns = list(self.world.campaigns)
            return [_row(account, campaign, day, campaigns, fields) for campaign, day in pairs]

    def _apply_budgets(self, request: MutateCampaignBudgetsRequest, record: FakeRequest):
        errors: list[tuple[int, str, dict[str, str]]] = []
        updates: list[tuple[list[FakeCampaign], Decimal] | None] = []
        with self._lock:
            for index, op in enumerate(request.operations):
                paths = list(op.update_mask.paths)
                if paths != ["amount_micros"]:
                    raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                                 f"The update mask must be exactly amount_micros, got {paths}.",
                                 {"field_mask_error": "FIELD_NOT_FOUND"})
                problem, targets = self._check_operation(request.customer_id, op.update)
                if problem:
                    errors.append((index, *problem))
                    updates.append(None)
                else:
                    updates.append((targets, Decimal(op.update.amount_micros) / 1_000_000))
            if errors and not request.partial_failure:
                index, message, code = errors[0]
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, message, code)
            results = []
            for update in updates:
                if update is None or request.validate_only:
                    results.append(MutateCampaignBudgetResult())
                    continue
                targets, amount = update
                for campaign in targets:
                    campaign.daily_budget = amount
                results.append(MutateCampaignBudgetResult(resource_name=_budget_name(targets[0])))
        response = MutateCampaignBudgetsResponse(results=[] if request.validate_only else results)
        if errors:
            response.partial_failure_error = _partial_failure(errors, record.request_id)
        return response

    def _check_operation(self, customer_id: str, budget: CampaignBudget):
        """(problem, campaigns on the budget): problem is (message, error code) or None."""
        match = _BUDGET_NAME.match(budget.resource_name)
        if not match or match.group(1) != customer_id:
            return ("Resource name is malformed.", {"request_error": "RESOURCE_NAME_MALFORMED"}), []
        targets = [c for c in self.world.campaigns
                   if c.account_id == customer_id and _budget_id(c) == match.group(2)]
        if not targets:
            return ("Resource was not found.", {"request_error": "RESOURCE_NOT_FOUND"}), []
        rejected = [self._rejected[c.campaign_id] for c in targets if c.campaign_id in self._rejected]
        if rejected:
            return (rejected[0], {"campaign_budget_error": "MONEY_AMOUNT_TOO_LARGE"}), targets
        currency = self.world.account(customer_id).currency
        unit = 1_000_000 if currency in ZERO_DECIMAL_CURRENCIES else 10_000
        if budget.amount_micros <= 0:
            return ("Money amount must be positive.", {"campaign_budget_error": "NEGATIVE_MONEY_AMOUNT"}), targets
        if budget.amount_micros % unit:
            return (f"Amount {budget.amount_micros} micros is not a multiple of the minimum unit of {currency}.",
                    {"campaign_budget_error": "NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT"}), targets
        return None, targets


@dataclass(frozen=True)
class _Corrupt:
    """A stream response to be sent as bytes that do not parse as one."""

    response: SearchGoogleAdsStreamResponse
    how: str


def _serialize_stream_response(response) -> bytes:
    if isinstance(response, _Corrupt):
        data = SearchGoogleAdsStreamResponse.serialize(response.response)
        # Both end inside a length-delimited field (the last one, request_id, is a string): no parser accepts that.
        return data[:-1] if response.how == "truncate" else b"\x0a\xff\xff\xff\x0fnot a protobuf"
    return SearchGoogleAdsStreamResponse.serialize(response)


def _take(queue: list):
    """The head of a fault queue, used once (its ``times`` counted down, dropped at zero)."""
    if not queue:
        return None
    head = queue[0]
    if isinstance(head, _Fault):
        head.times -= 1
        if head.times <= 0:
            queue.pop(0)
        return head
    value, head[1] = head[0], head[1] - 1
    if head[1] <= 0:
        queue.pop(0)
    return value


def _budget_id(campaign: FakeCampaign) -> str:
    return campaign.shared_budget_id or f"9{campaign.campaign_id}"


def _budget_name(campaign: FakeCampaign) -> str:
    return f"customers/{campaign.account_id}/campaignBudgets/{_budget_id(campaign)}"


def _parse_query(query: str) -> tuple[list[str], date | None, date | None]:
    """The selected fields and the date range of the GAQL this fake understands; _Abort otherwise."""
    match = _QUERY.match(query)
    if not match:
        raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "Error in query: unexpected input.",
                     {"query_error": "UNEXPECTED_INPUT"})
    fields = [f.strip() for f in match.group("fields").split(",")]
    unknown = [f for f in fields if f not in SUPPORTED_FIELDS]
    if match.group("resource") != "campaign" or unknown:
        raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                     f"The fake serves only {sorted(SUPPORTED_FIELDS)} FROM campaign; got {unknown or match.group('resource')}.",
                     {"query_error": "UNRECOGNIZED_FIELD"})
    start = end = None
    if match.group("where"):
        dates = _DATE_RANGE.match(match.group("where").strip())
        if not dates:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "The fake understands only segments.date BETWEEN.",
                         {"query_error": "UNEXPECTED_INPUT"})
        start, end = date.fromisoformat(dates.group(1)), date.fromisoformat(dates.group(2))
    segmented = "segments.date" in fields or any(f.startswith("metrics.") for f in fields)
    if segmented and start is None:
        raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "Date segments and metrics need a finite date range.",
                     {"query_error": "EXPECTED_FILTERS_ON_DATE_RANGE"})
    return fields, start, end


def _row(account, campaign: FakeCampaign, day, campaigns: list[FakeCampaign], fields: list[str]) -> GoogleAdsRow:
    """One GoogleAdsRow with exactly ``fields`` set."""
    siblings = [c for c in campaigns if c.account_id == campaign.account_id and _budget_id(c) == _budget_id(campaign)]
    values = {
        "customer.id": int(account.account_id), "customer.currency_code": account.currency,
        "customer.time_zone": account.timezone,
        "campaign.id": int(campaign.campaign_id), "campaign.name": campaign.name,
        "campaign.status": "ENABLED" if campaign.status == "active" else "PAUSED",
        "campaign_budget.id": int(_budget_id(campaign)),
        "campaign_budget.amount_micros": budget_micros(siblings[0].daily_budget),
        "campaign_budget.explicitly_shared": campaign.shared_budget_id is not None,
        "campaign_budget.reference_count": len(siblings),
    }
    if day is not None:
        values |= {
            "segments.date": day.day.isoformat(), "metrics.cost_micros": budget_micros(day.spend),
            "metrics.impressions": day.impressions, "metrics.clicks": day.clicks,
            "metrics.conversions": day.conversions, "metrics.conversions_value": day.conversion_value,
        }
    parts: dict[str, dict] = {}
    for name in fields:
        resource, attribute = name.split(".")
        parts.setdefault(resource, {})[attribute] = values[name]
    types = {"customer": Customer, "campaign": Campaign, "campaign_budget": CampaignBudget,
             "metrics": Metrics, "segments": Segments}
    row = GoogleAdsRow(**{resource: types[resource](**attrs) for resource, attrs in parts.items()})
    if "campaign_budget" in parts:
        row.campaign_budget.resource_name = _budget_name(campaign)
    if "campaign" in parts:
        row.campaign.resource_name = f"customers/{campaign.account_id}/campaigns/{campaign.campaign_id}"
    return row


def _malform(row: GoogleAdsRow, problem: str) -> None:
    if problem == "bad_date" and "date" in row.segments:
        row.segments.date = "2024-02-30"
    else:
        del row.campaign.id


def _failure(message: str, error_code: dict[str, str], request_id: str, *, index: int | None = None,
             retry_delay: float | None = None) -> GoogleAdsFailure:
    error = GoogleAdsError(error_code=ErrorCode(**error_code), message=message)
    if index is not None:
        error.location = ErrorLocation(field_path_elements=[
            ErrorLocation.FieldPathElement(field_name="operations", index=index),
            ErrorLocation.FieldPathElement(field_name="update"),
            ErrorLocation.FieldPathElement(field_name="amount_micros"),
        ])
    if retry_delay is not None:
        error.details = ErrorDetails(quota_error_details=QuotaErrorDetails(
            rate_scope="ACCOUNT", rate_name="Requests per account", retry_delay=_duration(retry_delay)))
    return GoogleAdsFailure(errors=[error], request_id=request_id)


def _duration(seconds: float) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(int(seconds * 1e9))
    return duration


def _partial_failure(errors: list[tuple[int, str, dict[str, str]]], request_id: str) -> status_pb2.Status:
    failure = GoogleAdsFailure(request_id=request_id)
    for index, message, code in errors:
        failure.errors.extend(_failure(message, code, request_id, index=index).errors)
    detail = any_pb2.Any(type_url=_FAILURE_TYPE_URL, value=GoogleAdsFailure.serialize(failure))
    summary = f"Multiple errors in 'details'. First error: {errors[0][1]}"
    return status_pb2.Status(code=grpc.StatusCode.INVALID_ARGUMENT.value[0], message=summary, details=[detail])


def _abort(context: grpc.ServicerContext, abort: _Abort, request_id: str):
    """End the call as Google does: status, GoogleAdsFailure and request id in the trailing metadata."""
    in_failure = abort.retry_delay if "failure" in abort.retry_delay_in else None
    failure = _failure(abort.message, abort.error_code, request_id, retry_delay=in_failure)
    metadata = [("request-id", request_id), (FAILURE_KEY, GoogleAdsFailure.serialize(failure))]
    if abort.retry_delay is not None and "status" in abort.retry_delay_in:
        info = any_pb2.Any()
        info.Pack(error_details_pb2.RetryInfo(retry_delay=_duration(abort.retry_delay)))
        # The message must equal the call's details: clients check the two agree.
        status = status_pb2.Status(code=abort.code.value[0], message=abort.message, details=[info])
        metadata.append(("grpc-status-details-bin", status.SerializeToString()))
    context.set_trailing_metadata(tuple(metadata))
    context.abort(abort.code, abort.message)
