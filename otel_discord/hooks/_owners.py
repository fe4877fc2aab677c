"""The owner's side: the consent DM on first load, and the owner-only ``telemetry`` commands.

:class:`OwnerControls` holds the logic and returns plain text, so Red's ``[p]telemetry`` can reuse
it; :func:`make_owner_cog` wraps it in a ready discord.py cog, and :func:`join_owner_cog` /
:func:`leave_owner_cog` share one such cog between every reporter of a bot.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands
from opentelemetry.sdk.trace import ReadableSpan

from otel_discord.consent import CATEGORIES, ConsentRecord, kill_switch
from otel_discord.hooks._types import AnyBot

if TYPE_CHECKING:
    from otel_discord.hooks._errors import ErrorReports

__all__ = [
    "DEFAULT_DISABLE_COMMAND",
    "DEFAULT_ENABLE_COMMAND",
    "DEFAULT_PREVIEW_COMMAND",
    "OWNER_COG_NAME",
    "OwnerCog",
    "OwnerControls",
    "OwnerNotifier",
    "bot_prefix",
    "join_owner_cog",
    "leave_owner_cog",
    "make_owner_cog",
    "owner_ids",
    "span_as_dict",
]

log = logging.getLogger("otel_discord.hooks")

#: What a consent record's ``notified`` holds for a cog whose load was announced.
NOTIFIED_PREFIX = "cog:"

#: ``{prefix}`` and ``{reporter}`` are filled in. Red's cog passes its own.
DEFAULT_ENABLE_COMMAND = "{prefix}telemetry enable {reporter}"
DEFAULT_DISABLE_COMMAND = "{prefix}telemetry disable {reporter}"
DEFAULT_PREVIEW_COMMAND = "{prefix}telemetry preview {reporter}"

_CONTENTS = """\
errors from {cog}'s commands, listeners and background loops (exception type, message and stack \
trace, command name, shortened server/channel/user IDs, the cog's last log lines), and the timing \
of its background loops. Never message content, never command arguments; tokens, invites, \
webhooks, IPs and e-mail addresses are removed first."""

#: The first DM of a reporter that is off; ``{off}`` is one of the two sentences below.
MASTER_MESSAGE = (
    """\
Hello! **{cog}** on your bot can send error reports to its author through **{reporter}** \
(otel-discord). It is **off**: {off}

What it would send: """
    + _CONTENTS
    + """
Where it would go: {destinations}.

See exactly what would be sent: `{preview}`
Turn it on: `{enable}`"""
)
#: Off, and the owner never decided on ``errors``.
OFF_UNDECIDED = "nothing has been or will be sent unless you turn it on."
#: Off because the owner turned it off (earlier, perhaps with another cog of this reporter).
OFF_DECIDED = "you turned it off, and nothing is sent unless you turn it on again."

#: The first DM of a reporter the operator's configuration turned on (``enabled = true`` or
#: ``OTEL_DISCORD_ENABLED=true``) and the owner has not turned off: errors are being sent.
MASTER_MESSAGE_ON = (
    """\
Hello! **{cog}** on your bot sends error reports to its author through **{reporter}** \
(otel-discord). It is **on**: the bot's configuration turned it on (`enabled = true` or \
`OTEL_DISCORD_ENABLED=true`), so errors are being sent.

What it sends: """
    + _CONTENTS
    + """
Where it goes: {destinations}.

