"""Loop and command errors of a real discord.py bot (driven by dpytest, through the real hooks)
arrive in a real Sentry-protocol server (bugsink) as issues with the right type, message, frames,
tags, release, environment, user and trace id, and scrubbed."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import discord.ext.test as dpytest
import pytest
from discord.ext import commands

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
from otel_discord.scrubbing import Scrubber, default_rules
from tests._bugsink import Bugsink, stored_text
from tests._discord import start_bot, stop_bot
from tests.scrub_corpus import CASES, IDENTITY, OWN_TOKEN

# Synthetic secrets with the real shapes.
BOT_TOKEN = "MTE4NDI3MzQ1Njc4OTAxMjM0NQ.GxYzAb.c2VjcmV0LXRva2VuLXZhbHVlLWZvci10ZXN0cw"
INVITE = "https://discord.gg/h4Xk9QzT"
IP = "203.0.113.77"
SNOWFLAKE = "1184273456789012345"
USER_DIR = "alice-private-home"

# A cog package on disk, under a directory that names its user: its frames must come back
# in-app, with the package-relative path only.
COG_SOURCE = f"""
import logging

from discord.ext import commands

log = logging.getLogger(__name__)
TOKEN = ""


def refresh(guild_id):
    return _fetch(guild_id)


def _fetch(guild_id):
    raise LookupError("cannot reach {IP} for " + str(guild_id) + " via {INVITE}")


def make_cog(telemetry):
    class SentryCog(commands.Cog):
        @telemetry.loop(seconds=0, count=1)
        async def refresh_guilds(self):
            refresh({SNOWFLAKE})

        @commands.command(name="sync")
        async def sync(self, ctx):
            log.warning("syncing {INVITE} from {IP}")
            try:
                refresh({SNOWFLAKE})
            except LookupError as exc:
                raise RuntimeError("command failed with token " + TOKEN) from exc

    return SentryCog()
