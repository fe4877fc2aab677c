"""``otel-discord``: the bot owner's and cog author's command line.

It reads and writes the consent records the bot itself uses (``JsonConsentStore`` in the
configured data dir), so ``enable`` / ``disable`` take effect in a running bot within seconds.
Errors are one line on stderr; exit codes: 0 ok, 1 failure, 2 usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from otel_discord._cli import CliError
from otel_discord._version import __version__
from otel_discord.config import TelemetryConfig, TelemetryConfigError, load_config
from otel_discord.consent import (
    CATEGORIES,
    ConsentRecord,
    JsonConsentStore,
    active_kill_switches,
    kill_switch,
    new_install_id,
)
from otel_discord.scrubbing import Scrubber, default_rules

__all__ = ["build_parser", "main"]

PROG = "otel-discord"


# -- shared -----------------------------------------------------------------------------------


def _config(args: argparse.Namespace) -> TelemetryConfig:
    overrides = {"data_dir": args.data_dir} if getattr(args, "data_dir", None) else None
    return load_config(overrides, config_file=getattr(args, "config", None))


def _store(args: argparse.Namespace) -> tuple[TelemetryConfig, JsonConsentStore]:
    config = _config(args)
    return config, JsonConsentStore(config.resolved_data_dir())


def _reporter_name(name: str) -> str:
    """argparse ``type`` of a REPORTER argument: an empty name is wrong usage (exit 2)."""
    if not name.strip():
        raise argparse.ArgumentTypeError("the reporter name is empty")
    return name


def _iterations(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {raw!r}") from None
    if value < 3:
        raise argparse.ArgumentTypeError("at least 3 (the second one fails on purpose)")
    return value


def _read_record(store: JsonConsentStore, reporter: str) -> tuple[ConsentRecord | None, str]:
    """The stored record (None if there is none or it is unreadable) and a note on its state."""
    path = store.path(reporter)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, "no record yet: nothing is sent until the owner opts in"
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"unreadable ({exc}): telemetry stays off"
    try:
        return ConsentRecord.from_json(reporter, json.loads(raw)), ""
    except ValueError as exc:
        return None, f"corrupt ({exc}): telemetry stays off until the owner decides again"


def _on_off(value: bool) -> str:
    return "on" if value else "off"


def _categories(args: argparse.Namespace, default: tuple[str, ...]) -> tuple[str, ...]:
    chosen = tuple(c for c in CATEGORIES if getattr(args, c))
    return chosen or default


def _kill_note(out: TextIO) -> None:
    switch = kill_switch()
    if switch is not None:
        print(
            f"note: {switch} is set: nothing is sent while it is, whatever consent says", file=out
        )


# -- status -----------------------------------------------------------------------------------


def _reporters_in(store: JsonConsentStore) -> list[str]:
    if not store.directory.is_dir():
        return []
    names: list[str] = []
    for path in sorted(store.directory.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            name = data.get("reporter") if isinstance(data, dict) else None
        except (OSError, ValueError):
            name = None
        names.append(name if isinstance(name, str) and name else path.stem)
    return names


def _print_reporter(store: JsonConsentStore, reporter: str, config: TelemetryConfig) -> None:
    record, note = _read_record(store, reporter)
    print(f"reporter {reporter}")
    if record is None:
        print(f"  consent      {note}")
    else:
        decided = f" (decided {record.decided_at})" if record.decided_at else " (never decided)"
        for category in CATEGORIES:
            print(f"  {category:<12} {_on_off(record.allows(category))}{decided}")
        print(f"  install id   {record.install_id}")
    if config.enabled is not None:
        source = config.sources.get("enabled", "config")
        print(f"  override     enabled = {str(config.enabled).lower()} from {source}")
    print(f"  stored in    {store.path(reporter)}")


def cmd_status(args: argparse.Namespace) -> int:
    config, store = _store(args)
    reporters = [args.reporter] if args.reporter is not None else _reporters_in(store)
    if not reporters:
        print(f"no reporters yet (consent records live in {store.where()})")
    for reporter in reporters:
        _print_reporter(store, reporter, config)
    exporters = ", ".join(config.exporters) or "none"
    source = config.sources.get("exporters", "default")
    print(f"exporters      {exporters} (from {source})")
    if "otlp" in config.exporters:
        from otel_discord.exporters._registry import otlp_traces_url

        print(f"otlp           {otlp_traces_url(config)} ({config.otlp_protocol})")
    switches = active_kill_switches()
    setting = f"{' and '.join(switches)} {'is' if len(switches) == 1 else 'are'} set"
    print(f"kill switch    {setting + ': nothing is sent' if switches else 'none'}")
    print(f"data dir       {config.resolved_data_dir()}")
    return 0


# -- enable / disable / reset-id --------------------------------------------------------------


def _save(store: JsonConsentStore, updated: ConsentRecord, replaced: str) -> str:
    """Write ``updated``. ``replaced`` names the state of an unreadable record it takes the
    place of (empty when there was none); returns the one note to print about it."""
    path = store.path(updated.reporter)
    try:
        store.save(updated)
    except OSError as exc:
        raise CliError(f"cannot write {path} ({exc.strerror})") from None
    if not replaced:
        return ""
    # The store moves an unreadable record aside instead of overwriting it.
    kept = sorted(path.parent.glob(f"{path.stem}.corrupt-*"))
    where = f"; the old file is kept as {kept[-1]}" if kept else ""
    return f"note: the previous record was {replaced} and has been replaced{where}"


def _previous(store: JsonConsentStore, reporter: str) -> tuple[ConsentRecord, str]:
    """The record to start from, and a note when the stored one could not be read. A missing
    or unreadable record starts fresh, as ``store.load`` would, but without its log warning:
    the command says it once itself."""
    record, note = _read_record(store, reporter)
    if record is not None:
        return record, ""
    unreadable = store.path(reporter).exists()
    # "corrupt (...)" or "unreadable (...)": the kind is enough, status shows the detail.
    return ConsentRecord(reporter), note.split(" ", 1)[0] if unreadable else ""


def _decide(args: argparse.Namespace, enabled: bool, default: tuple[str, ...]) -> int:
    reporter: str = args.reporter
    store = _store(args)[1]
    base, replaced = _previous(store, reporter)
    updated = base.decided(enabled, _categories(args, default))
    note = _save(store, updated, replaced)
    states = ", ".join(f"{c} {_on_off(updated.allows(c))}" for c in CATEGORIES)
    print(f"{reporter}: {states} (saved to {store.path(reporter)})")
    if note:
        print(note)
    _kill_note(sys.stdout)
    return 0


def cmd_enable(args: argparse.Namespace) -> int:
    return _decide(args, True, ("errors",))


def cmd_disable(args: argparse.Namespace) -> int:
    return _decide(args, False, CATEGORIES)


def cmd_reset_id(args: argparse.Namespace) -> int:
    reporter: str = args.reporter
    store = _store(args)[1]
    base, replaced = _previous(store, reporter)
    updated = replace(base, install_id=new_install_id())
    note = _save(store, updated, replaced)
    print(f"{reporter}: new install id {updated.install_id} (used from the next bot start)")
    if note:
        print(note)
    return 0


# -- check-config -----------------------------------------------------------------------------


def cmd_check_config(args: argparse.Namespace) -> int:
    from otel_discord._cli._check import check_file

    problems, keys = check_file(Path(args.file))
    if not problems:
        print(f"{args.file}: OK ({keys} key{'s' if keys != 1 else ''})")
        return 0
    for problem in problems:
        print(problem.format(args.file))
    count = len(problems)
    print(f"{args.file}: {count} problem{'s' if count != 1 else ''}", file=sys.stderr)
    return 1


# -- scrub ------------------------------------------------------------------------------------


def cmd_scrub(args: argparse.Namespace) -> int:
    if args.file in (None, "-"):
        text = sys.stdin.read()
    else:
        try:
            text = Path(args.file).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            raise CliError(f"{args.file}: no such file") from None
        except OSError as exc:
            raise CliError(f"{args.file}: cannot read ({exc.strerror})") from None
    secret = os.urandom(32) if args.id_mode == "hash" else None
    scrubber = Scrubber(default_rules(id_mode=args.id_mode, id_secret=secret))
    counts: Counter[str] = Counter()
    # Line by line, as log lines travel; a single value is cut at the scrubber's size bound.
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        if args.key:
            scrubbed = scrubber.scrub_value(args.key, body, counts)
            out = scrubbed if isinstance(scrubbed, str) else str(scrubbed)
        else:
            out = scrubber.scrub_text(body, counts)
        sys.stdout.write(out + line[len(body) :])
    sys.stdout.flush()
    if counts:
        fired = ", ".join(f"{rule} x{n}" for rule, n in sorted(counts.items()))
        print(f"rules fired: {fired}", file=sys.stderr)
    else:
        print("rules fired: none", file=sys.stderr)
    return 0


# -- demo -------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from otel_discord._cli._demo import run_demo

    return run_demo(
        otlp=args.otlp,
        protocol=args.protocol,
        sentry_dsn=args.sentry_dsn,
        console=args.console,
        iterations=args.iterations,
        out=args.out,
    )


# -- parser -----------------------------------------------------------------------------------


def _add_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="data dir of the bot (default: $OTEL_DISCORD_DATA_DIR, else the platform's "
        "user data dir for otel-discord)",
    )
    parser.add_argument(
        "--config", metavar="FILE", help="the bot's otel-discord TOML config file, if any"
    )


def _add_categories(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--errors", action="store_true", help="category errors (error reports)")
    parser.add_argument("--usage", action="store_true", help="category usage (product events)")
    parser.epilog = f"Without a category flag: {default}."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Consent, configuration, scrubbing and an offline demo for otel-discord.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "status",
        help="consent, install id, exporters, kill switches and where state is stored",
        description="Show consent per category, install id, configured exporters, active "
        "kill switches and where the state is stored. Without REPORTER: every reporter "
        "with a record in the data dir.",
    )
    p.add_argument(
        "reporter", nargs="?", type=_reporter_name, metavar="REPORTER", help="reporter (cog) name"
    )
    _add_store_options(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "enable",
        help="opt in for a reporter",
        description="Record the owner's opt-in, in the same store the bot reads (a running "
        "bot sees it within seconds).",
    )
    p.add_argument("reporter", type=_reporter_name, metavar="REPORTER")
    _add_categories(p, "errors only")
    _add_store_options(p)
    p.set_defaults(func=cmd_enable)

    p = sub.add_parser(
        "disable",
        help="withdraw consent for a reporter",
        description="Withdraw consent; queued data of a running bot is dropped, not sent.",
    )
    p.add_argument("reporter", type=_reporter_name, metavar="REPORTER")
    _add_categories(p, "every category")
    _add_store_options(p)
    p.set_defaults(func=cmd_disable)

    p = sub.add_parser(
        "reset-id",
        help="give a reporter's install a new random id",
        description="Replace the install id (used from the next bot start), so later data "
        "cannot be linked to earlier data.",
    )
    p.add_argument("reporter", type=_reporter_name, metavar="REPORTER")
    _add_store_options(p)
    p.set_defaults(func=cmd_reset_id)

    p = sub.add_parser(
        "check-config",
        help="validate a config file; every problem with its key and line",
        description="Validate an otel-discord TOML file (top level or [otel_discord] table). "
        "Exit code 1 if anything is wrong.",
    )
    p.add_argument("file", metavar="FILE")
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser(
        "scrub",
        help="scrub text (stdin or a file) and say which rules fired",
        description="Print the text as the scrubber leaves it (stdout) and how often each "
        "rule fired (stderr). Nothing is sent anywhere.",
    )
    p.add_argument("file", nargs="?", metavar="FILE", help="a file; stdin when omitted or -")
    p.add_argument(
        "--key",
        metavar="NAME",
        help="scrub each line as the value of attribute NAME (key rules such as secret_key)",
    )
    p.add_argument(
        "--id-mode",
        choices=("last4", "hash"),
        default="last4",
        help="how Discord IDs are shortened (hash uses a random key here)",
    )
    p.set_defaults(func=cmd_scrub)

    p = sub.add_parser(
        "demo",
        help="run a real discord.py bot offline and export its telemetry",
        description="Run a real discord.py bot offline for a few seconds (no Discord token: "
        "simulated messages, a real tasks loop, a real cog, one failing command, one failing "
        "loop iteration) and export its spans: to the console by default, else to the exporters "
        "of --otlp / --sentry-dsn or of OTEL_DISCORD_EXPORTERS. A kill switch (DO_NOT_TRACK=1, "
        "OTEL_SDK_DISABLED=true) stops all export: exit code 1.",
    )
    p.add_argument("--otlp", metavar="URL", help="also export over OTLP to this endpoint")
    p.add_argument(
        "--protocol",
        choices=("http/protobuf", "grpc"),
        default="http/protobuf",
        help="OTLP protocol (default http/protobuf)",
    )
    p.add_argument("--sentry-dsn", metavar="DSN", help="also report errors to this Sentry DSN")
    p.add_argument(
        "--console",
        action="store_true",
        help="print spans to the console even with --otlp or --sentry-dsn",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="keep the demo's data dir in DIR, with its spans as OTLP/JSON lines in "
        "DIR/spans/otel-discord-demo.jsonl (replaced each run); without it, the demo leaves "
        "nothing behind",
    )
    p.add_argument(
        "--iterations",
        type=_iterations,
        default=4,
        metavar="N",
        help="background loop iterations to run (default 4, at least 3)",
    )
    p.set_defaults(func=cmd_demo)
    return parser


#: The option that sets each config key the command line passes on (as keyword arguments).
_FLAGS = {
    "config_file": "--config",
    "data_dir": "--data-dir",
    "otlp_endpoint": "--otlp",
    "otlp_protocol": "--protocol",
    "sentry_dsn": "--sentry-dsn",
}


def _named_by_flag(exc: TelemetryConfigError) -> str:
    """The error with its source named as the owner typed it: ``--otlp``, not "keyword
    argument" (how the command line hands its options to the config)."""
    flag = _FLAGS.get(exc.key)
    if flag is None or exc.source != "keyword argument":
        return str(exc)
    return str(TelemetryConfigError(exc.key, exc.value, f"option {flag}", exc.allowed))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except CliError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
    except TelemetryConfigError as exc:
        print(f"{PROG}: configuration error: {_named_by_flag(exc)}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and closed: not an error worth a message.
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), sys.stdout.fileno())
        return 1
    except Exception as exc:  # one line, never a traceback in front of the owner
        print(f"{PROG}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
    return 1
