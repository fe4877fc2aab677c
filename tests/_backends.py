"""Real backends for tests: rotel (a real OpenTelemetry collector from PyPI) and in-process OTLP
receivers over real sockets (gRPC and HTTP/protobuf). Everything binds 127.0.0.1."""

from __future__ import annotations

import contextlib
import gzip
import os
import socket
import subprocess
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports: all bound at once, so two calls in a row cannot hand out the
    same port twice (they did, about once in 16,000 pairs)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in kvs}


def flatten_traces(request: trace_service_pb2.ExportTraceServiceRequest) -> list[dict[str, Any]]:
    """Every span of an OTLP request as a dict, with its resource attributes."""
    out: list[dict[str, Any]] = []
    for rs in request.resource_spans:
        resource = attrs(rs.resource.attributes)
        for ss in rs.scope_spans:
            for span in ss.spans:
                out.append(
                    {
                        "name": span.name,
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(),
                        "attributes": attrs(span.attributes),
                        "events": [
                            {"name": e.name, "attributes": attrs(e.attributes)} for e in span.events
                        ],
                        "links": [
                            {
                                "trace_id": link.trace_id.hex(),
                                "span_id": link.span_id.hex(),
                                "attributes": attrs(link.attributes),
                            }
                            for link in span.links
                        ],
                        "status": {"code": span.status.code, "message": span.status.message},
                        "resource": resource,
                        "scope": ss.scope.name,
                    }
                )
    return out


def flatten_logs(request: logs_service_pb2.ExportLogsServiceRequest) -> list[dict[str, Any]]:
    """Every log record (event) of an OTLP request as a dict, with its resource attributes."""
    out: list[dict[str, Any]] = []
    for rl in request.resource_logs:
        resource = attrs(rl.resource.attributes)
        for sl in rl.scope_logs:
            for record in sl.log_records:
                out.append(
                    {
                        "event_name": record.event_name,
                        "body": any_value(record.body),
                        "attributes": attrs(record.attributes),
                        "trace_id": record.trace_id.hex(),
                        "severity": record.severity_text,
                        "resource": resource,
                        "scope": sl.scope.name,
                    }
                )
    return out


