"""The shared ``[p]telemetry`` cog on a dpytest-driven Red bot: owner-only, effective at once,
one cog for every author's reporter, gone with the last cog using it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord.ext.test as dpytest
import pytest

from otel_discord.red import SharedTelemetryCog, registry
from tests._backends import GrpcReceiver
from tests._red import (  # noqa: F401 - Red's fixtures, for this module only
    author_cog,
    config_fr,
    driver,
    fresh_red_caches,
    override_data_path,
    red,
    replies,
    settle,
    start_red,
    stop_red,
)

OWNER, STRANGER = 0, 1  # dpytest member indexes; start_red makes the first one the owner


@pytest.fixture
async def bot(red: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[Any]:  # noqa: F811
    monkeypatch.chdir(tmp_path)
    await start_red(red)
    yield red
    await stop_red(red)


async def add(bot: Any, reporter: str, cog_name: str, endpoint: str | None = None) -> Any:
    cog = author_cog(reporter, cog_name, endpoint)(bot)
    await bot.add_cog(cog)
    await settle(bot)
    return cog


def shared_cogs(bot: Any) -> list[Any]:
    return [c for c in bot.cogs.values() if type(c).__name__ == SharedTelemetryCog.__name__]


@pytest.mark.parametrize(
    "command",
    ["?telemetry", "?telemetry status", "?telemetry enable alpha", "?telemetry disable alpha",
     "?telemetry preview alpha", "?telemetry send ABC123"],
)  # fmt: skip
async def test_telemetry_commands_ignore_anyone_but_the_owner(bot: Any, command: str) -> None:
    cog = await add(bot, "alpha", "Alpha")
    cog.telemetry.enable()
    await dpytest.message(command, member=STRANGER)
    assert replies() == []
    assert cog.telemetry.enabled  # "disable" did nothing either


async def test_enable_is_effective_immediately(bot: Any, grpc_receiver: GrpcReceiver) -> None:
    cog = await add(bot, "alpha", "Alpha", grpc_receiver.endpoint)
    assert not cog.telemetry.enabled
    await dpytest.message("?telemetry enable alpha", member=OWNER)
    assert replies() == ["alpha: errors on."]
    with cog.telemetry.span("right-after-enable"):
        pass
    await asyncio.to_thread(grpc_receiver.received.wait_for_names, "right-after-enable")


async def test_disable_is_effective_immediately(bot: Any, grpc_receiver: GrpcReceiver) -> None:
    cog = await add(bot, "alpha", "Alpha", grpc_receiver.endpoint)
    await dpytest.message("?telemetry enable alpha")
    await dpytest.message("?telemetry disable alpha")
    assert replies() == ["alpha: errors on.", "alpha: nothing on."]
    with cog.telemetry.span("after-disable"):
        pass
    with cog.telemetry.span("control"):
        pass
    assert not cog.telemetry.enabled
    assert cog.telemetry.force_flush(2)
    assert grpc_receiver.received.spans() == []


async def test_two_reporters_share_one_telemetry_cog(bot: Any) -> None:
    alpha = await add(bot, "alpha", "Alpha")
    beta = await add(bot, "beta", "Beta")
    assert len(shared_cogs(bot)) == 1
    await dpytest.message("?telemetry status")
    [status] = replies()
    assert f"alpha: install id {alpha.telemetry.install_id}" in status
    assert f"beta: install id {beta.telemetry.install_id}" in status
    assert "alpha: errors off, usage off" in status


async def test_enable_one_reporter_leaves_the_other_off(bot: Any) -> None:
    alpha = await add(bot, "alpha", "Alpha")
    beta = await add(bot, "beta", "Beta")
    await dpytest.message("?telemetry enable beta")
    assert replies() == ["beta: errors on."]
    assert beta.telemetry.enabled and not alpha.telemetry.enabled


async def test_enable_all_with_categories(bot: Any) -> None:
    alpha = await add(bot, "alpha", "Alpha")
    beta = await add(bot, "beta", "Beta")
    await dpytest.message("?telemetry enable all errors usage")
    assert replies() == ["alpha: errors, usage on.\nbeta: errors, usage on."]
    assert all(c.telemetry.allows("usage") and c.telemetry.enabled for c in (alpha, beta))


async def test_enable_without_a_name_needs_one_when_there_are_two(bot: Any) -> None:
    await add(bot, "alpha", "Alpha")
    await add(bot, "beta", "Beta")
    await dpytest.message("?telemetry enable")
    assert replies() == ["name one of the reporters: alpha, beta (or all)"]


async def test_unknown_category_is_named(bot: Any) -> None:
    await add(bot, "alpha", "Alpha")
    await dpytest.message("?telemetry enable alpha crashes")
    assert replies() == ["Unknown category 'crashes'; use errors or usage."]


async def test_preview_shows_red_version_in_the_resource(bot: Any) -> None:
    import redbot

    await add(bot, "alpha", "Alpha")
    await dpytest.message("?telemetry preview alpha")
    [preview] = replies()
    assert f'"redbot.version": "{redbot.__version__}"' in preview


async def test_send_exports_one_kept_error_while_off(bot: Any, grpc_receiver: GrpcReceiver) -> None:
    cog = await add(bot, "alpha", "Alpha", grpc_receiver.endpoint)
    await dpytest.message("?alpha")  # fails; reported locally only (consent is off)
    replies()
    report = cog.telemetry.errors.latest()
    assert report is not None
    await dpytest.message(f"?telemetry send {report.code}")
    assert replies() == [f"Error {report.code} sent."]
    spans = await asyncio.to_thread(grpc_receiver.received.wait_for_names, "error LookupError")
    assert "203.0.113.9" not in str(spans)


async def test_telemetry_cog_stays_while_one_user_is_left(bot: Any) -> None:
    await add(bot, "alpha", "Alpha")
    await add(bot, "beta", "Beta")
    await bot.remove_cog("Alpha")
    assert len(shared_cogs(bot)) == 1
    assert list(registry(bot).reporters) == ["beta"]


async def test_telemetry_cog_goes_with_the_last_user(bot: Any) -> None:
    await add(bot, "alpha", "Alpha")
    await add(bot, "beta", "Beta")
    await bot.remove_cog("Alpha")
    await bot.remove_cog("Beta")
    assert shared_cogs(bot) == []
    assert bot.get_command("telemetry") is None
