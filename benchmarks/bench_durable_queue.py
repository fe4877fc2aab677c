"""Cost of writing one failed batch to the disk queue (in the exporter's thread, never the bot's),
side by side in one run: an empty queue against one holding 2,000 batches, as ratios. Then what
the durable wrapper adds to one successful export (each runs in its own thread so that shutdown
can stop waiting for it), against an exporter that does nothing: the cost per batch.

Run: .venv/bin/python benchmarks/bench_durable_queue.py
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_discord._durable import DurableDelivery, DurableQueue

PAYLOAD = b"x" * 700  # about one encoded error span


def per_put(queue: DurableQueue, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        queue.put("traces", "errors", PAYLOAD)
    return (time.perf_counter() - start) / n


class NoopExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def per_export(exporter: SpanExporter, n: int) -> float:
    batch: list[ReadableSpan] = [ReadableSpan(name="x")]
    start = time.perf_counter()
    for _ in range(n):
        exporter.export(batch)
    return (time.perf_counter() - start) / n


def main() -> None:
    empty = DurableQueue(tempfile.mkdtemp(prefix="odq-empty-"), max_bytes=10**9)
    full = DurableQueue(tempfile.mkdtemp(prefix="odq-full-"), max_bytes=10**9)
    per_put(full, 2000)
    results = {
        "put into an empty queue": per_put(empty, 200),
        "put into a queue of 2,000 batches": per_put(full, 200),
    }
    base = results["put into an empty queue"]
    for name, seconds in results.items():
        print(f"{name:36s} {seconds * 1e3:8.3f} ms/put  {seconds / base:6.1f}x")
    delivery = DurableDelivery(
        DurableQueue(tempfile.mkdtemp(prefix="odq-live-")), {}, lambda _category: True
    )
    inner = NoopExporter()
    direct = per_export(inner, 2000)
    wrapped = per_export(delivery.wrap_spans(inner), 2000)
    print(f"{'export, no-op exporter':36s} {direct * 1e6:8.1f} us/batch")
    print(f"{'export through the durable wrapper':36s} {wrapped * 1e6:8.1f} us/batch")


if __name__ == "__main__":
    main()
