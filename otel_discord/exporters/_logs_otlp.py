"""OTLP for events (logs signal), and the raw OTLP senders the durable queue resends with.

Queued batches are stored as encoded OTLP requests, so resending them needs no SDK objects:
one POST (HTTP/protobuf) or one ``Export`` call (gRPC) per batch, to the same endpoint and with
the same headers as the live exporters.
"""

from __future__ import annotations

import math
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from opentelemetry.sdk._logs.export import LogRecordExporter

from otel_discord._durable import DurableDelivery, DurableQueue, RetryAfter, Sender
from otel_discord.config import TelemetryConfig
from otel_discord.exporters._registry import CLIENT_HEADER, only_own_headers, otlp_traces_url

__all__ = [
    "durable_delivery",
    "make_otlp_log_exporter",
    "make_otlp_sender",
    "otlp_logs_url",
]


def otlp_logs_url(config: TelemetryConfig) -> str:
    """Where OTLP logs go: the traces endpoint with ``/v1/logs`` instead of ``/v1/traces``."""
    traces = otlp_traces_url(config)
    if config.otlp_protocol == "grpc":
        return traces
    parts = urlsplit(traces)
    base = parts.path.removesuffix("/v1/traces") if parts.path.endswith("/v1/traces") else ""
    path = base + "/v1/logs"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def make_otlp_log_exporter(
    url: str, protocol: str, headers: dict[str, str], timeout: float
) -> LogRecordExporter:
    """An OTLP log-record exporter from opentelemetry-exporter-otlp."""
    all_headers = dict([CLIENT_HEADER, *headers.items()])
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
            OTLPLogExporter as GrpcLogExporter,
        )

        parts = urlsplit(url)
        return GrpcLogExporter(
            endpoint=parts.netloc or url,
            insecure=parts.scheme != "https",
            headers=all_headers,
            timeout=timeout,
        )
    from opentelemetry.exporter.otlp.proto.http._log_exporter import (
        OTLPLogExporter as HttpLogExporter,
    )

    # The HTTP exporter merges the host's OTEL_EXPORTER_OTLP_*HEADERS in: strip them.
    return only_own_headers(
        HttpLogExporter(endpoint=url, headers=all_headers, timeout=timeout), all_headers
    )


