"""Cost of turning one error span into a Sentry event (in the exporter's thread, never the bot's),
side by side in one run, as ratios to encoding the same span as OTLP/JSON (the file exporter):
parsing the traceback into frames, and that plus scrubbing the whole event again (``before_send``).

Run: .venv/bin/python benchmarks/bench_sentry.py
"""

from __future__ import annotations

import timeit

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from otel_discord.exporters import encode_spans_json
from otel_discord.exporters._sentry import scrub_event
from otel_discord.exporters._sentry_event import exception_events
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
    n = 2_000
    results = {name: min(timeit.repeat(fn, number=n, repeat=3)) / n for name, fn in cases.items()}
    base = results["OTLP/JSON encode (file exporter)"]
    for name, seconds in results.items():
        print(f"{name:36s} {seconds * 1e6:9.1f} us/span  {seconds / base:6.2f}x")


if __name__ == "__main__":
    main()
