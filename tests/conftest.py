"""Shared fixtures. Real backends (rotel, bugsink, OTLP receivers) live in tests/_backends.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings

if TYPE_CHECKING:
    from tests._backends import CollectorChain, GrpcReceiver, HttpReceiver

pytest_plugins = ["otel_discord.testing", "tests._bugsink"]

# The suite is reproducible: the same examples on every run, so a red run is a finding that can
# be replayed, never a coin toss in CI. `--hypothesis-profile=explore` searches afresh, with more
# examples; a failure it finds belongs in the corpus or in a deterministic test. No per-example
# deadline: a stall of the machine is not a finding (speed is measured in benchmarks/).
settings.register_profile(
    "default", max_examples=120, derandomize=True, database=None, deadline=None
)
settings.register_profile("explore", max_examples=5000, derandomize=False, deadline=None)
settings.load_profile("default")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads the developer's real data dir or their OTEL_* settings."""
    import os

    for var in list(os.environ):
        if var.startswith(("OTEL_", "SENTRY_")) or var == "DO_NOT_TRACK":
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OTEL_DISCORD_DATA_DIR", str(tmp_path / "otel-discord-data"))
    yield


@pytest.fixture
def grpc_receiver() -> Iterator[GrpcReceiver]:
    """An in-process OTLP/gRPC receiver on 127.0.0.1."""
    from tests._backends import GrpcReceiver

    receiver = GrpcReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    """An in-process OTLP/HTTP receiver on 127.0.0.1 (records bytes, headers, paths)."""
    from tests._backends import HttpReceiver

    receiver = HttpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[CollectorChain]:
    """rotel (a real OpenTelemetry collector) forwarding to an in-process gRPC receiver."""
    from tests._backends import rotel_chain

    yield from rotel_chain(tmp_path)
