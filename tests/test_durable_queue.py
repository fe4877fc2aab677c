"""The disk queue's bounds and failure modes, with the OTLP backend down (nothing listening on
its port) and then up (a real gRPC receiver on that same port)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from otel_discord import JsonConsentStore, Telemetry
from tests._backends import GrpcReceiver, HttpReceiver, free_port


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


@pytest.fixture
def port() -> int:
    """A port with nothing listening yet: the backend is down until a receiver takes it."""
    return free_port()


@pytest.fixture
def receivers() -> Iterator[list[GrpcReceiver]]:
    started: list[GrpcReceiver] = []
    yield started
    for receiver in started:
        receiver.stop()


def _start_receiver(port: int, receivers: list[GrpcReceiver]) -> GrpcReceiver:
    receiver = GrpcReceiver(port=port).start()
    receivers.append(receiver)
    return receiver


def _telemetry(port: int, data_dir: Path, name: str = "queued", **config: Any) -> Telemetry:
    # Consent is on record before the bot starts, as after an earlier run: a queue left behind
    # is sent (or, without consent, discarded) as soon as the reporter is built.
    store = JsonConsentStore(data_dir)
    store.save(store.load(name).decided(True, ("errors", "usage")))
    t = Telemetry(
        name,
        config={
            "exporters": ["otlp"],
            "otlp_endpoint": f"http://127.0.0.1:{port}",
            "otlp_protocol": "grpc",
            "otlp_timeout": 0.3,
            "schedule_delay": 0.05,
            "queue_retry_interval": 0.2,
            "data_dir": str(data_dir),
            **config,
        },
    )
    return t


def _error(t: Telemetry, name: str) -> None:
    with pytest.raises(RuntimeError), t.span(name):
        raise RuntimeError(name)


def test_queue_over_its_bound_drops_the_oldest_and_reports_the_count(
    port: int, tmp_path: Path, receivers: list[GrpcReceiver], caplog: pytest.LogCaptureFixture
) -> None:
    # One failed batch of one error span: how many bytes it takes on disk.
    probe = _telemetry(port, tmp_path / "probe")
    _error(probe, "job-0")
    probe.force_flush(5)
    probe.shutdown(1)
    probe_status = probe.queue_status()
    assert probe_status is not None and probe_status.entries == 1
    one = probe_status.bytes

    t = _telemetry(port, tmp_path / "bot", queue_max_bytes=int(one * 3.5))
    with caplog.at_level(logging.WARNING, logger="otel_discord.durable"):
        for i in range(6):
            _error(t, f"job-{i}")
            t.force_flush(5)
    status = t.queue_status()
    assert status is not None
    assert (status.entries, status.dropped_oldest) == (3, 3)
    assert "dropped so far" in caplog.text and "(3 dropped so far)" in caplog.text

    receiver = _start_receiver(port, receivers)
    receiver.received.wait_for_names("job-3", "job-4", "job-5")
    _wait_until(lambda: (s := t.queue_status()) is not None and s.entries == 0)
    assert sorted(s["name"] for s in receiver.received.spans()) == ["job-3", "job-4", "job-5"]
    t.shutdown(2)


def test_corrupt_queue_file_is_set_aside_and_the_bot_keeps_working(
    port: int, tmp_path: Path, receivers: list[GrpcReceiver]
) -> None:
    queue_dir = tmp_path / "queue" / "corrupted"
    queue_dir.mkdir(parents=True)
    now = time.time_ns()
    garbage = queue_dir / f"{now:020d}-0000001-000001.traces.errors.otq"
    garbage.write_bytes(b"\x00not an otlp batch\xff" * 10)
    truncated = queue_dir / f"{now:020d}-0000001-000002.logs.usage.otq"
    truncated.write_bytes(b"ODQ1\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x10\x00short")
    (queue_dir / "state.json").write_text("{not json")
    receiver = _start_receiver(port, receivers)

    t = _telemetry(port, tmp_path, "corrupted")
    _error(t, "after-corruption")
    t.record("bot", "alive")
    assert t.force_flush(5)
    receiver.received.wait_for_names("after-corruption")
    receiver.received.wait_for_logs(lambda r: [x["event_name"] for x in r] == ["bot.alive"])
    _wait_until(lambda: (s := t.queue_status()) is not None and s.set_aside == 2)
    assert sorted(p.name for p in (queue_dir / "corrupt").iterdir()) == [
        garbage.name,
        truncated.name,
    ]
    status = t.queue_status()
    assert status is not None and status.entries == 0
    t.shutdown(2)


def test_batches_older_than_the_age_bound_are_dropped_not_sent(
    port: int, tmp_path: Path, receivers: list[GrpcReceiver]
) -> None:
    t = _telemetry(port, tmp_path, queue_max_age=0.3)
    _error(t, "stale")
    t.force_flush(5)
    time.sleep(0.4)
    receiver = _start_receiver(port, receivers)
    _wait_until(lambda: (s := t.queue_status()) is not None and s.dropped_expired == 1)
    _error(t, "fresh")
    assert t.force_flush(5)
    spans = receiver.received.wait_for_names("fresh")
    assert [s["name"] for s in spans] == ["fresh"]
    t.shutdown(2)


def test_withdrawn_consent_discards_the_queue_instead_of_sending_it(
    port: int, tmp_path: Path, receivers: list[GrpcReceiver]
) -> None:
    t = _telemetry(port, tmp_path)
    _error(t, "queued-then-withdrawn")
    t.record("bot", "queued")
    t.force_flush(5)
    t.disable()
    receiver = _start_receiver(port, receivers)
    _wait_until(lambda: (s := t.queue_status()) is not None and s.dropped_consent == 2)
    time.sleep(0.3)
    assert receiver.received.raw == []
    t.shutdown(2)


def test_ordinary_spans_of_a_failed_batch_are_not_queued(
    port: int, tmp_path: Path, receivers: list[GrpcReceiver]
) -> None:
    t = _telemetry(port, tmp_path)
    with t.span("ordinary"):
        pass
    _error(t, "failed-job")
    t.force_flush(5)
    receiver = _start_receiver(port, receivers)
    receiver.received.wait_for_names("failed-job")
    _wait_until(lambda: (s := t.queue_status()) is not None and s.entries == 0)
    assert [s["name"] for s in receiver.received.spans()] == ["failed-job"]
    t.shutdown(2)


def test_batch_the_backend_refuses_for_good_is_dropped_and_counted(
    http_receiver: HttpReceiver, tmp_path: Path
) -> None:
    http_receiver.status = 400
    t = _telemetry(0, tmp_path, otlp_endpoint=http_receiver.endpoint, otlp_protocol="http/protobuf")
    _error(t, "refused")
    t.force_flush(5)
    _wait_until(lambda: (s := t.queue_status()) is not None and s.dropped_rejected == 1)
    status = t.queue_status()
    assert status is not None and status.entries == 0 and status.delivered == 0
    t.shutdown(2)


@pytest.mark.parametrize("status", [503, 401, 403])
def test_batch_is_kept_while_the_backend_answers_503_or_refuses_its_credentials(
    http_receiver: HttpReceiver, tmp_path: Path, status: int
) -> None:
    http_receiver.status = status
    t = _telemetry(0, tmp_path, otlp_endpoint=http_receiver.endpoint, otlp_protocol="http/protobuf")
    _error(t, "unavailable")
    t.force_flush(5)
    time.sleep(0.5)  # a couple of retry rounds against the 503
    status = t.queue_status()
    assert status is not None and status.entries == 1 and status.dropped_rejected == 0
    http_receiver.status = 200
    http_receiver.received.wait_for_names("unavailable")
    t.shutdown(2)


def test_queue_file_with_a_name_the_queue_never_writes_is_set_aside_and_draining_stops(
    port: int, tmp_path: Path, receivers: list[GrpcReceiver]
) -> None:
    queue_dir = tmp_path / "queue" / "stray"
    queue_dir.mkdir(parents=True)
    stray = [queue_dir / "backup copy.otq", queue_dir / f"{time.time_ns():020d}.metrics.errors.otq"]
    for path in stray:
        path.write_bytes(b"ODQ1")
    _start_receiver(port, receivers)

    t = _telemetry(port, tmp_path, "stray")
    _wait_until(lambda: (s := t.queue_status()) is not None and s.set_aside == 2)
    assert sorted(p.name for p in (queue_dir / "corrupt").iterdir()) == sorted(
        p.name for p in stray
    )
    durable = t._durable
    assert durable is not None
    assert durable.queue.has_entries() is False
    # Nothing left to send: the drain thread must not keep waking up for good.
    _wait_until(lambda: durable._thread is None or not durable._thread.is_alive(), timeout=3)
    t.shutdown(2)