@dataclass
class Received:
    """What a receiver got: raw bodies, parsed requests, headers, paths."""

    requests: list[trace_service_pb2.ExportTraceServiceRequest] = field(default_factory=list)
    log_requests: list[logs_service_pb2.ExportLogsServiceRequest] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.arrived = threading.Condition(self.lock)

    def spans(self) -> list[dict[str, Any]]:
        with self.lock:
            requests = list(self.requests)
        return [s for r in requests for s in flatten_traces(r)]

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Wait until ``predicate(spans)`` holds; return the spans (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans()
            if predicate(spans):
                return spans
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; received {[s['name'] for s in spans]}")
            with self.arrived:
                self.arrived.wait(min(remaining, 0.1))

    def wait_for_names(self, *names: str, timeout: float = 10.0) -> list[dict[str, Any]]:
        return self.wait_for(lambda spans: set(names) <= {s["name"] for s in spans}, timeout)

    def logs(self) -> list[dict[str, Any]]:
        """Every log record (event) received so far."""
        with self.lock:
            requests = list(self.log_requests)
        return [r for req in requests for r in flatten_logs(req)]

    def wait_for_logs(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Wait until ``predicate(log records)`` holds; return them (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.logs()
            if predicate(records):
                return records
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; received {[r['event_name'] for r in records]}")
            with self.arrived:
                self.arrived.wait(min(remaining, 0.1))

    def add(self, request: Any, raw: bytes, headers: dict[str, str], path: str) -> None:
        with self.arrived:
            if isinstance(request, trace_service_pb2.ExportTraceServiceRequest):
                self.requests.append(request)
            else:
                self.log_requests.append(request)
            self.raw.append(raw)
            self.headers.append(headers)
            self.paths.append(path)
            self.arrived.notify_all()


class GrpcReceiver:
    """An in-process OTLP/gRPC receiver (traces and logs)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.received = Received()
        received = self.received

        class Traces(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                headers = {k: v for k, v in context.invocation_metadata()}
                received.add(request, request.SerializeToString(), headers, "grpc:traces")
                return trace_service_pb2.ExportTraceServiceResponse()

        class Logs(logs_service_pb2_grpc.LogsServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                headers = {k: v for k, v in context.invocation_metadata()}
                received.add(request, request.SerializeToString(), headers, "grpc:logs")
                return logs_service_pb2.ExportLogsServiceResponse()

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), self.server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Logs(), self.server)
        self.server.add_insecure_port(f"127.0.0.1:{self.port}")

    def start(self) -> GrpcReceiver:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop(grace=0.5).wait(2)


class HttpReceiver:
    """An in-process OTLP/HTTP (protobuf, gzip or not) receiver that records every request and
    counts TCP connections. ``status`` and ``extra_headers`` let a test make it answer 429/5xx.
    ``posts`` lists the path of every POST whatever the answer; Sentry envelopes (``/envelope/``)
    are kept as bytes in ``envelopes`` instead of being parsed as OTLP."""

    def __init__(self) -> None:
        self.received = Received()
        self.connections = 0
        self.posts: list[str] = []
        self.envelopes: list[bytes] = []
        self.status = 200
        self.extra_headers: dict[str, str] = {}
        self.delay = 0.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                outer.connections += 1
                super().setup()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                raw = body
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                elif encoding == "br":  # sentry-sdk's envelopes when Brotli is installed
                    import brotli

                    body = brotli.decompress(body)
                if outer.delay:
                    time.sleep(outer.delay)
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.posts.append(self.path)
                if "/envelope/" in self.path:
                    if outer.status == 200:
                        outer.envelopes.append(body)
                elif outer.status == 200:
                    if self.path.endswith("/logs") or "/logs" in self.path:
                        req: Any = logs_service_pb2.ExportLogsServiceRequest()
                    else:
                        req = trace_service_pb2.ExportTraceServiceRequest()
                    req.ParseFromString(body)
                    outer.received.add(req, raw, headers, self.path)
                self.send_response(outer.status)
                for k, v in outer.extra_headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> HttpReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ListeningSocket:
    """A bare TCP listener that counts connections and bytes, for 'nothing leaves' tests."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.connections = 0
        self.bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.settimeout(0.2)
            try:
                while data := conn.recv(65536):
                    self.bytes += len(data)
            except OSError:
                pass
            finally:
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class SilentServer:
    """Accepts TCP connections and reads whatever comes, but never answers and never closes until
    stopped: a collector that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self.bytes = 0
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                pass
            else:
                self.connections += 1
                conn.setblocking(False)
                self._open.append(conn)
            for conn in self._open:
                with contextlib.suppress(OSError):
                    self.bytes += len(conn.recv(65536))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for conn in self._open:
            conn.close()
        self.sock.close()


def rotel_binary() -> str:
    import rotel

    return os.path.join(os.path.dirname(rotel.__file__), "rotel-agent")


class Rotel:
    """rotel-agent listening for OTLP (gRPC and HTTP) on 127.0.0.1, forwarding over OTLP/gRPC
    to ``forward_to`` (an endpoint URL)."""

    def __init__(self, forward_to: str, log_dir: Path) -> None:
        self.grpc_port, self.http_port = free_ports(2)
        self.forward_to = forward_to
        self.log_path = log_dir / f"rotel-{self.grpc_port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> Rotel:
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [
                rotel_binary(),
                "start",
                "--otlp-grpc-endpoint",
                f"127.0.0.1:{self.grpc_port}",
                "--otlp-http-endpoint",
                f"127.0.0.1:{self.http_port}",
                "--exporter",
                "otlp",
                "--otlp-exporter-protocol",
                "grpc",
                "--otlp-exporter-endpoint",
                self.forward_to,
                "--disable-batching",
                "--pid-file",
                str(self.log_path.with_suffix(".pid")),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rotel exited: {self.log_path.read_text()[-2000:]}")
            try:
                with (
                    socket.create_connection(("127.0.0.1", self.grpc_port), 0.2),
                    socket.create_connection(("127.0.0.1", self.http_port), 0.2),
                ):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("rotel did not start listening")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@dataclass
class CollectorChain:
    """rotel in front of an in-process gRPC receiver: what the collector forwarded arrives here."""

    rotel: Rotel
    downstream: GrpcReceiver

    @property
    def received(self) -> Received:
        return self.downstream.received


def rotel_chain(log_dir: Path) -> Iterator[CollectorChain]:
    downstream = GrpcReceiver().start()
    rotel = Rotel(downstream.endpoint, log_dir).start()
    try:
        yield CollectorChain(rotel, downstream)
    finally:
        rotel.stop()
        downstream.stop()
