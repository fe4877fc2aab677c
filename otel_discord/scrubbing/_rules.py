"""The scrubbing rules. Each is one small object with one job and a fixed marker word.

Markers never contain any part of what they replace. Every rule is idempotent (a second pass
finds nothing new: it skips values that already are its marker) and never raises on any text.

A rule may declare a ``gate``: a regular expression that matches somewhere in every text the
rule could change, and a ``low_gate`` that does the same on the lower-cased text of an ASCII
string (so a case-insensitive gate needs no slow ``(?i)`` search). The
:class:`~otel_discord.scrubbing.Scrubber` runs a rule only where its gate matches; gates start
with a literal character where they can, so clean text costs a few fast scans.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import hashlib
import hmac
import ipaddress
import os
import re
import socket
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from otel_discord.scrubbing._scrubber import Counts, Scrubber

__all__ = [
    "AuthorizationRule",
    "BotTokenRule",
    "DiscordIdRule",
    "EmailRule",
    "HomeDirRule",
    "HostNameRule",
    "InviteRule",
    "IpAddressRule",
    "JwtRule",
    "QuerySecretRule",
    "RegexRule",
    "Rule",
    "SecretAssignmentRule",
    "SecretKeyRule",
    "UrlCredentialsRule",
    "UserNameRule",
    "WebhookRule",
    "default_rules",
]

#: Bumped whenever any rule's configuration changes (any attribute set on a rule, e.g. by
#: ``BotTokenRule.set_token``), so that scrubbers rebuild their gates and the span pipeline's
#: memo forgets results made with the old configuration.
_generation = [0]


def config_generation() -> int:
    """A number that changes whenever any rule's configuration changes."""
    return _generation[0]


class Rule:
    """Base rule: ``scrub`` rewrites text; ``redacts_key`` says a key's whole value must go.

    ``gate`` (a regex source, or ``None`` for "always run") must match somewhere in every text
    the rule could change; ``low_gate``, if set, must match somewhere in ``text.lower()`` of every
    ASCII text the rule could change, and is used instead of ``gate`` for ASCII text.
    ``scrubs_text = False`` marks rules that only judge keys.
    """

    name: str = "rule"
    marker: str = "REDACTED"
    gate: str | None = None
    low_gate: str | None = None
    scrubs_text: bool = True

    def __setattr__(self, name: str, value: object) -> None:
        # Results remembered under the old configuration (scrubber gates, the pipeline's memo)
        # must not outlive it; rules set attributes only when configured, never while scrubbing.
        # Only a rule some scrubber has planned with can have such results: building a rule
        # (one per error report, for its argument values) leaves every memo as it is.
        object.__setattr__(self, name, value)
        if self.__dict__.get("_planned", False):
            _generation[0] += 1

    def scrub(self, text: str, scrubber: Scrubber, counts: Counts | None, key: str | None) -> str:
        return text

    def redacts_key(self, key: str) -> bool:
        return False


def _hit(
    rule: Rule, scrubber: Scrubber, counts: Counts | None, value: str, key: str | None
) -> bool:
    """Whether ``value`` is replaced (not kept by the scrubber's callback); counts it if so."""
    if scrubber._kept(rule.name, value, key):
        return False
    if counts is not None:
        counts[rule.name] += 1
    return True


class RegexRule(Rule):
    """Replace every match of ``pattern`` (optionally validated) with a marker.

    ``group``: replace only that group of each match and keep the rest (``key=`` stays,
    the value goes). A match that already is the marker is left alone.
    """

    def __init__(
        self,
        name: str,
        pattern: str | re.Pattern[str],
        marker: str,
        *,
        validate: Callable[[re.Match[str]], bool] | None = None,
        prefilter: Callable[[str], bool] | None = None,
        gate: str | None = None,
        low_gate: str | None = None,
        group: int | str = 0,
    ) -> None:
        self.name = name
        self.marker = marker
        self.pattern = re.compile(pattern) if isinstance(pattern, str) else pattern
        self.validate = validate
        self.prefilter = prefilter
        self.gate = gate
        self.low_gate = low_gate
        self.group = group

    def replacement(self, match: re.Match[str]) -> str:
        return self.marker

    def scrub(self, text: str, scrubber: Scrubber, counts: Counts | None, key: str | None) -> str:
        if self.prefilter is not None and not self.prefilter(text):
            return text
        group = self.group

        def repl(match: re.Match[str]) -> str:
            whole = match.group(0)
            value = match.group(group)
            if value is None or value == self.marker:
                return whole
            if self.validate is not None and not self.validate(match):
                return whole
            if not _hit(self, scrubber, counts, value, key):
                return whole
            if group == 0:
                return self.replacement(match)
            start = match.start(group) - match.start(0)
            end = match.end(group) - match.start(0)
            return whole[:start] + self.replacement(match) + whole[end:]

        return self.pattern.sub(repl, text)


