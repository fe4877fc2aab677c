"""A readable, indented tree of spans with their events and status; colour only on a TTY."""

from __future__ import annotations

import sys
import threading
from collections import defaultdict
from collections.abc import Sequence
from typing import TextIO

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

_RESET, _DIM, _RED, _GREEN, _CYAN = "\033[0m", "\033[2m", "\033[31m", "\033[32m", "\033[36m"


class ConsoleTreeExporter(SpanExporter):
    """Writes each batch as trees: one line a span, events and status indented beneath."""

    def __init__(self, stream: TextIO | None = None, *, color: bool | None = None) -> None:
        self.stream = stream
        self.color = color
        self._lock = threading.Lock()

    def _out(self) -> TextIO:
        return self.stream if self.stream is not None else sys.stdout

    def _paint(self, code: str, text: str, color: bool) -> str:
        return f"{code}{text}{_RESET}" if color else text

    def format(self, spans: Sequence[ReadableSpan], *, color: bool = False) -> str:
        by_id = {s.context.span_id: s for s in spans if s.context is not None}
        children: dict[int | None, list[ReadableSpan]] = defaultdict(list)
        for s in spans:
            parent = s.parent.span_id if s.parent is not None else None
            children[parent if parent in by_id else None].append(s)
        lines: list[str] = []

        def walk(span: ReadableSpan, depth: int) -> None:
            pad = "  " * depth
            ms = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
            code = span.status.status_code
            mark = {
                StatusCode.ERROR: self._paint(_RED, "ERROR", color),
                StatusCode.OK: self._paint(_GREEN, "OK", color),
            }.get(code, "")
            service = span.resource.attributes.get("service.name", "") if span.resource else ""
            head = f"{pad}{self._paint(_CYAN, span.name, color)} {ms:.1f} ms"
            if depth == 0:
                trace_id = f"{span.context.trace_id:032x}" if span.context else "?"
                head += self._paint(_DIM, f"  [{service} trace {trace_id}]", color)
            if mark:
                head += f"  {mark}"
                if span.status.description:
                    head += f": {span.status.description}"
            lines.append(head)
            for key, value in sorted((span.attributes or {}).items()):
                lines.append(f"{pad}  {self._paint(_DIM, key, color)} = {value!r}")
            for event in span.events:
                lines.append(f"{pad}  * {event.name}")
                for key, value in (event.attributes or {}).items():
                    shown = str(value)
                    if key == "exception.stacktrace":
                        shown = "\n".join(f"{pad}        {ln}" for ln in shown.splitlines())
                        lines.append(f"{pad}      {key}:\n{shown}")
                    else:
                        lines.append(f"{pad}      {key} = {value!r}")
            kids = children.get(span.context.span_id if span.context else None, [])
            for child in sorted(kids, key=lambda s: s.start_time or 0):
                walk(child, depth + 1)

        for root in sorted(children.get(None, []), key=lambda s: s.start_time or 0):
            walk(root, 0)
        return "\n".join(lines) + ("\n" if lines else "")

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        out = self._out()
        color = self.color
        if color is None:
            try:
                color = out.isatty()
            except Exception:
                color = False
        text = self.format(spans, color=color)
        with self._lock:
            try:
                out.write(text)
                out.flush()
            except Exception:
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
