"""Red-DiscordBot test helpers: Red's own pytest fixtures (``redbot.pytest``: ``red``,
``config_fr``, ``driver``, ``override_data_path``) re-exported for the ``test_red_*`` modules
only, and a Red bot driven by dpytest.

Red's ``on_command_error`` stays in place (dpytest's re-raising one is replaced by Red's set-up),
so a command error does not raise into the test: Red handles it as it would in production.
Two things are patched, both only because they cannot run here: dpytest refuses sharded clients
(Red is an ``AutoShardedBot``) with an ``isinstance`` check, so that one check is bypassed while
``dpytest.configure`` runs; and Red's connection-time start-up (``_pre_connect``: core cogs,
modlog, bank, the update check over the network) is skipped. ``_pre_login`` (Red's events,
global checks, owners) runs for real.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import discord
import discord.ext.test as dpytest
import pytest
from redbot.core._drivers import json as json_driver
from redbot.pytest.core import config_fr, driver, override_data_path, red

__all__ = [
    "EXAMPLES",
    "config_fr",
    "driver",
    "fresh_red_caches",
    "new_red",
    "override_data_path",
    "red",
    "start_red",
    "stop_red",
]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PREFIX = "?"


@pytest.fixture(autouse=True)
def fresh_red_caches() -> Iterator[None]:
    """Red's JSON driver keeps data and asyncio locks per cog name for the whole process; each
    test (new tmp data dir, new event loop) starts without them. Autouse, so it runs before
    Red's ``driver`` fixture."""
    json_driver._shared_datastore.clear()
    json_driver._locks.clear()
    yield
    json_driver._shared_datastore.clear()
    json_driver._locks.clear()


def new_red() -> Any:
    """A second Red bot object, built exactly as Red's ``red`` fixture builds one (same core
    config), e.g. for 'after a restart'."""
    from redbot.core._cli import parse_cli_flags
    from redbot.core.bot import Red

    flags = parse_cli_flags(["ignore_me"])
    return Red(cli_flags=flags, description="Red v3 - Alpha", dm_help=None, owner_ids=set())


async def start_red(bot: Any, *, prefix: str = PREFIX, members: int = 2) -> Any:
    """Red's pre-login set-up, then dpytest; the first dpytest member is the bot owner."""
    await bot._async_setup_hook()  # dpytest quirk: before configure

    class _NotSharded:
        pass

    with mock.patch.object(discord, "AutoShardedClient", _NotSharded):
        dpytest.configure(bot, members=members)
    # After dpytest: Red's own on_command_error replaces the one dpytest installs (which
    # re-raises into the test and does not take Red's ``unhandled_by_cog``).
    await bot._config.schema_version.set(3)  # a fresh instance: no migrations to run
    await bot._pre_login()
    await bot._config.prefix.set([prefix])
    bot._ready.set()
    bot._red_ready.set()
    bot.owner_ids.add(dpytest.get_config().members[0].id)
    return bot


async def stop_red(bot: Any) -> None:
    await dpytest.empty_queue()
    for name in list(bot.extensions):
        await bot.unload_extension(name)
    for name in list(bot.cogs):
        await bot.remove_cog(name)
    await bot.http.close()
    for name in [m for m in sys.modules if m == "red_cog" or m.startswith("red_cog.")]:
        del sys.modules[name]


def replies() -> list[str]:
    """Every message text the bot sent since the last call (drains dpytest's queue)."""
    out = []
    while not dpytest.sent_queue.empty():
        out.append(dpytest.get_message().content)
    return out


def example_settings(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """Point the example cog at a test receiver (its own variables), with short batches."""
    monkeypatch.setenv("RED_EXAMPLE_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("RED_EXAMPLE_OTLP_PROTOCOL", "grpc")
    monkeypatch.setenv("OTEL_DISCORD_SCHEDULE_DELAY", "0.05")
    monkeypatch.setenv("OTEL_DISCORD_QUEUE_MAX_BYTES", "0")


async def load_example(bot: Any) -> dict[str, Any]:
    """``[p]load red_cog`` as Red's core does it: the examples folder is a cog path."""
    from redbot.core.core_commands import CoreLogic

    if EXAMPLES not in await bot._cog_mgr.user_defined_paths():
        await bot._cog_mgr.add_path(EXAMPLES)
    outcome: dict[str, Any] = await CoreLogic(bot)._load(["red_cog"])
    assert outcome["loaded_packages"] == ["red_cog"], outcome
    return outcome


async def reload_example(bot: Any) -> dict[str, Any]:
    """``[p]reload red_cog``: unload, ``importlib.reload`` of the package's modules, load."""
    from redbot.core.core_commands import CoreLogic

    outcome: dict[str, Any] = await CoreLogic(bot)._reload(["red_cog"])
    assert outcome["loaded_packages"] == ["red_cog"], outcome
    return outcome


async def unload_example(bot: Any) -> None:
    from redbot.core.core_commands import CoreLogic

    outcome = await CoreLogic(bot)._unload(["red_cog"])
    assert outcome["unloaded_packages"] == ["red_cog"], outcome


def author_cog(reporter: str, cog_name: str, endpoint: str | None = None) -> Any:
    """A Red cog of another author: attaches ``reporter`` in ``cog_load``, detaches in
    ``cog_unload``; ``[p]<cog_name lower>`` and the listener for ``bot.dispatch("otel_probe")``
    raise; one loop (not started)."""
    from discord.ext import tasks
    from redbot.core import commands

    from otel_discord import red as otel_red

    config: dict[str, Any] = {"exporters": []}
    if endpoint is not None:
        config = {
            "exporters": ["otlp"],
            "otlp_protocol": "grpc",
            "otlp_endpoint": endpoint,
            "schedule_delay": 0.05,
            "queue_max_bytes": 0,
        }

    class AuthorCog(commands.Cog, name=cog_name):
        def __init__(self, bot: Any) -> None:
            super().__init__()
            self.bot = bot
            self.telemetry: Any = None

        async def cog_load(self) -> None:
            self.telemetry = await otel_red.attach(self.bot, self, reporter, config=config)

        async def cog_unload(self) -> None:
            await otel_red.detach(self.bot, self, timeout=2.0)

        @tasks.loop(minutes=30)
        async def tick(self) -> None:
            pass

        @commands.command(name=cog_name.lower())
        async def fail(self, ctx: Any) -> None:
            raise LookupError(f"{cog_name} failed for 203.0.113.9")

        @commands.Cog.listener()
        async def on_otel_probe(self) -> None:  # ``bot.dispatch("otel_probe")``
            raise KeyError(f"{cog_name} listener failed")

    return AuthorCog


async def settle(bot: Any) -> list[str]:
    """Wait for the owner notifications under way; return (and drain) what the bot sent."""
    reg = getattr(bot, "_otel_discord_red", None)
    if reg is not None:
        for telemetry in list(reg.reporters.values()):
            await telemetry.notifier.wait()
    return replies()


def forget_red_memory(cog_name: str) -> None:
    """What a new process would have of ``cog_name``'s Config: nothing in memory, so the next
    ``Config.get_conf`` reads Red's data folder."""
    from redbot.core import config as config_module

    json_driver._shared_datastore.pop(cog_name, None)
    for key in [k for k in list(config_module._config_cache.keys()) if k[0] == cog_name]:
        config_module._config_cache.pop(key, None)
