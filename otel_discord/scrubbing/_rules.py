"""The scrubbing rules. Each is one small object with one job and a fixed marker word.

Markers never contain any part of what they replace.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from otel_discord.scrubbing._scrubber import Counts, Scrubber

__all__ = [
    "BotTokenRule",
    "DiscordIdRule",
    "InviteRule",
    "IpAddressRule",
    "RegexRule",
    "Rule",
    "SecretKeyRule",
    "default_rules",
]


class Rule:
    """Base rule: ``scrub`` rewrites text; ``redacts_key`` says a key's whole value must go."""

    name: str = "rule"
    marker: str = "REDACTED"

    def scrub(self, text: str, scrubber: Scrubber, counts: Counts | None, key: str | None) -> str:
        return text

    def redacts_key(self, key: str) -> bool:
        return False


class RegexRule(Rule):
    """Replace every match of ``pattern`` (optionally validated) with a marker."""

    def __init__(
        self,
        name: str,
        pattern: str | re.Pattern[str],
        marker: str,
        *,
        validate: Callable[[re.Match[str]], bool] | None = None,
        prefilter: Callable[[str], bool] | None = None,
    ) -> None:
        self.name = name
        self.marker = marker
        self.pattern = re.compile(pattern) if isinstance(pattern, str) else pattern
        self.validate = validate
        self.prefilter = prefilter

    def replacement(self, match: re.Match[str]) -> str:
        return self.marker

    def scrub(self, text: str, scrubber: Scrubber, counts: Counts | None, key: str | None) -> str:
        if self.prefilter is not None and not self.prefilter(text):
            return text

        def repl(match: re.Match[str]) -> str:
            if self.validate is not None and not self.validate(match):
                return match.group(0)
            if scrubber._kept(self.name, match.group(0), key):
                return match.group(0)
            if counts is not None:
                counts[self.name] += 1
            return self.replacement(match)

        return self.pattern.sub(repl, text)


class BotTokenRule(Rule):
    """The bot's own token by exact value, and anything shaped like a Discord bot token."""

    name = "bot_token"
    marker = "BOT-TOKEN"
    SHAPE = re.compile(r"(?<![\w-])[MNOA-Za-z0-9_-]{23,28}\.[\w-]{6,7}\.[\w-]{27,38}(?![\w-])")

    def __init__(self, token: str | None = None) -> None:
        self.token: str | None = None
        self.set_token(token)

    def set_token(self, token: str | None) -> None:
        """Set the bot's own token; ``None``, empty or very short values are ignored safely."""
        self.token = token.strip() if isinstance(token, str) and len(token.strip()) >= 8 else None

    def scrub(self, text: str, scrubber: Scrubber, counts: Counts | None, key: str | None) -> str:
        if self.token and self.token in text:
            n = text.count(self.token)
            text = text.replace(self.token, self.marker)
            if counts is not None:
                counts[self.name] += n
        if "." not in text:
            return text

        def repl(match: re.Match[str]) -> str:
            if scrubber._kept(self.name, match.group(0), key):
                return match.group(0)
            if counts is not None:
                counts[self.name] += 1
            return self.marker

        return self.SHAPE.sub(repl, text)


_INVITE = re.compile(
    r"(?:https?://)?(?:www\.)?"
    r"(?:(?:canary\.|ptb\.)?discord(?:app)?\.com/invite|discord\.(?:gg|io|me|li)|dsc\.gg)"
    r"/[A-Za-z0-9-]{1,64}",
    re.IGNORECASE,
)


class InviteRule(RegexRule):
    """Discord invite links with a bounded end (the code's own characters only)."""

    def __init__(self) -> None:
        super().__init__(
            "invite",
            _INVITE,
            "DISCORD-INVITE-LINK",
            prefilter=lambda t: "/" in t,
        )


_IPV4 = r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]|\.\d)"
_IPV6 = (
    r"(?<![\w:.%])\[?(?:[0-9A-Fa-f]{0,4}:){2,7}"
    r"(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?:%[\w.-]+)?\]?(?![\w:])"
)
_IP = re.compile(f"{_IPV6}|{_IPV4}")


