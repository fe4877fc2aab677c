"""Opt-out: without consent, or with a kill switch, nothing leaves the process. A real listening
socket stands where the collector would be and must see zero connections and zero bytes while the
bot produces spans, errors and events; no exporter object or thread is ever made."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from otel_discord import Telemetry
from tests._backends import ListeningSocket


@pytest.fixture
def listener() -> Iterator[ListeningSocket]:
    sock = ListeningSocket()
    yield sock
    sock.close()


def reporter(endpoint: str, protocol: str) -> Telemetry:
    return Telemetry(
        "quiet-cog",
        version="1.0",
        config={
            "exporters": ["otlp", "file", "console"],
            "otlp_endpoint": endpoint,
            "otlp_protocol": protocol,
            "otlp_timeout": 1.0,
            "schedule_delay": 0.01,
        },
    )


def produce_everything(telemetry: Telemetry) -> None:
    """Spans, a traced function, a recorded error, an escaping error, an event, a start-up."""
    with telemetry.span("work", {"n": 1}), telemetry.span("inner"):
        pass

    @telemetry.traced()
    def job() -> int:
        return 3

    assert job() == 3
    telemetry.record_exception(RuntimeError("boom"))
    with pytest.raises(ValueError), telemetry.span("failing"):
        raise ValueError("bad")
    telemetry.record("backup", "restore", metadata={"files": 2})
    telemetry.started(cogs=1)
    telemetry.force_flush(1.0)


def settle(listener: ListeningSocket) -> None:
    # The listener accepts with a 0.1 s timeout: give a (wrong) connection time to be counted.
    time.sleep(0.3)


OPT_OUTS = ["consent-off", "OTEL_SDK_DISABLED", "DO_NOT_TRACK"]


def opt_out(monkeypatch: pytest.MonkeyPatch, how: str, telemetry: Telemetry) -> None:
    if how == "OTEL_SDK_DISABLED":
        telemetry.enable("errors", "usage")
        monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    elif how == "DO_NOT_TRACK":
        telemetry.enable("errors", "usage")
        monkeypatch.setenv("DO_NOT_TRACK", "1")


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
@pytest.mark.parametrize("how", OPT_OUTS)
def test_nothing_reaches_the_socket(
    listener: ListeningSocket,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    how: str,
    protocol: str,
) -> None:
    threads_before = set(threading.enumerate())
    telemetry = reporter(f"http://127.0.0.1:{listener.port}", protocol)
    opt_out(monkeypatch, how, telemetry)
    produce_everything(telemetry)
    new_threads = [t.name for t in set(threading.enumerate()) - threads_before]
    assert telemetry.shutdown(1.0)
    settle(listener)
    assert (listener.connections, listener.bytes) == (0, 0)
    assert not telemetry.exporting
    # No exporter thread: at most the shared gate timer, which only clears a flag in memory.
    assert set(new_threads) <= {"otel-discord-gate"}
    data = tmp_path / "otel-discord-data"
    assert not (data / "spans").exists() and not (data / "events").exists()


def test_an_enabled_reporter_does_reach_the_socket(listener: ListeningSocket) -> None:
    """The control for the tests above: the same set-up with consent does connect and send."""
    telemetry = reporter(f"http://127.0.0.1:{listener.port}", "http/protobuf")
    telemetry.enable()
    with telemetry.span("work"):
        pass
    telemetry.force_flush(1.0)
    deadline = time.monotonic() + 5
    while listener.bytes == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    telemetry.shutdown(1.0)
    assert listener.connections >= 1 and listener.bytes > 0


def test_disabled_reporter_never_writes_to_the_console(
    capsys: pytest.CaptureFixture[str],
) -> None:
    telemetry = reporter("http://127.0.0.1:9", "http/protobuf")
    produce_everything(telemetry)
    telemetry.shutdown(1.0)
    assert capsys.readouterr().out == ""


class GetaddrinfoSpy:
    """Records host names looked up; refuses them instead of asking a resolver (no DNS here)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.hosts: list[str] = []

    def __call__(self, host: Any, *args: Any, **kwargs: Any) -> Any:
        self.hosts.append(str(host))
        if str(host).endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "refused by the test spy")
        return self.real(host, *args, **kwargs)


HOST = "collector.otel-discord.invalid"


@pytest.fixture
def dns_spy(monkeypatch: pytest.MonkeyPatch) -> GetaddrinfoSpy:
    spy = GetaddrinfoSpy(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", spy)
    return spy


@pytest.mark.parametrize("how", OPT_OUTS)
def test_no_dns_lookup_for_a_hostname_endpoint(
    dns_spy: GetaddrinfoSpy, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """A spy on ``socket.getaddrinfo`` stands in for a DNS server (this machine has none): it
    records every name looked up. gRPC resolves through its own resolver, so the gRPC side is
    covered by ``exporting`` being False (no channel was ever created)."""
    telemetry = reporter(f"http://{HOST}:4318", "http/protobuf")
    opt_out(monkeypatch, how, telemetry)
    produce_everything(telemetry)
    telemetry.shutdown(1.0)
    assert HOST not in dns_spy.hosts
    assert not telemetry.exporting


def test_dns_spy_sees_the_lookup_of_an_enabled_reporter(dns_spy: GetaddrinfoSpy) -> None:
    """The control for the DNS test: with consent the exporter does look the name up."""
    telemetry = reporter(f"http://{HOST}:4318", "http/protobuf")
    telemetry.enable()
    with telemetry.span("work"):
        pass
    telemetry.force_flush(1.0)
    telemetry.shutdown(1.0)
    assert HOST in dns_spy.hosts
