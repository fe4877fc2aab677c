"""The strict event API and its consent categories, asserted on what a real OTLP receiver got."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from otel_discord import EventError, Telemetry
from otel_discord._attributes import (
    EVENT_CATEGORY,
    EVENT_METADATA_PREFIX,
    EVENT_PRIVATE_PREFIX,
    STARTED_COGS,
    VERSION_DISCORD_PY,
    VERSION_OTEL_DISCORD,
    VERSION_PYTHON,
    VERSION_RED,
    VERSION_REPORTER,
)
from tests._backends import CollectorChain, GrpcReceiver

# Synthetic secrets with the real shapes.
FAKE_TOKEN = "MTA4NzY1NDMyMTA5ODc2NTQzMg.GhX1a2.abcdefghijklmnopqrstuvwxyz0123ABCD"
FAKE_IP = "203.0.113.77"
FAKE_FREE_TEXT = "my password is hunter2-correct-horse"


def _telemetry(receiver: GrpcReceiver, name: str = "events", **kwargs: Any) -> Telemetry:
    return Telemetry(
        name,
        version="2.1.0",
        config={
            "exporters": ["otlp"],
            "otlp_endpoint": receiver.endpoint,
            "otlp_protocol": "grpc",
            "schedule_delay": 0.05,
        },
        **kwargs,
    )


@pytest.fixture
def telemetry(grpc_receiver: GrpcReceiver) -> Iterator[Telemetry]:
    t = _telemetry(grpc_receiver)
    t.enable("errors", "usage")
    yield t
    t.shutdown(2)


BAD_CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any], str]] = [
    ("uppercase feature", ("Backup", "restore"), {}, "feature 'Backup'"),
    ("space in feature", ("backup now", "restore"), {}, "feature 'backup now'"),
    ("empty feature", ("", "restore"), {}, "feature ''"),
    ("digit first", ("1backup", "restore"), {}, "feature '1backup'"),
    ("feature not a str", (42, "restore"), {}, "feature must be a str"),
    ("feature too long", ("a" * 65, "restore"), {}, "at most 64 characters"),
    ("punctuation in action", ("backup", "restore!"), {}, "action 'restore!'"),
    ("trailing dot in action", ("backup", "restore."), {}, "action 'restore.'"),
    ("string metadata", ("backup", "restore"), {"metadata": {"user": "bob"}}, "is a str"),
    ("None metadata value", ("backup", "restore"), {"metadata": {"n": None}}, "is a NoneType"),
    ("nan metadata", ("backup", "restore"), {"metadata": {"n": math.nan}}, "finite number"),
    ("huge int metadata", ("backup", "restore"), {"metadata": {"n": 2**64}}, "64 bits"),
    ("bad metadata key", ("backup", "restore"), {"metadata": {"Files Count": 1}}, "metadata key"),
    ("metadata not a dict", ("backup", "restore"), {"metadata": [("n", 1)]}, "must be a dict"),
    ("private not a dict", ("backup", "restore"), {"private_metadata": "x"}, "must be a dict"),
]


@pytest.mark.parametrize(
    ("call_args", "call_kwargs", "message"),
    [pytest.param(a, k, m, id=i) for i, a, k, m in BAD_CALLS],
)
def test_bad_record_call_raises_a_clear_error(
    telemetry: Telemetry, call_args: tuple[Any, ...], call_kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(EventError) as info:
        telemetry.record(*call_args, **call_kwargs)
    assert message in str(info.value)


def test_bad_record_call_raises_even_without_consent(grpc_receiver: GrpcReceiver) -> None:
    t = _telemetry(grpc_receiver, "no-consent")
    with pytest.raises(EventError, match="feature 'Bad'"):
        t.record("Bad", "call")
    t.shutdown(1)


def test_rejected_calls_send_nothing_and_a_good_call_arrives(
    telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    for args, kwargs in [(("Bad", "x"), {}), (("ok", "x"), {"metadata": {"who": "bob"}})]:
        with pytest.raises(EventError):
            telemetry.record(*args, **kwargs)
    telemetry.record("backup.daily", "restore", metadata={"files": 3, "dry_run": False, "s": 1.5})
    assert telemetry.force_flush(5)
    records = grpc_receiver.received.wait_for_logs(lambda r: len(r) >= 1)
    assert [r["event_name"] for r in records] == ["backup.daily.restore"]
    attributes = records[0]["attributes"]
    assert attributes[EVENT_METADATA_PREFIX + "files"] == 3
    assert attributes[EVENT_METADATA_PREFIX + "dry_run"] is False
    assert attributes[EVENT_METADATA_PREFIX + "s"] == 1.5
    assert attributes[EVENT_CATEGORY] == "usage"
    assert records[0]["resource"]["service.name"] == "events"
    assert b"bob" not in b"".join(grpc_receiver.received.raw)


class AllowlistingTelemetry(Telemetry):
    private_metadata_allowlist = frozenset({"locale"})


def test_private_metadata_outside_the_allowlist_never_reaches_the_receiver(
    grpc_receiver: GrpcReceiver,
) -> None:
    t = AllowlistingTelemetry(
        "allow",
        config={
            "exporters": ["otlp"],
            "otlp_endpoint": grpc_receiver.endpoint,
            "otlp_protocol": "grpc",
            "schedule_delay": 0.05,
        },
    )
    t.enable("usage")
    t.record("search", "run", private_metadata={"locale": "en-GB", "query": FAKE_FREE_TEXT})
    assert t.force_flush(5)
    (record,) = grpc_receiver.received.wait_for_logs(lambda r: len(r) >= 1)
    assert record["attributes"][EVENT_PRIVATE_PREFIX + "locale"] == "en-GB"
    assert EVENT_PRIVATE_PREFIX + "query" not in record["attributes"]
    raw = b"".join(grpc_receiver.received.raw)
    assert b"hunter2" not in raw and b"query" not in raw
    t.shutdown(2)


def test_allowlist_given_to_the_constructor_adds_to_the_class_allowlist(
    grpc_receiver: GrpcReceiver,
) -> None:
    t = AllowlistingTelemetry(
        "allow-kw",
        config={
            "exporters": ["otlp"],
            "otlp_endpoint": grpc_receiver.endpoint,
            "otlp_protocol": "grpc",
            "schedule_delay": 0.05,
        },
        private_metadata=("guild.size",),
    )
    assert t.private_metadata_keys == {"locale", "guild.size"}
    t.enable("usage")
    t.record("setup", "done", private_metadata={"guild.size": "large", "theme": "dark"})
    assert t.force_flush(5)
    (record,) = grpc_receiver.received.wait_for_logs(lambda r: len(r) >= 1)
    assert record["attributes"][EVENT_PRIVATE_PREFIX + "guild.size"] == "large"
    assert EVENT_PRIVATE_PREFIX + "theme" not in record["attributes"]
    t.shutdown(2)


def test_allowlisted_private_values_are_scrubbed(grpc_receiver: GrpcReceiver) -> None:
    t = _telemetry(grpc_receiver, "scrub", private_metadata=("note", "origin"))
    t.enable("usage")
    t.record("report", "sent", private_metadata={"note": f"tok {FAKE_TOKEN}", "origin": FAKE_IP})
    assert t.force_flush(5)
    (record,) = grpc_receiver.received.wait_for_logs(lambda r: len(r) >= 1)
    raw = b"".join(grpc_receiver.received.raw)
    assert FAKE_TOKEN.encode() not in raw and FAKE_IP.encode() not in raw
    assert record["attributes"][EVENT_PRIVATE_PREFIX + "note"] == "tok BOT-TOKEN"
    assert record["attributes"][EVENT_PRIVATE_PREFIX + "origin"] == "IP-ADDRESS"
    assert "otel_discord.scrubbed" in record["attributes"]
    t.shutdown(2)


#: Synthetic secrets of real shapes, and the pieces of each that must never arrive.
_WEBHOOK_TOKEN = "wHk_SyNtHeTiC-t0kEn_4bCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKl"
_ACROSS_THE_CUT = {
    "webhook": (
        f"https://discord.com/api/webhooks/1200000000000000000/{_WEBHOOK_TOKEN}",
        ("1200000000000000000", _WEBHOOK_TOKEN[:8], "discord.com/api/webhooks"),
    ),
    "email": ("alice.smith@example.com", ("alice.smith", "alice")),
    "ip": (FAKE_IP, ("203.0.113", "203.0")),
}


@pytest.mark.parametrize("kind", sorted(_ACROSS_THE_CUT))
def test_long_private_value_is_cut_without_leaving_half_a_secret(
    grpc_receiver: GrpcReceiver, kind: str
) -> None:
    secret, pieces = _ACROSS_THE_CUT[kind]
    t = _telemetry(grpc_receiver, "cut", private_metadata=("note",))
    t.enable("usage")
    starts = range(1024 - len(secret) + 2, 1024, 3)  # the secret straddles character 1024
    for start in starts:
        text = ("some words " * 100)[: start - 1] + " " + secret + " and more after it" * 20
        t.record("report", "sent", private_metadata={"note": text})
    assert t.force_flush(5)
    records = grpc_receiver.received.wait_for_logs(lambda r: len(r) >= len(starts))
    t.shutdown(2)
    notes = [r["attributes"][EVENT_PRIVATE_PREFIX + "note"] for r in records]
    assert [n for n in notes if len(n) > 1024 or not n.startswith("some words")] == []
    raw = b"".join(grpc_receiver.received.raw)
    for piece in pieces:
        assert piece.encode() not in raw


def test_usage_off_sends_zero_events_while_error_reports_arrive(
    grpc_receiver: GrpcReceiver,
) -> None:
    t = _telemetry(grpc_receiver, "errors-only")
    t.enable("errors")
    t.record("backup", "restore", metadata={"files": 1})
    t.record_exception(RuntimeError("disk on fire"))
    t.record("backup", "verify")
    assert t.force_flush(5)
    grpc_receiver.received.wait_for_names("error RuntimeError")
    assert grpc_receiver.received.logs() == []
    assert not any(p.endswith("logs") for p in grpc_receiver.received.paths)
    t.shutdown(2)


def test_usage_alone_sends_events_but_no_error_reports(grpc_receiver: GrpcReceiver) -> None:
    t = _telemetry(grpc_receiver, "usage-only")
    t.enable("usage")
    t.record_exception(RuntimeError("disk on fire"))
    assert t.started(cogs=1) is False  # the start-up event belongs to `errors`
    t.record("backup", "restore")
    assert t.force_flush(5)
    records = grpc_receiver.received.wait_for_logs(lambda r: len(r) >= 1)
    assert [r["event_name"] for r in records] == ["backup.restore"]
    assert grpc_receiver.received.spans() == []
    t.shutdown(2)


def test_disabling_usage_drops_events_already_queued(grpc_receiver: GrpcReceiver) -> None:
    t = Telemetry(
        "withdraw",
        config={
            "exporters": ["otlp"],
            "otlp_endpoint": grpc_receiver.endpoint,
            "otlp_protocol": "grpc",
            "schedule_delay": 30,
        },
    )
    t.enable("errors", "usage")
    t.record("backup", "restore")
    t.disable("usage")
    t.record_exception(RuntimeError("still reported"))
    assert t.force_flush(5)
    grpc_receiver.received.wait_for_names("error RuntimeError")
    assert grpc_receiver.received.logs() == []
    t.shutdown(2)


def test_config_enabled_false_blocks_usage_too(grpc_receiver: GrpcReceiver) -> None:
    t = Telemetry(
        "operator-off",
        config={
            "enabled": False,
            "exporters": ["otlp"],
            "otlp_endpoint": grpc_receiver.endpoint,
            "otlp_protocol": "grpc",
        },
    )
    t.enable("errors", "usage")
    t.record("backup", "restore")
    assert t.force_flush(2)
    assert not t.exporting
    assert grpc_receiver.received.raw == []
    t.shutdown(1)


def test_started_event_is_sent_once_per_run_with_versions_and_cogs(
    telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    assert telemetry.started(cogs=3) is True
    assert telemetry.started(cogs=3) is False
    # A second object for the same reporter in the same run (a cog reload) does not repeat it.
    again = _telemetry(grpc_receiver)
    assert again.started(cogs=3) is False
    assert telemetry.force_flush(5)
    records = grpc_receiver.received.wait_for_logs(lambda r: len(r) >= 1)
    assert [r["event_name"] for r in records] == ["otel_discord.started"]
    attributes = records[0]["attributes"]
    assert attributes[EVENT_CATEGORY] == "errors"
    assert attributes[VERSION_REPORTER] == "2.1.0"
    assert attributes[VERSION_OTEL_DISCORD] == "0.1.0"
    assert attributes[VERSION_DISCORD_PY] == "2.7.1"
    assert attributes[VERSION_PYTHON].count(".") == 2
    assert attributes[STARTED_COGS] == 3
    again.shutdown(1)


_STARTED_CHILD = """
import sys
if sys.argv[1] == "red":
    import redbot
