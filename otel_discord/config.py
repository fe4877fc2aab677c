"""Configuration: keyword arguments > environment > TOML file > defaults.

Every key is declared once in :data:`FIELDS`, with its type, its environment variable and its
default; loading, validation and the documentation table all read that one list.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "EXPORTER_NAMES",
    "FIELDS",
    "ConfigField",
    "TelemetryConfig",
    "TelemetryConfigError",
    "fields_markdown",
    "load_config",
]

log = logging.getLogger("otel_discord.config")
_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning(message)


#: Exporter names accepted in ``exporters``.
EXPORTER_NAMES = ("console", "file", "otlp", "sentry")
_SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)


class TelemetryConfigError(ValueError):
    """A bad configuration value: names the key, the value, its source and what is allowed."""

    def __init__(self, key: str, value: object, source: str, allowed: str) -> None:
        self.key = key
        self.value = value
        self.source = source
        self.allowed = allowed
        #: The value as an error message may show it (credentials hidden, long values cut).
        self.shown = shown_value(key, value)
        super().__init__(f"{key}: bad value {self.shown} from {source}; allowed: {allowed}")


def shown_value(key: str, value: object) -> str:
    """``value`` as a message may show it: headers, DSNs and the values of unknown variables
    (a misspelt ``OTEL_DISCORD_SENTRY_DNS``) carry credentials, so only their length is shown;
    an error message lands in logs and tracebacks."""
    if value is not None and (key in _SECRET_KEYS or key.startswith("OTEL_DISCORD_")):
        return f"(hidden, {len(str(value))} characters)"
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."


#: Keys whose values hold credentials, never repeated in an error message.
_SECRET_KEYS = frozenset({"otlp_headers", "sentry_dsn"})
#: Samplers OpenTelemetry defines that this package does not build. From the environment they
#: are the host's setting for its own SDK, so they are ignored with a warning, not an error.
_FOREIGN_SAMPLERS = frozenset({"jaeger_remote", "parentbased_jaeger_remote", "xray"})


def _parse_bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
    raise ValueError


def _parse_opt_bool(raw: object) -> bool | None:
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None
    return _parse_bool(raw)


def _parse_str(raw: object) -> str:
    if isinstance(raw, str):
        return raw
    raise ValueError


def _parse_opt_str(raw: object) -> str | None:
    if raw is None:
        return None
    value = _parse_str(raw).strip()
    return value or None


def _parse_url(raw: object) -> str | None:
    value = _parse_opt_str(raw)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError
    try:
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        raise ValueError from None
    return value


def _parse_float(raw: object) -> float:
    if isinstance(raw, bool):
        raise ValueError
    if isinstance(raw, (int, float)):
        value = float(raw)
    elif isinstance(raw, str):
        value = float(raw.strip())
    else:
        raise ValueError
    if value != value or value < 0:  # NaN or negative
        raise ValueError
    return value


def _parse_int(raw: object) -> int:
    if isinstance(raw, bool):
        raise ValueError
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and re.fullmatch(r"\s*\d+\s*", raw):
        value = int(raw)
    else:
        raise ValueError
    if value < 0:
        raise ValueError
    return value


def _parse_ratio(raw: object) -> float:
    value = _parse_float(raw)
    if value > 1.0:
        raise ValueError
    return value


def _parse_exporters(raw: object) -> tuple[str, ...]:
    items: list[object]
    if isinstance(raw, str):
        items = [p for p in (s.strip() for s in raw.split(",")) if p]
    elif isinstance(raw, (list, tuple)):
        items = list(raw)
    else:
        raise ValueError
    names: list[str] = []
    for item in items:
        if not isinstance(item, str) or item.strip().lower() not in EXPORTER_NAMES:
            raise ValueError
        name = item.strip().lower()
        if name not in names:
            names.append(name)
    return tuple(names)


def _parse_headers(raw: object) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    if isinstance(raw, Mapping):
        for k, v in raw.items():
            if not isinstance(k, str) or not isinstance(v, str) or not k.strip():
                raise ValueError
            pairs.append((k.strip().lower(), v.strip()))
    elif isinstance(raw, str):
        # W3C baggage-like list, as in OTEL_EXPORTER_OTLP_HEADERS: k1=v1,k2=v2 (values url-encoded)
        from urllib.parse import unquote

        for part in raw.split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise ValueError
            k, v = part.split("=", 1)
            if not k.strip():
                raise ValueError
            pairs.append((unquote(k.strip()).lower(), unquote(v.strip())))
    else:
        raise ValueError
    return tuple(pairs)


def _parse_protocol(raw: object) -> str:
    value = _parse_str(raw).strip().lower()
    if value not in ("grpc", "http/protobuf"):
        raise ValueError
    return value


def _parse_sampler(raw: object) -> str:
    value = _parse_str(raw).strip().lower()
    if value not in _SAMPLERS:
        raise ValueError
    return value


def _parse_path(raw: object) -> Path | None:
    if raw is None:
        return None
    if isinstance(raw, Path):
        return raw
    value = _parse_opt_str(raw)
    return Path(value).expanduser() if value else None


def _parse_id_mode(raw: object) -> str:
    value = _parse_str(raw).strip().lower()
    if value not in ("last4", "hash"):
        raise ValueError
    return value


_DSN = re.compile(r"(?P<key>[A-Za-z0-9]+)(?::[A-Za-z0-9]+)?@[^/@]+(?:/[^?#]*)?/(?P<project>\d+)/?")


def _parse_dsn(raw: object) -> str | None:
    """A Sentry DSN: ``https://<public key>@<host>[/<path>]/<project id>``."""
    value = _parse_opt_str(raw)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ValueError
    if not _DSN.fullmatch(parts.netloc + parts.path):
        raise ValueError
    return value


