"""An invocation's argument values, redacted from its own error report.

The scrubber's rules find secrets by shape; an argument has no shape (``!parse hunter2`` fails
with ``invalid literal for int() with base 10: 'hunter2'``), so the values themselves are
collected from the invocation and removed by exact match, one report at a time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from otel_discord.scrubbing import RegexRule, Scrubber

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
#: Options of an application command nest (groups, subcommands) at most this deep.
_MAX_OPTION_DEPTH = 4


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


def _converted(objects: Iterable[Any], skip: Iterable[Any]) -> Iterator[str]:
    """The ``str()`` of converted argument values. ``None`` and booleans are skipped: they are
    parameter defaults or flags, and redacting every ``None`` would blank each stack trace."""
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
        out.extend(raw.split())
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


def listener_arguments(args: Iterable[Any]) -> list[str]:
    """The content of the messages a listener was given (``on_message``, ``on_message_edit``)."""
    return [
        a.content for a in args if isinstance(a, discord.Message) and isinstance(a.content, str)
    ]


def _trie(values: Iterable[str]) -> str:
    """One regex matching any of ``values``, longest first, built as a trie: the cost of a
    search grows with the text and the longest value, not with the number of values."""
    root: dict[str, Any] = {}
    for value in values:
        node = root
        for ch in value:
            node = node.setdefault(ch, {})
        node[""] = {}
    parts: list[str] = []
    # Iterative, so that a long value cannot exhaust the interpreter's recursion limit.
    stack: list[Any] = [(root, 0)]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            parts.append(item)
            continue
        node, _ = item
        branches = sorted(k for k in node if k)
        ends = "" in node
        if not branches:
            continue
        grouped = len(branches) > 1 or ends
        if grouped:
            stack.append(")?" if ends else ")")
        for i in range(len(branches) - 1, -1, -1):
            ch = branches[i]
            stack.append((node[ch], 0))
            stack.append(re.escape(ch))
            if i > 0:
                stack.append("|")
        if grouped:
            stack.append("(?:")
    return "".join(parts)


def _forms(values: Iterable[str], base: Scrubber) -> set[str]:
    """Each value as it may appear in the report: as typed, as ``repr`` shows it inside an
    exception message, and as the other rules left it (they run first)."""
    forms: set[str] = set()
    for value in values:
        for form in (value, repr(value)[1:-1], base.scrub_text(value)):
            form = form.lower()
            if len(form) >= MIN_ARGUMENT_CHARS and form != ARGUMENT_MARKER.lower():
                forms.add(form)
    return forms


def argument_scrubber(base: Scrubber, values: Iterable[str]) -> Scrubber | None:
    """``base`` plus one rule that replaces ``values`` (case-insensitively) with
    :data:`ARGUMENT_MARKER`, or None when no value is long enough to redact.

    ``base``'s rules run first, so a short argument cannot cut a secret into pieces those rules
    no longer recognise; the report then passes the pipeline's scrubber again (idempotent)."""
    forms = _forms(values, base)
    if not forms:
        return None
    pattern = _EVERYTHING
    if len(forms) <= MAX_ARGUMENT_VALUES:
        pattern = f"(?i:{_trie(forms)})"
        try:
            re.compile(pattern)
        except (RecursionError, re.error):  # values nested too deep for ``re``: fail closed
            pattern = _EVERYTHING
    # No gate: a report has a handful of strings, and a second huge regex would cost more.
    rule = RegexRule("argument", pattern, ARGUMENT_MARKER)
    return Scrubber([*base.rules, rule], keep=base.keep, max_chars=base.max_chars)
