"""The shared scrubbing corpus: secret kinds with real shapes and synthetic values.

Every value here is made up for tests (a token that never existed, documentation IP ranges,
``example.com`` addresses); the shapes are the real ones. Other tests (collector redaction parity,
Sentry events) import this module, so keep it plain data:

- ``CASES``: one :class:`SecretCase` per secret kind and written form. ``text`` contains the
  secret; every string in ``vanish`` must be absent after scrubbing; ``expected``, where given,
  is the exact scrubbed text (with :data:`OWN_TOKEN` configured and the ``last4`` ID mode).
- ``UNCHANGED``: texts that look a bit like secrets and must come out exactly as they went in
  (the false positives that seed scrubbers got wrong).
- ``OWN_TOKEN`` / ``IDENTITY``: the bot token and the local home/user/host a scrubber under test
  is configured with (``default_rules(token=OWN_TOKEN, local_identity=IDENTITY)``); cases that
  only vanish with them configured have ``needs_config=True``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CASES",
    "IDENTITY",
    "JWT",
    "OWN_TOKEN",
    "SHAPED_TOKEN",
    "UNCHANGED",
    "SecretCase",
    "Unchanged",
    "cases_of",
]

#: A Discord bot token's shape: base64 of a snowflake, a 6-character timestamp, an HMAC part.
SHAPED_TOKEN = "MTA4NzY1NDMyMTA5ODc2NTQzMg.GaBcDe.x9Yz8Wv7Ut6Sr5Qp4On3Ml2Kj1Ih0GfEdCbA"
_TOKEN_PARTS = tuple([SHAPED_TOKEN, *SHAPED_TOKEN.split(".")])
#: The bot's own token as configured; not token-shaped, so only the exact-value rule can catch it.
OWN_TOKEN = "Zq8vN2rT5yW1xK4m-hunter-x7"
#: A JWT (header.payload.signature), HS256-shaped.
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiI4Nzc2MzM4OTAzNzI1NTA2NzciLCJuYW1lIjoiUmlub2EifQ"
    ".Qm9ndXNTaWduYXR1cmVGb3JUZXN0c09ubHlfXzEyMzQ1Njc4OTA"
)
#: A webhook token's shape (68 URL-safe characters).
WEBHOOK_TOKEN = "wHk_SyNtHeTiC-t0kEn_4bCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKl"
#: An interaction token's shape (long, URL-safe base64).
INTERACTION_TOKEN = (
    "aW50ZXJhY3Rpb246MTIwMDAwMDAwMDAwMDAwMDAwMDpTeW50aGV0aWNJbnRlcmFjdGlvblRva2VuRm9yVGVzdHM"
)
#: The local identity a scrubber under test is told about (never this machine's real one).
IDENTITY = {"home": "/home/rinoa", "user": "rinoa", "host": "rinoa-desktop"}


@dataclass(frozen=True)
class SecretCase:
    """One secret in one written form."""

    id: str
    kind: str
    text: str
    vanish: tuple[str, ...]
    expected: str | None = None
    needs_config: bool = False


@dataclass(frozen=True)
class Unchanged:
    """A text that must survive scrubbing byte for byte."""

    id: str
    text: str


CASES: list[SecretCase] = [
    # -- the bot token ------------------------------------------------------------------------
    SecretCase(
        "own-token-exact",
        "bot_token",
        f"login with {OWN_TOKEN} failed",
        (OWN_TOKEN,),
        "login with BOT-TOKEN failed",
        needs_config=True,
    ),
    SecretCase(
        "token-shape",
        "bot_token",
        f"discord.errors.LoginFailure: Improper token has been passed: {SHAPED_TOKEN}",
        (SHAPED_TOKEN, "GaBcDe", "x9Yz8Wv7Ut6Sr5Qp4On3Ml2Kj1Ih0GfEdCbA"),
        "discord.errors.LoginFailure: Improper token has been passed: BOT-TOKEN",
    ),
    SecretCase(
        "token-in-repr",
        "bot_token",
        f"Bot(command_prefix='!', options={{'t': '{SHAPED_TOKEN}'}})",
        (SHAPED_TOKEN,),
        "Bot(command_prefix='!', options={'t': 'BOT-TOKEN'})",
    ),
    # Glued to a word, a token still fails closed: the whole run goes.
    SecretCase(
        "token-glued-before",
        "bot_token",
        f"lookup user{SHAPED_TOKEN} failed",
        _TOKEN_PARTS,
        "lookup BOT-TOKEN failed",
    ),
    SecretCase(
        "token-glued-after",
        "bot_token",
        f"env gave {SHAPED_TOKEN}xyz",
        _TOKEN_PARTS,
        "env gave BOT-TOKEN",
    ),
    SecretCase(
        "token-glued-camel-name",
        "bot_token",
        f"env botToken{SHAPED_TOKEN} unset",
        _TOKEN_PARTS,
        "env BOT-TOKEN unset",
    ),
    SecretCase(
        "authorization-bot",
        "authorization",
        f"Authorization: Bot {SHAPED_TOKEN}",
        (SHAPED_TOKEN, "MTA4NzY1NDMyMTA5ODc2NTQzMg", "x9Yz8Wv7Ut6Sr5Qp4On3Ml2Kj1Ih0GfEdCbA"),
    ),
    SecretCase(
        "authorization-bot-odd-token",
        "authorization",
        "headers={'Authorization': 'Bot Zm9vYmFyYmF6cXV4.notashape.qWeRtY'}",
        ("Zm9vYmFyYmF6cXV4", "notashape", "qWeRtY"),
    ),
    SecretCase(
        "bearer",
        "authorization",
        "GET /users/@me with Bearer xK3vR9pL2mQ8wT5zN7bY4cF6hJ1sD0gA",
        ("xK3vR9pL2mQ8wT5zN7bY4cF6hJ1sD0gA",),
    ),
    SecretCase(
        "bearer-upper-case",
        "authorization",
        "retry with BEARER xK3vR9pL2mQ8wT5zN7bY4cF6hJ1sD0gA",
        ("xK3vR9pL2mQ8wT5zN7bY4cF6hJ1sD0gA",),
        "retry with BEARER REDACTED",
    ),
    SecretCase(
        "authorization-basic",
        "authorization",
        "Authorization: Basic Ym90dXNlcjpodW50ZXIycGFzcw==",
        ("Ym90dXNlcjpodW50ZXIycGFzcw",),
    ),
    SecretCase(
        "basic-short-credential-padded",
        "authorization",
        "retry with Basic Ym9iOmh1bnRlcg== after 401",
        ("Ym9iOmh1bnRlcg",),
        "retry with Basic REDACTED after 401",
    ),
    SecretCase(
        "basic-short-credential-one-pad",
        "authorization",
        "retry with Basic Ym9iOmh1bnRlcjI= after 401",
        ("Ym9iOmh1bnRlcjI",),
        "retry with Basic REDACTED after 401",
    ),
    SecretCase(
        "authorization-mixed-case-name",
        "authorization",
        "sent AuThOrIzAtIoN: Basic hunter2pass upstream",
        ("hunter2pass",),
    ),
    SecretCase(
        "jwt",
        "jwt",
        f"refresh failed for {JWT}; retrying",
        tuple(JWT.split(".")),
        "refresh failed for JWT; retrying",
    ),
    # -- URLs -------------------------------------------------------------------------------------
    SecretCase(
        "webhook-discord-com",
        "webhook",
        f"POST https://discord.com/api/webhooks/1200000000000000000/{WEBHOOK_TOKEN} -> 404",
        ("1200000000000000000", WEBHOOK_TOKEN),
        "POST WEBHOOK-URL -> 404",
    ),
    SecretCase(
        "webhook-discordapp-v10",
        "webhook",
        f"url='https://discordapp.com/api/v10/webhooks/877633890372550677/{WEBHOOK_TOKEN}'",
        ("877633890372550677", WEBHOOK_TOKEN),
        "url='WEBHOOK-URL'",
    ),
    SecretCase(
        "webhook-canary",
        "webhook",
        f"canary.discord.com/api/webhooks/877633890372550677/{WEBHOOK_TOKEN}?wait=true",
        ("877633890372550677", WEBHOOK_TOKEN),
    ),
    SecretCase(
        "webhook-ptb-v9",
        "webhook",
        f"(https://ptb.discord.com/api/v9/webhooks/877633890372550677/{WEBHOOK_TOKEN}/messages/1)",
        ("877633890372550677", WEBHOOK_TOKEN),
    ),
    SecretCase(
        "webhook-url-encoded",
        "webhook",
        "next=https%3A%2F%2Fdiscord.com%2Fapi%2Fwebhooks%2F1200000000000000000%2F"
        f"{WEBHOOK_TOKEN}&x=1",
        ("1200000000000000000", WEBHOOK_TOKEN),
        "next=WEBHOOK-URL&x=1",
    ),
    SecretCase(
        "webhook-url-encoded-lowercase",
        "webhook",
        f"discord.com%2fapi%2fv10%2fwebhooks%2f877633890372550677%2f{WEBHOOK_TOKEN}",
        ("877633890372550677", WEBHOOK_TOKEN),
        "WEBHOOK-URL",
    ),
    SecretCase(
        "webhook-json-escaped",
        "webhook",
        '{"url": "https:\\/\\/discord.com\\/api\\/webhooks\\/877633890372550677\\/'
        f'{WEBHOOK_TOKEN}"}}',
        ("877633890372550677", WEBHOOK_TOKEN),
        '{"url": "WEBHOOK-URL"}',
    ),
    SecretCase(
        "interaction-callback",
        "interaction_token",
        "POST https://discord.com/api/v10/interactions/1200000000000000000/"
        f"{INTERACTION_TOKEN}/callback",
        ("1200000000000000000", INTERACTION_TOKEN),
    ),
    SecretCase(
        "interaction-followup",
        "interaction_token",
        "PATCH https://discord.com/api/v10/webhooks/877633890372550677/"
        f"{INTERACTION_TOKEN}/messages/@original",
        (INTERACTION_TOKEN,),
    ),
    SecretCase(
        "url-credentials",
        "url_credentials",
        "engine=postgresql://botuser:hunter2pass@db.example.com:5432/red",
        ("botuser", "hunter2pass"),
    ),
    SecretCase(
        "url-password-only",
        "url_credentials",
        "redis://:s3cretRedisPw@cache.example.net:6379/0",
        ("s3cretRedisPw",),
    ),
    SecretCase(
        "query-params",
        "query_secret",
        "GET https://api.example.com/v1/items?page=2&api_key=AKf93kdL02mZ&signature=9a8b7c6d5e",
        ("AKf93kdL02mZ", "9a8b7c6d5e"),
        "GET https://api.example.com/v1/items?page=2&api_key=REDACTED&signature=REDACTED",
    ),
    SecretCase(
        "oauth-code-param",
        "query_secret",
        "redirect to /callback?code=Zx81Qw93Er&state=ok&access_token=tok_7Hn2Kp",
        ("Zx81Qw93Er", "tok_7Hn2Kp"),
    ),
    # -- invites ----------------------------------------------------------------------------------
    SecretCase(
        "invite-discord-gg",
        "invite",
        "join https://discord.gg/AbCd123 now",
        ("AbCd123",),
        "join DISCORD-INVITE-LINK now",
    ),
    SecretCase(
        "invite-in-repr",
        "invite",
        "['https://discord.gg/AbCd123', 'next']",
        ("AbCd123",),
        "['DISCORD-INVITE-LINK', 'next']",
    ),
    SecretCase(
        "invite-discord-com",
        "invite",
        "see discord.com/invite/red-support, please",
        ("red-support",),
        "see DISCORD-INVITE-LINK, please",
    ),
    SecretCase(
        "invite-discordapp",
        "invite",
        "http://www.discordapp.com/invite/Xy9Zw8",
        ("Xy9Zw8",),
    ),
    SecretCase("invite-discord-io", "invite", "discord.io/mycoolserver.", ("mycoolserver",)),
    SecretCase("invite-discord-me", "invite", "(discord.me/gamers)", ("gamers",)),
    SecretCase("invite-discord-li", "invite", "<https://discord.li/q8Wn>", ("q8Wn",)),
    SecretCase(
        "invite-dsc-gg",
        "invite",
        '"dsc.gg/rinoas-den"',
        ("rinoas-den",),
        '"DISCORD-INVITE-LINK"',
    ),
    # -- IP addresses -----------------------------------------------------------------------------
    SecretCase(
        "ipv4",
        "ip_address",
        "connect to 203.0.113.42 timed out",
        ("203.0.113.42",),
        "connect to IP-ADDRESS timed out",
    ),
    SecretCase(
        "ipv4-port",
        "ip_address",
        "Cannot connect to host 198.51.100.7:443 ssl:default",
        ("198.51.100.7",),
        "Cannot connect to host IP-ADDRESS:443 ssl:default",
    ),
    SecretCase(
        "ipv4-glued-letters",
        "ip_address",
        "peer ip10.0.0.1 closed",
        ("10.0.0.1",),
        "peer ipIP-ADDRESS closed",
    ),
    SecretCase(
        "ipv6-compressed",
        "ip_address",
        "peer 2001:db8:85a3::8a2e:370:7334 reset",
        ("2001:db8", "85a3", "8a2e:370:7334", "7334"),
        "peer IP-ADDRESS reset",
    ),
    SecretCase(
        "ipv6-full",
        "ip_address",
        "from 2001:0db8:85a3:0000:0000:8a2e:0370:7334.",
        ("2001:0db8", "0370:7334"),
        "from IP-ADDRESS.",
    ),
    SecretCase(
        "ipv6-zone",
        "ip_address",
        "bind fe80::1ff:fe23:4567:890a%eth0 failed",
        ("fe80", "890a", "%eth0"),
        "bind IP-ADDRESS failed",
    ),
    SecretCase(
        "ipv6-zone-port",
        "ip_address",
        "connect fe80::1%eth0:5000 refused",
        ("fe80::1", "eth0"),
        "connect IP-ADDRESS:5000 refused",
    ),
    SecretCase(
        "ipv6-glued-tail",
        "ip_address",
        "peer 2001:db8:85a3::8a2e:370:7334.2JV reset",
        ("2001:db8", "85a3", "8a2e:370:7334", "7334"),
        "peer IP-ADDRESS.2JV reset",
    ),
    SecretCase(
        "ipv6-v4-mapped-port",
        "ip_address",
        "client ::ffff:192.168.1.1:8080 said hi",
        ("192.168.1.1", "ffff"),
        "client IP-ADDRESS:8080 said hi",
    ),
    SecretCase(
        "ipv6-v4-mapped",
        "ip_address",
        "client ::ffff:192.0.2.128 said hi",
        ("192.0.2.128", "ffff"),
        "client IP-ADDRESS said hi",
    ),
    SecretCase(
        "ipv6-bracket-port",
        "ip_address",
        "GET http://[2001:db8::8a2e:7334]:8080/health",
        ("2001:db8", "8a2e:7334"),
        "GET http://IP-ADDRESS:8080/health",
    ),
    # -- e-mail -------------------------------------------------------------------------------
    SecretCase(
        "email",
        "email",
        "owner contact: rinoa.heartilly+bots@example.co.uk.",
        ("rinoa.heartilly+bots", "example.co.uk"),
        "owner contact: EMAIL.",
    ),
    SecretCase(
        "email-digit-led-labels",
        "email",
        "mail owner@mx.1and1.example or x@y.2z.example",
        ("owner@mx", "1and1", "x@y", "2z.example"),
        "mail EMAIL or EMAIL",
    ),
    # -- home directory, user name, host name -----------------------------------------------------
    SecretCase(
        "home-dir-posix",
        "home_dir",
        'File "/home/squall/redenv/lib/python3.11/site-packages/redbot/core/bot.py", line 9',
        ("squall",),
        'File "HOME-DIR/redenv/lib/python3.11/site-packages/redbot/core/bot.py", line 9',
    ),
    SecretCase(
        "home-dir-macos",
        "home_dir",
        "/Users/squall/Library/Application Support/Red-DiscordBot/data",
        ("squall",),
    ),
    SecretCase(
        "home-dir-windows",
        "home_dir",
        r"C:\Users\Squall Leonhart\AppData\Local\Red-DiscordBot\cogs\x.py",
        ("Squall", "Leonhart"),
    ),
    SecretCase(
        "home-dir-configured",
        "home_dir",
        "cache at /home/rinoa/.cache/otel",
        ("rinoa",),
        "cache at HOME-DIR/.cache/otel",
        needs_config=True,
    ),
    SecretCase(
        "user-name-text",
        "user_name",
        "started by rinoa via systemd",
        ("rinoa",),
        "started by USER-NAME via systemd",
        needs_config=True,
    ),
    SecretCase(
        "host-name-text",
        "host_name",
        "running on Rinoa-Desktop (x86_64)",
        ("Rinoa-Desktop", "rinoa"),
        needs_config=True,
    ),
    # -- secret-named keys inside text ------------------------------------------------------------
    SecretCase(
        "assignment-in-log",
        "secret_assignment",
        "config loaded: password=hunter2 retries=3",
        ("hunter2",),
        "config loaded: password=REDACTED retries=3",
    ),
    SecretCase(
        "json-secret-key",
        "secret_assignment",
        '{"user": "x", "api_key": "sk_live_51HxSyNtHeTiCkEy", "n": 1}',
        ("sk_live_51HxSyNtHeTiCkEy",),
        '{"user": "x", "api_key": "REDACTED", "n": 1}',
    ),
    SecretCase(
        "repr-secret-kwarg",
        "secret_assignment",
        "Client(client_secret='cS_9f8E7d6C5b4A', timeout=5)",
        ("cS_9f8E7d6C5b4A",),
        "Client(client_secret='REDACTED', timeout=5)",
    ),
    # -- Discord IDs ------------------------------------------------------------------------------
    SecretCase(
        "snowflake",
        "discord_id",
        "user 877633890372550677 ran !ping",
        ("877633890372550677",),
    ),
    SecretCase(
        "snowflake-glued-underscore",
        "discord_id",
        "key user_id_877633890372550677 missing",
        ("877633890372550677",),
    ),
    SecretCase(
        "snowflake-glued-letters",
        "discord_id",
        "channel877633890372550677x archived",
        ("877633890372550677",),
    ),
    SecretCase(
        "snowflake-16-digits",
        "discord_id",
        "early guild 1234567890123456 joined",
        ("1234567890123456",),
    ),
    SecretCase(
        "snowflake-17-digits",
        "discord_id",
        "guild=81384788765712384",
        ("81384788765712384",),
    ),
    SecretCase(
        "snowflake-mention",
        "discord_id",
        "<@!877633890372550677> and <#1200000000000000000>",
        ("877633890372550677", "1200000000000000000"),
    ),
]

UNCHANGED: list[Unchanged] = [
    Unchanged("versions", "discord.py 2.7.1 on Python 3.11.7 (Red 3.5.24, otel 1.45.2)"),
    Unchanged("version-words", "version 1.2.3.4, v1.2.3.4, ver=1.2.3.4, Release: 10.0.0.1"),
    Unchanged("dotted-five", "build 1.2.3.4.5 from 2026.11.22"),
    Unchanged("ipv4-octet-out-of-range", "not an address: 10.0.0.256"),
    Unchanged("cpp-scope", "std::vector<int> v; a::b; Foo::bar::baz"),
    Unchanged("python-slice", "items[::2] and items[1::3]"),
    Unchanged("times", "at 12:30:45 and 2026-11-22T12:30:45.123Z, took 00:01:02"),
    Unchanged("mac-colons", "nic 00:1A:2B:3C:4D:5E up"),
    Unchanged("mac-dashes", "nic 00-1A-2B-3C-4D-5E up"),
    Unchanged("time-ns", "t0=1795312345678901234 elapsed"),
    Unchanged("long-digit-run", "order 12345678901234567890123 placed"),
    Unchanged("leading-zeros", "padding 0000000000000000 and 00000000000000000001"),
    Unchanged("decimal-fraction", "pi=3.141592653589793238 approx"),
    Unchanged("short-numbers", "3 guilds, 1204 members, latency 0.0523s, port 8080"),
    Unchanged("uuid", "install 123e4567-e89b-12d3-a456-426614174000"),
    Unchanged("trace-id", "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7"),
    Unchanged("git-sha", "commit 9589662e0d1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b"),
    Unchanged("decorators", "@commands.command(name='ping') and @bot.event"),
    Unchanged("discord-py-mentions", "pip install discord.py; see discord.com and discord.gg"),
    Unchanged("module-paths", "discord.ext.commands.errors.CommandInvokeError in cog.loop"),
    Unchanged("secret-words-in-prose", "the token expired; session started; auth failed"),
    Unchanged("bot-in-prose", "Bot is ready. Logged in as Bot#0001; Bearer of news"),
    Unchanged("plain-url", "https://example.com/docs/page?lang=en&page=2"),
    Unchanged("localhost-port", "listening on localhost:8080"),
    Unchanged("relative-path", "cogs/music/player.py line 42 in play"),
    Unchanged("red-prefix", "[p]help telemetry; !ping; /stats"),
    Unchanged("hex-color", "embed colour #5865F2 and 0x5865F2"),
    Unchanged("ratio", "ratio 16:9 and 4:3"),
    Unchanged("markers", "BOT-TOKEN IP-ADDRESS EMAIL WEBHOOK-URL REDACTED SHORTENED-ID-0042"),
]


def cases_of(kind: str) -> list[SecretCase]:
    """The cases of one secret kind."""
    return [c for c in CASES if c.kind == kind]
