"""discord.py instrumentation: background loops, cog/app-command/listener errors, the owner's
consent DM and the owner-only ``telemetry`` cog. Sits above the reporter: it only uses
``reporter.span``, ``reporter.tracer``, consent and the pipeline; :class:`otel_discord.Telemetry`
exposes it as ``telemetry.loop``, ``telemetry.instrument_cog`` and friends."""

from otel_discord.hooks._cogs import DiscordHooks, forward_unhandled
from otel_discord.hooks._errors import (
    DEFAULT_USER_ERRORS,
    ErrorReport,
    ErrorReports,
    innermost_frame,
    is_user_error,
    unwrap,
)
from otel_discord.hooks._loops import InstrumentedLoop, instrument_loop, loop
from otel_discord.hooks._owners import (
    DEFAULT_DISABLE_COMMAND,
    DEFAULT_ENABLE_COMMAND,
    DEFAULT_PREVIEW_COMMAND,
    OwnerCog,
    OwnerControls,
    OwnerNotifier,
    bot_prefix,
    join_owner_cog,
    leave_owner_cog,
    make_owner_cog,
    owner_ids,
    span_as_dict,
)

__all__ = [
    "DEFAULT_DISABLE_COMMAND",
    "DEFAULT_ENABLE_COMMAND",
    "DEFAULT_PREVIEW_COMMAND",
    "DEFAULT_USER_ERRORS",
    "DiscordHooks",
    "ErrorReport",
    "ErrorReports",
    "InstrumentedLoop",
    "OwnerCog",
    "OwnerControls",
    "OwnerNotifier",
    "bot_prefix",
    "forward_unhandled",
    "innermost_frame",
    "instrument_loop",
    "is_user_error",
    "join_owner_cog",
    "leave_owner_cog",
    "loop",
    "make_owner_cog",
    "owner_ids",
    "span_as_dict",
    "unwrap",
]
