"""Cog and bot errors: every handler the bot already had still runs, in the same order.

Prefix and hybrid commands are hooked at ``Command.dispatch_error`` (per command object) rather
than by adding a ``cog_command_error``: a cog error handler would silence discord.py's default
``on_command_error`` traceback and Red's core handler, which would change the bot's behaviour.
Application commands and listeners are hooked by chaining ``tree.on_error`` and ``bot.on_error``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands
from discord.ext.commands.hybrid import HybridAppCommand
from opentelemetry.trace import Span, SpanContext, Status, StatusCode

from otel_discord import _attributes as A
from otel_discord.hooks._arguments import (
    context_arguments,
    interaction_arguments,
    listener_arguments,
)
from otel_discord.hooks._errors import in_packages, unwrap
from otel_discord.hooks._types import AnyBot

if TYPE_CHECKING:
    from types import CodeType

    from otel_discord.hooks._errors import ErrorReports

__all__ = ["DiscordHooks", "forward_unhandled"]

log = logging.getLogger("otel_discord.hooks")


def _ids(obj: Any) -> dict[str, Any]:
    """Guild, channel and user IDs of a context, interaction or message (shortened later by the
    scrubber). Never content."""
    out: dict[str, Any] = {}
    guild = getattr(obj, "guild", None)
    channel = getattr(obj, "channel", None)
    user = getattr(obj, "author", None) or getattr(obj, "user", None)
    for key, value in (
        (A.DISCORD_GUILD_ID, getattr(guild, "id", None) or getattr(obj, "guild_id", None)),
        (A.DISCORD_CHANNEL_ID, getattr(channel, "id", None) or getattr(obj, "channel_id", None)),
        (A.DISCORD_USER_ID, getattr(user, "id", None)),
    ):
        if isinstance(value, int):
            out[key] = str(value)
    return out


def _mark_failed(span: Span, exc: BaseException) -> None:
    """A ``command`` span's failure: the error type, never its message (it may hold values)."""
    name = type(unwrap(exc)).__qualname__
    span.set_attribute(A.ERROR_TYPE, name)
    span.set_status(Status(StatusCode.ERROR, name))


def _command_kind(command: Any, ctx: Any) -> str:
    if isinstance(command, (commands.HybridCommand, commands.HybridGroup)):
        return "hybrid"
    if isinstance(command, (app_commands.Command, app_commands.ContextMenu)):
        return "slash"
    return "prefix"


def _context_attributes(ctx: commands.Context[Any]) -> dict[str, Any]:
    attributes = _ids(ctx)
    command = ctx.command
    if command is not None:
        attributes[A.DISCORD_COMMAND] = command.qualified_name
    if ctx.cog is not None:
        attributes[A.DISCORD_COG] = ctx.cog.qualified_name
    return attributes


def _interaction_attributes(interaction: discord.Interaction[Any]) -> dict[str, Any]:
    attributes = _ids(interaction)
    command = interaction.command
    if command is not None:
        attributes[A.DISCORD_COMMAND] = command.qualified_name
        binding = getattr(command, "binding", None)
        if isinstance(binding, commands.Cog):
            attributes[A.DISCORD_COG] = binding.qualified_name
    return attributes


async def forward_unhandled(ctx: commands.Context[Any], error: Exception) -> None:
    """For a cog that defines its own ``cog_command_error``: hand the error on to the bot's core
    handler. On Red a cog-level handler suppresses the core one unless it is forwarded with
    ``unhandled_by_cog=True``; on plain discord.py the core handler already ran (dispatched as
    ``command_error``), so this does nothing."""
    handler = getattr(ctx.bot, "on_command_error", None)
    if handler is None or not _is_red(ctx.bot):
        return
    await handler(ctx, error, unhandled_by_cog=True)


def _is_red(bot: Any) -> bool:
    return any(c.__module__.startswith("redbot.") for c in type(bot).__mro__)


