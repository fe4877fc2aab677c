"""Turns configured exporter names into factories; nothing is constructed until consent is given."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from opentelemetry.sdk.trace.export import SpanExporter

from otel_discord._version import __version__
from otel_discord.config import TelemetryConfig

ExporterFactory = Callable[[], SpanExporter]

#: Always sent with OTLP requests. It also stops the OTLP exporters from falling back to the
#: process-wide ``OTEL_EXPORTER_OTLP_HEADERS`` when this reporter has no headers of its own.
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

    return HttpExporter(endpoint=url, headers=all_headers, timeout=timeout)


def _file_path(config: TelemetryConfig, reporter: str) -> Path:
    from otel_discord.consent import _safe_name

    return config.resolved_data_dir() / "spans" / f"{_safe_name(reporter)}.jsonl"


def build_exporter_factories(
    config: TelemetryConfig, reporter: str
) -> list[tuple[str, ExporterFactory]]:
    """One ``(name, factory)`` per configured exporter, in configured order."""
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
            factories.append(
                (
                    name,
                    functools.partial(
                        make_otlp_exporter,
                        otlp_traces_url(config),
                        config.otlp_protocol,
                        dict(config.otlp_headers),
                        config.otlp_timeout,
                    ),
                )
            )
        elif name == "sentry":
            from otel_discord.exporters._sentry import sentry_exporter_factory

            factories.append((name, sentry_exporter_factory(config, reporter)))
    return factories
