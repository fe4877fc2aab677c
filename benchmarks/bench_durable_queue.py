"""Cost of writing one failed batch to the disk queue (in the exporter's thread, never the bot's),
side by side in one run: an empty queue against one holding 2,000 batches, as ratios.

Run: .venv/bin/python benchmarks/bench_durable_queue.py
"""

from __future__ import annotations

import tempfile
import time

from otel_discord._durable import DurableQueue

PAYLOAD = b"x" * 700  # about one encoded error span


def per_put(queue: DurableQueue, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        queue.put("traces", "errors", PAYLOAD)
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


if __name__ == "__main__":
    main()
