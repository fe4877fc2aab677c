"""A decision written by another process (the CLI, a second bot on the same data dir) reaches a
running reporter at its next consent re-read, on and off the event loop: the spans written by the
real file exporter show which calls got through."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from otel_discord import ConsentRecord, JsonConsentStore, Telemetry, _reporter
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


def wait_until(done: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


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
        deadline = time.monotonic() + 10
        while not telemetry._record.errors:  # re-read by the gate timer, with no call made
            assert time.monotonic() < deadline, "the record was never re-read"
            await asyncio.sleep(0.02)
        await job()  # so the first call after it is traced

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
        wait_until(lambda: telemetry._record.errors)
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
        wait_until(lambda: not telemetry.enabled)
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
        failed_on: list[str] = []

        def load(self, reporter: str) -> ConsentRecord:
            if self.fail:
                self.failed_on.append(threading.current_thread().name)
                raise OSError("disk gone")
            return super().load(reporter)

    store = BrokenStore(tmp_path)
    telemetry = Telemetry(
        "refreshcog",
        config={"exporters": ["file"], "data_dir": str(tmp_path), "schedule_delay": 0.01},
        consent=store,
    )
    try:
        with telemetry.span("no consent yet"):  # the gate shuts; its timer is due
            pass
        store.fail = True
        wait_until(lambda: "otel-discord-gate" in store.failed_on)  # logged, not raised
        store.fail = False
        decide_elsewhere(tmp_path, True)
        wait_until(lambda: telemetry.enabled)
        with telemetry.span("after"):
            pass
        assert written_span_names(telemetry, tmp_path) == ["after"]
        timers = [t for t in threading.enumerate() if t.name == "otel-discord-gate"]
        assert [t.is_alive() for t in timers] == [True]
    finally:
        telemetry.shutdown(2)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
def test_a_forked_child_checks_waiting_gates_afresh_and_starts_its_own_timer(
    tmp_path: Path,
) -> None:
    telemetry = reporter(tmp_path)
    try:
        with telemetry.span("parent"):  # shut, with a re-read due on the parent's timer
            pass
        assert telemetry._shut
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: the parent's timer thread did not come along
            try:
                fresh = not telemetry._shut
                with telemetry.span("child"):
                    pass
                timer = [
                    t.is_alive() for t in threading.enumerate() if t.name == "otel-discord-gate"
                ]
                os.write(
                    write_end, b"ok" if fresh and telemetry._shut and timer == [True] else b"no"
                )
            finally:
                os._exit(0)
        os.close(write_end)
        answer = os.read(read_end, 8)
        os.close(read_end)
        os.waitpid(pid, 0)
        assert answer == b"ok"
    finally:
        telemetry.shutdown(2)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
def test_a_forked_child_on_its_loop_sees_a_disable_from_another_process(tmp_path: Path) -> None:
    telemetry = reporter(tmp_path)
    telemetry.enable()

    async def use_the_gate(seconds: float) -> None:  # re-reads go to the consent reader thread
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            telemetry._gate()
            await asyncio.sleep(0.02)

    try:
        asyncio.run(use_the_gate(3 * REFRESH))
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: the parent's reader thread (and maybe its lock) stayed behind
            try:

                async def child() -> bytes:
                    decide_elsewhere(tmp_path, False)
                    deadline = time.monotonic() + 10
                    while telemetry._gate():
                        if time.monotonic() > deadline:
                            return b"no"
                        await asyncio.sleep(0.02)
                    return b"ok"

                os.write(write_end, asyncio.run(child()))
            finally:
                os._exit(0)
        os.close(write_end)
        answer = os.read(read_end, 8)
        os.close(read_end)
        os.waitpid(pid, 0)
        assert answer == b"ok"
    finally:
        telemetry.shutdown(2)


def test_the_gate_timer_keeps_no_reporter_alive(tmp_path: Path) -> None:
    import gc
    import weakref

    telemetry = reporter(tmp_path)
    with telemetry.span("shuts the gate"):
        pass
    deadline = time.monotonic() + 10
    while telemetry._shut:  # until the timer fired and reopened it
        assert time.monotonic() < deadline, "the timer never fired"
        time.sleep(0.02)
    telemetry.shutdown(2)
    ref = weakref.ref(telemetry)
    del telemetry
    gc.collect()
    assert ref() is None
