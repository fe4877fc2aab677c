"""An invocation's argument values, redacted from its own error report.

The scrubber's rules find secrets by shape; an argument has no shape (``!parse hunter2`` fails
with ``invalid literal for int() with base 10: 'hunter2'``), so the values themselves are
collected from the invocation and removed by exact match, one report at a time.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

import discord
from discord import app_commands
from discord.ext import commands

from otel_discord.scrubbing import Counts, RegexRule, Scrubber
from otel_discord.scrubbing._rules import _hit

__all__ = [
    "ARGUMENT_MARKER",
    "argument_scrubber",
    "context_arguments",
    "interaction_arguments",
    "listener_arguments",
]

#: What an argument value becomes in its report (no letter sequence of it survives).
ARGUMENT_MARKER = "ARGUMENT"
#: Shorter values are left alone: redacting every "a", "1" or "ok" would blank the report.
MIN_ARGUMENT_CHARS = 3
#: More distinct values than this and every string of the report is replaced whole (fail
#: closed): the matching cost grows with the count, and a report must not stall the bot.
MAX_ARGUMENT_VALUES = 1024
_EVERYTHING = r"(?s:.+)"
#: Forms longer than this are searched for with ``str.find``, not compiled into the regex.
_LONG_FORM_CHARS = 64
#: Options of an application command nest (groups, subcommands) at most this deep.
_MAX_OPTION_DEPTH = 4
#: Items of a listener's list argument looked at (a bulk delete carries up to 100 messages).
_MAX_LISTENER_ITEMS = 100
#: A flag written ``age:value`` or ``age=value`` is one word: its value is redacted on its own.
_FLAG_DELIMITERS = frozenset(":=")


def _safe_str(value: Any) -> str | None:
    try:
        text = str(value)
    except Exception:
        return None
    return text if isinstance(text, str) else None


def _values(value: Any) -> Iterator[Any]:
    # ``Greedy`` and variadic parameters hand over lists.
    if isinstance(value, (list, tuple)):
        yield from value
    else:
        yield value


def _user_names(user: discord.abc.User) -> Iterator[str]:
    # ``str(member)`` is only the user name; the author's code prints any of these.
    for attr in ("name", "display_name", "global_name", "nick"):
        name = getattr(user, attr, None)
        if isinstance(name, str):
            yield name


def _converted(objects: Iterable[Any], skip: Iterable[Any], *, flags: bool = True) -> Iterator[str]:
    """The ``str()`` of converted argument values, a user's names, and each value of a
    ``FlagConverter`` (whose ``str()`` is only its repr). ``None`` and booleans are skipped:
    they are parameter defaults or flags, and redacting every ``None`` would blank each stack
    trace."""
    skipped = [id(s) for s in skip]
    for obj in objects:
        if id(obj) in skipped:
            continue
        for value in _values(obj):
            if value is None or isinstance(value, bool):
                continue
            text = _safe_str(value)
            if text is not None:
                yield text
            if isinstance(value, discord.abc.User):
                yield from _user_names(value)
            elif flags and isinstance(value, commands.FlagConverter):
                try:
                    flag_values = [v for _name, v in value]
                except Exception:
                    continue
                yield from _converted(flag_values, (), flags=False)


def _flag_delimiters(objects: Iterable[Any]) -> set[str]:
    """``:`` and ``=``, and the prefix and delimiter of each ``FlagConverter`` among
    ``objects``."""
    out = set(_FLAG_DELIMITERS)
    for obj in objects:
        if isinstance(obj, commands.FlagConverter):
            for attr in ("__commands_flag_delimiter__", "__commands_flag_prefix__"):
                mark = getattr(type(obj), attr, None)
                if isinstance(mark, str) and mark.strip():
                    out.add(mark.strip())
    return out


def _words(text: str, delimiters: Iterable[str] = _FLAG_DELIMITERS) -> list[str]:
    """The whitespace-separated words of ``text``, and the pieces of each word around
    ``delimiters`` (``age:value`` gives ``age:value``, ``age`` and ``value``)."""
    words = text.split()
    marks = [d for d in delimiters if d]
    if not marks:
        return words
    split = re.compile("|".join(re.escape(d) for d in sorted(marks, key=len, reverse=True)))
    out = list(words)
    for word in words:
        if any(d in word for d in marks):
            out.extend(piece for piece in split.split(word) if piece)
    return out


def _raw_argument_text(ctx: commands.Context[Any]) -> str | None:
    """The message text after the invoked command (and its parent groups)."""
    content = getattr(ctx.message, "content", None)
    if not isinstance(content, str) or not content:
        return None
    prefix = ctx.prefix
    if isinstance(prefix, str) and content.startswith(prefix):
        content = content[len(prefix) :]
    words = content.split(maxsplit=len(ctx.invoked_parents) + 1)
    return words[len(ctx.invoked_parents) + 1] if len(words) > len(ctx.invoked_parents) + 1 else ""


def context_arguments(ctx: commands.Context[Any]) -> list[str]:
    """Argument values of a prefix or hybrid invocation: the converted values, the raw text
    after the command and its words, the message content, and a slash invocation's options."""
    out: list[str] = []
    content = getattr(ctx.message, "content", None)
    if isinstance(content, str) and content:
        out.append(content)
    raw = _raw_argument_text(ctx)
    if raw:
        out.append(raw)
        out.extend(_words(raw, _flag_delimiters((*ctx.args, *ctx.kwargs.values()))))
    out.extend(_converted(ctx.args, (ctx, ctx.cog)))
    out.extend(_converted(ctx.kwargs.values(), ()))
    if ctx.interaction is not None:
        out.extend(interaction_arguments(ctx.interaction))
    return out