# -- tokens and credentials --------------------------------------------------------------------

_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
# The middle and last parts of a Discord bot token; the first part (base64 of the bot's ID,
# 23-28 characters) is checked by hand so that the regex starts with a literal "." (fast). The
# last part takes the whole run of token characters, so a glued tail is seen whole.
_TOKEN_TAIL = re.compile(r"\.[\w-]{6,7}\.(?P<last>[\w-]{27,})", re.ASCII)


def _ends_with_snowflake_base64(run: str) -> bool:
    """Whether some 23-28 character suffix of ``run`` is base64 of a snowflake's digits, as
    the first part of a real token is (so a token glued to a word is still recognised)."""
    for n in (23, 24, 26, 27, 28):  # 25 characters cannot be base64 without a padding error
        if n > len(run):
            break
        try:
            raw = base64.urlsafe_b64decode(run[-n:] + "=" * (-n % 4))
        except (ValueError, binascii.Error):
            continue
        if 17 <= len(raw) <= 20 and raw.isdigit() and raw[:1] != b"0":
            return True
    return False


class BotTokenRule(Rule):
    """The bot's own token by exact value, and anything shaped like a Discord bot token.

    A token glued to other characters (``"user" + token``, ``token + "xyz"``) is recognised by
    its first part, which is base64 of the bot's ID, and the whole glued run goes (fail closed).
    """

    name = "bot_token"
    marker = "BOT-TOKEN"
    SHAPE = re.compile(r"(?<![\w-])[A-Za-z0-9_-]{23,28}\.[\w-]{6,7}\.[\w-]{27,38}(?![\w-])")
    _SHAPE_GATE = r"\.[\w-]{6,7}\.[\w-]{27}"

    def __init__(self, token: str | None = None) -> None:
        self.token: str | None = None
        self.set_token(token)

    def set_token(self, token: str | None) -> None:
        """Set the bot's own token; ``None``, empty or very short values are ignored safely."""
        token = token.strip() if isinstance(token, str) else ""
        self.token = token if len(token) >= 8 else None
        own = f"{re.escape(self.token)}|" if self.token else ""
        self.gate = f"{own}{self._SHAPE_GATE}"
        own_low = f"{re.escape(self.token.lower())}|" if self.token else ""
        self.low_gate = f"{own_low}{self._SHAPE_GATE}"

    def scrub(self, text: str, scrubber: Scrubber, counts: Counts | None, key: str | None) -> str:
        token = self.token
        if token and token in text and _hit(self, scrubber, counts, token, key):
            n = text.count(token)
            text = text.replace(token, self.marker)
            if counts is not None and n > 1:
                counts[self.name] += n - 1
        if "." not in text:
            return text
        out: list[str] = []
        last = 0
        for m in _TOKEN_TAIL.finditer(text):
            start = m.start()
            i = start
            # Walks each run of token characters at most twice (as a tail, then as a head).
            while i > last and text[i - 1] in _TOKEN_CHARS:
                i -= 1
            head = start - i
            if head < 23:
                continue
            if (head > 28 or len(m.group("last")) > 38) and not _ends_with_snowflake_base64(
                text[i:start]
            ):
                continue
            if not _hit(self, scrubber, counts, text[i : m.end()], key):
                continue
            out.append(text[last:i])
            out.append(self.marker)
            last = m.end()
        if not out:
            return text
        out.append(text[last:])
        return "".join(out)


