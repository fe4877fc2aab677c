"""The Reporter core: consent switches effective at once, queued spans dropped on disable,
fail-closed scrubbing, and every string of a span scrubbed before it leaves."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from opentelemetry import trace

from otel_discord import Rule, Scrubber, Telemetry
from otel_discord.scrubbing import Counts, default_rules
from otel_discord.testing import capture_spans
from tests._backends import HttpReceiver


def reporter(endpoint: str, scrubber: Scrubber | None = None, **config: Any) -> Telemetry:
    return Telemetry(
        "rep-cog",
        config={
            "exporters": ["otlp"],
            "otlp_endpoint": endpoint,
            "schedule_delay": 0.01,
            "otlp_timeout": 2.0,
            **config,
        },
        scrubber=scrubber,
    )


def settle() -> None:
    time.sleep(0.2)  # long enough for a (wrong) batch to go out with schedule_delay=0.01


def test_enable_is_effective_immediately(http_receiver: HttpReceiver) -> None:
    telemetry = reporter(http_receiver.endpoint)
    with telemetry.span("before"):
        pass
    telemetry.enable()
    with telemetry.span("after"):
        pass
    telemetry.force_flush(5)
    spans = http_receiver.received.wait_for_names("after")
    assert [s["name"] for s in spans] == ["after"]
    telemetry.shutdown(2)


def test_a_span_while_reporting_is_off_is_the_invalid_span_and_makes_no_ids(
    http_receiver: HttpReceiver,
) -> None:
    telemetry = reporter(http_receiver.endpoint)
    try:
        with telemetry.span("first"):  # the gate is found shut and remembered
            pass
        with telemetry.span("outer") as outer, telemetry.span("inner") as inner:
            assert outer is trace.INVALID_SPAN and inner is trace.INVALID_SPAN
            assert telemetry.current_span() is inner
        telemetry.enable()
        with telemetry.span("on") as on:
            assert on.is_recording() and on.get_span_context().is_valid
    finally:
        telemetry.shutdown(2)


def test_disable_is_effective_immediately(http_receiver: HttpReceiver) -> None:
    telemetry = reporter(http_receiver.endpoint)
    telemetry.enable()
    with telemetry.span("sent"):
        pass
    telemetry.force_flush(5)
    http_receiver.received.wait_for_names("sent")
    telemetry.disable()
    assert not telemetry.enabled
    with telemetry.span("not-sent"):
        pass
    telemetry.force_flush(5)
    settle()
    assert [s["name"] for s in http_receiver.received.spans()] == ["sent"]
    telemetry.shutdown(2)


def test_disable_drops_spans_already_queued(http_receiver: HttpReceiver) -> None:
    telemetry = reporter(http_receiver.endpoint, schedule_delay=60.0)
    telemetry.enable()
    with telemetry.span("queued"):
        pass
    telemetry.record_exception(RuntimeError("queued error"))
    assert telemetry.exporting  # the spans sit in the batch queue
    telemetry.disable()
    telemetry.force_flush(5)
    settle()
    assert http_receiver.received.spans() == []
    assert http_receiver.connections == 0
    telemetry.shutdown(2)


def test_queued_spans_are_sent_on_flush_when_consent_stays(http_receiver: HttpReceiver) -> None:
    """The control for the test above: the same queue with consent kept is delivered."""
    telemetry = reporter(http_receiver.endpoint, schedule_delay=60.0)
    telemetry.enable()
    with telemetry.span("queued"):
        pass
    assert telemetry.force_flush(5)
    assert [s["name"] for s in http_receiver.received.spans()] == ["queued"]
    telemetry.shutdown(2)


# -- fail-closed scrubbing ---------------------------------------------------------------------


class PoisonRule(Rule):
    """A broken rule: raises on any text containing "poison"."""

    name = "poison"

    def scrub(self, text: str, scrubber: Scrubber, counts: Counts | None, key: str | None) -> str:
        if "poison" in text:
            raise RuntimeError("rule bug")
        return text


def test_span_that_cannot_be_scrubbed_is_dropped_with_one_warning(
    http_receiver: HttpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    scrubber = Scrubber([*default_rules(), PoisonRule()])
    telemetry = reporter(http_receiver.endpoint, enabled=True, scrubber=scrubber)
    with caplog.at_level(logging.WARNING, logger="otel_discord.pipeline"):
        for i in range(5):
            with telemetry.span(f"bad-{i}", {"note": "poison"}):
                pass
    telemetry.force_flush(5)
    settle()
    assert http_receiver.received.spans() == []
    assert http_receiver.connections == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["otel_discord: dropped a span that could not be scrubbed (RuntimeError)"]
    assert telemetry._processor.dropped_unscrubbable == 5
    telemetry.shutdown(2)


def test_only_the_unscrubbable_span_is_dropped(http_receiver: HttpReceiver) -> None:
    scrubber = Scrubber([*default_rules(), PoisonRule()])
    telemetry = reporter(http_receiver.endpoint, enabled=True, scrubber=scrubber)
    with telemetry.span("good"):
        pass
    with pytest.raises(ValueError), telemetry.span("bad"):
        raise ValueError("poison in the message")
    with telemetry.span("good-too"):
        pass
    telemetry.force_flush(5)
    http_receiver.received.wait_for_names("good", "good-too")
    settle()
    assert sorted(s["name"] for s in http_receiver.received.spans()) == ["good", "good-too"]
    telemetry.shutdown(2)


# -- what is scrubbed --------------------------------------------------------------------------

IP = "198.51.100.23"


def test_every_string_of_a_span_is_scrubbed() -> None:
    telemetry = Telemetry(
        "scrub-cog", version=f"1.0 {IP}", config={"enabled": True, "exporters": []}
    )
    spans = capture_spans(telemetry)
    other = trace.SpanContext(1, 2, is_remote=False)
    with (
        pytest.raises(OSError),
        telemetry.span(
            f"connect {IP}",
            {"peer": IP, "peers": (IP, "ok")},
            links=[trace.Link(other, {"from": IP})],
        ) as span,
    ):
        span.add_event(f"retry {IP}", {"target": f"http://{IP}/"})
        raise OSError(f"cannot reach {IP}")
    (exported,) = spans.spans
    assert IP not in repr(exported)
    assert exported["name"] == "connect IP-ADDRESS"
    assert exported["attributes"]["peers"] == ["IP-ADDRESS", "ok"]
    assert exported["events"][0]["name"] == "retry IP-ADDRESS"
    exception = exported["events"][1]["attributes"]
    assert "IP-ADDRESS" in exception["exception.message"]
    assert "IP-ADDRESS" in exception["exception.stacktrace"]
    assert exported["status"]["description"] == "OSError: cannot reach IP-ADDRESS"
    assert exported["links"][0]["attributes"] == {"from": "IP-ADDRESS"}
    assert exported["resource"]["service.version"] == "1.0 IP-ADDRESS"
    assert "ip_address:" in str(exported["attributes"]["otel_discord.scrubbed"])
    telemetry.shutdown(1)


# -- spans -------------------------------------------------------------------------------------


def test_traced_without_parentheses_uses_the_qualified_name() -> None:
    telemetry = Telemetry("t", config={"enabled": True, "exporters": []})
    spans = capture_spans(telemetry)

    @telemetry.traced
    def compute(x: int) -> int:
        return x * 2

    assert compute(21) == 42
    assert spans.names() == [compute.__qualname__]
    telemetry.shutdown(1)


def test_traced_coroutine_nests_spans_of_its_body() -> None:
    telemetry = Telemetry("t", config={"enabled": True, "exporters": []})
    spans = capture_spans(telemetry)

    @telemetry.traced("outer")
    async def outer() -> None:
        await asyncio.sleep(0)
        with telemetry.span("step"):
            await asyncio.sleep(0)

    asyncio.run(outer())
    step, root = spans.by_name("step")[0], spans.by_name("outer")[0]
    assert step["parent_span_id"] == root["span_id"]
    telemetry.shutdown(1)


def test_disabled_traced_function_still_runs_and_raises() -> None:
    telemetry = Telemetry("t", config={"exporters": []})

    @telemetry.traced()
    async def fails() -> None:
        raise LookupError("x")

    with pytest.raises(LookupError):
        asyncio.run(fails())
    telemetry.shutdown(1)


def test_tracer_spans_go_through_the_pipeline(http_receiver: HttpReceiver) -> None:
    telemetry = reporter(http_receiver.endpoint, enabled=True)
    with telemetry.tracer.start_as_current_span("raw", attributes={"ip": IP}):
        pass
    telemetry.force_flush(5)
    (span,) = http_receiver.received.wait_for_names("raw")
    assert span["attributes"]["ip"] == "IP-ADDRESS"
    assert span["resource"]["service.name"] == "rep-cog"
    telemetry.shutdown(2)


def test_bad_attribute_values_never_raise_into_bot_code() -> None:
    telemetry = Telemetry("t", config={"enabled": True, "exporters": []})
    spans = capture_spans(telemetry)
    with telemetry.span("odd", {"obj": object(), "ok": 1}) as span:  # type: ignore[dict-item]
        span.set_attribute("nested", [{"a": 1}])  # type: ignore[list-item]
    telemetry.record_exception(ValueError("fine"))
    assert spans.by_name("odd")[0]["attributes"]["ok"] == 1
    telemetry.shutdown(1)


# -- the pipeline remembers scrub results (speed), never at the cost of scrubbing ---------------


def test_repeated_values_are_scrubbed_the_same_every_time() -> None:
    telemetry = Telemetry("memo", config={"enabled": True, "exporters": []})
    spans = capture_spans(telemetry)
    for _ in range(3):
        with telemetry.span(f"call {IP}", {"peer": IP, "cog": "Music"}):
            pass
    first, *rest = spans.spans
    assert first["name"] == "call IP-ADDRESS"
    assert first["attributes"]["peer"] == "IP-ADDRESS"
    assert first["attributes"]["otel_discord.scrubbed"] == ["ip_address:2"]
    for span in rest:
        assert (span["name"], span["attributes"]) == (first["name"], first["attributes"])
    telemetry.shutdown(1)


class WordRule(Rule):
    """Replaces the word "secret-word" (a rule a cog author adds at run time)."""

    name = "word"

    def scrub(self, text: str, scrubber: Scrubber, counts: Counts | None, key: str | None) -> str:
        if "secret-word" in text and counts is not None:
            counts[self.name] += 1
        return text.replace("secret-word", "WORD")


def test_a_rule_added_later_applies_to_values_seen_before() -> None:
    telemetry = Telemetry("memo", config={"enabled": True, "exporters": []})
    spans = capture_spans(telemetry)
    with telemetry.span("secret-word", {"note": "secret-word"}):
        pass
    telemetry.scrubber.add(WordRule())
    with telemetry.span("secret-word", {"note": "secret-word"}):
        pass
    before, after = spans.spans
    assert before["attributes"]["note"] == "secret-word"
    assert (after["name"], after["attributes"]["note"]) == ("WORD", "WORD")
    telemetry.shutdown(1)


def test_keep_callback_is_asked_for_every_span() -> None:
    asked: list[str] = []

    def keep(match: Any) -> bool:
        asked.append(match.value)
        return False

    telemetry = Telemetry("memo", config={"enabled": True, "exporters": []})
    telemetry.scrubber.keep = keep
    spans = capture_spans(telemetry)
    for _ in range(2):
        with telemetry.span("work", {"peer": IP}):
            pass
    assert asked == [IP, IP]
    assert [s["attributes"]["peer"] for s in spans.spans] == ["IP-ADDRESS", "IP-ADDRESS"]
    telemetry.shutdown(1)


# -- resource ----------------------------------------------------------------------------------


def test_resource_names_the_service_install_and_versions_but_not_the_machine(
    http_receiver: HttpReceiver,
) -> None:
    import platform

    import discord

    from otel_discord import __version__

    telemetry = Telemetry(
        "res-cog",
        version="3.1.4",
        config={
            "enabled": True,
            "exporters": ["otlp"],
            "otlp_endpoint": http_receiver.endpoint,
            "schedule_delay": 0.01,
        },
    )
    with telemetry.span("work"):
        pass
    telemetry.force_flush(5)
    (span,) = http_receiver.received.wait_for_names("work")
    resource = span["resource"]
    assert resource["service.name"] == "res-cog"
    assert resource["service.version"] == "3.1.4"
    assert resource["otel_discord.install_id"] == telemetry.install_id
    assert resource["telemetry.distro.version"] == __version__
    assert resource["discord.py.version"] == discord.__version__
    assert resource["process.runtime.version"] == platform.python_version()
    assert len(resource["service.instance.id"]) == 36
    machine = {"host.name", "host.id", "host.arch", "os.description", "process.pid"}
    machine |= {"process.command_line", "process.command_args", "process.executable.path"}
    assert not machine & set(resource)
    assert platform.node() not in repr(resource)
    telemetry.shutdown(2)


def test_two_reporters_share_the_session_but_not_the_install_id() -> None:
    a = Telemetry("sess-a", config={"exporters": []})
    b = Telemetry("sess-b", config={"exporters": []})
    ra, rb = a.resource.attributes, b.resource.attributes
    assert ra["service.instance.id"] == rb["service.instance.id"]
    assert ra["otel_discord.install_id"] != rb["otel_discord.install_id"]
    a.shutdown(1)
    b.shutdown(1)


def test_equal_values_of_different_types_keep_their_type() -> None:
    telemetry = Telemetry("memo", config={"enabled": True, "exporters": []})
    spans = capture_spans(telemetry)
    for value in (1, True, 1.0):
        with telemetry.span("typed", {"flag": value}):
            pass
    values = [s["attributes"]["flag"] for s in spans.spans]
    assert [type(v) for v in values] == [int, bool, float]
    telemetry.shutdown(1)


def test_owner_disable_wins_over_enabled_true_in_config(http_receiver: HttpReceiver) -> None:
    telemetry = reporter(http_receiver.endpoint, enabled=True)
    with telemetry.span("operator-opted-in"):
        pass
    telemetry.force_flush(5)
    http_receiver.received.wait_for_names("operator-opted-in")
    telemetry.disable()
    assert not telemetry.enabled
    with telemetry.span("after-owner-said-no"):
        pass
    telemetry.force_flush(5)
    settle()
    assert "after-owner-said-no" not in {s["name"] for s in http_receiver.received.spans()}
    telemetry.shutdown(2)


def test_owner_disable_over_config_lasts_across_a_restart(http_receiver: HttpReceiver) -> None:
    reporter(http_receiver.endpoint, enabled=True).disable()
    telemetry = reporter(http_receiver.endpoint, enabled=True)
    assert not telemetry.enabled
    with telemetry.span("after-restart"):
        pass
    telemetry.force_flush(5)
    settle()
    assert http_receiver.received.spans() == []
    telemetry.enable()
    assert telemetry.enabled
    telemetry.shutdown(2)


def test_deciding_usage_alone_leaves_the_config_opt_in_for_errors() -> None:
    telemetry = Telemetry("rep-cog", config={"exporters": [], "enabled": True})
    telemetry.disable("usage")
    assert telemetry.enabled
    assert not telemetry.allows("usage")
    telemetry.shutdown(1)
