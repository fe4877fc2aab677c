"""One owner cog for every reporter of a plain discord.py bot: extensions of different authors,
each with ``await telemetry.add_owner_cog(bot)`` in ``setup`` and ``remove_owner_cog`` in
``teardown`` (as docs/discord.md says), loaded as real extensions on a real dpytest bot."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import discord
import discord.ext.test as dpytest
import pytest
from discord.ext import commands

from otel_discord import JsonConsentStore, Telemetry
from tests._backends import GrpcReceiver
from tests._discord import direct_messages, start_bot, stop_bot, telemetry_for

PREFIX = "?!"

#: An author's extension, exactly as docs/discord.md shows it.
EXTENSION = """
from discord.ext import commands
from otel_discord import Telemetry

telemetry = Telemetry({name!r}, version="1.0.0", config={config!r})


class {cog}(commands.Cog):
    @commands.command(name={command!r})
    async def fail(self, ctx: commands.Context) -> None:
        raise ConnectionResetError("the feed of " + {name!r} + " went away")


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(telemetry.instrument_cog({cog}(), bot=bot))
    await telemetry.add_owner_cog(bot)


async def teardown(bot: commands.Bot) -> None:
    await telemetry.remove_owner_cog(bot)
    telemetry.shutdown(2)
"""

Load = Callable[[str], Awaitable[str]]


@pytest.fixture
async def bot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[commands.Bot]:
    monkeypatch.chdir(tmp_path)
    bot = await start_bot(prefix=commands.when_mentioned_or(PREFIX))
    bot.owner_id = dpytest.get_config().members[0].id
    yield bot
    await stop_bot(bot)


@pytest.fixture
async def load_extension(
    bot: commands.Bot,
    grpc_receiver: GrpcReceiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Load]:
    """``await load_extension("alpha")`` writes the extension of reporter ``alpha`` (cog
    ``Alpha``, command ``alpha``), loads it with ``bot.load_extension`` and returns its module
    name; every extension still loaded is unloaded (its ``teardown`` runs) at the end."""
    folder = tmp_path / "extensions"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    config = {
        "exporters": ["otlp"],
        "otlp_protocol": "grpc",
        "otlp_endpoint": grpc_receiver.endpoint,
        "schedule_delay": 0.05,
        "queue_max_bytes": 0,
    }

    async def load(name: str) -> str:
        module = f"ext_{name}_{uuid.uuid4().hex[:8]}"  # never one sys.modules already holds
        source = EXTENSION.format(name=name, cog=name.title(), command=name, config=config)
        (folder / f"{module}.py").write_text(source)
        await bot.load_extension(module)
        await reporter_of(bot, module).notifier.wait()  # its consent DM is in the queue
        return module

    yield load
    for module in list(bot.extensions):
        await bot.unload_extension(module)


def reporter_of(bot: commands.Bot, module: str) -> Telemetry:
    telemetry = bot.extensions[module].telemetry
    assert isinstance(telemetry, Telemetry)
    return telemetry


async def reply(command: str) -> str:
    """The bot's answer in the channel (consent DMs still queued are passed over)."""
    await dpytest.message(f"{PREFIX}{command}")
    while isinstance((message := dpytest.get_message()).channel, discord.DMChannel):
        pass
    return message.content


async def test_two_authors_extensions_both_load_with_one_owner_cog(
    bot: commands.Bot, load_extension: Load
) -> None:
    alpha = await load_extension("alpha")
    beta = await load_extension("beta")
    assert set(bot.extensions) == {alpha, beta}
    assert [name for name in bot.cogs if name == "Telemetry"] == ["Telemetry"]
    status = (await reply("telemetry status")).splitlines()
    assert [line.split(":")[0] for line in status] == ["alpha", "beta"]
    assert all(": errors off," in line for line in status)


async def test_two_extensions_loaded_at_once_share_one_owner_cog(
    bot: commands.Bot, load_extension: Load
) -> None:
    modules = await asyncio.gather(load_extension("alpha"), load_extension("beta"))
    assert set(bot.extensions) == set(modules)
    assert (await reply("telemetry status")).count("errors off") == 2