#: The fewest characters after a scheme word (``Bot``, ``Bearer``, ``Basic``) taken for a
#: credential, ``=`` padding included: base64 of a short ``user:password`` ("bob:hunter") is 14
#: characters and its padding. The gate and the rule both derive from it, so neither skips what
#: the other would take.
_MIN_CREDENTIAL_CHARS = 16
_CREDENTIAL_CHARS = r"A-Za-z0-9._~+/-"
# "=" first: after the trailing "-" it would make a range.
_SCHEME_CREDENTIAL = rf"\s+[={_CREDENTIAL_CHARS}]{{{_MIN_CREDENTIAL_CHARS}}}"


def _is_credential(match: re.Match[str]) -> bool:
    value = match.group("value")
    return len(value) >= _MIN_CREDENTIAL_CHARS and any(c.isdigit() for c in value)


class AuthorizationRule(Rule):
    """``Authorization: …`` values (an optional scheme word and the credential after it), and
    ``Bot …``, ``Bearer …``, ``Basic …`` credentials wherever they appear.

    The header value ends with its credential, not at the end of the line: what follows on the
    same line (another ``secret=…``, a path) is left for the rules that own it, which could no
    longer see its name if this rule swallowed it."""

    name = "authorization"
    marker = "REDACTED"
    gate = rf"(?i:authorization|\b(?:bot|bearer|basic){_SCHEME_CREDENTIAL})"
    low_gate = rf"authorization|(?:bot|bearer|basic){_SCHEME_CREDENTIAL}"

    HEADER = re.compile(
        r"(?i)\b(?:proxy-)?authorization\\?[\"']?\s*[:=]\s*\\?[\"']?"
        # A scheme word that is the marker is this rule's own earlier work: a second pass must
        # not take the word after it too.
        r"(?P<value>(?:(?!REDACTED[ \t])[a-z][\w-]*[ \t]+)?[^\s\"'\\,;()<>\[\]{}]+)"
    )
    SCHEME = re.compile(rf"(?i:\b(?:bot|bearer|basic))\s+(?P<value>[{_CREDENTIAL_CHARS}]+=*)")

    def __init__(self) -> None:
        self._header = RegexRule(self.name, self.HEADER, self.marker, group="value")
        self._scheme = RegexRule(
            self.name, self.SCHEME, self.marker, group="value", validate=_is_credential
        )

    def scrub(self, text: str, scrubber: Scrubber, counts: Counts | None, key: str | None) -> str:
        # No substring shortcut before the header pattern: any mixed case ("AuThOrIzAtIoN")
        # and, in non-ASCII text, "authorİzation" match it; the gate already keeps clean text out.
        text = self._header.scrub(text, scrubber, counts, key)
        return self._scheme.scrub(text, scrubber, counts, key)


class JwtRule(RegexRule):
    """JSON Web Tokens, whole: header, payload and signature."""

    def __init__(self) -> None:
        super().__init__(
            "jwt",
            r"(?<![\w-])eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*",
            "JWT",
            gate=r"eyJ[\w-]{5}",
        )


# A path separator as written plainly, URL-encoded (%2F, any case) or JSON-escaped (\/, and
# \\/ in JSON inside a JSON string, and so on).
_SEP = r"(?:\\{0,8}/|%2[Ff])"
_WEBHOOK = re.compile(
    rf"(?P<host>(?i:(?:https?(?::|%3A){_SEP}{_SEP})?(?:(?:www|canary|ptb)\.)?discord(?:app)?\.com))?"
    rf"(?:{_SEP}api(?:{_SEP}v\d{{1,2}})?)?{_SEP}(?P<kind>webhooks|interactions){_SEP}\d{{15,21}}"
    rf"(?P<token>{_SEP}[\w-]{{20,600}})?",
    re.ASCII,
)


def _webhook_validate(match: re.Match[str]) -> bool:
    # A bare "/webhooks/<id>" path off Discord carries no secret (the ID rule shortens it).
    return bool(match.group("host") or match.group("token"))


class WebhookRule(RegexRule):
    """Discord webhook URLs (every host form, with or without ``/api/vN``) and interaction
    callback URLs, whose path carries the webhook or interaction token."""

    def __init__(self) -> None:
        super().__init__(
            "webhook",
            _WEBHOOK,
            "WEBHOOK-URL",
            validate=_webhook_validate,
            gate=rf"(?:/|%2[Ff])(?:webhooks|interactions){_SEP}\d",
        )

    def replacement(self, match: re.Match[str]) -> str:
        return "INTERACTION-URL" if match.group("kind") == "interactions" else "WEBHOOK-URL"


