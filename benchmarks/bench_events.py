"""Cost of ``telemetry.record()`` on the bot's thread, side by side in one run, as ratios to a
plain Python call: without consent (the default), with ``usage`` on, and with ``private_metadata``
that the allowlist drops. Exporters are the file exporter (the cost measured is the call, not the
export, which runs in a background thread).

Run: .venv/bin/python benchmarks/bench_events.py
"""

from __future__ import annotations

import tempfile
import timeit

from otel_discord import Telemetry


def main() -> None:
    data_dir = tempfile.mkdtemp(prefix="otel-discord-bench-")
    off = Telemetry("bench-off", config={"exporters": ["file"], "data_dir": data_dir})
    on = Telemetry(
        "bench-on",
        config={"exporters": ["file"], "data_dir": data_dir, "max_queue_size": 200_000},
    )
    on.enable("usage")

    def plain(feature: str, action: str, *, metadata: dict[str, int] | None = None) -> None:
        return None

    metadata = {"files": 3, "dry_run": 0}
    private = {"query": "free text that must not leave", "locale": "en"}
    cases = {
        "plain function call": lambda: plain("backup", "restore", metadata=metadata),
        "record(), usage off": lambda: off.record("backup", "restore", metadata=metadata),
        "record(), usage on": lambda: on.record("backup", "restore", metadata=metadata),
        "record(), usage on, private dropped": lambda: on.record(
            "backup", "restore", metadata=metadata, private_metadata=private
        ),
    }
    n = 20_000
    results = {name: min(timeit.repeat(fn, number=n, repeat=3)) / n for name, fn in cases.items()}
    base = results["plain function call"]
    for name, seconds in results.items():
        print(f"{name:40s} {seconds * 1e6:8.2f} us/call  {seconds / base:8.1f}x plain")
    off.shutdown(2)
    on.shutdown(5)


if __name__ == "__main__":
    main()
