"""Scrubbing: an ordered list of small rules that remove secrets and personal data from text.

Each rule has one job (the bot token, invites, IP addresses, Discord IDs, ...). A
:class:`Scrubber` runs its rules in order over every string a span, event or log record can
carry; :meth:`Scrubber.scrub_data` walks whole JSON-like payloads (Sentry events).
"""

from otel_discord.scrubbing._rules import (
    AuthorizationRule,
    BotTokenRule,
    DiscordIdRule,
    EmailRule,
    HomeDirRule,
    HostNameRule,
    InviteRule,
    IpAddressRule,
    JwtRule,
    QuerySecretRule,
    RegexRule,
    Rule,
    SecretAssignmentRule,
    SecretKeyRule,
    UrlCredentialsRule,
    UserNameRule,
    WebhookRule,
    default_rules,
)
from otel_discord.scrubbing._scrubber import (
    MAX_VALUE_CHARS,
    Counts,
    KeepCallback,
    Scrubber,
    ScrubMatch,
    cut_text,
)

__all__ = [
    "MAX_VALUE_CHARS",
    "AuthorizationRule",
    "BotTokenRule",
    "Counts",
    "DiscordIdRule",
    "EmailRule",
    "HomeDirRule",
    "HostNameRule",
    "InviteRule",
    "IpAddressRule",
    "JwtRule",
    "KeepCallback",
    "QuerySecretRule",
    "RegexRule",
    "Rule",
    "ScrubMatch",
    "Scrubber",
    "SecretAssignmentRule",
    "SecretKeyRule",
    "UrlCredentialsRule",
    "UserNameRule",
    "WebhookRule",
    "cut_text",
    "default_rules",
]
