"""Red-DiscordBot integration: consent in Red's ``Config``, one shared owner-only
``[p]telemetry`` cog per bot, ``bot.send_to_owners`` notifications, Red's version on the
resource, and clean load/unload/reload.

Needs Red (``pip install 'otel-discord[red]'``); ``import otel_discord`` never imports Red.

Example (a cog's ``cog_load`` / ``cog_unload``)::

    from otel_discord import red as otel_red

    async def cog_load(self) -> None:
        self.telemetry = await otel_red.attach(self.bot, self, "mycog", version="1.0.0")
        self.refresh.start()

    async def cog_unload(self) -> None:
        await otel_red.detach(self.bot, self)
"""

try:
    import redbot.core  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "otel_discord.red needs Red-DiscordBot; install it with: pip install 'otel-discord[red]'"
    ) from exc

from otel_discord.red._cog import SharedTelemetryCog
from otel_discord.red._registry import (
    REGISTRY_ATTRIBUTE,
    RedRegistry,
    attach,
    detach,
    registry,
)
from otel_discord.red._store import RedConsentStore, red_version

__all__ = [
    "REGISTRY_ATTRIBUTE",
    "RedConsentStore",
    "RedRegistry",
    "SharedTelemetryCog",
    "attach",
    "detach",
    "red_version",
    "registry",
]
