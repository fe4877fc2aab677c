"""The argument rule matches exactly what its earlier form did: one trie regex of every short
form, compiled per report, and each long form found case-insensitively as ``re`` compares. That
implementation is kept here as the oracle."""

from __future__ import annotations

import _sre
import re
from collections import Counter
from collections.abc import Iterable

from hypothesis import given
from hypothesis import strategies as st

from otel_discord.hooks._arguments import (
    _EVERYTHING,
    _LONG_FORM_CHARS,
    ARGUMENT_MARKER,
    MAX_ARGUMENT_VALUES,
    _folded,
    _forms,
    _trie,
    argument_scrubber,
)
from otel_discord.scrubbing import Counts, RegexRule, Scrubber, default_rules
from otel_discord.scrubbing._rules import _hit

BASE = Scrubber(
    default_rules(local_identity={"home": "/home/synth", "user": "synthu", "host": "synh"})
)


class _OracleRule(RegexRule):
    """The rule as it was: long forms by ``str.find``, every short form in one trie regex."""

    def __init__(self, pattern: str, long_forms: list[str]) -> None:
        super().__init__("argument", pattern, ARGUMENT_MARKER)
        self.long_forms = sorted(long_forms, key=lambda f: (-len(f), f))

    def scrub(self, text: str, scrubber: Scrubber, counts: Counts | None, key: str | None) -> str:
        # Long forms: case-insensitively as ``re``'s ``(?i)`` compares, left to right, longest
        # form first (the rule finds them with ``str.find`` over a folded copy instead).
        for form in self.long_forms:

            def repl(match: re.Match[str]) -> str:
                value = match.group(0)
                return self.marker if _hit(self, scrubber, counts, value, key) else value

            text = re.sub(f"(?i:{re.escape(form)})", repl, text)
        return super().scrub(text, scrubber, counts, key)


def oracle_scrubber(base: Scrubber, values: Iterable[str]) -> Scrubber | None:
    forms = _forms(values, base)
    if not forms:
        return None
    long_forms = [f for f in forms if len(f) > _LONG_FORM_CHARS]
    short = [f for f in forms if len(f) <= _LONG_FORM_CHARS]
    pattern = _EVERYTHING
    if len(forms) <= MAX_ARGUMENT_VALUES:
        pattern = f"(?i:{_trie(short)})" if short else r"(?!)"
        try:
            re.compile(pattern)
        except (RecursionError, re.error):
            pattern = _EVERYTHING
    if pattern == _EVERYTHING:
        long_forms = []
    rule = _OracleRule(pattern, long_forms)
    return Scrubber([*base.rules, rule], keep=base.keep, max_chars=base.max_chars)


# Characters whose case ``re`` and ``str.lower`` treat differently, separators, and escapes.
ALPHABET = "abkisAKIS19 :=_-'\"%\\/.@&?\n" + (
    "\u0130\u0131\u017f\u212a\u00df\u03a3\u03c3\u03c2\u00e9\u00c9"
)
piece = st.text(alphabet=ALPHABET, min_size=1, max_size=12)
value = st.one_of(piece, st.builds(lambda p, n: p * n, piece, st.integers(6, 12)))


@st.composite
def reports(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    values = draw(st.lists(value, min_size=1, max_size=12))
    strings = []
    for _ in range(draw(st.integers(1, 4))):
        parts = []
        for _ in range(draw(st.integers(0, 6))):
            kind = draw(st.sampled_from(["value", "upper", "repr", "filler", "cut"]))
            v = draw(st.sampled_from(values))
            if kind == "value":
                parts.append(v)
            elif kind == "upper":
                parts.append(v.upper())
            elif kind == "repr":
                parts.append(repr(v))
            elif kind == "cut":
                parts.append(v[draw(st.integers(0, len(v))) :])
            else:
                parts.append(draw(piece))
        strings.append("".join(parts))
    return values, strings


def _kept_every_other() -> object:
    seen = Counter[str]()

    def keep(match: object) -> bool:
        value = getattr(match, "value", "")
        seen[value] += 1
        return seen[value] % 2 == 0

    return keep


@given(reports())
def test_the_rule_redacts_exactly_what_one_trie_of_all_forms_redacts(
    case: tuple[list[str], list[str]],
) -> None:
    values, strings = case
    new, old = argument_scrubber(BASE, values), oracle_scrubber(BASE, values)
    assert (new is None) == (old is None)
    if new is None or old is None:
        return
    for text in strings:
        new_counts, old_counts = Counter[str](), Counter[str]()
        assert new.scrub_text(text, new_counts) == old.scrub_text(text, old_counts)
        assert new_counts == old_counts


@given(reports())
def test_a_keep_callback_sees_the_same_matches_as_with_one_trie_of_all_forms(
    case: tuple[list[str], list[str]],
) -> None:
    values, strings = case
    base_new = Scrubber(BASE.rules, keep=_kept_every_other())  # type: ignore[arg-type]
    base_old = Scrubber(BASE.rules, keep=_kept_every_other())  # type: ignore[arg-type]
    new, old = argument_scrubber(base_new, values), oracle_scrubber(base_old, values)
    if new is None or old is None:
        assert new is old
        return
    for text in strings:
        assert new.scrub_text(text) == old.scrub_text(text)


def test_folding_keeps_each_characters_place_and_is_res_own_case_rule() -> None:
    # The subset of forms looked for is chosen by substring search in the folded text, so each
    # character must fold in place to what ``re``'s (?i) lowers it to (İ: to "i").
    text = "".join(chr(cp) for cp in range(0x110000) if not 0xD800 <= cp < 0xE000)
    folded = _folded(text)
    assert len(folded) == len(text)
    lowered = "".join(chr(_sre.unicode_tolower(ord(ch))) for ch in text)
    assert _folded(lowered) == folded


def test_a_long_form_is_found_in_a_string_that_also_holds_a_dotted_capital_i() -> None:
    """``str.lower`` makes "İ" two characters, which threw every offset off: a long value
    (a token, a URL) next to a Turkish place name went out unredacted."""
    token = "Xq7Lm2Pz9Rt4Vb8Nc3Kd6Hf1Jg5Ws0Ye" * 3
    scrubber = argument_scrubber(Scrubber([]), [token])
    assert scrubber is not None
    assert scrubber.scrub_text(f"bad city İstanbul {token}") == "bad city İstanbul ARGUMENT"
