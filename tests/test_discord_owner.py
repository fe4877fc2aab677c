"""The owner's side: one consent DM per cog with the bot's real prefix, and the owner-only
``telemetry`` cog (status, enable, disable, preview, send <code>) on a real dpytest bot."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import discord
import discord.ext.test as dpytest
import pytest
from discord.ext import commands
from discord.ext.test import callbacks

from otel_discord import JsonConsentStore, Telemetry
from otel_discord.hooks import OwnerControls
from tests._backends import GrpcReceiver
from tests._discord import direct_messages, start_bot, stop_bot, telemetry_for

PREFIX = "?!"


class Alpha(commands.Cog):
    @commands.command()
    async def alpha(self, ctx: commands.Context[Any]) -> None:
        raise ConnectionResetError("alpha lost 198.51.100.23")


class Beta(commands.Cog):
    @commands.command()
    async def beta(self, ctx: commands.Context[Any]) -> None:
        await ctx.send("beta")


@pytest.fixture
async def bot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[commands.Bot]:
    monkeypatch.chdir(tmp_path)  # dpytest writes sent files to the working directory
    bot = await start_bot(prefix=commands.when_mentioned_or(PREFIX))
    bot.owner_id = dpytest.get_config().members[0].id
    yield bot
    await stop_bot(bot)


@pytest.fixture
def telemetry(grpc_receiver: GrpcReceiver) -> Iterator[Telemetry]:
    """Not enabled in config: only the owner's consent (a JSON store in the data dir) decides."""
    telemetry = telemetry_for(grpc_receiver, enabled=None, notify_owners=True)
    yield telemetry
    telemetry.shutdown(2)


def reply_text(reply: discord.Message) -> str:
    """A reply's text: a long one comes as a file, which dpytest saves and names by a file URI."""
    if reply.attachments:
        (attachment,) = reply.attachments
        return Path(url2pathname(urlsplit(attachment.url).path)).read_text()
    return reply.content.removeprefix("```\n").removesuffix("\n```")


async def load(bot: commands.Bot, telemetry: Telemetry, cog: commands.Cog) -> None:
    await bot.add_cog(telemetry.instrument_cog(cog, bot=bot))
    await telemetry.notifier.wait()


async def test_first_cog_sends_the_owner_one_dm_with_the_real_prefix(
    bot: commands.Bot, telemetry: Telemetry
) -> None:
    opened: list[int] = []

    async def on_open(user: discord.abc.User) -> None:
        opened.append(user.id)

    callbacks.set_callback(on_open, "start_private_message")
    try:
        await load(bot, telemetry, Alpha())
    finally:
        callbacks.remove_callback("start_private_message")

    (dm,) = direct_messages()
    assert opened == [dpytest.get_config().members[0].id]  # the owner's DM channel
    assert "`?!telemetry enable mycog`" in dm.content
    assert "`?!telemetry preview mycog`" in dm.content
    assert "Never message content" in dm.content
    assert "**Alpha**" in dm.content