class DiscordHooks:
    """The discord.py side of one reporter: which cogs, commands and packages it watches."""

    def __init__(self, reports: ErrorReports) -> None:
        self.reports = reports
        self.reporter = reports.reporter
        self.packages: set[str] = set()
        #: Code objects of instrumented cogs' listeners -> cog name.
        self._listener_code: dict[CodeType, str] = {}
        self._app_cogs: weakref.WeakSet[commands.Cog] = weakref.WeakSet()
        self._chained: weakref.WeakSet[Any] = weakref.WeakSet()
        #: Every cog this reporter instrumented (the start-up event counts the loaded ones).
        self._cogs: weakref.WeakSet[commands.Cog] = weakref.WeakSet()
        #: How many of this reporter's cogs are loaded; set by the integration that owns the bot.
        self._start_count: Callable[[], int] | None = None
        self._start_done = False
        #: A failed invocation's recorded ``command`` span (``command_spans``): its error report,
        #: made when the error is dispatched after the span ended, becomes its child.
        self._failed_in: weakref.WeakKeyDictionary[commands.Context[Any], SpanContext] = (
            weakref.WeakKeyDictionary()
        )

    # -- commands ----------------------------------------------------------------------------

    def _hook_command(self, command: commands.Command[Any, ..., Any]) -> None:
        if getattr(command, "__otel_discord__", None) is self:
            return
        original_dispatch = command.dispatch_error
        original_invoke = command.invoke
        reports = self.reports

        async def dispatch_error(
            ctx: commands.Context[Any], error: commands.CommandError, /
        ) -> None:
            try:
                parent = self._failed_in.pop(ctx, None) or self._open_command_span(error)
                if reports.should_report(error):
                    reports.capture(
                        error,
                        _command_kind(command, ctx),
                        _context_attributes(ctx),
                        arguments=context_arguments(ctx),
                        parent=parent,
                    )
            except Exception:  # ours must never keep the bot's handlers from running
                log.debug("otel_discord: could not report a command error", exc_info=True)
            await original_dispatch(ctx, error)

        async def invoke(ctx: commands.Context[Any], /) -> None:
            # The values a later report's breadcrumbs may hold: the raw words now (the command
            # may log before it ends), the converted values once it has run.
            values = self._remember(lambda: context_arguments(ctx))
            try:
                return await traced_invoke(ctx)
            finally:
                self._remember(lambda: context_arguments(ctx), values)

        async def traced_invoke(ctx: commands.Context[Any], /) -> None:
            if not self._start_done and self._start_count is not None:
                # A start-up event refused for want of consent goes out once the owner opts in.
                self.send_start()
            if not self.reporter.config.command_spans or not self.reporter.enabled:
                return await original_invoke(ctx)
            cog = command.cog.qualified_name if command.cog is not None else None
            await self._in_command_span(
                _command_kind(command, ctx),
                command.qualified_name,
                cog,
                lambda: original_invoke(ctx),
                self._failed_in,
                ctx,
            )
            return None

        command.dispatch_error = dispatch_error  # type: ignore[method-assign]
        command.invoke = invoke  # type: ignore[method-assign]
        command.__otel_discord__ = self  # type: ignore[attr-defined]

    def _open_command_span(self, error: BaseException) -> SpanContext | None:
        """A hybrid command invoked as slash dispatches its error inside its ``command`` span:
        that span (marked failed) is the report's parent."""
        span = self.reporter.current_span()
        if span is None or not span.is_recording():
            return None
        if not str(getattr(span, "name", "")).startswith("command "):
            return None
        _mark_failed(span, error)
        return span.get_span_context()

    def _remember(
        self, collect: Callable[[], list[str]], values: list[str] | None = None
    ) -> list[str]:
        """Record the argument values ``collect()`` finds of an invocation (into ``values`` if
        given). Never raises."""
        try:
            found = collect()
            if values is None:
                values = found
                self.reports.remember_arguments(values)
            else:
                values.extend(found)
        except Exception:
            log.debug("otel_discord: could not record an invocation's arguments", exc_info=True)
        return values if values is not None else []

    def _hook_app_command(self, command: app_commands.Command[Any, ..., Any]) -> None:
        """Record a slash invocation's option values for later reports' breadcrumbs, as
        ``Command.invoke`` does for prefix ones: a slash command (a hybrid one invoked as
        slash too) never passes through ``Command.invoke``. Errors are still reported by the
        chained ``tree.on_error``; this only records, then awaits the original unchanged.

        Per command object, like :meth:`_hook_command`: discord.py copies a cog's app
        commands (``_copy_with``) when the cog is constructed, before it can be instrumented,
        and the tree calls these copies."""
        if getattr(command, "__otel_discord__", None) is self:
            return
        original = command._invoke_with_namespace

        async def invoke_with_namespace(
            interaction: discord.Interaction[Any], namespace: app_commands.Namespace, /
        ) -> Any:
            values = self._remember(lambda: self._slash_arguments(interaction))
            try:
                if not self.reporter.config.command_spans or not self.reporter.enabled:
                    return await original(interaction, namespace)
                return await self._traced_app_invoke(command, interaction, namespace, original)
            finally:
                self._remember(lambda: self._slash_arguments(interaction), values)

        command._invoke_with_namespace = invoke_with_namespace  # type: ignore[method-assign,assignment]
        command.__otel_discord__ = self  # type: ignore[attr-defined]

    async def _traced_app_invoke(
        self,
        command: app_commands.Command[Any, ..., Any],
        interaction: discord.Interaction[Any],
        namespace: app_commands.Namespace,
        original: Callable[..., Coroutine[Any, Any, Any]],
    ) -> Any:
        """``command_spans`` for a slash invocation (a hybrid one invoked as slash included):
        the ``command <name>`` span, as for prefix ones. A pure slash command's error leaves
        this call (the tree's ``on_error`` reports it later, as the span's child); a hybrid one
        is dispatched inside it, while the span is still the reporter's current one."""
        kind = "hybrid" if isinstance(command, HybridAppCommand) else "slash"
        binding = getattr(command, "binding", None)
        cog = binding.qualified_name if isinstance(binding, commands.Cog) else None
        return await self._in_command_span(
            kind,
            command.qualified_name,
            cog,
            lambda: original(interaction, namespace),
            interaction.extras,
            self._span_key,
        )

    async def _in_command_span(
        self,
        kind: str,
        name: str,
        cog: str | None,
        call: Callable[[], Awaitable[Any]],
        failed_in: MutableMapping[Any, Any],
        key: Any,
    ) -> Any:
        """Run ``call()`` in the ``command <name>`` span (``command_spans``): duration, names and
        the error type only, never the exception's message (it may hold argument values). A
        failed call's recorded span goes to ``failed_in[key]``: its error report, made after
        the span ended, becomes its child."""
        attributes = {A.DISCORD_KIND: kind, A.DISCORD_COMMAND: name}
        if cog is not None:
            attributes[A.DISCORD_COG] = cog
        failed: BaseException | None = None
        result: Any = None
        with self.reporter.span(f"command {name}", attributes, new_trace=True) as span:
            try:
                result = await call()
            except Exception as exc:  # caught here: the span must not record its message
                failed = exc
                _mark_failed(span, exc)
                if span.is_recording():  # exported: the report can point at it
                    with contextlib.suppress(TypeError):
                        failed_in[key] = span.get_span_context()
        if failed is not None:
            raise failed
        return result

    @property
    def _span_key(self) -> str:
        # ``Interaction.extras``: discord.py's place for data of one interaction's processing.
        return f"otel_discord.command_span.{id(self)}"

    @staticmethod
    def _slash_arguments(interaction: discord.Interaction[Any]) -> list[str]:
        # A hybrid command run as slash keeps its Context here: its converted values too.
        ctx = getattr(interaction, "_baton", None)
        if isinstance(ctx, commands.Context):
            return context_arguments(ctx)
        return interaction_arguments(interaction)

    def instrument_cog(self, cog: commands.Cog, bot: AnyBot | None = None) -> None:
        for command in cog.walk_commands():
            self._hook_command(command)
            # A hybrid command's slash side is not among the cog's app commands.
            hybrid_app = getattr(command, "app_command", None)
            if isinstance(hybrid_app, app_commands.Command):
                self._hook_app_command(hybrid_app)
        for app_command in cog.walk_app_commands():
            if isinstance(app_command, app_commands.Command):
                self._hook_app_command(app_command)
        if any(True for _ in cog.walk_app_commands()):
            self._app_cogs.add(cog)
        for _name, method in cog.get_listeners():
            code = getattr(getattr(method, "__func__", method), "__code__", None)
            if code is not None:
                self._listener_code[code] = cog.qualified_name
        package = type(cog).__module__.split(".", 1)[0]
        self.reports.breadcrumbs.watch(package)
        # Red's convention for a cog's logger (``getLogger("red.<cog>")``, as Red's own cogs do).
        self.reports.breadcrumbs.watch(f"red.{package}")
        self._cogs.add(cog)
        if bot is not None:
            self.chain_bot(bot)
            # A weak reference: the hooks must not keep a closed bot alive.
            ref = weakref.ref(bot)
            self.start_with(lambda: self._loaded_in(ref()))
            if bot.is_ready():
                # Instrumented before ``add_cog``: count the cog as loaded already.
                self.send_start(lambda: self._loaded_in(ref(), also=cog))

    def _loaded_in(self, bot: AnyBot | None, also: commands.Cog | None = None) -> int:
        if bot is None:
            return 0
        loaded = {c for c in list(self._cogs) if bot.get_cog(c.qualified_name) is c}
        if also is not None:
            loaded.add(also)
        return len(loaded)

    # -- the start-up event ------------------------------------------------------------------

    def start_with(self, count: Callable[[], int]) -> None:
        """Send the reporter's start-up event with ``count()`` cogs when the bot is ready (the
        integration calls :meth:`send_start` then, and on every ``on_ready``)."""
        self._start_count = count

    def send_start(self, count: Callable[[], int] | None = None) -> None:
        """``reporter.started(cogs=count())`` unless already sent this run. Without ``errors``
        consent it stays due: the next ``on_ready`` or instrumented command tries again.
        Never raises."""
        count = count or self._start_count
        if self._start_done or count is None:
            return
        try:
            sent = self.reporter.started(cogs=count())
            # Not sent but already done this run: the author's own call, or this reporter
            # before a reload. Either way nothing is left to retry.
            if sent or self.reporter._events.start_sent:
                self._start_done = True
        except Exception:
            log.debug("otel_discord: could not send the start-up event", exc_info=True)

    # -- bot-level chains --------------------------------------------------------------------

    def instrument_bot(self, bot: AnyBot, packages: Iterable[str]) -> None:
        for package in packages:
            if not isinstance(package, str) or not package:
                raise ValueError(f"instrument_bot: package names must be strings, not {package!r}")
            self.packages.add(package)
            self.reports.breadcrumbs.watch(package)
        self.chain_bot(bot)

    def chain_bot(self, bot: AnyBot) -> None:
        """Chain ``bot.on_error`` and ``bot.tree.on_error`` (once per bot)."""
        if bot in self._chained:
            return
        self._chained.add(bot)
        self._chain_on_error(bot)
        tree = getattr(bot, "tree", None)
        if isinstance(tree, app_commands.CommandTree):
            self._chain_tree(tree)

        async def on_ready() -> None:
            self._learn_shards(bot)
            self.send_start()

        # Shard ids are known once connected, and the start-up event waits for the bot to be
        # ready; a plain listener changes no default handler.
        bot.add_listener(on_ready, "on_ready")
        if bot.is_ready():
            self._learn_shards(bot)

    def _learn_shards(self, bot: AnyBot) -> None:
        ids = getattr(bot, "shard_ids", None)
        if ids is None:
            ids = bot.shard_id
        if ids is not None or bot.shard_count is not None:
            self.reporter.set_shards(ids, bot.shard_count)

    def _chain_on_error(self, bot: AnyBot) -> None:
        original: Callable[..., Coroutine[Any, Any, None]] = bot.on_error

        async def on_error(event_method: str, /, *args: Any, **kwargs: Any) -> None:
            error = sys.exc_info()[1]
            if error is not None:
                try:
                    self._listener_error(event_method, error, args)
                except Exception:  # ours must never keep the bot's on_error from running
                    log.debug("otel_discord: could not report a listener error", exc_info=True)
            await original(event_method, *args, **kwargs)

        bot.on_error = on_error  # type: ignore[method-assign]

    def _listener_error(
        self, event_method: str, error: BaseException, args: tuple[Any, ...]
    ) -> None:
        cog = self._listener_cog(error)
        if cog is None and not (self.packages and in_packages(error, self.packages)):
            return
        attributes: dict[str, Any] = {A.DISCORD_LISTENER: event_method}
        if cog is not None:
            attributes[A.DISCORD_COG] = cog
        if args:
            attributes.update(_ids(args[0]))
        self.reports.capture(error, "listener", attributes, arguments=listener_arguments(args))

    def _listener_cog(self, error: BaseException) -> str | None:
        if not self._listener_code:
            return None
        tb = error.__traceback__
        while tb is not None:
            cog = self._listener_code.get(tb.tb_frame.f_code)
            if cog is not None:
                return cog
            tb = tb.tb_next
        return None

    def _chain_tree(self, tree: app_commands.CommandTree[Any]) -> None:
        original = tree.on_error

        async def on_error(
            interaction: discord.Interaction[Any], error: app_commands.AppCommandError, /
        ) -> None:
            try:
                self._app_error(interaction, error)
            except Exception:  # ours must never keep the tree's handler from running
                log.debug("otel_discord: could not report an app command error", exc_info=True)
            await original(interaction, error)

        tree.on_error = on_error  # type: ignore[method-assign]

    def _app_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        command = interaction.command
        binding = getattr(command, "binding", None)
        ours = isinstance(binding, commands.Cog) and binding in self._app_cogs
        if not ours and not (self.packages and in_packages(error, self.packages)):
            return
        if not self.reports.should_report(error):
            return
        parent = interaction.extras.pop(self._span_key, None)
        self.reports.capture(
            error,
            "slash",
            _interaction_attributes(interaction),
            arguments=interaction_arguments(interaction),
            parent=parent if isinstance(parent, SpanContext) else None,
        )
