"""``docs/what-is-sent.md`` lists every key the package can emit, and no key it cannot.

Every emitting path runs against a real receiver (the demo scenario; prefix, hybrid, slash and
listener errors with breadcrumbs and suppressed duplicates; command spans; loop iterations with
``keep_running``; product events with metadata and private metadata, ``started`` and
``still_running``; a sharded bot with a cluster; a Red bot; the Sentry exporter's envelopes).
Every key that arrived must be in the first column of a table of the page section for its kind:
a key only mentioned in prose does not count. In reverse, every key in those tables must have
arrived in some scenario or be declared in ``otel_discord/_attributes.py``."""

from __future__ import annotations

import asyncio
import logging
import re
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import discord
import discord.ext.test as dpytest
import pytest
from discord import app_commands
from discord.ext import commands

from otel_discord import Telemetry
from otel_discord import _attributes as A
from otel_discord._cli._demo import run_scenario
from otel_discord.consent import MemoryConsentStore
from tests._backends import GrpcReceiver, HttpReceiver
from tests._bugsink import envelope_items
from tests._discord import slash_interaction, start_bot, stop_bot, telemetry_for
from tests._red import (  # noqa: F401 - Red's fixtures, for the Red scenario
    config_fr,
    driver,
    example_settings,
    fresh_red_caches,
    load_example,
    override_data_path,
    red,
    replies,
    start_red,
    stop_red,
)

PAGE = Path(__file__).resolve().parent.parent / "docs" / "what-is-sent.md"
log = logging.getLogger(__name__)

#: Each kind of key and the page section (heading) whose tables must list it.
RESOURCE = "Resource: on every span and event"
EVENT_ATTRIBUTES = "Event attributes"
SECTIONS: dict[str, tuple[str, ...]] = {
    "resource": (RESOURCE,),
    "span name": ("Spans",),
    "span attribute": ("Span attributes",),
    "span event": ("Span events",),
    "span event attribute": ("Span event attributes",),
    "link attribute": ("Span links",),
    "event name": ("Product events (OpenTelemetry log records)",),
    "event attribute": (EVENT_ATTRIBUTES,),
    "sentry event field": ("Sentry error events",),
    "sentry tag": ("Sentry tags",),
    "sentry context": ("Sentry contexts",),
    # A Sentry log item carries the event's and the resource's attributes and a few of its own.
    "sentry log attribute": ("Sentry logs", RESOURCE, EVENT_ATTRIBUTES),
    "sentry session field": ("Sentry sessions",),
}

#: Names the scenarios' own code gives (the cog author's spans, attributes and events): the page
#: describes them as "the cog author's own", not one by one.
AUTHOR_SPANS = {"fetch-forecast", "download-tiles", "nightly-backup"}
AUTHOR_ATTRIBUTES = {"forecast.days", "tiles", "files"}
AUTHOR_EVENTS = {"forecast.shown", "backup.restore", "search.run"}

#: What every scenario produced, by kind: the reverse check reads it once all have run.
EMITTED: dict[str, set[str]] = defaultdict(set)
SCENARIOS_RUN: set[str] = set()
ALL_SCENARIOS = {
    "demo",
    "prefix",
    "hybrid",
    "slash",
    "listener",
    "suppressed",
    "command_spans",
    "loops",
    "events",
    "sharded",
    "red",
    "sentry",
}


# --- the page ------------------------------------------------------------------------------


def page_tables(text: str) -> dict[str, set[str]]:
    """The backticked names in the first column of every table row, by section heading."""
    out: dict[str, set[str]] = defaultdict(set)
    heading = ""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
            continue
        if not line.startswith("|"):
            continue
        if re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", line.strip()):
            continue
        below = lines[i + 1] if i + 1 < len(lines) else ""
        if re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", below.strip()):
            continue  # a header row
        first = line.strip().strip("|").split("|", 1)[0]
        out[heading] |= set(re.findall(r"`([^`\n]+)`", first))
    return dict(out)


