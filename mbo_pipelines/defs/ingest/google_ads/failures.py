"""Google Ads API errors read into one shape: status, Google's error codes and messages, request id, retry delay.

A failed call reaches the connector in one of three forms: the SDK's
``GoogleAdsException`` (a GoogleAdsFailure in the trailing metadata), a
``google.api_core`` error (the SDK passes INTERNAL and RESOURCE_EXHAUSTED on
untouched and the generated client maps them), or a bare ``grpc.RpcError``.
``from_exception`` reads all three from the call's trailing metadata.
Google hints how long to wait in the GoogleAdsFailure's
``quota_error_details.retry_delay`` and in a ``google.rpc.RetryInfo``.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.ads.googleads.errors import GoogleAdsException
from google.ads.googleads.v26.errors.types.errors import GoogleAdsFailure
from google.api_core import exceptions as core_exceptions
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2

from mbo_pipelines.defs.ingest.retrying import Retry
from mbo_pipelines.redaction import redact

FAILURE_KEY = "google.ads.googleads.v26.errors.googleadsfailure-bin"
RETRYABLE = frozenset({grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE})
_AUTH_ERRORS = ("authentication_error", "authorization_error")


class GoogleAdsCallFailed(Exception):
    """One failed Google Ads API call (the message holds no request id; ``request_id`` does)."""

    def __init__(self, code: grpc.StatusCode | None, errors: Sequence[str], details: str,
                 request_id: str | None, retry_delay: float | None, error_kinds: Sequence[str] = ()):
        self.code, self.errors, self.details = code, list(errors), details
        self.request_id, self.retry_delay, self.error_kinds = request_id, retry_delay, list(error_kinds)
        status = code.name if code else "UNKNOWN"
        super().__init__(f"{status}: {'; '.join(self.errors) or details or 'no details'}")

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE

    def hint(self) -> str:
        """What to do about it, in a few words."""
        if self.code == grpc.StatusCode.UNAUTHENTICATED or "authentication_error" in self.error_kinds:
            return ("check GOOGLE_ADS_DEVELOPER_TOKEN, GOOGLE_ADS_CLIENT_ID, GOOGLE_ADS_CLIENT_SECRET and "
                    "GOOGLE_ADS_REFRESH_TOKEN")
        if self.code == grpc.StatusCode.PERMISSION_DENIED or "authorization_error" in self.error_kinds:
            return ("check that the OAuth user (or the manager account in GOOGLE_ADS_LOGIN_CUSTOMER_ID) "
                    "can access this customer")
        return "fix what Google Ads reports and run again; quote the request id to Google Ads support if it persists"


def from_exception(exc: BaseException, secrets: Sequence[str] = ()) -> GoogleAdsCallFailed | None:
    """``exc`` as a GoogleAdsCallFailed (its texts with ``secrets`` and the environment's masked),
    or None when it is not a failed API call."""
    if isinstance(exc, GoogleAdsException):
        call = exc.call if isinstance(exc.call, grpc.Call) else exc.error
        code, details, trailing = _code(exc.error), _details(exc.error), _trailing(call)
        failure = _failure_from(trailing) or _proto_plus_failure(exc.failure)
    elif isinstance(exc, core_exceptions.GoogleAPICallError):
        rpc = exc.response if isinstance(exc.response, grpc.Call) else None
        code, details, trailing = exc.grpc_status_code, exc.message, _trailing(rpc)
        failure = _failure_from(trailing)
    elif isinstance(exc, grpc.RpcError):
        code, details, trailing = _code(exc), _details(exc), _trailing(exc)
        failure = _failure_from(trailing)
    else:
        return None
    request_id = dict(trailing).get("request-id") or (failure.request_id if failure else None) or None
    errors = [redact(describe_error(e), tuple(secrets)) for e in failure.errors] if failure else []
    kinds = [_error_kind(e)[0] for e in failure.errors] if failure else []
    return GoogleAdsCallFailed(code, errors, redact(details or "", tuple(secrets)), request_id,
                               _retry_delay(failure, trailing), kinds)


def classify(exc: BaseException) -> Retry | None:
    """For ``call_with_retries``: RESOURCE_EXHAUSTED (after Google's hinted delay), INTERNAL and UNAVAILABLE."""
    if isinstance(exc, GoogleAdsCallFailed) and exc.retryable:
        return Retry(delay=exc.retry_delay, request_id=exc.request_id, reason=str(exc))
    return None


def describe_error(error) -> str:
    """``quota_error RESOURCE_EXHAUSTED: message`` for one GoogleAdsError."""
    kind, name = _error_kind(error)
    return f"{kind} {name}: {error.message}" if kind else error.message


def operation_errors(status: status_pb2.Status) -> dict[int | None, list[str]]:
    """A mutate's ``partial_failure_error``: error texts by operation index (None: no operation named)."""
    out: dict[int | None, list[str]] = {}
    for detail in status.details:
        if not detail.type_url.endswith("GoogleAdsFailure"):
            continue
        failure = GoogleAdsFailure.deserialize(detail.value)
        quoted = f" (request id {failure.request_id})" if failure.request_id else ""
        for error in failure.errors:
            index = next((e.index for e in error.location.field_path_elements
                          if e.field_name == "operations" and "index" in e), None)
            out.setdefault(index, []).append(describe_error(error) + quoted)
    if status.code and not out:
        out[None] = [status.message or f"status {status.code}"]
    return out


def _error_kind(error) -> tuple[str, str]:
    """(``quota_error``, ``RESOURCE_EXHAUSTED``): which error enum is set, and its value's name."""
    pb = type(error.error_code).pb(error.error_code)
    kind = pb.WhichOneof("error_code")
    if not kind:
        return "", ""
    value = getattr(pb, kind)
    names = pb.DESCRIPTOR.fields_by_name[kind].enum_type.values_by_number
    return kind, names[value].name if value in names else str(value)


def _code(rpc) -> grpc.StatusCode | None:
    try:
        return rpc.code()
    except Exception:  # noqa: BLE001 - an error object without a status
        return None


def _details(rpc) -> str:
    try:
        return rpc.details() or ""
    except Exception:  # noqa: BLE001
        return ""


def _trailing(call) -> tuple:
    try:
        return tuple(call.trailing_metadata() or ())
    except Exception:  # noqa: BLE001 - no call, or a call without metadata
        return ()


def _failure_from(trailing: tuple) -> GoogleAdsFailure | None:
    for key, value in trailing:
        if key == FAILURE_KEY:
            try:
                return GoogleAdsFailure.deserialize(value)
            except DecodeError:
                return None
    return None


def _proto_plus_failure(failure) -> GoogleAdsFailure | None:
    if failure is None or isinstance(failure, GoogleAdsFailure):
        return failure
    return GoogleAdsFailure.deserialize(failure.SerializeToString())


def _retry_delay(failure: GoogleAdsFailure | None, trailing: tuple) -> float | None:
    """The longest delay Google asked for, in seconds, or None."""
    delays = []
    for error in failure.errors if failure else []:
        if "quota_error_details" in error.details and "retry_delay" in error.details.quota_error_details:
            delay = error.details.quota_error_details.retry_delay
            delays.append(delay.total_seconds() if hasattr(delay, "total_seconds") else delay.ToTimedelta().total_seconds())
    for key, value in trailing:
        if key == "grpc-status-details-bin":
            status = status_pb2.Status()
            try:
                status.ParseFromString(value)
            except DecodeError:
                continue
            for detail in status.details:
                info = error_details_pb2.RetryInfo()
                if detail.Is(info.DESCRIPTOR) and detail.Unpack(info):
                    delays.append(info.retry_delay.ToTimedelta().total_seconds())
    return max(delays) if delays else None
