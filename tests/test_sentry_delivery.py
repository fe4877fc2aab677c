"""What the Sentry exporter puts on the wire, read by an in-process receiver over a real socket:
spans on the DSN's OTLP endpoint with the Sentry auth header, one release-health session per
run, no host name, no global state touched, and fail-closed scrubbing of whole events."""

from __future__ import annotations

import logging
import socket
import sys
import threading
from typing import Any

import pytest
import sentry_sdk
from opentelemetry import trace

from otel_discord import Telemetry
from otel_discord.config import load_config
from otel_discord.consent import MemoryConsentStore
from otel_discord.exporters._sentry import SentryExporter, sentry_otlp_target
from otel_discord.scrubbing import Rule, Scrubber
from tests._backends import HttpReceiver
from tests._bugsink import envelope_items

KEY = "0123456789abcdef0123456789abcdef"


def dsn_of(receiver: HttpReceiver, project: int = 7) -> str:
    return f"http://{KEY}@127.0.0.1:{receiver.port}/{project}"


def make_telemetry(receiver: HttpReceiver, **config: Any) -> Telemetry:
    return Telemetry(
        "wirecog",
        version="0.9.1",
        config={
            "exporters": ["sentry"],
            "sentry_dsn": dsn_of(receiver),
            "sentry_environment": "staging",
            "enabled": True,
            "schedule_delay": 0.05,
            **config,
        },
        consent=MemoryConsentStore(),
    )


def items(receiver: HttpReceiver, kind: str) -> list[Any]:
    return [
        payload
        for raw in list(receiver.envelopes)
        for header, payload in envelope_items(raw)
        if header.get("type") == kind
    ]


def fail(message: str) -> None:
    raise RuntimeError(message)


def test_dsn_maps_to_sentrys_otlp_traces_endpoint_and_auth_header() -> None:
    url, headers = sentry_otlp_target("https://pubkey@o12.ingest.example.io/sub/path/4505")
    assert url == "https://o12.ingest.example.io/sub/path/api/4505/integration/otlp/v1/traces/"
    assert headers == {"x-sentry-auth": "sentry sentry_key=pubkey"}


def test_spans_arrive_at_the_dsn_derived_otlp_path_with_the_auth_header(
    http_receiver: HttpReceiver,
) -> None:
    telemetry = make_telemetry(http_receiver)
    with telemetry.span("nightly-backup", {"files": 3}):
        pass
    assert telemetry.force_flush(5)
    (span,) = http_receiver.received.wait_for_names("nightly-backup")
    telemetry.shutdown(5)

    index = http_receiver.received.paths.index("/api/7/integration/otlp/v1/traces/")
    headers = http_receiver.received.headers[index]
    assert headers["x-sentry-auth"] == f"sentry sentry_key={KEY}"
    assert span["resource"]["service.name"] == "wirecog"
    assert span["attributes"]["files"] == 3


def test_error_event_links_to_the_trace_its_span_was_exported_in(
    http_receiver: HttpReceiver,
) -> None:
    telemetry = make_telemetry(http_receiver)
    with pytest.raises(RuntimeError), telemetry.span("command sync"):
        fail("sync failed")
    assert telemetry.force_flush(5)
    (span,) = http_receiver.received.wait_for_names("command sync")
    telemetry.shutdown(5)

    (event,) = items(http_receiver, "event")
    assert event["contexts"]["trace"]["trace_id"] == span["trace_id"]
    assert event["contexts"]["trace"]["span_id"] == span["span_id"]
    assert event["exception"]["values"][-1]["value"] == "sync failed"


def test_one_release_health_session_per_run_from_start_to_exit(
    http_receiver: HttpReceiver,
) -> None:
    telemetry = make_telemetry(http_receiver, sentry_traces=False)
    for attempt in range(2):
        with pytest.raises(RuntimeError), telemetry.span(f"loop tick {attempt}"):
            fail("tick failed")
        assert telemetry.force_flush(5)
    assert telemetry.shutdown(5)

    sessions = items(http_receiver, "session")
    assert len({s["sid"] for s in sessions}) == 1
    first, last = sessions[0], sessions[-1]
    assert first["init"] is True and first["status"] == "ok"
    assert first["attrs"] == {"release": "wirecog@0.9.1", "environment": "staging"}
    assert first["did"] == telemetry.install_id
    assert last["status"] == "exited"
    assert last["errors"] == 2


