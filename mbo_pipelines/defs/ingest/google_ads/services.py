"""Google Ads API service clients (v26) wired the way ``GoogleAdsClient.get_service`` wires them, on a channel we choose.

The SDK builds its channel inside ``get_service`` (TLS with OAuth credentials,
always). To reach a fake server on a loopback address the connector needs a
plaintext channel, so this module does what ``get_service`` does, with the
SDK's own interceptors (developer-token and login-customer-id headers,
request logging, ``GoogleAdsException`` from the trailing metadata), over
either the transport's own TLS channel or ``grpc.insecure_channel``. The
SDK's request log masks the developer token; its records pass through
``redact`` as well, since they quote the server's error texts verbatim.
"""

from __future__ import annotations

import logging
import re
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
        self._intercepted = grpc.intercept_channel(
            self._channel,
            MetadataInterceptor(developer_token, login_customer_id),
            LoggingInterceptor(_SDK_LOGGER, API_VERSION, endpoint),
            ExceptionInterceptor(API_VERSION, use_proto_plus=False),
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
