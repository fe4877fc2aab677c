"""Exporters: console, file (OTLP/JSON lines), OTLP (gRPC or HTTP), and Sentry (extra)."""

from otel_discord.exporters._console import ConsoleTreeExporter
from otel_discord.exporters._file import OtlpJsonFileExporter, encode_spans_json
from otel_discord.exporters._logs import (
    ConsoleEventExporter,
    EventView,
    OtlpJsonLogFileExporter,
    encode_logs_json,
    event_view,
)
from otel_discord.exporters._registry import build_exporter_factories

__all__ = [
    "ConsoleEventExporter",
    "ConsoleTreeExporter",
    "EventView",
    "OtlpJsonFileExporter",
    "OtlpJsonLogFileExporter",
    "build_exporter_factories",
    "encode_logs_json",
    "encode_spans_json",
    "event_view",
]