def test_start_up_event_alone_opens_the_session_for_release_adoption(
    http_receiver: HttpReceiver,
) -> None:
    telemetry = make_telemetry(http_receiver, sentry_traces=False)
    assert telemetry.started(cogs=1)
    assert telemetry.force_flush(5)
    opened = items(http_receiver, "session")
    assert telemetry.shutdown(5)

    assert [s["status"] for s in opened] == ["ok"]
    assert opened[0]["attrs"]["release"] == "wirecog@0.9.1"
    assert [s["status"] for s in items(http_receiver, "session")] == ["ok", "exited"]
    assert items(http_receiver, "event") == []  # events are Sentry logs, never error events


def test_start_up_event_and_errors_share_one_session(http_receiver: HttpReceiver) -> None:
    telemetry = make_telemetry(http_receiver, sentry_traces=False)
    assert telemetry.started()
    with pytest.raises(RuntimeError), telemetry.span("loop tick"):
        fail("tick failed")
    assert telemetry.force_flush(5)
    assert telemetry.shutdown(5)

    sessions = items(http_receiver, "session")
    assert len({s["sid"] for s in sessions}) == 1
    assert sessions[-1]["status"] == "exited" and sessions[-1]["errors"] == 1


def test_no_host_name_leaves_the_process(http_receiver: HttpReceiver) -> None:
    telemetry = make_telemetry(http_receiver, sentry_traces=False)
    with pytest.raises(RuntimeError), telemetry.span("command ping"):
        fail("ping failed")
    assert telemetry.force_flush(5)
    assert telemetry.shutdown(5)

    (event,) = items(http_receiver, "event")
    assert "server_name" not in event
    assert http_receiver.envelopes
    for raw in http_receiver.envelopes:
        assert socket.gethostname().encode() not in raw


def test_exporter_leaves_sentry_and_opentelemetry_globals_alone(
    http_receiver: HttpReceiver,
) -> None:
    provider = trace.get_tracer_provider()
    root_handlers = list(logging.getLogger().handlers)
    hooks = (sys.excepthook, threading.excepthook)
    telemetry = make_telemetry(http_receiver, sentry_traces=False)
    with pytest.raises(RuntimeError), telemetry.span("command ping"):
        fail("ping failed")
    assert telemetry.force_flush(5)
    assert items(http_receiver, "event")

    assert not sentry_sdk.get_client().is_active()
    assert sentry_sdk.get_isolation_scope()._user is None
    assert trace.get_tracer_provider() is provider
    assert logging.getLogger().handlers == root_handlers
    assert (sys.excepthook, threading.excepthook) == hooks
    telemetry.shutdown(5)


class ExplodingRule(Rule):
    """A rule that fails on any text: the event must be dropped, never sent unscrubbed."""

    name = "exploding"
    marker = "X"

    def scrub(self, text: str, scrubber: Any, counts: Any, key: str | None) -> str:
        raise RuntimeError("rule failed")


def test_an_event_the_scrubber_cannot_clean_is_dropped(http_receiver: HttpReceiver) -> None:
    config = load_config({"exporters": ["sentry"], "sentry_dsn": dsn_of(http_receiver)})
    exporter = SentryExporter(
        config, "wirecog", scrubber=Scrubber([ExplodingRule()]), gate=lambda: True
    )
    telemetry = make_telemetry(http_receiver, sentry_traces=False, exporters=["file"])
    with pytest.raises(RuntimeError), telemetry.span("command ping") as span:
        fail("ping failed")
    exporter.export([span])  # type: ignore[list-item]
    exporter.shutdown()
    telemetry.shutdown(5)

    assert exporter.dropped_unscrubbable == 1
    assert items(http_receiver, "event") == []
    assert items(http_receiver, "session")  # the transport did work: only the event was held


def test_a_report_shared_by_hand_without_consent_is_one_event_and_no_session(
    http_receiver: HttpReceiver,
) -> None:
    """``telemetry send <code>`` exports one report through fresh exporters, consent off."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from otel_discord._pipeline import export_once
    from otel_discord.exporters import build_exporter_factories

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with pytest.raises(RuntimeError), provider.get_tracer("t").start_as_current_span("cmd"):
        fail("shared by the owner")
    config = load_config(
        {"exporters": ["sentry"], "sentry_dsn": dsn_of(http_receiver), "sentry_traces": False}
    )
    factories = build_exporter_factories(config, "wirecog", scrubber=Scrubber(), gate=lambda: False)
    assert export_once(memory.get_finished_spans()[0], factories, 5.0)

    (event,) = items(http_receiver, "event")
    assert event["exception"]["values"][-1]["value"] == "shared by the owner"
    assert items(http_receiver, "session") == []
