"""Turns configured exporter names into factories; nothing is constructed until consent is given."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit, urlunsplit

from opentelemetry.sdk.trace.export import SpanExporter

from otel_discord._version import __version__
from otel_discord.config import TelemetryConfig

if TYPE_CHECKING:
    from opentelemetry.sdk._logs.export import LogRecordExporter
    from opentelemetry.sdk.resources import Resource

    from otel_discord._durable import DurableDelivery
    from otel_discord.scrubbing import Scrubber

ExporterFactory = Callable[[], SpanExporter]

#: Always sent with OTLP requests. It also stops the gRPC exporter from falling back to the
#: process-wide ``OTEL_EXPORTER_OTLP_HEADERS`` (the HTTP one needs :func:`only_own_headers`).
CLIENT_HEADER = ("x-otel-discord-version", __version__)


def otlp_traces_url(config: TelemetryConfig) -> str:
    """The URL the OTLP exporter posts to, following the OpenTelemetry endpoint rules."""
    grpc = config.otlp_protocol == "grpc"
    endpoint = config.otlp_endpoint or (
        "http://localhost:4317" if grpc else "http://localhost:4318"
    )
    if grpc:
        return endpoint
    parts = urlsplit(endpoint)
    source = config.sources.get("otlp_endpoint", "")
    if parts.path in ("", "/") or source.endswith("OTEL_EXPORTER_OTLP_ENDPOINT"):
        path = parts.path.rstrip("/") + "/v1/traces"
        return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))
    return endpoint


def make_otlp_exporter(
    url: str, protocol: str, headers: dict[str, str], timeout: float
) -> SpanExporter:
    """An OTLP span exporter from opentelemetry-exporter-otlp (shared by ``otlp`` and Sentry)."""
    all_headers = dict([CLIENT_HEADER, *headers.items()])
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        parts = urlsplit(url)
        return GrpcExporter(
            endpoint=parts.netloc or url,
            insecure=parts.scheme != "https",
            headers=all_headers,
            timeout=timeout,
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    return only_own_headers(
        HttpExporter(endpoint=url, headers=all_headers, timeout=timeout), all_headers
    )


E = TypeVar("E")


def only_own_headers(exporter: E, headers: Mapping[str, str]) -> E:
    """Strip headers an OTLP/HTTP exporter merged in from ``OTEL_EXPORTER_OTLP_*HEADERS``.

    Since opentelemetry-exporter-otlp 1.4x the HTTP exporters merge the process-wide header
    variables into the headers they are given. Those belong to the host bot (its credentials for
    its own collector) and must not travel to this reporter's endpoint; when the operator's
    variables are meant for this reporter, ``load_config`` already put them in ``headers``.
    """
    own = {k.lower() for k in headers}
    holders = [getattr(getattr(exporter, "_client", None), "_headers", None)]
    holders.append(getattr(exporter, "_headers", None))  # older exporter versions
    holders.append(getattr(getattr(exporter, "_session", None), "headers", None))
    for held in holders:
        if not isinstance(held, MutableMapping):
            continue
        for key in list(held):
            if key.lower() not in own and key.lower() not in _TRANSPORT_HEADERS:
                del held[key]
    return exporter


#: Headers the exporter sets itself (kept when stripping the host's).
_TRANSPORT_HEADERS = frozenset(
    {"content-type", "content-encoding", "user-agent", "accept", "accept-encoding", "connection"}
)


def _file_path(config: TelemetryConfig, reporter: str) -> Path:
    from otel_discord.consent import _safe_name

    return config.resolved_data_dir() / "spans" / f"{_safe_name(reporter)}.jsonl"


def build_exporter_factories(
    config: TelemetryConfig,
    reporter: str,
    *,
    durable: DurableDelivery | None = None,
    scrubber: Scrubber | None = None,
    gate: Callable[[], bool] | None = None,
    category_gate: Callable[[str], bool] | None = None,
    resource: Resource | None = None,
) -> list[tuple[str, ExporterFactory]]:
    """One ``(name, factory)`` per configured exporter, in configured order. With ``durable``
    the OTLP exporter keeps error-bearing spans of failed batches in its disk queue. The Sentry
    exporter takes the reporter's ``scrubber`` (run over whole events), its consent ``gate``
    (``errors``), ``category_gate`` (consent by category, for its disk queue: the one the
    ``durable`` queue has) and ``resource`` (install id, version)."""
    factories: list[tuple[str, ExporterFactory]] = []
    for name in config.exporters:
        if name == "console":
            from otel_discord.exporters._console import ConsoleTreeExporter

            factories.append((name, ConsoleTreeExporter))
        elif name == "file":
            from otel_discord.exporters._file import OtlpJsonFileExporter

            factories.append(
                (
                    name,
                    functools.partial(
                        OtlpJsonFileExporter,
                        _file_path(config, reporter),
                        max_bytes=config.file_max_bytes,
                    ),
                )
            )
        elif name == "otlp":
            otlp: ExporterFactory = functools.partial(
                make_otlp_exporter,
                otlp_traces_url(config),
                config.otlp_protocol,
                dict(config.otlp_headers),
                config.otlp_timeout,
            )
            if durable is not None:
                otlp = functools.partial(_durable_spans, durable, otlp)
            factories.append((name, otlp))
        elif name == "sentry":
            from otel_discord.exporters._sentry import sentry_exporter_factory

            factories.append(
                (
                    name,
                    sentry_exporter_factory(
                        config,
                        reporter,
                        scrubber=scrubber,
                        gate=gate,
                        category_gate=category_gate,
                        resource=resource,
                    ),
                )
            )
    return factories


def _durable_spans(durable: DurableDelivery, factory: ExporterFactory) -> SpanExporter:
    return durable.wrap_spans(factory())


def build_log_exporter_factories(
    config: TelemetryConfig, reporter: str, *, durable: DurableDelivery | None = None
) -> list[tuple[str, Callable[[], LogRecordExporter]]]:
    """Event (log record) exporters next to the span ones: ``console`` lines, ``file`` OTLP/JSON
    lines in ``<data_dir>/events/``, ``otlp`` logs (durable), and ``sentry`` when its module
    provides ``sentry_log_exporter_factory(config, reporter)``."""
    from otel_discord.consent import _safe_name
    from otel_discord.exporters import _logs, _logs_otlp

    factories: list[tuple[str, Callable[[], LogRecordExporter]]] = []
    for name in config.exporters:
        if name == "console":
            factories.append((name, _logs.ConsoleEventExporter))
        elif name == "file":
            path = config.resolved_data_dir() / "events" / f"{_safe_name(reporter)}.jsonl"
            factories.append(
                (
                    name,
                    functools.partial(
                        _logs.OtlpJsonLogFileExporter, path, max_bytes=config.file_max_bytes
                    ),
                )
            )
        elif name == "otlp":
            url = _logs_otlp.otlp_logs_url(config)
            args = (url, config.otlp_protocol, dict(config.otlp_headers), config.otlp_timeout)

            def otlp_logs(
                args: tuple[str, str, dict[str, str], float] = args,
            ) -> LogRecordExporter:
                exporter = _logs_otlp.make_otlp_log_exporter(*args)
                return durable.wrap_logs(exporter) if durable is not None else exporter

            factories.append((name, otlp_logs))
        elif name == "sentry":
            from otel_discord.exporters import _sentry

            make = getattr(_sentry, "sentry_log_exporter_factory", None)
            if make is not None:
                factories.append((name, make(config, reporter)))
    return factories