def _parse_names(raw: object) -> tuple[str, ...]:
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, (list, tuple)):
        raise ValueError
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError
        name = item.strip()
        if not name:
            continue
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", name):
            raise ValueError
        names.append(name)
    return tuple(names)


def _parse_shard_ids(raw: object) -> tuple[int, ...]:
    """Shard id(s): one whole number, a list of them, or ``0,1,2`` (environment)."""
    items: list[object]
    if isinstance(raw, str):
        items = [p for p in (s.strip() for s in raw.split(",")) if p]
    elif isinstance(raw, (list, tuple)):
        items = list(raw)
    else:
        items = [raw]
    ids: list[int] = []
    for item in items:
        value = _parse_int(item)
        if value not in ids:
            ids.append(value)
    return tuple(sorted(ids))


def _parse_opt_int(raw: object) -> int | None:
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None
    return _parse_int(raw)


@dataclass(frozen=True)
class ConfigField:
    """One configuration key: its parser, environment variable(s), default and meaning."""

    name: str
    parse: Callable[[object], Any]
    allowed: str
    default: Any
    doc: str
    env: tuple[str, ...] = ()
    env_scale: float = 1.0  # OTEL_*_TIMEOUT variables are in milliseconds


#: Every configuration key, in documentation order.
FIELDS: tuple[ConfigField, ...] = (
    ConfigField(
        "enabled",
        _parse_opt_bool,
        "true or false (unset: ask the consent store)",
        None,
        "The operator's opt-in. `true` enables without a consent record (a bot developer "
        "instrumenting their own bot); `false` disables whatever the consent store says.",
        ("OTEL_DISCORD_ENABLED",),
    ),
    ConfigField(
        "exporters",
        _parse_exporters,
        "a list drawn from " + ", ".join(EXPORTER_NAMES),
        ("file",),
        "Where spans go; several at once. `file` writes OTLP/JSON lines in the data dir.",
        ("OTEL_DISCORD_EXPORTERS",),
    ),
    ConfigField(
        "service_name",
        _parse_opt_str,
        "a non-empty string",
        None,
        "Overrides `service.name` (default: the reporter's name). The consent namespace stays "
        "the reporter's name.",
        ("OTEL_SERVICE_NAME",),
    ),
    ConfigField(
        "shard_id",
        _parse_shard_ids,
        "a whole number >= 0, a list of them, or 0,1,2",
        (),
        "Shard id(s) this process runs, sent as resource attribute `discord.shard.id` (default: "
        "what the discord.py client reports once it knows).",
        ("OTEL_DISCORD_SHARD_IDS",),
    ),
    ConfigField(
        "shard_count",
        _parse_opt_int,
        "a whole number >= 1",
        None,
        "Total shards of the bot, sent as `discord.shard.count` (default: the client's).",
        ("OTEL_DISCORD_SHARD_COUNT",),
    ),
    ConfigField(
        "cluster",
        _parse_opt_str,
        "a non-empty string",
        None,
        "Name of the cluster (group of shards, usually one host or process) sent as "
        "`discord.cluster`, so traces from many processes are told apart.",
        ("OTEL_DISCORD_CLUSTER",),
    ),
    ConfigField(
        "data_dir",
        _parse_path,
        "a directory path",
        None,
        "Where consent records and the file exporter live (default: the platform's user data "
        "dir for `otel-discord`).",
        ("OTEL_DISCORD_DATA_DIR",),
    ),
    ConfigField(
        "otlp_endpoint",
        _parse_url,
        "an http:// or https:// URL",
        None,
        "OTLP collector endpoint. For `http/protobuf` a base URL gets `/v1/traces` appended "
        "(default `http://localhost:4318`, or `http://localhost:4317` for gRPC).",
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
    ),
    ConfigField(
        "otlp_protocol",
        _parse_protocol,
        "grpc or http/protobuf",
        "http/protobuf",
        "OTLP transport.",
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"),
    ),
    ConfigField(
        "otlp_headers",
        _parse_headers,
        "a table of strings, or k1=v1,k2=v2",
        (),
        "Headers sent with every OTLP request (e.g. an API key).",
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"),
    ),
    ConfigField(
        "otlp_timeout",
        _parse_float,
        "seconds, a number >= 0",
        10.0,
        "Timeout of one OTLP export, retries included (the variables are in milliseconds).",
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"),
        env_scale=0.001,
    ),
    ConfigField(
        "sampler",
        _parse_sampler,
        ", ".join(_SAMPLERS),
        "parentbased_always_on",
        "Trace sampler, as OpenTelemetry's `OTEL_TRACES_SAMPLER`.",
        ("OTEL_TRACES_SAMPLER",),
    ),
    ConfigField(
        "sampler_arg",
        _parse_ratio,
        "a ratio from 0 to 1",
        1.0,
        "Ratio for the `traceidratio` samplers.",
        ("OTEL_TRACES_SAMPLER_ARG",),
    ),
    ConfigField(
        "loop_sample_rate",
        _parse_ratio,
        "a ratio from 0 to 1",
        1.0,
        "Share of background-loop iterations exported as spans. An iteration that fails is "
        "always exported.",
        ("OTEL_DISCORD_LOOP_SAMPLE_RATE",),
    ),
    ConfigField(
        "command_spans",
        _parse_bool,
        "true or false",
        False,
        "Emit a span (duration only, never arguments) for each invocation of an instrumented "
        "cog's prefix, hybrid or slash command. Off: no data about command usage.",
        ("OTEL_DISCORD_COMMAND_SPANS",),
    ),
    ConfigField(
        "command_sample_rate",
        _parse_ratio,
        "a ratio from 0 to 1",
        1.0,
        "Share of command spans exported when `command_spans` is on.",
        ("OTEL_DISCORD_COMMAND_SAMPLE_RATE",),
    ),
    ConfigField(
        "error_limit",
        _parse_int,
        "a whole number >= 1",
        10,
        "Identical errors (same type and place) reported per `error_window`; the next report "
        "says how many were suppressed.",
        ("OTEL_DISCORD_ERROR_LIMIT",),
    ),
    ConfigField(
        "error_window",
        _parse_float,
        "seconds, a number > 0",
        60.0,
        "Window of `error_limit`.",
        ("OTEL_DISCORD_ERROR_WINDOW",),
    ),
    ConfigField(
        "breadcrumbs",
        _parse_int,
        "a whole number >= 0",
        20,
        "Log records of the reporter's own loggers attached to an error report.",
        ("OTEL_DISCORD_BREADCRUMBS",),
    ),
    ConfigField(
        "max_queue_size",
        _parse_int,
        "a whole number >= 1",
        2048,
        "Spans held per exporter before the oldest are dropped (memory bound).",
        ("OTEL_DISCORD_MAX_QUEUE_SIZE",),
    ),
    ConfigField(
        "schedule_delay",
        _parse_float,
        "seconds, a number >= 0",
        5.0,
        "How long spans wait in the queue before a batch is sent.",
        ("OTEL_DISCORD_SCHEDULE_DELAY",),
    ),
    ConfigField(
        "file_max_bytes",
        _parse_int,
        "a whole number of bytes >= 65536",
        5_000_000,
        "Size at which the span file rotates (one previous file is kept). A batch too big for "
        "it is split over several lines; a single span bigger than it is dropped.",
        ("OTEL_DISCORD_FILE_MAX_BYTES",),
    ),
    ConfigField(
        "queue_max_bytes",
        _parse_int,
        "a whole number of bytes (0 turns the disk queue off)",
        10_000_000,
        "Bound of the on-disk queue that keeps error reports and events while the OTLP backend "
        "is down; past it the oldest batches are dropped and counted.",
        ("OTEL_DISCORD_QUEUE_MAX_BYTES",),
    ),
    ConfigField(
        "queue_max_age",
        _parse_float,
        "seconds, a number > 0",
        7 * 86_400.0,
        "Queued batches older than this are dropped (and counted) instead of sent.",
        ("OTEL_DISCORD_QUEUE_MAX_AGE",),
    ),
    ConfigField(
        "queue_retry_interval",
        _parse_float,
        "seconds, a number > 0",
        30.0,
        "How often a non-empty disk queue tries the backend again.",
        ("OTEL_DISCORD_QUEUE_RETRY_INTERVAL",),
    ),
    ConfigField(
        "id_mode",
        _parse_id_mode,
        "last4 or hash",
        "last4",
        "How Discord IDs are shortened: `last4` = last four digits of `id >> 22`; `hash` = a "
        "keyed hash with a per-install secret that is never exported.",
        ("OTEL_DISCORD_ID_MODE",),
    ),
    ConfigField(
        "sentry_dsn",
        _parse_dsn,
        "a Sentry DSN: https://PUBLIC_KEY@HOST/PROJECT_ID",
        None,
        "DSN of the `sentry` exporter. Read only from here or `OTEL_DISCORD_SENTRY_DSN`, never "
        "from `SENTRY_DSN` (that one belongs to the host bot).",
        ("OTEL_DISCORD_SENTRY_DSN",),
    ),
    ConfigField(
        "sentry_environment",
        _parse_opt_str,
        "a non-empty string",
        "production",
        "Sentry `environment` of error reports and sessions.",
        ("OTEL_DISCORD_SENTRY_ENVIRONMENT",),
    ),
    ConfigField(
        "sentry_release",
        _parse_opt_str,
        "a non-empty string",
        None,
        "Sentry `release` (default `<reporter name>@<version>`).",
        ("OTEL_DISCORD_SENTRY_RELEASE",),
    ),
    ConfigField(
        "sentry_traces",
        _parse_bool,
        "true or false",
        True,
        "Also send spans to the DSN's OTLP traces endpoint (turn off for servers without one, "
        "such as bugsink or GlitchTip).",
        ("OTEL_DISCORD_SENTRY_TRACES",),
    ),
    ConfigField(
        "sentry_in_app",
        _parse_names,
        "a list of Python package names, or a,b,c",
        (),
        "Packages whose frames are marked in-app in Sentry, besides the reporter's name.",
        ("OTEL_DISCORD_SENTRY_IN_APP",),
    ),
)