async def test_the_enable_command_of_betas_dm_turns_on_beta_only(
    bot: commands.Bot, load_extension: Load, grpc_receiver: GrpcReceiver
) -> None:
    alpha = reporter_of(bot, await load_extension("alpha"))
    beta = reporter_of(bot, await load_extension("beta"))
    (told,) = [m.content for m in direct_messages() if "**beta**" in m.content]
    command = told.rsplit("`", 2)[1]
    assert command == "?!telemetry enable beta"

    await dpytest.message(command)
    assert dpytest.get_message().content == "beta: errors on."
    store = JsonConsentStore(beta.config.resolved_data_dir())
    assert store.load("beta").errors and not store.load("alpha").errors
    for name in ("alpha", "beta"):
        with pytest.raises(commands.CommandInvokeError):
            await dpytest.message(f"{PREFIX}{name}")
    grpc_receiver.received.wait_for_names("error ConnectionResetError")
    assert alpha.force_flush(5) and beta.force_flush(5)
    errors = [s for s in grpc_receiver.received.spans() if s["name"].startswith("error ")]
    assert [s["resource"]["service.name"] for s in errors] == ["beta"]


async def test_unloading_one_extension_leaves_the_other_reporter_in_the_owner_cog(
    bot: commands.Bot, load_extension: Load
) -> None:
    alpha = await load_extension("alpha")
    await load_extension("beta")
    await bot.unload_extension(alpha)
    assert (await reply("telemetry status")).startswith("beta: errors off")
    assert await reply("telemetry enable alpha") == "name one of the reporters: beta (or all)"
    assert await reply("telemetry enable beta") == "beta: errors on."


async def test_unloading_the_last_extension_removes_the_owner_cog(
    bot: commands.Bot, load_extension: Load
) -> None:
    alpha = await load_extension("alpha")
    beta = await load_extension("beta")
    await bot.unload_extension(alpha)
    await bot.unload_extension(beta)
    assert bot.get_cog("Telemetry") is None
    assert bot.get_command("telemetry") is None


async def test_reloading_an_extension_keeps_the_owner_cog_with_both_reporters(
    bot: commands.Bot, load_extension: Load
) -> None:
    await load_extension("alpha")
    beta = await load_extension("beta")
    shared = bot.get_cog("Telemetry")
    await bot.reload_extension(beta)
    assert bot.get_cog("Telemetry") is shared
    assert await reply("telemetry enable beta") == "beta: errors on."
    assert reporter_of(bot, beta).enabled  # the reloaded module's reporter, not the old one


async def test_add_owner_cog_joins_an_owner_cog_the_bot_developer_added_by_hand(
    bot: commands.Bot, load_extension: Load, grpc_receiver: GrpcReceiver
) -> None:
    developer = telemetry_for(grpc_receiver, name="mybot", enabled=None)
    try:
        by_hand = developer.owner_cog()
        await bot.add_cog(by_hand)
        await load_extension("beta")
        assert bot.get_cog("Telemetry") is by_hand
        status = await reply("telemetry status")
        assert [line.split(":")[0] for line in status.splitlines()] == ["beta", "mybot"]
        assert await reply("telemetry enable beta") == "beta: errors on."
        assert not developer.enabled
    finally:
        developer.shutdown(2)


async def test_an_old_reporter_leaving_does_not_take_out_its_replacement(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    old = telemetry_for(grpc_receiver, name="beta", enabled=None)
    new = telemetry_for(grpc_receiver, name="beta", enabled=None)
    try:
        await old.add_owner_cog(bot)
        await new.add_owner_cog(bot)  # a second Telemetry("beta"): it replaces the first
        await old.remove_owner_cog(bot)
        assert await reply("telemetry enable beta") == "beta: errors on."
        await new.remove_owner_cog(bot)
        assert bot.get_cog("Telemetry") is None
    finally:
        old.shutdown(2)
        new.shutdown(2)


class Telemetry_(commands.Cog, name="Telemetry"):
    """Some other cog that happens to be called Telemetry."""

    @commands.command()
    async def uptime(self, ctx: commands.Context[Any]) -> None:
        await ctx.send("up")


async def test_a_foreign_cog_named_telemetry_is_left_alone_with_a_warning(
    bot: commands.Bot, load_extension: Load, caplog: pytest.LogCaptureFixture
) -> None:
    foreign = Telemetry_()
    await bot.add_cog(foreign)
    with caplog.at_level(logging.WARNING, logger="otel_discord"):
        beta = await load_extension("beta")
    assert beta in bot.extensions  # the author's extension still loads
    assert bot.get_cog("Telemetry") is foreign
    assert await reply("uptime") == "up"
    (warning,) = [r.getMessage() for r in caplog.records if "not otel-discord's" in r.getMessage()]
    assert "test_discord_owner_shared.Telemetry_" in warning
    assert "`telemetry enable beta`" in warning
    await bot.unload_extension(beta)
    assert bot.get_cog("Telemetry") is foreign  # nor removed by the teardown
