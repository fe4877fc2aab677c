"""The owner's ``telemetry send <code>`` stands in for consent, and for nothing more: a kill switch,
``enabled = false`` in the config and a shut-down reporter still win, and nothing reaches the
real OTLP receiver. The control: with none of them, the same send does arrive."""

from __future__ import annotations

import time

import pytest

from otel_discord import Telemetry
from tests._backends import GrpcReceiver
from tests._discord import telemetry_for


def buffered_error(telemetry: Telemetry) -> str:
    """An error report kept locally (reporting off), and its code."""
    try:
        raise ConnectionResetError("gateway lost")
    except ConnectionResetError as exc:
        report = telemetry.errors.capture(exc, "prefix", {"discord.command": "ping"})
    assert report is not None and not report.exported
    return report.code


def nothing_arrives(receiver: GrpcReceiver) -> bool:
    time.sleep(0.3)  # long enough for a (wrong) export with schedule_delay=0.05 to land
    return receiver.received.spans() == []


def test_send_shares_a_buffered_error_while_reporting_is_off(grpc_receiver: GrpcReceiver) -> None:
    telemetry = telemetry_for(grpc_receiver, enabled=None)
    try:
        code = buffered_error(telemetry)
        assert telemetry.errors.send_refused() is None
        assert telemetry.errors.send(code)
        (span,) = grpc_receiver.received.wait_for_names("error ConnectionResetError")
        assert span["attributes"]["otel_discord.error.code"] == code
    finally:
        telemetry.shutdown(2)


@pytest.mark.parametrize(
    ("variable", "value"), [("DO_NOT_TRACK", "1"), ("OTEL_SDK_DISABLED", "true")]
)
def test_send_is_refused_under_a_kill_switch(
    grpc_receiver: GrpcReceiver, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    telemetry = telemetry_for(grpc_receiver, enabled=None)
    try:
        code = buffered_error(telemetry)
        monkeypatch.setenv(variable, value)
        assert telemetry.errors.send_refused() == f"{variable} is set"
        assert not telemetry.errors.send(code)
        assert nothing_arrives(grpc_receiver)
    finally:
        telemetry.shutdown(2)


def test_send_is_refused_with_enabled_false_in_the_config(grpc_receiver: GrpcReceiver) -> None:
    telemetry = telemetry_for(grpc_receiver, enabled=False)
    try:
        code = buffered_error(telemetry)
        assert telemetry.errors.send_refused() == "enabled = false in the config"
        assert not telemetry.errors.send(code)
        assert nothing_arrives(grpc_receiver)
    finally:
        telemetry.shutdown(2)


def test_send_is_refused_after_shutdown(grpc_receiver: GrpcReceiver) -> None:
    telemetry = telemetry_for(grpc_receiver, enabled=None)
    code = buffered_error(telemetry)
    telemetry.shutdown(2)
    assert telemetry.errors.send_refused() == "the reporter is shut down"
    assert not telemetry.errors.send(code)
    assert nothing_arrives(grpc_receiver)


async def test_the_owner_commands_reply_says_why_send_was_refused(
    grpc_receiver: GrpcReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from otel_discord.hooks import OwnerControls

    telemetry = telemetry_for(grpc_receiver, enabled=None)
    try:
        code = buffered_error(telemetry)
        monkeypatch.setenv("DO_NOT_TRACK", "1")
        reply = await OwnerControls([telemetry.errors]).send(code)
        assert reply == f"Error {code} not sent: DO_NOT_TRACK is set, which wins over sending it."
        assert nothing_arrives(grpc_receiver)
    finally:
        telemetry.shutdown(2)
