"""The GA4 reader: sessions, key events and revenue per day, source / medium and campaign, from the GA4 Data API.

Configured from the environment (``GA4Reader.from_env``):
``MBO_GA4_PROPERTY_IDS`` (comma-separated numeric property ids) and
``MBO_GA4_ENDPOINT`` (optional). Credentials are Google's application-default
credentials (``GOOGLE_APPLICATION_CREDENTIALS``, a service account key file,
or ``gcloud auth application-default login``) with the read-only Analytics
scope; the account needs Viewer access on each property. An ``http://``
loopback endpoint (a test server) is reached over the REST transport without
credentials.

GA4 is not an ad platform: it has no budgets. It tells, per campaign name, how
many sessions and how much revenue the site saw, in the property's own
currency and time zone.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

import requests
from google.analytics.data_v1beta import (
    BetaAnalyticsDataClient,
    DateRange,
    Dimension,
    Metric,
    OrderBy,
    RunReportRequest,
    RunReportResponse,
)
from google.analytics.data_v1beta.services.beta_analytics_data.transports.rest import BetaAnalyticsDataRestTransport
from google.api_core import exceptions as google_exceptions
from google.protobuf import json_format

from mbo_pipelines.connectors import ConnectorError
from mbo_pipelines.defs.ingest.ga4.rows import DIMENSIONS, METRICS, check_headers, traffic_row
from mbo_pipelines.defs.ingest.retrying import Retry, call_with_retries
from mbo_pipelines.platform_setup import is_loopback_endpoint, numeric_ids
from mbo_pipelines.redaction import emit, redact, redacted_error

logger = logging.getLogger(__name__)

SCOPE = "https://www.googleapis.com/auth/analytics.readonly"
#: Rows per request (GA4 serves at most 250,000).
DEFAULT_PAGE_SIZE = 100_000
TIMEOUT_SECONDS = 120.0
#: Quota and server errors: another try usually works (ResourceExhausted is a TooManyRequests).
RETRYABLE = (
    google_exceptions.TooManyRequests, google_exceptions.InternalServerError, google_exceptions.BadGateway,
    google_exceptions.ServiceUnavailable, google_exceptions.GatewayTimeout,
    requests.ConnectionError, requests.Timeout,
)
#: What to do about the errors an operator can fix (the HTTP classes; gRPC's PermissionDenied etc. subclass them).
_HINTS = (
    (google_exceptions.Forbidden, "give the credentials' account Viewer access to the property in GA4 Admin"),
    (google_exceptions.Unauthorized, "check GOOGLE_APPLICATION_CREDENTIALS (application-default credentials)"),
    (google_exceptions.NotFound, "check the id in MBO_GA4_PROPERTY_IDS"),
    (google_exceptions.BadRequest, "check the id in MBO_GA4_PROPERTY_IDS"),
)


def classify(exc: BaseException) -> Retry | None:
    """``call_with_retries``' view of a GA4 failure: HTTP 429 / 5xx and network errors are worth another try."""
    return Retry(reason=str(exc)) if isinstance(exc, RETRYABLE) else None


def build_client(endpoint: str = "") -> BetaAnalyticsDataClient:
    """A Data API client: on ``endpoint`` (host[:port], https), or over plain-HTTP REST without credentials
    when ``endpoint`` is an ``http://`` loopback URL (a test server)."""
    if endpoint.startswith("http://"):
        if not is_loopback_endpoint(endpoint):
            raise ConnectorError(f"MBO_GA4_ENDPOINT {endpoint!r}: plain http is only for a loopback test server")
        from google.auth.credentials import AnonymousCredentials

        return BetaAnalyticsDataClient(
            credentials=AnonymousCredentials(),
            transport=functools.partial(BetaAnalyticsDataRestTransport, url_scheme="http"),
            client_options={"api_endpoint": endpoint.removeprefix("http://").rstrip("/")},
        )
    options = {"api_endpoint": endpoint.removeprefix("https://").rstrip("/")} if endpoint else None
    return BetaAnalyticsDataClient(credentials=_credentials(), client_options=options)