See exactly what is sent: `{preview}`
Turn it off: `{disable}`"""
)

REMINDER_MESSAGE = """\
**{cog}** also reports through **{reporter}** (otel-discord), which is **off**. \
Turn it on: `{enable}`"""

REMINDER_MESSAGE_ON = """\
**{cog}** also reports through **{reporter}** (otel-discord), which is **on** (turned on in \
the bot's configuration). Turn it off: `{disable}`"""


async def owner_ids(bot: AnyBot) -> set[int]:
    """The bot owner(s): ``owner_id(s)`` if set, else the application owner or team members."""
    ids = set(bot.owner_ids or ())
    if bot.owner_id:
        ids.add(bot.owner_id)
    if ids:
        return ids
    app = await bot.application_info()
    if app.team is not None:
        return {member.id for member in app.team.members}
    return {app.owner.id} if app.owner is not None else set()


def _first_text_prefix(prefixes: Iterable[str], bot: AnyBot) -> str | None:
    mention_ids = {f"<@{bot.user.id}>", f"<@!{bot.user.id}>"} if bot.user else set()
    for prefix in prefixes:
        if isinstance(prefix, str) and prefix and prefix.strip() not in mention_ids:
            return prefix
    return None


async def bot_prefix(bot: AnyBot) -> str:
    """The prefix an owner would type, from the bot's real configuration."""
    get_valid = getattr(bot, "get_valid_prefixes", None)  # Red
    found: Any = None
    try:
        if get_valid is not None:
            found = await get_valid()
        else:
            found = bot.command_prefix
            if callable(found):
                # when_mentioned_or(...) and most prefix callables ignore the message here.
                found = found(bot, None)
                if asyncio.iscoroutine(found):
                    found = await found
    except Exception:
        log.debug("otel_discord: could not resolve the bot's prefix", exc_info=True)
        found = None
    if isinstance(found, str):
        found = [found]
    prefix = _first_text_prefix(found or (), bot) if found is not None else None
    if prefix is not None:
        return prefix
    return f"@{bot.user.name} " if bot.user else "@bot "


def _destinations(reports: ErrorReports) -> str:
    config = reports.reporter.config
    names = []
    for exporter in config.exporters:
        if exporter == "otlp" and config.otlp_endpoint:
            from urllib.parse import urlsplit

            names.append(f"an OpenTelemetry collector at {urlsplit(config.otlp_endpoint).hostname}")
        elif exporter == "sentry":
            names.append("the author's Sentry project")
        elif exporter == "file":
            names.append("a local file in the bot's data folder")
        elif exporter == "console":
            names.append("the bot's console")
        else:
            names.append(exporter)
    return ", ".join(names) or "nowhere (no exporter configured)"


#: One lock per bot and reporter name, shared by every notifier of that name: two
#: ``Telemetry("mycog")`` objects (an extension reload) must not both DM about one cog.
_NOTIFY_LOCKS: weakref.WeakKeyDictionary[Any, dict[str, asyncio.Lock]] = weakref.WeakKeyDictionary()


def _notify_lock(bot: AnyBot, reporter: str) -> asyncio.Lock:
    locks = _NOTIFY_LOCKS.get(bot)
    if locks is None:
        locks = _NOTIFY_LOCKS[bot] = {}
    lock = locks.get(reporter)
    if lock is None:
        lock = locks[reporter] = asyncio.Lock()
    return lock


class OwnerNotifier:
    """Sends the consent DM: a full message for a reporter's first cog, a short reminder for each
    further cog, never twice for a cog (recorded in the consent store's ``notified``)."""

    def __init__(
        self,
        reports: ErrorReports,
        *,
        enable_command: str = DEFAULT_ENABLE_COMMAND,
        preview_command: str = DEFAULT_PREVIEW_COMMAND,
        disable_command: str = DEFAULT_DISABLE_COMMAND,
    ) -> None:
        self.reports = reports
        self.reporter = reports.reporter
        self.enable_command = enable_command
        self.preview_command = preview_command
        self.disable_command = disable_command
        self._tasks: set[asyncio.Task[bool]] = set()
        #: How the text reaches the owners; ``None``: a DM to each. Red's integration sets
        #: ``bot.send_to_owners`` (which also honours the owner's extra destinations).
        self.deliver: Callable[[Any, str], Awaitable[bool]] | None = None

    def schedule(self, bot: AnyBot, cog_name: str) -> asyncio.Task[bool] | None:
        """Notify in the background once the bot is ready (never blocks, never raises)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        task = loop.create_task(self.notify(bot, cog_name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def wait(self) -> None:
        """Wait for the notifications scheduled so far (tests, orderly shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def notify(self, bot: AnyBot, cog_name: str) -> bool:
        """Send the DM for ``cog_name`` if due. True if at least one owner got it."""
        try:
            # The store may be a file: read it off the event loop.
            if await asyncio.to_thread(self._due, cog_name) is None:  # no waiting for READY
                return False
            async with _notify_lock(bot, self.reporter.name):
                await bot.wait_until_ready()
                # Again now: another notifier of this name may have told the owner meanwhile,
                # and the state the DM describes is the one of this moment.
                due = await asyncio.to_thread(self._due, cog_name)
                if due is None:
                    return False
                return await self._notify(bot, cog_name, *due)
        except Exception:
            log.warning(
                "otel_discord: could not tell the bot owner about %s's telemetry",
                self.reporter.name,
                exc_info=True,
            )
            return False

    def _due(self, cog_name: str) -> tuple[ConsentRecord, str] | None:
        """The record and what the DM says (``"on"``, ``"off"``, ``"off-decided"``), or ``None``
        when no DM is due: the cog was announced, the owner already turned ``errors`` on, or a
        kill switch or ``enabled = false`` in config blocks reporting (an ``enable`` would do
        nothing; the cog is not marked, so it is announced once the block is lifted)."""
        record = self.reporter.consent_store.load(self.reporter.name)
        if NOTIFIED_PREFIX + cog_name in record.notified or record.errors:
            return None
        blocked = kill_switch()
        if blocked is None and self.reporter.config.enabled is False:
            blocked = "enabled = false"
        if blocked is not None or self.reporter._closed:
            log.debug(
                "otel_discord: no consent DM for %s's %s: %s",
                self.reporter.name,
                cog_name,
                blocked or "reporter shut down",
            )
            return None
        if self.reporter._errors_on(record):  # the operator's ``enabled = true``
            return record, "on"
        return record, "off-decided" if "errors" in record.decided_categories else "off"

    async def _notify(self, bot: AnyBot, cog_name: str, record: ConsentRecord, state: str) -> bool:
        marker = NOTIFIED_PREFIX + cog_name
        first = not any(n.startswith(NOTIFIED_PREFIX) for n in record.notified)
        prefix = await bot_prefix(bot)
        fields = {"prefix": prefix, "reporter": self.reporter.name}
        if state == "on":
            template = MASTER_MESSAGE_ON if first else REMINDER_MESSAGE_ON
        else:
            template = MASTER_MESSAGE if first else REMINDER_MESSAGE
        text = template.format(
            cog=cog_name,
            reporter=self.reporter.name,
            off=OFF_DECIDED if state == "off-decided" else OFF_UNDECIDED,
            destinations=_destinations(self.reports),
            enable=self.enable_command.format(**fields).strip(),
            disable=self.disable_command.format(**fields).strip(),
            preview=self.preview_command.format(**fields).strip(),
        )
        if self.deliver is not None:
            sent = await self.deliver(bot, text)
        else:
            sent = await self._dm_owners(bot, text)
        if sent:
            await asyncio.to_thread(self._mark_notified, marker)
        return sent

    def _mark_notified(self, marker: str) -> None:
        from dataclasses import replace

        latest = self.reporter.consent_store.load(self.reporter.name)
        self.reporter.consent_store.save(replace(latest, notified=(*latest.notified, marker)))

    async def _dm_owners(self, bot: AnyBot, text: str) -> bool:
        sent = False
        ids = await owner_ids(bot)
        if not ids:
            log.warning("otel_discord: no bot owner to tell about %s", self.reporter.name)
        for owner_id in sorted(ids):
            try:
                user = bot.get_user(owner_id) or await bot.fetch_user(owner_id)
                await user.send(text)
                sent = True
            except Exception as exc:
                log.warning(
                    "otel_discord: could not DM bot owner %s about %s (%s)",
                    owner_id,
                    self.reporter.name,
                    type(exc).__name__,
                )
        return sent


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def span_as_dict(span: ReadableSpan) -> dict[str, Any]:
    """A report as the owner reads it: name, status and its description, attributes, events."""
    return {
        "name": span.name,
        "status": span.status.status_code.name,
        "status_description": span.status.description,
        "attributes": {k: _plain(v) for k, v in (span.attributes or {}).items()},
        "events": [
            {"name": e.name, "attributes": {k: _plain(v) for k, v in (e.attributes or {}).items()}}
            for e in span.events
        ],
    }


def _private_keys(keys: frozenset[str]) -> str:
    """The free-text keys a reporter's usage events may carry, for the owner to see."""
    return f"; usage events may carry private metadata {', '.join(sorted(keys))}" if keys else ""


class OwnerControls:
    """``status``, ``enable``, ``disable``, ``preview`` and ``send`` for one or more reporters,
    as plain text (reused by Red's ``[p]telemetry``)."""

    def __init__(self, reports: Sequence[ErrorReports]) -> None:
        self.reports: dict[str, ErrorReports] = {r.reporter.name: r for r in reports}

    def add(self, reports: ErrorReports) -> None:
        """Add a reporter; one of the same name (an extension reloaded) is replaced."""
        self.reports[reports.reporter.name] = reports

    def remove(self, reports: ErrorReports) -> bool:
        """Take this reporter out; not another one of the same name that replaced it."""
        if self.reports.get(reports.reporter.name) is not reports:
            return False
        del self.reports[reports.reporter.name]
        return True

    def pick(self, name: str | None) -> ErrorReports:
        """The reporter named ``name`` (optional when there is only one); ``KeyError`` with a
        message listing the names otherwise."""
        if name is None and len(self.reports) == 1:
            return next(iter(self.reports.values()))
        if name is not None and name in self.reports:
            return self.reports[name]
        known = ", ".join(sorted(self.reports)) or "none"
        raise KeyError(f"name one of the reporters: {known}")

    def status(self) -> str:
        lines = []
        for name, reports in sorted(self.reports.items()):
            reporter = reports.reporter
            record = reporter.consent_record
            state = "on" if reporter.enabled else "off"
            lines.append(
                f"{name}: errors {state}, usage {'on' if reporter.allows('usage') else 'off'}; "
                f"exporters {', '.join(reporter.config.exporters) or 'none'}; "
                f"{len(reports.buffer)} recent error(s) kept locally; decided "
                f"{record.decided_at or 'never'}"
                + _private_keys(reporter.private_metadata_keys)
            )
        return "\n".join(lines) or "no reporters"

    def enable(self, name: str | None = None, *categories: str) -> str:
        """Turn ``categories`` (default ``errors``) of reporter ``name`` (or ``all``) on."""
        return self.decide(True, name, categories)

    def disable(self, name: str | None = None, *categories: str) -> str:
        """Turn ``categories`` (default: every one) of reporter ``name`` (or ``all``) off."""
        return self.decide(False, name, categories)

    def decide(self, enabled: bool, name: str | None, categories: Sequence[str] = ()) -> str:
        """The owner's decision, as Red's ``[p]telemetry enable|disable [reporter|all]
        [categories...]``: the first word may be a category when it names no reporter. The
        reply says what is on afterwards, as the reporter sees it (a kill switch or
        ``enabled = false`` in config still wins over an ``enable``)."""
        if name is not None and name in CATEGORIES and name not in self.reports:
            categories, name = (name, *categories), None
        unknown = [c for c in categories if c not in CATEGORIES]
        if unknown:
            return f"Unknown category {unknown[0]!r}; use {' or '.join(CATEGORIES)}."
        if name is not None and name.lower() == "all":
            targets = [self.reports[n] for n in sorted(self.reports)]
        else:
            try:
                targets = [self.pick(name)]
            except KeyError as exc:
                return f"{exc.args[0]} (or all)"
        lines = []
        for reports in targets:
            reporter = reports.reporter
            if enabled:
                reporter.enable(*categories)
                # The start-up event waited for consent: it goes now, not at the next command.
                hooks = getattr(reporter, "discord", None)
                if hooks is not None:
                    hooks.send_start()
            else:
                reporter.disable(*categories)
            on = [c for c in CATEGORIES if reporter.allows(c)]
            lines.append(f"{reporter.name}: {', '.join(on) or 'nothing'} on.")
        return "\n".join(lines) or "No reporters."

    def preview(self, name: str | None = None) -> str:
        """The resource and the most recent error report, exactly as they would be sent."""
        reports = self.pick(name)
        latest = reports.latest()
        resource = dict(reports.reporter._processor.resource.attributes)
        shown: dict[str, Any] = {"resource": {k: _plain(v) for k, v in resource.items()}}
        if latest is not None:
            shown["code"] = latest.code
            shown["sent"] = latest.exported
            shown["report"] = span_as_dict(latest.span)
        else:
            shown["report"] = None
        return json.dumps(shown, indent=2, default=str)

    async def send(self, code: str, name: str | None = None) -> str:
        reports = self.pick(name) if name is not None else self._by_code(code)
        report = reports.find(code)
        if report is None:
            return f"No recent error with code {code.strip().upper()} (only the last few are kept)."
        if report.exported:
            return f"Error {report.code} was already sent."
        refused = reports.send_refused()
        if refused is not None:
            return f"Error {report.code} not sent: {refused}, which wins over sending it."
        ok = await asyncio.to_thread(reports.send, report.code)
        return f"Error {report.code} sent." if ok else f"Error {report.code} could not be sent."

    def _by_code(self, code: str) -> ErrorReports:
        for reports in self.reports.values():
            if reports.find(code) is not None:
                return reports
        return self.pick(None) if len(self.reports) == 1 else next(iter(self.reports.values()))


async def _reply(ctx: commands.Context[Any], text: str, filename: str = "telemetry.txt") -> None:
    if len(text) <= 1900:
        await ctx.send(f"```\n{text}\n```" if text.startswith("{") else text)
    else:
        await ctx.send(file=discord.File(io.BytesIO(text.encode()), filename=filename))


class OwnerCog(commands.Cog, name="Telemetry"):
    """Error reports of the cogs that use otel-discord (owner only)."""

    def __init__(self, controls: OwnerControls) -> None:
        self.controls = controls

    async def cog_check(self, ctx: commands.Context[Any]) -> bool:
        return bool(await ctx.bot.is_owner(ctx.author))

    @commands.group(name="telemetry", invoke_without_command=True)
    async def telemetry(self, ctx: commands.Context[Any]) -> None:
        """Show whether each reporter is on."""
        await _reply(ctx, self.controls.status())

    @telemetry.command(name="status")  # type: ignore[arg-type]
    async def status(self, ctx: commands.Context[Any]) -> None:
        """Show whether each reporter is on."""
        await _reply(ctx, self.controls.status())

    @telemetry.command(name="enable")  # type: ignore[arg-type]
    async def enable(
        self, ctx: commands.Context[Any], reporter: str | None = None, *categories: str
    ) -> None:
        """Turn a reporter (or `all`) on; categories `errors` (default) and `usage`."""
        # A decision writes the consent store (a file): off the event loop.
        await _reply(ctx, await asyncio.to_thread(self.controls.enable, reporter, *categories))

    @telemetry.command(name="disable")  # type: ignore[arg-type]
    async def disable(
        self, ctx: commands.Context[Any], reporter: str | None = None, *categories: str
    ) -> None:
        """Turn a reporter (or `all`) off; by default every category."""
        await _reply(ctx, await asyncio.to_thread(self.controls.disable, reporter, *categories))

    @telemetry.command(name="preview")  # type: ignore[arg-type]
    async def preview(self, ctx: commands.Context[Any], reporter: str | None = None) -> None:
        """Show what would be sent: resource and the latest error report."""
        await self._run(ctx, self.controls.preview, reporter)

    @telemetry.command(name="send")  # type: ignore[arg-type]
    async def send(self, ctx: commands.Context[Any], code: str) -> None:
        """Send one recent error by its code, even while reporting is off."""
        await ctx.send(await self.controls.send(code))

    async def _run(
        self, ctx: commands.Context[Any], action: Callable[[str | None], str], name: str | None
    ) -> None:
        try:
            text = action(name)
        except KeyError as exc:
            text = str(exc.args[0])
        await _reply(ctx, text)


def make_owner_cog(controls: OwnerControls) -> commands.Cog:
    """An owner-only cog with ``telemetry status | enable | disable | preview | send <code>``."""
    return OwnerCog(controls)


#: The owner cog's name (``bot.get_cog("Telemetry")``, ``help Telemetry``).
OWNER_COG_NAME: str = OwnerCog.__cog_name__


async def join_owner_cog(bot: AnyBot, reports: ErrorReports) -> OwnerCog | None:
    """Add ``reports`` to the bot's :class:`OwnerCog` (one made by ``owner_cog()`` included), or
    add a new one holding it. Never raises: a cog named ``Telemetry`` that is not otel-discord's
    is left alone, with a warning, and ``None`` is returned (so is it when adding fails)."""
    name = reports.reporter.name
    try:
        existing = bot.get_cog(OWNER_COG_NAME)
        if isinstance(existing, OwnerCog):
            existing.controls.add(reports)
            return existing
        if existing is not None:
            log.warning(
                "otel_discord: the bot already has a cog named %r (%s.%s) that is not "
                "otel-discord's; it is left alone, and the owner has no `telemetry enable %s` "
                "command. Rename that cog to use otel-discord's owner commands.",
                OWNER_COG_NAME,
                type(existing).__module__,
                type(existing).__qualname__,
                name,
            )
            return None
        # No lock: ``add_cog`` stores the cog before its first suspension (OwnerCog has no
        # ``cog_load``), so two extensions set up at once cannot both find no cog and add one.
        cog = OwnerCog(OwnerControls([reports]))
        await bot.add_cog(cog)
        return cog
    except Exception:
        log.warning("otel_discord: could not add %s to the owner cog", name, exc_info=True)
        return None


async def leave_owner_cog(bot: AnyBot, reports: ErrorReports) -> None:
    """Take ``reports`` out of the bot's :class:`OwnerCog`; remove the cog once no reporter is
    left in it. A reporter of the same name that replaced this one (a reload) stays. Never
    raises."""
    try:
        existing = bot.get_cog(OWNER_COG_NAME)
        if not isinstance(existing, OwnerCog):
            return
        if existing.controls.remove(reports) and not existing.controls.reports:
            await bot.remove_cog(OWNER_COG_NAME)
    except Exception:
        log.warning(
            "otel_discord: could not take %s out of the owner cog",
            reports.reporter.name,
            exc_info=True,
        )
