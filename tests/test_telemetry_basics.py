"""Telemetry's public API, observed through the capture helper (what the exporters receive)."""

from __future__ import annotations

import asyncio

from otel_discord import Telemetry
from otel_discord.testing import SpanCapture, capture_spans


def test_span_nests_under_reporter_span(otel_capture: tuple[Telemetry, SpanCapture]) -> None:
    telemetry, spans = otel_capture
    with telemetry.span("outer"), telemetry.span("inner"):
        pass
    inner, outer = spans.by_name("inner")[0], spans.by_name("outer")[0]
    assert inner["parent_span_id"] == outer["span_id"]
    assert inner["trace_id"] == outer["trace_id"]


def test_traced_coroutine_span_covers_whole_run(
    otel_capture: tuple[Telemetry, SpanCapture],
) -> None:
    telemetry, spans = otel_capture

    @telemetry.traced("slow")
    async def slow() -> int:
        await asyncio.sleep(0.05)
        return 7

    assert asyncio.run(slow()) == 7
    (span,) = spans.by_name("slow")
    assert span["end_time"] - span["start_time"] >= 45_000_000


def test_exception_in_span_is_recorded_and_reraised(
    otel_capture: tuple[Telemetry, SpanCapture],
) -> None:
    telemetry, spans = otel_capture
    try:
        with telemetry.span("job"):
            raise KeyError("missing")
    except KeyError:
        pass
    else:  # pragma: no cover
        raise AssertionError("the exception must propagate")
    (span,) = spans.by_name("job")
    assert span["status"]["code"] == "ERROR"
    assert span["events"][0]["name"] == "exception"
    assert span["events"][0]["attributes"]["exception.type"] == "KeyError"


def test_disabled_reporter_exports_nothing_and_builds_no_exporter(tmp_path: object) -> None:
    telemetry = Telemetry(
        "off", config={"exporters": ["otlp"], "otlp_endpoint": "http://127.0.0.1:9"}
    )
    spans = capture_spans(telemetry)
    with telemetry.span("never"):
        pass
    assert not telemetry.enabled
    assert spans.spans == []
    assert not telemetry.exporting
    telemetry.shutdown(1.0)
