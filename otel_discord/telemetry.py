"""``Telemetry``: the public reporter object. The span pipeline comes from
:class:`otel_discord._reporter.Reporter`; this layer adds the discord.py hooks."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any, TypeVar

from discord.ext import commands, tasks
from discord.utils import MISSING

from otel_discord._reporter import Reporter
from otel_discord.hooks import (
    DEFAULT_DISABLE_COMMAND,
    DEFAULT_ENABLE_COMMAND,
    DiscordHooks,
    ErrorReports,
    InstrumentedLoop,
    OwnerCog,
    OwnerControls,
    OwnerNotifier,
    join_owner_cog,
    leave_owner_cog,
)
from otel_discord.hooks import instrument_loop as _instrument_loop
from otel_discord.hooks import loop as _loop
from otel_discord.hooks._types import AnyBot, is_bot

__all__ = ["Telemetry"]

LF = TypeVar("LF", bound=Callable[..., Coroutine[Any, Any, Any]])
CogT = TypeVar("CogT", bound=commands.Cog)


class Telemetry(Reporter):
    """One reporter per cog author or bot: its own provider, consent, scrubber and exporters.

    Example::

        telemetry = Telemetry("mycog", version="1.2.0")

        @telemetry.traced()
        async def refresh() -> None: ...

    discord.py: ``telemetry.loop(...)`` (a drop-in for ``tasks.loop``),
    ``telemetry.instrument_cog(cog)``, ``telemetry.instrument_bot(bot, packages=[...])`` and
    ``await telemetry.add_owner_cog(bot)``; see ``docs/discord.md``. ``notify_owners=False`` skips
    the consent DM (a bot developer instrumenting their own bot); ``enable_command`` and
    ``disable_command`` are the commands that DM tells the owner to run (``{prefix}`` and
    ``{reporter}`` are filled in).
    """

    def __init__(
        self,
        name: str,
        *,
        notify_owners: bool = True,
        enable_command: str = DEFAULT_ENABLE_COMMAND,
        disable_command: str = DEFAULT_DISABLE_COMMAND,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **kwargs)
        self.notify_owners = notify_owners
        #: Error reports: user-error filter (``errors.user_errors``), dedup, local buffer.
        self.errors = ErrorReports(self)
        self.discord = DiscordHooks(self.errors)
        self.notifier = OwnerNotifier(
            self.errors, enable_command=enable_command, disable_command=disable_command
        )

    # -- discord.py --------------------------------------------------------------------------

    def loop(
        self,
        *,
        seconds: float = MISSING,
        minutes: float = MISSING,
        hours: float = MISSING,
        time: datetime.time | Sequence[datetime.time] = MISSING,
        count: int | None = None,
        reconnect: bool = True,
        name: str | None = None,
        keep_running: bool = False,
    ) -> Callable[[LF], InstrumentedLoop[LF]]:
        """``discord.ext.tasks.loop`` with each iteration a span; returns a real ``tasks.Loop``.

        ``keep_running=True``: an iteration's exception is reported and the next iteration runs
        (by default the ``error`` handler runs and the loop stops, as in discord.py)::

            @telemetry.loop(minutes=5)
            async def refresh(self) -> None: ...
        """
        return _loop(
            self.errors,
            seconds=seconds,
            minutes=minutes,
            hours=hours,
            time=time,
            count=count,
            reconnect=reconnect,
            name=name,
            keep_running=keep_running,
        )

    def instrument_loop(
        self, existing: tasks.Loop[LF], *, keep_running: bool = False
    ) -> InstrumentedLoop[LF]:
        """Instrument a loop made with ``tasks.loop``, in place; returns the same object."""
        return _instrument_loop(self.errors, existing, keep_running=keep_running)

    def instrument_cog(
        self,
        cog: CogT,
        *,
        bot: AnyBot | None = None,
        notify_owners: bool | None = None,
    ) -> CogT:
        """Report errors of ``cog``'s prefix, hybrid and application commands and listeners
        (``bot`` defaults to ``cog.bot``); on its first load, DM the owner about consent.
        Returns ``cog``::

            await bot.add_cog(telemetry.instrument_cog(MyCog(bot)))
        """
        if bot is None:
            found = getattr(cog, "bot", None)
            bot = found if is_bot(found) else None
        self.discord.instrument_cog(cog, bot)
        notify = self.notify_owners if notify_owners is None else notify_owners
        if bot is not None and notify:
            self.notifier.schedule(bot, cog.qualified_name)
        return cog

    def instrument_bot(self, bot: AnyBot, packages: Iterable[str]) -> None:
        """Report listener (``bot.on_error``) and app-command (``tree.on_error``) errors whose
        author frame lies in ``packages``; the existing handlers still run after."""
        self.discord.instrument_bot(bot, packages)

    async def add_owner_cog(self, bot: AnyBot) -> None:
        """Give the owner ``telemetry status | enable | disable | preview | send <code>`` for this
        reporter: it joins the bot's owner cog (``Telemetry``, shared by every reporter of the bot,
        one added with :meth:`owner_cog` included) or adds one. Call it from an extension's
        ``setup`` and :meth:`remove_owner_cog` from its ``teardown``::

            async def setup(bot: commands.Bot) -> None:
                await bot.add_cog(telemetry.instrument_cog(MyCog(bot)))
                await telemetry.add_owner_cog(bot)

        Never raises: if the bot has a cog named ``Telemetry`` that is not otel-discord's, it is
        left alone and a warning is logged (the extension still loads)."""
        await join_owner_cog(bot, self.errors)

    async def remove_owner_cog(self, bot: AnyBot) -> None:
        """Take this reporter out of the bot's owner cog; the cog goes when no reporter is left in
        it. Never raises::

            async def teardown(bot: commands.Bot) -> None:
                await telemetry.remove_owner_cog(bot)
        """
        await leave_owner_cog(bot, self.errors)

    def owner_cog(self) -> OwnerCog:
        """A new owner-only cog for this reporter alone, for a bot with one reporter::

            await bot.add_cog(telemetry.owner_cog())

        A second ``owner_cog()`` on one bot fails (``Cog named 'Telemetry' already loaded``):
        extensions use :meth:`add_owner_cog`, which also joins a cog added this way.
        """
        return OwnerCog(OwnerControls([self.errors]))

    def shutdown(self, timeout: float = 5.0) -> bool:
        self.errors.breadcrumbs.close()
        return super().shutdown(timeout)
