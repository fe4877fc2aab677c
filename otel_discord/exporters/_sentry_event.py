"""Scrubbed spans -> Sentry error events, event records -> Sentry log items. Pure functions, no
sentry-sdk import.

The frames come from parsing ``exception.stacktrace``: that string is what the pipeline scrubbed,
so an event is built only from data that already went through the scrubber (a side channel
carrying the live exception object would bypass it). Python's traceback format is stable and
carries file, line, function and source line for each frame, and the chain of causes.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import format_span_id, format_trace_id

from otel_discord._attributes import (
    BREADCRUMB_LEVEL,
    BREADCRUMB_LOGGER,
    BREADCRUMB_MESSAGE,
    DISCORD_COG,
    DISCORD_COMMAND,
    DISCORD_KIND,
    DISCORD_LISTENER,
    DISCORD_LOOP,
    ERROR_CODE,
    EXCEPTION_MESSAGE,
    EXCEPTION_STACKTRACE,
    EXCEPTION_TYPE,
    INSTALL_ID,
    VERSION_DISCORD_PY,
    VERSION_OTEL_DISCORD,
    VERSION_PYTHON,
    VERSION_RED,
)
from otel_discord._events import running_red_version

#: Span attributes that become Sentry tags (searchable, shown on the issue).
TAG_ATTRIBUTES = (DISCORD_COG, DISCORD_COMMAND, DISCORD_LOOP, DISCORD_LISTENER, DISCORD_KIND)

_FRAME = re.compile(r'^\s*File "(?P<path>[^"]*)", line (?P<line>\d+)(?:, in (?P<func>.*))?$')
_CAUSE = "The above exception was the direct cause of the following exception:"
_CONTEXT = "During handling of the above exception, another exception occurred:"
_CARETS = re.compile(r"^\s*[~^]+\s*$")
_SKIP = re.compile(
    r"^(?:Traceback \(most recent call last\)|\s*[~^]+\s*$|\s*\[Previous line repeated)"
)
_SITE = re.compile(r".*[/\\](?:site|dist)-packages[/\\]")
_STDLIB = re.compile(r".*[/\\]lib[/\\]python\d+(?:\.\d+)?[/\\]")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_FRAMES = 100
_MAX_CHAIN = 10
#: Packages whose paths are cut at their own directory too (never in-app).
_KNOWN_PACKAGES = frozenset({"otel_discord", "discord", "redbot"})
_LEVELS = {"warn": "warning", "critical": "fatal"}


def package_name(reporter: str) -> str:
    """The Python package a reporter name most likely stands for (``My-Cog`` -> ``my_cog``)."""
    return re.sub(r"[^0-9a-zA-Z_]+", "_", reporter).strip("_").lower()


def _short_path(path: str, packages: frozenset[str]) -> tuple[str, str | None]:
    """A frame's path without the machine's directories (they hold user names), and its module.

    Installed code is cut at ``site-packages/``, the standard library at ``lib/pythonX.Y/``, a
    reporter's package at its own directory; anything else keeps only its file name."""
    if path.startswith("<"):
        return path, None
    norm = path.replace("\\", "/")
    rel: str | None = None
    for pattern in (_SITE, _STDLIB):
        match = pattern.match(norm)
        if match:
            rel = norm[match.end() :]
            break
    if rel is None:
        parts = norm.split("/")
        for i, part in enumerate(parts[:-1]):
            if part in packages or part in _KNOWN_PACKAGES:
                rel = "/".join(parts[i:])
                break
    if rel is None:
        return norm.rsplit("/", 1)[-1], None
    module_parts = rel.removesuffix(".py").split("/")
    if module_parts and module_parts[-1] == "__init__":
        module_parts.pop()
    if module_parts and all(_IDENT.match(p) for p in module_parts):
        return rel, ".".join(module_parts)
    return rel, None


def _frame(path: str, line: int, func: str | None, packages: frozenset[str]) -> dict[str, Any]:
    filename, module = _short_path(path, packages)
    top = module.split(".", 1)[0] if module else None
    frame: dict[str, Any] = {
        "filename": filename,
        "abs_path": filename,
        "lineno": line,
        "function": func or "<module>",
        "in_app": top is not None and top in packages and top != "otel_discord",
    }
    if module:
        frame["module"] = module
    return frame


