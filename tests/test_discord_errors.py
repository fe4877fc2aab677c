"""Cog, hybrid, slash and listener errors: reported once, with the right attributes, at a real
OTLP receiver; user errors and other authors' errors never; the bot's own handling unchanged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import discord
import discord.ext.test as dpytest
import pytest
from discord import app_commands
from discord.ext import commands

from otel_discord import Telemetry
from tests._backends import GrpcReceiver
from tests._discord import sent_texts, slash_interaction, start_bot, stop_bot, telemetry_for
from tests._other_author import OtherAuthorsCog

log = logging.getLogger(__name__)
#: A bot token shape (synthetic): the scrubber must remove it from breadcrumbs.
FAKE_TOKEN = "MTA5ODc2NTQzMjEwOTg3NjU0.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"


class Tools(commands.Cog):
    """A real cog with a handler of its own, as many published cogs have."""

    def __init__(self) -> None:
        self.handled: list[str] = []
        self.gate = asyncio.Event()
        self.slow_started = asyncio.Event()

    async def cog_command_error(self, ctx: commands.Context[Any], error: Exception) -> None:
        self.handled.append(f"cog:{type(error).__name__}")

    @commands.command()
    async def boom(self, ctx: commands.Context[Any]) -> None:
        log.warning("about to divide for %s", FAKE_TOKEN)
        raise ZeroDivisionError("division failed near 192.0.2.7")

    @commands.command()
    async def greet(self, ctx: commands.Context[Any], name: str) -> None:
        raise RuntimeError("greeting failed")

    @commands.hybrid_command()
    async def hboom(self, ctx: commands.Context[Any]) -> None:
        raise LookupError("hybrid failed")

    @commands.command()
    async def add(self, ctx: commands.Context[Any], a: int, b: int) -> None:
        await ctx.send(f"{a + b}")

    @commands.command()
    @commands.is_owner()
    async def secret(self, ctx: commands.Context[Any]) -> None:
        await ctx.send("owner only")

    @commands.command()
    @commands.cooldown(1, 60, commands.BucketType.user)
    async def cool(self, ctx: commands.Context[Any]) -> None:
        await ctx.send("cool")

    @commands.command(enabled=False)
    async def off(self, ctx: commands.Context[Any]) -> None:
        await ctx.send("never")

    @app_commands.command()
    async def sboom(self, interaction: discord.Interaction[Any]) -> None:
        raise KeyError("slash failed")

    @app_commands.command()
    @app_commands.checks.has_permissions(administrator=True)
    async def sadmin(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.send_message("admin")

    @commands.command()
    async def parse(self, ctx: commands.Context[Any], value: str) -> None:
        await ctx.send(f"parsing {value}")
        int(value)

    @commands.command()
    async def lookup(self, ctx: commands.Context[Any], *, key: str) -> None:
        log.warning("looking up %s", key)
        dict[str, str]()[key]

    @commands.command()
    @commands.max_concurrency(1)
    async def slow(self, ctx: commands.Context[Any]) -> None:
        self.slow_started.set()
        await self.gate.wait()

    @commands.hybrid_command()
    async def hfind(self, ctx: commands.Context[Any], query: str) -> None:
        raise LookupError(f"no hybrid match for {query}")

    @app_commands.command()
    async def sfind(self, interaction: discord.Interaction[Any], query: str) -> None:
        raise LookupError(f"no match for {query}")

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.content == "crash":
            raise OSError("listener failed")


@pytest.fixture
async def bot() -> AsyncIterator[commands.Bot]:
    bot = await start_bot()
    yield bot
    await stop_bot(bot)


@pytest.fixture
def telemetry(grpc_receiver: GrpcReceiver) -> Iterator[Telemetry]:
    telemetry = telemetry_for(grpc_receiver)
    yield telemetry
    telemetry.shutdown(2)


async def instrumented_tools(bot: commands.Bot, telemetry: Telemetry) -> Tools:
    cog = telemetry.instrument_cog(Tools(), bot=bot)
    await bot.add_cog(cog)
    return cog


def reports(receiver: GrpcReceiver, telemetry: Telemetry, name: str) -> list[dict[str, Any]]:
    assert telemetry.force_flush(5)
    receiver.received.wait_for_names(name)
    return [s for s in receiver.received.spans() if s["name"] == name]


async def test_prefix_command_error_is_reported_once_with_its_attributes(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    await instrumented_tools(bot, telemetry)
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message("!boom")

    (span,) = reports(grpc_receiver, telemetry, "error ZeroDivisionError")
    attributes = span["attributes"]
    assert attributes["discord.kind"] == "prefix"
    assert attributes["discord.command"] == "boom"
    assert attributes["discord.cog"] == "Tools"
    assert attributes["error.type"] == "ZeroDivisionError"
    assert len(attributes["otel_discord.error.code"]) == 6
    config = dpytest.get_config()
    member, channel = config.members[0], config.channels[0]
    for key, raw in (
        ("discord.user.id", member.id),
        ("discord.channel.id", channel.id),
        ("discord.guild.id", channel.guild.id),
    ):
        assert attributes[key].startswith("DISCORD-ID-") or attributes[key] != str(raw)
        assert str(raw) not in str(attributes[key])
    (exception,) = [e for e in span["events"] if e["name"] == "exception"]
    assert exception["attributes"]["exception.type"] == "ZeroDivisionError"  # unwrapped
    assert exception["attributes"]["exception.message"] == "division failed near IP-ADDRESS"
    assert "in boom" in exception["attributes"]["exception.stacktrace"]
    assert span["status"]["code"] == 2


async def test_cog_handler_and_global_handlers_still_run_in_order(
    bot: commands.Bot, telemetry: Telemetry
) -> None:
    order: list[str] = []

    async def global_listener(ctx: commands.Context[Any], error: Exception) -> None:
        order.append(f"global:{type(error).__name__}")

    bot.add_listener(global_listener, "on_command_error")
    cog = await instrumented_tools(bot, telemetry)
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message("!boom")
    await dpytest.run_all_events()
    assert cog.handled == ["cog:CommandInvokeError"]
    assert order == ["global:CommandInvokeError"]
    assert len(telemetry.errors.buffer) == 1


async def test_hybrid_command_error_is_reported_as_hybrid_with_the_original_exception(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    await instrumented_tools(bot, telemetry)
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message("!hboom")

    (span,) = reports(grpc_receiver, telemetry, "error LookupError")
    assert span["attributes"]["discord.kind"] == "hybrid"
    assert span["attributes"]["discord.command"] == "hboom"
    assert span["events"][0]["attributes"]["exception.message"] == "hybrid failed"


async def test_slash_command_error_is_reported_as_slash_and_the_tree_handler_still_runs(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    tree_errors: list[BaseException] = []

    @bot.tree.error
    async def on_tree_error(
        interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        tree_errors.append(error)

    await instrumented_tools(bot, telemetry)
    await bot.tree._call(slash_interaction(bot, "sboom"))

    (span,) = reports(grpc_receiver, telemetry, "error KeyError")
    attributes = span["attributes"]
    assert attributes["discord.kind"] == "slash"
    assert attributes["discord.command"] == "sboom"
    assert attributes["discord.cog"] == "Tools"
    assert "discord.guild.id" in attributes and "discord.user.id" in attributes
    assert [type(e).__name__ for e in tree_errors] == ["CommandInvokeError"]


async def test_listener_error_of_an_instrumented_cog_is_reported(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    await instrumented_tools(bot, telemetry)
    await dpytest.message("crash")
    await dpytest.run_all_events()

    (span,) = reports(grpc_receiver, telemetry, "error OSError")
    assert span["attributes"]["discord.kind"] == "listener"
    assert span["attributes"]["discord.listener"] == "on_message"
    assert span["attributes"]["discord.cog"] == "Tools"


async def test_listener_error_of_another_package_is_not_reported(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    class Mine(commands.Cog):
        @commands.Cog.listener("on_message")
        async def mine(self, message: discord.Message) -> None:
            if message.content == "my crash":
                raise ValueError("my bug")

    telemetry.instrument_bot(bot, packages=[__name__])
    await bot.add_cog(Mine())
    await bot.add_cog(OtherAuthorsCog())
    await dpytest.message("other crash")
    await dpytest.message("my crash")
    await dpytest.run_all_events()

    (span,) = reports(grpc_receiver, telemetry, "error ValueError")
    assert span["attributes"]["discord.listener"] == "on_message"
    names = [s["name"] for s in grpc_receiver.received.spans()]
    assert names == ["error ValueError"]
    assert [r.span.name for r in telemetry.errors.buffer] == ["error ValueError"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("!add one 2", commands.BadArgument),
        ("!add 1", commands.MissingRequiredArgument),
        ("!secret", commands.NotOwner),
        ("!nosuchcommand", commands.CommandNotFound),
        ("!off", commands.DisabledCommand),
    ],
)
async def test_user_errors_are_not_reported(
    bot: commands.Bot,
    telemetry: Telemetry,
    grpc_receiver: GrpcReceiver,
    content: str,
    expected: type[Exception],
) -> None:
    bot.owner_id = 1  # nobody in the test guild owns the bot
    await instrumented_tools(bot, telemetry)
    with pytest.raises(expected):
        await dpytest.message(content)
    assert telemetry.force_flush(5)
    assert list(telemetry.errors.buffer) == []
    assert grpc_receiver.received.spans() == []


async def test_cooldown_is_a_user_error_and_not_reported(
    bot: commands.Bot, telemetry: Telemetry
) -> None:
    await instrumented_tools(bot, telemetry)
    await dpytest.message("!cool")
    with pytest.raises(commands.CommandOnCooldown):
        await dpytest.message("!cool")
    assert list(telemetry.errors.buffer) == []


async def test_slash_check_failure_is_a_user_error_and_not_reported(
    bot: commands.Bot, telemetry: Telemetry
) -> None:
    seen: list[BaseException] = []

    @bot.tree.error
    async def on_tree_error(
        interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        seen.append(error)

    await instrumented_tools(bot, telemetry)
    await bot.tree._call(slash_interaction(bot, "sadmin"))
    assert [type(e) for e in seen] == [app_commands.MissingPermissions]
    assert list(telemetry.errors.buffer) == []


async def test_the_user_error_list_is_configurable(bot: commands.Bot, telemetry: Telemetry) -> None:
    telemetry.errors.user_errors = ()
    await instrumented_tools(bot, telemetry)
    with pytest.raises(commands.BadArgument):
        await dpytest.message("!add one 2")
    (report,) = telemetry.errors.buffer
    assert report.span.attributes is not None
    assert report.span.attributes["error.type"] == "BadArgument"


async def test_report_never_carries_message_content_or_argument_values(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    await instrumented_tools(bot, telemetry)
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message("!greet Zanzibarquux")
    reports(grpc_receiver, telemetry, "error RuntimeError")
    raw = b"".join(grpc_receiver.received.raw)
    assert b"Zanzibarquux" not in raw
    assert b"!greet" not in raw


async def test_breadcrumbs_include_the_red_style_logger_of_the_cogs_package(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver, breadcrumbs=3)
    await instrumented_tools(bot, telemetry)
    # This cog's package is ``tests``: Red cogs log as ``red.<package>``.
    logging.getLogger("red.tests").warning("from the red-style logger")
    logging.getLogger("red.othercog").warning("another cog's")
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message("!boom")

    (span,) = reports(grpc_receiver, telemetry, "error ZeroDivisionError")
    crumbs = [e["attributes"] for e in span["events"] if e["name"] == "breadcrumb"]
    assert [
        (c["otel_discord.breadcrumb.logger"], c["otel_discord.breadcrumb.message"]) for c in crumbs
    ] == [
        ("red.tests", "from the red-style logger"),
        (__name__, "about to divide for BOT-TOKEN"),
    ]
    telemetry.shutdown(2)


async def test_breadcrumbs_are_the_last_log_records_of_the_cogs_loggers_scrubbed(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver, breadcrumbs=2)
    await instrumented_tools(bot, telemetry)
    logging.getLogger("discord.ext.commands").warning("not the reporter's logger")
    log.warning("first of mine")
    log.warning("second of mine")
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message("!boom")

    (span,) = reports(grpc_receiver, telemetry, "error ZeroDivisionError")
    crumbs = [e["attributes"] for e in span["events"] if e["name"] == "breadcrumb"]
    assert [c["otel_discord.breadcrumb.message"] for c in crumbs] == [
        "second of mine",
        "about to divide for BOT-TOKEN",
    ]
    assert crumbs[0]["otel_discord.breadcrumb.logger"] == __name__
    assert FAKE_TOKEN.encode() not in b"".join(grpc_receiver.received.raw)
    telemetry.shutdown(2)


async def test_identical_errors_are_limited_per_window_and_the_next_says_how_many_were_dropped(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver, error_limit=2, error_window=0.3)
    await instrumented_tools(bot, telemetry)
    for _ in range(5):
        with pytest.raises(commands.CommandInvokeError):
            await dpytest.message("!boom")
    assert len(telemetry.errors.buffer) == 2
    await asyncio.sleep(0.35)
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message("!boom")

    assert telemetry.force_flush(5)
    spans = grpc_receiver.received.wait_for(
        lambda spans: sum(s["name"] == "error ZeroDivisionError" for s in spans) >= 3
    )
    suppressed = [s["attributes"].get("otel_discord.error.suppressed") for s in spans]
    assert suppressed == [None, None, 3]
    telemetry.shutdown(2)


async def test_replies_and_handlers_are_identical_with_and_without_instrumentation(
    grpc_receiver: GrpcReceiver,
) -> None:
    script = ["!add 2 3", "!add x 1", "!boom", "!cool", "!cool", "hello", "!hboom"]

    async def run(instrument: bool) -> tuple[list[str], list[str], list[str]]:
        bot = await start_bot()
        telemetry = telemetry_for(grpc_receiver)
        seen: list[str] = []

        async def global_listener(ctx: commands.Context[Any], error: Exception) -> None:
            seen.append(type(error).__name__)

        bot.add_listener(global_listener, "on_command_error")
        cog = Tools()
        if instrument:
            telemetry.instrument_cog(cog, bot=bot)
            telemetry.instrument_bot(bot, packages=[__name__])
        await bot.add_cog(cog)
        for content in script:
            try:
                await dpytest.message(content)
            except commands.CommandError as exc:
                seen.append(f"raised:{type(exc).__name__}")
        await dpytest.run_all_events()
        replies = sent_texts()
        await stop_bot(bot)
        telemetry.shutdown(2)
        return replies, cog.handled, seen

    plain = await run(instrument=False)
    instrumented = await run(instrument=True)
    assert plain == instrumented
    assert plain[0] == ["5", "cool"]


async def test_command_spans_are_off_by_default(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    await instrumented_tools(bot, telemetry)
    await dpytest.message("!add 2 3")
    assert telemetry.force_flush(5)
    assert grpc_receiver.received.spans() == []


async def test_command_span_when_enabled_carries_duration_and_names_only(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver, command_spans=True)
    await instrumented_tools(bot, telemetry)
    # Argument values long and odd enough that no random id or timestamp on the wire holds them
    # by chance (a "40" did, now and then).
    await dpytest.message("!add 739187 264513")

    (span,) = reports(grpc_receiver, telemetry, "command add")
    assert span["attributes"] == {
        "discord.kind": "prefix",
        "discord.command": "add",
        "discord.cog": "Tools",
    }
    wire = b"".join(grpc_receiver.received.raw)
    assert b"739187" not in wire and b"264513" not in wire
    assert dpytest.verify().message().content(str(739187 + 264513))
    telemetry.shutdown(2)


async def test_a_failed_commands_error_report_is_a_child_of_its_command_span(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver, command_spans=True)
    await instrumented_tools(bot, telemetry)
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message("!boom")
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message("!greet Zed")

    assert telemetry.force_flush(5)
    spans = grpc_receiver.received.wait_for_names(
        "command boom", "error ZeroDivisionError", "command greet", "error RuntimeError"
    )
    by_name = {s["name"]: s for s in spans}
    for command, error in (
        ("command boom", "error ZeroDivisionError"),
        ("command greet", "error RuntimeError"),
    ):
        assert by_name[error]["trace_id"] == by_name[command]["trace_id"]
        assert by_name[error]["parent_span_id"] == by_name[command]["span_id"]
    assert by_name["command boom"]["trace_id"] != by_name["command greet"]["trace_id"]
    telemetry.shutdown(2)


async def test_without_command_spans_an_error_report_is_a_trace_of_its_own(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    await instrumented_tools(bot, telemetry)
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message("!boom")
    (span,) = reports(grpc_receiver, telemetry, "error ZeroDivisionError")
    assert span["parent_span_id"] == ""
    assert [s["name"] for s in grpc_receiver.received.spans()] == ["error ZeroDivisionError"]


async def test_a_slash_command_gets_a_command_span_and_its_error_report_is_the_child(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver, command_spans=True)
    await instrumented_tools(bot, telemetry)
    await bot.tree._call(slash_interaction(bot, "sboom"))

    assert telemetry.force_flush(5)
    spans = grpc_receiver.received.wait_for_names("command sboom", "error KeyError")
    by_name = {s["name"]: s for s in spans}
    command = by_name["command sboom"]
    assert command["attributes"] == {
        "discord.kind": "slash",
        "discord.command": "sboom",
        "discord.cog": "Tools",
        "error.type": "KeyError",
    }
    assert command["status"]["code"] == 2  # STATUS_CODE_ERROR
    assert by_name["error KeyError"]["parent_span_id"] == command["span_id"]
    assert by_name["error KeyError"]["trace_id"] == command["trace_id"]
    telemetry.shutdown(2)


async def test_a_hybrid_command_invoked_as_slash_gets_a_hybrid_command_span_and_child_report(
    bot: commands.Bot, grpc_receiver: GrpcReceiver
) -> None:
    telemetry = telemetry_for(grpc_receiver, command_spans=True)
    await instrumented_tools(bot, telemetry)
    await bot.tree._call(slash_interaction(bot, "hboom"))
    await dpytest.run_all_events()

    assert telemetry.force_flush(5)
    spans = grpc_receiver.received.wait_for_names("command hboom", "error LookupError")
    by_name = {s["name"]: s for s in spans}
    command = by_name["command hboom"]
    assert command["attributes"]["discord.kind"] == "hybrid"
    assert command["attributes"]["error.type"] == "LookupError"
    assert by_name["error LookupError"]["parent_span_id"] == command["span_id"]
    assert len(telemetry.errors.buffer) == 1
    telemetry.shutdown(2)


async def test_slash_commands_get_no_command_span_by_default(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    await instrumented_tools(bot, telemetry)
    await bot.tree._call(slash_interaction(bot, "sboom"))
    (span,) = reports(grpc_receiver, telemetry, "error KeyError")
    assert span["parent_span_id"] == ""
    assert [s["name"] for s in grpc_receiver.received.spans()] == ["error KeyError"]


async def test_error_reports_carry_the_bots_own_shard(grpc_receiver: GrpcReceiver) -> None:
    bot = await start_bot(shard_id=1, shard_count=4)
    telemetry = telemetry_for(grpc_receiver)
    await instrumented_tools(bot, telemetry)
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message("!boom")

    (span,) = reports(grpc_receiver, telemetry, "error ZeroDivisionError")
    assert span["resource"]["discord.shard.id"] == 1
    assert span["resource"]["discord.shard.count"] == 4
    await stop_bot(bot)
    telemetry.shutdown(2)


async def test_hybrid_command_invoked_as_slash_is_reported_once_as_hybrid(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    cog = await instrumented_tools(bot, telemetry)
    await bot.tree._call(slash_interaction(bot, "hboom"))
    await dpytest.run_all_events()

    (span,) = reports(grpc_receiver, telemetry, "error LookupError")
    assert span["attributes"]["discord.kind"] == "hybrid"
    assert span["attributes"]["discord.command"] == "hboom"
    assert cog.handled == ["cog:HybridCommandError"]
    assert len(telemetry.errors.buffer) == 1


def test_error_bookkeeping_stays_bounded_with_many_distinct_errors(
    grpc_receiver: GrpcReceiver,
) -> None:
    telemetry = telemetry_for(grpc_receiver, enabled=False)
    for i in range(2_000):
        kind = type(f"Failure{i}", (RuntimeError,), {})
        try:
            raise kind("distinct")
        except RuntimeError as exc:
            telemetry.errors.capture(exc, "loop")
    assert len(telemetry.errors.buffer) == 10
    assert len(telemetry.errors._dedup._state) <= 512
    telemetry.shutdown(2)


# -- argument values never leave: redacted from every string of their report ------------------


def raw_export(receiver: GrpcReceiver) -> bytes:
    return b"".join(receiver.received.raw)


async def test_a_prefix_argument_is_redacted_from_the_exception_message_and_status(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    await instrumented_tools(bot, telemetry)
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message("!parse my-secret-argument")

    (span,) = reports(grpc_receiver, telemetry, "error ValueError")
    (exception,) = [e for e in span["events"] if e["name"] == "exception"]
    message = "invalid literal for int() with base 10: 'ARGUMENT'"
    assert exception["attributes"]["exception.message"] == message
    assert span["status"]["message"] == f"ValueError: {message}"
    assert "argument:" in " ".join(span["attributes"]["otel_discord.scrubbed"])
    assert b"my-secret-argument" not in raw_export(grpc_receiver)


async def test_every_word_of_the_raw_argument_text_is_redacted_from_the_whole_report(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    await instrumented_tools(bot, telemetry)
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message("!lookup hunter2 password")

    (span,) = reports(grpc_receiver, telemetry, "error KeyError")
    events = {e["name"]: e["attributes"] for e in span["events"]}
    assert events["exception"]["exception.message"] == "'ARGUMENT'"
    assert "KeyError: 'ARGUMENT'" in events["exception"]["exception.stacktrace"]
    assert events["breadcrumb"]["otel_discord.breadcrumb.message"] == "looking up ARGUMENT"
    assert span["attributes"]["discord.command"] == "lookup"  # set by code: kept
    raw = raw_export(grpc_receiver)
    assert b"hunter2" not in raw
    assert b"password" not in raw.lower()


async def test_a_slash_string_option_is_redacted_from_the_report(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    await instrumented_tools(bot, telemetry)
    await bot.tree._call(slash_interaction(bot, "sfind", {"query": "zebra-passphrase-77"}))

    (span,) = reports(grpc_receiver, telemetry, "error LookupError")
    (exception,) = [e for e in span["events"] if e["name"] == "exception"]
    assert exception["attributes"]["exception.message"] == "no match for ARGUMENT"
    assert span["status"]["message"] == "LookupError: no match for ARGUMENT"
    assert b"zebra-passphrase-77" not in raw_export(grpc_receiver)


async def test_a_hybrid_argument_invoked_as_slash_is_redacted_from_the_report(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    await instrumented_tools(bot, telemetry)
    await bot.tree._call(slash_interaction(bot, "hfind", {"query": "okapi-passphrase-42"}))
    await dpytest.run_all_events()

    (span,) = reports(grpc_receiver, telemetry, "error LookupError")
    assert span["attributes"]["discord.kind"] == "hybrid"
    (exception,) = [e for e in span["events"] if e["name"] == "exception"]
    assert exception["attributes"]["exception.message"] == "no hybrid match for ARGUMENT"
    assert b"okapi-passphrase-42" not in raw_export(grpc_receiver)


async def test_redacting_arguments_leaves_the_bots_reply_unchanged(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    await instrumented_tools(bot, telemetry)
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message("!parse my-secret-argument")
    assert sent_texts() == ["parsing my-secret-argument"]
    reports(grpc_receiver, telemetry, "error ValueError")


async def test_max_concurrency_reached_is_a_user_error_and_not_reported(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    cog = await instrumented_tools(bot, telemetry)
    seen: list[Exception] = []

    async def release(ctx: commands.Context[Any], error: Exception) -> None:
        seen.append(error)
        cog.gate.set()  # dpytest waits for the first invocation before it returns the second

    bot.add_listener(release, "on_command_error")
    first = asyncio.create_task(dpytest.message("!slow"))
    await asyncio.wait_for(cog.slow_started.wait(), 5)
    second = asyncio.create_task(dpytest.message("!slow"))
    # dpytest raises the command error from whichever of the two calls is waiting.
    await asyncio.wait_for(asyncio.gather(first, second, return_exceptions=True), 5)
    assert [type(e) for e in seen] == [commands.MaxConcurrencyReached]
    assert telemetry.force_flush(5)
    assert list(telemetry.errors.buffer) == []
    assert grpc_receiver.received.spans() == []


# -- our part never stops the bot's own handlers -----------------------------------------------


async def test_the_bots_on_error_still_runs_when_reporting_a_listener_error_fails(
    bot: commands.Bot, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []

    async def on_error(event_method: str, /, *args: Any, **kwargs: Any) -> None:
        ran.append(event_method)

    bot.on_error = on_error  # type: ignore[method-assign]
    await instrumented_tools(bot, telemetry)

    def broken(*args: Any) -> None:
        raise RuntimeError("reporting failed")

    monkeypatch.setattr(telemetry.discord, "_listener_error", broken)
    await dpytest.message("crash")
    await dpytest.run_all_events()
    assert ran == ["on_message"]


async def test_the_trees_on_error_still_runs_when_reporting_an_app_command_error_fails(
    bot: commands.Bot, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree_errors: list[BaseException] = []

    @bot.tree.error
    async def on_tree_error(
        interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        tree_errors.append(error)

    await instrumented_tools(bot, telemetry)

    def broken(*args: Any) -> None:
        raise RuntimeError("reporting failed")

    monkeypatch.setattr(telemetry.discord, "_app_error", broken)
    await bot.tree._call(slash_interaction(bot, "sboom"))
    assert [type(e).__name__ for e in tree_errors] == ["CommandInvokeError"]


# -- the short code for the bot's own error reply ----------------------------------------------


async def test_an_error_reply_can_show_the_code_of_the_report_that_was_sent(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    async def on_command_error(ctx: commands.Context[Any], error: Exception) -> None:
        code = telemetry.errors.code_for(error)
        await ctx.send(f"Something went wrong (error code {code}).")

    bot.add_listener(on_command_error, "on_command_error")
    await instrumented_tools(bot, telemetry)
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message("!boom")
    await dpytest.run_all_events()

    (span,) = reports(grpc_receiver, telemetry, "error ZeroDivisionError")
    code = span["attributes"]["otel_discord.error.code"]
    assert sent_texts() == [f"Something went wrong (error code {code})."]
    assert telemetry.errors.buffer[-1].code == code


async def test_a_user_error_has_no_code(bot: commands.Bot, telemetry: Telemetry) -> None:
    codes: list[str | None] = []

    async def on_command_error(ctx: commands.Context[Any], error: Exception) -> None:
        codes.append(telemetry.errors.code_for(error))

    bot.add_listener(on_command_error, "on_command_error")
    await instrumented_tools(bot, telemetry)
    with pytest.raises(commands.BadArgument):
        await dpytest.message("!add one 2")
    await dpytest.run_all_events()
    assert codes == [None]


# -- every form of a value the invocation or listener was given --------------------------------

#: Synthetic values, long and odd enough that no random id or trace id can contain them.
WORD_SECRET = "qz7vorpal8812xk"
FLAG_SECRET = "plumbus4471wq"
CITY_SECRET = "São Vorpalópolis-9931"
DOTTED_SECRET = "İzmirqx-5517vz"
EARLIER_SECRET = "jabberwock-home-3318-ql"


class Profile(commands.FlagConverter):
    age: str
    city: str = "nowhere"


class Leaky(commands.Cog):
    """Author code that puts what it was given into exceptions and logs, as real cogs do."""

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.content.startswith("setage"):
            int(message.content.split()[1])

    @commands.Cog.listener()
    async def on_command(self, ctx: commands.Context[Any]) -> None:
        if ctx.command is not None and ctx.command.name == "note":
            raise ValueError(f"bad note {ctx.message.content}")

    @commands.Cog.listener()
    async def on_reaction_add(self, reaction: discord.Reaction, user: discord.Member) -> None:
        raise ValueError(f"reaction on {reaction.message.content}")

    @commands.Cog.listener()
    async def on_bulk_message_delete(self, messages: list[discord.Message]) -> None:
        raise ValueError(f"deleted {[m.content for m in messages]}")

    @commands.command()
    async def note(self, ctx: commands.Context[Any], *, text: str) -> None:
        await ctx.send("noted")

    @commands.command()
    async def profile(self, ctx: commands.Context[Any], *, flags: Profile) -> None:
        await ctx.send("profile saved")
        int(flags.age)

    @commands.command()
    async def weather(self, ctx: commands.Context[Any], *, city: str) -> None:
        from yarl import URL

        url = URL("https://api.example.com/weather").with_query(q=city)
        raise RuntimeError(f"404, message='Not Found', url={url!r}")

    @commands.command()
    async def hug(self, ctx: commands.Context[Any], member: discord.Member) -> None:
        raise RuntimeError(f"cannot hug {member.display_name} ({member.global_name})")

    @commands.command()
    async def search(self, ctx: commands.Context[Any], *, query: str) -> None:
        log.warning("search for %s found nothing", query)
        await ctx.send("nothing found")

    @commands.command()
    async def crash(self, ctx: commands.Context[Any]) -> None:
        raise ZeroDivisionError("crashed")


async def instrumented_leaky(bot: commands.Bot, telemetry: Telemetry) -> Leaky:
    cog = telemetry.instrument_cog(Leaky(), bot=bot)
    await bot.add_cog(cog)
    return cog


async def test_each_word_of_a_listeners_message_is_redacted_from_its_report(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    await instrumented_leaky(bot, telemetry)
    await dpytest.message(f"setage {WORD_SECRET}")
    await dpytest.run_all_events()

    (span,) = reports(grpc_receiver, telemetry, "error ValueError")
    assert span["status"]["message"].endswith("'ARGUMENT'")
    assert WORD_SECRET.encode() not in raw_export(grpc_receiver)


async def test_a_listener_given_a_context_has_the_invocations_arguments_redacted(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    await instrumented_leaky(bot, telemetry)
    await dpytest.message(f"!note {WORD_SECRET} and more")
    await dpytest.run_all_events()

    (span,) = reports(grpc_receiver, telemetry, "error ValueError")
    assert span["attributes"]["discord.listener"] == "on_command"
    assert WORD_SECRET.encode() not in raw_export(grpc_receiver)
    assert sent_texts() == ["noted"]


async def test_a_reaction_listener_has_the_reacted_messages_content_redacted(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    await instrumented_leaky(bot, telemetry)
    message = await dpytest.message(f"hello {WORD_SECRET}")
    emoji: Any = {"id": None, "name": "x"}
    reaction = discord.Reaction(message=message, data={"count": 1, "me": False, "emoji": emoji})
    bot.dispatch("reaction_add", reaction, dpytest.get_config().members[0])
    await dpytest.run_all_events()

    reports(grpc_receiver, telemetry, "error ValueError")
    assert WORD_SECRET.encode() not in raw_export(grpc_receiver)


async def test_a_bulk_delete_listener_has_every_deleted_messages_content_redacted(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    await instrumented_leaky(bot, telemetry)
    first = await dpytest.message(f"first {WORD_SECRET}")
    second = await dpytest.message(f"second {EARLIER_SECRET}")
    bot.dispatch("bulk_message_delete", [first, second])
    await dpytest.run_all_events()

    reports(grpc_receiver, telemetry, "error ValueError")
    raw = raw_export(grpc_receiver)
    assert WORD_SECRET.encode() not in raw
    assert EARLIER_SECRET.encode() not in raw


async def test_a_flag_value_is_redacted_and_the_reply_is_unchanged(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    await instrumented_leaky(bot, telemetry)
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message(f"!profile age:{FLAG_SECRET} city:Paris")

    (span,) = reports(grpc_receiver, telemetry, "error ValueError")
    assert (
        span["status"]["message"]
        == "ValueError: invalid literal for int() with base 10: 'ARGUMENT'"
    )
    assert FLAG_SECRET.encode() not in raw_export(grpc_receiver)
    assert sent_texts() == ["profile saved"]


async def test_a_percent_encoded_argument_is_redacted(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    from urllib.parse import quote_plus

    await instrumented_leaky(bot, telemetry)
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message(f"!weather {CITY_SECRET}")

    reports(grpc_receiver, telemetry, "error RuntimeError")
    raw = raw_export(grpc_receiver)
    assert quote_plus(CITY_SECRET).encode() not in raw
    assert b"Vorpal" not in raw


async def test_an_argument_with_a_dotted_capital_i_is_redacted(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    await instrumented_leaky(bot, telemetry)
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message(f"!profile age:{DOTTED_SECRET}")

    reports(grpc_receiver, telemetry, "error ValueError")
    raw = raw_export(grpc_receiver)
    assert DOTTED_SECRET.encode() not in raw
    assert b"5517vz" not in raw


async def test_a_converted_members_names_are_redacted(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    await instrumented_leaky(bot, telemetry)
    member = dpytest.get_config().members[0]
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message(f"!hug {member.mention}")

    (span,) = reports(grpc_receiver, telemetry, "error RuntimeError")
    assert member.display_name.encode() not in raw_export(grpc_receiver)
    assert "cannot hug ARGUMENT" in span["status"]["message"]


async def test_an_earlier_invocations_argument_is_redacted_from_breadcrumbs(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    await instrumented_leaky(bot, telemetry)
    await dpytest.message(f"!search {EARLIER_SECRET}")
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message("!crash")

    (span,) = reports(grpc_receiver, telemetry, "error ZeroDivisionError")
    crumbs = [e["attributes"] for e in span["events"] if e["name"] == "breadcrumb"]
    assert [c["otel_discord.breadcrumb.message"] for c in crumbs] == [
        "search for ARGUMENT found nothing"
    ]
    assert EARLIER_SECRET.encode() not in raw_export(grpc_receiver)
    assert sent_texts() == ["nothing found"]


#: Synthetic values for the slash and author-name cases (long and odd, see above).
SLASH_SECRET = "bandersnatch-7741-vq"
AUTHOR_NAME_SECRET = "frumiousqx5583"
AUTHOR_NICK_SECRET = "tumtumtree-2917-kz"


class SlashLeaky(commands.Cog):
    """A slash command that logs its option and succeeds; a listener that prints its author."""

    @app_commands.command()
    async def ssearch(self, interaction: discord.Interaction[Any], query: str) -> None:
        log.warning("slash search for %s found nothing", query)

    @commands.hybrid_command()
    async def hsearch(self, ctx: commands.Context[Any], query: str) -> None:
        log.warning("hybrid search for %s found nothing", query)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.content == "whoami":
            author: Any = message.author
            raise ValueError(f"unknown author {author.name} ({author.nick})")


@pytest.mark.parametrize(
    ("command", "logged"), [("ssearch", "slash search"), ("hsearch", "hybrid search")]
)
async def test_an_earlier_slash_invocations_option_is_redacted_from_breadcrumbs(
    bot: commands.Bot,
    telemetry: Telemetry,
    grpc_receiver: GrpcReceiver,
    command: str,
    logged: str,
) -> None:
    """A slash command, and a hybrid one invoked as slash (whose slash side is not among the
    cog's app commands: it is hooked through the hybrid command)."""
    await instrumented_leaky(bot, telemetry)
    await bot.add_cog(telemetry.instrument_cog(SlashLeaky(), bot=bot))
    await bot.tree._call(slash_interaction(bot, command, {"query": SLASH_SECRET}))
    await dpytest.run_all_events()
    with pytest.raises(commands.CommandInvokeError):
        await dpytest.message("!crash")

    (span,) = reports(grpc_receiver, telemetry, "error ZeroDivisionError")
    crumbs = [e["attributes"] for e in span["events"] if e["name"] == "breadcrumb"]
    assert [c["otel_discord.breadcrumb.message"] for c in crumbs] == [
        f"{logged} for ARGUMENT found nothing"
    ]
    assert SLASH_SECRET.encode() not in raw_export(grpc_receiver)


async def test_a_listeners_message_author_names_are_redacted(
    bot: commands.Bot, telemetry: Telemetry, grpc_receiver: GrpcReceiver
) -> None:
    from discord.ext.test import backend

    await bot.add_cog(telemetry.instrument_cog(SlashLeaky(), bot=bot))
    guild = dpytest.get_config().guilds[0]
    user = backend.make_user(AUTHOR_NAME_SECRET, "0001")
    member = backend.make_member(user, guild, nick=AUTHOR_NICK_SECRET)
    await dpytest.message("whoami", member=member)
    await dpytest.run_all_events()

    (span,) = reports(grpc_receiver, telemetry, "error ValueError")
    assert span["status"]["message"] == "ValueError: unknown author ARGUMENT (ARGUMENT)"
    raw = raw_export(grpc_receiver)
    assert AUTHOR_NAME_SECRET.encode() not in raw
    assert AUTHOR_NICK_SECRET.encode() not in raw


def test_an_error_report_that_cannot_be_scrubbed_is_dropped_with_one_warning(
    grpc_receiver: GrpcReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    from otel_discord.scrubbing import Scrubber, default_rules
    from tests.test_reporter import PoisonRule

    telemetry = Telemetry(
        "poisoncog",
        config={
            "enabled": True,
            "exporters": ["otlp"],
            "otlp_protocol": "grpc",
            "otlp_endpoint": grpc_receiver.endpoint,
            "schedule_delay": 0.05,
            "queue_max_bytes": 0,
        },
        scrubber=Scrubber([*default_rules(), PoisonRule()]),
    )
    try:
        with caplog.at_level(logging.WARNING, logger="otel_discord"):
            for _ in range(3):
                try:
                    raise RuntimeError("poison in the feed")
                except RuntimeError as exc:
                    assert telemetry.errors.capture(exc, "prefix") is None
        assert telemetry.force_flush(5)
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert warnings == [
            "otel_discord: dropped an error report that could not be built or scrubbed "
            "(RuntimeError)"
        ]
        assert grpc_receiver.received.spans() == []
        assert list(telemetry.errors.buffer) == []
    finally:
        telemetry.shutdown(2)


class _Stations(app_commands.Transformer):
    async def transform(self, interaction: discord.Interaction[Any], value: Any) -> str:
        raise ValueError(value)


@pytest.mark.parametrize(
    "error",
    [
        app_commands.TransformerError("nowhere", discord.AppCommandOptionType.string, _Stations()),
        app_commands.CommandNotFound("forecast", ["weather"]),
    ],
    ids=["TransformerError", "CommandNotFound"],
)
def test_app_command_user_errors_are_not_reported(
    telemetry: Telemetry, grpc_receiver: GrpcReceiver, error: Exception
) -> None:
    assert telemetry.errors.capture(error, "slash") is None
    assert list(telemetry.errors.buffer) == []
    assert telemetry.force_flush(5)
    assert grpc_receiver.received.spans() == []