async def test_a_further_cog_gets_a_short_reminder_and_no_cog_is_announced_twice(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    await load(bot, telemetry, Alpha())
    await load(bot, telemetry, Beta())
    master, reminder = direct_messages()
    assert len(reminder.content) < len(master.content) / 2
    assert "**Beta**" in reminder.content and "`?!telemetry enable mycog`" in reminder.content

    # The bot restarts: a new reporter over the same consent store loads both cogs again.
    await bot.remove_cog("Alpha")
    await bot.remove_cog("Beta")
    again = telemetry_for(grpc_receiver, enabled=None, notify_owners=True)
    await load(bot, again, Alpha())
    await load(bot, again, Beta())
    assert direct_messages() == []
    record = JsonConsentStore(telemetry.config.resolved_data_dir()).load("mycog")
    assert record.notified == ("cog:Alpha", "cog:Beta")
    again.shutdown(2)


async def test_a_dm_that_fails_is_logged_and_never_raised(
    bot: commands.Bot, telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    bot.owner_id = 4242  # nobody dpytest knows: fetching that user fails
    with caplog.at_level(logging.WARNING, logger="otel_discord"):
        await load(bot, telemetry, Alpha())
    assert direct_messages() == []
    assert any("could not DM bot owner 4242" in r.getMessage() for r in caplog.records)
    # Not recorded as told: the next load tries again.
    assert telemetry.consent_store.load("mycog").notified == ()


async def test_notify_owners_false_sends_no_dm(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver, enabled=None, notify_owners=False)
    await load(bot, telemetry, Alpha())
    assert direct_messages() == []
    telemetry.shutdown(2)


async def test_owner_enables_and_disables_with_the_owner_cog(
    bot: commands.Bot, telemetry: Telemetry
) -> None:
    await bot.add_cog(telemetry.owner_cog())
    await dpytest.message(f"{PREFIX}telemetry status")
    assert dpytest.get_message().content.startswith("mycog: errors off")
    await dpytest.message(f"{PREFIX}telemetry enable")
    assert dpytest.get_message().content == "mycog: errors on."
    assert telemetry.enabled and telemetry.consent_store.load("mycog").errors
    await dpytest.message(f"{PREFIX}telemetry disable mycog")
    assert dpytest.get_message().content == "mycog: nothing on."
    assert not telemetry.enabled


async def test_owner_cog_sets_each_category_with_the_red_cogs_syntax(
    bot: commands.Bot, telemetry: Telemetry
) -> None:
    await bot.add_cog(telemetry.owner_cog())
    await dpytest.message(f"{PREFIX}telemetry enable usage")
    assert dpytest.get_message().content == "mycog: usage on."
    await dpytest.message(f"{PREFIX}telemetry enable mycog errors usage")
    assert dpytest.get_message().content == "mycog: errors, usage on."
    await dpytest.message(f"{PREFIX}telemetry disable all usage")
    assert dpytest.get_message().content == "mycog: errors on."
    await dpytest.message(f"{PREFIX}telemetry status")
    assert dpytest.get_message().content.startswith("mycog: errors on, usage off")
    await dpytest.message(f"{PREFIX}telemetry enable mycog metrics")
    assert dpytest.get_message().content == "Unknown category 'metrics'; use errors or usage."
    assert telemetry.allows("errors") and not telemetry.allows("usage")


async def test_disable_replies_off_over_enabled_true_in_config(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver, enabled=True)
    await bot.add_cog(telemetry.owner_cog())
    await dpytest.message(f"{PREFIX}telemetry disable")
    assert dpytest.get_message().content == "mycog: nothing on."
    assert not telemetry.enabled
    telemetry.shutdown(2)


async def test_enable_replies_with_the_real_state_when_a_kill_switch_is_set(
    bot: commands.Bot, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    await bot.add_cog(telemetry.owner_cog())
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    await dpytest.message(f"{PREFIX}telemetry enable")
    assert dpytest.get_message().content == "mycog: nothing on."
    assert not telemetry.enabled


async def test_only_the_owner_can_use_the_owner_cog(
    bot: commands.Bot, telemetry: Telemetry
) -> None:
    await bot.add_cog(telemetry.owner_cog())
    bot.owner_id = 1
    with pytest.raises(commands.CheckFailure):
        await dpytest.message(f"{PREFIX}telemetry enable")
    assert not telemetry.enabled


async def test_preview_shows_the_resource_and_latest_report_as_it_would_be_sent(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    await bot.add_cog(telemetry.owner_cog())
    await load(bot, telemetry, Alpha())
    direct_messages()
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message(f"{PREFIX}alpha")
    await dpytest.message(f"{PREFIX}telemetry preview")

    shown = json.loads(reply_text(dpytest.get_message()))
    assert shown["resource"]["service.name"] == "mycog"
    assert shown["sent"] is False
    report = shown["report"]
    assert report["attributes"]["discord.command"] == "alpha"
    exception = report["events"][0]["attributes"]
    assert exception["exception.message"] == "alpha lost IP-ADDRESS"
    assert shown["code"] == telemetry.errors.buffer[-1].code
    assert telemetry.force_flush(5)
    assert grpc_receiver.received.spans() == []  # preview never leaves the process


class Verbose(commands.Cog):
    @commands.command()
    async def verbose(self, ctx: commands.Context[Any]) -> None:
        raise ValueError("the feed answered " + "nothing useful, " * 200)


async def test_a_long_preview_comes_as_a_file_holding_the_same_json(
    bot: commands.Bot, telemetry: Telemetry
) -> None:
    await bot.add_cog(telemetry.owner_cog())
    await load(bot, telemetry, Verbose())
    direct_messages()
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message(f"{PREFIX}verbose")
    await dpytest.message(f"{PREFIX}telemetry preview")

    reply = dpytest.get_message()
    (attachment,) = reply.attachments
    assert attachment.filename == "telemetry.txt"
    shown = json.loads(reply_text(reply))
    assert shown == json.loads(OwnerControls([telemetry.errors]).preview())
    assert shown["report"]["attributes"]["discord.command"] == "verbose"


async def test_a_short_preview_comes_inline_as_a_code_block(
    bot: commands.Bot, telemetry: Telemetry
) -> None:
    await bot.add_cog(telemetry.owner_cog())
    await load(bot, telemetry, Beta())
    direct_messages()
    await dpytest.message(f"{PREFIX}telemetry preview")

    reply = dpytest.get_message()
    assert reply.attachments == []
    assert reply.content.startswith("```\n{")
    assert json.loads(reply_text(reply))["report"] is None


async def test_preview_shows_the_status_description_that_send_sends(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    await bot.add_cog(telemetry.owner_cog())
    await load(bot, telemetry, Alpha())
    direct_messages()
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message(f"{PREFIX}alpha")
    shown = json.loads(OwnerControls([telemetry.errors]).preview())
    await dpytest.message(f"{PREFIX}telemetry send {shown['code']}")
    assert dpytest.get_message().content == f"Error {shown['code']} sent."

    (span,) = grpc_receiver.received.wait_for_names("error ConnectionResetError")
    assert span["status"]["message"] == "ConnectionResetError: alpha lost IP-ADDRESS"
    assert shown["report"]["status_description"] == span["status"]["message"]


async def test_send_code_shares_one_error_while_reporting_is_off(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    await bot.add_cog(telemetry.owner_cog())
    await load(bot, telemetry, Alpha())
    direct_messages()
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message(f"{PREFIX}alpha")
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message(f"{PREFIX}alpha")
    first, _second = telemetry.errors.buffer
    await dpytest.message(f"{PREFIX}telemetry send {first.code.lower()}")
    assert dpytest.get_message().content == f"Error {first.code} sent."

    (span,) = grpc_receiver.received.wait_for_names("error ConnectionResetError")
    assert span["attributes"]["otel_discord.error.code"] == first.code
    assert span["events"][0]["attributes"]["exception.message"] == "alpha lost IP-ADDRESS"
    assert span["resource"]["service.name"] == "mycog"
    assert not telemetry.enabled
    assert [s["attributes"]["otel_discord.error.code"] for s in grpc_receiver.received.spans()] == [
        first.code
    ]


async def test_send_with_an_unknown_code_says_so(bot: commands.Bot, telemetry: Telemetry) -> None:
    await bot.add_cog(telemetry.owner_cog())
    await dpytest.message(f"{PREFIX}telemetry send ZZZZZZ")
    assert dpytest.get_message().content.startswith("No recent error with code ZZZZZZ")


async def test_two_reporters_of_one_name_send_one_dm_for_a_cog_loaded_before_ready(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    bot._ready.clear()  # an extension reloaded while the bot is still connecting
    again = telemetry_for(grpc_receiver, enabled=None, notify_owners=True)
    telemetry.instrument_cog(Alpha(), bot=bot)
    again.instrument_cog(Alpha(), bot=bot)
    await asyncio.sleep(0.01)  # both notifiers are waiting for READY
    bot._ready.set()
    await telemetry.notifier.wait()
    await again.notifier.wait()

    (dm,) = direct_messages()
    assert "**Alpha**" in dm.content
    assert telemetry.consent_store.load("mycog").notified == ("cog:Alpha",)
    again.shutdown(2)


class ThreadRecordingStore(JsonConsentStore):
    """The real JSON store, noting which thread each read and write ran on."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.threads: list[tuple[str, str]] = []

    def load(self, reporter: str) -> Any:
        import threading

        self.threads.append(("load", threading.current_thread().name))
        return super().load(reporter)

    def save(self, record: Any) -> None:
        import threading

        self.threads.append(("save", threading.current_thread().name))
        super().save(record)


async def test_consent_file_is_never_read_or_written_on_the_event_loop(
    bot: commands.Bot, grpc_receiver: GrpcReceiver, tmp_path: Path
) -> None:
    import threading

    store = ThreadRecordingStore(tmp_path / "store")
    telemetry = Telemetry(
        "mycog",
        config={"exporters": [], "schedule_delay": 0.05},
        consent=store,
        notify_owners=True,
    )
    store.threads.clear()  # construction is the author's own (sync) set-up, not the loop's
    try:
        await bot.add_cog(telemetry.instrument_cog(Alpha(), bot=bot))
        await bot.add_cog(telemetry.owner_cog())
        await telemetry.notifier.wait()
        assert len(direct_messages()) == 1  # the consent DM: read and marked off the loop
        await dpytest.message(f"{PREFIX}telemetry enable")
        assert dpytest.get_message().content == "mycog: errors on."
        telemetry._next_refresh = 0.0  # the periodic re-read falls due on the loop
        assert telemetry.enabled
        await asyncio.sleep(0.2)
        loop_thread = threading.current_thread().name
        assert {kind for kind, _ in store.threads} == {"load", "save"}
        assert [t for t in store.threads if t[1] == loop_thread] == []
    finally:
        telemetry.shutdown(2)


# -- the consent DM says what is true when it is sent ----------------------------------------


def operator_enabled(receiver: GrpcReceiver, source: str, mp: pytest.MonkeyPatch) -> Telemetry:
    """A reporter the operator turned on: ``enabled = true`` in its config, or
    ``OTEL_DISCORD_ENABLED=true`` in the environment (and no ``enabled`` key at all)."""
    if source == "config":
        return telemetry_for(receiver, enabled=True, notify_owners=True)
    mp.setenv("OTEL_DISCORD_ENABLED", "true")
    settings = {
        "exporters": ["otlp"],
        "otlp_protocol": "grpc",
        "otlp_endpoint": receiver.endpoint,
        "schedule_delay": 0.05,
        "queue_max_bytes": 0,
    }
    return Telemetry("mycog", version="1.0.0", config=settings, notify_owners=True)


async def test_dm_says_reporting_is_off_and_how_to_turn_it_on(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    await load(bot, telemetry, Alpha())
    (dm,) = direct_messages()
    assert "It is **off**: nothing has been or will be sent unless you turn it on." in dm.content
    assert dm.content.endswith("Turn it on: `?!telemetry enable mycog`")
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message(f"{PREFIX}alpha")
    assert telemetry.force_flush(5)
    assert grpc_receiver.received.spans() == []  # what the DM said


@pytest.mark.parametrize("source", ["config", "environment"])
async def test_dm_says_reporting_is_on_when_the_operator_turned_it_on(
    bot: commands.Bot, grpc_receiver: GrpcReceiver, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    telemetry = operator_enabled(grpc_receiver, source, monkeypatch)
    try:
        await bot.add_cog(telemetry.owner_cog())
        await load(bot, telemetry, Alpha())
        (dm,) = direct_messages()
        assert "It is **on**: the bot's configuration turned it on" in dm.content
        assert "so errors are being sent." in dm.content
        assert "**off**" not in dm.content and "Turn it on" not in dm.content
        assert dm.content.endswith("Turn it off: `?!telemetry disable mycog`")
        with pytest.raises(commands.CommandInvokeError):
            await dpytest.message(f"{PREFIX}alpha")
        grpc_receiver.received.wait_for_names("error ConnectionResetError")  # it is on

        await dpytest.message(dm.content.rsplit("`", 2)[1])  # the command the DM gave
        assert dpytest.get_message().content == "mycog: nothing on."
        assert not telemetry.enabled
    finally:
        telemetry.shutdown(2)


async def test_reminder_says_reporting_is_on_when_the_operator_turned_it_on(
    bot: commands.Bot, grpc_receiver: GrpcReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    telemetry = operator_enabled(grpc_receiver, "config", monkeypatch)
    try:
        await load(bot, telemetry, Alpha())
        await load(bot, telemetry, Beta())
        _master, reminder = direct_messages()
        assert reminder.content == (
            "**Beta** also reports through **mycog** (otel-discord), which is **on** (turned on "
            "in the bot's configuration). Turn it off: `?!telemetry disable mycog`"
        )
    finally:
        telemetry.shutdown(2)


async def test_dm_says_off_when_the_owner_turned_it_off_over_enabled_true(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver, enabled=True, notify_owners=True)
    try:
        telemetry.disable()  # the owner's earlier "no" wins over the operator's opt-in
        await load(bot, telemetry, Alpha())
        (dm,) = direct_messages()
        said = "It is **off**: you turned it off, and nothing is sent unless you turn it on again."
        assert said in dm.content
        assert dm.content.endswith("Turn it on: `?!telemetry enable mycog`")
    finally:
        telemetry.shutdown(2)


@pytest.mark.parametrize(
    ("variable", "value"), [("DO_NOT_TRACK", "1"), ("OTEL_SDK_DISABLED", "true")]
)
async def test_no_dm_while_a_kill_switch_blocks_reporting_and_one_once_it_is_lifted(
    bot: commands.Bot,
    telemetry: Telemetry,
    grpc_receiver: GrpcReceiver,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
) -> None:
    monkeypatch.setenv(variable, value)  # `telemetry enable` would change nothing
    await load(bot, telemetry, Alpha())
    assert direct_messages() == []
    assert telemetry.consent_store.load("mycog").notified == ()  # not told: told later

    monkeypatch.delenv(variable)
    await bot.remove_cog("Alpha")
    again = telemetry_for(grpc_receiver, enabled=None, notify_owners=True)  # the next start
    try:
        await load(bot, again, Alpha())
        (dm,) = direct_messages()
        assert "It is **off**" in dm.content and "Turn it on: `?!telemetry enable mycog`" in (
            dm.content
        )
    finally:
        again.shutdown(2)


async def test_no_dm_while_enabled_false_in_config_blocks_reporting(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver, enabled=False, notify_owners=True)
    try:
        await load(bot, telemetry, Alpha())
        assert direct_messages() == []
        assert telemetry.consent_store.load("mycog").notified == ()
    finally:
        telemetry.shutdown(2)


async def test_status_lists_the_private_metadata_keys_a_reporter_may_send(
    grpc_receiver: GrpcReceiver,
) -> None:
    telemetry = Telemetry(
        "searchcog",
        config={"exporters": [], "enabled": None},
        private_metadata=("query_kind", "locale"),
        notify_owners=False,
    )
    plain = telemetry_for(grpc_receiver, name="plaincog", enabled=None)
    try:
        lines = OwnerControls([telemetry.errors, plain.errors]).status().splitlines()
        assert lines[0].startswith("plaincog: ") and "private metadata" not in lines[0]
        assert lines[1].endswith("; usage events may carry private metadata locale, query_kind")
    finally:
        telemetry.shutdown(1)
        plain.shutdown(1)


async def test_without_owner_ids_the_owners_are_the_application_teams_members(
    bot: commands.Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dpytest's fake HTTP answers ``application_info`` without a team (Discord's API cannot run
    here): its answer gets the team Discord sends for a team-owned application."""
    from discord.ext.test import factories

    from otel_discord.hooks._owners import owner_ids

    bot.owner_id = None
    bot.owner_ids = set()
    original = bot.http.application_info
    alice = factories.make_user_dict("alice", "0001", None, id_num=111111111111111111)
    bob = factories.make_user_dict("bob", "0002", None, id_num=222222222222222222)

    async def team_owned() -> Any:
        data = await original()
        data["team"] = {
            "id": "333333333333333333",
            "name": "weather-team",
            "icon": None,
            "owner_user_id": alice["id"],
            "members": [
                {
                    "membership_state": 2,
                    "permissions": ["*"],
                    "team_id": "3",
                    "role": "admin",
                    "user": user,
                }
                for user in (alice, bob)
            ],
        }
        return data

    monkeypatch.setattr(bot.http, "application_info", team_owned)
    assert await owner_ids(bot) == {111111111111111111, 222222222222222222}
    monkeypatch.setattr(bot.http, "application_info", original)
    (app_owner,) = await owner_ids(bot)  # no team: the application's owner
    assert app_owner not in {111111111111111111, 222222222222222222}