def _shown_default(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ", ".join(f"`{v}`" for v in value) if value else "empty"
    return f"`{value}`"


def fields_markdown() -> str:
    """The Markdown table of every key (``docs/configuration.md`` embeds it; a test checks)."""
    rows = [
        "| Key | Environment variable(s) | Default | Allowed | Meaning |",
        "|---|---|---|---|---|",
    ]
    for spec in FIELDS:
        env = "<br>".join(f"`{v}`" for v in spec.env) or "-"
        cells = (f"`{spec.name}`", env, _shown_default(spec.default), spec.allowed, spec.doc)
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows) + "\n"


_BY_NAME = {f.name: f for f in FIELDS}
_ENV_VARS = frozenset(v for f in FIELDS for v in f.env if v.startswith("OTEL_DISCORD_"))
_EXTRA_CHECKS: dict[str, Callable[[Any], bool]] = {
    "max_queue_size": lambda v: v >= 1,
    "error_limit": lambda v: v >= 1,
    "error_window": lambda v: v > 0,
    "file_max_bytes": lambda v: v >= 65536,
    "service_name": lambda v: v is None or bool(v),
    "shard_count": lambda v: v is None or v >= 1,
    "shard_id": lambda v: len(v) <= 1024,
    "queue_max_age": lambda v: v > 0,
    "queue_retry_interval": lambda v: v > 0,
    "sentry_environment": lambda v: v is not None,
}


