"""Product events: a deliberately narrow API, exported as OpenTelemetry log records.

Each reporter owns one :class:`~opentelemetry.sdk._logs.LoggerProvider` (never the global one).
Records pass a consent gate per category (``usage`` for :meth:`EventRecorder.record`, ``errors``
for the start-up and "still running" events), then the scrubber, then one batch processor per
exporter, built lazily like the span exporters.
"""

from __future__ import annotations

import copy
import logging
import math
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs import (
    LoggerProvider,
    LogRecordProcessor,
    ReadableLogRecord,
    ReadWriteLogRecord,
)
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import INVALID_SPAN, Span

from otel_discord._attributes import (
    EVENT_ACTION,
    EVENT_CATEGORY,
    EVENT_FEATURE,
    EVENT_METADATA_PREFIX,
    EVENT_PRIVATE_PREFIX,
    SCRUBBED,
    STARTED_COGS,
    STARTED_UPTIME,
    VERSION_DISCORD_PY,
    VERSION_OTEL_DISCORD,
    VERSION_PYTHON,
    VERSION_RED,
    VERSION_REPORTER,
)
from otel_discord._pipeline import (
    RateLimitedLog,
    flush_within,
    scrub_resource,
    shutdown_within,
)
from otel_discord._resource import package_version
from otel_discord._version import __version__
from otel_discord.scrubbing import Scrubber, cut_text

__all__ = [
    "EventError",
    "EventRecorder",
    "LogExporterFactory",
    "validate_event",
]

log = logging.getLogger("otel_discord.events")

LogExporterFactory = Callable[[], LogRecordExporter]
CategoryGate = Callable[[str], bool]

#: Lowercase words (letters, digits, ``_``) joined by dots; a letter first.
_NAME = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*")
MAX_NAME_CHARS = 64
MAX_METADATA_KEYS = 32
#: A private value is exported with at most this many characters, cut after scrubbing.
MAX_PRIVATE_CHARS = 1024
#: What a private value may hold while it waits for the export thread to scrub it.
_HELD_PRIVATE_CHARS = 4 * MAX_PRIVATE_CHARS

#: Event names used by the package itself (feature ``otel_discord``).
STARTED = "otel_discord.started"
STILL_RUNNING = "otel_discord.still_running"


class EventError(ValueError):
    """A bad ``record()`` call: says which argument is wrong, what it was and what is allowed."""


def _check_name(what: str, value: object) -> str:
    if not isinstance(value, str):
        raise EventError(
            f"{what} must be a str such as 'backup.restore', not {type(value).__name__}"
        )
    if len(value) > MAX_NAME_CHARS or not _NAME.fullmatch(value):
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise EventError(
            f"{what} {shown!r} is not a short lowercase dotted identifier "
            f"(letters, digits and _ in dot-separated words, a letter first, "
            f"at most {MAX_NAME_CHARS} characters), e.g. 'backup.restore'"
        )
    return value


def _check_metadata(metadata: Mapping[str, object] | None) -> dict[str, int | float | bool]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise EventError(f"metadata must be a dict of numbers and booleans, not {type(metadata)}")
    if len(metadata) > MAX_METADATA_KEYS:
        raise EventError(f"metadata has {len(metadata)} keys; at most {MAX_METADATA_KEYS}")
    out: dict[str, int | float | bool] = {}
    for key, value in metadata.items():
        _check_name("metadata key", key)
        if isinstance(value, bool):
            out[key] = value
        elif isinstance(value, int):
            if not -(2**63) <= value < 2**63:
                raise EventError(f"metadata[{key!r}] does not fit in 64 bits: {value}")
            out[key] = value
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise EventError(f"metadata[{key!r}] must be a finite number, not {value!r}")
            out[key] = value
        else:
            kind = type(value).__name__
            raise EventError(
                f"metadata[{key!r}] is a {kind}; metadata holds numbers and booleans only "
                f"(free text belongs in private_metadata under an allowlisted key)"
            )
    return out


def _attribute_value(value: object) -> str | int | float | bool:
    if isinstance(value, bool | int | float | str):
        text_or_value: str | int | float | bool = value
    else:
        text_or_value = repr(value)
    if isinstance(text_or_value, str):
        # Only bounds what waits in memory (4x what is exported: markers are shorter than what
        # they replace); the export length is set after scrubbing (see ``scrub_log_record``).
        # The cut drops a partial last word: a hard cut would leave half a secret the rules miss.
        text_or_value = cut_text(text_or_value, _HELD_PRIVATE_CHARS)
    return text_or_value


