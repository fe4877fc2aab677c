"""Isolation: two reporters and a host bot with its own global TracerProvider share one process;
every span reaches only its own exporters, and the global provider and propagator are untouched.

The host's global set-up runs in a subprocess, so OpenTelemetry's set-once globals of the test
process stay clean for other tests."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from opentelemetry import propagate, trace

from otel_discord import Telemetry
from tests._backends import GrpcReceiver, HttpReceiver

HOST_BOT = textwrap.dedent(
    """
    import json, sys
    from opentelemetry import propagate, trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from otel_discord import Telemetry

    a_endpoint, b_endpoint = sys.argv[1:3]
    # The host bot: global provider, its exporter configured by OTEL_EXPORTER_OTLP_* variables.
    host_provider = TracerProvider(resource=Resource({"service.name": "host-bot"}))
    host_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(host_provider)
    propagator = propagate.get_global_textmap()
    host = trace.get_tracer("host")

    fast = {"enabled": True, "exporters": ["otlp"], "schedule_delay": 0.01}
    cog_a = Telemetry("cog-a", config={**fast, "otlp_endpoint": a_endpoint,
                                        "otlp_protocol": "grpc"})
    cog_b = Telemetry("cog-b", config={**fast, "otlp_endpoint": b_endpoint})

    with host.start_as_current_span("host-request") as request:
        with cog_a.span("a-work"):
            with host.start_as_current_span("host-inner"):
                pass
            with cog_b.span("b-work"):
                pass
        with cog_b.span("b-other"):
            cog_a.record_exception(RuntimeError("a-error"))

    @cog_a.traced("a-traced")
    def job():
        with host.start_as_current_span("host-in-job"):
            pass

    job()
    result = {
        "provider_untouched": trace.get_tracer_provider() is host_provider,
        "propagator_untouched": propagate.get_global_textmap() is propagator,
        "host_trace": format(request.get_span_context().trace_id, "032x"),
    }
    ok = [cog_a.force_flush(5), cog_b.force_flush(5), host_provider.force_flush(5000)]
    result["flushed"] = all(ok)
    cog_a.shutdown(2); cog_b.shutdown(2); host_provider.shutdown()
    print(json.dumps(result))
    """
)


def test_every_span_reaches_only_its_own_receiver(
    grpc_receiver: GrpcReceiver, http_receiver: HttpReceiver, tmp_path: Path
) -> None:
    host_receiver = HttpReceiver().start()
    try:
        env = {
            "PATH": "/usr/bin:/bin",
            "OTEL_DISCORD_DATA_DIR": str(tmp_path / "data"),
            "OTEL_EXPORTER_OTLP_ENDPOINT": host_receiver.endpoint,
            "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer host-secret",
        }
        done = subprocess.run(
            [sys.executable, "-c", HOST_BOT, grpc_receiver.endpoint, http_receiver.endpoint],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=Path(__file__).parent.parent,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["provider_untouched"] and result["propagator_untouched"]
        assert result["flushed"]

        a_spans = grpc_receiver.received.wait_for_names("a-work", "a-traced", "error RuntimeError")
        b_spans = http_receiver.received.wait_for_names("b-work", "b-other")
        host_spans = host_receiver.received.wait_for_names(
            "host-request", "host-inner", "host-in-job"
        )
        assert sorted(s["name"] for s in a_spans) == ["a-traced", "a-work", "error RuntimeError"]
        assert sorted(s["name"] for s in b_spans) == ["b-other", "b-work"]
        assert sorted(s["name"] for s in host_spans) == [
            "host-in-job",
            "host-inner",
            "host-request",
        ]
        assert {s["resource"]["service.name"] for s in a_spans} == {"cog-a"}
        assert {s["resource"]["service.name"] for s in b_spans} == {"cog-b"}

        # A reporter's spans never take the host's (or another reporter's) span as parent.
        for span in (*a_spans, *b_spans):
            assert span["trace_id"] != result["host_trace"]
        by_name = {s["name"]: s for s in (*a_spans, *b_spans)}
        assert by_name["a-work"]["parent_span_id"] == ""
        assert by_name["b-work"]["parent_span_id"] == ""
        assert by_name["error RuntimeError"]["parent_span_id"] == ""

        # The host's credentials went to the host's collector only.
        assert host_receiver.received.headers[0]["authorization"] == "Bearer host-secret"
        for headers in (*grpc_receiver.received.headers, *http_receiver.received.headers):
            assert "authorization" not in headers
    finally:
        host_receiver.stop()


def test_a_reporter_leaves_the_global_provider_and_propagator_alone() -> None:
    provider, propagator = trace.get_tracer_provider(), propagate.get_global_textmap()
    telemetry = Telemetry("polite", config={"enabled": True, "exporters": []})
    with telemetry.span("work"):
        pass
    telemetry.shutdown(1)
    assert trace.get_tracer_provider() is provider
    assert propagate.get_global_textmap() is propagator


def test_host_span_is_not_the_parent_of_a_reporter_span() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from otel_discord.testing import capture_spans

    host = TracerProvider().get_tracer("host")  # a host provider, not set globally
    telemetry = Telemetry("child", config={"enabled": True, "exporters": []})
    spans = capture_spans(telemetry)
    with host.start_as_current_span("host-request"), telemetry.span("cog-work"):
        pass
    (span,) = spans.spans
    assert span["parent_span_id"] is None
    telemetry.shutdown(1)


def test_a_span_from_the_reporters_tracer_parents_under_the_reporter_never_the_host() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from otel_discord.testing import capture_spans

    host = TracerProvider().get_tracer("host")  # a host provider, not set globally
    telemetry = Telemetry("child", config={"enabled": True, "exporters": []})
    spans = capture_spans(telemetry)
    with host.start_as_current_span("host-request") as host_span:
        with telemetry.tracer.start_as_current_span("raw-root"):
            pass
        with telemetry.span("cog-work") as ours:
            with telemetry.tracer.start_as_current_span("raw-child"):
                pass
            telemetry.tracer.start_span("raw-started").end()
    by_name = {s["name"]: s for s in spans.spans}
    host_trace = format(host_span.get_span_context().trace_id, "032x")
    assert by_name["raw-root"]["parent_span_id"] is None
    ours_id = format(ours.get_span_context().span_id, "016x")
    assert by_name["raw-child"]["parent_span_id"] == ours_id
    assert by_name["raw-started"]["parent_span_id"] == ours_id
    assert all(s["trace_id"] != host_trace for s in spans.spans)
    telemetry.shutdown(1)


def test_the_reporters_tracer_nests_its_own_current_spans_and_decorates_coroutines() -> None:
    import asyncio

    from otel_discord.testing import capture_spans

    telemetry = Telemetry("nesting", config={"enabled": True, "exporters": []})
    spans = capture_spans(telemetry)
    with (
        telemetry.span("outer"),
        telemetry.tracer.start_as_current_span("inner") as inner,
        telemetry.tracer.start_as_current_span("inner2"),
    ):
        pass

    @telemetry.tracer.start_as_current_span("decorated")
    async def job() -> None:
        await asyncio.sleep(0.05)

    asyncio.run(job())
    by_name = {s["name"]: s for s in spans.spans}
    assert by_name["inner2"]["parent_span_id"] == format(inner.get_span_context().span_id, "016x")
    decorated = by_name["decorated"]
    assert decorated["end_time"] - decorated["start_time"] >= 40_000_000  # the whole run
    telemetry.shutdown(1)
