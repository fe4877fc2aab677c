"""Cost of a span on the bot's thread, side by side in one run, as ratios to a plain Python call:
``telemetry.span`` without consent (the default), with consent and an exporter (the file exporter:
export runs in a background thread, so the cost measured is the call plus scrubbing), with
attributes that the scrubber must rewrite, and ``@telemetry.traced`` on a plain function.

Run: .venv/bin/python benchmarks/bench_spans.py
"""

from __future__ import annotations

import tempfile
import timeit

from otel_discord import Telemetry


def main() -> None:
    data_dir = tempfile.mkdtemp(prefix="otel-discord-bench-")
    common = {"exporters": ["file"], "data_dir": data_dir, "max_queue_size": 100_000}
    off = Telemetry("bench-off", config=common)
    on = Telemetry("bench-on", config={**common, "enabled": True})

    def plain() -> None:
        return None

    @on.traced("traced")
    def traced() -> None:
        return None

    def span_off() -> None:
        with off.span("work", {"guilds": 3}):
            pass

    def span_on() -> None:
        with on.span("work", {"guilds": 3}):
            pass

    def span_on_scrubbed() -> None:
        with on.span(
            "work", {"note": "from 203.0.113.7 via discord.gg/abc", "channel": 877633890372550677}
        ):
            pass

    cases = [
        ("plain function call", plain),
        ("span, no consent", span_off),
        ("span, consent", span_on),
        ("span, consent, scrubbed attributes", span_on_scrubbed),
        ("@traced function, consent", traced),
    ]
    number = 5_000
    results = []
    for label, fn in cases:
        best = min(timeit.repeat(fn, number=number, repeat=5)) / number
        results.append((label, best))
    base = results[0][1]
    for label, seconds in results:
        print(f"{label:<40} {seconds * 1e6:8.2f} us/call {seconds / base:9.1f}x plain")
    off.shutdown(2)
    on.shutdown(5)


if __name__ == "__main__":
    main()
