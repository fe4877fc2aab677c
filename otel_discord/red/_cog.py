# mypy: disable-error-code="no-untyped-call,untyped-decorator"
# (Red-DiscordBot ships no type hints for its command decorators.)
"""The shared owner-only ``[p]telemetry`` cog: one per bot, whatever the number of authors'
cogs using otel-discord. The logic is :class:`otel_discord.hooks.OwnerControls` (the same as the
plain discord.py owner cog); this is Red's command layer over it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from redbot.core import commands

from otel_discord.hooks._owners import _reply

if TYPE_CHECKING:
    from otel_discord.red._registry import RedRegistry

__all__ = ["SharedTelemetryCog"]


class SharedTelemetryCog(commands.Cog, name="OtelTelemetry"):
    """Error reports of the cogs that use otel-discord (bot owner only)."""

    def __init__(self, registry: RedRegistry) -> None:
        super().__init__()
        self.registry = registry

    async def cog_check(self, ctx: commands.Context) -> bool:  # type: ignore[override]
        return bool(await ctx.bot.is_owner(ctx.author))

    async def red_delete_data_for_user(self, **kwargs: object) -> None:
        """Nothing to delete: no per-user data is stored."""

    # -- helpers ------------------------------------------------------------------------------

    def _status(self, prefix: str) -> str:
        lines = [self.registry.controls.status()]
        for name, telemetry in sorted(self.registry.reporters.items()):
            sends = []
            if telemetry.enabled:
                sends.append("error reports and loop timings")
            if telemetry.allows("usage"):
                sends.append("usage events")
            lines.append(
                f"{name}: install id {telemetry.install_id}; sends "
                f"{' and '.join(sends) or 'nothing'}; exactly what: "
                f"`{prefix}telemetry preview {name}`"
            )
        return "\n".join(lines)

    # -- commands -----------------------------------------------------------------------------

    @commands.group(name="telemetry", invoke_without_command=True)
    @commands.is_owner()
    async def telemetry(self, ctx: commands.Context) -> None:
        """Error reports of cogs using otel-discord: consent, exporters, install ids."""
        await _reply(ctx, self._status(ctx.clean_prefix))

    @telemetry.command(name="status")
    async def status(self, ctx: commands.Context) -> None:
        """Every reporter in this bot: consent per category, exporters, install id, what is sent."""
        await _reply(ctx, self._status(ctx.clean_prefix))

    @telemetry.command(name="enable")
    async def enable(
        self, ctx: commands.Context, reporter: str | None = None, *categories: str
    ) -> None:
        """Turn a reporter (or `all`) on; categories `errors` (default) and `usage`."""
        await self._decide(ctx, True, reporter, categories)

    @telemetry.command(name="disable")
    async def disable(
        self, ctx: commands.Context, reporter: str | None = None, *categories: str
    ) -> None:
        """Turn a reporter (or `all`) off; by default every category."""
        await self._decide(ctx, False, reporter, categories)

    @telemetry.command(name="preview")
    async def preview(self, ctx: commands.Context, reporter: str | None = None) -> None:
        """Show what would be sent: the resource and the latest error report."""
        try:
            text = self.registry.controls.preview(reporter)
        except KeyError as exc:
            text = str(exc.args[0])
        await _reply(ctx, text, filename="telemetry-preview.json")

    @telemetry.command(name="send")
    async def send(self, ctx: commands.Context, code: str) -> None:
        """Send one recent error by its code, even while reporting is off."""
        await ctx.send(await self.registry.controls.send(code))

    async def _decide(
        self,
        ctx: commands.Context,
        enabled: bool,
        reporter: str | None,
        categories: tuple[str, ...],
    ) -> None:
        decide = self.registry.controls.decide
        await ctx.send(await asyncio.to_thread(decide, enabled, reporter, categories))
