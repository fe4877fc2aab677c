"""Cost of turning one error span into a Sentry event (in the exporter's thread, never the bot's),
side by side in one run, as ratios to encoding the same span as OTLP/JSON (the file exporter):
parsing the traceback into frames, and that plus scrubbing the whole event again (``before_send``).
Also one product event record turned into a Sentry log item and scrubbed again, against encoding
it as OTLP/JSON.

Run: .venv/bin/python benchmarks/bench_sentry.py
"""

from __future__ import annotations

import timeit
from collections.abc import Callable

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from otel_discord.exporters import encode_spans_json
from otel_discord.exporters._logs import encode_logs_json
from otel_discord.exporters._sentry import scrub_event, scrub_logs
from otel_discord.exporters._sentry_event import exception_events, log_items
from otel_discord.scrubbing import Scrubber


class Keep(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: object) -> SpanExportResult:
        self.spans.extend(spans)  # type: ignore[call-overload]
        return SpanExportResult.SUCCESS


def deep(n: int) -> None:
    if n == 0:
        raise LookupError("cannot reach 203.0.113.7 for guild 1184273456789012345")
    deep(n - 1)


def error_span() -> ReadableSpan:
    keep = Keep()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(keep))
    tracer = provider.get_tracer("bench")
    try:
        with tracer.start_as_current_span("loop refresh", attributes={"discord.kind": "loop"}):
            try:
                deep(20)  # a 20-frame traceback with a cause chain
            except LookupError as exc:
                raise RuntimeError("refresh failed") from exc
    except RuntimeError:
        pass
    return keep.spans[0]


def event_record() -> ReadableLogRecord:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    provider.get_logger("bench").emit(
        body="backup.restore",
        event_name="backup.restore",
        attributes={
            "otel_discord.event.feature": "backup",
            "otel_discord.event.action": "restore",
            "otel_discord.event.category": "usage",
            "otel_discord.event.metadata.files": 3,
            "otel_discord.event.metadata.full": True,
        },
    )
    return memory.get_finished_logs()[0]


def main() -> None:
    span = error_span()
    scrubber = Scrubber()
    packages = frozenset({"mycog"})

    def event_and_scrub() -> None:
        for event in exception_events([span], packages):
            scrub_event(scrubber, event)

    cases = {
        "OTLP/JSON encode (file exporter)": lambda: encode_spans_json([span]),
        "Sentry event: parse frames": lambda: exception_events([span], packages),
        "Sentry event: parse + scrub whole": event_and_scrub,
    }
    report(cases, "OTLP/JSON encode (file exporter)", "span")

    record = event_record()

    def log_and_scrub() -> None:
        scrub_logs(scrubber, log_items([record], release="mycog@1.0", environment="production",
                                       user_id="0" * 32, trace_id="1" * 32))

    report(
        {
            "OTLP/JSON encode (event record)": lambda: encode_logs_json([record]),
            "Sentry log item + scrub whole": log_and_scrub,
        },
        "OTLP/JSON encode (event record)",
        "event",
    )


def report(cases: dict[str, Callable[[], object]], base_name: str, unit: str) -> None:
    n = 2_000
    results = {name: min(timeit.repeat(fn, number=n, repeat=3)) / n for name, fn in cases.items()}
    base = results[base_name]
    for name, seconds in results.items():
        print(f"{name:36s} {seconds * 1e6:9.1f} us/{unit}  {seconds / base:6.2f}x")


if __name__ == "__main__":
    main()
