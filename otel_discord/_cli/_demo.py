"""``otel-discord demo``: a real discord.py bot, offline, reporting through a real reporter.

The bot is a plain ``commands.Bot`` with one cog. dpytest stands in for Discord's gateway and
HTTP API (no token, no network), so the commands, listener and ``tasks`` loop are discord.py's
own code paths. The scenario: a few simulated messages, one command that fails, and a
background loop whose second iteration fails (the loop keeps running); a second cog's plain
``tasks.loop`` is instrumented after the fact.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from otel_discord._cli import CliError
from otel_discord.telemetry import Telemetry

#: The demo's reporter name (its ``service.name``).
REPORTER = "otel-discord-demo"

Say = Callable[[str], None]


class DemoFailure(RuntimeError):
    """The failure the demo provokes on purpose."""


@dataclass
class ScenarioResult:
    commands: list[tuple[str, str]] = field(default_factory=list)  # (command, outcome)
    loop_iterations: int = 0
    loop_failures: int = 0
    heartbeats: int = 0


def _import_dpytest() -> Any:
    try:
        import discord.ext.test as dpytest
    except ImportError:
        raise CliError(
            "the demo drives discord.py offline with dpytest, which is not installed: "
            "pip install 'otel-discord[demo]'"
        ) from None
    return dpytest


async def run_scenario(
    telemetry: Telemetry, *, iterations: int = 4, say: Say = print
) -> ScenarioResult:
    """Run the demo bot against ``telemetry``; ``say`` receives the progress lines."""
    import discord
    from discord.ext import commands, tasks

    from otel_discord.consent import kill_switch

    dpytest = _import_dpytest()
    result = ScenarioResult()
    switch = kill_switch()
    reported = f"not sent: {switch} is set" if switch else "reported"
    loop_done = asyncio.Event()

    class Weather(commands.Cog):
        """A small cog: one working command, one failing command, a listener and a loop."""

        def __init__(self, bot: commands.Bot) -> None:
            self.bot = bot
            self.messages_seen = 0

        async def cog_load(self) -> None:
            self.refresh_forecasts.start()

        async def cog_unload(self) -> None:
            self.refresh_forecasts.cancel()

        @commands.command()
        async def forecast(self, ctx: commands.Context[Any], city: str = "Oslo") -> None:
            with telemetry.span("fetch-forecast", {"forecast.days": 3}):
                await asyncio.sleep(0.01)
            telemetry.record("forecast", "shown", metadata={"days": 3, "cached": False})
            await ctx.send(f"{city}: sunny")

        @commands.command()
        async def radar(self, ctx: commands.Context[Any]) -> None:
            # Synthetic secrets with the real shapes: the report shows them scrubbed.
            raise DemoFailure(
                "radar feed 203.0.113.7 refused the webhook; support: discord.gg/weather-help"
            )

        @commands.Cog.listener()
        async def on_message(self, message: discord.Message) -> None:
            self.messages_seen += 1

        @telemetry.loop(seconds=0.25, count=iterations, keep_running=True)
        async def refresh_forecasts(self) -> None:
            iteration = self.refresh_forecasts.current_loop + 1
            result.loop_iterations = iteration
            with telemetry.span("download-tiles", {"tiles": 12}):
                await asyncio.sleep(0.01)
            if iteration == 2:
                result.loop_failures += 1
                say(f"  loop refresh_forecasts: iteration {iteration} fails on purpose")
                raise DemoFailure("tile server timed out after 3 retries")
            say(f"  loop refresh_forecasts: iteration {iteration} ok")

        @refresh_forecasts.after_loop
        async def _finished(self) -> None:
            loop_done.set()

    class Status(commands.Cog):
        """A second cog whose loop is a plain ``tasks.loop``, instrumented after the fact."""

        async def cog_load(self) -> None:
            self.heartbeat.start()

        async def cog_unload(self) -> None:
            self.heartbeat.cancel()

        @tasks.loop(seconds=0.5, count=2)
        async def heartbeat(self) -> None:
            result.heartbeats += 1

    telemetry.instrument_loop(Status.heartbeat)

    intents = discord.Intents.default()
    intents.message_content = True
    intents.members = True
    bot = commands.Bot(command_prefix="!", intents=intents)
    # dpytest needs the bot's async setup before configure() (see discord.py's login()).
    await bot._async_setup_hook()
    dpytest.configure(bot)
    cog = Weather(bot)
    await bot.add_cog(telemetry.instrument_cog(cog, bot=bot, notify_owners=False))
    await bot.add_cog(telemetry.instrument_cog(Status(), bot=bot, notify_owners=False))
    telemetry.started(cogs=2)
    say(
        "bot ready: offline (dpytest), cogs Weather and Status, loops refresh_forecasts "
        "(every 0.25 s) and heartbeat (every 0.5 s)"
    )

    for content, label in (
        ("!forecast Bergen", "!forecast Bergen"),
        ("good morning, the bot lives at 198.51.100.23", "a chat message"),
        ("!radar", "!radar"),
    ):
        try:
            await dpytest.message(content)
        except commands.CommandInvokeError as exc:
            # dpytest hands command errors to the caller; the reporter saw them first.
            outcome = f"failed with {type(exc.original).__name__} ({reported})"
        else:
            outcome = "ok"
        if content.startswith("!"):
            result.commands.append((content.split()[0], outcome))
        say(f"  message {label}: {outcome}")

    try:
        await asyncio.wait_for(loop_done.wait(), timeout=iterations * 0.25 + 5)
    except TimeoutError:
        say("  the loop did not finish in time; stopping it")
    await bot.remove_cog("Weather")
    await bot.remove_cog("Status")
    with contextlib.suppress(Exception):
        await dpytest.empty_queue()
    # dpytest's fake gateway has no socket for ``close()`` to shut: close what can be closed.
    with contextlib.suppress(Exception):
        await bot.close()
    return result


class ExportFailures(logging.Handler):
    """Collects what the OpenTelemetry exporters log when a batch does not get through: a
    batch processor's flush succeeds whether or not the backend took the batch."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.messages.append(record.getMessage().splitlines()[0])


