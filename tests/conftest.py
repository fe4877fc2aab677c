"""Shared fixtures. Real backends (rotel, bugsink, OTLP receivers) live in tests/_backends.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["otel_discord.testing"]


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads the developer's real data dir or their OTEL_* settings."""
    import os

    for var in list(os.environ):
        if var.startswith(("OTEL_", "SENTRY_")) or var == "DO_NOT_TRACK":
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OTEL_DISCORD_DATA_DIR", str(tmp_path / "otel-discord-data"))
    yield
