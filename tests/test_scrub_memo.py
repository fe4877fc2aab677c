"""The span pipeline's scrub memo never outlives a change to the rules' configuration: a value
remembered before the change is scrubbed again with the new configuration (asserted on what a
real OTLP receiver got)."""

from __future__ import annotations

from otel_discord import Telemetry
from otel_discord.scrubbing import BotTokenRule, Scrubber, default_rules
from tests._backends import GrpcReceiver
from tests.scrub_corpus import OWN_TOKEN


def _telemetry(receiver: GrpcReceiver) -> Telemetry:
    return Telemetry(
        "scrub-memo",
        config={
            "enabled": True,
            "exporters": ["otlp"],
            "otlp_endpoint": receiver.endpoint,
            "otlp_protocol": "grpc",
            "schedule_delay": 0.05,
        },
        scrubber=Scrubber(default_rules(local_identity={"home": "", "user": "", "host": ""})),
    )


def test_a_value_remembered_before_set_token_arrives_scrubbed_after_it(
    grpc_receiver: GrpcReceiver,
) -> None:
    telemetry = _telemetry(grpc_receiver)
    try:
        with telemetry.span("before", {"note": f"login {OWN_TOKEN}"}):
            pass
        rule = telemetry.scrubber.rule("bot_token")
        assert isinstance(rule, BotTokenRule)
        rule.set_token(OWN_TOKEN)
        with telemetry.span("after", {"note": f"login {OWN_TOKEN}"}):
            pass
        assert telemetry.force_flush(5)
        spans = grpc_receiver.received.wait_for_names("before", "after")
    finally:
        telemetry.shutdown(2)
    notes = {s["name"]: s["attributes"]["note"] for s in spans}
    # Before the token is known it cannot be recognised (it is not token-shaped).
    assert notes == {"before": f"login {OWN_TOKEN}", "after": "login BOT-TOKEN"}


def test_a_span_name_remembered_before_set_token_arrives_scrubbed_after_it(
    grpc_receiver: GrpcReceiver,
) -> None:
    telemetry = _telemetry(grpc_receiver)
    name = f"login {OWN_TOKEN}"
    try:
        with telemetry.span(name, {"n": 1}):
            pass
        rule = telemetry.scrubber.rule("bot_token")
        assert isinstance(rule, BotTokenRule)
        rule.set_token(OWN_TOKEN)
        with telemetry.span(name, {"n": 2}):
            pass
        assert telemetry.force_flush(5)
        spans = grpc_receiver.received.wait_for(lambda s: len(s) >= 2)
    finally:
        telemetry.shutdown(2)
    names = {s["attributes"]["n"]: s["name"] for s in spans}
    assert names == {1: name, 2: "login BOT-TOKEN"}


def test_building_a_rule_leaves_the_configuration_generation_alone() -> None:
    """Error reports build a rule each (their argument values): that must not empty every
    reporter's memo and gate plans."""
    from otel_discord.scrubbing import RegexRule
    from otel_discord.scrubbing._rules import config_generation

    before = config_generation()
    RegexRule("argument", r"hunter2", "ARGUMENT")
    assert config_generation() == before


def test_reconfiguring_a_rule_in_use_bumps_the_configuration_generation() -> None:
    from otel_discord.scrubbing import BotTokenRule, Scrubber
    from otel_discord.scrubbing._rules import config_generation

    rule = BotTokenRule()
    Scrubber([rule]).scrub_text("warm up the plan")
    before = config_generation()
    rule.set_token("sekrit-own-token-abc")
    assert config_generation() != before
