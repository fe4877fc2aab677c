"""The per-bot registry: every reporter of this bot's cogs, which cogs use each one, their
loops, the shared owner cog and the bot-level error chains.

It lives on the bot object (``bot._otel_discord_red``), not in a module global: reloading a cog,
or ``importlib.reload`` of this package, resets module globals but not the bot, so a reload
finds the reporter, the shared cog and the chains it already made instead of making twins.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands, tasks

from otel_discord import _attributes as A
from otel_discord.hooks import OwnerControls
from otel_discord.red._store import RedConsentStore, red_version
from otel_discord.telemetry import Telemetry

__all__ = ["REGISTRY_ATTRIBUTE", "SHARED_COG_NAME", "RedRegistry", "attach", "detach", "registry"]

log = logging.getLogger("otel_discord.red")

#: The bot attribute holding the :class:`RedRegistry`.
REGISTRY_ATTRIBUTE = "_otel_discord_red"
#: The shared owner cog's name (``[p]help OtelTelemetry``).
SHARED_COG_NAME = "OtelTelemetry"


class RedRegistry:
    """What otel-discord holds for one Red bot."""

    def __init__(self) -> None:
        self.store = RedConsentStore()
        #: Live reporters by name: exactly one per name.
        self.reporters: dict[str, Telemetry] = {}
        #: Reporter name -> cog name -> the cog's instrumented loops.
        self.users: dict[str, dict[str, list[tasks.Loop[Any]]]] = {}
        self.controls = OwnerControls([])
        self.cog: commands.Cog | None = None
        self.chained: set[str] = set()

    # -- bot-level error chains, once per bot --------------------------------------------------

    def chain(self, bot: commands.Bot) -> None:
        """Chain ``bot.on_error`` and ``bot.tree.on_error`` once; they ask every live reporter,
        so a reporter rebuilt by a reload needs no chain of its own."""
        if "on_error" not in self.chained:
            self.chained.add("on_error")
            original = bot.on_error

            async def on_error(event_method: str, /, *args: Any, **kwargs: Any) -> None:
                error = sys.exc_info()[1]
                if error is not None:
                    for telemetry in list(self.reporters.values()):
                        try:
                            telemetry.discord._listener_error(event_method, error, args)
                        except Exception:
                            log.debug("otel_discord: listener error not reported", exc_info=True)
                await original(event_method, *args, **kwargs)

            bot.on_error = on_error  # type: ignore[method-assign]
        tree = getattr(bot, "tree", None)
        if "tree" not in self.chained and isinstance(tree, app_commands.CommandTree):
            self.chained.add("tree")
            original_tree = tree.on_error

            async def on_app_error(
                interaction: discord.Interaction[Any], error: app_commands.AppCommandError, /
            ) -> None:
                for telemetry in list(self.reporters.values()):
                    try:
                        telemetry.discord._app_error(interaction, error)
                    except Exception:
                        log.debug("otel_discord: app command error not reported", exc_info=True)
                await original_tree(interaction, error)

            tree.on_error = on_app_error  # type: ignore[method-assign]
        if "shards" not in self.chained:
            self.chained.add("shards")

            async def on_ready() -> None:
                for telemetry in list(self.reporters.values()):
                    self.learn_shards(bot, telemetry)
                    telemetry.discord.send_start()

            # Red is an AutoShardedBot: its shard ids are known once connected. Red loads its
            # cogs before connecting, so the first on_ready counts every one of them.
            bot.add_listener(on_ready, "on_ready")

    @staticmethod
    def learn_shards(bot: commands.Bot, telemetry: Telemetry) -> None:
        if bot.is_ready():
            telemetry.discord._learn_shards(bot)

    # -- the shared owner cog -----------------------------------------------------------------

    async def ensure_cog(self, bot: commands.Bot) -> None:
        existing = bot.get_cog(SHARED_COG_NAME)
        if existing is not None:
            self.cog = existing
            return
        from otel_discord.red._cog import SharedTelemetryCog

        cog = SharedTelemetryCog(self)
        self.cog = cog
        await bot.add_cog(cog)

    async def drop_cog(self, bot: commands.Bot) -> None:
        cog, self.cog = self.cog, None
        if cog is not None and bot.get_cog(SHARED_COG_NAME) is cog:
            await bot.remove_cog(SHARED_COG_NAME)

    # -- reporters ----------------------------------------------------------------------------

    async def reporter(self, bot: commands.Bot, name: str, kwargs: dict[str, Any]) -> Telemetry:
        telemetry = self.reporters.get(name)
        if telemetry is not None and not telemetry._closed:
            return telemetry
        if "consent" in kwargs:
            raise TypeError("otel_discord.red.attach: consent lives in Red's config; no consent=")
        await self.store.open(name)
        extra = dict(kwargs.pop("resource_attributes", None) or {})
        extra[A.REDBOT_VERSION] = red_version()
        telemetry = Telemetry(name, consent=self.store, resource_attributes=extra, **kwargs)
        telemetry.notifier.deliver = send_to_owners
        self.reporters[name] = telemetry
        self.controls.add(telemetry.errors)
        return telemetry

    async def release(self, name: str, timeout: float) -> bool:
        """The last cog using ``name`` unloaded: flush and shut its reporter down (bounded)."""
        telemetry = self.reporters.pop(name, None)
        self.controls.reports.pop(name, None)
        self.users.pop(name, None)
        if telemetry is None:
            return True
        for task in list(telemetry.notifier._tasks):
            task.cancel()
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            stopped = await asyncio.wait_for(
                asyncio.to_thread(telemetry.shutdown, timeout * 0.8), timeout
            )
        except TimeoutError:
            stopped = False
        remaining = max(0.1, deadline - asyncio.get_running_loop().time())
        written = await self.store.flush(remaining)
        self.store.forget(name)
        return bool(stopped and written)


async def send_to_owners(bot: commands.Bot, text: str) -> bool:
    """Owner notification through Red's ``send_to_owners`` (owners and their extra
    destinations). False when Red has nowhere to send it, so the next load tries again."""
    destinations = await bot.get_owner_notification_destinations()  # type: ignore[attr-defined]
    # Red's own method: owners (minus opt-outs) and the extra destinations they configured.
    if not destinations:
        return False
    await bot.send_to_owners(text)  # type: ignore[attr-defined]
    return True


def registry(bot: commands.Bot) -> RedRegistry:
    """The bot's registry (made on first use, kept on the bot across reloads)."""
    found: RedRegistry | None = getattr(bot, REGISTRY_ATTRIBUTE, None)
    if found is None:
        found = RedRegistry()
        setattr(bot, REGISTRY_ATTRIBUTE, found)
    return found


