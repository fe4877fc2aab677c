"""Product events and the start-up event on the Sentry exporter: Sentry logs (``log`` envelope
items), read by an in-process receiver over a real socket."""

from __future__ import annotations

from typing import Any

from otel_discord import Telemetry
from otel_discord.consent import MemoryConsentStore
from tests._backends import HttpReceiver
from tests._bugsink import envelope_items

KEY = "0123456789abcdef0123456789abcdef"


def make_telemetry(receiver: HttpReceiver) -> Telemetry:
    return Telemetry(
        "logcog",
        version="2.1.0",
        config={
            "exporters": ["sentry"],
            "sentry_dsn": f"http://{KEY}@127.0.0.1:{receiver.port}/7",
            "sentry_environment": "staging",
            "sentry_traces": False,
            "enabled": True,
            "schedule_delay": 0.05,
        },
        consent=MemoryConsentStore(),
    )


def logs(receiver: HttpReceiver) -> list[dict[str, Any]]:
    return [
        entry
        for raw in list(receiver.envelopes)
        for header, payload in envelope_items(raw)
        if header.get("type") == "log"
        for entry in payload["items"]
    ]


def attrs(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v["value"] for k, v in entry["attributes"].items()}


def test_a_product_event_becomes_a_sentry_log_with_its_metadata(
    http_receiver: HttpReceiver,
) -> None:
    telemetry = make_telemetry(http_receiver)
    telemetry.enable("usage")
    telemetry.record("backup", "restore", metadata={"files": 3, "full": True})
    assert telemetry.force_flush(5)
    telemetry.shutdown(5)

    (entry,) = [e for e in logs(http_receiver) if e["body"] == "backup.restore"]
    assert entry["level"] == "info"
    assert len(entry["trace_id"]) == 32
    a = attrs(entry)
    assert a["otel_discord.event.category"] == "usage"
    assert a["otel_discord.event.metadata.files"] == 3
    assert entry["attributes"]["otel_discord.event.metadata.full"]["type"] == "boolean"
    assert a["sentry.release"] == "logcog@2.1.0"
    assert a["sentry.environment"] == "staging"
    assert a["user.id"] == telemetry.install_id


def test_the_start_up_event_becomes_a_sentry_log_under_errors_consent(
    http_receiver: HttpReceiver,
) -> None:
    telemetry = make_telemetry(http_receiver)  # errors only: no usage consent
    assert telemetry.started(cogs=2)
    telemetry.record("backup", "restore")  # usage off: never sent
    assert telemetry.force_flush(5)
    telemetry.shutdown(5)

    entries = logs(http_receiver)
    assert [e["body"] for e in entries] == ["otel_discord.started"]
    a = attrs(entries[0])
    assert a["otel_discord.event.category"] == "errors"
    assert a["otel_discord.cogs.loaded"] == 2
    assert a["service.version"] == "2.1.0"
