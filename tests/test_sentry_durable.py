"""Durable delivery on the Sentry exporter: an error reported while bugsink is down waits in the
data dir's queue and reaches bugsink exactly once when it is back, through a new reporter on the
same data dir (a bot restart)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from otel_discord import Telemetry
from otel_discord.consent import MemoryConsentStore
from tests._bugsink import Bugsink


def make_telemetry(bugsink: Bugsink, data_dir: Path, **config: Any) -> Telemetry:
    return Telemetry(
        "durablecog",
        version="1.0.0",
        config={
            "exporters": ["sentry"],
            "sentry_dsn": bugsink.dsn("B"),
            "sentry_traces": False,
            "enabled": True,
            "schedule_delay": 0.05,
            "otlp_timeout": 1.0,
            "queue_retry_interval": 0.2,
            "data_dir": str(data_dir),
            **config,
        },
        consent=MemoryConsentStore(),
        notify_owners=False,
    )


def marked(bugsink: Bugsink, marker: str) -> list[dict[str, Any]]:
    out = []
    for event in bugsink.events("B"):
        values = " ".join(v.get("value", "") for v in event["exception"]["values"])
        if marker in values:
            out.append(event)
    return out


def queued(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "queue").rglob("*.otq"))


def test_an_error_reported_while_bugsink_is_down_arrives_once_after_a_restart(
    bugsink: Bugsink, tmp_path: Path
) -> None:
    marker = uuid.uuid4().hex
    bugsink.stop()
    try:
        first = make_telemetry(bugsink, tmp_path)
        with pytest.raises(RuntimeError), first.span("loop refresh", {"discord.kind": "loop"}):
            raise RuntimeError(f"{marker} while the server was down")
        first.force_flush(5)
        assert first.shutdown(3)
        assert len(queued(tmp_path)) == 1  # the error report, not the session updates
    finally:
        bugsink.start_again()

    second = make_telemetry(bugsink, tmp_path)  # the bot restarted: same data dir
    try:
        deadline = time.monotonic() + 15
        while not marked(bugsink, marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # let a second delivery, if any, land too
        (event,) = marked(bugsink, marker)
        assert event["release"] == "durablecog@1.0.0"
        assert event["exception"]["values"][-1]["type"] == "RuntimeError"
        assert queued(tmp_path) == []
    finally:
        second.shutdown(3)
