"""A real collector (rotel) goes down while errors and events are produced and comes back: every
error report and event arrives exactly once, within one run and across a bot restart."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from otel_discord import Telemetry
from tests._backends import CollectorChain, Received


def _telemetry(collector: CollectorChain, protocol: str, data_dir: Path) -> Telemetry:
    endpoint = (
        collector.rotel.grpc_endpoint if protocol == "grpc" else collector.rotel.http_endpoint
    )
    t = Telemetry(
        "durable",
        config={
            "exporters": ["otlp"],
            "otlp_endpoint": endpoint,
            "otlp_protocol": protocol,
            "otlp_timeout": 0.5,
            "schedule_delay": 0.05,
            "queue_retry_interval": 0.2,
            "data_dir": str(data_dir),
        },
    )
    t.enable("errors", "usage")
    return t


def _produce(t: Telemetry, tag: str) -> tuple[set[str], set[str]]:
    """Two error reports and two events, named after ``tag``; returns their names."""
    errors, events = set(), set()
    for i in range(2):
        with pytest.raises(RuntimeError), t.span(f"job-{tag}-{i}"):
            raise RuntimeError(f"failure {tag} {i}")
        errors.add(f"job-{tag}-{i}")
        t.record("outage", f"{tag}_{i}")
        events.add(f"outage.{tag}_{i}")
    return errors, events


def _wait_exactly_once(received: Received, errors: set[str], events: set[str]) -> None:
    def arrived(_: Any) -> bool:
        spans = {s["name"] for s in received.spans()}
        logs = {r["event_name"] for r in received.logs()}
        return errors <= spans and events <= logs

    received.wait_for(arrived, timeout=15)
    time.sleep(0.3)  # anything sent twice would arrive within this
    span_counts = Counter(s["name"] for s in received.spans())
    log_counts = Counter(r["event_name"] for r in received.logs())
    assert {n: span_counts[n] for n in errors} == dict.fromkeys(errors, 1)
    assert {n: log_counts[n] for n in events} == dict.fromkeys(events, 1)


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_outage_loses_no_error_report_or_event(
    collector: CollectorChain, protocol: str, tmp_path: Path
) -> None:
    t = _telemetry(collector, protocol, tmp_path)
    before = _produce(t, "before")
    assert t.force_flush(5)
    collector.rotel.stop()
    during = _produce(t, "during")
    t.force_flush(5)
    status = t.queue_status()
    assert status is not None and status.entries >= 2
    collector.rotel.start()
    _wait_exactly_once(collector.received, before[0] | during[0], before[1] | during[1])
    status = t.queue_status()
    assert status is not None and status.entries == 0 and status.delivered >= 2
    t.shutdown(2)


def test_outage_across_a_bot_restart_loses_nothing(
    collector: CollectorChain, tmp_path: Path
) -> None:
    collector.rotel.stop()
    first_run = _telemetry(collector, "grpc", tmp_path)
    errors, events = _produce(first_run, "down")
    first_run.shutdown(5)  # the bot stops while the collector is still down
    collector.rotel.start()
    second_run = _telemetry(collector, "grpc", tmp_path)  # same data dir: drains the queue
    _wait_exactly_once(collector.received, errors, events)
    second_run.shutdown(2)
