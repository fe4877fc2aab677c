"""Sentry configuration: the DSN comes from this package's own settings only, bad values get one
clear error, and frame paths never keep the machine's directories."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from otel_discord.config import TelemetryConfigError, load_config
from otel_discord.exporters._sentry_event import parse_traceback

DSN = "https://0123456789abcdef@o1.ingest.example.io/42"


def test_dsn_is_read_from_otel_discord_sentry_dsn() -> None:
    config = load_config(
        environ={"OTEL_DISCORD_SENTRY_DSN": DSN, "OTEL_DISCORD_EXPORTERS": "sentry"}
    )
    assert config.sentry_dsn == DSN
    assert config.sources["sentry_dsn"] == "environment variable OTEL_DISCORD_SENTRY_DSN"


def test_the_host_bots_sentry_dsn_is_never_used() -> None:
    with pytest.raises(TelemetryConfigError) as raised:
        load_config({"exporters": ["sentry"]}, environ={"SENTRY_DSN": DSN})
    assert raised.value.key == "sentry_dsn"
    assert "OTEL_DISCORD_SENTRY_DSN" in str(raised.value)


def test_a_malformed_dsn_is_one_clear_error() -> None:
    with pytest.raises(TelemetryConfigError) as raised:
        load_config({"sentry_dsn": "https://o1.ingest.example.io/42"})  # no public key
    assert raised.value.key == "sentry_dsn"
    assert raised.value.source == "keyword argument"


def test_release_environment_and_in_app_come_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.toml"
    path.write_text(
        "[otel_discord]\n"
        f'sentry_dsn = "{DSN}"\n'
        'sentry_release = "mycog@2024.1"\n'
        'sentry_environment = "beta"\n'
        'sentry_in_app = ["mycog", "mycog_utils"]\n'
        "sentry_traces = false\n"
    )
    config = load_config(config_file=path)
    assert config.sentry_release == "mycog@2024.1"
    assert config.sentry_environment == "beta"
    assert config.sentry_in_app == ("mycog", "mycog_utils")
    assert config.sentry_traces is False


TRACEBACK = """Traceback (most recent call last):
  File "/home/alice/v/lib/python3.11/site-packages/discord/ext/tasks/__init__.py", line 23, in _loop
    await self.coro(*args, **kwargs)
  File "/home/alice/bots/cogs/mycog/core.py", line 12, in refresh
    raise ValueError("bad")
    ^^^^^^^^^^^^^^^^^^^^^^^
  File "/usr/lib/python3.11/asyncio/tasks.py", line 277, in __step
    result = coro.send(None)
  File "/home/alice/scratch/helper.py", line 3, in helper
ValueError: bad
"""


def test_frames_keep_package_relative_paths_and_mark_the_reporters_package_in_app() -> None:
    (value,) = parse_traceback(TRACEBACK, frozenset({"mycog"}))
    frames = value["stacktrace"]["frames"]
    assert [(f["filename"], f.get("module"), f["in_app"]) for f in frames] == [
        ("discord/ext/tasks/__init__.py", "discord.ext.tasks", False),
        ("mycog/core.py", "mycog.core", True),
        ("asyncio/tasks.py", "asyncio.tasks", False),
        ("helper.py", None, False),
    ]
    assert frames[1]["context_line"] == 'raise ValueError("bad")'
    assert "context_line" not in frames[3]
    assert value["type"] == "ValueError" and value["value"] == "bad"
    assert "alice" not in repr(value)


def test_red_version_is_a_tag_only_when_running_on_red() -> None:
    from importlib import metadata

    from opentelemetry.sdk.trace import TracerProvider

    from otel_discord.exporters._sentry_event import error_event

    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("command ping") as span:
        pass
    attributes = {"exception.type": "ValueError", "exception.message": "bad"}
    modules = {k: v for k, v in sys.modules.items() if k == "redbot" or k.startswith("redbot.")}
    for name in modules:
        del sys.modules[name]
    try:
        assert (
            "otel_discord.version.red"
            not in error_event(span, attributes, None, frozenset())["tags"]
        )
        import redbot  # noqa: F401

        tags = error_event(span, attributes, None, frozenset())["tags"]
        assert tags["otel_discord.version.red"] == metadata.version("Red-DiscordBot")
    finally:
        for name in [k for k in sys.modules if k == "redbot" or k.startswith("redbot.")]:
            del sys.modules[name]
        sys.modules.update(modules)
