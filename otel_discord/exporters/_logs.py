"""Event (log record) exporters: console lines and OTLP/JSON file lines, plus :class:`EventView`,
the plain shape another exporter (Sentry) can implement against.

An exporter of events is an OpenTelemetry ``LogRecordExporter``; a factory is a no-argument
callable returning one (built lazily, after consent). To add one, write
``<name>_log_exporter_factory(config, reporter) -> Callable[[], LogRecordExporter]``; the registry
(``build_log_exporter_factories``) picks it up for the exporter name of the same name.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult

from otel_discord._attributes import (
    EVENT_ACTION,
    EVENT_CATEGORY,
    EVENT_FEATURE,
    EVENT_METADATA_PREFIX,
    EVENT_PRIVATE_PREFIX,
)
from otel_discord.exporters._file import _ids_to_hex

__all__ = [
    "ConsoleEventExporter",
    "EventView",
    "OtlpJsonLogFileExporter",
    "encode_logs_json",
    "event_view",
]


@dataclass(frozen=True)
class EventView:
    """One exported event as plain data (already scrubbed and consent-checked)."""

    #: ``feature.action``, e.g. ``backup.restore`` or ``otel_discord.started``.
    name: str
    feature: str
    action: str
    #: ``usage`` (``record()``) or ``errors`` (start-up, still running).
    category: str
    timestamp_ns: int
    #: Numbers and booleans given as ``metadata``.
    metadata: dict[str, int | float | bool] = field(default_factory=dict)
    #: The allowlisted ``private_metadata`` keys.
    private: dict[str, Any] = field(default_factory=dict)
    #: Every other attribute (versions, cog count, scrub counts).
    attributes: dict[str, Any] = field(default_factory=dict)
    #: Resource attributes (service.name, service.version, install id, ...).
    resource: dict[str, Any] = field(default_factory=dict)


def event_view(record: ReadableLogRecord) -> EventView:
    """Turn an exported log record into an :class:`EventView`."""
    inner = record.log_record
    attributes = dict(inner.attributes or {})
    metadata: dict[str, Any] = {}
    private: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for key, value in attributes.items():
        if key.startswith(EVENT_METADATA_PREFIX):
            metadata[key[len(EVENT_METADATA_PREFIX) :]] = value
        elif key.startswith(EVENT_PRIVATE_PREFIX):
            private[key[len(EVENT_PRIVATE_PREFIX) :]] = value
        elif key not in (EVENT_FEATURE, EVENT_ACTION, EVENT_CATEGORY):
            rest[key] = value
    feature = str(attributes.get(EVENT_FEATURE, ""))
    action = str(attributes.get(EVENT_ACTION, ""))
    return EventView(
        name=inner.event_name or f"{feature}.{action}",
        feature=feature,
        action=action,
        category=str(attributes.get(EVENT_CATEGORY, "usage")),
        timestamp_ns=inner.timestamp or inner.observed_timestamp or 0,
        metadata=metadata,
        private=private,
        attributes=rest,
        resource=dict(record.resource.attributes) if record.resource else {},
    )


class ConsoleEventExporter(LogRecordExporter):
    """One line an event: ``event <name> [<category>] key=value ...``."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    @staticmethod
    def format(batch: Sequence[ReadableLogRecord]) -> str:
        lines = []
        for record in batch:
            view = event_view(record)
            service = view.resource.get("service.name", "")
            pairs = {**view.metadata, **view.private, **view.attributes}
            shown = " ".join(f"{k}={v!r}" for k, v in sorted(pairs.items()))
            lines.append(f"event {view.name} [{view.category}] ({service}) {shown}".rstrip())
        return "\n".join(lines) + ("\n" if lines else "")

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        out = self.stream if self.stream is not None else sys.stdout
        with self._lock:
            try:
                out.write(self.format(batch))
                out.flush()
            except Exception:
                return LogRecordExportResult.FAILURE
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def encode_logs_json(batch: Sequence[ReadableLogRecord]) -> dict[str, Any]:
    """Encode records as an OTLP/JSON ``ExportLogsServiceRequest`` dict (hex ids)."""
    data: dict[str, Any] = MessageToDict(encode_logs(batch), use_integers_for_enums=True)
    _ids_to_hex(data)
    return data


class OtlpJsonLogFileExporter(LogRecordExporter):
    """Appends OTLP/JSON lines (one ``ExportLogsServiceRequest`` each) to ``path``; past
    ``max_bytes`` the file moves to ``path.1``."""

    def __init__(self, path: str | os.PathLike[str], *, max_bytes: int = 5_000_000) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        if not batch:
            return LogRecordExportResult.SUCCESS
        data = (json.dumps(encode_logs_json(batch), separators=(",", ":")) + "\n").encode()
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    size = self.path.stat().st_size
                except FileNotFoundError:
                    size = 0
                if size and size + len(data) > self.max_bytes:
                    os.replace(self.path, self.path.with_name(self.path.name + ".1"))
                with open(self.path, "ab") as fh:
                    fh.write(data)
            except OSError:
                return LogRecordExportResult.FAILURE
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