class UrlCredentialsRule(RegexRule):
    """Credentials in URLs: ``scheme://user:password@host`` keeps ``scheme://`` and the host."""

    def __init__(self) -> None:
        super().__init__(
            "url_credentials",
            r"://(?P<value>[^/\s@'\"<>]+)@",
            "REDACTED",
            group="value",
            gate=r"://[^/\s@'\"<>]+@",
        )


_SECRET_PARAM = (
    r"token|secret|password|passwd|pwd|key|signature|sig|code|auth|session|credential|jwt"
)


class QuerySecretRule(RegexRule):
    """Query parameters named like a secret (token, secret, password, key, signature, code):
    the value goes, the name stays."""

    def __init__(self) -> None:
        super().__init__(
            "query_secret",
            rf"[?&;][\w.-]*?(?i:{_SECRET_PARAM})[\w.-]*?=(?P<value>[^&#\s\"'<>\\]+)",
            "REDACTED",
            group="value",
            gate=rf"[?&;][\w.-]*?(?i:{_SECRET_PARAM})[\w.-]*?=[^&#\s]",
            low_gate=rf"[?&;][\w.-]*?(?:{_SECRET_PARAM})[\w.-]*?=[^&#\s]",
        )


_SECRET_NAME = (
    r"password|passwd|pwd|secret|token|api[_-]?key|(?:access|private|secret|signing)[_-]?key"
    r"|authorization|auth|cookie|session(?:[_-]?id)?|credentials?|dsn"
)
#: The scrubber's own rule names read like secret assignments in its counts ("bot_token:1").
_OWN_COUNT_NAMES = frozenset(
    {"bot_token", "secret_key", "secret_assignment", "query_secret", "authorization"}
)


class SecretAssignmentRule(RegexRule):
    """``password=…``, ``"api_key": "…"``, ``token='…'`` inside text (logs, reprs, JSON strings):
    the value goes, the name stays."""

    def __init__(self) -> None:
        super().__init__(
            "secret_assignment",
            rf"(?i)(?P<name>(?<![\w-])[\w.-]*?(?:{_SECRET_NAME}))\\?[\"']?\s*[:=]\s*"
            r"(?:\\?\"(?P<dq>[^\"\\\r\n]+)|'(?P<sq>[^'\\\r\n]+)|(?P<bare>[^\s\"',;&)}\]\\]+))",
            "REDACTED",
            gate=rf"(?i:{_SECRET_NAME})\\?[\"']?\s*[:=]",
            # Every secret name ends in one of these.
            low_gate=r"(?:pass(?:word|wd)|pwd|secret|token|key|auth(?:orization)?|cookie"
            r"|session(?:[_-]?id)?|credentials?|dsn)\\?[\"']?\s*[:=]",
        )

    def scrub(self, text: str, scrubber: Scrubber, counts: Counts | None, key: str | None) -> str:
        def repl(match: re.Match[str]) -> str:
            group = "dq" if match.group("dq") else "sq" if match.group("sq") else "bare"
            value = match.group(group)
            whole = match.group(0)
            if value == self.marker or (
                match.group("name").lower() in _OWN_COUNT_NAMES and value.isdigit()
            ):
                return whole
            if not _hit(self, scrubber, counts, value, key):
                return whole
            start = match.start(group) - match.start(0)
            return whole[:start] + self.marker + whole[start + len(value) :]

        return self.pattern.sub(repl, text)


# -- links, addresses ---------------------------------------------------------------------------

_INVITE = re.compile(
    r"(?:https?://)?(?:www\.)?"
    r"(?:(?:canary\.|ptb\.)?discord(?:app)?\.com/invite|discord\.(?:gg|io|me|li)|dsc\.gg)"
    r"/[\w-]{1,64}",
    re.IGNORECASE | re.ASCII,
)


