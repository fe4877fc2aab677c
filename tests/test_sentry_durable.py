"""Durable delivery on the Sentry exporter: an error reported while bugsink is down waits in the
data dir's queue and reaches bugsink exactly once when it is back, through a new reporter on the
same data dir (a bot restart)."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from otel_discord import Telemetry
from otel_discord.consent import JsonConsentStore, MemoryConsentStore
from tests._backends import HttpReceiver, free_port
from tests._bugsink import Bugsink, envelope_items


def make_telemetry(bugsink: Bugsink, data_dir: Path, **config: Any) -> Telemetry:
    return Telemetry(
        "durablecog",
        version="1.0.0",
        config={
            "exporters": ["sentry"],
            "sentry_dsn": bugsink.dsn("B"),
            "sentry_traces": False,
            "enabled": True,
            "schedule_delay": 0.05,
            "otlp_timeout": 1.0,
            "queue_retry_interval": 0.2,
            "data_dir": str(data_dir),
            **config,
        },
        consent=MemoryConsentStore(),
        notify_owners=False,
    )


def marked(bugsink: Bugsink, marker: str) -> list[dict[str, Any]]:
    out = []
    for event in bugsink.events("B"):
        values = " ".join(v.get("value", "") for v in event["exception"]["values"])
        if marker in values:
            out.append(event)
    return out


def queued(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "queue").rglob("*.otq"))


def test_an_error_reported_while_bugsink_is_down_arrives_once_after_a_restart(
    bugsink: Bugsink, tmp_path: Path
) -> None:
    marker = uuid.uuid4().hex
    bugsink.stop()
    try:
        first = make_telemetry(bugsink, tmp_path)
        with pytest.raises(RuntimeError), first.span("loop refresh", {"discord.kind": "loop"}):
            raise RuntimeError(f"{marker} while the server was down")
        first.force_flush(5)
        assert first.shutdown(3)
        assert len(queued(tmp_path)) == 1  # the error report, not the session updates
    finally:
        bugsink.start_again()

    second = make_telemetry(bugsink, tmp_path)  # the bot restarted: same data dir
    try:
        deadline = time.monotonic() + 15
        while not marked(bugsink, marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # let a second delivery, if any, land too
        (event,) = marked(bugsink, marker)
        assert event["release"] == "durablecog@1.0.0"
        assert event["exception"]["values"][-1]["type"] == "RuntimeError"
        assert queued(tmp_path) == []
    finally:
        second.shutdown(3)


KEY = "0123456789abcdef0123456789abcdef"


def down_telemetry(name: str, data_dir: Path, port: int, **config: Any) -> Telemetry:
    """A reporter whose Sentry server is down: nothing listens on ``port``."""
    return Telemetry(
        name,
        version="1.0.0",
        config={
            "exporters": ["sentry"],
            "sentry_dsn": f"http://{KEY}@127.0.0.1:{port}/7",
            "sentry_traces": False,
            "enabled": True,
            "schedule_delay": 0.05,
            "otlp_timeout": 1.0,
            "queue_retry_interval": 0.2,
            "data_dir": str(data_dir),
            **config,
        },
        consent=MemoryConsentStore(),
        notify_owners=False,
    )


def report_while_down(name: str, data_dir: Path, port: int) -> Telemetry:
    """A run that reports one error while the server is down and shuts down (it is queued)."""
    first = down_telemetry(name, data_dir, port)
    with pytest.raises(RuntimeError), first.span("loop refresh", {"discord.kind": "loop"}):
        raise RuntimeError("while the server was down")
    first.force_flush(5)
    assert first.shutdown(3)
    assert len(queued(data_dir)) == 1
    return first


def queue_threads(name: str) -> list[str]:
    return [
        t.name for t in threading.enumerate() if t.name.startswith(f"otel-discord-queue {name}")
    ]


def test_shutdown_stops_the_sentry_queue_thread_when_no_sentry_exporter_was_built(
    tmp_path: Path,
) -> None:
    port = free_port()
    report_while_down("stopcog", tmp_path, port)

    # The next run drains what the last one left while the server is still down; no span ends,
    # so no Sentry exporter (nor client) is ever built.
    second = down_telemetry("stopcog", tmp_path, port)
    deadline = time.monotonic() + 5
    while not queue_threads("stopcog") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert queue_threads("stopcog"), "the queue left by the first run is not being drained"

    started = time.monotonic()
    second.shutdown(2)
    assert time.monotonic() - started < 2.5
    assert queue_threads("stopcog") == []
    assert len(queued(tmp_path)) == 1  # kept for the next run, not lost


def test_queue_status_counts_the_sentry_queue(tmp_path: Path) -> None:
    first = report_while_down("statuscog", tmp_path, free_port())
    status = first.queue_status()
    assert status is not None
    assert status.entries == 1
    assert status.bytes == queued(tmp_path)[0].stat().st_size


def usage_telemetry(receiver: HttpReceiver, data_dir: Path) -> Telemetry:
    # Consent on disk (not in memory): the next run must find the owner's decision at once.
    return Telemetry(
        "usagecog",
        version="1.0.0",
        config={
            "exporters": ["sentry"],
            "sentry_dsn": f"http://{KEY}@127.0.0.1:{receiver.port}/7",
            "sentry_traces": False,
            "schedule_delay": 0.05,
            "otlp_timeout": 1.0,
            "queue_retry_interval": 0.2,
            "data_dir": str(data_dir),
        },
        notify_owners=False,
    )


def restores(receiver: HttpReceiver) -> list[dict[str, Any]]:
    return [
        entry
        for raw in list(receiver.envelopes)
        for header, payload in envelope_items(raw)
        if header.get("type") == "log"
        for entry in payload["items"]
        if entry["body"] == "backup.restore"
    ]


def record_usage_while_failing(receiver: HttpReceiver, data_dir: Path) -> None:
    receiver.status = 500
    first = usage_telemetry(receiver, data_dir)
    first.enable("errors", "usage")
    first.record("backup", "restore", metadata={"files": 3})
    first.force_flush(5)
    assert first.shutdown(3)
    assert [p.name.rsplit(".", 3)[1:3] for p in queued(data_dir)] == [["sentry", "usage"]]
    receiver.status = 200


def test_a_usage_event_sentry_did_not_take_arrives_once_after_a_restart(
    http_receiver: HttpReceiver, tmp_path: Path
) -> None:
    record_usage_while_failing(http_receiver, tmp_path)

    second = usage_telemetry(http_receiver, tmp_path)
    try:
        deadline = time.monotonic() + 10
        while not restores(http_receiver) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # let a second delivery, if any, land too
        (entry,) = restores(http_receiver)
        assert entry["attributes"]["otel_discord.event.category"]["value"] == "usage"
        assert queued(tmp_path) == []
    finally:
        second.shutdown(3)


def test_queued_usage_events_are_deleted_unsent_when_usage_consent_is_withdrawn(
    http_receiver: HttpReceiver, tmp_path: Path
) -> None:
    record_usage_while_failing(http_receiver, tmp_path)
    store = JsonConsentStore(tmp_path)
    store.save(store.load("usagecog").decided(False, ("usage",)))

    second = usage_telemetry(http_receiver, tmp_path)
    try:
        deadline = time.monotonic() + 10
        while queued(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.1)
        status = second.queue_status()
        assert status is not None
        assert (status.entries, status.dropped_consent) == (0, 1)
        assert restores(http_receiver) == []
    finally:
        second.shutdown(3)
