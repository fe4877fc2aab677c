"""The Sentry exporter against a server that accepts and never answers, or an SDK queue that is
full: what was admitted before shutdown is on disk when ``shutdown(timeout)`` returns, within the
timeout, and reaches bugsink exactly once in the next run. A one-off ``telemetry send`` leaves
the run's disk queue draining and opens no second release-health session."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from otel_discord import Telemetry
from otel_discord.consent import MemoryConsentStore
from otel_discord.exporters import _sentry
from tests._backends import HttpReceiver, SilentServer
from tests._bugsink import Bugsink, envelope_items

KEY = "0123456789abcdef0123456789abcdef"


def make_telemetry(dsn: str, data_dir: Path, **config: Any) -> Telemetry:
    return Telemetry(
        "hangcog",
        version="1.0.0",
        config={
            "exporters": ["sentry"],
            "sentry_dsn": dsn,
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


def at(dsn: str, port: int) -> str:
    """``dsn`` with its host moved to ``127.0.0.1:port`` (same key and project)."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{port}"))


def queued(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "queue").rglob("*.otq"))


def fail(telemetry: Telemetry, message: str) -> None:
    with pytest.raises(RuntimeError), telemetry.span("job", {"discord.kind": "loop"}):
        raise RuntimeError(message)


def wait_for(check: Any, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(check())


def sentry_workers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "sentry-sdk.BackgroundWorker"}


@pytest.fixture
def silent() -> Any:
    server = SilentServer()
    yield server
    server.close()


def test_an_error_report_a_hanging_sentry_never_answered_is_on_disk_when_shutdown_returns(
    silent: SilentServer, tmp_path: Path
) -> None:
    telemetry = make_telemetry(f"http://{KEY}@127.0.0.1:{silent.port}/7", tmp_path)
    fail(telemetry, "boom while sentry hangs")
    assert wait_for(lambda: silent.bytes > 0)  # the request is out, and hangs
    started = time.monotonic()
    telemetry.shutdown(3)
    assert time.monotonic() - started < 3.5
    assert [p.name.split(".")[-2:] for p in queued(tmp_path)] == [["errors", "otq"]]


def test_the_sentry_worker_thread_ends_within_the_request_timeout_after_shutdown(
    silent: SilentServer, tmp_path: Path
) -> None:
    before = sentry_workers()
    telemetry = make_telemetry(f"http://{KEY}@127.0.0.1:{silent.port}/7", tmp_path)
    fail(telemetry, "boom while sentry hangs")
    assert wait_for(lambda: silent.bytes > 0)
    telemetry.shutdown(3)
    ours = sentry_workers() - before
    # otlp_timeout (1 s) is the request timeout; close waits at most CLOSE_TIMEOUT.
    assert wait_for(lambda: not any(t.is_alive() for t in ours), 1.0 + _sentry.CLOSE_TIMEOUT + 1)


def test_without_the_disk_queue_a_request_to_a_hanging_sentry_gives_up_after_otlp_timeout(
    silent: SilentServer, tmp_path: Path
) -> None:
    telemetry = make_telemetry(
        f"http://{KEY}@127.0.0.1:{silent.port}/7", tmp_path, queue_max_bytes=0
    )
    try:
        fail(telemetry, "boom while sentry hangs")  # the session's opening, then the error
        assert wait_for(lambda: silent.bytes > 0)  # the first request is out, and hangs
        # It gives up after otlp_timeout (1 s) and the next envelope opens a new connection;
        # with sentry-sdk's own timeout (30 s) that would not happen within the bound.
        assert wait_for(lambda: silent.connections >= 2, 10.0)
    finally:
        telemetry.shutdown(3)


def test_without_the_disk_queue_the_sentry_worker_ends_one_request_after_shutdown(
    silent: SilentServer, tmp_path: Path
) -> None:
    before = sentry_workers()
    telemetry = make_telemetry(
        f"http://{KEY}@127.0.0.1:{silent.port}/7", tmp_path, queue_max_bytes=0, otlp_timeout=3.0
    )
    for i in range(5):  # one batch: five error reports queued behind the hanging request
        fail(telemetry, f"boom {i}")
    assert wait_for(lambda: silent.bytes > 0)
    ours = sentry_workers() - before
    assert ours
    telemetry.shutdown(3)
    # What the close timeout did not deliver is dropped, not sent one 3 s request at a time
    # (that would keep the worker for 6 more requests): it ends with the request it is in.
    assert wait_for(lambda: not any(t.is_alive() for t in ours), 3.0 + 2)


