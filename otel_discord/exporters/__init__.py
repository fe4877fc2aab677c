"""Exporters: console, file (OTLP/JSON lines), OTLP (gRPC or HTTP), and Sentry (extra)."""

from otel_discord.exporters._console import ConsoleTreeExporter
from otel_discord.exporters._file import OtlpJsonFileExporter, encode_spans_json
from otel_discord.exporters._registry import build_exporter_factories

__all__ = [
    "ConsoleTreeExporter",
    "OtlpJsonFileExporter",
    "build_exporter_factories",
    "encode_spans_json",
]