def _option_values(options: Any, depth: int = 0) -> Iterator[str]:
    if not isinstance(options, list) or depth > _MAX_OPTION_DEPTH:
        return
    for option in options:
        if not isinstance(option, Mapping):
            continue
        if "value" in option:
            yield from _converted([option["value"]], ())
        yield from _option_values(option.get("options"), depth + 1)


def interaction_arguments(interaction: discord.Interaction[Any]) -> list[str]:
    """Option values of an application command (as sent and as transformed) and the content
    of a context-menu command's target message."""
    out: list[str] = []
    data: Any = interaction.data
    if isinstance(data, Mapping):
        out.extend(_option_values(data.get("options")))
        resolved = data.get("resolved")
        messages = resolved.get("messages") if isinstance(resolved, Mapping) else None
        if isinstance(messages, Mapping):
            for message in messages.values():
                content = message.get("content") if isinstance(message, Mapping) else None
                if isinstance(content, str) and content:
                    out.append(content)
    namespace = getattr(interaction, "namespace", None)
    if isinstance(namespace, app_commands.Namespace):
        out.extend(_converted((value for _name, value in namespace), ()))
    return out


def _text_values(text: Any) -> list[str]:
    return [text, *_words(text)] if isinstance(text, str) and text else []


def _message_values(message: discord.Message) -> list[str]:
    """A message's content and its words, and its author's names (as a converted command
    ``Member``'s are: a listener prints ``message.author`` as readily as the content)."""
    out = _text_values(message.content)
    author = getattr(message, "author", None)
    if isinstance(author, discord.abc.User):
        out.extend(_user_names(author))
    return out


def _listener_values(obj: Any, out: list[str], depth: int) -> None:
    """What ``obj``, one argument of a listener, carries of messages and invocations."""
    if isinstance(obj, discord.Message):
        out.extend(_message_values(obj))
    elif isinstance(obj, commands.Context):
        out.extend(context_arguments(obj))
    elif isinstance(obj, discord.Interaction):
        out.extend(interaction_arguments(obj))
        _listener_values(getattr(obj, "message", None), out, depth + 1)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        if depth == 0:  # one level: a bulk delete's messages, not whatever nests in them
            for item in itertools.islice(obj, _MAX_LISTENER_ITEMS):
                _listener_values(item, out, depth + 1)
    elif obj is not None and not isinstance(obj, (str, int, float, bool, bytes)):
        # A reaction's message, a raw payload's cached message(s) and its ``data`` dict.
        for attr in ("message", "cached_message"):
            message = getattr(obj, attr, None)
            if isinstance(message, discord.Message):
                out.extend(_message_values(message))
        cached = getattr(obj, "cached_messages", None)
        if isinstance(cached, list) and depth == 0:
            for message in itertools.islice(cached, _MAX_LISTENER_ITEMS):
                if isinstance(message, discord.Message):
                    out.extend(_message_values(message))
        data = getattr(obj, "data", None)
        if isinstance(data, Mapping):
            out.extend(_text_values(data.get("content")))