class InviteRule(RegexRule):
    """Discord invite links with a bounded end (the code's own characters only)."""

    def __init__(self) -> None:
        super().__init__(
            "invite",
            _INVITE,
            "DISCORD-INVITE-LINK",
            gate=r"(?i:discord(?:app)?\.(?:gg|io|me|li|com/invite)/|dsc\.gg/)",
            low_gate=r"discord(?:app)?\.(?:gg|io|me|li|com/invite)/|dsc\.gg/",
        )


# The part after "@": the gate too, so that any label ("mail.1and1.com", "y.2z.net") passes it.
_EMAIL_DOMAIN = r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
_EMAIL = re.compile(rf"(?<![\w.+-])[\w.+-]+{_EMAIL_DOMAIN}(?![\w-])")


class EmailRule(RegexRule):
    """E-mail addresses."""

    def __init__(self) -> None:
        super().__init__(
            "email",
            _EMAIL,
            "EMAIL",
            # "REDACTED@host" is what the URL-credentials rule left: not an address any more.
            validate=lambda m: not m.group(0).startswith("REDACTED@"),
            gate=_EMAIL_DOMAIN,
        )


# Letters may come right before an IPv4 address ("ip10.0.0.1"); a version word may not
# (checked in _is_ip). A dotted quad inside a longer dotted run ("1.2.3.4.5") is no address.
_IPV4 = r"(?<![0-9.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)"
_V6_GROUPS = r"(?<![\w:.%])(?:[0-9A-Fa-f]{0,4}:){2,7}"
# After a zone id a ":port" may follow ("fe80::1%eth0:5000"); the zone ends at its last word
# character, so a full stop after it stays.
_V6_ZONE = r"%[\w.-]*[\w-](?![\w-]|\.[\w-])"
_IPV6 = (
    r"\[(?P<bracketed>[0-9A-Fa-f:.]+(?:%[\w.-]+)?)\]"
    # IPv4-mapped: a dotted quad cannot continue with ":hex", so a ":port" may follow it.
    rf"|{_V6_GROUPS}(?:\d{{1,3}}\.){{3}}\d{{1,3}}(?:{_V6_ZONE}|(?![\w%]|\.\d))"
    # Ending in hex: not inside a longer hex or colon run, but a glued ".tail" may follow.
    rf"|{_V6_GROUPS}[0-9A-Fa-f]{{0,4}}(?:{_V6_ZONE}|(?![\w%]|:[\w:]))"
)
_IP = re.compile(f"{_IPV4}|{_IPV6}", re.ASCII)
_HEX = frozenset("0123456789abcdefABCDEF")
# "version 1.2.3.4", "v1.2.3.4", "ver=1.2.3.4", "release: 1.2.3.4": a version, not an address.
_VERSION_BEFORE = re.compile(r"(?i)(?<![A-Za-z])(?:v|ver|version|release)(?: ?[=:])? ?\Z")


def _is_ip(match: re.Match[str]) -> bool:
    text = match.group("bracketed") or match.group(0)
    if ":" not in text:
        parts = text.split(".")
        start = match.start()
        if _VERSION_BEFORE.search(match.string[max(start - 12, 0) : start]):
            return False
        # ipaddress refuses leading zeros ("010.0.0.1"), which still name an address.
        return len(parts) == 4 and all(p.isdigit() and int(p) <= 255 for p in parts)
    base = text.split("%", 1)[0]
    try:
        ipaddress.IPv6Address(base)
    except ValueError:
        return False
    # "a::b", "items[1::3]" and "::1" are valid IPv6 but in practice code, slices or
    # loopback: an address with so few hex digits names no one.
    return not ("::" in base and "." not in base and sum(c in _HEX for c in base) < 4)


class IpAddressRule(RegexRule):
    """IPv4 and IPv6 addresses in every written form (compressed, zone id, IPv4-mapped,
    ``[addr]:port``), confirmed with :mod:`ipaddress` so lookalikes stay."""

    def __init__(self) -> None:
        super().__init__(
            "ip_address",
            _IP,
            "IP-ADDRESS",
            validate=_is_ip,
            # Starts with a literal "." or ":" (fast): a dotted quad, "::", or eight groups.
            gate=r"\.\d{1,3}\.\d{1,3}\.\d|::|:(?:[0-9A-Fa-f]{1,4}:){6}",
        )