def _check_private(
    private_metadata: Mapping[str, object] | None, allowlist: frozenset[str]
) -> dict[str, str | int | float | bool]:
    if private_metadata is None:
        return {}
    if not isinstance(private_metadata, Mapping):
        raise EventError(f"private_metadata must be a dict, not {type(private_metadata)}")
    out: dict[str, str | int | float | bool] = {}
    for key, value in private_metadata.items():
        if not isinstance(key, str):
            raise EventError(f"private_metadata keys must be str, not {type(key).__name__}")
        # Keys outside the reporter's allowlist are dropped here, before anything is built.
        if key in allowlist:
            out[key] = _attribute_value(value)
    return out


def validate_event(
    feature: object,
    action: object,
    metadata: Mapping[str, object] | None = None,
    private_metadata: Mapping[str, object] | None = None,
    allowlist: Iterable[str] = (),
) -> dict[str, Any]:
    """Check one ``record()`` call and return its attributes; raise :class:`EventError`."""
    attributes: dict[str, Any] = {
        EVENT_FEATURE: _check_name("feature", feature),
        EVENT_ACTION: _check_name("action", action),
        EVENT_CATEGORY: "usage",
    }
    for key, number in _check_metadata(metadata).items():
        attributes[EVENT_METADATA_PREFIX + key] = number
    for key, value in _check_private(private_metadata, frozenset(allowlist)).items():
        attributes[EVENT_PRIVATE_PREFIX + key] = value
    return attributes


def check_allowlist(names: Iterable[str]) -> frozenset[str]:
    """The reporter's private-metadata allowlist, each key a lowercase dotted identifier."""
    if isinstance(names, str):
        raise EventError("the private metadata allowlist is a collection of keys, not one str")
    return frozenset(_check_name("allowlisted private_metadata key", n) for n in names)


def _version_of(dist: str) -> str:
    return package_version(dist) or "none"


def running_red_version() -> str | None:
    """Red-DiscordBot's version when this process runs on Red (its package is imported), else
    None: not wherever Red happens to be installed."""
    return _version_of("Red-DiscordBot") if "redbot" in sys.modules else None


def scrub_log_record(
    record: ReadableLogRecord, scrubber: Scrubber, resource: Resource | None = None
) -> ReadableLogRecord:
    """A copy of ``record`` with body, event name and attributes scrubbed; private values cut
    to :data:`MAX_PRIVATE_CHARS` after scrubbing (the rules saw every secret whole). Its
    resource is ``resource`` (the scrubbed one), or else the record's own scrubbed."""
    inner = copy.copy(record.log_record)
    counts: Counter[str] = Counter()
    attributes = scrubber.scrub_attributes(inner.attributes, counts)
    for key, value in attributes.items():
        if key.startswith(EVENT_PRIVATE_PREFIX) and isinstance(value, str):
            attributes[key] = cut_text(value, MAX_PRIVATE_CHARS)
    if isinstance(inner.body, str):
        inner.body = scrubber.scrub_text(inner.body, counts)
    if inner.event_name:
        inner.event_name = scrubber.scrub_text(inner.event_name, counts)
    if counts:
        attributes[SCRUBBED] = tuple(f"{k}:{v}" for k, v in sorted(counts.items()))
    inner.attributes = attributes
    return ReadableLogRecord(
        log_record=inner,
        resource=resource or scrub_resource(record.resource, scrubber),
        instrumentation_scope=record.instrumentation_scope,
        limits=record.limits,
    )


class GatedLogExporter(LogRecordExporter):
    """Re-checks each record's consent category at export time (a disable drops queued events)
    and scrubs what passes. Both run in the export thread, never on the bot's event loop; a
    record that cannot be scrubbed is dropped (fail closed)."""

    def __init__(
        self,
        inner: LogRecordExporter,
        gate: CategoryGate,
        scrubber: Scrubber,
        warnings: RateLimitedLog | None = None,
    ) -> None:
        self.inner = inner
        self.gate = gate
        self.scrubber = scrubber
        self.warnings = warnings or RateLimitedLog(log)
        #: The last raw resource seen and its scrubbed copy: the resource, like a span's, is
        #: scrubbed once (it changes only when the shards become known).
        self._resources: tuple[Resource, Resource] | None = None

    def _scrubbed_resource(self, raw: Resource) -> Resource:
        cached = self._resources
        if cached is not None and cached[0] is raw:
            return cached[1]
        scrubbed = scrub_resource(raw, self.scrubber)
        self._resources = (raw, scrubbed)
        return scrubbed

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        allowed: list[ReadableLogRecord] = []
        for record in batch:
            try:
                if self.gate(_category(record)):
                    resource = self._scrubbed_resource(record.resource)
                    allowed.append(scrub_log_record(record, self.scrubber, resource))
            except Exception as exc:
                self.warnings.warning(
                    "scrub",
                    "otel_discord: dropped an event that could not be scrubbed (%s)",
                    type(exc).__name__,
                )
        if not allowed:
            return LogRecordExportResult.SUCCESS
        try:
            return self.inner.export(allowed)
        except Exception:
            log.warning("otel_discord: log exporter %s failed", type(self.inner).__name__)
            return LogRecordExportResult.FAILURE

    def shutdown(self) -> None:
        self.inner.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def _category(record: ReadableLogRecord | ReadWriteLogRecord) -> str:
    value = (record.log_record.attributes or {}).get(EVENT_CATEGORY)
    return value if isinstance(value, str) else "usage"


