"""Backend trouble never reaches the bot: with bugsink stopped, or a server answering 500 or 429,
a running asyncio bot keeps going, nothing raises into its code and shutdown stays bounded.

bugsink cannot be made to answer 500 or 429, so those two use the in-process ``http_receiver``
(a real HTTP server on 127.0.0.1) with ``status`` / ``extra_headers`` set.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from otel_discord import Telemetry
from otel_discord.consent import MemoryConsentStore
from tests._backends import HttpReceiver
from tests._bugsink import Bugsink

KEY = "fedcba9876543210fedcba9876543210"
LOOP = {"discord.kind": "loop", "discord.loop": "refresh"}


def make_telemetry(dsn: str, **config: Any) -> Telemetry:
    return Telemetry(
        "faultcog",
        version="1.0.0",
        config={
            "exporters": ["sentry"],
            "sentry_dsn": dsn,
            "enabled": True,
            "schedule_delay": 0.05,
            "otlp_timeout": 1.0,
            **config,
        },
        consent=MemoryConsentStore(),
    )


async def run_bot(telemetry: Telemetry, errors: int) -> tuple[int, float]:
    """A bot whose loop fails ``errors`` times while a heartbeat ticks; returns the heartbeat
    count and the longest gap between two ticks (the event loop never waits for a backend)."""
    ticks: list[float] = []
    stop = asyncio.Event()

    async def heartbeat() -> None:
        while not stop.is_set():
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    beat = asyncio.create_task(heartbeat())
    for i in range(errors):
        try:
            with telemetry.span("loop refresh", LOOP):
                raise ConnectionError(f"iteration {i} failed")
        except ConnectionError:
            pass
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    stop.set()
    await beat
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    return len(ticks), max(gaps, default=0.0)


def shutdown_time(telemetry: Telemetry, timeout: float) -> float:
    started = time.monotonic()
    telemetry.shutdown(timeout)
    return time.monotonic() - started


def test_bugsink_stopped_the_bot_keeps_running_and_shutdown_is_bounded(
    bugsink: Bugsink,
) -> None:
    bugsink.stop()
    try:
        telemetry = make_telemetry(bugsink.dsn("C"))  # spans to its OTLP path too: refused
        ticks, gap = asyncio.run(run_bot(telemetry, errors=5))
        assert ticks > 20
        assert gap < 0.5
        assert shutdown_time(telemetry, 2.0) < 3.0
    finally:
        bugsink.start_again()


def test_server_answering_500_never_reaches_the_bot(http_receiver: HttpReceiver) -> None:
    http_receiver.status = 500
    telemetry = make_telemetry(f"http://{KEY}@127.0.0.1:{http_receiver.port}/3")
    ticks, gap = asyncio.run(run_bot(telemetry, errors=5))

    assert any(p == "/api/3/envelope/" for p in http_receiver.posts)  # it was really tried
    assert ticks > 20
    assert gap < 0.5
    assert shutdown_time(telemetry, 2.0) < 3.0


def test_429_with_retry_after_is_honoured_without_raising(http_receiver: HttpReceiver) -> None:
    http_receiver.status = 429
    http_receiver.extra_headers = {"Retry-After": "60"}
    telemetry = make_telemetry(
        f"http://{KEY}@127.0.0.1:{http_receiver.port}/3", sentry_traces=False
    )
    ticks, gap = asyncio.run(run_bot(telemetry, errors=1))
    first = [p for p in http_receiver.posts if p.endswith("/envelope/")]
    ticks_more, _ = asyncio.run(run_bot(telemetry, errors=5))
    assert telemetry.force_flush(2)

    assert len(first) >= 1
    # Rate limited for 60 s: the later errors are dropped, not sent and not queued forever.
    assert [p for p in http_receiver.posts if p.endswith("/envelope/")] == first
    assert ticks > 20 and ticks_more > 20
    assert gap < 0.5
    assert shutdown_time(telemetry, 2.0) < 3.0


def test_server_that_never_answers_keeps_the_bot_running_and_shutdown_bounded() -> None:
    from tests._backends import SilentServer

    server = SilentServer()
    try:
        telemetry = make_telemetry(f"http://{KEY}@127.0.0.1:{server.port}/3")
        ticks, gap = asyncio.run(run_bot(telemetry, errors=3))
        assert server.connections >= 1  # it was really tried, and it hangs
        assert ticks > 20
        assert gap < 0.5
        assert shutdown_time(telemetry, 2.0) < 3.0
    finally:
        server.close()
