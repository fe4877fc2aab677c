"""Background loops: a real ``tasks.Loop`` whose iterations arrive at a real OTLP receiver."""

from __future__ import annotations

import asyncio
import datetime
import inspect
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from discord.ext import commands, tasks

from otel_discord import Telemetry
from tests._backends import GrpcReceiver
from tests._discord import start_bot, stop_bot, telemetry_for


@pytest.fixture
async def bot() -> AsyncIterator[commands.Bot]:
    bot = await start_bot()
    yield bot
    await stop_bot(bot)


def iterations(receiver: GrpcReceiver, name: str, count: int) -> list[dict[str, Any]]:
    spans = receiver.received.wait_for(lambda spans: sum(s["name"] == name for s in spans) >= count)
    found = [s for s in spans if s["name"] == name]
    return sorted(found, key=lambda s: s["attributes"]["discord.loop.iteration"])


async def finish(loop: tasks.Loop[Any]) -> None:
    task = loop.get_task()
    assert task is not None
    await asyncio.wait_for(task, 5)


def test_loop_is_a_real_tasks_loop_with_the_same_signature(grpc_receiver: GrpcReceiver) -> None:
    telemetry = telemetry_for(grpc_receiver)

    @telemetry.loop(seconds=5, count=2, name="refresh")
    async def refresh() -> None: ...

    assert isinstance(refresh, tasks.Loop)
    assert (refresh.seconds, refresh.count) == (5, 2)
    ours = inspect.signature(Telemetry.loop).parameters
    theirs = inspect.signature(tasks.loop).parameters
    for name, param in theirs.items():
        assert ours[name].kind is param.kind
        assert ours[name].default is param.default or ours[name].default == param.default
    telemetry.shutdown(2)


async def test_each_iteration_is_its_own_trace_linked_to_the_previous(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver)

    class Refresher(commands.Cog):
        @telemetry.loop(seconds=0, count=3)
        async def refresh(self) -> None:
            await asyncio.sleep(0)

    cog = Refresher()
    await bot.add_cog(cog)
    cog.refresh.start()
    await finish(cog.refresh)
    assert telemetry.force_flush(5)

    spans = iterations(grpc_receiver, "loop refresh", 3)
    assert [s["attributes"]["discord.loop.iteration"] for s in spans] == [0, 1, 2]
    assert len({s["trace_id"] for s in spans}) == 3
    assert all(s["parent_span_id"] == "" for s in spans)
    assert spans[0]["links"] == []
    for previous, current in itertools.pairwise(spans):
        (link,) = current["links"]
        assert (link["trace_id"], link["span_id"]) == (previous["trace_id"], previous["span_id"])
    attributes = spans[0]["attributes"]
    assert attributes["discord.kind"] == "loop"
    assert attributes["discord.loop"] == "refresh"
    assert attributes["discord.cog"] == "Refresher"
    assert attributes["discord.loop.interval_s"] == 0.0
    assert attributes["discord.loop.overran"] in (True, False)
    telemetry.shutdown(2)


async def test_child_spans_nest_under_the_iteration(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver)

    class Migrator(commands.Cog):
        @telemetry.loop(seconds=0, count=1)
        async def migrate(self) -> None:
            with telemetry.span("config-migration"), telemetry.span("update-check"):
                await asyncio.sleep(0)

    cog = Migrator()
    await bot.add_cog(cog)
    cog.migrate.start()
    await finish(cog.migrate)
    assert telemetry.force_flush(5)

    spans = grpc_receiver.received.wait_for_names(
        "loop migrate", "config-migration", "update-check"
    )
    by_name = {s["name"]: s for s in spans}
    iteration, migration, check = (
        by_name["loop migrate"],
        by_name["config-migration"],
        by_name["update-check"],
    )
    assert migration["parent_span_id"] == iteration["span_id"]
    assert check["parent_span_id"] == migration["span_id"]
    assert {iteration["trace_id"], migration["trace_id"], check["trace_id"]} == {
        iteration["trace_id"]
    }
    telemetry.shutdown(2)


