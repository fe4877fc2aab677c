"""Loop and command errors arrive in a real Sentry-protocol server (bugsink) as issues with the
right type, message, frames, tags, release, environment, user and trace id, and scrubbed.

The discord hooks are not wired into ``Telemetry`` yet: these tests make the same span shapes
they make (``loop <name>`` / ``command <name>`` spans with the ``discord.*`` attributes and the
exception recorded on the span) with ``telemetry.span``.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from otel_discord import Telemetry
from otel_discord._attributes import (
    DISCORD_COG,
    DISCORD_COMMAND,
    DISCORD_KIND,
    DISCORD_LOOP,
    VERSION_DISCORD_PY,
    VERSION_OTEL_DISCORD,
    VERSION_PYTHON,
)
from otel_discord._version import __version__
from otel_discord.consent import MemoryConsentStore
from tests._bugsink import Bugsink

# Synthetic secrets with the real shapes.
BOT_TOKEN = "MTE4NDI3MzQ1Njc4OTAxMjM0NQ.GxYzAb.c2VjcmV0LXRva2VuLXZhbHVlLWZvci10ZXN0cw"
INVITE = "https://discord.gg/h4Xk9QzT"
IP = "203.0.113.77"
SNOWFLAKE = "1184273456789012345"
USER_DIR = "alice-private-home"

# A cog package on disk, under a directory that names its user: its frames must come back
# in-app, with the package-relative path only.
COG_SOURCE = f"""
def refresh(guild_id):
    return _fetch(guild_id)


def _fetch(guild_id):
    raise ConnectionError("cannot reach {IP} for " + str(guild_id) + " via {INVITE}")


def invoke(token):
    try:
        refresh({SNOWFLAKE})
    except ConnectionError as exc:
        raise RuntimeError("command failed with token " + token) from exc
