"""A bot stopped during a collector outage, with default settings (``otlp_timeout`` 10 s, longer
than shutdown waits): what was not delivered is on disk when ``shutdown`` returns, and the next
run on the same data dir delivers it, exactly once, at the real receiver behind rotel."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from otel_discord import Telemetry
from tests._backends import CollectorChain, GrpcReceiver, HttpReceiver, SilentServer


def _telemetry(collector: CollectorChain, protocol: str, data_dir: Path) -> Telemetry:
    endpoint = (
        collector.rotel.grpc_endpoint if protocol == "grpc" else collector.rotel.http_endpoint
    )
    # Defaults otherwise: otlp_timeout, schedule_delay and queue_retry_interval included.
    t = Telemetry(
        "restart",
        config={
            "exporters": ["otlp"],
            "otlp_endpoint": endpoint,
            "otlp_protocol": protocol,
            "data_dir": str(data_dir),
        },
    )
    t.enable("errors", "usage")
    return t


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_shutdown_during_an_outage_keeps_the_error_and_event_for_the_next_run(
    collector: CollectorChain, protocol: str, tmp_path: Path
) -> None:
    collector.rotel.stop()
    first_run = _telemetry(collector, protocol, tmp_path)
    with pytest.raises(RuntimeError), first_run.span("job-during-outage"):
        raise RuntimeError("the job failed while the collector was down")
    first_run.record("outage", "used")

    start = time.monotonic()
    first_run.shutdown(5)
    assert time.monotonic() - start < 5.5
    status = first_run.queue_status()
    assert status is not None and status.entries == 2  # one traces batch, one logs batch

    collector.rotel.start()
    second_run = _telemetry(collector, protocol, tmp_path)
    received = collector.received
    received.wait_for_names("job-during-outage", timeout=20)
    received.wait_for_logs(lambda r: any(x["event_name"] == "outage.used" for x in r), timeout=20)
    time.sleep(0.5)  # a second copy would arrive within this
    assert Counter(s["name"] for s in received.spans()) == {"job-during-outage": 1}
    assert Counter(r["event_name"] for r in received.logs()) == {"outage.used": 1}
    second_run.shutdown(2)


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_export_hanging_at_shutdown_is_given_up_and_its_batch_kept_for_the_next_run(
    grpc_receiver: GrpcReceiver, tmp_path: Path, protocol: str
) -> None:
    silent = SilentServer()  # takes the request, never answers: the export waits otlp_timeout
    try:
        first_run = Telemetry(
            "hanging",
            config={
                "exporters": ["otlp"],
                "otlp_endpoint": silent.endpoint,
                "otlp_protocol": protocol,
                "schedule_delay": 0.05,
                "data_dir": str(tmp_path),
            },
        )
        first_run.enable("errors", "usage")
        with pytest.raises(RuntimeError), first_run.span("job-while-hanging"):
            raise RuntimeError("the job failed while the collector hung")
        deadline = time.monotonic() + 5
        while silent.bytes == 0 and time.monotonic() < deadline:  # the export is under way
            time.sleep(0.02)
        assert silent.bytes > 0
        start = time.monotonic()
        first_run.shutdown(2)
        assert time.monotonic() - start < 2.5
        status = first_run.queue_status()
        assert status is not None and status.entries == 1
    finally:
        silent.close()

    second_run = Telemetry(
        "hanging",
        config={
            "exporters": ["otlp"],
            "otlp_endpoint": grpc_receiver.endpoint,
            "otlp_protocol": "grpc",
            "data_dir": str(tmp_path),
        },
    )
    grpc_receiver.received.wait_for_names("job-while-hanging")
    time.sleep(0.5)
    assert [s["name"] for s in grpc_receiver.received.spans()] == ["job-while-hanging"]
    second_run.shutdown(2)


def test_errors_produced_faster_than_a_hanging_collector_answers_all_reach_the_next_run(
    http_receiver: HttpReceiver, tmp_path: Path
) -> None:
    """Once a live export has failed, new batches go straight to disk: they no longer wait
    ``otlp_timeout`` each while the in-memory queue (100 here) overflows and drops reports."""
    silent = SilentServer()
    names = [f"job-{i}" for i in range(300)]
    try:
        first_run = Telemetry(
            "flood",
            config={
                "exporters": ["otlp"],
                "otlp_endpoint": silent.endpoint,
                "otlp_protocol": "http/protobuf",
                "otlp_timeout": 1.0,
                "schedule_delay": 0.05,
                "max_queue_size": 100,
                "queue_retry_interval": 60.0,
                "data_dir": str(tmp_path),
            },
        )
        first_run.enable("errors")
        with pytest.raises(RuntimeError), first_run.span("job-first"):
            raise RuntimeError("the first failure, while the collector hangs")
        first_run.force_flush(5)  # its live export waits otlp_timeout, fails, goes to disk
        for i, name in enumerate(names):
            with pytest.raises(RuntimeError), first_run.span(name):
                raise RuntimeError(f"failure {i}")
            if i % 25 == 24:
                time.sleep(0.1)  # ~250 a second: room for a stalled exporter thread
        first_run.shutdown(3)
    finally:
        silent.close()

    second_run = Telemetry(
        "flood",
        config={
            "exporters": ["otlp"],
            "otlp_endpoint": http_receiver.endpoint,
            "otlp_protocol": "http/protobuf",
            "data_dir": str(tmp_path),
        },
    )
    try:
        received = http_receiver.received.wait_for(
            lambda spans: len(spans) >= len(names) + 1, timeout=20
        )
        assert Counter(s["name"] for s in received) == dict.fromkeys(["job-first", *names], 1)
    finally:
        second_run.shutdown(2)
