"""``Telemetry``: the public reporter object. The span pipeline comes from
:class:`otel_discord._reporter.Reporter`; this layer adds the discord.py hooks."""

from __future__ import annotations

from otel_discord._reporter import Reporter

__all__ = ["Telemetry"]


class Telemetry(Reporter):
    """One reporter per cog author or bot: its own provider, consent, scrubber and exporters.

    Example::

        telemetry = Telemetry("mycog", version="1.2.0")

        @telemetry.traced()
        async def refresh() -> None: ...
    """
