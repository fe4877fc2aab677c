"""The start-up event sent by the integrations: a dpytest bot (plain discord.py) and a dpytest Red
bot, asserted on what a real OTLP receiver got. Once per run per reporter, under ``errors``
consent, counting the reporter's cogs loaded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord.ext.test as dpytest
import pytest
from discord.ext import commands

from otel_discord import Telemetry
from otel_discord._attributes import STARTED_COGS
from tests._backends import GrpcReceiver
from tests._discord import start_bot, stop_bot, telemetry_for
from tests._red import (  # noqa: F401 - Red's fixtures, for this module only
    author_cog,
    config_fr,
    driver,
    fresh_red_caches,
    override_data_path,
    red,
    settle,
    start_red,
    stop_red,
)

STARTED = "otel_discord.started"


class Alpha(commands.Cog):
    @commands.command()
    async def ping(self, ctx: commands.Context[Any]) -> None:
        await ctx.send("pong")


class Beta(commands.Cog):
    @commands.command()
    async def pong(self, ctx: commands.Context[Any]) -> None:
        await ctx.send("ping")


@pytest.fixture
async def bot() -> AsyncIterator[commands.Bot]:
    """A dpytest bot still connecting: not ready until :func:`connect` says so."""
    bot = await start_bot()
    bot._ready.clear()
    yield bot
    await stop_bot(bot)


async def connect(bot: Any) -> None:
    """What the gateway's READY does: the bot is ready and ``on_ready`` listeners run."""
    bot._ready.set()
    bot.dispatch("ready")
    await asyncio.sleep(0.05)  # the dispatched listener tasks run


async def started_events(receiver: GrpcReceiver, telemetry: Telemetry) -> list[dict[str, Any]]:
    """Every start-up event the receiver got, once everything queued was exported."""
    assert await asyncio.to_thread(telemetry.force_flush, 5)
    return [r for r in receiver.received.logs() if r["event_name"] == STARTED]


async def add_both(bot: commands.Bot, telemetry: Telemetry) -> None:
    await bot.add_cog(telemetry.instrument_cog(Alpha(), bot=bot))
    await bot.add_cog(telemetry.instrument_cog(Beta(), bot=bot))


# -- plain discord.py -------------------------------------------------------------------------


async def test_two_instrumented_cogs_send_one_started_event_counting_both(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver)
    await add_both(bot, telemetry)
    await connect(bot)
    events = await started_events(grpc_receiver, telemetry)
    assert [e["attributes"][STARTED_COGS] for e in events] == [2]
    telemetry.shutdown(2)


async def test_nothing_is_sent_before_the_bot_is_ready(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver)
    await add_both(bot, telemetry)
    assert await started_events(grpc_receiver, telemetry) == []
    telemetry.shutdown(2)


async def test_on_ready_after_a_reconnect_sends_no_second_started_event(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver)
    await add_both(bot, telemetry)
    await connect(bot)
    await connect(bot)
    assert len(await started_events(grpc_receiver, telemetry)) == 1
    telemetry.shutdown(2)


async def test_cog_reload_sends_no_second_started_event(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver)
    await add_both(bot, telemetry)
    await connect(bot)
    await bot.remove_cog("Alpha")
    await bot.add_cog(telemetry.instrument_cog(Alpha(), bot=bot))
    assert len(await started_events(grpc_receiver, telemetry)) == 1
    telemetry.shutdown(2)


