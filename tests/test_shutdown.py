"""Shutdown and flush are bounded: they return within their timeout whether the collector is down
(connection refused) or accepts connections and never answers, and the bot never sees an error."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from otel_discord import Telemetry
from tests._backends import SilentServer, free_port

PROTOCOLS = ["grpc", "http/protobuf"]
TIMEOUT = 1.0
SLACK = 0.5  # thread start-up and scheduling on a busy 2-core machine


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def busy_reporter(endpoint: str, protocol: str) -> Telemetry:
    telemetry = Telemetry(
        "shutdown-cog",
        config={
            "enabled": True,
            "exporters": ["otlp"],
            "otlp_endpoint": endpoint,
            "otlp_protocol": protocol,
            "otlp_timeout": 30.0,  # far longer than the shutdown timeout: it must not matter
            "schedule_delay": 0.01,
        },
    )
    for i in range(20):
        with telemetry.span(f"work-{i}"):
            pass
    telemetry.record_exception(RuntimeError("pending"))
    return telemetry


def timed_shutdown(telemetry: Telemetry) -> tuple[bool, float]:
    start = time.monotonic()
    result = telemetry.shutdown(TIMEOUT)
    return result, time.monotonic() - start


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_shutdown_returns_within_its_timeout_with_the_collector_down(protocol: str) -> None:
    telemetry = busy_reporter(f"http://127.0.0.1:{free_port()}", protocol)
    _, elapsed = timed_shutdown(telemetry)
    assert elapsed < TIMEOUT + SLACK


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_shutdown_returns_within_its_timeout_when_the_collector_never_answers(
    silent: SilentServer, protocol: str
) -> None:
    telemetry = busy_reporter(silent.endpoint, protocol)
    deadline = time.monotonic() + 5
    while silent.bytes == 0 and time.monotonic() < deadline:  # the export is under way
        time.sleep(0.02)
    assert silent.bytes > 0
    result, elapsed = timed_shutdown(telemetry)
    assert elapsed < TIMEOUT + SLACK
    assert result is False  # it could not deliver, and says so


def test_force_flush_returns_within_its_timeout_when_the_collector_never_answers(
    silent: SilentServer,
) -> None:
    telemetry = busy_reporter(silent.endpoint, "http/protobuf")
    start = time.monotonic()
    assert telemetry.force_flush(0.5) is False
    assert time.monotonic() - start < 0.5 + SLACK
    telemetry.shutdown(0.2)


def test_spans_after_shutdown_are_dropped_without_error(silent: SilentServer) -> None:
    telemetry = busy_reporter(silent.endpoint, "http/protobuf")
    telemetry.shutdown(0.2)
    connections = silent.connections
    with telemetry.span("late"):
        pass
    telemetry.record_exception(ValueError("late"))
    assert not telemetry.enabled
    assert telemetry.shutdown(0.2) is True  # a second shutdown is a no-op
    time.sleep(0.2)
    assert silent.connections == connections


def test_shutdown_of_a_reporter_without_consent_is_immediate() -> None:
    telemetry = Telemetry(
        "off", config={"exporters": ["otlp"], "otlp_endpoint": f"http://127.0.0.1:{free_port()}"}
    )
    with telemetry.span("never"):
        pass
    result, elapsed = timed_shutdown(telemetry)
    assert result is True
    assert elapsed < SLACK