async def test_overran_is_true_only_when_the_body_outlasts_the_interval(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver)

    class Timers(commands.Cog):
        @telemetry.loop(seconds=0.01)
        async def slow(self) -> None:
            await asyncio.sleep(0.05)
            self.slow.stop()

        @telemetry.loop(seconds=30)
        async def quick(self) -> None:
            self.quick.stop()

    cog = Timers()
    await bot.add_cog(cog)
    cog.slow.start()
    cog.quick.start()
    await finish(cog.slow)
    await finish(cog.quick)
    assert telemetry.force_flush(5)

    (slow,) = iterations(grpc_receiver, "loop slow", 1)
    (quick,) = iterations(grpc_receiver, "loop quick", 1)
    assert slow["attributes"]["discord.loop.overran"] is True
    assert quick["attributes"]["discord.loop.overran"] is False
    assert quick["attributes"]["discord.loop.interval_s"] == 30.0
    telemetry.shutdown(2)


async def test_iteration_error_is_reported_then_error_handler_runs_and_loop_stops(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver)
    handled: list[BaseException] = []
    after: list[bool] = []

    class Broken(commands.Cog):
        @telemetry.loop(seconds=0, count=5)
        async def sync(self) -> None:
            if self.sync.current_loop == 1:
                raise RuntimeError("sync failed")

        @sync.error
        async def on_sync_error(self, error: BaseException) -> None:
            handled.append(error)

        @sync.after_loop
        async def after_sync(self) -> None:
            after.append(self.sync.failed())

    cog = Broken()
    await bot.add_cog(cog)
    cog.sync.start()
    with pytest.raises(RuntimeError, match="sync failed"):
        await finish(cog.sync)  # discord.py re-raises into the loop's task
    assert [str(e) for e in handled] == ["sync failed"]
    assert after == [True]
    assert not cog.sync.is_running()
    assert telemetry.force_flush(5)

    first, failed = iterations(grpc_receiver, "loop sync", 2)
    assert first["status"]["code"] == 0
    assert failed["status"]["code"] == 2  # ERROR
    (exception,) = [e for e in failed["events"] if e["name"] == "exception"]
    assert exception["attributes"]["exception.type"] == "RuntimeError"
    assert exception["attributes"]["exception.message"] == "sync failed"
    assert "raise RuntimeError" in exception["attributes"]["exception.stacktrace"]
    assert failed["attributes"]["otel_discord.error.code"]
    assert len(grpc_receiver.received.spans()) == 2  # iteration 2 never ran
    telemetry.shutdown(2)


async def test_keep_running_reports_the_error_and_runs_the_next_iteration(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver)
    handled: list[BaseException] = []

    class Flaky(commands.Cog):
        @telemetry.loop(seconds=0, count=3, keep_running=True)
        async def poll(self) -> None:
            if self.poll.current_loop == 0:
                raise ValueError("first poll failed")

        @poll.error
        async def on_poll_error(self, error: BaseException) -> None:
            handled.append(error)

    cog = Flaky()
    await bot.add_cog(cog)
    cog.poll.start()
    await finish(cog.poll)
    assert telemetry.force_flush(5)

    spans = iterations(grpc_receiver, "loop poll", 3)
    assert [s["status"]["code"] for s in spans] == [2, 0, 0]
    assert spans[0]["events"][0]["attributes"]["exception.type"] == "ValueError"
    assert handled == []
    assert not cog.poll.failed()
    telemetry.shutdown(2)


async def test_instrument_loop_turns_an_existing_tasks_loop_into_spans(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver)
    before: list[bool] = []

    class Legacy(commands.Cog):
        @tasks.loop(seconds=0, count=2)
        async def cleanup(self) -> None:
            await asyncio.sleep(0)

        @cleanup.before_loop
        async def before_cleanup(self) -> None:
            before.append(True)

    cog = Legacy()
    await bot.add_cog(cog)
    same = telemetry.instrument_loop(cog.cleanup)
    assert same is cog.cleanup
    cog.cleanup.start()
    await finish(cog.cleanup)
    assert telemetry.force_flush(5)

    spans = iterations(grpc_receiver, "loop cleanup", 2)
    assert [s["attributes"]["discord.cog"] for s in spans] == ["Legacy", "Legacy"]
    assert before == [True]
    telemetry.shutdown(2)