def _split_type(text: str) -> tuple[str, str, str | None]:
    """``pkg.mod.Error: message`` -> (``Error``, ``message``, ``pkg.mod``)."""
    head, sep, value = text.partition(": ")
    if not sep and text.endswith(":"):
        head = text[:-1]
    head = head.strip()
    if not head or " " in head:
        return "Error", text, None
    module, _, name = head.rpartition(".")
    return name, value if sep else "", module or None


def parse_traceback(text: str, packages: frozenset[str]) -> list[dict[str, Any]]:
    """Sentry ``exception.values`` (oldest cause first) from Python's formatted traceback."""
    blocks: list[list[str]] = [[]]
    for raw in text.splitlines():
        if raw.strip() in (_CAUSE, _CONTEXT):
            blocks.append([])
        else:
            blocks[-1].append(raw)
    values: list[dict[str, Any]] = []
    for block in blocks[-_MAX_CHAIN:]:
        frames: list[dict[str, Any]] = []
        tail: list[str] = []
        i = 0
        while i < len(block):
            line = block[i]
            match = _FRAME.match(line)
            if match:
                frame = _frame(match["path"], int(match["line"]), match["func"], packages)
                nxt = block[i + 1] if i + 1 < len(block) else ""
                if nxt.startswith("    ") and not _FRAME.match(nxt) and not _CARETS.match(nxt):
                    frame["context_line"] = nxt.strip()
                    i += 1
                frames.append(frame)
                tail = []
            elif line.strip() and not _SKIP.match(line):
                tail.append(line)
            i += 1
        if not tail and not frames:
            continue
        type_name, value, module = _split_type("\n".join(tail).strip())
        entry: dict[str, Any] = {"type": type_name, "value": value}
        if module:
            entry["module"] = module
        if frames:
            entry["stacktrace"] = {"frames": frames[-_MAX_FRAMES:]}
        values.append(entry)
    return values


def _hex_trace(span: ReadableSpan) -> tuple[str, str, str | None]:
    ctx = span.context
    assert ctx is not None
    parent = span.parent.span_id if span.parent is not None else None
    return (
        format_trace_id(ctx.trace_id),
        format_span_id(ctx.span_id),
        format_span_id(parent) if parent else None,
    )


def _iso(ns: int | None) -> float | None:
    return ns / 1e9 if ns is not None else None


def exception_events(
    spans: Iterable[ReadableSpan], packages: frozenset[str]
) -> list[dict[str, Any]]:
    """One Sentry error event per ``exception`` span event of ``spans``; the span's
    ``breadcrumb`` events (recent log records of the reporter) become its breadcrumbs."""
    out: list[dict[str, Any]] = []
    for span in spans:
        if span.context is None:
            continue
        crumbs = [_breadcrumb(ev) for ev in span.events if ev.name == "breadcrumb"]
        for ev in span.events:
            if ev.name == "exception":
                event = error_event(span, ev.attributes or {}, ev.timestamp, packages)
                if crumbs:
                    event["breadcrumbs"] = {"values": crumbs}
                out.append(event)
    return out


def _breadcrumb(ev: Any) -> dict[str, Any]:
    attrs = ev.attributes or {}
    level = str(attrs.get(BREADCRUMB_LEVEL) or "info").lower()
    crumb: dict[str, Any] = {
        "type": "log",
        "level": _LEVELS.get(level, level),
        "category": str(attrs.get(BREADCRUMB_LOGGER) or ""),
        "message": str(attrs.get(BREADCRUMB_MESSAGE) or ""),
    }
    if ev.timestamp:
        crumb["timestamp"] = ev.timestamp / 1e9
    return crumb