"""


@pytest.fixture
def cog_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    root = tmp_path / "home" / USER_DIR / "cogs"
    package = root / "sentrycog"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "core.py").write_text(COG_SOURCE)
    monkeypatch.syspath_prepend(str(root))
    module = importlib.import_module("sentrycog.core")
    module.TOKEN = BOT_TOKEN
    yield module
    for name in ("sentrycog.core", "sentrycog"):
        sys.modules.pop(name, None)


@pytest.fixture
async def bot() -> AsyncIterator[commands.Bot]:
    bot = await start_bot()
    yield bot
    await stop_bot(bot)


def exported_span(telemetry: Telemetry, name: str) -> tuple[str, str]:
    """Trace and span id of the span ``name`` as the file exporter wrote it (OTLP/JSON)."""
    path = telemetry.config.resolved_data_dir() / "spans" / "sentrycog.jsonl"
    for line in path.read_text().splitlines():
        for rs in json.loads(line)["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for span in ss["spans"]:
                    if span["name"] == name:
                        return span["traceId"], span["spanId"]
    raise AssertionError(f"span {name!r} not exported")


def make_telemetry(dsn: str, **config: Any) -> Telemetry:
    return Telemetry(
        "sentrycog",
        version="2.3.4",
        config={
            "exporters": ["sentry", "file"],  # the file shows which trace each span was in
            "sentry_dsn": dsn,
            "sentry_environment": "ci",
            "sentry_traces": False,  # bugsink stores errors only
            "enabled": True,
            "schedule_delay": 0.05,
            "queue_max_bytes": 0,
            **config,
        },
        consent=MemoryConsentStore(),
        token=BOT_TOKEN,
        notify_owners=False,
    )


def event_of(bugsink: Bugsink, project: str, telemetry: Telemetry) -> dict[str, Any]:
    """The event ``telemetry`` (user id = its install id) sent to ``project`` (polls 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        found = [
            e
            for e in bugsink.events(project)
            if e.get("user", {}).get("id") == telemetry.install_id
        ]
        if found:
            return max(found, key=lambda e: str(e.get("timestamp")))
        if time.monotonic() > deadline:
            raise AssertionError(f"no event of {telemetry.install_id} in project {project}")
        time.sleep(0.1)


async def loop_error(
    bugsink: Bugsink, bot: commands.Bot, module: Any
) -> tuple[Telemetry, dict[str, Any]]:
    telemetry = make_telemetry(bugsink.dsn("A"))
    cog = module.make_cog(telemetry)
    await bot.add_cog(telemetry.instrument_cog(cog, bot=bot))
    cog.refresh_guilds.start()
    task = cog.refresh_guilds.get_task()
    assert task is not None
    with pytest.raises(LookupError):  # not an OSError: tasks.Loop would retry those
        await asyncio.wait_for(task, 5)  # discord.py re-raises into the loop's task
    assert await asyncio.to_thread(telemetry.force_flush, 5)
    event = await asyncio.to_thread(event_of, bugsink, "A", telemetry)
    return telemetry, event


async def command_error(
    bugsink: Bugsink, bot: commands.Bot, module: Any, **config: Any
) -> tuple[Telemetry, dict[str, Any]]:
    telemetry = make_telemetry(bugsink.dsn("A"), **config)
    await bot.add_cog(telemetry.instrument_cog(module.make_cog(telemetry), bot=bot))
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message("!sync")
    assert await asyncio.to_thread(telemetry.force_flush, 5)
    event = await asyncio.to_thread(event_of, bugsink, "A", telemetry)
    return telemetry, event


async def test_loop_error_becomes_an_issue_with_type_message_and_in_app_frames(
    bugsink: Bugsink, bot: commands.Bot, cog_module: Any
) -> None:
    telemetry, event = await loop_error(bugsink, bot, cog_module)
    telemetry.shutdown(5)

    (exc,) = event["exception"]["values"]
    assert exc["type"] == "LookupError"
    assert exc["value"].startswith("cannot reach IP-ADDRESS for ")
    frames = exc["stacktrace"]["frames"]
    assert [f["function"] for f in frames[-3:]] == ["refresh_guilds", "refresh", "_fetch"]
    ours = [f for f in frames if f.get("module") == "sentrycog.core"]
    assert len(ours) == 3
    assert all(f["in_app"] and f["filename"] == "sentrycog/core.py" for f in ours)
    assert ours[-1]["lineno"] == 15
    assert ours[-1]["context_line"].startswith('raise LookupError("cannot reach IP-ADDRESS')
    library = [f for f in frames if f.get("module", "").startswith(("otel_discord", "discord"))]
    assert library and not any(f["in_app"] for f in library)
    issue_types = {i["calculated_type"] for i in bugsink.issues("A")}
    assert "LookupError" in issue_types


async def test_loop_error_carries_tags_release_environment_user_and_trace(
    bugsink: Bugsink, bot: commands.Bot, cog_module: Any
) -> None:
    telemetry, event = await loop_error(bugsink, bot, cog_module)
    telemetry.shutdown(5)

    tags = event["tags"]
    assert tags[DISCORD_COG] == "SentryCog"
    assert tags[DISCORD_LOOP] == "refresh_guilds"
    assert tags[DISCORD_KIND] == "loop"
    assert tags[VERSION_OTEL_DISCORD] == __version__
    assert tags[VERSION_DISCORD_PY] == "2.7.1"
    assert tags[VERSION_PYTHON] == "{}.{}.{}".format(*sys.version_info[:3])
    assert tags["otel_discord.error.code"]
    assert event["release"] == "sentrycog@2.3.4"
    assert event["environment"] == "ci"
    assert event["user"] == {"id": telemetry.install_id}
    trace = event["contexts"]["trace"]
    assert (trace["trace_id"], trace["span_id"]) == exported_span(telemetry, "loop refresh_guilds")
    assert trace["op"] == "loop"
    assert event["transaction"] == "loop refresh_guilds"


async def test_command_error_keeps_its_cause_chain_and_command_tags(
    bugsink: Bugsink, bot: commands.Bot, cog_module: Any
) -> None:
    telemetry, event = await command_error(
        bugsink, bot, cog_module, sentry_release="custom-release-7"
    )
    telemetry.shutdown(5)

    cause, final = event["exception"]["values"]
    assert cause["type"] == "LookupError"
    assert final["type"] == "RuntimeError"
    assert final["value"] == "command failed with token BOT-TOKEN"
    assert final["stacktrace"]["frames"][-1]["function"] == "sync"
    assert final["mechanism"] == {"type": "otel_discord", "handled": True}
    assert event["tags"][DISCORD_COMMAND] == "sync"
    assert event["tags"][DISCORD_COG] == "SentryCog"
    assert event["tags"][DISCORD_KIND] == "prefix"
    assert event["release"] == "custom-release-7"
    assert event["user"] == {"id": telemetry.install_id}


async def test_no_secret_of_the_error_reaches_bugsink(
    bugsink: Bugsink, bot: commands.Bot, cog_module: Any, tmp_path: Path
) -> None:
    telemetry, event = await command_error(bugsink, bot, cog_module)
    telemetry.shutdown(5)

    stored = stored_text(event)
    secrets = (BOT_TOKEN, INVITE, "discord.gg/h4Xk9QzT", IP, SNOWFLAKE, USER_DIR, str(tmp_path))
    for secret in secrets:
        assert secret not in stored, secret
    crumbs = [c for c in event["breadcrumbs"]["values"] if c["message"].startswith("syncing")]
    assert len(crumbs) == 1
    assert "IP-ADDRESS" in crumbs[0]["message"]
    assert crumbs[0]["level"] == "warning"


def corpus_scrubber() -> Scrubber:
    """The reporter's default rules, told the corpus's own token and local identity."""
    if "local_identity" in inspect.signature(default_rules).parameters:
        return Scrubber(default_rules(token=OWN_TOKEN, local_identity=IDENTITY))
    return Scrubber(default_rules(token=OWN_TOKEN))


def test_every_corpus_secret_is_gone_from_the_stored_event(bugsink: Bugsink) -> None:
    """Each corpus text travels in the exception message, a span attribute and a breadcrumb."""
    scrubber = corpus_scrubber()
    cases = [c for c in CASES if not c.needs_config or scrubber.scrub_text(c.text) != c.text]
    telemetry = Telemetry(
        "corpuscog",
        version="1.0.0",
        config={
            "exporters": ["sentry"],
            "sentry_dsn": bugsink.dsn("A"),
            "sentry_traces": False,
            "enabled": True,
            "schedule_delay": 0.05,
            "queue_max_bytes": 0,
        },
        consent=MemoryConsentStore(),
        scrubber=scrubber,
        notify_owners=False,
    )
    attributes = {f"case.{c.id}": c.text for c in cases}
    with pytest.raises(RuntimeError), telemetry.span("command corpus", attributes) as span:
        for case in cases:
            span.add_event(
                "breadcrumb",
                {
                    "otel_discord.breadcrumb.level": "info",
                    "otel_discord.breadcrumb.logger": "corpuscog",
                    "otel_discord.breadcrumb.message": case.text,
                },
            )
        raise RuntimeError("\n".join(c.text for c in cases))
    assert telemetry.force_flush(5)
    event = event_of(bugsink, "A", telemetry)
    telemetry.shutdown(5)

    stored = stored_text(event)
    assert len(event["breadcrumbs"]["values"]) == len(cases)
    assert len(event["contexts"]["otel"]["attributes"]) >= len(cases)
    leaked = [(c.id, v) for c in cases for v in c.vanish if v in stored]
    assert leaked == []
