"""Scrubbing: an ordered list of small rules that remove secrets and personal data from text.

Each rule has one job (the bot token, invites, IP addresses, Discord IDs, ...). A
:class:`Scrubber` runs its rules in order over every string a span can carry.
"""

from otel_discord.scrubbing._rules import (
    BotTokenRule,
    DiscordIdRule,
    InviteRule,
    IpAddressRule,
    Rule,
    SecretKeyRule,
    default_rules,
)
from otel_discord.scrubbing._scrubber import Counts, KeepCallback, Scrubber, ScrubMatch

__all__ = [
    "BotTokenRule",
    "Counts",
    "DiscordIdRule",
    "InviteRule",
    "IpAddressRule",
    "KeepCallback",
    "Rule",
    "ScrubMatch",
    "Scrubber",
    "SecretKeyRule",
    "default_rules",
]
