"""Attribute names this package emits. Semantic-convention names where one exists; ``discord.*``
and ``otel_discord.*`` for the rest. "What is sent" in the docs lists every one of them."""

from __future__ import annotations

# OpenTelemetry semantic conventions
EXCEPTION_TYPE = "exception.type"
EXCEPTION_MESSAGE = "exception.message"
EXCEPTION_STACKTRACE = "exception.stacktrace"
EXCEPTION_ESCAPED = "exception.escaped"
ERROR_TYPE = "error.type"
CODE_FUNCTION = "code.function"

# discord.*: where the span or error came from
DISCORD_KIND = "discord.kind"  # prefix | slash | hybrid | listener | loop
DISCORD_COG = "discord.cog"
DISCORD_COMMAND = "discord.command"  # qualified name
DISCORD_LISTENER = "discord.listener"  # event name
DISCORD_LOOP = "discord.loop"
DISCORD_LOOP_ITERATION = "discord.loop.iteration"
DISCORD_LOOP_INTERVAL = "discord.loop.interval_s"
DISCORD_LOOP_OVERRAN = "discord.loop.overran"
DISCORD_GUILD_ID = "discord.guild.id"
DISCORD_CHANNEL_ID = "discord.channel.id"
DISCORD_USER_ID = "discord.user.id"
DISCORD_SHARD_ID = "discord.shard.id"
DISCORD_SHARD_COUNT = "discord.shard.count"
DISCORD_CLUSTER = "discord.cluster"
REDBOT_VERSION = "redbot.version"  # resource, only on Red-DiscordBot (otel_discord.red)

# otel_discord.*: the package's own bookkeeping
SCRUBBED = "otel_discord.scrubbed"  # "rule:count" strings
INSTALL_ID = "otel_discord.install_id"
ERROR_CODE = "otel_discord.error.code"  # short code the owner can use with `telemetry send`
SUPPRESSED = "otel_discord.error.suppressed"  # identical errors not reported in the window
BREADCRUMB_LEVEL = "otel_discord.breadcrumb.level"  # event "breadcrumb": a recent log record
BREADCRUMB_LOGGER = "otel_discord.breadcrumb.logger"  # of the reporter's own loggers only
BREADCRUMB_MESSAGE = "otel_discord.breadcrumb.message"  # formatted message, scrubbed

# otel_discord.event.*: product events (log records; see docs/events.md)
EVENT_FEATURE = "otel_discord.event.feature"  # short lowercase dotted identifier
EVENT_ACTION = "otel_discord.event.action"  # short lowercase dotted identifier
EVENT_CATEGORY = "otel_discord.event.category"  # consent category: usage | errors
EVENT_METADATA_PREFIX = "otel_discord.event.metadata."  # + key: numbers and booleans only
EVENT_PRIVATE_PREFIX = "otel_discord.event.private."  # + key: only the reporter's allowlisted keys

# start-up ("otel_discord.started") and daily "otel_discord.still_running" events
VERSION_REPORTER = "otel_discord.version.reporter"
VERSION_OTEL_DISCORD = "otel_discord.version.otel_discord"
VERSION_DISCORD_PY = "otel_discord.version.discord_py"
VERSION_PYTHON = "otel_discord.version.python"
VERSION_RED = "otel_discord.version.red"  # "none" outside Red
STARTED_COGS = "otel_discord.cogs.loaded"  # the reporter's cogs loaded
STARTED_UPTIME = "otel_discord.uptime_s"  # still_running only