# -- the machine's own identity ----------------------------------------------------------------

#: Account and host names that name no person (scrubbing "root" would only mangle text).
GENERIC_NAMES = frozenset(
    {
        "root", "admin", "administrator", "user", "users", "ubuntu", "debian", "pi", "runner",
        "nobody", "red", "redbot", "bot", "discord", "container", "app", "www-data", "vscode",
        "codespace", "ec2-user", "localhost", "localhost.localdomain", "docker", "home", "default",
    }
)  # fmt: skip
_MARKER_WORDS = "bot-token discord-invite-link webhook-url interaction-url ip-address email jwt"
_MARKER_WORDS += " redacted shortened-id home-dir user-name host-name truncated"
#: Shorter names than this are never scrubbed from text ("not when very short").
MIN_NAME_CHARS = 3


def _usable_name(name: str | None) -> str | None:
    if not name:
        return None
    name = name.strip()
    low = name.lower()
    if len(name) < MIN_NAME_CHARS or low in GENERIC_NAMES or low in _MARKER_WORDS:
        return None
    return name


def _machine_home() -> str | None:
    try:
        return os.path.expanduser("~")
    except Exception:
        return None


def _machine_user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # no user database entry (containers): nothing to scrub
        return None


def _machine_host() -> str | None:
    # Read only so that it can be scrubbed out of text; it is never sent. gethostname() is a
    # local call (no DNS lookup, unlike getfqdn()).
    try:
        return socket.gethostname()
    except Exception:
        return None


_HOME_GENERIC = r"/home/[^/\s\"'\\:<>]+|/Users/[^/\s\"'\\:<>]+|[A-Za-z]:(?:\\\\|\\|/)Users(?:\\\\|\\|/)[^\\/\r\n\"'<>|:*?]+"  # noqa: E501


class HomeDirRule(RegexRule):
    """Home directories in paths (``/home/<name>``, ``/Users/<name>``,
    ``C:\\Users\\<name>``, and this machine's own home): ``HOME-DIR``."""

    def __init__(self, home: str | None = None) -> None:
        home = home if home is not None else _machine_home()
        home = (home or "").rstrip("/\\")
        own = ""
        if home and _usable_name(os.path.basename(home)) and len(home) >= 5:
            own = re.escape(home) + r"(?![\w.-])|"
        self.home = home or None
        super().__init__(
            "home_dir",
            own + _HOME_GENERIC,
            "HOME-DIR",
            gate=own.replace(r"(?![\w.-])|", "|") + r"/home/|/Users/|:(?:\\\\|\\|/)Users",
        )


class _NameRule(RegexRule):
    def __init__(self, name: str, marker: str, values: list[str]) -> None:
        names = sorted({v for v in values if v}, key=len, reverse=True)
        if names:
            alternation = "|".join(re.escape(n) for n in names)
            pattern = rf"(?i)(?<![\w-])(?:{alternation})(?![\w-])"
            gate: str | None = f"(?i:{alternation})"
            # A non-ASCII name can match ASCII text case-insensitively in ways lower() does not
            # show (the long s, U+017F, matches "s"): only ASCII names get the lower-case gate.
            low_gate = None
            if alternation.isascii():
                low_gate = "|".join(re.escape(n.lower()) for n in names)
        else:
            pattern = r"(?!x)x"  # nothing to find
            gate = low_gate = r"(?!x)x"
        super().__init__(name, pattern, marker, gate=gate, low_gate=low_gate)


class HostNameRule(_NameRule):
    """This machine's host name (and its first label) in text: ``HOST-NAME``."""

    def __init__(self, host: str | None = None) -> None:
        host = _usable_name(host if host is not None else _machine_host())
        values: list[str] = []
        if host and not _looks_like_ip(host):
            values = [host, *[v for v in [_usable_name(host.split(".")[0])] if v]]
        self.host = host
        super().__init__("host_name", "HOST-NAME", values)


class UserNameRule(_NameRule):
    """This machine's user name in text (not when very short or generic): ``USER-NAME``."""

    def __init__(self, user: str | None = None) -> None:
        user = _usable_name(user if user is not None else _machine_user())
        self.user = user
        super().__init__("user_name", "USER-NAME", [user] if user else [])


