"""Every corpus secret, in every place a string can travel, is gone from what a real collector
(rotel) forwarded: span name, attribute, list attribute, nested JSON string, exception message,
stack trace, status description, event attribute, resource and log-record breadcrumbs."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.trace import Span, Status, StatusCode

from otel_discord import Telemetry
from otel_discord.scrubbing import Scrubber, default_rules
from tests._backends import CollectorChain
from tests.scrub_corpus import CASES, IDENTITY, OWN_TOKEN, SHAPED_TOKEN, UNCHANGED

Placer = Callable[[Telemetry, int, str], None]


def _in_name(t: Telemetry, i: int, text: str) -> None:
    with t.span(text):
        pass


def _in_attribute(t: Telemetry, i: int, text: str) -> None:
    with t.span(f"case-{i}", {"detail": text}):
        pass


def _in_list_attribute(t: Telemetry, i: int, text: str) -> None:
    with t.span(f"case-{i}", {"details": ("before", text, "after")}):
        pass


def _in_nested_json(t: Telemetry, i: int, text: str) -> None:
    payload = json.dumps({"request": {"body": {"msg": text}, "n": i}})
    with t.span(f"case-{i}", {"payload": payload}):
        pass


def _raise_with(text: str) -> None:
    raise RuntimeError(text)


def _in_exception(t: Telemetry, i: int, text: str) -> None:
    # exception.message, exception.stacktrace (the message ends the traceback) and the status.
    with pytest.raises(RuntimeError), t.span(f"case-{i}"):
        _raise_with(text)


def _in_status(t: Telemetry, i: int, text: str) -> None:
    span: Span
    with t.span(f"case-{i}") as span:
        span.set_status(Status(StatusCode.ERROR, text))


def _in_event(t: Telemetry, i: int, text: str) -> None:
    span: Span
    with t.span(f"case-{i}") as span:
        span.add_event("note", {"text": text, "items": (text,)})


def _in_breadcrumb(t: Telemetry, i: int, text: str) -> None:
    # A log record of the reporter's own logger becomes a breadcrumb event of the error report.
    logger = logging.getLogger("scrubcorpus.cog")
    logger.warning("breadcrumb %d: %s", i, text)
    try:
        raise ValueError("listener failed")
    except ValueError as exc:
        t.errors.capture(exc, "listener")


PLACEMENTS: dict[str, Placer] = {
    "span-name": _in_name,
    "attribute": _in_attribute,
    "list-attribute": _in_list_attribute,
    "nested-json": _in_nested_json,
    "exception": _in_exception,
    "status": _in_status,
    "event-attribute": _in_event,
    "log-record": _in_breadcrumb,
}


def _reporter(collector: CollectorChain, **extra: Any) -> Telemetry:
    return Telemetry(
        "scrub-placements",
        config={
            "enabled": True,
            "exporters": ["otlp"],
            "otlp_endpoint": collector.rotel.grpc_endpoint,
            "otlp_protocol": "grpc",
            "schedule_delay": 0.05,
            "error_limit": 1000,
        },
        scrubber=Scrubber(default_rules(token=OWN_TOKEN, local_identity=IDENTITY)),
        **extra,
    )


# What the SDK and the package make up at random: ids, the instance and install uuids and the
# error code. A short vanish value such as "ffff" or "85a3" turns up in them by chance (about
# 1% of runs before these were left out).
_GENERATED = frozenset(
    {
        "trace_id",
        "span_id",
        "parent_span_id",
        "links",
        "service.instance.id",
        "otel_discord.install_id",
        "otel_discord.error.code",
    }
)


def _without_generated(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_generated(v) for k, v in node.items() if k not in _GENERATED}
    if isinstance(node, list):
        return [_without_generated(v) for v in node]
    return node


def _leaks(received: list[dict[str, Any]]) -> list[tuple[str, str]]:
    # Every string that arrived except the generated values above.
    blob = json.dumps(_without_generated(received), ensure_ascii=False, default=str)
    return [(case.id, v) for case in CASES for v in case.vanish if v in blob]


@pytest.mark.parametrize("placement", list(PLACEMENTS))
def test_every_corpus_secret_vanishes_at_the_collector(
    collector: CollectorChain, placement: str
) -> None:
    telemetry = _reporter(collector)
    if placement == "log-record":
        telemetry.errors.breadcrumbs.watch("scrubcorpus")
    try:
        for i, case in enumerate(CASES):
            PLACEMENTS[placement](telemetry, i, case.text)
        assert telemetry.force_flush(10)
        received = collector.received.wait_for(lambda s: len(s) >= len(CASES), timeout=20)
    finally:
        telemetry.errors.breadcrumbs.close()
        telemetry.shutdown(2)
    assert len(received) >= len(CASES)
    assert _leaks(received) == []


def test_every_corpus_secret_vanishes_from_the_resource(collector: CollectorChain) -> None:
    resource = {f"custom.case{i}": case.text for i, case in enumerate(CASES)}
    telemetry = _reporter(collector, resource_attributes=resource)
    with telemetry.span("resource-carrier"):
        pass
    assert telemetry.force_flush(10)
    (span,) = collector.received.wait_for_names("resource-carrier", timeout=20)
    telemetry.shutdown(2)
    assert len([k for k in span["resource"] if k.startswith("custom.case")]) == len(CASES)
    assert _leaks([span["resource"]]) == []


def test_every_corpus_lookalike_arrives_at_the_collector_byte_identical(
    collector: CollectorChain,
) -> None:
    telemetry = _reporter(collector)
    span: Span
    try:
        for i, case in enumerate(UNCHANGED):
            with telemetry.span(case.text, {"case": i, "detail": case.text}) as span:
                span.add_event(case.text, {"text": case.text, "items": (case.text,)})
                span.set_status(Status(StatusCode.ERROR, case.text))
        assert telemetry.force_flush(10)
        received = collector.received.wait_for(lambda s: len(s) >= len(UNCHANGED), timeout=20)
    finally:
        telemetry.shutdown(2)
    arrived = {s["attributes"]["case"]: s for s in received}
    changed = []
    for i, case in enumerate(UNCHANGED):
        got = arrived[i]
        (event,) = got["events"]
        texts = [
            got["name"],
            got["attributes"]["detail"],
            got["status"]["message"],
            event["name"],
            event["attributes"]["text"],
            *event["attributes"]["items"],
        ]
        changed += [(case.id, t) for t in texts if t != case.text]
        if "otel_discord.scrubbed" in got["attributes"]:
            changed.append((case.id, "counted as scrubbed"))
    assert changed == []


def test_a_secret_cut_by_the_breadcrumb_length_cap_leaves_no_fragment(
    collector: CollectorChain,
) -> None:
    telemetry = _reporter(collector)
    telemetry.errors.breadcrumbs.watch("scrubcorpus")
    try:
        # The token starts 10 characters before the 1,000-character cap: cut in half, its shape
        # would no longer be recognised, so the partial word must be dropped with the rest.
        logging.getLogger("scrubcorpus.cog").warning("%s%s tail", "word " * 198, SHAPED_TOKEN)
        try:
            raise ValueError("listener failed")
        except ValueError as exc:
            telemetry.errors.capture(exc, "listener")
        assert telemetry.force_flush(10)
        (span,) = collector.received.wait_for(lambda s: len(s) >= 1, timeout=20)
    finally:
        telemetry.errors.breadcrumbs.close()
        telemetry.shutdown(2)
    (crumb,) = [e for e in span["events"] if e["name"] == "breadcrumb"]
    assert crumb["attributes"]["otel_discord.breadcrumb.message"].startswith("word " * 150)
    assert SHAPED_TOKEN[:8] not in json.dumps(span)
