"""Parity of the collector's second line of redaction (collector/otelcol.yaml) with the client
scrubber: its patterns are written in the regex subset RE2 (the collector's engine) and Python's
``re`` read alike, so Python can run them here the way the redaction processor does (each
pattern in order; every match replaced by ``****``) over the shared scrubbing corpus.

Corpus cases marked ``needs_config`` are left out: they only vanish when the scrubber knows the
bot's own token or the machine's user, home and host names, which a collector never does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_discord._resource import build_resource
from otel_discord.scrubbing import SecretKeyRule
from tests.scrub_corpus import CASES, UNCHANGED, SecretCase

CONFIG = Path(__file__).resolve().parent.parent / "collector" / "otelcol.yaml"
MASK = "****"

#: Lookalikes the second line masks although the client keeps them: without lookaround a
#: pattern cannot see that a 16-20 digit run is part of a longer number, or that an IPv4-shaped
#: run continues with ".5", or that "1.2.3.4" after "version" is a version. Tightening a
#: pattern should shrink this set (update it then).
KNOWN_OVERMATCH = {
    "dotted-five",
    "time-ns",
    "long-digit-run",
    "decimal-fraction",
    "version-words",
}


def _config() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    return data


REDACTION = _config()["processors"]["redaction"]
TRANSFORM = _config()["processors"]["transform"]
BLOCKED: list[str] = REDACTION["blocked_values"]
KEY_PATTERNS: list[str] = REDACTION["blocked_key_patterns"]
COMPILED = [re.compile(p, re.ASCII) for p in BLOCKED]  # RE2's \d, \w, \s and \b are ASCII


def second_line(text: str) -> str:
    """What the redaction processor does to a string value."""
    for pattern in COMPILED:
        if pattern.search(text):
            text = pattern.sub(MASK, text)
    return text


def _ottl_string(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal)


def replace_patterns(context: str, target: str) -> list[str]:
    """The regexes of ``replace_pattern(<target>, "<regex>", ...)`` in one transform context."""
    statement = re.compile(
        r"replace_pattern\(" + re.escape(target) + r', "((?:[^"\\]|\\.)*)", "\*\*\*\*"\)\Z'
    )
    found: list[str] = []
    for group in TRANSFORM["trace_statements"]:
        if group["context"] != context:
            continue
        for line in group["statements"]:
            match = statement.match(line)
            if match:
                found.append(_ottl_string(match.group(1)))
    return found


def deleted_keys(keys: list[str]) -> set[str]:
    """Which of ``keys`` the transform's resource statements delete."""
    (group,) = [g for g in TRANSFORM["trace_statements"] if g["context"] == "resource"]
    gone: set[str] = set()
    for line in group["statements"]:
        exact = re.fullmatch(r'delete_key\(attributes, "([^"]+)"\)', line)
        matching = re.fullmatch(r'delete_matching_keys\(attributes, "((?:[^"\\]|\\.)*)"\)', line)
        if exact:
            gone |= {k for k in keys if k == exact.group(1)}
        elif matching:
            regex = re.compile(_ottl_string(matching.group(1)))
            gone |= {k for k in keys if regex.search(k)}
        else:
            raise AssertionError(f"unexpected resource statement {line!r}")
    return gone


# What RE2 and Python's re do not share. RE2 rejects lookaround, backreferences, atomic groups,
# possessive quantifiers, conditionals and \Z; Python rejects \z, \p{..}, \x{..}, [[:class:]]
# and RE2's U flag; RE2 caps repeats at 1000.
_UNSHARED_SYNTAX = {
    "lookahead": r"\(\?[=!]",
    "lookbehind": r"\(\?<[=!]",
    "named group or backreference": r"\(\?P?[<=]",
    "atomic group": r"\(\?>",
    "conditional": r"\(\?\(",
    "comment": r"\(\?#",
    "possessive quantifier": r"[*+?}]\+",
    "POSIX class": r"\[\[:",
}
_UNSHARED_ESCAPES = set("123456789gZzpPNuU")


def _split_escapes(pattern: str) -> tuple[list[str], str]:
    """The escape sequences of ``pattern`` and the pattern with each one blanked out."""
    escapes: list[str] = []
    plain: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            escapes.append(pattern[i + 1 : i + 3])
            plain.append("\x00")
            i += 2
        else:
            plain.append(pattern[i])
            i += 1
    return escapes, "".join(plain)


def _unshared_constructs(pattern: str) -> list[str]:
    escapes, plain = _split_escapes(pattern)
    found = [name for name, probe in _UNSHARED_SYNTAX.items() if re.search(probe, plain)]
    found += [f"escape \\{e[0]}" for e in escapes if e[0] in _UNSHARED_ESCAPES]
    found += ["brace hex escape" for e in escapes if e == "x{"]
    for flags in re.findall(r"\(\?([A-Za-z-]+)[:)]", plain):
        if set(flags) - set("ims-"):
            found.append(f"flags {flags}")
    for low, high in re.findall(r"\{(\d+)(?:,(\d*))?\}", plain):
        if int(high or low) > 1000:
            found.append("repeat over 1000")
    return found