@dataclass(frozen=True)
class TelemetryConfig:
    """Resolved configuration of one reporter. Build it with :func:`load_config`."""

    enabled: bool | None = None
    exporters: tuple[str, ...] = ("file",)
    service_name: str | None = None
    shard_id: tuple[int, ...] = ()
    shard_count: int | None = None
    cluster: str | None = None
    data_dir: Path | None = None
    otlp_endpoint: str | None = None
    otlp_protocol: str = "http/protobuf"
    otlp_headers: tuple[tuple[str, str], ...] = ()
    otlp_timeout: float = 10.0
    sampler: str = "parentbased_always_on"
    sampler_arg: float = 1.0
    loop_sample_rate: float = 1.0
    command_spans: bool = False
    command_sample_rate: float = 1.0
    error_limit: int = 10
    error_window: float = 60.0
    breadcrumbs: int = 20
    max_queue_size: int = 2048
    schedule_delay: float = 5.0
    file_max_bytes: int = 5_000_000
    id_mode: str = "last4"
    queue_max_bytes: int = 10_000_000
    queue_max_age: float = 7 * 86_400.0
    queue_retry_interval: float = 30.0
    sentry_dsn: str | None = None
    sentry_environment: str = "production"
    sentry_release: str | None = None
    sentry_traces: bool = True
    sentry_in_app: tuple[str, ...] = ()
    #: Where each value came from (key -> "keyword argument", "environment variable X", ...).
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def resolved_data_dir(self) -> Path:
        """The data dir: configured, or the platform's user data dir."""
        if self.data_dir is not None:
            return self.data_dir
        import platformdirs

        return Path(platformdirs.user_data_dir("otel-discord", appauthor=False))


