"""OTLP/JSON lines, one ``ExportTraceServiceRequest`` a line, as the Collector's ``otlpjsonfile``
receiver reads them. The file rotates at a size bound, keeping one previous file."""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

_ID_KEYS = ("traceId", "spanId", "parentSpanId")


def _ids_to_hex(node: Any) -> None:
    # OTLP/JSON differs from the proto3 JSON mapping: trace and span ids are hex, not base64.
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _ids_to_hex(value)
    elif isinstance(node, list):
        for item in node:
            _ids_to_hex(item)


def encode_spans_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """Encode spans as an OTLP/JSON ``ExportTraceServiceRequest`` dict."""
    message = encode_spans(spans)
    data: dict[str, Any] = MessageToDict(message, use_integers_for_enums=True)
    _ids_to_hex(data)
    return data


class OtlpJsonFileExporter(SpanExporter):
    """Appends OTLP/JSON lines to ``path``; past ``max_bytes`` it moves the file to ``path.1``."""

    def __init__(self, path: str | os.PathLike[str], *, max_bytes: int = 5_000_000) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        #: Spans dropped because one alone was larger than ``max_bytes``.
        self.dropped = 0

    def _lines(self, spans: Sequence[ReadableSpan]) -> list[bytes]:
        """One line for the batch, or several when it would not fit the bound (halved until it
        does). A single span larger than the bound is dropped: the bound always holds."""
        line = (json.dumps(encode_spans_json(spans), separators=(",", ":")) + "\n").encode()
        if len(line) <= self.max_bytes:
            return [line]
        if len(spans) == 1:
            self.dropped += 1
            return []
        half = len(spans) // 2
        return [*self._lines(spans[:half]), *self._lines(spans[half:])]

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        lines = self._lines(spans)
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                for data in lines:
                    try:
                        size = self.path.stat().st_size
                    except FileNotFoundError:
                        size = 0
                    if size and size + len(data) > self.max_bytes:
                        os.replace(self.path, self.path.with_name(self.path.name + ".1"))
                    with open(self.path, "ab") as fh:
                        fh.write(data)
            except OSError:
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS if lines else SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