async def test_change_interval_and_restart_work_on_an_instrumented_loop(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver)
    runs: list[int] = []

    class Tuner(commands.Cog):
        @telemetry.loop(seconds=60)
        async def tune(self) -> None:
            runs.append(self.tune.current_loop)

    async def wait_runs(n: int) -> None:
        while len(runs) < n:
            await asyncio.sleep(0.001)

    cog = Tuner()
    await bot.add_cog(cog)
    cog.tune.start()
    await asyncio.wait_for(wait_runs(1), 5)
    cog.tune.change_interval(seconds=30)
    cog.tune.restart()  # cancels the 60 s sleep and starts over at once
    await asyncio.wait_for(wait_runs(2), 5)
    task = cog.tune.get_task()
    cog.tune.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task  # type: ignore[misc]
    assert telemetry.force_flush(5)

    spans = grpc_receiver.received.wait_for(
        lambda spans: sum(s["name"] == "loop tune" for s in spans) >= 2
    )
    assert sorted(s["attributes"]["discord.loop.interval_s"] for s in spans) == [30.0, 60.0]
    assert runs == [0, 0]
    telemetry.shutdown(2)


async def test_unsampled_iterations_are_dropped_but_a_failing_one_is_kept(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver, loop_sample_rate=0.0)

    class Quiet(commands.Cog):
        @telemetry.loop(seconds=0, count=4, keep_running=True)
        async def tick(self) -> None:
            with telemetry.span("inner"):
                if self.tick.current_loop == 2:
                    raise KeyError("missing")

    cog = Quiet()
    await bot.add_cog(cog)
    cog.tick.start()
    await finish(cog.tick)
    assert telemetry.force_flush(5)

    (kept,) = grpc_receiver.received.wait_for_names("loop tick")
    assert kept["attributes"]["discord.loop.iteration"] == 2
    assert kept["status"]["code"] == 2
    assert kept["events"][0]["attributes"]["exception.type"] == "KeyError"
    assert telemetry.force_flush(5)
    assert [s["name"] for s in grpc_receiver.received.spans()] == ["loop tick"]
    telemetry.shutdown(2)


async def test_a_loop_error_is_sent_when_the_main_sampler_drops_the_iteration(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver, sampler="parentbased_traceidratio", sampler_arg=0)

    class Dropped(commands.Cog):
        @telemetry.loop(seconds=0, count=3, keep_running=True)
        async def tick(self) -> None:
            if self.tick.current_loop == 1:
                raise KeyError("missing")

    cog = Dropped()
    await bot.add_cog(cog)
    cog.tick.start()
    await finish(cog.tick)
    assert telemetry.force_flush(5)

    (kept,) = grpc_receiver.received.wait_for_names("loop tick")
    assert kept["attributes"]["discord.loop.iteration"] == 1
    assert kept["status"]["code"] == 2
    assert kept["events"][0]["attributes"]["exception.type"] == "KeyError"
    (report,) = telemetry.errors.buffer
    assert report.exported
    assert kept["attributes"]["otel_discord.error.code"] == report.code
    telemetry.shutdown(2)


def test_loop_rejects_time_mixed_with_seconds_exactly_like_tasks_loop(
    grpc_receiver: GrpcReceiver,
) -> None:
    telemetry = telemetry_for(grpc_receiver)
    at = datetime.time(hour=3)

    async def body() -> None: ...

    with pytest.raises(TypeError) as theirs:
        tasks.loop(seconds=5, time=at)(body)  # type: ignore[call-overload]
    with pytest.raises(TypeError) as ours:
        telemetry.loop(seconds=5, time=at)(body)
    assert str(ours.value) == str(theirs.value)
    telemetry.shutdown(2)