def _credentials():
    """Application-default credentials (``GOOGLE_APPLICATION_CREDENTIALS`` of this process, gcloud's, or the
    runtime's service account), scoped read-only."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, _ = google.auth.default(scopes=[SCOPE])
    except DefaultCredentialsError as exc:
        raise ConnectorError(f"GA4: no usable Google credentials ({redacted_error(exc)[:300]}); set "
                             "GOOGLE_APPLICATION_CREDENTIALS to a service account key file, or run "
                             "`gcloud auth application-default login`") from None
    return credentials


class GA4Reader:
    """Reads daily traffic per source / medium and campaign from GA4 properties."""

    platform = "ga4"

    def __init__(self, property_ids: Sequence[str], client: BetaAnalyticsDataClient,
                 log: Callable[[str], None] | None = None, page_size: int = DEFAULT_PAGE_SIZE):
        if not property_ids:
            raise ConnectorError("GA4: no property ids; set MBO_GA4_PROPERTY_IDS")
        self.property_ids = tuple(str(p) for p in property_ids)
        self.page_size = max(1, int(page_size))
        self._client = client
        self._log_to = log

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, log: Callable[[str], None] | None = None,
                 **kwargs: Any) -> GA4Reader:
        """The reader configured by ``MBO_GA4_PROPERTY_IDS`` and ``MBO_GA4_ENDPOINT``."""
        env = os.environ if env is None else env
        ids = numeric_ids("MBO_GA4_PROPERTY_IDS", env.get("MBO_GA4_PROPERTY_IDS", ""))
        return cls(ids, build_client((env.get("MBO_GA4_ENDPOINT") or "").strip()), log=log, **kwargs)

    def close(self) -> None:
        """Close the client's connections."""
        self._client.transport.close()

    def fetch_traffic_daily(self, start: date, end: date) -> list[dict[str, Any]]:
        """``raw.ga4_traffic_daily`` rows of every property for [start, end] (days in each property's time zone)."""
        rows: list[dict[str, Any]] = []
        for property_id in self.property_ids:
            rows += self._property_rows(property_id, start, end)
        return rows

    def _property_rows(self, property_id: str, start: date, end: date) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        keys: set[tuple[date, str, str]] = set()
        offset, total = 0, None
        while total is None or offset < total:
            response = self._run_report(property_id, start, end, offset)
            currency, zone = response.metadata.currency_code, response.metadata.time_zone
            if not currency or not zone:
                raise ConnectorError(f"GA4 property {property_id}: the report has no currency or time zone "
                                     f"(currency {currency!r}, time zone {zone!r})")
            check_headers(property_id, [h.name for h in response.dimension_headers],
                          [h.name for h in response.metric_headers])
            if response.metadata.data_loss_from_other_row:
                self._log(f"GA4 property {property_id}: some rows were folded into '(other)' (too many distinct "
                          "values in a day); campaign totals there are incomplete", logging.WARNING)
            for row in response.rows:
                values = traffic_row(property_id, [v.value for v in row.dimension_values],
                                     [v.value for v in row.metric_values], currency, zone, start, end)
                key = (values["date"], values["session_source_medium"], values["session_campaign_name"])
                if key in keys:
                    raise ConnectorError(f"GA4 property {property_id}: the report has {key} twice (pages shifted "
                                         "while reading?); run again")
                keys.add(key)
                rows.append(values)
            total = response.row_count
            if offset < total and not response.rows:
                raise ConnectorError(f"GA4 property {property_id}: the report counts {total} rows but the page at "
                                     f"offset {offset} is empty; run again")
            offset += len(response.rows)
        self._log(f"GA4 property {property_id}: {len(rows)} rows for {start}..{end}")
        return rows

    def _run_report(self, property_id: str, start: date, end: date, offset: int) -> RunReportResponse:
        request = RunReportRequest(
            property=f"properties/{property_id}",
            date_ranges=[DateRange(start_date=start.isoformat(), end_date=end.isoformat())],
            dimensions=[Dimension(name=name) for name in DIMENSIONS],
            metrics=[Metric(name=name) for name in METRICS],
            # A fixed order, so that offset paging neither skips nor repeats rows.
            order_bys=[OrderBy(dimension=OrderBy.DimensionOrderBy(dimension_name=name)) for name in DIMENSIONS],
            offset=offset,
            limit=self.page_size,
        )
        what = f"GA4 property {property_id}: runReport {start}..{end} at offset {offset}"

        def once() -> RunReportResponse:
            try:
                # retry=None: call_with_retries is the only retry layer.
                return self._client.run_report(request=request, retry=None, timeout=TIMEOUT_SECONDS)
            except json_format.ParseError as exc:
                raise ConnectorError(f"{what}: the response was not valid JSON (truncated?): {redact(str(exc))[:200]}; "
                                     "nothing was loaded (run again)") from None
            except google_exceptions.GoogleAPICallError as exc:
                hint = next((h for cls, h in _HINTS if isinstance(exc, cls)), None)
                if hint:
                    raise ConnectorError(f"{what} failed: {redacted_error(exc)[:500]}; {hint}") from None
                raise

        return call_with_retries(once, what=what, classify=classify,
                                 log=lambda message: self._log(message, logging.WARNING))

    def _log(self, message: str, level: int = logging.INFO) -> None:
        if self._log_to:
            emit(self._log_to, level, redact(message))
        else:
            logger.log(level, redact(message))