#: Answers after which a queued batch is tried again (with 5xx); any other 4xx refuses it for
#: good, as the OTLP specification says, so it cannot block every newer batch behind it.
#: Authentication answers (401, 403) are kept too, as the Sentry exporter keeps them: they refuse
#: every batch alike, so none blocks another, and once the operator fixes the key or token the
#: queue (bounded in size and age) is delivered instead of lost.
_RETRYABLE_HTTP = (401, 403, 408, 429)
#: gRPC codes the OTLP specification calls retryable, the two authentication codes (as 401 and
#: 403 above) and the server-side failures UNKNOWN and INTERNAL (what a proxy's HTTP 500 or a
#: raising collector handler becomes, kept as a 5xx is); any other code refuses the batch for
#: good (INVALID_ARGUMENT, UNIMPLEMENTED, ...). A refusal that applies to every batch must not
#: empty the whole queue in one drain round.
_RETRYABLE_GRPC = frozenset(
    {
        "UNKNOWN",
        "INTERNAL",
        "UNAUTHENTICATED",
        "PERMISSION_DENIED",
        "CANCELLED",
        "DEADLINE_EXCEEDED",
        "RESOURCE_EXHAUSTED",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNAVAILABLE",
        "DATA_LOSS",
    }
)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delay-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _http_sender(url: str, headers: dict[str, str], timeout: float) -> Sender:
    all_headers = {**dict([CLIENT_HEADER, *headers.items()])}
    all_headers["Content-Type"] = "application/x-protobuf"

    def send(payload: bytes) -> bool | RetryAfter | None:
        request = urllib.request.Request(url, data=payload, headers=all_headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return 200 <= int(response.status) < 300
        except urllib.error.HTTPError as exc:
            if exc.code not in _RETRYABLE_HTTP and exc.code < 500:
                return None
            if exc.code in (429, 503):
                wait = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
                if wait is not None:
                    return RetryAfter(wait)
            return False
        except (urllib.error.URLError, OSError, ValueError):
            return False

    return send


def _grpc_retry_delay(exc: Any) -> float | None:
    """The delay of a ``google.rpc.RetryInfo`` the server attached to its error, or None."""
    try:
        from google.rpc.error_details_pb2 import RetryInfo  # type: ignore[import-untyped]

        trailers = dict(exc.trailing_metadata() or ())
        raw = trailers.get("google.rpc.retryinfo-bin")
        if not isinstance(raw, bytes):
            return None
        delay = RetryInfo.FromString(raw).retry_delay
        return max(0.0, float(delay.seconds) + float(delay.nanos) / 1e9)
    except Exception:
        return None


def _grpc_sender(url: str, kind: str, headers: dict[str, str], timeout: float) -> Sender:
    import grpc  # type: ignore[import-untyped]

    parts = urlsplit(url)
    target = parts.netloc or url
    metadata = [(k.lower(), v) for k, v in [CLIENT_HEADER, *headers.items()]]
    state: dict[str, Any] = {}

    def stub() -> tuple[Any, Callable[[bytes], Any]]:
        if "stub" not in state:
            # Bounded reconnect backoff: after a long outage the queue is tried within seconds
            # of the backend's return rather than gRPC's default of up to two minutes.
            options = [("grpc.max_reconnect_backoff_ms", 5000)]
            channel = (
                grpc.secure_channel(target, grpc.ssl_channel_credentials(), options=options)
                if parts.scheme == "https"
                else grpc.insecure_channel(target, options=options)
            )
            if kind == "traces":
                from opentelemetry.proto.collector.trace.v1 import (
                    trace_service_pb2,
                    trace_service_pb2_grpc,
                )

                state["stub"] = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
                state["parse"] = trace_service_pb2.ExportTraceServiceRequest.FromString
            else:
                from opentelemetry.proto.collector.logs.v1 import (
                    logs_service_pb2,
                    logs_service_pb2_grpc,
                )

                state["stub"] = logs_service_pb2_grpc.LogsServiceStub(channel)  # type: ignore[no-untyped-call]
                state["parse"] = logs_service_pb2.ExportLogsServiceRequest.FromString
        return state["stub"], state["parse"]

    def send(payload: bytes) -> bool | RetryAfter | None:
        try:
            client, parse = stub()
            client.Export(parse(payload), metadata=metadata, timeout=timeout)
            return True
        except grpc.RpcError as exc:
            code = exc.code() if callable(getattr(exc, "code", None)) else None
            name = getattr(code, "name", None)
            if name is not None and name not in _RETRYABLE_GRPC:
                return None
            wait = _grpc_retry_delay(exc)
            return RetryAfter(wait) if wait is not None else False
        except Exception:
            return False

    return send


def make_otlp_sender(config: TelemetryConfig, kind: str) -> Sender:
    """Send one encoded OTLP request of ``kind`` (``traces`` or ``logs``) to the configured
    endpoint; True when the backend accepted it."""
    url = otlp_traces_url(config) if kind == "traces" else otlp_logs_url(config)
    headers = dict(config.otlp_headers)
    timeout = max(0.1, config.otlp_timeout)
    if config.otlp_protocol == "grpc":
        return _grpc_sender(url, kind, headers, timeout)
    return _http_sender(url, headers, timeout)


def durable_delivery(
    config: TelemetryConfig, reporter: str, gate: Callable[[str], bool]
) -> DurableDelivery | None:
    """The reporter's disk queue for the OTLP exporter, or None (no ``otlp``, or disabled)."""
    if "otlp" not in config.exporters or config.queue_max_bytes == 0:
        return None
    from otel_discord.consent import _safe_name

    queue = DurableQueue(
        config.resolved_data_dir() / "queue" / _safe_name(reporter),
        max_bytes=config.queue_max_bytes,
        max_age=config.queue_max_age,
    )
    senders = {kind: make_otlp_sender(config, kind) for kind in ("traces", "logs")}
    return DurableDelivery(queue, senders, gate, retry_interval=config.queue_retry_interval)