def matches(key: str, name: str) -> bool:
    """``name`` lists ``key``: equal, or a placeholder (``prefix<...>``) whose literal prefix
    starts the key. A name made only of placeholders (``<feature>.<action>``) would match every
    key, so it matches none."""
    if "<" not in name:
        return key == name
    prefix = name.split("<", 1)[0]
    return bool(prefix) and key.startswith(prefix) and len(key) > len(prefix)


def unlisted(kind: str, keys: Iterable[str], text: str | None = None) -> list[str]:
    tables = page_tables(PAGE.read_text(encoding="utf-8") if text is None else text)
    names = set().union(*(tables.get(heading, set()) for heading in SECTIONS[kind]))
    return sorted(k for k in set(keys) if not any(matches(k, n) for n in names))


# --- what a receiver got -------------------------------------------------------------------


def collect_otlp(receiver: GrpcReceiver | HttpReceiver) -> dict[str, set[str]]:
    """Every key of every span and event record ``receiver`` got, by kind."""
    got: dict[str, set[str]] = defaultdict(set)
    for span in receiver.received.spans():
        got["resource"] |= set(span["resource"])
        if span["name"] not in AUTHOR_SPANS:
            got["span name"].add(span["name"])
            got["span attribute"] |= set(span["attributes"]) - AUTHOR_ATTRIBUTES
        for event in span["events"]:
            got["span event"].add(event["name"])
            got["span event attribute"] |= set(event["attributes"])
        for link in span["links"]:
            got["link attribute"] |= set(link["attributes"])
    for record in receiver.received.logs():
        got["resource"] |= set(record["resource"])
        if record["event_name"] not in AUTHOR_EVENTS:
            got["event name"].add(record["event_name"])
        got["event attribute"] |= set(record["attributes"])
    return dict(got)


def check(scenario: str, got: dict[str, set[str]], *required: str) -> None:
    """Record what ``scenario`` produced and assert every key of it is listed."""
    for kind in required:
        assert got.get(kind), f"{scenario}: no {kind} arrived"
    SCENARIOS_RUN.add(scenario)
    for kind, keys in got.items():
        EMITTED[kind] |= keys
    missing = {kind: unlisted(kind, keys) for kind, keys in got.items()}
    missing = {kind: keys for kind, keys in missing.items() if keys}
    assert not missing, f"{scenario}: keys the page's tables do not list: {missing}"


# --- scenarios -----------------------------------------------------------------------------


class Tools(commands.Cog):
    """Every kind of command and listener a cog has, each failing on request."""

    @commands.command()
    async def boom(self, ctx: commands.Context[Any]) -> None:
        log.warning("about to divide near 192.0.2.7")
        raise ZeroDivisionError("division failed near 192.0.2.7")

    @commands.command()
    async def add(self, ctx: commands.Context[Any], a: int, b: int) -> None:
        await ctx.send(f"{a + b}")

    @commands.hybrid_command()
    async def hboom(self, ctx: commands.Context[Any]) -> None:
        raise LookupError("hybrid failed")

    @app_commands.command()
    async def sboom(self, interaction: discord.Interaction[Any]) -> None:
        raise KeyError("slash failed")

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.content == "crash":
            raise OSError("listener failed")


@pytest.fixture
async def bot() -> AsyncIterator[commands.Bot]:
    bot = await start_bot()
    yield bot
    await stop_bot(bot)


async def tools_reporting_to(receiver: GrpcReceiver, bot: commands.Bot, **config: Any) -> Telemetry:
    telemetry = telemetry_for(receiver, **config)
    await bot.add_cog(telemetry.instrument_cog(Tools(), bot=bot))
    return telemetry


def arrived(receiver: GrpcReceiver, telemetry: Telemetry, *names: str) -> dict[str, set[str]]:
    assert telemetry.force_flush(5)
    receiver.received.wait_for_names(*names)
    telemetry.shutdown(2)
    return collect_otlp(receiver)


async def test_demo_scenario_keys_are_listed(grpc_receiver: GrpcReceiver, tmp_path: Path) -> None:
    telemetry = telemetry_for(
        grpc_receiver, name="what-is-sent", command_spans=True, data_dir=str(tmp_path)
    )
    telemetry.enable("usage")
    await run_scenario(telemetry, iterations=3, say=lambda line: None)
    assert telemetry.force_flush(5)
    grpc_receiver.received.wait_for_logs(
        lambda r: "otel_discord.started" in {x["event_name"] for x in r}
    )
    telemetry.shutdown(5)
    got = collect_otlp(grpc_receiver)
    check("demo", got, "resource", "span name", "span attribute", "span event", "event name")


