"""Per-span cost of otel_discord's pipeline against the plain OpenTelemetry SDK, side by side.

1. Enabled: ``telemetry.span(...)`` (consent gate + scrub + rebuild + batch) vs plain SDK spans
   (``tracer.start_as_current_span``) with a ``BatchSpanProcessor`` and the same exporter.
   Target <= 1.5x, aim 1.25x.
2. Disabled: a ``@telemetry.traced`` coroutine whose body awaits ``asyncio.sleep(0)``, consent
   off, vs the same coroutine bare. Target <= 1.10x.

Rounds are interleaved (the order alternates each round); the ratio printed is the median of
the per-round ratios, so drift on a busy machine hits both sides alike. Prints ratios and PASS/MISS.

    .venv/bin/python benchmarks/bench_pipeline.py [--rounds 31] [--spans 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from otel_discord import MemoryConsentStore, Telemetry

ATTRIBUTES: dict[str, str | int] = {
    "discord.command": "ping",
    "discord.cog": "Music",
    "attempt": 3,
    "note": "all good",
}
QUEUE, BATCH, DELAY_MS = 2048, 512, 5000.0


class CountingExporter(SpanExporter):
    """The same cheap exporter on both sides: counts spans, sends nothing."""

    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS


def our_reporter(data_dir: str) -> Telemetry:
    telemetry = Telemetry(
        "bench",
        config={
            "enabled": True,
            "exporters": [],
            "data_dir": data_dir,
            "max_queue_size": QUEUE,
            "schedule_delay": DELAY_MS / 1000,
        },
        consent=MemoryConsentStore(),
    )
    # The configured exporter list, with the benchmark's exporter in place of a real one.
    telemetry._processor._factories = [("bench", CountingExporter)]
    return telemetry


def plain_provider() -> TracerProvider:
    """The plain SDK: a provider with a ``BatchSpanProcessor`` (same settings) and exporter."""
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(
        BatchSpanProcessor(
            CountingExporter(),
            max_queue_size=QUEUE,
            schedule_delay_millis=DELAY_MS,
            max_export_batch_size=BATCH,
        )
    )
    return provider


def span_runs(
    telemetry: Telemetry, provider: TracerProvider, fresh: bool
) -> tuple[Callable[[int], None], Callable[[int], None]]:
    """``n`` spans through our pipeline, and through the plain SDK. ``fresh``: string values never
    repeat, so every one misses the pipeline's scrub memo."""
    tracer = provider.get_tracer("bench")
    counter = iter(range(10**12))

    def attributes() -> dict[str, str | int]:
        if not fresh:
            return ATTRIBUTES
        i = next(counter)
        return {**ATTRIBUTES, "note": f"all good {i}", "discord.command": f"ping{i}"}

    def ours(n: int) -> None:
        for _ in range(n):
            with telemetry.span("command ping", attributes()):
                pass

    def plain(n: int) -> None:
        for _ in range(n):
            with tracer.start_as_current_span("command ping", attributes=attributes()):
                pass

    return ours, plain


def compare(
    a: Callable[[int], None], b: Callable[[int], None], n: int, rounds: int
) -> tuple[float, float, float]:
    """Median seconds per item of ``a`` and of ``b``, and the median of the per-round ratios
    (each round times ``a`` and ``b`` back to back, so load drift hits both alike)."""
    times_a: list[float] = []
    times_b: list[float] = []
    a(n // 10)  # warm up both
    b(n // 10)
    for r in range(rounds):
        order = [(a, times_a), (b, times_b)]
        if r % 2:
            order.reverse()
        for fn, out in order:
            start = time.perf_counter()
            fn(n)
            out.append((time.perf_counter() - start) / n)
    ratios = [x / y for x, y in zip(times_a, times_b, strict=True)]
    return statistics.median(times_a), statistics.median(times_b), statistics.median(ratios)


def disabled_traced(
    data_dir: str,
) -> tuple[Callable[[int], None], Callable[[int], None], Callable[[int], None]]:
    """The disabled traced coroutine, the bare one, and the floor: a pass-through
    ``functools.wraps`` decorator that does nothing but await the body."""
    telemetry = Telemetry(
        "bench-off",
        config={"exporters": [], "data_dir": data_dir},
        consent=MemoryConsentStore(),
    )

    async def body() -> None:
        await asyncio.sleep(0)

    traced = telemetry.traced("job")(body)

    @functools.wraps(body)
    async def passthrough(*args: object, **kwargs: object) -> None:
        return await body(*args, **kwargs)

    loop = asyncio.new_event_loop()

    def runner(fn: Callable[[], object]) -> Callable[[int], None]:
        async def many(n: int) -> None:
            for _ in range(n):
                await fn()  # type: ignore[misc]

        return lambda n: loop.run_until_complete(many(n))

    return runner(traced), runner(body), runner(passthrough)


def report(
    title: str, result: tuple[float, float, float], target: float | None, aim: float | None
) -> bool:
    """Print one comparison; ``target`` None: for information, no verdict."""
    ours_s, base_s, ratio = result
    line = f"{title}: ours {ours_s * 1e6:.2f} us, baseline {base_s * 1e6:.2f} us -> {ratio:.3f}x"
    if target is not None:
        aim_text = f", aim {aim:.2f}x" if aim else ""
        verdict = "PASS" if ratio <= target else "MISS"
        line += f" (target <= {target:.2f}x{aim_text}) {verdict}"
    print(line)
    return target is None or ratio <= target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--spans", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        telemetry, provider = our_reporter(data_dir), plain_provider()
        result = compare(*span_runs(telemetry, provider, False), args.spans, args.rounds)
        ok = report("enabled span, pipeline vs plain SDK", result, 1.5, 1.25)
        result = compare(*span_runs(telemetry, provider, True), args.spans, args.rounds)
        report("  (for information) the same, no value ever repeats", result, None, None)
        telemetry.shutdown(5)
        provider.shutdown()
        traced, bare, passthrough = disabled_traced(data_dir)
        result = compare(traced, bare, args.spans, args.rounds)
        ok &= report("disabled traced coroutine vs bare", result, 1.10, None)
        result = compare(passthrough, bare, args.spans, args.rounds)
        report("  (for information) a do-nothing decorator vs bare", result, None, None)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