ALL_PATTERNS = [
    *BLOCKED,
    *KEY_PATTERNS,
    *replace_patterns("span", "name"),
    *replace_patterns("span", "status.message"),
    *replace_patterns("spanevent", "name"),
]


@pytest.mark.parametrize("pattern", ALL_PATTERNS)
def test_pattern_uses_only_what_re2_and_python_share(pattern: str) -> None:
    assert _unshared_constructs(pattern) == []
    re.compile(pattern, re.ASCII)


def test_unshared_construct_probe_catches_what_re2_rejects() -> None:
    for sample in (
        r"(?<!\w)a",
        r"a(?=b)",
        r"(a)\1",
        r"a++",
        r"a\Z",
        r"(?x)a",
        r"\p{L}",
        r"a{1001}",
    ):
        assert _unshared_constructs(sample), sample
    assert _unshared_constructs(r"C:\\Users\\\(a\+\+\)") == []


@pytest.mark.parametrize("pattern", ALL_PATTERNS)
def test_pattern_never_matches_empty_text(pattern: str) -> None:
    # Go's ReplaceAllString would put a mask between every two characters.
    assert re.search(pattern, "") is None
    assert re.search(pattern, "plain words") is None


@pytest.mark.parametrize("pattern", ALL_PATTERNS)
def test_pattern_holds_no_config_expansion(pattern: str) -> None:
    assert "${" not in pattern  # the collector would expand it as a variable


@pytest.mark.parametrize("case", [c for c in CASES if not c.needs_config], ids=lambda c: c.id)
def test_second_line_removes_every_must_vanish_value(case: SecretCase) -> None:
    scrubbed = second_line(case.text)
    assert [v for v in case.vanish if v in scrubbed] == [], scrubbed


def test_second_line_leaves_lookalikes_alone_except_the_documented_ones() -> None:
    changed = {u.id for u in UNCHANGED if second_line(u.text) != u.text}
    assert changed == KNOWN_OVERMATCH


def test_client_markers_and_resource_pass_the_second_line_unchanged() -> None:
    resource = build_resource(
        "mycog", "1.2.3", "123e4567-e89b-12d3-a456-426614174000", cluster="eu-1", shard_ids=3
    )
    for key, value in resource.attributes.items():
        assert second_line(str(value)) == str(value), key
    markers = "BOT-TOKEN DISCORD-INVITE-LINK IP-ADDRESS EMAIL WEBHOOK-URL JWT SHORTENED-ID-0042"
    assert second_line(markers) == markers


def test_scrub_counts_of_the_client_are_not_masked() -> None:
    # "bot_token:1" reads like a secret assignment; the key is ignored by the processor.
    assert second_line("bot_token:1") != "bot_token:1"
    assert "otel_discord.scrubbed" in REDACTION["ignored_keys"]


@pytest.mark.parametrize(
    ("context", "target"),
    [("span", "name"), ("span", "status.message"), ("spanevent", "name")],
)
def test_transform_applies_the_same_patterns_in_the_same_order(context: str, target: str) -> None:
    assert replace_patterns(context, target) == BLOCKED


SAMPLE_KEYS = [
    "password",
    "db.password",
    "user.secret_question",
    "api_key",
    "apiKey",
    "x-auth-token",
    "Authorization",
    "http.request.header.cookie",
    "session_id",
    "my_private_key_file",
    "privatekey",
    "sentry.dsn",
    "credentials",
    "pwd",
    "author",
    "max_tokens",
    "tokenizer",
    "discord.guild.id",
    "otel_discord.install_id",
    "exception.message",
    "code.function",
]


@pytest.mark.parametrize("key", SAMPLE_KEYS)
def test_blocked_key_pattern_agrees_with_the_client_secret_key_rule(key: str) -> None:
    masked = any(re.search(p, key) for p in KEY_PATTERNS)
    assert masked == SecretKeyRule().redacts_key(key)


def test_resource_cleanup_deletes_host_and_command_line() -> None:
    leaky = [
        "host.name",
        "host.id",
        "host.ip",
        "process.command",
        "process.command_line",
        "process.command_args",
        "process.executable.path",
        "process.owner",
        "user.name",
    ]
    assert deleted_keys(leaky) == set(leaky)


def test_resource_cleanup_keeps_everything_the_client_sends() -> None:
    resource = build_resource("mycog", "1.2.3", "id", shard_ids=[0, 1], shard_count=2, cluster="c")
    assert deleted_keys(list(resource.attributes)) == set()