def _route_logs() -> ExportFailures:
    # The reporter already shows each failure; discord.py's own tracebacks would bury the demo.
    for name in ("discord", "otel_discord", "dpytest"):
        logger = logging.getLogger(name)
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
    failures = ExportFailures()
    for name in ("opentelemetry", "sentry_sdk"):
        logger = logging.getLogger(name)
        logger.addHandler(failures)
        logger.propagate = False
    # The package's own delivery paths warn when something did not go out.
    for name in ("otel_discord.pipeline", "otel_discord.sentry", "otel_discord.events"):
        logging.getLogger(name).addHandler(failures)
    return failures


def run_demo(
    *,
    otlp: str | None = None,
    protocol: str = "http/protobuf",
    sentry_dsn: str | None = None,
    console: bool = False,
    iterations: int = 4,
    out: str | None = None,
) -> int:
    """Run the demo end to end; returns the exit code (1 if an export did not go through, or
    a kill switch stopped every export)."""
    _import_dpytest()
    if out is None:
        # Nothing the user asked to keep: the consent record lives and dies with the run.
        with tempfile.TemporaryDirectory(prefix="otel-discord-demo-") as data_dir:
            return _run(otlp, protocol, sentry_dsn, console, iterations, data_dir, keep=False)
    return _run(otlp, protocol, sentry_dsn, console, iterations, out, keep=True)


def _exporters(otlp: str | None, sentry_dsn: str | None, console: bool, keep: bool) -> list[str]:
    """The flags' exporters, else those of ``OTEL_DISCORD_EXPORTERS``, else the console; the
    file exporter whenever the output is kept (``--out``)."""
    from otel_discord.config import load_config

    chosen: list[str] = []
    if os.environ.get("OTEL_DISCORD_EXPORTERS", "").strip() and not (otlp or sentry_dsn):
        # What the bot itself would use; a bad value fails here as it would in the bot.
        chosen = list(load_config().exporters)
        if "file" in chosen and not keep:
            raise CliError(
                "OTEL_DISCORD_EXPORTERS includes file, but the demo removes its data dir when "
                "it ends: pass --out DIR to keep the file"
            )
    if console or not (otlp or sentry_dsn or chosen):
        chosen.insert(0, "console")
    if keep:
        chosen.append("file")
    if otlp:
        chosen.append("otlp")
    if sentry_dsn:
        chosen.append("sentry")
    return list(dict.fromkeys(chosen))