def _is_ip(match: re.Match[str]) -> bool:
    text = match.group(0).strip("[]")
    if ":" in text:
        # Reject "::" and "a::b"-shaped code (std::vector is not matched: letters past f).
        hexdigits = sum(c in "0123456789abcdefABCDEF" for c in text.split("%")[0])
        if hexdigits < 2 or text.count(":") < 2:
            return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class IpAddressRule(RegexRule):
    """IPv4 and IPv6 addresses, confirmed with :mod:`ipaddress` so lookalikes stay."""

    def __init__(self) -> None:
        super().__init__(
            "ip_address",
            _IP,
            "IP-ADDRESS",
            validate=_is_ip,
            prefilter=lambda t: "." in t or ":" in t,
        )


_EMAIL = re.compile(
    r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])"
)


class EmailRule(RegexRule):
    """E-mail addresses."""

    def __init__(self) -> None:
        super().__init__("email", _EMAIL, "EMAIL", prefilter=lambda t: "@" in t)


DISCORD_EPOCH_MS = 1_420_070_400_000


class DiscordIdRule(RegexRule):
    """Discord snowflakes (16-20 digits whose timestamp lies between 2015 and now), shortened.

    ``mode="last4"``: ``SHORTENED-ID-dddd``, the last four digits of ``id >> 22`` (the seeds' way).
    ``mode="hash"``: ``SHORTENED-ID-`` + 8 hex of an HMAC keyed with a per-install secret.
    """

    PATTERN = re.compile(r"(?<!\d)\d{16,20}(?!\d)")

    def __init__(self, mode: str = "last4", secret: bytes | None = None) -> None:
        if mode not in ("last4", "hash"):
            raise ValueError("mode must be 'last4' or 'hash'")
        if mode == "hash" and not secret:
            raise ValueError("hash mode needs a secret")
        self.mode = mode
        self.secret = secret or b""
        super().__init__(
            "discord_id",
            self.PATTERN,
            "SHORTENED-ID",
            validate=self._is_snowflake,
            prefilter=lambda t: any(c.isdigit() for c in t),
        )

    @staticmethod
    def _is_snowflake(match: re.Match[str]) -> bool:
        ms = (int(match.group(0)) >> 22) + DISCORD_EPOCH_MS
        return 1_420_070_400_000 <= ms <= time.time() * 1000 + 86_400_000

    def replacement(self, match: re.Match[str]) -> str:
        value = int(match.group(0))
        if self.mode == "hash":
            digest = hmac.new(self.secret, str(value).encode(), hashlib.sha256).hexdigest()
            return f"SHORTENED-ID-{digest[:8]}"
        return f"SHORTENED-ID-{str(value >> 22)[-4:].rjust(4, '0')}"


_SECRET_WORDS = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "auth",
    "authorization",
    "apikey",
    "api_key",
    "cookie",
    "session",
    "credential",
    "credentials",
    "private_key",
    "privatekey",
    "dsn",
)
_KEY_SPLIT = re.compile(r"[^a-z0-9]+")


class SecretKeyRule(Rule):
    """Keys that name secrets (``password``, ``token``, ``api_key``, ...): the whole value goes."""

    name = "secret_key"
    marker = "REDACTED"

    def __init__(self, words: tuple[str, ...] = _SECRET_WORDS) -> None:
        self.words = frozenset(words)
        self._compound = tuple(w for w in words if "_" in w)

    def redacts_key(self, key: str) -> bool:
        low = key.lower()
        parts = [p for p in _KEY_SPLIT.split(low) if p]
        if any(p in self.words for p in parts):
            return True
        joined = "_".join(parts)
        return any(w in joined for w in self._compound)


def default_rules(
    *, token: str | None = None, id_mode: str = "last4", id_secret: bytes | None = None
) -> list[Rule]:
    """The default rule list, in order."""
    return [
        SecretKeyRule(),
        BotTokenRule(token),
        InviteRule(),
        IpAddressRule(),
        EmailRule(),
        DiscordIdRule(id_mode, id_secret),
    ]
