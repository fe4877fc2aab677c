"""Shard ids, shard count and cluster name on the resource, so the collector (and the gateway's
tail sampler) can tell traces of many bot processes apart: from configuration, or from the
discord.py client itself when the operator configured none."""

from __future__ import annotations

from typing import Any

import pytest

from otel_discord import Telemetry
from otel_discord.config import TelemetryConfigError, load_config
from tests._backends import GrpcReceiver


def _telemetry(receiver: GrpcReceiver, **config: Any) -> Telemetry:
    return Telemetry(
        "shards",
        config={
            "enabled": True,
            "exporters": ["otlp"],
            "otlp_endpoint": receiver.endpoint,
            "otlp_protocol": "grpc",
            "schedule_delay": 0.05,
            **config,
        },
    )


def _resource_of_span(telemetry: Telemetry, receiver: GrpcReceiver, name: str) -> dict[str, Any]:
    with telemetry.span(name):
        pass
    assert telemetry.force_flush(5)
    (span,) = [s for s in receiver.received.wait_for_names(name) if s["name"] == name]
    resource: dict[str, Any] = span["resource"]
    return resource


def test_shard_settings_come_from_the_environment() -> None:
    config = load_config(
        environ={
            "OTEL_DISCORD_SHARD_IDS": "4, 5,4",
            "OTEL_DISCORD_SHARD_COUNT": "16",
            "OTEL_DISCORD_CLUSTER": "us-east-2",
        }
    )
    assert (config.shard_id, config.shard_count, config.cluster) == ((4, 5), 16, "us-east-2")


def test_one_shard_id_may_be_a_plain_number() -> None:
    assert load_config({"shard_id": 7}).shard_id == (7,)


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"shard_id": -1}, "shard_id"),
        ({"shard_id": "zero"}, "shard_id"),
        ({"shard_id": [1, True]}, "shard_id"),
        ({"shard_count": 0}, "shard_count"),
        ({"shard_id": [3, 8], "shard_count": 8}, "shard_id"),
        ({"cluster": 5}, "cluster"),
    ],
)
def test_bad_shard_setting_names_the_key(settings: dict[str, Any], key: str) -> None:
    with pytest.raises(TelemetryConfigError) as caught:
        load_config(settings)
    assert caught.value.key == key


def test_one_configured_shard_is_a_number_on_the_resource(grpc_receiver: GrpcReceiver) -> None:
    telemetry = _telemetry(grpc_receiver, shard_id=0, shard_count=1)
    try:
        resource = _resource_of_span(telemetry, grpc_receiver, "one-shard")
    finally:
        telemetry.shutdown(2)
    assert resource["discord.shard.id"] == 0
    assert resource["discord.shard.count"] == 1
    assert "discord.cluster" not in resource


def test_unsharded_bot_sends_no_shard_attributes(grpc_receiver: GrpcReceiver) -> None:
    telemetry = _telemetry(grpc_receiver)
    try:
        resource = _resource_of_span(telemetry, grpc_receiver, "no-shards")
    finally:
        telemetry.shutdown(2)
    assert not {k for k in resource if k.startswith(("discord.shard", "discord.cluster"))}


def test_bot_shards_fill_the_resource_of_later_spans(grpc_receiver: GrpcReceiver) -> None:
    telemetry = _telemetry(grpc_receiver, cluster="c1")
    try:
        before = _resource_of_span(telemetry, grpc_receiver, "before-ready")
        assert telemetry.set_shards([5, 6], 12) is True
        after = _resource_of_span(telemetry, grpc_receiver, "after-ready")
    finally:
        telemetry.shutdown(2)
    assert "discord.shard.id" not in before
    assert after["discord.shard.id"] == [5, 6]
    assert after["discord.shard.count"] == 12
    assert after["discord.cluster"] == "c1"
    assert after["service.instance.id"] == before["service.instance.id"]


def test_configured_shards_win_over_the_bots(grpc_receiver: GrpcReceiver) -> None:
    telemetry = _telemetry(grpc_receiver, shard_id=1)
    try:
        telemetry.set_shards(9, 10)
        resource = _resource_of_span(telemetry, grpc_receiver, "configured")
    finally:
        telemetry.shutdown(2)
    assert resource["discord.shard.id"] == 1
    assert resource["discord.shard.count"] == 10  # not configured: the bot's


def test_bad_bot_shard_values_change_nothing_and_never_raise(grpc_receiver: GrpcReceiver) -> None:
    telemetry = _telemetry(grpc_receiver)
    try:
        assert telemetry.set_shards("0", "8") is False  # type: ignore[arg-type]
        assert telemetry.set_shards([True, -1], 0) is False
        assert telemetry.set_shards(None, None) is False
        assert telemetry.set_shards(4, 4) is False  # an id must be below the count
        resource = _resource_of_span(telemetry, grpc_receiver, "unchanged")
    finally:
        telemetry.shutdown(2)
    assert "discord.shard.id" not in resource and "discord.shard.count" not in resource


def test_bot_shards_reach_events_sent_after_them(grpc_receiver: GrpcReceiver) -> None:
    telemetry = _telemetry(grpc_receiver)
    try:
        telemetry.set_shards(3, 4)
        assert telemetry.started(cogs=1)
        assert telemetry.force_flush(5)
        records = grpc_receiver.received.wait_for_logs(lambda logs: bool(logs))
    finally:
        telemetry.shutdown(2)
    assert records[0]["resource"]["discord.shard.id"] == 3
    assert records[0]["resource"]["discord.shard.count"] == 4


@pytest.mark.parametrize(
    ("kind", "shards", "expected"),
    [
        ("Bot", {"shard_id": 1, "shard_count": 4}, (1, 4)),
        ("AutoShardedBot", {"shard_ids": [0, 2], "shard_count": 4}, ([0, 2], 4)),
        ("Bot", {}, (None, None)),
    ],
)
def test_documented_on_ready_call_reads_a_discord_py_bot(
    grpc_receiver: GrpcReceiver, kind: str, shards: dict[str, Any], expected: tuple[Any, Any]
) -> None:
    """The call docs/collector.md shows, on real discord.py bot objects (not connected)."""
    import discord
    from discord.ext import commands

    bot_class = getattr(commands, kind)
    bot = bot_class(command_prefix="!", intents=discord.Intents.none(), **shards)
    telemetry = _telemetry(grpc_receiver)
    try:
        telemetry.set_shards(getattr(bot, "shard_ids", None) or bot.shard_id, bot.shard_count)
        resource = _resource_of_span(telemetry, grpc_receiver, f"ready-{kind}")
    finally:
        telemetry.shutdown(2)
    got = (resource.get("discord.shard.id"), resource.get("discord.shard.count"))
    assert got == expected