def error_event(
    span: ReadableSpan,
    attributes: Mapping[str, Any],
    timestamp_ns: int | None,
    packages: frozenset[str],
) -> dict[str, Any]:
    """The Sentry error event for one exception recorded on ``span``."""
    exc_type = str(attributes.get(EXCEPTION_TYPE) or "Error")
    message = str(attributes.get(EXCEPTION_MESSAGE) or "")
    stacktrace = attributes.get(EXCEPTION_STACKTRACE)
    values = parse_traceback(stacktrace, packages) if isinstance(stacktrace, str) else []
    module, _, type_name = exc_type.rpartition(".")
    if not values:
        values = [{}]
    # The attributes name the exception itself; the text's last block is the same one.
    values[-1]["type"] = type_name
    values[-1]["value"] = message
    if module:
        values[-1]["module"] = module
    values[-1]["mechanism"] = {"type": "otel_discord", "handled": True}

    span_attrs = dict(span.attributes or {})
    resource = dict(span.resource.attributes) if span.resource is not None else {}
    tags: dict[str, str] = {}
    for key in TAG_ATTRIBUTES:
        if span_attrs.get(key) is not None:
            tags[key] = str(span_attrs[key])
    code = attributes.get(ERROR_CODE, span_attrs.get(ERROR_CODE))
    if code is not None:
        tags[ERROR_CODE] = str(code)
    versions = {
        VERSION_OTEL_DISCORD: resource.get("telemetry.distro.version"),
        VERSION_DISCORD_PY: resource.get("discord.py.version"),
        VERSION_PYTHON: resource.get("process.runtime.version"),
        VERSION_RED: running_red_version(),
    }
    tags.update({k: str(v) for k, v in versions.items() if v})

    trace_id, span_id, parent_id = _hex_trace(span)
    trace: dict[str, Any] = {
        "trace_id": trace_id,
        "span_id": span_id,
        "op": str(span_attrs.get(DISCORD_KIND) or "otel_discord"),
        "description": span.name,
        "status": "internal_error",
    }
    if parent_id:
        trace["parent_span_id"] = parent_id

    event: dict[str, Any] = {
        "event_id": uuid.uuid4().hex,
        "level": "error",
        "platform": "python",
        "logger": "otel_discord",
        "transaction": span.name,
        "exception": {"values": values},
        "tags": tags,
        "contexts": {
            "trace": trace,
            "otel": {
                "attributes": {k: _plain(v) for k, v in span_attrs.items()},
                "resource": {k: _plain(v) for k, v in resource.items()},
            },
        },
    }
    timestamp = _iso(timestamp_ns or span.end_time)
    if timestamp is not None:
        event["timestamp"] = timestamp
    install_id = resource.get(INSTALL_ID)
    if install_id:
        event["user"] = {"id": str(install_id)}
    return event


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _log_attribute(value: Any) -> dict[str, Any]:
    """One attribute in Sentry's log format (sentry-sdk's own helper is newer than the oldest
    sentry-sdk this package supports)."""
    if isinstance(value, bool):
        return {"value": value, "type": "boolean"}
    if isinstance(value, int):
        return {"value": value, "type": "integer"}
    if isinstance(value, float):
        return {"value": value, "type": "double"}
    if isinstance(value, tuple | list):
        values = list(value)
        first = type(values[0]) if values else None
        if first in (str, int, float, bool) and all(type(v) is first for v in values):
            return {"value": values, "type": "array"}
        return {"value": [str(v) for v in values], "type": "array"}
    return {"value": str(value), "type": "string"}


def log_items(
    records: Sequence[ReadableLogRecord],
    *,
    release: str,
    environment: str | None,
    user_id: str | None,
    trace_id: str,
) -> list[dict[str, Any]]:
    """Sentry log items (the ``log`` envelope item's ``items``) for event records: body = the
    event name, level from the severity, the record's and the resource's attributes, release,
    environment and the install id as ``user.id``. A record inside one of the reporter's spans
    keeps that span's trace and span id; the others get the run's ``trace_id``."""
    out: list[dict[str, Any]] = []
    for readable in records:
        record = readable.log_record
        attributes: dict[str, Any] = {}
        resource = readable.resource
        if resource is not None:
            attributes.update(resource.attributes)
        attributes.update(record.attributes or {})
        attributes["sentry.release"] = release
        if environment:
            attributes["sentry.environment"] = environment
        if user_id:
            attributes["user.id"] = user_id
        level = str(record.severity_text or "info").lower()
        item: dict[str, Any] = {
            "timestamp": (record.timestamp or record.observed_timestamp or 0) / 1e9,
            "level": _LEVELS.get(level, level),
            "body": str(record.body if record.body is not None else record.event_name or ""),
            "trace_id": format_trace_id(record.trace_id) if record.trace_id else trace_id,
            "attributes": {k: _log_attribute(v) for k, v in attributes.items()},
        }
        if record.span_id:
            item["span_id"] = format_span_id(record.span_id)
        out.append(item)
    return out
