"""The example Red cog (``examples/red_cog``) loaded by Red's own loader on a dpytest-driven Red
bot: its command error reaches a real OTLP receiver scrubbed, with Red's version on the
resource, and Red's core error handler still runs."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord.ext.test as dpytest
import pytest

from tests._backends import GrpcReceiver
from tests._red import (  # noqa: F401 - Red's fixtures, for this module only
    config_fr,
    driver,
    example_settings,
    fresh_red_caches,
    load_example,
    override_data_path,
    red,
    replies,
    settle,
    start_red,
    stop_red,
)

SECRET_KEY = "sk_live_51HcQ2KJ3m4n5o6p7"
IP = "198.51.100.23"


@pytest.fixture
async def bot(
    red: Any,  # noqa: F811
    grpc_receiver: GrpcReceiver,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> AsyncIterator[Any]:
    monkeypatch.chdir(tmp_path)
    example_settings(monkeypatch, grpc_receiver.endpoint)
    await start_red(red)
    await load_example(red)
    yield red
    await stop_red(red)


async def enable(bot: Any) -> None:
    await settle(bot)  # the owner's first-load notice, sent in the background, is out of the way
    await dpytest.message("?telemetry enable red-example")
    assert replies() == ["red-example: errors on."]


async def test_example_cog_error_reaches_the_receiver_scrubbed(
    bot: Any, grpc_receiver: GrpcReceiver
) -> None:
    await enable(bot)
    await dpytest.message("?stations")
    spans = grpc_receiver.received.wait_for_names("error ConnectionError")
    [error] = [s for s in spans if s["name"] == "error ConnectionError"]
    assert error["attributes"]["discord.command"] == "stations"
    assert error["attributes"]["discord.cog"] == "RedCog"
    raw = b"".join(grpc_receiver.received.raw)
    assert SECRET_KEY.encode() not in raw
    assert IP.encode() not in raw
    assert error["events"][0]["attributes"]["exception.type"].endswith("ConnectionError")


async def test_example_cog_error_still_reaches_reds_handler(
    bot: Any, grpc_receiver: GrpcReceiver
) -> None:
    await enable(bot)
    await dpytest.message("?stations")
    # Red's core on_command_error ran (forwarded with unhandled_by_cog=True): its reply to the
    # owner and the traceback it keeps for ``[p]traceback``.
    assert replies() == ["`Error in command 'stations'. Check your console or logs for details.`"]
    assert "Exception in command 'stations'" in bot._last_exception


async def test_red_version_is_on_the_resource(bot: Any, grpc_receiver: GrpcReceiver) -> None:
    import redbot

    await enable(bot)
    await dpytest.message("?stations")
    [span, *_] = grpc_receiver.received.wait_for_names("error ConnectionError")
    assert span["resource"]["redbot.version"] == str(redbot.__version__)
    assert span["resource"]["service.name"] == "red-example"


async def test_example_loop_iterations_are_spans(bot: Any, grpc_receiver: GrpcReceiver) -> None:
    await enable(bot)
    cog = bot.get_cog("RedCog")
    cog.refresh.restart()
    spans = await asyncio.to_thread(  # the loop runs on this event loop: do not block it
        grpc_receiver.received.wait_for_names, "loop refresh", "fetch-forecast"
    )
    loop_span = next(s for s in spans if s["name"] == "loop refresh")
    assert loop_span["attributes"]["discord.loop"] == "refresh"


def test_importing_otel_discord_red_without_red_is_one_clear_error() -> None:
    code = (
        "import sys; sys.modules['redbot'] = None\n"  # Red not installed
        "import otel_discord\n"
        "try:\n"
        "    import otel_discord.red\n"
        "except ImportError as exc:\n"
        "    print('ImportError:', exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == (
        "ImportError: otel_discord.red needs Red-DiscordBot; "
        "install it with: pip install 'otel-discord[red]'"
    )