async def test_prefix_command_error_with_breadcrumbs_keys_are_listed(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = await tools_reporting_to(grpc_receiver, bot)
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message("!boom")
    got = arrived(grpc_receiver, telemetry, "error ZeroDivisionError")
    assert "breadcrumb" in got["span event"]
    assert A.SCRUBBED in got["span attribute"]
    check("prefix", got, "span attribute", "span event attribute")


async def test_hybrid_command_error_keys_are_listed(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = await tools_reporting_to(grpc_receiver, bot)
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message("!hboom")
    await bot.tree._call(slash_interaction(bot, "hboom"))  # the same command invoked as slash
    await dpytest.run_all_events()
    check("hybrid", arrived(grpc_receiver, telemetry, "error LookupError"), "span attribute")


async def test_slash_command_error_keys_are_listed(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = await tools_reporting_to(grpc_receiver, bot)
    await bot.tree._call(slash_interaction(bot, "sboom"))
    got = arrived(grpc_receiver, telemetry, "error KeyError")
    assert A.DISCORD_USER_ID in got["span attribute"]
    check("slash", got, "span attribute")


async def test_listener_error_keys_are_listed(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = await tools_reporting_to(grpc_receiver, bot)
    await dpytest.message("crash")
    await dpytest.run_all_events()
    got = arrived(grpc_receiver, telemetry, "error OSError")
    assert A.DISCORD_LISTENER in got["span attribute"]
    check("listener", got, "span attribute")


async def test_suppressed_duplicate_count_keys_are_listed(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = await tools_reporting_to(grpc_receiver, bot, error_limit=1, error_window=0.2)
    for _ in range(3):
        with pytest.raises(commands.CommandInvokeError):
            await dpytest.message("!boom")
    await asyncio.sleep(0.25)
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message("!boom")
    assert telemetry.force_flush(5)
    grpc_receiver.received.wait_for(lambda s: sum(x["name"].startswith("error") for x in s) >= 2)
    telemetry.shutdown(2)
    got = collect_otlp(grpc_receiver)
    assert A.SUPPRESSED in got["span attribute"]
    check("suppressed", got, "span attribute")


async def test_command_span_keys_are_listed(bot: commands.Bot, grpc_receiver: GrpcReceiver) -> None:
    telemetry = await tools_reporting_to(grpc_receiver, bot, command_spans=True)
    await dpytest.message("!add 2 3")
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message("!hboom")
    got = arrived(grpc_receiver, telemetry, "command add", "command hboom")
    check("command_spans", got, "span name", "span attribute")


async def test_loop_iteration_keys_with_links_and_keep_running_are_listed(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver)

    class Poller(commands.Cog):
        @telemetry.loop(seconds=0, count=3, keep_running=True)
        async def poll(self) -> None:
            if self.poll.current_loop == 0:
                raise ValueError("first poll failed")

    cog = Poller()
    await bot.add_cog(cog)
    cog.poll.start()
    task = cog.poll.get_task()
    assert task is not None
    await asyncio.wait_for(task, 5)
    assert telemetry.force_flush(5)
    spans = grpc_receiver.received.wait_for(lambda s: sum(x["name"] == "loop poll" for x in s) >= 3)
    telemetry.shutdown(2)
    assert any(s["links"] for s in spans), "no iteration was linked to the previous one"
    got = collect_otlp(grpc_receiver)
    assert {A.DISCORD_LOOP_ITERATION, A.DISCORD_LOOP_INTERVAL} <= got["span attribute"]
    check("loops", got, "span name", "span attribute", "span event attribute")


class AllowlistingTelemetry(Telemetry):
    private_metadata_allowlist = frozenset({"locale"})


def test_product_and_built_in_event_keys_are_listed(grpc_receiver: GrpcReceiver) -> None:
    telemetry = AllowlistingTelemetry(
        "events",
        version="2.1.0",
        config={
            "exporters": ["otlp"],
            "otlp_endpoint": grpc_receiver.endpoint,
            "otlp_protocol": "grpc",
            "schedule_delay": 0.05,
        },
    )
    telemetry.enable("errors", "usage")
    telemetry._events.still_running_interval = 0.2  # a day in production
    telemetry.started(cogs=2)
    telemetry.record(
        "search",
        "run",
        metadata={"results": 3, "cached": True},
        # An IP in an allowlisted value: the scrubber fires, the event carries its counts.
        private_metadata={"locale": "en-GB near 198.51.100.4", "query": "dropped"},
    )
    assert telemetry.force_flush(5)
    records = grpc_receiver.received.wait_for_logs(
        lambda r: "otel_discord.still_running" in {x["event_name"] for x in r}
    )
    telemetry.shutdown(2)
    assert "search.run" in {r["event_name"] for r in records}
    got = collect_otlp(grpc_receiver)
    assert A.SCRUBBED in got["event attribute"]
    assert A.STARTED_UPTIME in got["event attribute"]
    check("events", got, "event name", "event attribute")


async def test_sharded_bot_with_a_cluster_resource_keys_are_listed(
    grpc_receiver: GrpcReceiver,
) -> None:
    bot = await start_bot(shard_id=1, shard_count=4)
    telemetry = await tools_reporting_to(grpc_receiver, bot, cluster="east")
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message("!boom")
    got = arrived(grpc_receiver, telemetry, "error ZeroDivisionError")
    await stop_bot(bot)
    assert {A.DISCORD_SHARD_ID, A.DISCORD_SHARD_COUNT, A.DISCORD_CLUSTER} <= got["resource"]
    check("sharded", got, "resource")


@pytest.fixture
async def red_bot(
    red: Any,  # noqa: F811
    grpc_receiver: GrpcReceiver,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> AsyncIterator[Any]:
    monkeypatch.chdir(tmp_path)
    example_settings(monkeypatch, grpc_receiver.endpoint)
    await start_red(red)
    await load_example(red)
    yield red
    await stop_red(red)


async def test_red_cog_keys_are_listed(red_bot: Any, grpc_receiver: GrpcReceiver) -> None:
    await dpytest.message("?telemetry enable red-example")
    assert "red-example: errors on." in replies()  # after the owner's first-load DM, if any
    await dpytest.message("?stations")
    cog = red_bot.get_cog("RedCog")
    cog.refresh.restart()
    await asyncio.to_thread(  # the loop runs on this event loop: do not block it
        grpc_receiver.received.wait_for_names, "error ConnectionError", "loop refresh"
    )
    got = collect_otlp(grpc_receiver)
    assert A.REDBOT_VERSION in got["resource"]
    check("red", got, "resource", "span attribute")


SENTRY_KEY = "0123456789abcdef0123456789abcdef"


def collect_sentry(receiver: HttpReceiver) -> dict[str, set[str]]:
    """The field names of every Sentry error event, session and log item ``receiver`` got."""
    got: dict[str, set[str]] = defaultdict(set)
    for raw in list(receiver.envelopes):
        for header, payload in envelope_items(raw):
            kind = header.get("type")
            if kind == "event":
                got["sentry event field"] |= set(payload)
                got["sentry tag"] |= set(payload.get("tags") or {})
                got["sentry context"] |= set(payload.get("contexts") or {})
            elif kind == "session":
                got["sentry session field"] |= set(payload)
            elif kind == "log":
                for item in payload["items"]:
                    got["sentry log attribute"] |= set(item["attributes"])
    return dict(got)


async def test_sentry_exporter_field_names_are_listed(
    bot: commands.Bot, http_receiver: HttpReceiver
) -> None:
    telemetry = Telemetry(
        "sentrycog",
        version="0.9.1",
        config={
            "exporters": ["sentry"],
            "sentry_dsn": f"http://{SENTRY_KEY}@127.0.0.1:{http_receiver.port}/7",
            "sentry_environment": "staging",
            "enabled": True,
            "schedule_delay": 0.05,
        },
        consent=MemoryConsentStore(),
        notify_owners=False,
    )
    telemetry.enable("errors", "usage")
    await bot.add_cog(telemetry.instrument_cog(Tools(), bot=bot))
    telemetry.started(cogs=1)
    telemetry.record("backup", "restore", metadata={"files": 3})
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message("!boom")  # an error event with breadcrumbs
    with telemetry.span("nightly-backup", {"files": 3}):
        pass
    assert telemetry.force_flush(5)
    http_receiver.received.wait_for_names("error ZeroDivisionError", "nightly-backup")
    assert telemetry.shutdown(5)
    got = collect_sentry(http_receiver)
    otlp = collect_otlp(http_receiver)  # the spans went to the DSN's OTLP endpoint
    assert "breadcrumbs" in got["sentry event field"]
    check(
        "sentry",
        {**otlp, **got},
        "sentry event field",
        "sentry tag",
        "sentry context",
        "sentry log attribute",
        "sentry session field",
    )


# --- the page, in reverse ------------------------------------------------------------------


def declared_in_attributes_module() -> tuple[set[str], set[str]]:
    names = {
        v for n, v in vars(A).items() if n.isupper() and isinstance(v, str) and "_PREFIX" not in n
    }
    prefixes = {v for n, v in vars(A).items() if n.endswith("_PREFIX") and isinstance(v, str)}
    return names, prefixes


def test_every_key_the_page_lists_is_produced_or_declared() -> None:
    missing_scenarios = ALL_SCENARIOS - SCENARIOS_RUN
    if missing_scenarios:
        pytest.skip(f"needs every scenario of this module; not run: {sorted(missing_scenarios)}")
    names, prefixes = declared_in_attributes_module()
    tables = page_tables(PAGE.read_text(encoding="utf-8"))
    stale: list[str] = []
    headings = {
        h for kind, hs in SECTIONS.items() if kind not in ("span name", "event name") for h in hs
    }  # span and event names: templates, checked by the forward tests
    for heading in sorted(headings):
        for name in tables.get(heading, set()):
            if "<" in name:
                prefix = name.split("<", 1)[0]
                produced = any(k.startswith(prefix) for keys in EMITTED.values() for k in keys)
                if prefix in prefixes or produced:
                    continue
            elif name in names or any(name in keys for keys in EMITTED.values()):
                continue
            stale.append(f"{heading}: {name}")
    assert stale == []


def test_every_attribute_name_of_the_attributes_module_is_in_a_table() -> None:
    names, prefixes = declared_in_attributes_module()
    tables = page_tables(PAGE.read_text(encoding="utf-8"))
    listed = set().union(*tables.values())
    assert sorted(n for n in names if not any(matches(n, x) for x in listed)) == []
    assert sorted(p for p in prefixes if not any(matches(p + "x", x) for x in listed)) == []


# --- the check itself ----------------------------------------------------------------------


def test_a_key_mentioned_only_in_prose_does_not_count() -> None:
    text = (
        "# Page\n\nThe key `discord.message.content` is discussed here.\n\n"
        "### Span attributes\n\n| Key | Value |\n|---|---|\n| `discord.loop` | a name |\n"
        "| | `discord.secondary` in the second column |\n"
    )
    keys = {"discord.message.content", "discord.loop", "discord.secondary"}
    assert unlisted("span attribute", keys, text) == [
        "discord.message.content",
        "discord.secondary",
    ]


def test_a_placeholder_matches_by_its_literal_prefix_only() -> None:
    text = (
        "## Event attributes\n\n| Key | Value |\n|---|---|\n"
        "| `otel_discord.event.metadata.<key>` | numbers |\n| `<feature>.<action>` | any |\n"
    )
    keys = {"otel_discord.event.metadata.files", "otel_discord.event.metadata.", "backup.restore"}
    assert unlisted("event attribute", keys, text) == [
        "backup.restore",
        "otel_discord.event.metadata.",
    ]


def test_a_key_in_the_wrong_section_does_not_count() -> None:
    text = "## Resource: on every span and event\n\n| Key |\n|---|\n| `discord.loop` |\n"
    assert unlisted("span attribute", {"discord.loop"}, text) == ["discord.loop"]
