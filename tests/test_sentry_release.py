"""The Sentry ``release`` and ``environment`` are the client's settings (the reporter's name and
version from the cog's code, or ``sentry_release`` / ``sentry_environment``), not user data:
error events, Sentry logs and the release-health session carry the same strings, also when they
look like something the scrubber removes (a version ``1.2.3.4`` is a dotted quad). Anything
else in the event is still scrubbed."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from otel_discord import Telemetry
from otel_discord.consent import MemoryConsentStore
from otel_discord.exporters._sentry import scrub_event
from otel_discord.scrubbing import Scrubber, default_rules
from tests._backends import HttpReceiver
from tests._bugsink import Bugsink, envelope_items

KEY = "0123456789abcdef0123456789abcdef"
NAME = "relcog"
VERSION = "1.2.3.4"  # four numbers: the IP address rule's shape
RELEASE = f"{NAME}@{VERSION}"


def make_telemetry(dsn: str, **config: Any) -> Telemetry:
    return Telemetry(
        NAME,
        version=VERSION,
        config={
            "exporters": ["sentry"],
            "sentry_dsn": dsn,
            "sentry_traces": False,
            "enabled": True,
            "schedule_delay": 0.05,
            **config,
        },
        consent=MemoryConsentStore(),
        notify_owners=False,
    )


def dsn_of(receiver: HttpReceiver) -> str:
    return f"http://{KEY}@127.0.0.1:{receiver.port}/7"


def fail(telemetry: Telemetry, message: str) -> None:
    with pytest.raises(RuntimeError), telemetry.span("loop tick", {"discord.kind": "loop"}):
        raise RuntimeError(message)


def items(receiver: HttpReceiver, kind: str) -> list[Any]:
    return [
        payload
        for raw in list(receiver.envelopes)
        for header, payload in envelope_items(raw)
        if header.get("type") == kind
    ]


def log_attrs(receiver: HttpReceiver, body: str) -> dict[str, Any]:
    (entry,) = [e for p in items(receiver, "log") for e in p["items"] if e["body"] == body]
    return {k: v["value"] for k, v in entry["attributes"].items()}


def test_an_error_from_a_dotted_quad_version_reaches_bugsink_with_that_release(
    bugsink: Bugsink,
) -> None:
    marker = uuid.uuid4().hex
    telemetry = make_telemetry(bugsink.dsn("C"))
    try:
        fail(telemetry, f"{marker} tick failed")
        assert telemetry.force_flush(5)
    finally:
        telemetry.shutdown(5)

    def marked() -> list[dict[str, Any]]:
        return [
            e
            for e in bugsink.events("C")
            if any(marker in v.get("value", "") for v in e["exception"]["values"])
        ]

    deadline = time.monotonic() + 10
    while not marked() and time.monotonic() < deadline:
        time.sleep(0.1)
    (event,) = marked()
    assert event["release"] == RELEASE


def test_the_session_and_the_error_event_carry_the_same_release(
    http_receiver: HttpReceiver,
) -> None:
    telemetry = make_telemetry(dsn_of(http_receiver))
    fail(telemetry, "tick failed")
    assert telemetry.force_flush(5)
    assert telemetry.shutdown(5)

    sessions = items(http_receiver, "session")
    (event,) = items(http_receiver, "event")
    assert [s["status"] for s in sessions] == ["ok", "exited"]
    assert {s["attrs"]["release"] for s in sessions} == {RELEASE}
    assert event["release"] == RELEASE


def test_sentry_logs_carry_the_release_of_the_session(http_receiver: HttpReceiver) -> None:
    telemetry = make_telemetry(dsn_of(http_receiver))
    telemetry.enable("usage")
    telemetry.record("backup", "restore")
    assert telemetry.force_flush(5)
    assert telemetry.shutdown(5)

    (opened, *_) = items(http_receiver, "session")
    assert opened["attrs"]["release"] == RELEASE
    assert log_attrs(http_receiver, "backup.restore")["sentry.release"] == RELEASE


def test_a_configured_release_and_environment_are_sent_as_set_everywhere(
    http_receiver: HttpReceiver,
) -> None:
    release, environment = "relcog@10.0.0.1", "lab-192.0.2.10"
    telemetry = make_telemetry(
        dsn_of(http_receiver), sentry_release=release, sentry_environment=environment
    )
    telemetry.enable("usage")
    fail(telemetry, "tick failed")
    telemetry.record("backup", "restore")
    assert telemetry.force_flush(5)
    assert telemetry.shutdown(5)

    sessions = items(http_receiver, "session")
    (event,) = items(http_receiver, "event")
    logged = log_attrs(http_receiver, "backup.restore")
    assert {(s["attrs"]["release"], s["attrs"]["environment"]) for s in sessions} == {
        (release, environment)
    }
    assert (event["release"], event["environment"]) == (release, environment)
    assert (logged["sentry.release"], logged["sentry.environment"]) == (release, environment)


def test_a_release_other_than_the_configured_one_is_scrubbed() -> None:
    scrubber = Scrubber(default_rules())
    event = {"release": "othercog@203.0.113.9", "environment": "lab-203.0.113.9"}
    cleaned = scrub_event(scrubber, event, release=RELEASE, environment="production")
    assert cleaned["release"] == "othercog@IP-ADDRESS"
    assert cleaned["environment"] == "lab-IP-ADDRESS"


def test_the_configured_release_text_elsewhere_in_the_event_is_still_scrubbed() -> None:
    scrubber = Scrubber(default_rules())
    event = {"release": RELEASE, "message": f"connect to {VERSION} timed out"}
    cleaned = scrub_event(scrubber, event, release=RELEASE, environment="production")
    assert cleaned["release"] == RELEASE
    assert cleaned["message"] == "connect to IP-ADDRESS timed out"