def listener_arguments(args: Iterable[Any]) -> list[str]:
    """The content (and its words) and the author's names of every message a listener was
    given, directly (``on_message``), in a list (``on_bulk_message_delete``), through another
    object (``reaction.message``, a raw payload's ``cached_message``; its ``data`` gives only
    the content), and everything :func:`context_arguments` collects of a ``Context``
    (``on_command_error``). Bounded: lists one level deep, at most :data:`_MAX_LISTENER_ITEMS`
    items each, four names per message. Never raises."""
    out: list[str] = []
    for arg in itertools.islice(args, _MAX_LISTENER_ITEMS):
        try:
            _listener_values(arg, out, 0)
        except Exception:  # a property that raises must not cost the rest of the values
            continue
    return out


def _trie(values: Iterable[str]) -> str:
    """One regex matching any of ``values``, longest first, built as a trie: the cost of a
    search grows with the text and the longest value, not with the number of values. Runs
    without a branch are one literal, so building it costs per branch, not per character."""
    parts: list[str] = []
    # Iterative, so that a long value cannot exhaust the interpreter's recursion limit.
    stack: list[str | tuple[list[str], int]] = [(sorted(set(values)), 0)]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            parts.append(item)
            continue
        group, k = item
        ends = len(group[0]) == k  # sorted: a value ending here comes first
        rest = group[1:] if ends else group
        if not rest:
            continue
        if len(rest) == 1:
            literal = re.escape(rest[0][k:])
            parts.append(f"(?:{literal})?" if ends else literal)
            continue
        first, last, n = rest[0], rest[-1], k
        while n < len(first) and n < len(last) and first[n] == last[n]:
            n += 1
        common = first[k:n]
        stack.append(")?" if ends else ")")
        if common:
            stack.append((rest, k + len(common)))
            stack.append(re.escape(common))
        else:
            branches = [list(g) for _ch, g in itertools.groupby(rest, key=lambda v: v[k])]
            for i in range(len(branches) - 1, -1, -1):
                stack.append((branches[i], k))
                if i > 0:
                    stack.append("|")
        stack.append("(?:")
    return "".join(parts)


def _encoded(value: str) -> Iterator[str]:
    """``value`` as a URL (aiohttp's errors show ``q=S%C3%A3o+Paulo``) or JSON shows it."""
    if value.isascii() and value.isalnum():
        return
    yield quote(value)
    yield quote_plus(value)
    yield json.dumps(value)[1:-1]


def _forms(values: Iterable[str], base: Scrubber) -> set[str]:
    """Each value as it may appear in the report: as typed, as ``repr`` shows it inside an
    exception message, percent- and JSON-encoded, and as the other rules left it (they run
    first)."""
    forms: set[str] = set()
    for value in set(values):
        for form in (value, repr(value)[1:-1], base.scrub_text(value), *_encoded(value)):
            lower = form.lower()
            # ``"İ".lower()`` is two characters: lowered, the form would match nothing. Such
            # a form is kept as it is; the rule's ``(?i)`` still matches its other cases.
            form = lower if len(lower) == len(form) else form
            if len(form) >= MIN_ARGUMENT_CHARS and form != ARGUMENT_MARKER.lower():
                forms.add(form)
    return forms


def _case_classes() -> dict[int, str]:
    """Each lower-case character ``re``'s ``(?i)`` treats as another one (dotless i and ``i``,
    the long s and ``s``), mapped to one member of its class; ``İ`` (whose ``str.lower()`` is two
    characters, but which ``re`` lowers to ``i``) to ``i``."""
    table: dict[int, str] = {0x130: "i"}
    try:  # CPython's own table (3.11+); a private module, so never a reason to fail import
        from re import _casefix  # type: ignore[attr-defined]

        extra: dict[int, tuple[int, ...]] = dict(_casefix._EXTRA_CASES)
    except Exception:
        extra = {}
    for lo, others in extra.items():
        table[lo] = chr(min(lo, *others))
    return table


_CASE_CLASSES = _case_classes()
_FIRST = {0x130: "i"}


def _folded(text: str) -> str:
    """``text`` with every character replaced by its class under ``re``'s ``(?i)``: same
    length, and a form matches ``text`` case-insensitively only where its folding is a
    substring of this. Only ever used to leave out forms that cannot match."""
    return text.translate(_FIRST).lower().translate(_CASE_CLASSES)