"""


@pytest.fixture
def cog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    root = tmp_path / "home" / USER_DIR / "cogs"
    package = root / "sentrycog"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "core.py").write_text(COG_SOURCE)
    monkeypatch.syspath_prepend(str(root))
    module = importlib.import_module("sentrycog.core")
    yield module
    for name in ("sentrycog.core", "sentrycog"):
        sys.modules.pop(name, None)


def make_telemetry(dsn: str, **config: Any) -> Telemetry:
    return Telemetry(
        "sentrycog",
        version="2.3.4",
        config={
            "exporters": ["sentry"],
            "sentry_dsn": dsn,
            "sentry_environment": "ci",
            "sentry_traces": False,  # bugsink stores errors only
            "enabled": True,
            "schedule_delay": 0.05,
            **config,
        },
        consent=MemoryConsentStore(),
        token=BOT_TOKEN,
    )


def event_with_trace(bugsink: Bugsink, project: str, trace_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        for event in bugsink.events(project):
            if event.get("contexts", {}).get("trace", {}).get("trace_id") == trace_id:
                return event
        if time.monotonic() > deadline:
            raise AssertionError(f"no event with trace {trace_id} in project {project}")
        time.sleep(0.1)


def loop_error(telemetry: Telemetry, cog: Any) -> str:
    """A failing loop iteration, shaped as the loop hook shapes it; returns its trace id."""
    attributes = {DISCORD_KIND: "loop", DISCORD_LOOP: "refresh", DISCORD_COG: "SentryCog"}
    with pytest.raises(ConnectionError), telemetry.span("loop refresh", attributes) as span:
        cog.refresh(int(SNOWFLAKE))
    assert telemetry.force_flush(5)
    return f"{span.get_span_context().trace_id:032x}"


def command_error(telemetry: Telemetry, cog: Any) -> str:
    attributes = {DISCORD_KIND: "prefix", DISCORD_COMMAND: "sync now", DISCORD_COG: "SentryCog"}
    with pytest.raises(RuntimeError), telemetry.span("command sync now", attributes) as span:
        cog.invoke(BOT_TOKEN)
    assert telemetry.force_flush(5)
    return f"{span.get_span_context().trace_id:032x}"


def test_loop_error_becomes_an_issue_with_type_message_and_in_app_frames(
    bugsink: Bugsink, cog: Any
) -> None:
    telemetry = make_telemetry(bugsink.dsn("A"))
    trace_id = loop_error(telemetry, cog)
    event = event_with_trace(bugsink, "A", trace_id)
    telemetry.shutdown(5)

    (exc,) = event["exception"]["values"]
    assert exc["type"] == "ConnectionError"
    assert exc["value"].startswith("cannot reach IP-ADDRESS for ")
    frames = exc["stacktrace"]["frames"]
    assert [f["function"] for f in frames[-2:]] == ["refresh", "_fetch"]
    ours = [f for f in frames if f.get("module") == "sentrycog.core"]
    assert len(ours) == 2
    assert all(f["in_app"] and f["filename"] == "sentrycog/core.py" for f in ours)
    assert ours[-1]["lineno"] == 7
    assert ours[-1]["context_line"].startswith('raise ConnectionError("cannot reach IP-ADDRESS')
    library = [f for f in frames if f.get("module", "").startswith("otel_discord")]
    assert library and not any(f["in_app"] for f in library)
    issue_types = {i["calculated_type"] for i in bugsink.issues("A")}
    assert "ConnectionError" in issue_types


def test_loop_error_carries_tags_release_environment_user_and_trace(
    bugsink: Bugsink, cog: Any
) -> None:
    telemetry = make_telemetry(bugsink.dsn("A"))
    trace_id = loop_error(telemetry, cog)
    event = event_with_trace(bugsink, "A", trace_id)
    telemetry.shutdown(5)

    tags = event["tags"]
    assert tags[DISCORD_COG] == "SentryCog"
    assert tags[DISCORD_LOOP] == "refresh"
    assert tags[DISCORD_KIND] == "loop"
    assert tags[VERSION_OTEL_DISCORD] == __version__
    assert tags[VERSION_DISCORD_PY] == "2.7.1"
    assert tags[VERSION_PYTHON] == "{}.{}.{}".format(*sys.version_info[:3])
    assert event["release"] == "sentrycog@2.3.4"
    assert event["environment"] == "ci"
    assert event["user"] == {"id": telemetry.install_id}
    assert event["contexts"]["trace"]["trace_id"] == trace_id
    assert event["contexts"]["trace"]["op"] == "loop"


def test_command_error_keeps_its_cause_chain_and_command_tags(bugsink: Bugsink, cog: Any) -> None:
    telemetry = make_telemetry(bugsink.dsn("A"), sentry_release="custom-release-7")
    trace_id = command_error(telemetry, cog)
    event = event_with_trace(bugsink, "A", trace_id)
    telemetry.shutdown(5)

    cause, final = event["exception"]["values"]
    assert cause["type"] == "ConnectionError"
    assert final["type"] == "RuntimeError"
    assert final["value"] == "command failed with token BOT-TOKEN"
    assert final["stacktrace"]["frames"][-1]["function"] == "invoke"
    assert final["mechanism"] == {"type": "otel_discord", "handled": True}
    assert event["tags"][DISCORD_COMMAND] == "sync now"
    assert event["tags"][DISCORD_KIND] == "prefix"
    assert event["transaction"] == "command sync now"
    assert event["release"] == "custom-release-7"
    assert event["user"] == {"id": telemetry.install_id}


def test_no_secret_of_the_error_reaches_bugsink(bugsink: Bugsink, cog: Any, tmp_path: Path) -> None:
    telemetry = make_telemetry(bugsink.dsn("A"))
    marker = uuid.uuid4().hex
    attributes = {
        DISCORD_KIND: "prefix",
        DISCORD_COMMAND: "leak",
        "request.url": f"http://{IP}/callback?{marker}",
        "discord.guild.id": int(SNOWFLAKE),
    }
    with pytest.raises(RuntimeError), telemetry.span("command leak", attributes) as span:
        span.add_event(
            "breadcrumb",
            {
                "otel_discord.breadcrumb.level": "warning",
                "otel_discord.breadcrumb.logger": "sentrycog",
                "otel_discord.breadcrumb.message": f"joined {INVITE} from {IP}",
            },
        )
        cog.invoke(BOT_TOKEN)
    assert telemetry.force_flush(5)
    trace_id = f"{span.get_span_context().trace_id:032x}"
    event = event_with_trace(bugsink, "A", trace_id)
    telemetry.shutdown(5)

    stored = json.dumps(event)
    secrets = (BOT_TOKEN, INVITE, "discord.gg/h4Xk9QzT", IP, SNOWFLAKE, USER_DIR, str(tmp_path))
    for secret in secrets:
        assert secret not in stored, secret
    crumbs = event["breadcrumbs"]["values"]
    assert len(crumbs) == 1
    assert crumbs[0]["message"].startswith("joined ") and "IP-ADDRESS" in crumbs[0]["message"]
    assert crumbs[0]["level"] == "warning"
