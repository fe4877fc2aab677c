"""Cost of one background-loop iteration, side by side in one run, as ratios to a plain
``tasks.loop`` iteration (body: ``await asyncio.sleep(0)``):

- ``telemetry.loop`` enabled, always sampled, file exporter (export runs in a background thread;
  the iteration pays for the span, its attributes, the link and scrubbing),
- ``telemetry.loop`` without consent (the default until the owner opts in),
- the seed cogs' way: the same body inside a sentry-sdk transaction on an isolated client
  (``sentry_sdk.Client`` + an isolation scope, never ``sentry_sdk.init``), traces sample rate 1,
  a transport that drops envelopes (no network).

Rounds alternate between the three so machine noise hits them alike; the best round counts.
Exits 1 if the instrumented iteration is not cheaper than the sentry transaction.

Run: .venv/bin/python benchmarks/bench_loop.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import sentry_sdk
from discord.ext import tasks
from sentry_sdk.transport import Transport

from otel_discord import Telemetry

ITERATIONS = 2_000
ROUNDS = 5


class DropTransport(Transport):
    """Keeps sentry-sdk's serialisation path but sends nothing."""

    def capture_envelope(self, envelope: Any) -> None:
        self.last = envelope


async def run_loop(loop: tasks.Loop[Any]) -> float:
    start = time.perf_counter()
    task = loop.start()
    await task
    return (time.perf_counter() - start) / ITERATIONS


async def main() -> int:
    data_dir = tempfile.mkdtemp(prefix="otel-discord-bench-")
    telemetry = Telemetry(
        "bench-loop",
        config={
            "enabled": True,
            "exporters": ["file"],
            "data_dir": data_dir,
            "max_queue_size": 100_000,
            "sampler": "always_on",
            "loop_sample_rate": 1.0,
        },
    )
    off = Telemetry(
        "bench-loop-off", config={"exporters": ["file"], "data_dir": data_dir}
    )  # no consent: the default
    client = sentry_sdk.Client(
        dsn="https://public@127.0.0.1:9/1",
        traces_sample_rate=1.0,
        transport=DropTransport,
        default_integrations=False,
    )

    @tasks.loop(seconds=0, count=ITERATIONS)
    async def plain() -> None:
        await asyncio.sleep(0)

    @telemetry.loop(seconds=0, count=ITERATIONS)
    async def instrumented() -> None:
        await asyncio.sleep(0)

    @off.loop(seconds=0, count=ITERATIONS)
    async def instrumented_off() -> None:
        await asyncio.sleep(0)

    @tasks.loop(seconds=0, count=ITERATIONS)
    async def sentry_transaction() -> None:
        with sentry_sdk.isolation_scope() as scope:
            scope.set_client(client)
            with sentry_sdk.start_transaction(name="loop sentry_transaction", op="task"):
                await asyncio.sleep(0)

    cases: list[tuple[str, Callable[[], Awaitable[float]]]] = [
        ("plain tasks.loop iteration", lambda: run_loop(plain)),
        ("telemetry.loop iteration (enabled)", lambda: run_loop(instrumented)),
        ("sentry-sdk transaction iteration", lambda: run_loop(sentry_transaction)),
        ("telemetry.loop iteration (no consent)", lambda: run_loop(instrumented_off)),
    ]
    best = {label: float("inf") for label, _ in cases}
    for _ in range(ROUNDS):
        for label, run in cases:
            best[label] = min(best[label], await run())
            telemetry.force_flush(10)  # keep the export thread out of the next measurement
    base = best[cases[0][0]]
    for label, _ in cases:
        print(f"{label:<38} {best[label] * 1e6:8.1f} us/iteration {best[label] / base:6.2f}x plain")
    ours, theirs = best[cases[1][0]], best[cases[2][0]]
    print(f"{'telemetry.loop / sentry transaction':<38} {ours / theirs:6.2f}x")
    telemetry.shutdown(5)
    off.shutdown(2)
    client.close(timeout=1)
    return 0 if ours < theirs else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
