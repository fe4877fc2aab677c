"""Opt-in, scrubbed OpenTelemetry telemetry and error reporting for discord.py bots and Red cogs."""

from otel_discord._events import EventError
from otel_discord._version import __version__
from otel_discord.config import TelemetryConfig, TelemetryConfigError, load_config
from otel_discord.consent import (
    ConsentRecord,
    ConsentStore,
    JsonConsentStore,
    MemoryConsentStore,
    kill_switch,
)
from otel_discord.scrubbing import Rule, Scrubber, ScrubMatch
from otel_discord.telemetry import Telemetry

__all__ = [
    "ConsentRecord",
    "ConsentStore",
    "EventError",
    "JsonConsentStore",
    "MemoryConsentStore",
    "Rule",
    "ScrubMatch",
    "Scrubber",
    "Telemetry",
    "TelemetryConfig",
    "TelemetryConfigError",
    "__version__",
    "kill_switch",
    "load_config",
]
