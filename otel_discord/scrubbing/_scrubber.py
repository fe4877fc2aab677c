"""The :class:`Scrubber`: runs rules over text, attribute values and mappings, fail-closed."""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from otel_discord.scrubbing._rules import Rule

Counts = Counter[str]

#: Values longer than this are cut before scanning, so one huge attribute cannot stall a bot.
MAX_VALUE_CHARS = 16_384
TRUNCATED = "...[TRUNCATED]"
#: :meth:`Scrubber.scrub_data` replaces containers nested deeper than this (and cycles).
MAX_DEPTH = 64
REDACTED = "REDACTED"
# When cutting, the last word (up to this long) is dropped with the rest.
_MAX_WORD = 1024
_LAST_WORD = re.compile(r"[^\s\"'<>,;()\[\]{}]*\Z")


@dataclass(frozen=True)
class ScrubMatch:
    """What a rule is about to replace, shown to a keep-callback (never exported)."""

    rule: str
    value: str
    key: str | None


#: Returns True to keep the matched value as it is.
KeepCallback = Callable[[ScrubMatch], bool]


class Scrubber:
    """An ordered list of rules. Add, remove or reorder them through :attr:`rules`."""

    def __init__(
        self,
        rules: Iterable[Rule] | None = None,
        *,
        keep: KeepCallback | None = None,
        max_chars: int = MAX_VALUE_CHARS,
    ) -> None:
        from otel_discord.scrubbing._rules import default_rules

        self.rules: list[Rule] = list(default_rules() if rules is None else rules)
        self.keep = keep
        self.max_chars = max_chars
        self._plan_rules: list[Rule] = []
        self._plan_epoch = -1
        self._steps: list[tuple[Rule, re.Pattern[str] | None, re.Pattern[str] | None]] = []

    def _plan(self) -> list[tuple[Rule, re.Pattern[str] | None, re.Pattern[str] | None]]:
        """Each text rule with its compiled ``gate`` and ``low_gate``.

        Rebuilt when the rule list or any rule's configuration changes. Searched one by one, not
        joined into one alternation: a gate that starts with a literal is a fast C scan, and an
        alternation of them is not (and then every rule ran as soon as one gate matched).
        """
        from otel_discord.scrubbing._rules import _generation

        if self._plan_epoch != _generation[0] or self._plan_rules != self.rules:
            rules = list(self.rules)
            for rule in rules:  # from now on, reconfiguring the rule bumps the generation
                object.__setattr__(rule, "_planned", True)
            self._steps = [
                (
                    r,
                    re.compile(r.gate) if r.gate is not None else None,
                    re.compile(r.low_gate) if r.low_gate is not None else None,
                )
                for r in rules
                if r.scrubs_text
            ]
            self._plan_rules, self._plan_epoch = rules, _generation[0]
        return self._steps

    def add(self, rule: Rule, *, before: str | None = None) -> None:
        """Add ``rule`` at the end, or before the rule named ``before``."""
        if before is None:
            self.rules.append(rule)
            return
        for i, existing in enumerate(self.rules):
            if existing.name == before:
                self.rules.insert(i, rule)
                return
        raise KeyError(before)

    def remove(self, name: str) -> None:
        """Remove the rule named ``name``."""
        self.rules = [r for r in self.rules if r.name != name]

    def rule(self, name: str) -> Rule:
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(name)

    def _kept(self, rule: str, value: str, key: str | None) -> bool:
        if self.keep is None:
            return False
        try:
            return bool(self.keep(ScrubMatch(rule, value, key)))
        except Exception:
            return False

    def scrub_text(self, text: str, counts: Counts | None = None, key: str | None = None) -> str:
        """Scrub one string. ``counts`` receives how many values each rule replaced.

        Text longer than ``max_chars`` is cut first (a partial last word is dropped, so that no
        secret is cut into a piece its rule no longer recognises). Built-in rules never raise;
        an exception from a rule added by the user propagates, and the pipeline then drops the
        whole span or event (fail closed).
        """
        if not isinstance(text, str):
            text = _safe_str(text)
        if len(text) > self.max_chars:
            text = _cut(text, self.max_chars)
        # ASCII text (nearly all of it) is searched lower-cased, so that case-insensitive gates
        # need no (?i) search; isascii() is O(1).
        low = text.lower() if text.isascii() else None
        for rule, gate, low_gate in self._plan():
            if low is not None and low_gate is not None:
                if low_gate.search(low) is None:
                    continue
            elif gate is not None and gate.search(text) is None:
                continue
            scrubbed = rule.scrub(text, self, counts, key)
            if scrubbed is not text:
                text = scrubbed
                low = text.lower() if text.isascii() else None
        return text

    def scrub_value(self, key: str | None, value: Any, counts: Counts | None = None) -> Any:
        """Scrub an attribute value: strings, and sequences of strings, are scrubbed."""
        for rule in self.rules:
            if key is not None and rule.redacts_key(key):
                if counts is not None:
                    counts[rule.name] += 1
                return rule.marker if not isinstance(value, (list, tuple)) else (rule.marker,)
        if isinstance(value, str):
            return self.scrub_text(value, counts, key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 10**15:
            # Discord IDs often travel as integers; a shortened one becomes its marker string.
            text = str(value)
            scrubbed = self.scrub_text(text, counts, key)
            return value if scrubbed == text else scrubbed
        if isinstance(value, (list, tuple)):
            return tuple(self.scrub_value(None, v, counts) for v in value)
        if isinstance(value, Mapping):
            return {k: self.scrub_value(str(k), v, counts) for k, v in value.items()}
        return value

    def scrub_attributes(
        self, attributes: Mapping[str, Any] | None, counts: Counts | None = None
    ) -> dict[str, Any]:
        """Scrub a mapping of attributes: keys and values."""
        if not attributes:
            return {}
        out: dict[str, Any] = {}
        for k, v in attributes.items():
            out[self.scrub_text(k, counts)] = self.scrub_value(k, v, counts)
        return out

    def scrub_sequence(self, values: Sequence[str], counts: Counts | None = None) -> list[str]:
        return [self.scrub_text(v, counts) for v in values]

    def scrub_data(self, obj: Any, counts: Counts | None = None) -> Any:
        """Scrub JSON-like data of any depth (a whole Sentry event, a config dump).

        Dicts, lists, tuples and sets keep their type; every string is scrubbed, keys too; the
        whole value under a secret-named key is replaced by that rule's marker; integers that
        are Discord IDs become their marker. Fail closed: bytes are decoded and scrubbed, any
        other object is replaced by its scrubbed ``repr``, a cycle or anything deeper than
        :data:`MAX_DEPTH` becomes ``REDACTED``.
        """
        return self._data(obj, None, counts, 0, set())

    def _key_marker(self, key: str, counts: Counts | None) -> str | None:
        for rule in self.rules:
            if rule.redacts_key(key):
                if counts is not None:
                    counts[rule.name] += 1
                return rule.marker
        return None

    def _data(
        self, obj: Any, key: str | None, counts: Counts | None, depth: int, path: set[int]
    ) -> Any:
        if key is not None:
            marker = self._key_marker(key, counts)
            if marker is not None:
                return marker
        if obj is None or isinstance(obj, (bool, float)):
            return obj
        if isinstance(obj, str):
            return self.scrub_text(obj, counts)
        if isinstance(obj, int):
            return self.scrub_value(None, obj, counts)
        if isinstance(obj, (bytes, bytearray)):
            return self.scrub_text(bytes(obj).decode("utf-8", "replace"), counts)
        if not isinstance(obj, (Mapping, list, tuple, set, frozenset)):
            return self.scrub_text(_safe_repr(obj), counts)
        if depth >= MAX_DEPTH or id(obj) in path:
            return REDACTED
        path.add(id(obj))
        try:
            if isinstance(obj, Mapping):
                out: dict[Any, Any] = {}
                for k, v in obj.items():
                    name = k if isinstance(k, str) else None
                    new_key = self._data(k, None, counts, depth + 1, path)
                    if not isinstance(new_key, (str, int, float, bool)) and new_key is not None:
                        new_key = str(new_key)
                    out[new_key] = self._data(v, name, counts, depth + 1, path)
                return out
            items = [self._data(v, None, counts, depth + 1, path) for v in obj]
            if isinstance(obj, list):
                return items
            if isinstance(obj, tuple):
                return tuple(items)
            try:
                return type(obj)(items) if isinstance(obj, frozenset) else set(items)
            except TypeError:  # an unhashable scrubbed item: a list keeps it
                return items
        finally:
            path.discard(id(obj))

    def scrub_record(self, record: logging.LogRecord, counts: Counts | None = None) -> str:
        """The scrubbed, formatted message of a log record (for breadcrumbs).

        Formatting errors never raise: the raw ``msg`` and ``args`` are used instead, scrubbed
        the same way.
        """
        try:
            message = record.getMessage()
        except Exception:
            message = f"{_safe_repr(record.msg)} {_safe_repr(record.args)}"
        return self.scrub_text(message, counts)


def cut_text(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters, dropping a partial last word so that no half
    of a secret survives the cut where its rule could no longer recognise it."""
    return _cut(text, limit) if len(text) > limit else text


def _cut(text: str, limit: int) -> str:
    head = text[: max(limit - len(TRUNCATED), 0)]
    tail = _LAST_WORD.search(head, max(len(head) - _MAX_WORD, 0))
    if tail is not None:
        head = head[: tail.start()]
    return head + TRUNCATED


def _safe_str(obj: Any) -> str:
    try:
        return str(obj)
    except Exception:
        return f"<{type(obj).__name__}>"


def _safe_repr(obj: Any) -> str:
    try:
        return repr(obj)
    except Exception:
        return f"<{type(obj).__name__}>"