class ConsentScrubLogProcessor(LogRecordProcessor):
    """Drops records without consent for their category and queues the rest for one batch
    processor per exporter; each exporter scrubs in its own thread (:class:`GatedLogExporter`)."""

    def __init__(
        self,
        gate: CategoryGate,
        scrubber: Scrubber,
        factories: Sequence[tuple[str, LogExporterFactory]],
        *,
        max_queue_size: int = 2048,
        schedule_delay: float = 5.0,
        export_timeout: float = 10.0,
    ) -> None:
        self.gate = gate
        self.scrubber = scrubber
        self._factories = list(factories)
        self._extra: list[LogRecordProcessor] = []
        self._processors: list[LogRecordProcessor] | None = None
        self._lock = threading.Lock()
        self._shutdown = False
        self.max_queue_size = max_queue_size
        self.schedule_delay = schedule_delay
        self.export_timeout = export_timeout
        self.warnings = RateLimitedLog(log)

    def add_exporter(self, exporter: LogRecordExporter) -> None:
        """Export synchronously to ``exporter`` too, after the gate and the scrubber (for
        capturing events in tests)."""
        gated = GatedLogExporter(exporter, self.gate, self.scrubber, self.warnings)
        self._extra.append(SimpleLogRecordProcessor(gated))

    def _build(self) -> list[LogRecordProcessor]:
        with self._lock:
            if self._processors is not None:
                return self._processors
            built: list[LogRecordProcessor] = []
            for name, factory in self._factories:
                try:
                    exporter = GatedLogExporter(factory(), self.gate, self.scrubber, self.warnings)
                except Exception as exc:
                    log.warning("otel_discord: cannot start the %s event exporter: %s", name, exc)
                    continue
                built.append(
                    BatchLogRecordProcessor(
                        exporter,
                        schedule_delay_millis=max(1.0, self.schedule_delay * 1000),
                        max_export_batch_size=min(512, self.max_queue_size),
                        export_timeout_millis=self.export_timeout * 1000,
                        max_queue_size=self.max_queue_size,
                    )
                )
            self._processors = built
            return built

    @property
    def started(self) -> bool:
        return self._processors is not None

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        if self._shutdown:
            return
        try:
            if not self.gate(_category(log_record)):
                return
        except Exception:
            return
        processors = self._processors if self._processors is not None else self._build()
        for processor in (*processors, *self._extra):
            try:
                processor.on_emit(log_record)
            except Exception:
                self.warnings.warning("export", "otel_discord: an event processor failed")

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        processors = [*(self._processors or ()), *self._extra]
        return flush_within(processors, timeout_millis, "event-flush")

    def shutdown_bounded(self, timeout: float) -> bool:
        self._shutdown = True
        processors = [*(self._processors or ()), *self._extra]
        return shutdown_within(processors, timeout, "event-shutdown")

    def shutdown(self) -> None:
        self.shutdown_bounded(self.export_timeout)


#: (reporter name, data dir) pairs that sent their start-up event in this process.
_STARTED_RUNS: set[tuple[str, str]] = set()
_STARTED_LOCK = threading.Lock()


