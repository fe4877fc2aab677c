"""``docs/what-is-sent.md`` lists every key the package can emit. Three sources are checked
against the page: the names in ``otel_discord/_attributes.py``, the resource builder's output,
and the keys of the spans and events the demo bot really produces (run through the capture
helpers, i.e. exactly what the exporters get)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult

from otel_discord import Telemetry
from otel_discord import _attributes as A
from otel_discord._cli._demo import run_scenario
from otel_discord._resource import build_resource
from otel_discord.testing import SpanCapture, capture_spans

PAGE = Path(__file__).resolve().parent.parent / "docs" / "what-is-sent.md"

#: Names the demo scenario itself gives (the cog author's own spans, attributes and event):
#: the page describes them as "the cog author's own", not one by one.
DEMO_AUTHOR_SPANS = {"fetch-forecast", "download-tiles"}
DEMO_AUTHOR_ATTRIBUTES = {"forecast.days", "tiles"}

#: Span names the package builds from a template: ``loop <function name>`` and so on.
SPAN_TEMPLATES = re.compile(r"(loop|command|error) \S+")


def listed() -> set[str]:
    """Every name the page lists (in backticks)."""
    return set(re.findall(r"`([^`\n]+)`", PAGE.read_text(encoding="utf-8")))


def is_listed(key: str, names: set[str]) -> bool:
    if key in names:
        return True
    # `otel_discord.event.metadata.<key>` covers otel_discord.event.metadata.files; a template
    # must start with a literal prefix (`<feature>.<action>` would cover every dotted key).
    for name in names:
        if "<" in name and not name.startswith("<"):
            pattern = re.escape(name)
            pattern = re.sub(r"\\<[^>]*\\>|<[^>]*>", r"[A-Za-z0-9_.]+", pattern)
            if re.fullmatch(pattern, key):
                return True
    return False


def unlisted(keys: set[str]) -> list[str]:
    names = listed()
    return sorted(k for k in keys if not is_listed(k, names))


class RawEvents(LogRecordExporter):
    """The raw log records the event exporters get (names and attribute keys as exported)."""

    def __init__(self) -> None:
        self.records: list[ReadableLogRecord] = []

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        self.records.extend(batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SpanCapture, RawEvents]]:
    """The demo's scenario once, against a reporter with a span and an event capture."""
    import asyncio

    telemetry = Telemetry(
        "what-is-sent",
        version="1.0.0",
        config={
            "enabled": True,
            "exporters": [],
            "command_spans": True,
            "data_dir": str(tmp_path_factory.mktemp("data")),
        },
        notify_owners=False,
    )
    telemetry.enable("usage")
    spans = capture_spans(telemetry)
    events = RawEvents()
    telemetry._events.processor.add_exporter(events)
    asyncio.run(run_scenario(telemetry, iterations=3, say=lambda line: None))
    telemetry.shutdown(5)
    yield spans, events


def test_page_lists_every_attribute_name_in_attributes_module() -> None:
    names = {
        value
        for name, value in vars(A).items()
        if name.isupper() and isinstance(value, str) and not name.endswith("_PREFIX")
    }
    prefixes = {v for n, v in vars(A).items() if n.endswith("_PREFIX") and isinstance(v, str)}
    assert names, "no attribute names found"
    assert unlisted(names) == []
    assert unlisted({p + "anything" for p in prefixes}) == []


def test_page_lists_every_resource_attribute() -> None:
    resource = build_resource(
        "svc",
        "1.0",
        "00000000-0000-4000-8000-000000000000",
        shard_ids=[0, 1],
        shard_count=4,
        cluster="east",
    )
    assert unlisted(set(resource.attributes)) == []


def test_page_lists_every_key_of_the_demo_spans(demo_run: tuple[SpanCapture, RawEvents]) -> None:
    spans, _ = demo_run
    assert spans.spans, "the demo produced no spans"
    keys: set[str] = set()
    for span in spans.spans:
        keys |= set(span["attributes"]) - DEMO_AUTHOR_ATTRIBUTES
        keys |= set(span["resource"])
        for event in span["events"]:
            keys |= set(event["attributes"])
    assert unlisted(keys) == []


def test_page_lists_every_span_event_of_the_demo(demo_run: tuple[SpanCapture, RawEvents]) -> None:
    spans, _ = demo_run
    event_names = {e["name"] for s in spans.spans for e in s["events"]}
    assert "exception" in event_names
    assert unlisted(event_names) == []


def test_every_demo_span_name_is_a_listed_template(
    demo_run: tuple[SpanCapture, RawEvents],
) -> None:
    spans, _ = demo_run
    text = PAGE.read_text(encoding="utf-8")
    for name in set(spans.names()) - DEMO_AUTHOR_SPANS:
        match = SPAN_TEMPLATES.fullmatch(name)
        assert match, f"span name {name!r} is not one of the page's templates"
        assert f"`{match.group(1)} <" in text, f"the page does not list `{match.group(1)} <...>`"


def test_page_lists_every_key_of_the_demo_events(demo_run: tuple[SpanCapture, RawEvents]) -> None:
    _, events = demo_run
    records = [r.log_record for r in events.records]
    assert {r.event_name for r in records} >= {"otel_discord.started", "forecast.shown"}
    keys: set[str] = set()
    for record in records:
        keys |= set(record.attributes or {})
    resource_keys = {k for r in events.records for k in r.resource.attributes}
    assert unlisted(keys | resource_keys) == []
    assert unlisted({r.event_name or "" for r in records} - {"forecast.shown"}) == []


def test_a_key_missing_from_the_page_is_caught() -> None:
    """The check itself can fail: an invented key is reported."""
    assert unlisted({"discord.message.content", "discord.loop"}) == ["discord.message.content"]
