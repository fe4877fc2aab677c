"""Sentry exporter (extra ``otel-discord[sentry]``): see issue "Sentry exporter"."""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry.sdk.trace.export import SpanExporter

from otel_discord.config import TelemetryConfig


def sentry_exporter_factory(config: TelemetryConfig, reporter: str) -> Callable[[], SpanExporter]:
    def factory() -> SpanExporter:
        raise NotImplementedError("the sentry exporter is not available yet")

    return factory
