"""Helpers for your own tests: capture what a reporter exports (after scrubbing) as plain dicts.

Use the fixture by adding ``pytest_plugins = ["otel_discord.testing"]`` to your ``conftest.py``::

    def test_my_loop(otel_capture):
        telemetry, spans = otel_capture
        with telemetry.span("work"):
            ...
        assert spans.names() == ["work"]
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from otel_discord.exporters._logs import EventView, event_view
from otel_discord.telemetry import Telemetry

__all__ = [
    "EventCapture",
    "SpanCapture",
    "capture_events",
    "capture_spans",
    "otel_capture",
    "span_to_dict",
]


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def span_to_dict(span: ReadableSpan) -> dict[str, Any]:
    """A span as plain data: ids in hex, attributes, events, links, status and resource."""
    ctx = span.context
    return {
        "name": span.name,
        "trace_id": f"{ctx.trace_id:032x}" if ctx else None,
        "span_id": f"{ctx.span_id:016x}" if ctx else None,
        "parent_span_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "kind": span.kind.name,
        "status": {
            "code": span.status.status_code.name,
            "description": span.status.description,
        },
        "attributes": {k: _plain(v) for k, v in (span.attributes or {}).items()},
        "events": [
            {"name": e.name, "attributes": {k: _plain(v) for k, v in (e.attributes or {}).items()}}
            for e in span.events
        ],
        "links": [
            {
                "trace_id": f"{link.context.trace_id:032x}",
                "span_id": f"{link.context.span_id:016x}",
                "attributes": dict(link.attributes or {}),
            }
            for link in span.links
        ],
        "resource": dict(span.resource.attributes) if span.resource else {},
        "start_time": span.start_time,
        "end_time": span.end_time,
    }


class SpanCapture(SpanExporter):
    """An exporter that keeps exported spans as dicts, in export order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.spans: list[dict[str, Any]] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            self.spans.extend(span_to_dict(s) for s in spans)
        return SpanExportResult.SUCCESS

    def names(self) -> list[str]:
        return [s["name"] for s in self.spans]

    def by_name(self, name: str) -> list[dict[str, Any]]:
        return [s for s in self.spans if s["name"] == name]

    def clear(self) -> None:
        with self._lock:
            self.spans.clear()


def capture_spans(telemetry: Telemetry) -> SpanCapture:
    """Attach a capture to ``telemetry``: it sees exactly what the exporters get, synchronously."""
    capture = SpanCapture()
    telemetry._processor.add_processor(SimpleSpanProcessor(capture))
    return capture


class EventCapture(LogRecordExporter):
    """An exporter that keeps exported events (after consent and scrubbing) as ``EventView``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[EventView] = []

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        with self._lock:
            self.events.extend(event_view(r) for r in batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def names(self) -> list[str]:
        return [e.name for e in self.events]


def capture_events(telemetry: Telemetry) -> EventCapture:
    """Attach an event capture to ``telemetry``: it sees what the exporters get, synchronously::

    events = capture_events(telemetry)
    telemetry.record("backup", "restore", metadata={"files": 3})
    assert events.names() == ["backup.restore"]
    """
    capture = EventCapture()
    telemetry._events.processor.add_exporter(capture)
    return capture


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is only needed for the fixture
    pass
else:

    @pytest.fixture
    def otel_capture(tmp_path: Path) -> Iterator[tuple[Telemetry, SpanCapture]]:
        """An enabled reporter with no exporters but a capture, its data in ``tmp_path``."""
        telemetry = Telemetry(
            "test-reporter",
            version="0.0.0",
            config={"enabled": True, "exporters": [], "data_dir": str(tmp_path)},
        )
        capture = capture_spans(telemetry)
        try:
            yield telemetry, capture
        finally:
            telemetry.shutdown(2.0)