class EventRecorder:
    """The events half of one reporter: its own ``LoggerProvider`` and the event rules."""

    #: Seconds between "still running" events (one a day).
    still_running_interval = 86_400.0

    def __init__(
        self,
        *,
        reporter: str,
        run_key: str,
        version: str | None,
        resource: Resource,
        gate: CategoryGate,
        scrubber: Scrubber,
        factories: Sequence[tuple[str, LogExporterFactory]],
        allowlist: Iterable[str] = (),
        current_span: Callable[[], Span | None] = lambda: None,
        max_queue_size: int = 2048,
        schedule_delay: float = 5.0,
        export_timeout: float = 10.0,
    ) -> None:
        self.reporter = reporter
        self.version = version
        self.allowlist = check_allowlist(allowlist)
        self.gate = gate
        self._run_key = (reporter, run_key)
        self._current_span = current_span
        self.processor = ConsentScrubLogProcessor(
            gate,
            scrubber,
            factories,
            max_queue_size=max_queue_size,
            schedule_delay=schedule_delay,
            export_timeout=export_timeout,
        )
        self._provider: LoggerProvider | None = None
        self._provider_lock = threading.Lock()
        self._started_at = time.monotonic()
        self._cogs: int | None = None
        self._timer: threading.Timer | None = None
        self._closed = False
        self._resource = resource
        # Read package metadata now (construction, once per process), not in started().
        _version_of("discord.py")
        _version_of("Red-DiscordBot")

    def _logger(self) -> Any:
        # Built on the first consented event: a bot that never opts in gets no provider at all.
        with self._provider_lock:
            if self._provider is None:
                self._provider = LoggerProvider(resource=self._resource, shutdown_on_exit=False)
                self._provider.add_log_record_processor(self.processor)
            return self._provider.get_logger("otel_discord.events", __version__)

    def _emit(self, name: str, attributes: dict[str, Any]) -> None:
        span = self._current_span()
        # An empty Context would make the SDK fall back to the host's current span; a context
        # holding an invalid span (or this reporter's own span) never links to the host's trace.
        context = trace.set_span_in_context(span if span is not None else INVALID_SPAN)
        now = time.time_ns()
        record = LogRecord(
            timestamp=now,
            observed_timestamp=now,
            context=context,
            severity_text="INFO",
            severity_number=SeverityNumber.INFO,
            body=name,
            attributes=attributes,
            event_name=name,
        )
        self._logger().emit(record)

    def record(
        self,
        feature: str,
        action: str,
        *,
        metadata: Mapping[str, int | float | bool] | None = None,
        private_metadata: Mapping[str, object] | None = None,
    ) -> None:
        # Validation runs whatever the consent: a bad call fails in the author's own tests.
        attributes = validate_event(feature, action, metadata, private_metadata, self.allowlist)
        if self._closed or not self.gate("usage"):
            return
        try:
            self._emit(f"{feature}.{action}", attributes)
        except Exception:
            log.debug("otel_discord: could not record an event", exc_info=True)

    def _versions(self) -> dict[str, Any]:
        return {
            VERSION_REPORTER: self.version or "unknown",
            VERSION_OTEL_DISCORD: __version__,
            VERSION_DISCORD_PY: _version_of("discord.py"),
            VERSION_PYTHON: "{}.{}.{}".format(*sys.version_info[:3]),
            VERSION_RED: running_red_version() or "none",
        }

    def started(self, cogs: int | None = None) -> bool:
        """Send the start-up event once per run per reporter (``errors`` consent). Returns
        whether it was sent now; without consent it is not marked sent, so a later call (after
        the owner opts in) sends it."""
        if cogs is not None and (isinstance(cogs, bool) or not isinstance(cogs, int) or cogs < 0):
            raise EventError(f"cogs must be a whole number >= 0, not {cogs!r}")
        if cogs is not None:
            self._cogs = cogs
        if self._closed or not self.gate("errors"):
            return False
        with _STARTED_LOCK:
            if self._run_key in _STARTED_RUNS:
                return False
            _STARTED_RUNS.add(self._run_key)
        attributes: dict[str, Any] = {
            EVENT_FEATURE: "otel_discord",
            EVENT_ACTION: "started",
            EVENT_CATEGORY: "errors",
            **self._versions(),
        }
        if self._cogs is not None:
            attributes[STARTED_COGS] = self._cogs
        try:
            self._emit(STARTED, attributes)
        except Exception:
            log.debug("otel_discord: could not send the start-up event", exc_info=True)
        self._schedule_still_running()
        return True

    @property
    def start_sent(self) -> bool:
        """Whether this run's start-up event was sent (by this object or an earlier one)."""
        with _STARTED_LOCK:
            return self._run_key in _STARTED_RUNS

    def _schedule_still_running(self) -> None:
        if self._closed:
            return
        timer = threading.Timer(self.still_running_interval, self._still_running)
        timer.daemon = True
        timer.name = f"otel-discord-still-running-{self.reporter}"
        self._timer = timer
        timer.start()

    def _still_running(self) -> None:
        try:
            if not self._closed and self.gate("errors"):
                attributes: dict[str, Any] = {
                    EVENT_FEATURE: "otel_discord",
                    EVENT_ACTION: "still_running",
                    EVENT_CATEGORY: "errors",
                    STARTED_UPTIME: int(time.monotonic() - self._started_at),
                    **self._versions(),
                }
                if self._cogs is not None:
                    attributes[STARTED_COGS] = self._cogs
                self._emit(STILL_RUNNING, attributes)
        except Exception:
            log.debug("otel_discord: could not send the still-running event", exc_info=True)
        finally:
            self._schedule_still_running()

    @property
    def exporting(self) -> bool:
        return self.processor.started

    def force_flush(self, timeout: float) -> bool:
        try:
            return self.processor.force_flush(int(timeout * 1000))
        except Exception:
            return False

    def shutdown(self, timeout: float) -> bool:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        return self.processor.shutdown_bounded(timeout)