from otel_discord import Telemetry
t = Telemetry("child", config={"exporters": ["otlp"], "otlp_endpoint": sys.argv[2],
    "otlp_protocol": "grpc", "schedule_delay": 0.05, "data_dir": sys.argv[3]})
t.enable("errors")
assert t.started(cogs=1)
assert t.shutdown(5)
print("redbot" in sys.modules)
"""


@pytest.mark.parametrize("runs_on", ["red", "discord.py"])
def test_started_event_carries_reds_version_only_in_a_process_running_red(
    grpc_receiver: GrpcReceiver, tmp_path: Path, runs_on: str
) -> None:
    # A process of its own: whether Red was imported is a property of the whole process.
    child = subprocess.run(
        [sys.executable, "-c", _STARTED_CHILD, runs_on, grpc_receiver.endpoint, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == str(runs_on == "red")
    (record,) = grpc_receiver.received.wait_for_logs(lambda r: len(r) >= 1)
    expected = metadata.version("Red-DiscordBot") if runs_on == "red" else "none"
    assert record["attributes"][VERSION_RED] == expected


def test_started_without_consent_is_sent_once_the_owner_opts_in(
    grpc_receiver: GrpcReceiver,
) -> None:
    t = _telemetry(grpc_receiver, "late-consent")
    assert t.started(cogs=2) is False
    t.enable("errors")
    assert t.started() is True
    assert t.force_flush(5)
    (record,) = grpc_receiver.received.wait_for_logs(lambda r: len(r) >= 1)
    assert record["attributes"][STARTED_COGS] == 2
    t.shutdown(2)


def test_bad_cog_count_raises(telemetry: Telemetry) -> None:
    with pytest.raises(EventError, match="cogs must be a whole number"):
        telemetry.started(cogs=-1)


def test_still_running_event_follows_the_start_up_event(
    telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    # The interval is a day; the test shortens it on this reporter only.
    telemetry._events.still_running_interval = 0.2
    telemetry.started(cogs=1)
    records = grpc_receiver.received.wait_for_logs(
        lambda r: "otel_discord.still_running" in {x["event_name"] for x in r}
    )
    still = [r for r in records if r["event_name"] == "otel_discord.still_running"]
    assert still[0]["attributes"][STARTED_COGS] == 1
    assert still[0]["attributes"]["otel_discord.uptime_s"] >= 0


def test_events_cross_a_real_collector(collector: CollectorChain) -> None:
    t = Telemetry(
        "via-rotel",
        config={
            "exporters": ["otlp"],
            "otlp_endpoint": collector.rotel.http_endpoint,
            "otlp_protocol": "http/protobuf",
            "schedule_delay": 0.05,
        },
    )
    t.enable("usage")
    t.record("music", "play", metadata={"queue_len": 4})
    assert t.force_flush(5)
    (record,) = collector.received.wait_for_logs(lambda r: len(r) >= 1)
    assert record["event_name"] == "music.play"
    assert record["attributes"][EVENT_METADATA_PREFIX + "queue_len"] == 4
    t.shutdown(2)


def test_events_never_carry_the_host_bots_trace(grpc_receiver: GrpcReceiver) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    host = TracerProvider().get_tracer("host-bot")
    t = _telemetry(grpc_receiver, "isolated")
    t.enable("usage")
    with host.start_as_current_span("host-command"):
        t.record("backup", "restore")
    assert t.force_flush(5)
    (record,) = grpc_receiver.received.wait_for_logs(lambda r: len(r) >= 1)
    assert record["trace_id"] == ""
    t.shutdown(2)


def test_event_inside_the_reporters_span_carries_its_trace(grpc_receiver: GrpcReceiver) -> None:
    t = _telemetry(grpc_receiver, "correlated")
    t.enable("errors", "usage")
    with t.span("command"):
        t.record("backup", "restore")
    assert t.force_flush(5)
    (span,) = grpc_receiver.received.wait_for_names("command")
    (record,) = grpc_receiver.received.wait_for_logs(lambda r: len(r) >= 1)
    assert record["trace_id"] == span["trace_id"]
    t.shutdown(2)


def test_a_private_value_waits_for_scrubbing_cut_to_four_times_its_export_length() -> None:
    """The event queue holds values before the export thread scrubs them: bounded per value."""
    from otel_discord._events import MAX_PRIVATE_CHARS, _check_private

    held = _check_private({"note": "word " * 10_000}, frozenset({"note"}))
    assert isinstance(held["note"], str)
    assert 3 * MAX_PRIVATE_CHARS < len(held["note"]) <= 4 * MAX_PRIVATE_CHARS
    marker = held["note"].rpartition("word")[2]
    assert marker.strip(" .") == "[TRUNCATED]"  # cut at a word's end, as every cut is


def test_an_event_resource_is_scrubbed_like_a_span_resource(grpc_receiver: GrpcReceiver) -> None:
    t = Telemetry(
        "res-events",
        version=f"1.0 from {FAKE_IP}",
        config={
            "exporters": ["otlp"],
            "otlp_endpoint": grpc_receiver.endpoint,
            "otlp_protocol": "grpc",
            "schedule_delay": 0.05,
            "cluster": f"edge {FAKE_IP}",
        },
    )
    try:
        t.enable("errors", "usage")
        t.record("search", "run")
        with t.span("work"):
            pass
        assert t.force_flush(5)
        (record,) = grpc_receiver.received.wait_for_logs(lambda r: len(r) >= 1)
        (span,) = grpc_receiver.received.wait_for_names("work")
        assert record["resource"]["service.version"] == "1.0 from IP-ADDRESS"
        assert record["resource"] == span["resource"]
        assert FAKE_IP.encode() not in b"".join(grpc_receiver.received.raw)
    finally:
        t.shutdown(2)
