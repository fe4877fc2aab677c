"""A bot's reporter with the ``otlp`` exporter -> a real collector (rotel) -> a receiver: spans
and exception events arrive intact, scrubbed, and carrying the shard/cluster resource that tells
many bot processes apart."""

from __future__ import annotations

from typing import Any

import pytest

from otel_discord import Telemetry
from tests._backends import CollectorChain

# Synthetic secrets with the real shapes.
TOKEN = "MTA5ODc2NTQzMjEwOTg3NjU0Mw.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB"
INVITE = "https://discord.gg/AbCd1234"
IPV4 = "198.51.100.23"
SECRETS = (TOKEN, INVITE, IPV4)


def _reporter(collector: CollectorChain, protocol: str) -> Telemetry:
    endpoint = (
        collector.rotel.grpc_endpoint if protocol == "grpc" else collector.rotel.http_endpoint
    )
    return Telemetry(
        "shardbot",
        version="2.0.0",
        config={
            "enabled": True,
            "exporters": ["otlp"],
            "otlp_endpoint": endpoint,
            "otlp_protocol": protocol,
            "schedule_delay": 0.05,
            "shard_id": [2, 3],
            "shard_count": 8,
            "cluster": "eu-west",
        },
    )


def _failing_job(telemetry: Telemetry) -> None:
    with pytest.raises(ValueError), telemetry.span("sync-guilds", {"source": f"peer {IPV4}"}):
        with telemetry.span("fetch", {"invite": f"join {INVITE}"}):
            pass
        raise ValueError(f"login failed with {TOKEN} from {IPV4}")


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_spans_and_exception_events_cross_the_collector_scrubbed(
    collector: CollectorChain, protocol: str
) -> None:
    telemetry = _reporter(collector, protocol)
    try:
        _failing_job(telemetry)
        assert telemetry.force_flush(5)
        spans = collector.received.wait_for_names("sync-guilds", "fetch")
    finally:
        telemetry.shutdown(2)
    by_name: dict[str, dict[str, Any]] = {s["name"]: s for s in spans}
    parent, child = by_name["sync-guilds"], by_name["fetch"]

    # Intact: the trace's shape, the attributes (scrubbed), the error status and event.
    assert child["trace_id"] == parent["trace_id"]
    assert child["parent_span_id"] == parent["span_id"]
    assert parent["attributes"]["source"] == "peer IP-ADDRESS"
    assert child["attributes"]["invite"] == "join DISCORD-INVITE-LINK"
    assert parent["status"]["code"] == 2  # STATUS_CODE_ERROR
    assert parent["status"]["message"] == "ValueError: login failed with BOT-TOKEN from IP-ADDRESS"
    (event,) = [e for e in parent["events"] if e["name"] == "exception"]
    assert event["attributes"]["exception.type"] == "ValueError"
    assert event["attributes"]["exception.message"] == "login failed with BOT-TOKEN from IP-ADDRESS"
    stacktrace = event["attributes"]["exception.stacktrace"]
    assert "Traceback" in stacktrace and "_failing_job" in stacktrace

    # Nothing of the secrets in any byte the collector forwarded.
    raw = b"".join(collector.received.raw)
    for secret in SECRETS:
        assert secret.encode() not in raw


def test_shard_and_cluster_resource_crosses_the_collector(collector: CollectorChain) -> None:
    telemetry = _reporter(collector, "grpc")
    try:
        with telemetry.span("heartbeat"):
            pass
        assert telemetry.force_flush(5)
        (span,) = collector.received.wait_for_names("heartbeat")
    finally:
        telemetry.shutdown(2)
    resource = span["resource"]
    assert resource["discord.shard.id"] == [2, 3]
    assert resource["discord.shard.count"] == 8
    assert resource["discord.cluster"] == "eu-west"
    assert resource["service.name"] == "shardbot"
    assert "host.name" not in resource


def _texts(span: dict[str, Any]) -> dict[str, str]:
    """Every string the receiver got for ``span``, by where it was."""
    found = {"name": span["name"], "status.message": span["status"]["message"]}
    for where, attributes in (("attribute", span["attributes"]), ("resource", span["resource"])):
        for key, value in attributes.items():
            if key != "otel_discord.scrubbed":  # rule counts; the collector ignores this key
                found[f"{where} {key}"] = str(value)
    for event in span["events"]:
        found[f"event {event['name']}"] = event["name"]
        for key, value in event["attributes"].items():
            found[f"event {event['name']} {key}"] = str(value)
    return found


def test_second_line_finds_nothing_the_client_let_through(collector: CollectorChain) -> None:
    from tests.test_collector_redaction import second_line

    telemetry = _reporter(collector, "grpc")
    try:
        _failing_job(telemetry)
        assert telemetry.force_flush(5)
        spans = collector.received.wait_for_names("sync-guilds", "fetch")
    finally:
        telemetry.shutdown(2)
    for span in spans:
        for where, text in _texts(span).items():
            assert second_line(text) == text, f"{span['name']}: {where}"