def _cog_loops(cog: commands.Cog) -> list[tasks.Loop[Any]]:
    found = []
    for klass in type(cog).__mro__:
        for attribute, value in vars(klass).items():
            if isinstance(value, tasks.Loop):
                bound = getattr(cog, attribute)  # the cog's own copy of the loop
                if bound not in found:
                    found.append(bound)
    return found


async def attach(
    bot: commands.Bot,
    cog: commands.Cog,
    name: str,
    *,
    loops: list[tasks.Loop[Any]] | None = None,
    keep_running: bool = False,
    **telemetry_kwargs: Any,
) -> Telemetry:
    """Give ``cog`` the reporter ``name`` (made on first use; every further cog of the same
    author, and a reloaded cog, gets the same one). Call it from ``cog_load``, before starting
    loops. It reports the cog's command, listener and loop errors (``loops``: default every
    ``tasks.loop`` of the cog), adds the shared ``[p]telemetry`` cog if this bot has none yet,
    and tells the owners about consent once per cog through ``bot.send_to_owners``.
    ``telemetry_kwargs`` go to :class:`~otel_discord.Telemetry` for the first cog only."""
    reg = registry(bot)
    telemetry = await reg.reporter(bot, name, dict(telemetry_kwargs))
    # Not ``telemetry.instrument_cog``: that chains the bot's handlers per reporter object,
    # and a reload makes a new one; the registry chains once per bot (``reg.chain``).
    telemetry.discord.instrument_cog(cog, None)
    reg.chain(bot)
    reg.learn_shards(bot, telemetry)
    chosen = _cog_loops(cog) if loops is None else list(loops)
    for each in chosen:
        telemetry.instrument_loop(each, keep_running=keep_running)
    reg.users.setdefault(name, {})[cog.qualified_name] = chosen
    # Sent once per run: a reload's new reporter finds it already sent.
    telemetry.discord.start_with(lambda: len(reg.users.get(name, {})))
    if bot.is_ready():
        telemetry.discord.send_start()
    await reg.ensure_cog(bot)
    if telemetry.notify_owners:
        telemetry.notifier.schedule(bot, cog.qualified_name)
    return telemetry


async def detach(bot: commands.Bot, cog: commands.Cog, *, timeout: float = 5.0) -> bool:
    """Call from ``cog_unload``: stop the cog's instrumented loops; if it was the last cog of
    its reporter, flush and shut the reporter down within ``timeout`` seconds; if it was the
    last cog using otel-discord, remove the shared cog. Never raises; True if all of it was
    done in time."""
    reg = getattr(bot, REGISTRY_ATTRIBUTE, None)
    if reg is None:
        return True
    ok = True
    try:
        for name, cogs in list(reg.users.items()):
            loops = cogs.pop(cog.qualified_name, None)
            if loops is None:
                continue
            for each in loops:
                each.cancel()
            if not cogs:
                ok = await reg.release(name, timeout) and ok
        if not reg.users:
            await reg.drop_cog(bot)
    except Exception:
        log.warning("otel_discord: could not detach %s cleanly", cog.qualified_name, exc_info=True)
        return False
    return ok
