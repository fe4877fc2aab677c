"""``otel-discord check-config``: every problem of a config file, each with its key and line.

:func:`otel_discord.load_config` stops at the first bad value, which is right for a bot starting
up; a person editing the file wants the whole list. So each key is validated on its own through
the same parser ``load_config`` uses, then the rules that span keys on the keys that passed, and
keys outside the ``[otel_discord]`` table (which ``load_config`` ignores) are named too.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otel_discord import config as cfg
from otel_discord._cli import CliError


@dataclass(frozen=True)
class Problem:
    key: str
    line: int | None
    message: str

    def format(self, path: str) -> str:
        where = f"{path}:{self.line}" if self.line else path
        return f"{where}: {self.key}: {self.message}"


def _toml_error_line(exc: tomllib.TOMLDecodeError) -> int | None:
    found = re.search(r"line (\d+)", str(exc))
    return int(found.group(1)) if found else None


def check_file(path: Path) -> tuple[list[Problem], int]:
    """The problems of ``path`` and how many keys it sets. Raises :class:`CliError` when the
    file cannot be read at all."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CliError(f"{path}: is a directory, not a TOML file") from None
    except OSError as exc:
        raise CliError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise CliError(f"{path}: not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        return [Problem("(syntax)", _toml_error_line(exc), f"invalid TOML: {message}")], 0

    table: Any = data.get("otel_discord", data)
    if not isinstance(table, dict):
        return [Problem("otel_discord", cfg._line_of(text, "otel_discord"), "not a table")], 0

    problems: list[Problem] = []
    if table is not data:
        problems += _outside_the_table(text, data)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    known = [f.name for f in cfg.FIELDS]
    for key, raw in table.items():
        line = cfg._line_of(text, key)
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(Problem(key, line, f"unknown key{hint}"))
            continue
        try:
            # The very function load_config applies to each key: one parser, one set of rules.
            cfg._apply(key, raw, f"file {path}", values, sources)
        except cfg.TelemetryConfigError as exc:
            problems.append(Problem(key, line, f"bad value {exc.shown}; allowed: {exc.allowed}"))
            continue
        # The value as written, for the rules across keys below.
        values[key] = raw

    problems += _across_keys(text, values)
    return sorted(problems, key=lambda p: p.line or 0), len(table)


def _outside_the_table(text: str, data: dict[str, Any]) -> list[Problem]:
    """Keys before the ``[otel_discord]`` header: load_config reads only the table, so they are
    silently ignored. Other tables (another program's section of a shared file) are left alone."""
    first_header = cfg._TABLE_HEADER.search(text)
    top = text[: first_header.start()] if first_header is not None else text
    return [
        Problem(
            key,
            cfg._line_of(top, key),
            "outside [otel_discord], so it is ignored: move it into the table",
        )
        for key, value in data.items()
        if key != "otel_discord" and not isinstance(value, dict)
    ]


def _across_keys(text: str, valid: dict[str, Any]) -> list[Problem]:
    """Every failing rule that spans keys (exporter "sentry" needs a DSN, shard ids below the
    count). They live in load_config, which stops at the first: run it on the keys that are
    valid on their own, without the environment so only the file is judged, and after each
    failure again without the key it named, until it passes."""
    remaining = dict(valid)
    problems: list[Problem] = []
    for _ in range(len(valid) + 1):
        try:
            cfg.load_config(remaining, environ={})
        except cfg.TelemetryConfigError as exc:
            anchor = "exporters" if exc.key == "sentry_dsn" else exc.key
            if anchor not in remaining:
                break  # a rule this loop cannot step past; it has been reported once already
            allowed = exc.allowed.replace("from keyword argument", "from this file")
            problems.append(Problem(exc.key, cfg._line_of(text, anchor), f"needs {allowed}"))
            del remaining[anchor]
        else:
            break
    return problems
