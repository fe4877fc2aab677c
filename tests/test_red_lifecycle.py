"""Load, unload and reload on a dpytest-driven Red bot, through Red's own loader
(``CoreLogic._load`` / ``_reload``, which ``importlib.reload``s the cog's modules): exactly one
reporter, one shared cog, one set of error chains and one owner notification, whatever the
number of reloads; unloading stops the cog's loops and shuts its reporter down in bounded time."""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import discord.ext.test as dpytest
import pytest

import otel_discord.red
from otel_discord.red import registry
from tests._backends import GrpcReceiver, SilentServer
from tests._discord import direct_messages
from tests._red import (  # noqa: F401 - Red's fixtures, for this module only
    author_cog,
    config_fr,
    driver,
    example_settings,
    fresh_red_caches,
    load_example,
    override_data_path,
    red,
    reload_example,
    settle,
    start_red,
    stop_red,
    unload_example,
)

SLACK = 1.0  # thread start-up and scheduling on a busy 2-core machine


@pytest.fixture
async def bot(
    red: Any,  # noqa: F811
    grpc_receiver: GrpcReceiver,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> AsyncIterator[Any]:
    monkeypatch.chdir(tmp_path)
    example_settings(monkeypatch, grpc_receiver.endpoint)
    await start_red(red)
    yield red
    await stop_red(red)


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def shared_cogs(bot: Any) -> list[Any]:
    return [c for c in bot.cogs.values() if type(c).__name__ == "SharedTelemetryCog"]


def chain_depth(handler: Any) -> int:
    """How many otel-discord wrappers sit in a handler chain."""
    depth = 0
    while "RedRegistry.chain" in getattr(handler, "__qualname__", ""):
        depth += 1
        cells = {c.cell_contents for c in handler.__closure__ or () if callable(c.cell_contents)}
        handler = next((c for c in cells if c is not handler and hasattr(c, "__qualname__")), None)
    return depth


async def test_reload_leaves_exactly_one_reporter(bot: Any) -> None:
    await load_example(bot)
    first = registry(bot).reporters["red-example"]
    await reload_example(bot)
    await reload_example(bot)
    reporters = registry(bot).reporters
    assert list(reporters) == ["red-example"]
    assert reporters["red-example"] is not first and first._closed
    assert bot.get_cog("RedCog").telemetry is reporters["red-example"]


async def test_reload_leaves_exactly_one_shared_cog(bot: Any) -> None:
    await load_example(bot)
    await reload_example(bot)
    await unload_example(bot)
    await load_example(bot)
    assert len(shared_cogs(bot)) == 1
    assert len([c for c in bot.walk_commands() if c.qualified_name == "telemetry"]) == 1


async def test_reload_leaves_exactly_one_error_chain(bot: Any) -> None:
    await load_example(bot)
    await reload_example(bot)
    await reload_example(bot)
    assert chain_depth(bot.on_error) == 1
    assert chain_depth(bot.tree.on_error) == 1


async def test_owner_is_told_once_across_reloads(bot: Any) -> None:
    await load_example(bot)
    await settle_dms(bot, expected=1)
    await reload_example(bot)
    await unload_example(bot)
    await load_example(bot)
    assert await settle_dms(bot, expected=0) == []


async def settle_dms(bot: Any, expected: int) -> list[str]:
    reg = registry(bot)
    for telemetry in reg.reporters.values():
        await telemetry.notifier.wait()
    texts = [m.content for m in direct_messages()]
    assert len(texts) == expected, texts
    return texts


async def test_owner_notification_uses_reds_prefix_and_send_to_owners(bot: Any) -> None:
    sent: list[str] = []
    original = bot.send_to_owners

    async def spy(content: str | None = None, **kwargs: Any) -> None:
        sent.append(str(content))
        await original(content, **kwargs)

    bot.send_to_owners = spy
    await load_example(bot)
    [dm] = await settle_dms(bot, expected=1)
    assert sent == [dm]
    assert "Turn it on: `?telemetry enable red-example`" in dm


async def test_importlib_reload_of_the_package_keeps_the_registry(bot: Any) -> None:
    await load_example(bot)
    await settle_dms(bot, expected=1)
    before = registry(bot)
    reporter = before.reporters["red-example"]
    for module in (
        "otel_discord.red._store",
        "otel_discord.red._cog",
        "otel_discord.red._registry",
    ):
        importlib.reload(importlib.import_module(module))
    importlib.reload(otel_discord.red)
    second = author_cog("red-example", "SecondCog")(bot)
    await bot.add_cog(second)
    assert otel_discord.red.registry(bot) is before
    assert second.telemetry is reporter  # the same provider, not a second one
    assert len(shared_cogs(bot)) == 1
    [reminder] = await settle_dms(bot, expected=1)  # the short one, for the new cog only
    assert reminder.startswith("**SecondCog** also reports through **red-example**")


async def test_second_cog_of_an_author_shares_its_reporter(bot: Any) -> None:
    one = author_cog("alpha", "One")(bot)
    two = author_cog("alpha", "Two")(bot)
    await bot.add_cog(one)
    await bot.add_cog(two)
    await settle(bot)
    assert one.telemetry is two.telemetry
    await bot.remove_cog("One")
    assert not two.telemetry._closed
    await bot.remove_cog("Two")
    assert two.telemetry._closed and registry(bot).reporters == {}


async def test_unload_stops_the_cogs_loops(bot: Any) -> None:
    await load_example(bot)
    cog = bot.get_cog("RedCog")
    assert cog.refresh.is_running()
    await unload_example(bot)
    await asyncio.sleep(0)
    assert not cog.refresh.is_running()


async def test_unload_shuts_the_reporter_down_in_bounded_time(
    bot: Any, silent: SilentServer
) -> None:
    cog = author_cog("alpha", "Alpha", silent.endpoint)(bot)  # detach(timeout=2.0)
    await bot.add_cog(cog)
    await settle(bot)
    cog.telemetry.enable()
    for i in range(20):
        with cog.telemetry.span(f"work {i}"):
            pass
    deadline = time.monotonic() + 5
    while silent.bytes == 0 and time.monotonic() < deadline:  # an export is under way
        await asyncio.sleep(0.02)
    assert silent.bytes > 0
    started = time.monotonic()
    await bot.remove_cog("Alpha")
    assert time.monotonic() - started < 2.0 + SLACK
    assert cog.telemetry._closed


async def test_unload_keeps_a_decision_made_just_before(bot: Any) -> None:
    await load_example(bot)
    await settle(bot)
    await dpytest.message("?telemetry enable red-example")
    await unload_example(bot)  # the Config write must not be lost with the reporter
    await load_example(bot)
    assert registry(bot).reporters["red-example"].enabled


async def test_listener_error_reaches_the_receiver_after_reloads(
    bot: Any, grpc_receiver: GrpcReceiver
) -> None:
    for _ in range(3):  # load, unload, load, unload, load
        cog = author_cog("alpha", "Alpha", grpc_receiver.endpoint)(bot)
        await bot.add_cog(cog)
        await settle(bot)
        if _ < 2:
            await bot.remove_cog("Alpha")
    cog.telemetry.enable()
    bot.dispatch("otel_probe")
    await asyncio.sleep(0.05)  # the listener task runs and fails
    assert cog.telemetry.force_flush(5)
    spans = await asyncio.to_thread(grpc_receiver.received.wait_for_names, "error KeyError")
    assert [s["attributes"]["discord.listener"] for s in spans] == ["on_otel_probe"]


async def test_reports_carry_the_bots_shards(bot: Any, grpc_receiver: GrpcReceiver) -> None:
    bot.shard_ids, bot.shard_count = [2, 3], 4  # Red is an AutoShardedBot
    cog = author_cog("alpha", "Alpha", grpc_receiver.endpoint)(bot)
    await bot.add_cog(cog)
    await settle(bot)
    cog.telemetry.enable()
    with cog.telemetry.span("sharded"):
        pass
    [span] = await asyncio.to_thread(grpc_receiver.received.wait_for_names, "sharded")
    assert span["resource"]["discord.shard.id"] == [2, 3]
    assert span["resource"]["discord.shard.count"] == 4
