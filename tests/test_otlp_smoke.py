"""A span from a reporter crosses a real collector (rotel) and arrives intact and scrubbed."""

from __future__ import annotations

import pytest

from otel_discord import Telemetry
from tests._backends import CollectorChain


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_span_reaches_receiver_through_rotel(collector: CollectorChain, protocol: str) -> None:
    endpoint = (
        collector.rotel.grpc_endpoint if protocol == "grpc" else collector.rotel.http_endpoint
    )
    telemetry = Telemetry(
        "smoke",
        version="9.9",
        config={
            "enabled": True,
            "exporters": ["otlp"],
            "otlp_endpoint": endpoint,
            "otlp_protocol": protocol,
            "schedule_delay": 0.05,
        },
    )
    with telemetry.span("hello", {"note": "from 192.0.2.44"}):
        pass
    assert telemetry.force_flush(5)
    (span,) = collector.received.wait_for_names("hello")
    assert span["attributes"]["note"] == "from IP-ADDRESS"
    assert span["resource"]["service.name"] == "smoke"
    assert span["resource"]["service.version"] == "9.9"
    assert "host.name" not in span["resource"]
    telemetry.shutdown(2)