def _looks_like_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# -- Discord IDs --------------------------------------------------------------------------------

DISCORD_EPOCH_MS = 1_420_070_400_000


class DiscordIdRule(RegexRule):
    """Discord snowflakes (16-20 digits whose timestamp lies between 2015 and now), shortened.

    Also when glued to ``_`` or letters (``user_id_877…``), never inside a longer run of digits,
    after a decimal point, or with a leading zero.

    ``mode="last4"``: ``SHORTENED-ID-dddd``, the last four digits of ``id >> 22`` (the seeds' way).
    ``mode="hash"``: ``SHORTENED-ID-`` + 8 hex of an HMAC keyed with a per-install secret that is
    never exported; far fewer collisions. Either way one ID gets one marker.
    """

    PATTERN = re.compile(r"(?<![0-9])(?<![0-9]\.)[1-9][0-9]{15,19}(?![0-9])")

    def __init__(self, mode: str = "last4", secret: bytes | None = None) -> None:
        if mode not in ("last4", "hash"):
            raise ValueError(f"id_mode must be 'last4' or 'hash', not {mode!r}")
        if mode == "hash" and not secret:
            raise ValueError("id_mode 'hash' needs a per-install secret (id_secret)")
        self.mode = mode
        self.secret = secret or b""
        super().__init__(
            "discord_id",
            self.PATTERN,
            "SHORTENED-ID",
            validate=self._is_snowflake,
            gate=r"[0-9]{16}",
        )

    @staticmethod
    def _is_snowflake(match: re.Match[str]) -> bool:
        ms = (int(match.group(0)) >> 22) + DISCORD_EPOCH_MS
        return DISCORD_EPOCH_MS <= ms <= time.time() * 1000 + 86_400_000

    def replacement(self, match: re.Match[str]) -> str:
        return self.marker_for(int(match.group(0)))

    def marker_for(self, value: int) -> str:
        """The marker of one ID (the same everywhere in one process)."""
        if self.mode == "hash":
            digest = hmac.new(self.secret, str(value).encode(), hashlib.sha256).hexdigest()
            return f"SHORTENED-ID-{digest[:8]}"
        return f"SHORTENED-ID-{str(value >> 22)[-4:].rjust(4, '0')}"


# -- keys ---------------------------------------------------------------------------------------

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
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


class SecretKeyRule(Rule):
    """Keys that name secrets (``password``, ``token``, ``api_key``, ``accessToken``, ...):
    the whole value goes."""

    name = "secret_key"
    marker = "REDACTED"
    scrubs_text = False

    def __init__(self, words: tuple[str, ...] = _SECRET_WORDS) -> None:
        self.words = frozenset(words)
        self._compound = tuple(w for w in words if "_" in w)
        self._cache: dict[str, bool] = {}

    def redacts_key(self, key: str) -> bool:
        hit = self._cache.get(key)
        if hit is None:
            hit = self._judge(key)
            if len(self._cache) < 4096:
                self._cache[key] = hit
        return hit

    def _judge(self, key: str) -> bool:
        low = _CAMEL.sub("_", key).lower()
        parts = [p for p in _KEY_SPLIT.split(low) if p]
        if any(p in self.words for p in parts):
            return True
        joined = "_".join(parts)
        return any(w in joined for w in self._compound)


def default_rules(
    *,
    token: str | None = None,
    id_mode: str = "last4",
    id_secret: bytes | None = None,
    local_identity: Mapping[str, str | None] | None = None,
) -> list[Rule]:
    """The default rule list, in order.

    ``local_identity`` (keys ``home``, ``user``, ``host``) replaces what is read from this
    machine (tests pass synthetic values).
    """
    ident = dict(local_identity) if local_identity is not None else {}
    return [
        SecretKeyRule(),
        AuthorizationRule(),
        BotTokenRule(token),
        JwtRule(),
        WebhookRule(),
        UrlCredentialsRule(),
        QuerySecretRule(),
        SecretAssignmentRule(),
        InviteRule(),
        EmailRule(),
        IpAddressRule(),
        HomeDirRule(ident.get("home")),
        HostNameRule(ident.get("host")),
        UserNameRule(ident.get("user")),
        DiscordIdRule(id_mode, id_secret),
    ]
