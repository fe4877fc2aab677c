"""Without the owner's consent the Sentry exporter sends nothing at all: no request reaches a real
bugsink (its access log is the witness), and no Sentry client is ever built."""

from __future__ import annotations

import pytest

from otel_discord import Telemetry
from otel_discord.consent import MemoryConsentStore
from tests._bugsink import Bugsink


def test_consent_off_sends_zero_requests_to_bugsink(bugsink: Bugsink) -> None:
    telemetry = Telemetry(
        "quietcog",
        version="1.0.0",
        config={"exporters": ["sentry"], "sentry_dsn": bugsink.dsn("Q"), "schedule_delay": 0.05},
        consent=MemoryConsentStore(),  # the owner never opted in
    )
    before = bugsink.requests_seen("Q")
    with pytest.raises(ValueError), telemetry.span("loop refresh", {"discord.kind": "loop"}):
        raise ValueError("must stay on this machine")
    telemetry.record_exception(RuntimeError("also this one"))
    assert telemetry.force_flush(2)
    assert telemetry.shutdown(2)

    assert not telemetry.exporting
    assert bugsink.settled_requests("Q") == before


def test_consent_withdrawn_before_shutdown_sends_no_session_end(bugsink: Bugsink) -> None:
    store = MemoryConsentStore()
    telemetry = Telemetry(
        "withdrawcog",
        version="1.0.0",
        config={
            "exporters": ["sentry"],
            "sentry_dsn": bugsink.dsn("Q"),
            "sentry_traces": False,
            "schedule_delay": 0.05,
        },
        consent=store,
    )
    telemetry.enable()
    with telemetry.span("warm-up"):
        pass
    assert telemetry.force_flush(5)
    before = bugsink.settled_requests("Q")  # what the warm-up sent has all arrived
    telemetry.disable()
    with pytest.raises(ValueError), telemetry.span("after withdrawal"):
        raise ValueError("must not be sent")
    assert telemetry.shutdown(5)

    assert telemetry.exporting
    assert bugsink.settled_requests("Q") == before
