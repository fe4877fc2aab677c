"""Property tests: secrets spliced into random text at random offsets vanish; a second scrub is
a no-op; no input makes the scrubber raise."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_discord.scrubbing import Scrubber, default_rules
from otel_discord.scrubbing._rules import AuthorizationRule, BotTokenRule, RegexRule, Rule
from tests.scrub_corpus import CASES, IDENTITY, OWN_TOKEN, UNCHANGED, SecretCase

SCRUBBER = Scrubber(default_rules(token=OWN_TOKEN, local_identity=IDENTITY))
# Filler may hold anything printable; a separator keeps it from joining the secret into a longer
# word (a digit glued to an ID makes a longer number, which rightly is not an ID).
FILLER = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
SEPARATORS = st.sampled_from([" ", "\n", "\t", ", ", "; ", " (", ") ", " '", "' ", ' "', " | "])
# How many examples, and whether they are the same each run, come from the profile in conftest.
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(
    pieces=st.lists(st.tuples(FILLER, st.sampled_from(CASES), SEPARATORS), min_size=1, max_size=4),
    tail=FILLER,
)
def test_spliced_secrets_vanish(pieces: list[tuple[str, SecretCase, str]], tail: str) -> None:
    text = "".join(f"{filler}{sep}{case.text}{sep}" for filler, case, sep in pieces) + tail
    out = SCRUBBER.scrub_text(text)
    for _, case, _ in pieces:
        for secret in case.vanish:
            assert secret not in out


@pytest.mark.parametrize("sep", [" ", "\n", " '", "' ", ' "', ", "])
def test_every_pair_of_corpus_secrets_vanishes_side_by_side(sep: str) -> None:
    """One rule's match must not swallow the name or the start of the next secret (an
    ``Authorization:`` value once ran on over ``client_secret=`` and a Windows path)."""
    leaked = []
    for first, second in itertools.product(CASES, repeat=2):
        out = SCRUBBER.scrub_text(f"{sep}{first.text}{sep}{sep}{second.text}{sep}")
        leaked += [(first.id, second.id, v) for c in (first, second) for v in c.vanish if v in out]
    assert leaked == []


@SETTINGS
@given(text=st.text(max_size=300))
def test_second_scrub_changes_nothing(text: str) -> None:
    once = SCRUBBER.scrub_text(text)
    assert SCRUBBER.scrub_text(once) == once


@SETTINGS
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=20,
    )
)
def test_no_input_makes_the_scrubber_raise(value: object) -> None:
    SCRUBBER.scrub_data(value)
    SCRUBBER.scrub_value("k", value)
    SCRUBBER.scrub_text(str(value))


def _ungated_rules() -> list[Rule]:
    """The default rules with every shortcut off: no gate, no low gate, no prefilter."""
    rules = default_rules(token=OWN_TOKEN, local_identity=IDENTITY)
    for rule in rules:
        rule.gate = rule.low_gate = None
        if isinstance(rule, RegexRule):
            rule.prefilter = None
    return rules


UNGATED = Scrubber(_ungated_rules())
FORMS: list[Callable[[str], str]] = [str, str.upper, str.lower, str.swapcase, str.title]
CASE_FORMS = st.sampled_from(FORMS)


def test_gates_skip_no_corpus_text_in_any_letter_case() -> None:
    """A gate (or lower-case gate) that misses text its rule would change is a leak."""
    texts = [
        form(t) for t in [c.text for c in CASES] + [u.text for u in UNCHANGED] for form in FORMS
    ]
    assert [t for t in texts if SCRUBBER.scrub_text(t) != UNGATED.scrub_text(t)] == []


@SETTINGS
@given(
    pieces=st.lists(st.tuples(FILLER, st.sampled_from(CASES), CASE_FORMS), min_size=1, max_size=3),
    tail=FILLER,
)
def test_gates_only_skip_rules_that_would_change_nothing(
    pieces: list[tuple[str, SecretCase, Callable[[str], str]]], tail: str
) -> None:
    text = "".join(f"{filler} {form(case.text)} " for filler, case, form in pieces) + tail
    assert SCRUBBER.scrub_text(text) == UNGATED.scrub_text(text)


def _patterns(rule: Rule) -> list[re.Pattern[str]]:
    """What ``rule`` looks for, as regexes hypothesis can generate matches of."""
    if isinstance(rule, RegexRule):
        return [rule.pattern]
    if isinstance(rule, AuthorizationRule):
        return [rule.HEADER, rule.SCHEME]
    if isinstance(rule, BotTokenRule):
        assert rule.token is not None
        return [rule.SHAPE, re.compile(re.escape(rule.token))]
    raise AssertionError(f"no patterns known for rule {rule.name!r}")


GATED_RULES = {r.name: r for r in default_rules(token=OWN_TOKEN, local_identity=IDENTITY)}
UNGATED_RULES = {r.name: r for r in _ungated_rules()}
TEXT_RULES = [name for name, rule in GATED_RULES.items() if rule.scrubs_text]


@st.composite
def _in_random_case(draw: st.DrawFn, texts: st.SearchStrategy[str]) -> str:
    text = draw(texts)
    # Half the texts keep their case: flipped letters rarely still match a case-sensitive rule.
    if not draw(st.booleans()):
        return text
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.swapcase() if flip else c for c, flip in zip(text, flips, strict=True))


@pytest.mark.parametrize("name", TEXT_RULES)
@SETTINGS
@given(data=st.data())
def test_no_gate_skips_a_match_of_its_own_rule(name: str, data: st.DataObject) -> None:
    """Each rule alone, gated and ungated, over matches of its own pattern (in random letter
    case, inside random filler): a gate that skips one of them lets that secret through."""
    matches = st.sampled_from(_patterns(GATED_RULES[name])).flatmap(st.from_regex)
    text = data.draw(st.tuples(FILLER, _in_random_case(matches), FILLER).map("".join))
    gated, ungated = Scrubber([GATED_RULES[name]]), Scrubber([UNGATED_RULES[name]])
    assert gated.scrub_text(text) == ungated.scrub_text(text)