def _run(
    otlp: str | None,
    protocol: str,
    sentry_dsn: str | None,
    console: bool,
    iterations: int,
    data_dir: str,
    *,
    keep: bool,
) -> int:
    from otel_discord.consent import kill_switch
    from otel_discord.testing import capture_events, capture_spans

    exporters = _exporters(otlp, sentry_dsn, console, keep)
    config: dict[str, Any] = {
        # enabled=True is the operator's opt-in: the demo's bot belongs to whoever runs it.
        "enabled": True,
        "command_spans": True,
        "schedule_delay": 0.2,
        "otlp_timeout": 5.0,
        # The demo's own data dir: it never touches a real bot's consent records.
        "data_dir": data_dir,
        "queue_max_bytes": 0,
        "exporters": exporters,
    }
    if otlp:
        config.update(otlp_endpoint=otlp, otlp_protocol=protocol)
    if sentry_dsn:
        config["sentry_dsn"] = sentry_dsn
    if keep:
        from otel_discord.config import load_config
        from otel_discord.exporters._registry import _file_path

        # The files hold this run only: the exporters append, and a kept dir is reused. Events
        # go beside the spans, in events/ instead of spans/, under the same file name.
        spans_file = _file_path(load_config(config, environ={}), REPORTER)
        for stale in (spans_file, spans_file.parent.parent / "events" / spans_file.name):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()

    failures = _route_logs()
    print(f"otel-discord demo: reporter {REPORTER!r}, exporting to {', '.join(exporters)}")
    telemetry = Telemetry(REPORTER, version="1.0.0", config=config, notify_owners=False)
    # The demo's owner also opts in to usage events (consent lives in the demo's data dir).
    telemetry.enable("usage")
    capture = capture_spans(telemetry)
    events = capture_events(telemetry)
    started = time.monotonic()

    def say(line: str) -> None:
        print(line, flush=True)

    try:
        result = asyncio.run(run_scenario(telemetry, iterations=iterations, say=say))
    finally:
        delivered = telemetry.shutdown(10.0)
    elapsed = time.monotonic() - started

    spans = capture.spans
    errors = [s for s in spans if s["status"]["code"] == "ERROR"]
    print()
    print(f"Summary ({elapsed:.1f} s)")
    print(f"  commands:   {', '.join(f'{c} {o}' for c, o in result.commands)}")
    print(
        f"  loops:      refresh_forecasts {result.loop_iterations} iterations, "
        f"{result.loop_failures} failed (the loop kept running); heartbeat {result.heartbeats}"
    )
    print(f"  spans:      {len(spans)} ({', '.join(sorted({s['name'] for s in spans}))})")
    failed_commands = [c for c, o in result.commands if o != "ok"]
    failed = len(failed_commands) + result.loop_failures
    switch = kill_switch()
    outcome = f"raised, none sent ({switch} is set)" if switch else "reported"
    print(
        f"  errors:     {failed} {outcome}: {', '.join(failed_commands)} and "
        f"{result.loop_failures} loop iteration; {len(errors)} spans with status ERROR"
    )
    print(f"  events:     {len(events.events)} ({', '.join(sorted(set(events.names())))})")
    if switch:
        print(f"  sent to:    nothing: {switch} is set, and the kill switch stops all export")
        print(
            f"otel-discord: error: {switch} is set: the kill switch stopped all export "
            "(unset it to see the demo's telemetry)",
            file=sys.stderr,
        )
        return 1
    for name in exporters:
        print(f"  sent to:    {_destination(name, telemetry)}")
    if not delivered or failures.messages:
        detail = f": {failures.messages[0][:160]}" if failures.messages else ""
        print(
            f"otel-discord: error: not everything was delivered (is the backend running?){detail}",
            file=sys.stderr,
        )
        return 1
    return 0


def _destination(name: str, telemetry: Telemetry) -> str:
    config = telemetry.config
    if name == "console":
        return "console (above)"
    if name == "otlp":
        from otel_discord.exporters._registry import otlp_traces_url

        return f"otlp {otlp_traces_url(config)} ({config.otlp_protocol})"
    if name == "sentry":
        return "sentry (errors as Sentry events)"
    if name == "file":
        from otel_discord.exporters._registry import _file_path

        return f"file {_file_path(config, telemetry.name)} (OTLP/JSON lines)"
    return name
