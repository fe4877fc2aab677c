"""The example cog: a background loop and two commands, reported through otel-discord.

Everything otel-discord needs is in ``cog_load`` / ``cog_unload``: ``attach`` gives the cog its
reporter (shared with the author's other cogs), instruments its loops and commands, adds the
shared ``[p]telemetry`` owner cog and tells the owner once; ``detach`` stops the loops and
flushes the reporter when the cog unloads. Nothing is sent until the owner runs
``[p]telemetry enable red-example``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from discord.ext import tasks
from redbot.core import commands
from redbot.core.bot import Red

from otel_discord import Telemetry
from otel_discord import red as otel_red
from otel_discord.hooks import forward_unhandled

__version__ = "1.0.0"

#: The author's collector. Replace it with yours; the variable lets a self-hoster (or a test)
#: point the example elsewhere.
ENDPOINT = os.environ.get("RED_EXAMPLE_OTLP_ENDPOINT", "https://otel.example.org:4318")


class RedCog(commands.Cog):
    """Forecasts, with opt-in error reports to the cog's author."""

    def __init__(self, bot: Red) -> None:
        super().__init__()
        self.bot = bot
        self.telemetry: Telemetry | None = None
        self.refreshed = 0

    async def cog_load(self) -> None:
        self.telemetry = await otel_red.attach(
            self.bot,
            self,
            "red-example",
            version=__version__,
            config={
                "exporters": ["otlp"],
                "otlp_endpoint": ENDPOINT,
                "otlp_protocol": os.environ.get("RED_EXAMPLE_OTLP_PROTOCOL", "http/protobuf"),
            },
        )
        self.refresh.start()

    async def cog_unload(self) -> None:
        await otel_red.detach(self.bot, self, timeout=5.0)

    async def red_delete_data_for_user(self, **kwargs: Any) -> None:
        """No end user data is stored."""

    @tasks.loop(minutes=30)
    async def refresh(self) -> None:
        """Each iteration is a span (timing only); an exception in it is an error report."""
        assert self.telemetry is not None
        with self.telemetry.span("fetch-forecast"):
            await asyncio.sleep(0)
        self.refreshed += 1

    @refresh.before_loop
    async def _wait_ready(self) -> None:
        await self.bot.wait_until_red_ready()

    @commands.command()
    async def forecast(self, ctx: commands.Context, *, city: str) -> None:
        """Tomorrow's forecast for a city."""
        await ctx.send(f"{city}: sunny, 21 °C")

    @commands.command()
    async def stations(self, ctx: commands.Context) -> None:
        """List weather stations (fails: the upstream API is down)."""
        raise ConnectionError(
            "stations API refused https://api.example.org/v1?key=sk_live_51HcQ2KJ3m4n5o6p7 "
            "from 198.51.100.23"
        )

    async def cog_command_error(self, ctx: commands.Context, error: Exception) -> None:
        # The cog may handle its own errors here; whatever it does not handle goes back to
        # Red's core handler (the "Error in command" reply and the log), as Red requires:
        # ``forward_unhandled`` passes it on with ``unhandled_by_cog=True``.
        await forward_unhandled(ctx, error)
