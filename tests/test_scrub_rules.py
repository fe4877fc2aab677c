"""The scrubbing rules at unit level: every corpus case vanishes, every lookalike stays, and the
rules' contracts (markers, counts, idempotence, ID modes, keep callback, length cap, gates)."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from otel_discord.scrubbing import (
    BotTokenRule,
    DiscordIdRule,
    HostNameRule,
    RegexRule,
    Scrubber,
    ScrubMatch,
    SecretKeyRule,
    UserNameRule,
    default_rules,
)
from tests.scrub_corpus import (
    CASES,
    IDENTITY,
    OWN_TOKEN,
    SHAPED_TOKEN,
    UNCHANGED,
    SecretCase,
    Unchanged,
)

SNOWFLAKE = 877633890372550677
OTHER_SNOWFLAKE = 1200000000000000000


def configured() -> Scrubber:
    return Scrubber(default_rules(token=OWN_TOKEN, local_identity=IDENTITY))


def bare() -> Scrubber:
    """No own token, and an identity that names nobody: only shape-based rules act."""
    return Scrubber(default_rules(local_identity={"home": "", "user": "", "host": ""}))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_corpus_secret_vanishes(case: SecretCase) -> None:
    out = configured().scrub_text(case.text)
    assert [v for v in case.vanish if v in out] == []
    if case.expected is not None:
        assert out == case.expected


@pytest.mark.parametrize("case", [c for c in CASES if not c.needs_config], ids=lambda c: c.id)
def test_corpus_secret_vanishes_without_any_configuration(case: SecretCase) -> None:
    out = bare().scrub_text(case.text)
    assert [v for v in case.vanish if v in out] == []


@pytest.mark.parametrize("case", UNCHANGED, ids=lambda c: c.id)
def test_lookalike_stays_unchanged(case: Unchanged) -> None:
    counts: Counter[str] = Counter()
    assert configured().scrub_text(case.text, counts) == case.text
    assert counts == Counter()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_second_scrub_changes_nothing_and_counts_nothing(case: SecretCase) -> None:
    scrubber = configured()
    once = scrubber.scrub_text(case.text)
    counts: Counter[str] = Counter()
    assert scrubber.scrub_text(once, counts) == once
    assert counts == Counter()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_marker_contains_no_part_of_the_secret(case: SecretCase) -> None:
    out = configured().scrub_text(case.text)
    markers = re.findall(r"[A-Z]+(?:-[A-Z]+)*(?:-[0-9a-f]{4,8})?", out)
    for marker in markers:
        for secret in case.vanish:
            assert marker.lower() not in secret.lower() or len(marker) < 5, (marker, secret)


def test_counts_are_per_rule_name() -> None:
    counts: Counter[str] = Counter()
    configured().scrub_text(
        f"{SHAPED_TOKEN} 203.0.113.1 198.51.100.2 discord.gg/abc a@example.com {SNOWFLAKE}",
        counts,
    )
    assert counts == Counter(
        {"bot_token": 1, "ip_address": 2, "invite": 1, "email": 1, "discord_id": 1}
    )


@pytest.mark.parametrize("token", [None, "", "   ", "short"])
def test_missing_or_empty_own_token_is_harmless(token: str | None) -> None:
    scrubber = Scrubber(default_rules(token=token))
    assert scrubber.scrub_text("plain text") == "plain text"
    assert scrubber.scrub_text(SHAPED_TOKEN) == "BOT-TOKEN"


def test_own_token_set_later_is_scrubbed() -> None:
    scrubber = bare()
    assert scrubber.scrub_text(OWN_TOKEN) == OWN_TOKEN
    rule = scrubber.rule("bot_token")
    assert isinstance(rule, BotTokenRule)
    rule.set_token(OWN_TOKEN)
    assert scrubber.scrub_text(f"x {OWN_TOKEN} y") == "x BOT-TOKEN y"


def test_token_shape_inside_a_longer_word_is_not_a_token() -> None:
    text = "a" * 40 + ".abcdef." + "b" * 30
    assert bare().scrub_text(text) == text


def test_dotted_identifier_with_a_long_last_part_is_not_a_token() -> None:
    # Longer than a token's last part, and the first part is no base64 of a Discord ID.
    text = "a" * 24 + ".abcdef." + "b" * 45
    assert bare().scrub_text(text) == text


def test_same_id_gets_the_same_marker_and_ids_differ_in_hash_mode() -> None:
    scrubber = Scrubber(default_rules(id_mode="hash", id_secret=b"k" * 32))
    a = scrubber.scrub_text(f"{SNOWFLAKE}")
    assert a == scrubber.scrub_text(f"user_{SNOWFLAKE}").removeprefix("user_")
    assert re.fullmatch(r"SHORTENED-ID-[0-9a-f]{8}", a)
    assert scrubber.scrub_text(f"{OTHER_SNOWFLAKE}") != a


def test_hash_mode_depends_on_the_per_install_secret() -> None:
    one = Scrubber(default_rules(id_mode="hash", id_secret=b"a" * 32))
    two = Scrubber(default_rules(id_mode="hash", id_secret=b"b" * 32))
    assert one.scrub_text(f"{SNOWFLAKE}") != two.scrub_text(f"{SNOWFLAKE}")


def test_last4_mode_is_the_seed_format() -> None:
    expected = f"SHORTENED-ID-{str(SNOWFLAKE >> 22)[-4:]}"
    assert bare().scrub_text(f"id {SNOWFLAKE}") == f"id {expected}"


def test_hash_mode_without_a_secret_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match="id_secret"):
        DiscordIdRule("hash")
    with pytest.raises(ValueError, match="'sha1'"):
        DiscordIdRule("sha1")


def test_future_timestamp_is_not_an_id() -> None:
    future = (int(4e12) << 22) + 1  # a timestamp far past now
    assert bare().scrub_text(str(future)) == str(future)


def test_integer_id_attribute_becomes_its_marker() -> None:
    out = bare().scrub_value("discord.user.id", SNOWFLAKE)
    assert isinstance(out, str) and out.startswith("SHORTENED-ID-")
    assert bare().scrub_value("count", 12345) == 12345


def test_keep_callback_may_keep_a_value_and_sees_rule_and_key() -> None:
    seen: list[ScrubMatch] = []

    def keep(match: ScrubMatch) -> bool:
        seen.append(match)
        return match.value == "203.0.113.9"

    scrubber = Scrubber(default_rules(), keep=keep)
    out = scrubber.scrub_value("peer", "203.0.113.9 and 203.0.113.10")
    assert out == "203.0.113.9 and IP-ADDRESS"
    assert ScrubMatch("ip_address", "203.0.113.9", "peer") in seen


def test_a_raising_keep_callback_means_scrub() -> None:
    def keep(match: ScrubMatch) -> bool:
        raise RuntimeError("bug")

    assert Scrubber(default_rules(), keep=keep).scrub_text("203.0.113.9") == "IP-ADDRESS"


def test_huge_value_is_cut_before_scanning_without_leaving_half_a_secret() -> None:
    scrubber = Scrubber(default_rules(), max_chars=1000)
    text = "x " * 480 + SHAPED_TOKEN * 3
    out = scrubber.scrub_text(text)
    assert len(out) <= 1000 and out.endswith("[TRUNCATED]")
    assert "MTA4NzY1" not in out and "GaBcDe" not in out
    assert scrubber.scrub_text(out) == out


def test_secret_named_keys_lose_the_whole_value() -> None:
    counts: Counter[str] = Counter()
    out = bare().scrub_attributes(
        {"db.password": "hunter2", "accessToken": "abc", "tokens": ("x",), "author": "me"},
        counts,
    )
    assert out == {
        "db.password": "REDACTED",
        "accessToken": "REDACTED",
        "tokens": ("x",),
        "author": "me",
    }
    assert counts == Counter({"secret_key": 2})


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("password", True),
        ("client_secret", True),
        ("X-Api-Key", True),
        ("apiKey", True),
        ("refreshToken", True),
        ("http.request.header.cookie", True),
        ("sentry.dsn", True),
        ("author", False),
        ("max_tokens", False),
        ("discord.guild.id", False),
        ("otel_discord.scrubbed", False),
    ],
)
def test_secret_key_rule_judges_key_names(key: str, secret: bool) -> None:
    assert SecretKeyRule().redacts_key(key) is secret


def test_scrub_counts_attribute_values_survive_a_second_scrub() -> None:
    assert bare().scrub_text("bot_token:1") == "bot_token:1"


def test_short_or_generic_user_and_host_names_are_never_scrubbed() -> None:
    for rule in (UserNameRule("x"), UserNameRule("root"), HostNameRule("vm")):
        assert Scrubber([rule]).scrub_text("x root vm rooted") == "x root vm rooted"


def test_host_name_is_scrubbed_whole_and_by_first_label() -> None:
    scrubber = Scrubber([HostNameRule("rinoa-desktop.lan")])
    assert scrubber.scrub_text("on rinoa-desktop.lan / RINOA-DESKTOP") == "on HOST-NAME / HOST-NAME"


def test_rules_can_be_added_removed_and_reordered() -> None:
    scrubber = bare()
    scrubber.remove("ip_address")
    assert scrubber.scrub_text("203.0.113.9") == "203.0.113.9"
    scrubber.add(RegexRule("ticket", r"TICKET-\d+", "TICKET"), before="discord_id")
    assert scrubber.scrub_text("see TICKET-42") == "see TICKET"
    names = [r.name for r in scrubber.rules]
    assert names.index("ticket") == names.index("discord_id") - 1


def test_a_user_rule_without_gate_always_runs() -> None:
    class Upper(RegexRule):
        def __init__(self) -> None:
            super().__init__("upper", r"secretword", "WORD")

    scrubber = Scrubber([*default_rules(), Upper()])
    assert scrubber.scrub_text("a secretword") == "a WORD"


def test_non_string_input_to_scrub_text_does_not_raise() -> None:
    assert bare().scrub_text(None) == "None"  # type: ignore[arg-type]
