"""Google Ads API service clients (v26) wired the way ``GoogleAdsClient.get_service`` wires them, on a channel we choose.

The SDK builds its channel inside ``get_service`` (TLS with OAuth credentials,
always). To reach a fake server on a loopback address the connector needs a
plaintext channel, so this module does what ``get_service`` does, with the
SDK's own interceptors (developer-token and login-customer-id headers,
request logging, ``GoogleAdsException`` from the trailing metadata), over
either the transport's own TLS channel or ``grpc.insecure_channel``, plus
one of its own: ``RequestIds`` notes the ``request-id`` Google sends in the
response metadata of every unary call, failed or not (the SDK hands it out
only on a ``GoogleAdsException``; the generated clients return the bare
response). The SDK's request log masks the developer token; its records pass
through ``redact`` as well, since they quote the server's error texts verbatim.
"""

from __future__ import annotations

import logging
import re
import threading
from importlib import import_module, metadata

import grpc
from google.ads.googleads.interceptors import ExceptionInterceptor, LoggingInterceptor, MetadataInterceptor
from google.api_core.gapic_v1.client_info import ClientInfo
from google.auth.credentials import Credentials

from mbo_pipelines.redaction import redact

API_VERSION = "v26"
DEFAULT_ENDPOINT = "googleads.googleapis.com:443"
# The SDK's channel options: long error metadata, large stream batches.
_CHANNEL_OPTIONS = [
    ("grpc.max_metadata_size", 16 * 1024 * 1024),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
]


class _RedactingFilter(logging.Filter):
    """Masks secrets in the SDK's request log records: the environment's and every connector's own."""

    def __init__(self):
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message, tuple(self.secrets))
        if clean != message:
            record.msg, record.args = clean, ()
        return True


# A child of the SDK's own logger: the SDK's logging configuration applies, and our filter touches only our records.
_SDK_LOGGER = logging.getLogger("google.ads.googleads.client.mbo")
_REDACTING = _RedactingFilter()
_SDK_LOGGER.addFilter(_REDACTING)


class _LoggingInterceptor(LoggingInterceptor):
    """The SDK's request log, without its hang on a response that does not parse.

    For such a call grpc never sets ``debug_error_string``, and the SDK's failed-request log waits for it on
    grpc's channel thread, for ever: the next call on the channel (a retry) and ``close()`` then hang too.
    """

    def _parse_exception_to_str(self, exception) -> str:
        failure = getattr(exception, "failure", None)
        return str(failure) if failure is not None else "{}"


class RequestIds(grpc.UnaryUnaryClientInterceptor):
    """Notes the ``request-id`` of each unary call's response metadata, per thread; ``take()`` hands it out once."""

    def __init__(self):
        self._local = threading.local()

    def intercept_unary_unary(self, continuation, client_call_details, request):
        # Innermost interceptor: the outcome is the raw call, or the RpcError of a failed one (both are grpc.Call).
        self._local.last = None
        outcome = continuation(client_call_details, request)
        self._local.last = response_request_id(outcome)
        return outcome

    def take(self) -> str | None:
        """The request id of this thread's last unary call since the last ``take()``, or None."""
        request_id, self._local.last = getattr(self._local, "last", None), None
        return request_id


def response_request_id(call) -> str | None:
    """The ``request-id`` in a call's trailing (or else initial) metadata; None without one."""
    for read in ("trailing_metadata", "initial_metadata"):
        try:
            metadata = getattr(call, read)() or ()
        except Exception:  # noqa: BLE001 - a call that never got an answer has no metadata
            continue
        for key, value in metadata:
            if key == "request-id" and value:
                return str(value)
    return None


def _client_info() -> ClientInfo:
    try:
        return ClientInfo(client_library_version=metadata.version("google-ads"))
    except metadata.PackageNotFoundError:
        return ClientInfo()


class ServiceFactory:
    """Builds service clients on one channel; ``close()`` releases it."""

    def __init__(self, *, endpoint: str, credentials: Credentials, developer_token: str,
                 login_customer_id: str | None, plaintext: bool, secrets: tuple[str, ...] = ()):
        _REDACTING.secrets.update(s for s in secrets if s)
        if plaintext:
            # A loopback test server: no TLS, and no OAuth token to send.
            self._channel = grpc.insecure_channel(endpoint, options=_CHANNEL_OPTIONS)
        else:
            transport = _service_classes("GoogleAdsService")[1]
            self._channel = transport.create_channel(host=endpoint, credentials=credentials,
                                                     options=_CHANNEL_OPTIONS)
        #: The request id of each thread's last unary call (``request_ids.take()``).
        self.request_ids = RequestIds()
        self._intercepted = grpc.intercept_channel(
            self._channel,
            MetadataInterceptor(developer_token, login_customer_id),
            _LoggingInterceptor(_SDK_LOGGER, API_VERSION, endpoint),
            ExceptionInterceptor(API_VERSION, use_proto_plus=False),
            self.request_ids,
        )
        self._clients: dict[str, object] = {}

    def get(self, name: str):
        """The ``<name>Client`` of API v26 (e.g. ``GoogleAdsService``), built once; responses are protobuf messages."""
        if name not in self._clients:
            client_class, transport_class = _service_classes(name)
            transport = transport_class(channel=self._intercepted, client_info=_client_info())
            self._clients[name] = client_class(transport=transport)
        return self._clients[name]

    def close(self) -> None:
        self._channel.close()


def _service_classes(name: str):
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    module = import_module(f"google.ads.googleads.{API_VERSION}.services.services.{snake}")
    client_class = getattr(module, f"{name}Client")
    return client_class, client_class.get_transport_class("grpc")
