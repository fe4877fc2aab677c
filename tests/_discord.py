"""Shared pieces of the discord.py tests: a real ``commands.Bot`` driven by dpytest and a
reporter exporting to a real OTLP receiver."""

from __future__ import annotations

from typing import Any

import discord
import discord.ext.test as dpytest
from discord.ext import commands

from otel_discord import Telemetry
from tests._backends import GrpcReceiver


def telemetry_for(receiver: GrpcReceiver, name: str = "mycog", **config: Any) -> Telemetry:
    """An enabled reporter sending OTLP/gRPC to ``receiver`` (no owner DMs unless asked)."""
    notify = config.pop("notify_owners", False)
    settings: dict[str, Any] = {
        "enabled": True,
        "exporters": ["otlp"],
        "otlp_protocol": "grpc",
        "otlp_endpoint": receiver.endpoint,
        "schedule_delay": 0.05,
        "queue_max_bytes": 0,
    }
    settings.update(config)
    return Telemetry(name, version="1.0.0", config=settings, notify_owners=notify)


async def start_bot(prefix: Any = "!", **bot_kwargs: Any) -> commands.Bot:
    bot = commands.Bot(command_prefix=prefix, intents=discord.Intents.all(), **bot_kwargs)
    await bot._async_setup_hook()  # dpytest quirk: before configure
    dpytest.configure(bot)
    bot._ready.set()  # dpytest never sends READY; a real bot is ready once connected
    return bot


async def stop_bot(bot: commands.Bot) -> None:
    await dpytest.empty_queue()
    for name in list(bot.cogs):
        await bot.remove_cog(name)
    await bot.http.close()


def sent_texts() -> list[str]:
    """Every message the bot sent since the last call (drains dpytest's queue)."""
    out = []
    while not dpytest.sent_queue.empty():
        out.append(dpytest.get_message().content)
    return out


def slash_interaction(
    bot: commands.Bot, command: str, options: dict[str, str] | None = None
) -> discord.Interaction[Any]:
    """A real ``discord.Interaction`` for ``/command`` from dpytest's first member, as the
    gateway would deliver it (dpytest has no interactions of its own). ``options``: string
    options by name."""
    config = dpytest.get_config()
    channel, member = config.channels[0], config.members[0]
    assert bot.user is not None
    payload: Any = {
        "id": "1",
        "application_id": str(bot.user.id),
        "type": 2,
        "token": "interaction-token",
        "version": 1,
        "attachment_size_limit": 8_000_000,
        "entitlements": [],
        "authorizing_integration_owners": {},
        "locale": "en-US",
        "app_permissions": "0",
        "guild_id": str(channel.guild.id),
        "channel_id": str(channel.id),
        "channel": {
            "id": str(channel.id),
            "type": 0,
            "guild_id": str(channel.guild.id),
            "name": channel.name,
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
        },
        "member": {
            "user": {
                "id": str(member.id),
                "username": member.name,
                "discriminator": "0001",
                "avatar": None,
            },
            "roles": [],
            "joined_at": "2020-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "permissions": "0",
            "flags": 0,
        },
        "data": {"id": "2", "name": command, "type": 1},
    }
    if options:
        payload["data"]["options"] = [
            {"name": name, "type": 3, "value": value} for name, value in options.items()
        ]
    return discord.Interaction(data=payload, state=bot._connection)


def direct_messages() -> list[discord.Message]:
    """Every DM the bot sent since the last call; other messages are dropped."""
    out = []
    while not dpytest.sent_queue.empty():
        message = dpytest.get_message()
        if isinstance(message.channel, discord.DMChannel):
            out.append(message)
    return out
