"""A decision written by another process (the CLI, a second bot on the same data dir) reaches a
running reporter at its next consent re-read, on and off the event loop: the spans written by the
real file exporter show which calls got through."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from otel_discord import JsonConsentStore, Telemetry, _reporter
from otel_discord._reporter import _gate_timer

#: The re-read interval here (2 s in the package), to keep the tests short.
REFRESH = 0.4
#: Past the re-read: the interval and room for a loaded machine.
PAST_REFRESH = REFRESH + 0.8


@pytest.fixture(autouse=True)
def short_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_reporter, "CONSENT_REFRESH_SECONDS", REFRESH)


def reporter(tmp_path: Path) -> Telemetry:
    return Telemetry(
        "refreshcog",
        config={"exporters": ["file"], "data_dir": str(tmp_path), "schedule_delay": 0.01},
    )


def written_span_names(telemetry: Telemetry, tmp_path: Path) -> list[str]:
    assert telemetry.force_flush(5)
    path = tmp_path / "spans" / "refreshcog.jsonl"
    if not path.exists():
        return []
    return [
        span["name"]
        for line in path.read_text(encoding="utf-8").splitlines()
        for rs in json.loads(line)["resourceSpans"]
        for ss in rs["scopeSpans"]
        for span in ss["spans"]
    ]


def decide_elsewhere(tmp_path: Path, enabled: bool) -> None:
    """What ``otel-discord enable refreshcog`` does: its own store on the same directory."""
    store = JsonConsentStore(tmp_path)
    store.save(store.load("refreshcog").decided(enabled, ("errors",)))


def test_an_enable_from_another_process_reaches_the_first_traced_call_on_the_loop_after_the_re_read(
    tmp_path: Path,
) -> None:
    telemetry = reporter(tmp_path)

    @telemetry.traced("job")
    async def job() -> None:
        await asyncio.sleep(0)

    async def main() -> None:
        await job()  # no consent: the gate shuts
        decide_elsewhere(tmp_path, True)
        await asyncio.sleep(PAST_REFRESH)  # the re-read falls due and runs off the loop
        await job()  # the first call after it is traced

    try:
        asyncio.run(main())
        assert written_span_names(telemetry, tmp_path) == ["job"]
    finally:
        telemetry.shutdown(2)


def test_an_enable_from_another_process_reaches_a_plain_span_off_the_loop(tmp_path: Path) -> None:
    telemetry = reporter(tmp_path)
    try:
        with telemetry.span("before"):
            pass
        decide_elsewhere(tmp_path, True)
        time.sleep(PAST_REFRESH)
        with telemetry.span("after"):
            pass
        assert written_span_names(telemetry, tmp_path) == ["after"]
    finally:
        telemetry.shutdown(2)


def test_a_disable_from_another_process_stops_spans_after_the_re_read(tmp_path: Path) -> None:
    telemetry = reporter(tmp_path)
    telemetry.enable()
    try:
        with telemetry.span("before"):
            pass
        decide_elsewhere(tmp_path, False)
        deadline = time.monotonic() + PAST_REFRESH + 5
        while telemetry.enabled and time.monotonic() < deadline:
            time.sleep(0.05)
        with telemetry.span("after"):
            pass
        assert written_span_names(telemetry, tmp_path) == ["before"]
    finally:
        telemetry.shutdown(2)


def test_a_gate_shut_by_config_starts_no_timer_and_stays_shut(tmp_path: Path) -> None:
    telemetry = Telemetry(
        "refreshcog", config={"exporters": ["file"], "data_dir": str(tmp_path), "enabled": False}
    )
    try:
        with telemetry.span("off"):
            pass
        decide_elsewhere(tmp_path, True)  # config ``enabled = false`` still wins
        assert telemetry._shut  # known shut for good: nothing is scheduled to reopen it
        assert all(ref() is not telemetry for _, _, ref in _gate_timer._due)
        time.sleep(PAST_REFRESH)
        with telemetry.span("still off"):
            pass
        assert written_span_names(telemetry, tmp_path) == []
    finally:
        telemetry.shutdown(2)


def test_the_gate_timer_thread_survives_a_store_that_raises(tmp_path: Path) -> None:
    class BrokenStore(JsonConsentStore):
        fail = False

        def load(self, reporter: str) -> object:  # type: ignore[override]
            if self.fail:
                raise OSError("disk gone")
            return super().load(reporter)

    store = BrokenStore(tmp_path)
    telemetry = Telemetry(
        "refreshcog",
        config={"exporters": ["file"], "data_dir": str(tmp_path), "schedule_delay": 0.01},
        consent=store,
    )
    try:
        with telemetry.span("no consent yet"):
            pass
        store.fail = True
        time.sleep(PAST_REFRESH)  # the timer's re-read raises: logged, the thread goes on
        store.fail = False
        decide_elsewhere(tmp_path, True)
        time.sleep(PAST_REFRESH)
        with telemetry.span("after"):
            pass
        assert written_span_names(telemetry, tmp_path) == ["after"]
    finally:
        telemetry.shutdown(2)