async def test_cog_instrumented_on_a_ready_bot_sends_started_at_once_counting_it(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    await connect(bot)
    telemetry = telemetry_for(grpc_receiver)
    await bot.add_cog(telemetry.instrument_cog(Alpha(), bot=bot))
    events = await started_events(grpc_receiver, telemetry)
    assert [e["attributes"][STARTED_COGS] for e in events] == [1]
    telemetry.shutdown(2)


async def test_cogs_of_another_reporter_are_not_counted(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver)
    other = telemetry_for(grpc_receiver, "other", enabled=None)  # sends nothing
    await bot.add_cog(telemetry.instrument_cog(Alpha(), bot=bot))
    await bot.add_cog(other.instrument_cog(Beta(), bot=bot))
    await connect(bot)
    events = await started_events(grpc_receiver, telemetry)
    assert [e["attributes"][STARTED_COGS] for e in events] == [1]
    telemetry.shutdown(2)
    other.shutdown(2)


async def test_started_refused_without_consent_is_sent_at_the_next_instrumented_command(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver, enabled=None)  # the owner has not decided
    await add_both(bot, telemetry)
    await connect(bot)
    telemetry.enable()
    await dpytest.message("!ping")
    events = await started_events(grpc_receiver, telemetry)
    assert [e["attributes"][STARTED_COGS] for e in events] == [2]
    telemetry.shutdown(2)


async def test_started_refused_without_consent_is_sent_at_the_next_on_ready(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver, enabled=None)
    await add_both(bot, telemetry)
    await connect(bot)
    telemetry.enable()
    await connect(bot)  # a reconnect
    events = await started_events(grpc_receiver, telemetry)
    assert [e["attributes"][STARTED_COGS] for e in events] == [2]
    telemetry.shutdown(2)


async def test_started_refused_without_consent_is_sent_when_the_owner_enables(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver, enabled=None)
    await add_both(bot, telemetry)
    bot.owner_id = dpytest.get_config().members[0].id
    await bot.add_cog(telemetry.owner_cog())
    await connect(bot)
    await dpytest.message("!telemetry enable")
    events = await started_events(grpc_receiver, telemetry)
    assert [e["attributes"][STARTED_COGS] for e in events] == [2]
    telemetry.shutdown(2)


async def test_started_without_consent_sends_nothing(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver, enabled=None)
    await add_both(bot, telemetry)
    await connect(bot)
    await dpytest.message("!ping")
    assert await started_events(grpc_receiver, telemetry) == []
    telemetry.shutdown(2)


async def test_authors_own_started_call_is_not_repeated_by_the_hook(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver)
    await add_both(bot, telemetry)
    assert telemetry.started(cogs=5) is True
    await connect(bot)
    await dpytest.message("!ping")
    events = await started_events(grpc_receiver, telemetry)
    assert [e["attributes"][STARTED_COGS] for e in events] == [5]
    telemetry.shutdown(2)


async def test_authors_started_call_after_the_hook_sends_nothing(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver)
    await add_both(bot, telemetry)
    await connect(bot)
    assert telemetry.started(cogs=5) is False
    events = await started_events(grpc_receiver, telemetry)
    assert [e["attributes"][STARTED_COGS] for e in events] == [2]
    telemetry.shutdown(2)


async def test_a_failing_start_up_event_never_reaches_the_bot(
    bot: commands.Bot, grpc_receiver: GrpcReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    telemetry = telemetry_for(grpc_receiver)
    await add_both(bot, telemetry)

    def broken(cogs: int | None = None) -> bool:
        raise RuntimeError("start-up event failed")

    monkeypatch.setattr(telemetry, "started", broken)
    await connect(bot)
    await dpytest.message("!ping")
    assert dpytest.verify().message().content("pong")
    telemetry.shutdown(2)


# -- Red --------------------------------------------------------------------------------------


async def red_connect(bot: Any) -> None:
    """READY on Red: only otel-discord's ``on_ready`` listeners run, as Red's own start-up
    (``_pre_connect``) is skipped here and its ``on_ready`` expects it to have run."""
    bot._ready.set()
    for listener in list(bot.extra_events.get("on_ready", [])):
        if listener.__module__.startswith("otel_discord."):
            await listener()


@pytest.fixture
async def red_bot(
    red: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> AsyncIterator[Any]:
    """A dpytest Red bot still connecting: Red loads its cogs before it is ready."""
    monkeypatch.chdir(tmp_path)
    await start_red(red)
    red._ready.clear()
    yield red
    await stop_red(red)


async def test_red_two_cogs_attached_send_one_started_event_counting_both(
    red_bot: Any, grpc_receiver: GrpcReceiver
) -> None:
    first = author_cog("alpha", "Alpha", grpc_receiver.endpoint)(red_bot)
    await red_bot.add_cog(first)
    first.telemetry.enable()
    await red_bot.add_cog(author_cog("alpha", "AlphaTwo", grpc_receiver.endpoint)(red_bot))
    await settle(red_bot)
    await red_connect(red_bot)
    await red_connect(red_bot)  # a reconnect
    events = await started_events(grpc_receiver, first.telemetry)
    assert [e["attributes"][STARTED_COGS] for e in events] == [2]


async def test_red_reload_on_a_ready_bot_sends_no_second_started_event(
    red_bot: Any, grpc_receiver: GrpcReceiver
) -> None:
    await red_connect(red_bot)
    first = author_cog("alpha", "Alpha", grpc_receiver.endpoint)(red_bot)
    await red_bot.add_cog(first)
    first.telemetry.enable()
    await red_connect(red_bot)  # a reconnect: the first reporter sends it now
    await red_bot.remove_cog("Alpha")  # the last cog: its reporter is shut down
    again = author_cog("alpha", "Alpha", grpc_receiver.endpoint)(red_bot)
    await red_bot.add_cog(again)  # a new reporter of the same name, consent already given
    await settle(red_bot)
    events = await started_events(grpc_receiver, again.telemetry)
    assert [e["attributes"][STARTED_COGS] for e in events] == [1]
