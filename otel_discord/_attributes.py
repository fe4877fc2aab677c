"""Attribute names this package emits. Semantic-convention names where one exists; ``discord.*``
and ``otel_discord.*`` for the rest. "What is sent" in the docs lists every one of them."""

from __future__ import annotations

# OpenTelemetry semantic conventions
EXCEPTION_TYPE = "exception.type"
EXCEPTION_MESSAGE = "exception.message"
EXCEPTION_STACKTRACE = "exception.stacktrace"
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

# otel_discord.*: the package's own bookkeeping
SCRUBBED = "otel_discord.scrubbed"  # "rule:count" strings
INSTALL_ID = "otel_discord.install_id"
ERROR_CODE = "otel_discord.error.code"  # short code the owner can use with `telemetry send`
SUPPRESSED = "otel_discord.error.suppressed"  # identical errors not reported in the window