#: Compiled tries kept per report rule, by the forms a string contains (its strings repeat).
_MAX_TRIES = 32


class _ArgumentRule(RegexRule):
    """Long forms (a whole message, its encodings) are found with ``str.find``; short forms
    by a trie regex of only the forms each string contains. Compiling a regex costs one to
    two microseconds per character on the event loop, and a 4,000-character message has
    thousands of characters of words, of which a report quotes few once the message itself
    is gone. The trie of a subset matches exactly what the trie of all forms would: a form
    absent from the string cannot be any match's longest form."""

    def __init__(
        self, pattern: str, long_forms: list[str], short_forms: Iterable[str] = ()
    ) -> None:
        super().__init__("argument", pattern, ARGUMENT_MARKER)
        self.long_forms = [(f, _folded(f)) for f in sorted(long_forms, key=lambda f: (-len(f), f))]
        self.short_forms = [(f, _folded(f)) for f in sorted(short_forms)]
        self.tries: dict[tuple[str, ...], re.Pattern[str]] = {}

    def scrub(self, text: str, scrubber: Scrubber, counts: Counts | None, key: str | None) -> str:
        if self.long_forms:
            text = self._scrub_long(text, scrubber, counts, key)
        if self.short_forms:
            return self._scrub_short(text, scrubber, counts, key)
        return super().scrub(text, scrubber, counts, key)

    def _scrub_short(
        self, text: str, scrubber: Scrubber, counts: Counts | None, key: str | None
    ) -> str:
        folded = _folded(text)
        present = tuple(f for f, low in self.short_forms if low in folded)
        if not present:
            return text
        pattern = self.tries.get(present)
        if pattern is None:
            try:
                pattern = re.compile(f"(?i:{_trie(present)})")
            except (RecursionError, re.error):  # nested too deep for ``re``: fail closed
                pattern = re.compile(_EVERYTHING)
            if len(self.tries) >= _MAX_TRIES:
                self.tries.clear()
            self.tries[present] = pattern
        marker = self.marker

        def repl(match: re.Match[str]) -> str:
            value = match.group(0)
            if value == marker or not _hit(self, scrubber, counts, value, key):
                return value
            return marker

        return pattern.sub(repl, text)

    def _scrub_long(
        self, text: str, scrubber: Scrubber, counts: Counts | None, key: str | None
    ) -> str:
        haystack = ""
        for form, folded_form in self.long_forms:
            if len(form) > len(text):
                continue
            if len(haystack) != len(text) or not haystack:
                # Folded as the short forms are: same length as the text (an "İ" anywhere in
                # it no longer throws every offset off, as ``str.lower`` did), so offsets hold.
                haystack = _folded(text)
            if len(haystack) != len(text):  # never, but offsets must hold: match as typed
                haystack, folded_form = text, form
            start = haystack.find(folded_form)
            if start < 0:
                continue
            out: list[str] = []
            done = 0
            while start >= 0:
                value = text[start : start + len(form)]
                if _hit(self, scrubber, counts, value, key):
                    out.append(text[done:start])
                    out.append(self.marker)
                else:
                    out.append(text[done : start + len(form)])
                done = start + len(form)
                start = haystack.find(folded_form, done)
            out.append(text[done:])
            text = "".join(out)
            haystack = ""  # the text changed: fold it again for the next form
        return text


def argument_scrubber(base: Scrubber, values: Iterable[str]) -> Scrubber | None:
    """``base`` plus one rule that replaces ``values`` (case-insensitively) with
    :data:`ARGUMENT_MARKER`, or None when no value is long enough to redact.

    ``base``'s rules run first, so a short argument cannot cut a secret into pieces those rules
    no longer recognise; the report then passes the pipeline's scrubber again (idempotent)."""
    forms = _forms(values, base)
    if not forms:
        return None
    long_forms = [f for f in forms if len(f) > _LONG_FORM_CHARS]
    short = [f for f in forms if len(f) <= _LONG_FORM_CHARS]
    if len(forms) > MAX_ARGUMENT_VALUES:
        rule = _ArgumentRule(_EVERYTHING, [])
    else:
        # No gate: a report has a handful of strings, and a second huge regex would cost more.
        rule = _ArgumentRule(r"(?!)", long_forms, short)
    return Scrubber([*base.rules, rule], keep=base.keep, max_chars=base.max_chars)