_TABLE_HEADER = re.compile(r"^[ \t]*\[", re.MULTILINE)


_OUR_TABLE = re.compile(r"^[ \t]*\[[ \t]*[\"']?otel_discord[\"']?[ \t]*\]", re.MULTILINE)


def _line_of(text: str, key: str) -> int | None:
    """The line of ``key = ...`` where it is read: in ``[otel_discord]`` when the file has that
    table, else at the top level (before any table header)."""
    header = _OUR_TABLE.search(text)
    start = header.end() if header is not None else 0
    following = _TABLE_HEADER.search(text, start)
    end = following.start() if following is not None else len(text)
    # [ \t]*, not \s*: \s would run across blank lines and report the line before them.
    pattern = re.compile(rf"^[ \t]*[\"']?{re.escape(key)}[\"']?[ \t]*=", re.MULTILINE)
    match = pattern.search(text, start, end)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _read_toml(path: Path) -> tuple[dict[str, Any], str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TelemetryConfigError(
            "config_file", str(path), "keyword argument", f"a readable TOML file ({exc.strerror})"
        ) from None
    except UnicodeDecodeError:
        raise TelemetryConfigError(
            "config_file", str(path), "keyword argument", "a UTF-8 TOML file"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11: TOMLDecodeError has no lineno; its message ends "(at line N, ...)".
        found = re.search(r"at line (\d+)", str(exc))
        where = f"file {path}" + (f", line {found.group(1)}" if found else "")
        raise TelemetryConfigError("config_file", str(path), where, f"valid TOML ({exc})") from None
    # Allow the settings either at the top level or under [otel_discord].
    table = data.get("otel_discord", data)
    if not isinstance(table, dict):
        raise TelemetryConfigError("otel_discord", table, f"file {path}", "a TOML table")
    return table, text


def _apply(
    key: str, raw: object, source: str, values: dict[str, Any], sources: dict[str, str]
) -> None:
    spec = _BY_NAME.get(key)
    if spec is None:
        raise TelemetryConfigError(key, raw, source, "one of the keys: " + ", ".join(_BY_NAME))
    try:
        value = spec.parse(raw)
        check = _EXTRA_CHECKS.get(key)
        if check is not None and not check(value):
            raise ValueError
    except (ValueError, TypeError):
        raise TelemetryConfigError(key, raw, source, spec.allowed) from None
    values[key] = value
    sources[key] = source


def load_config(
    config: Mapping[str, Any] | TelemetryConfig | None = None,
    *,
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> TelemetryConfig:
    """Resolve configuration: ``config`` (keyword) > environment > ``config_file`` > defaults.

    Raises :class:`TelemetryConfigError` naming the key, bad value, source and what is allowed.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}

    if config_file is not None:
        path = Path(config_file)
        table, text = _read_toml(path)
        for key, raw in table.items():
            line = _line_of(text, key)
            where = f"file {path}" + (f", line {line}" if line else "")
            _apply(key, raw, where, values, sources)

    for var in env:
        if var.startswith("OTEL_DISCORD_") and var not in _ENV_VARS:
            # A typo must not pass in silence, nor stop every cog of the bot from loading (nor
            # the owner's own `otel-discord disable`): one warning, naming the variable only.
            close = difflib.get_close_matches(var, _ENV_VARS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            _warn_once(f"otel_discord: unknown variable {var} ignored{hint}")
    for spec in FIELDS:
        for var in spec.env:
            raw = env.get(var)
            if raw is None or raw.strip() == "":
                continue
            source = f"environment variable {var}"
            if spec.name == "sampler" and raw.strip().lower() in _FOREIGN_SAMPLERS:
                _warn_once(f"otel_discord: {var}={raw.strip()} is not built here; ignored")
                break
            if spec.env_scale != 1.0:
                try:
                    raw_value: object = float(raw) * spec.env_scale
                except ValueError:
                    raw_value = raw
            else:
                raw_value = raw
            try:
                _apply(spec.name, raw_value, source, values, sources)
            except TelemetryConfigError as exc:
                # Name the value as written (milliseconds), not as scaled.
                allowed = exc.allowed
                if spec.env_scale != 1.0:
                    allowed += f" (this variable: milliseconds, x{spec.env_scale:g} = seconds)"
                raise TelemetryConfigError(spec.name, raw, source, allowed) from None
            break

    if isinstance(config, TelemetryConfig):
        overrides = {
            f.name: getattr(config, f.name)
            for f in dataclasses.fields(config)
            if f.name != "sources" and getattr(config, f.name) != f.default
        }
    else:
        overrides = dict(config or {})
    for key, raw in overrides.items():
        _apply(key, raw, "keyword argument", values, sources)

    # The standard OTLP variables belong together: when the endpoint was set in code or in the file,
    # headers from the environment (the host bot's credentials for its own collector) must not
    # travel to it.
    endpoint_src = sources.get("otlp_endpoint", "")
    headers_src = sources.get("otlp_headers", "")
    if (
        endpoint_src
        and not endpoint_src.startswith("environment")
        and headers_src.startswith("environment variable OTEL_EXPORTER_OTLP")
    ):
        del values["otlp_headers"]
        del sources["otlp_headers"]

    count = values.get("shard_count")
    if count is not None and any(i >= count for i in values.get("shard_id", ())):
        raise TelemetryConfigError(
            "shard_id",
            values["shard_id"],
            sources["shard_id"],
            f"ids below shard_count ({count}, from {sources['shard_count']})",
        )

    if "sentry" in values.get("exporters", ()) and not values.get("sentry_dsn"):
        raise TelemetryConfigError(
            "sentry_dsn",
            None,
            "nowhere (exporters from " + sources["exporters"] + ")",
            "a Sentry DSN when exporters include sentry: set sentry_dsn or OTEL_DISCORD_SENTRY_DSN",
        )

    return TelemetryConfig(**values, sources=sources)
