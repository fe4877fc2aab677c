"""Offline demo: a reporter with the console and file exporters makes real spans.

No server and no Discord token are needed. Run: ``bash scripts/demo.sh``.
"""

from __future__ import annotations

import asyncio
import tempfile

from otel_discord import Telemetry


async def main() -> None:
    data_dir = tempfile.mkdtemp(prefix="otel-discord-demo-")
    telemetry = Telemetry(
        "demo-cog",
        version="1.0.0",
        # enabled=True is the operator's opt-in: this demo's "bot" is ours.
        config={"enabled": True, "exporters": ["console", "file"], "data_dir": data_dir},
    )

    @telemetry.traced("update-check")
    async def update_check() -> None:
        await asyncio.sleep(0.01)

    with telemetry.span("startup", {"guilds": 3}):
        await update_check()
    try:
        with telemetry.span("failing-job", {"channel_id": 877633890372550677}):
            raise RuntimeError("webhook failed for 203.0.113.7, see discord.gg/example")
    except RuntimeError:
        pass
    telemetry.shutdown(5.0)
    print(f"\nSpans also written as OTLP/JSON lines to {data_dir}/spans/demo-cog.jsonl")


if __name__ == "__main__":
    asyncio.run(main())