def test_an_error_report_the_full_sentry_queue_refused_is_on_disk_before_shutdown(
    silent: SilentServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sentry, "QUEUE_SIZE", 1)
    telemetry = make_telemetry(
        f"http://{KEY}@127.0.0.1:{silent.port}/7", tmp_path, otlp_timeout=30.0
    )
    try:
        for i in range(3):  # one hangs in the request; the queue of one refuses the others
            fail(telemetry, f"boom {i}")
            telemetry.force_flush(3)
        assert wait_for(lambda: len(queued(tmp_path)) >= 1)
    finally:
        telemetry.shutdown(3)
    assert len(queued(tmp_path)) == 3


def test_the_sentry_worker_thread_ends_after_shutdown_also_when_its_queue_was_full(
    silent: SilentServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sentry, "QUEUE_SIZE", 1)
    before = sentry_workers()
    telemetry = make_telemetry(
        f"http://{KEY}@127.0.0.1:{silent.port}/7", tmp_path, otlp_timeout=3.0
    )
    for i in range(3):  # one hangs in the request, one fills the queue, one is refused by it
        fail(telemetry, f"boom {i}")
        telemetry.force_flush(3)
    assert wait_for(lambda: silent.bytes > 0)
    ours = sentry_workers() - before
    assert ours  # the SDK's worker, stuck in the hanging request
    telemetry.shutdown(3)
    assert len(queued(tmp_path)) == 3
    # otlp_timeout (3 s) is the request timeout; close waits at most CLOSE_TIMEOUT.
    assert wait_for(lambda: not any(t.is_alive() for t in ours), 3.0 + _sentry.CLOSE_TIMEOUT + 2)


def test_an_error_report_a_hanging_sentry_never_answered_reaches_bugsink_once_in_the_next_run(
    bugsink: Bugsink, silent: SilentServer, tmp_path: Path
) -> None:
    marker = uuid.uuid4().hex
    first = make_telemetry(at(bugsink.dsn("B"), silent.port), tmp_path)
    fail(first, f"{marker} while sentry hangs")
    assert wait_for(lambda: silent.bytes > 0)
    first.shutdown(3)
    assert len(queued(tmp_path)) == 1

    def marked() -> list[dict[str, Any]]:
        return [
            e
            for e in bugsink.events("B")
            if any(marker in v.get("value", "") for v in e["exception"]["values"])
        ]

    second = make_telemetry(bugsink.dsn("B"), tmp_path)  # the bot restarted: same data dir
    try:
        assert wait_for(marked, 15)
        time.sleep(1.0)  # let a second delivery, if any, land too
        assert len(marked()) == 1
        assert wait_for(lambda: queued(tmp_path) == [])
    finally:
        second.shutdown(3)


def items(receiver: HttpReceiver, kind: str) -> list[Any]:
    return [
        payload
        for raw in list(receiver.envelopes)
        for header, payload in envelope_items(raw)
        if header.get("type") == kind
    ]


@pytest.fixture
def failing() -> Any:
    receiver = HttpReceiver().start()
    receiver.status = 500
    yield receiver
    receiver.stop()


def _shared_before_the_pipeline_built_its_exporter(telemetry: Telemetry) -> None:
    """The owner's path to a one-off export: an error captured while consent was off (kept in
    the local buffer only, so no exporter was built), then consent given, then that error sent
    by its code."""
    report = telemetry.errors.capture(RuntimeError("shared by the owner"), "loop")
    assert report is not None and not report.exported
    telemetry.enable()
    assert telemetry.errors.send(report.code, timeout=5)


def test_a_one_off_send_leaves_the_sentry_queue_draining(
    failing: HttpReceiver, tmp_path: Path
) -> None:
    failing.status = 200
    telemetry = make_telemetry(f"http://{KEY}@127.0.0.1:{failing.port}/7", tmp_path, enabled=None)
    try:
        _shared_before_the_pipeline_built_its_exporter(telemetry)
        failing.status = 500
        fail(telemetry, "while the server fails")
        telemetry.force_flush(5)
        assert wait_for(lambda: len(queued(tmp_path)) >= 1)
        failing.status = 200
        assert wait_for(lambda: queued(tmp_path) == [], 5)
    finally:
        telemetry.shutdown(3)


def test_a_one_off_send_opens_no_second_session(failing: HttpReceiver, tmp_path: Path) -> None:
    failing.status = 200
    telemetry = make_telemetry(f"http://{KEY}@127.0.0.1:{failing.port}/7", tmp_path, enabled=None)
    try:
        _shared_before_the_pipeline_built_its_exporter(telemetry)
        fail(telemetry, "after the send")
        telemetry.force_flush(5)
    finally:
        telemetry.shutdown(3)
    assert len({s["sid"] for s in items(failing, "session")}) == 1
