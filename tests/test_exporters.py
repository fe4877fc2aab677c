"""Exporters: OTLP over real gRPC and HTTP (rotel, and in-process receivers where headers and bytes
matter), OTLP/JSON lines in a bounded file, and the console tree."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import ParseDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_discord import Telemetry, __version__
from otel_discord.exporters._console import ConsoleTreeExporter
from tests._backends import CollectorChain, GrpcReceiver, HttpReceiver

FAST = {"schedule_delay": 0.01, "otlp_timeout": 2.0}


def otlp(endpoint: str, protocol: str = "http/protobuf", **config: Any) -> Telemetry:
    return Telemetry(
        "exp-cog",
        version="2.0",
        config={
            "enabled": True,
            "exporters": ["otlp"],
            "otlp_endpoint": endpoint,
            "otlp_protocol": protocol,
            **FAST,
            **config,
        },
    )


def emit_error_trace(telemetry: Telemetry) -> None:
    with pytest.raises(KeyError), telemetry.span("command", {"guild": "x"}):
        with telemetry.span("db-query"):
            pass
        raise KeyError("token seen at 203.0.113.9")


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_error_trace_crosses_rotel_intact_and_scrubbed(
    collector: CollectorChain, protocol: str
) -> None:
    endpoint = (
        collector.rotel.grpc_endpoint if protocol == "grpc" else collector.rotel.http_endpoint
    )
    telemetry = otlp(endpoint, protocol)
    emit_error_trace(telemetry)
    assert telemetry.force_flush(5)
    spans = collector.received.wait_for_names("command", "db-query")
    by_name = {s["name"]: s for s in spans}
    command, query = by_name["command"], by_name["db-query"]
    assert query["parent_span_id"] == command["span_id"]
    assert query["trace_id"] == command["trace_id"]
    assert command["status"]["code"] == 2  # STATUS_CODE_ERROR
    assert "203.0.113.9" not in command["status"]["message"]
    (event,) = command["events"]
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"] == "KeyError"
    assert "IP-ADDRESS" in event["attributes"]["exception.message"]
    assert command["resource"]["service.name"] == "exp-cog"
    assert "host.name" not in command["resource"]
    telemetry.shutdown(2)


def test_http_requests_carry_the_version_header_and_go_to_v1_traces(
    http_receiver: HttpReceiver,
) -> None:
    telemetry = otlp(http_receiver.endpoint)
    with telemetry.span("ping"):
        pass
    assert telemetry.force_flush(5)
    http_receiver.received.wait_for_names("ping")
    assert http_receiver.received.headers[0]["x-otel-discord-version"] == __version__
    assert http_receiver.received.paths == ["/v1/traces"]
    assert http_receiver.received.headers[0]["content-type"] == "application/x-protobuf"
    telemetry.shutdown(2)


def test_http_sends_configured_headers(http_receiver: HttpReceiver) -> None:
    telemetry = otlp(http_receiver.endpoint, otlp_headers={"X-Api-Key": "cog-author-key"})
    with telemetry.span("ping"):
        pass
    telemetry.force_flush(5)
    http_receiver.received.wait_for_names("ping")
    headers = http_receiver.received.headers[0]
    assert headers["x-api-key"] == "cog-author-key"
    assert headers["x-otel-discord-version"] == __version__
    telemetry.shutdown(2)


def test_host_otlp_headers_are_not_sent_to_an_endpoint_set_in_code(
    http_receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer host-secret")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-host-team=ops")
    telemetry = otlp(http_receiver.endpoint)
    with telemetry.span("ping"):
        pass
    telemetry.force_flush(5)
    http_receiver.received.wait_for_names("ping")
    headers = http_receiver.received.headers[0]
    assert "authorization" not in headers and "x-host-team" not in headers
    assert not any(b"host-secret" in raw for raw in http_receiver.received.raw)
    telemetry.shutdown(2)


def test_endpoint_and_headers_from_the_environment_travel_together(
    http_receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", http_receiver.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20operator-key")
    telemetry = Telemetry("exp-cog", config={"enabled": True, "exporters": ["otlp"], **FAST})
    with telemetry.span("ping"):
        pass
    telemetry.force_flush(5)
    http_receiver.received.wait_for_names("ping")
    assert http_receiver.received.headers[0]["authorization"] == "Bearer operator-key"
    assert http_receiver.received.paths == ["/v1/traces"]
    telemetry.shutdown(2)


def test_host_otlp_headers_are_not_sent_with_events(
    http_receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer host-secret")
    telemetry = otlp(http_receiver.endpoint)
    telemetry.enable("usage")
    telemetry.record("backup", "restore")
    telemetry.force_flush(5)
    http_receiver.received.wait_for_logs(lambda records: len(records) >= 1)
    (headers,) = http_receiver.received.headers
    assert "authorization" not in headers
    assert headers["x-otel-discord-version"] == __version__
    telemetry.shutdown(2)


def test_grpc_metadata_carries_version_and_configured_headers(
    grpc_receiver: GrpcReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer host-secret")
    telemetry = otlp(grpc_receiver.endpoint, "grpc", otlp_headers={"x-api-key": "k1"})
    with telemetry.span("ping"):
        pass
    telemetry.force_flush(5)
    grpc_receiver.received.wait_for_names("ping")
    metadata = grpc_receiver.received.headers[0]
    assert metadata["x-otel-discord-version"] == __version__
    assert metadata["x-api-key"] == "k1"
    assert "authorization" not in metadata
    telemetry.shutdown(2)


def test_several_exporters_each_get_every_span(http_receiver: HttpReceiver, tmp_path: Path) -> None:
    telemetry = otlp(http_receiver.endpoint, exporters=["otlp", "file"])
    with telemetry.span("both"):
        pass
    telemetry.force_flush(5)
    http_receiver.received.wait_for_names("both")
    lines = (tmp_path / "otel-discord-data" / "spans" / "exp-cog.jsonl").read_text().splitlines()
    assert [s["name"] for s in file_spans(lines)] == ["both"]
    telemetry.shutdown(2)


# -- file --------------------------------------------------------------------------------------


def file_spans(lines: list[str]) -> list[dict[str, Any]]:
    return [
        span
        for line in lines
        for rs in json.loads(line)["resourceSpans"]
        for ss in rs["scopeSpans"]
        for span in ss["spans"]
    ]


def hex_ids_to_base64(node: Any) -> Any:
    """OTLP/JSON (hex ids) -> proto3 JSON (base64 ids), to parse a line with protobuf."""
    import base64

    if isinstance(node, dict):
        return {
            k: base64.b64encode(bytes.fromhex(v)).decode()
            if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str)
            else hex_ids_to_base64(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [hex_ids_to_base64(v) for v in node]
    return node


def test_default_exporter_is_a_file_in_the_data_dir(tmp_path: Path) -> None:
    telemetry = Telemetry("first-run", config={"enabled": True, **FAST})
    assert telemetry.config.exporters == ("file",)
    with telemetry.span("hello"):
        pass
    telemetry.force_flush(5)
    path = tmp_path / "otel-discord-data" / "spans" / "first-run.jsonl"
    assert [s["name"] for s in file_spans(path.read_text().splitlines())] == ["hello"]
    telemetry.shutdown(2)


def test_file_lines_are_otlp_json_with_hex_ids(tmp_path: Path) -> None:
    telemetry = Telemetry("filecog", config={"enabled": True, "exporters": ["file"], **FAST})
    with telemetry.span("parent", {"count": 3}), telemetry.span("child"):
        pass
    telemetry.force_flush(5)
    path = tmp_path / "otel-discord-data" / "spans" / "filecog.jsonl"
    lines = path.read_text().splitlines()
    spans = {s["name"]: s for s in file_spans(lines)}
    parent, child = spans["parent"], spans["child"]
    assert re.fullmatch(r"[0-9a-f]{32}", parent["traceId"])
    assert re.fullmatch(r"[0-9a-f]{16}", parent["spanId"])
    assert child["parentSpanId"] == parent["spanId"]
    assert parent["attributes"] == [{"key": "count", "value": {"intValue": "3"}}]
    for line in lines:  # every line is a whole ExportTraceServiceRequest
        request = ParseDict(hex_ids_to_base64(json.loads(line)), ExportTraceServiceRequest())
        assert request.resource_spans[0].resource.attributes
    telemetry.shutdown(2)


def test_file_rotation_keeps_the_file_bounded(tmp_path: Path) -> None:
    telemetry = Telemetry(
        "rotcog",
        config={"enabled": True, "exporters": ["file"], "file_max_bytes": 65536, **FAST},
    )
    for i in range(60):
        with telemetry.span(f"span-{i}", {"payload": "x" * 3000}):
            pass
        if i % 5 == 4:
            telemetry.force_flush(5)
    telemetry.force_flush(5)
    folder = tmp_path / "otel-discord-data" / "spans"
    assert sorted(p.name for p in folder.iterdir()) == ["rotcog.jsonl", "rotcog.jsonl.1"]
    for path in folder.iterdir():
        assert path.stat().st_size <= 65536
        file_spans(path.read_text().splitlines())  # whole lines only
    names = [s["name"] for s in file_spans((folder / "rotcog.jsonl").read_text().splitlines())]
    assert names[-1] == "span-59"
    telemetry.shutdown(2)


def test_a_batch_larger_than_the_bound_is_split_into_lines_that_fit(tmp_path: Path) -> None:
    telemetry = Telemetry(
        "bigbatch",
        config={
            "enabled": True,
            "exporters": ["file"],
            "file_max_bytes": 65536,
            "schedule_delay": 60.0,  # one batch of all 12 spans, at the flush
        },
    )
    for i in range(12):
        with telemetry.span(f"span-{i}", {"payload": "y" * 8000}):
            pass
    telemetry.force_flush(5)
    folder = tmp_path / "otel-discord-data" / "spans"
    names: list[str] = []
    for path in sorted(folder.iterdir(), reverse=True):  # .jsonl.1 (older) first
        assert path.stat().st_size <= 65536
        names += [s["name"] for s in file_spans(path.read_text().splitlines())]
    assert names[-1] == "span-11"
    telemetry.shutdown(2)


def test_a_span_larger_than_the_bound_is_dropped_not_written(tmp_path: Path) -> None:
    telemetry = Telemetry(
        "huge", config={"enabled": True, "exporters": ["file"], "file_max_bytes": 65536, **FAST}
    )
    # Each value is cut at 16 KiB by the scrubber: five of them make one span past the bound.
    with telemetry.span("huge", {f"payload{i}": "z" * 15_000 for i in range(5)}):
        pass
    with telemetry.span("small"):
        pass
    telemetry.force_flush(5)
    path = tmp_path / "otel-discord-data" / "spans" / "huge.jsonl"
    assert path.stat().st_size <= 65536
    assert [s["name"] for s in file_spans(path.read_text().splitlines())] == ["small"]
    telemetry.shutdown(2)


# -- console -----------------------------------------------------------------------------------


def test_console_prints_an_indented_tree_with_events_and_status(
    capsys: pytest.CaptureFixture[str],
) -> None:
    telemetry = Telemetry("tree", config={"enabled": True, "exporters": ["console"], **FAST})
    emit_error_trace(telemetry)
    telemetry.force_flush(5)
    out = capsys.readouterr().out
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("command "))
    assert re.fullmatch(
        r"command \d+\.\d ms  \[tree trace [0-9a-f]{32}\]  ERROR: KeyError: .*", lines[head]
    )
    assert "  guild = 'x'" in lines
    assert "  * exception" in lines
    assert "      exception.type = 'KeyError'" in lines
    assert any(re.fullmatch(r"  db-query \d+\.\d ms", line) for line in lines)
    assert "\033[" not in out  # captured output is no TTY: no colour
    telemetry.shutdown(2)


def test_console_colours_only_on_a_tty() -> None:
    telemetry = Telemetry("tree", config={"enabled": True, "exporters": []})

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, plain = Tty(), io.StringIO()
    # The two consoles get the scrubbed spans, as the configured exporters do.
    telemetry._processor.add_processor(SimpleSpanProcessor(ConsoleTreeExporter(tty)))
    telemetry._processor.add_processor(SimpleSpanProcessor(ConsoleTreeExporter(plain)))
    emit_error_trace(telemetry)
    assert "\033[31mERROR\033[0m" in tty.getvalue()
    assert "\033[" not in plain.getvalue() and "  ERROR: KeyError" in plain.getvalue()
    telemetry.shutdown(2)
