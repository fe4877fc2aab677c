"""How the disk queue resends against a backend that answers but does not accept: it waits as
long as a 429/503 ``Retry-After`` asks, and drops (and counts) a batch a gRPC backend refuses
for good instead of retrying it until the age bound. Real in-process OTLP receivers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc  # type: ignore[import-untyped]
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from otel_discord import JsonConsentStore, Telemetry
from tests._backends import HttpReceiver, free_port


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def _telemetry(endpoint: str, protocol: str, data_dir: Path) -> Telemetry:
    store = JsonConsentStore(data_dir)
    store.save(store.load("answers").decided(True, ("errors", "usage")))
    return Telemetry(
        "answers",
        config={
            "exporters": ["otlp"],
            "otlp_endpoint": endpoint,
            "otlp_protocol": protocol,
            "otlp_timeout": 0.3,  # the live exporter gives up at once; the queue takes over
            "schedule_delay": 0.05,
            "queue_retry_interval": 0.2,
            "data_dir": str(data_dir),
        },
    )


def _error(t: Telemetry, name: str) -> None:
    with pytest.raises(RuntimeError), t.span(name):
        raise RuntimeError(name)


@pytest.mark.parametrize("status", [429, 503])
def test_queue_waits_as_long_as_the_retry_after_of_the_backend_asks(
    http_receiver: HttpReceiver, tmp_path: Path, status: int
) -> None:
    http_receiver.status = status
    http_receiver.extra_headers = {"Retry-After": "3"}
    t = _telemetry(http_receiver.endpoint, "http/protobuf", tmp_path)
    _error(t, "throttled")
    t.force_flush(5)
    # The live export, then the queue's first resend, which is told to wait 3 s.
    _wait_until(lambda: len(http_receiver.posts) >= 2)
    posts = len(http_receiver.posts)
    time.sleep(1.5)  # at queue_retry_interval 0.2 s, about 7 more tries without Retry-After
    assert len(http_receiver.posts) == posts
    http_receiver.status = 200
    http_receiver.received.wait_for_names("throttled", timeout=5)
    status_now = t.queue_status()
    assert status_now is not None and status_now.dropped_rejected == 0
    t.shutdown(2)


class RefusingReceiver:
    """An OTLP/gRPC receiver that answers every export with one status code."""

    def __init__(self, code: grpc.StatusCode) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.calls = 0
        outer = self

        class Traces(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
            def Export(self, request: Any, context: Any) -> Any:
                outer.calls += 1
                context.abort(code, "refused by the test receiver")

        class Logs(logs_service_pb2_grpc.LogsServiceServicer):  # type: ignore[misc]
            def Export(self, request: Any, context: Any) -> Any:
                outer.calls += 1
                context.abort(code, "refused by the test receiver")

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), self.server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Logs(), self.server)
        self.server.add_insecure_port(f"127.0.0.1:{self.port}")
        self.server.start()


@pytest.fixture
def refusing(request: pytest.FixtureRequest) -> Iterator[RefusingReceiver]:
    receiver = RefusingReceiver(request.param)
    yield receiver
    receiver.server.stop(grace=0.5).wait(2)


@pytest.mark.parametrize(
    "refusing",
    [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNIMPLEMENTED],
    indirect=True,
    ids=lambda c: c.name,
)
def test_batch_a_grpc_backend_refuses_for_good_is_dropped_and_counted(
    refusing: RefusingReceiver, tmp_path: Path
) -> None:
    t = _telemetry(refusing.endpoint, "grpc", tmp_path)
    _error(t, "refused")
    t.record("bot", "refused")
    t.force_flush(5)
    _wait_until(lambda: (s := t.queue_status()) is not None and s.dropped_rejected == 2)
    status = t.queue_status()
    assert status is not None and status.entries == 0 and status.delivered == 0
    t.shutdown(2)


@pytest.mark.parametrize(
    "refusing",
    [
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
    ],
    indirect=True,
    ids=lambda c: c.name,
)
def test_batch_refused_for_its_credentials_or_a_server_failure_stays_queued(
    refusing: RefusingReceiver, tmp_path: Path
) -> None:
    t = _telemetry(refusing.endpoint, "grpc", tmp_path)
    _error(t, "wrong key")
    t.record("bot", "wrong_key")
    t.force_flush(5)
    _wait_until(lambda: (s := t.queue_status()) is not None and s.entries == 2)
    time.sleep(1.0)  # several resend rounds: still kept, none dropped
    status = t.queue_status()
    assert status is not None and status.entries == 2 and status.dropped_rejected == 0
    t.shutdown(2)
