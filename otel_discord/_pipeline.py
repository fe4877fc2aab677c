"""The span pipeline: consent gate + scrubber, then one batch processor per exporter.

Exporters are built lazily, the first time a span ends while consent is given, so a bot whose
owner never opted in has no exporter object, no worker thread and no connection at all.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Link, SpanContext, Status, TraceFlags

from otel_discord._attributes import SCRUBBED
from otel_discord.scrubbing import Scrubber
from otel_discord.scrubbing._rules import config_generation

log = logging.getLogger("otel_discord.pipeline")

#: Attribute that records how many values each rule replaced (never what they were).
SCRUBBED_ATTRIBUTE = SCRUBBED

ExporterFactory = Callable[[], SpanExporter]
Gate = Callable[[], bool]


class RateLimitedLog:
    """Log a warning at most once per ``interval`` seconds per key."""

    def __init__(self, logger: logging.Logger, interval: float = 60.0) -> None:
        self.logger = logger
        self.interval = interval
        self._last: dict[str, float] = {}
        self.suppressed: Counter[str] = Counter()

    def warning(self, key: str, message: str, *args: object) -> None:
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self.suppressed[key] += 1
            return
        if len(self._last) > 256:
            self._last.clear()
        self._last[key] = now
        self.logger.warning(message, *args)


class ScrubMemo:
    """Remembers what the scrubber made of short strings and attribute pairs it saw before.

    Span names, command and cog names repeat on nearly every span; scrubbing them again each time
    was most of the pipeline's cost. Every value still leaves scrubbed: a hit returns the
    scrubber's own output for the same input (and replays its per-rule counts). The memo is
    bypassed while the scrubber has a ``keep`` callback (it need not be a pure function) and is
    emptied whenever the scrubber, its rules, any rule's configuration or its limits change.
    Bounded: ``max_entries`` entries of at most ``max_chars`` characters each.
    """

    def __init__(self, max_entries: int = 4096, max_chars: int = 256) -> None:
        self.max_entries = max_entries
        self.max_chars = max_chars
        self._scrubber: Scrubber | None = None
        self._limits: tuple[int, list[object], int] = (0, [], -1)
        self._texts: dict[str, tuple[str, tuple[tuple[str, int], ...]]] = {}
        # Keyed by type too: 1, 1.0 and True are equal (and hash alike) but are not the same value.
        self._pairs: dict[
            tuple[str, type, object], tuple[tuple[tuple[str, Any], ...], tuple[Any, ...]]
        ]
        self._pairs = {}

    def usable(self, scrubber: Scrubber) -> bool:
        """Check (once per span) that earlier results still hold for ``scrubber``."""
        if scrubber.keep is not None:
            return False
        # Rules compare by identity (list equality checks identity first, in C); a rule
        # reconfigured in place (``set_token``) changes the rules' configuration generation.
        generation = config_generation()
        if (
            scrubber is not self._scrubber
            or scrubber.max_chars != self._limits[0]
            or scrubber.rules != self._limits[1]
            or generation != self._limits[2]
        ):
            self._texts.clear()
            self._pairs.clear()
            self._scrubber = scrubber
            scrubber._plan()  # marks its rules: reconfiguring one now bumps the generation
            self._limits = (scrubber.max_chars, list(scrubber.rules), config_generation())
        return True

    def text(self, text: str, counts: Counter[str]) -> str:
        """``Scrubber.scrub_text`` of the scrubber last passed to :meth:`usable`."""
        scrubber = self._scrubber
        assert scrubber is not None
        if len(text) > self.max_chars:
            return scrubber.scrub_text(text, counts)
        hit = self._texts.get(text)
        if hit is None:
            delta: Counter[str] = Counter()
            hit = (scrubber.scrub_text(text, delta), tuple(delta.items()))
            if len(self._texts) >= self.max_entries:
                self._texts.clear()
            self._texts[text] = hit
        if hit[1]:
            counts.update(dict(hit[1]))
        return hit[0]

    def attributes(
        self, attributes: Mapping[str, Any] | None, counts: Counter[str]
    ) -> dict[str, Any]:
        """``Scrubber.scrub_attributes`` of the scrubber last passed to :meth:`usable`."""
        scrubber = self._scrubber
        assert scrubber is not None
        if not attributes:
            return {}
        out: dict[str, Any] = {}
        for key, value in attributes.items():
            kind = type(value)
            if len(key) > self.max_chars or not (
                (kind is str and len(value) <= self.max_chars) or kind in (int, float, bool)
            ):
                out.update(scrubber.scrub_attributes({key: value}, counts))
                continue
            hit = self._pairs.get((key, kind, value))
            if hit is None:
                delta: Counter[str] = Counter()
                scrubbed = scrubber.scrub_attributes({key: value}, delta)
                hit = (tuple(scrubbed.items()), tuple(delta.items()))
                if len(self._pairs) >= self.max_entries:
                    self._pairs.clear()
                self._pairs[(key, kind, value)] = hit
            out.update(hit[0])
            if hit[1]:
                counts.update(dict(hit[1]))
        return out


def scrub_span(
    span: ReadableSpan,
    scrubber: Scrubber,
    resource: Resource | None,
    memo: ScrubMemo | None = None,
) -> ReadableSpan:
    """Rebuild ``span`` with every string scrubbed; counts per rule go in one attribute."""
    counts: Counter[str] = Counter()
    scrub_attributes: Callable[[Mapping[str, Any] | None, Counter[str]], dict[str, Any]]
    scrub_text: Callable[[str, Counter[str]], str]
    if memo is not None and memo.usable(scrubber):
        scrub_attributes = memo.attributes
        scrub_text = memo.text
    else:
        scrub_attributes = scrubber.scrub_attributes
        scrub_text = scrubber.scrub_text
    attributes = scrub_attributes(span.attributes, counts)
    events = [
        Event(scrub_text(e.name, counts), scrub_attributes(e.attributes, counts), e.timestamp)
        for e in span.events
    ]
    links = [Link(link.context, scrub_attributes(link.attributes, counts)) for link in span.links]
    status = span.status
    if status.description:
        status = Status(status.status_code, scrubber.scrub_text(status.description, counts))
    name = scrub_text(span.name, counts)
    if counts:
        attributes[SCRUBBED_ATTRIBUTE] = tuple(f"{k}:{v}" for k, v in sorted(counts.items()))
    return ReadableSpan(
        name=name,
        context=span.context,
        parent=span.parent,
        resource=resource if resource is not None else span.resource,
        attributes=attributes,
        events=events,
        links=links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _as_sampled(span: ReadableSpan) -> ReadableSpan:
    ctx = span.context
    assert ctx is not None
    sampled = SpanContext(
        ctx.trace_id,
        ctx.span_id,
        ctx.is_remote,
        TraceFlags(ctx.trace_flags | TraceFlags.SAMPLED),
        ctx.trace_state,
    )
    return ReadableSpan(
        name=span.name,
        context=sampled,
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes,
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def export_once(
    span: ReadableSpan, factories: Sequence[tuple[str, ExporterFactory]], timeout: float
) -> bool:
    """Export one already scrubbed span through fresh exporters, without the consent gate:
    the owner chose to share it (``telemetry send``). Blocking; returns within ``timeout``."""
    results: list[bool] = []

    def run() -> None:
        for _name, factory in factories:
            exporter = factory()
            try:
                results.append(exporter.export([span]) is SpanExportResult.SUCCESS)
            finally:
                exporter.shutdown()

    return _bounded(run, timeout, "send") and bool(results) and all(results)


def scrub_resource(resource: Resource, scrubber: Scrubber) -> Resource:
    return Resource(scrubber.scrub_attributes(resource.attributes), resource.schema_url)


class GatedExporter(SpanExporter):
    """Checks consent again at export time, so spans queued before a disable are dropped."""

    def __init__(self, inner: SpanExporter, gate: Gate) -> None:
        self.inner = inner
        self.gate = gate

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not self.gate():
            return SpanExportResult.SUCCESS
        try:
            return self.inner.export(spans)
        except Exception:
            name = type(self.inner).__name__
            log.warning("otel_discord: exporter %s failed", name, exc_info=True)
            return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def _bounded(fn: Callable[[], object], timeout: float, what: str) -> bool:
    """Run ``fn`` in a daemon thread and wait at most ``timeout`` seconds; True if it finished."""
    done = threading.Event()

    def run() -> None:
        try:
            fn()
        except Exception:
            log.warning("otel_discord: %s failed", what, exc_info=True)
        finally:
            done.set()

    threading.Thread(target=run, name=f"otel-discord-{what}", daemon=True).start()
    return done.wait(max(0.0, timeout))


class _Processor(Protocol):
    def force_flush(self, timeout_millis: int = 30000) -> bool: ...

    def shutdown(self) -> None: ...


def flush_within(processors: Sequence[_Processor], timeout_millis: int, what: str) -> bool:
    """Flush ``processors`` in turn, sharing one deadline; returns within the timeout."""
    if not processors:
        return True
    deadline = time.monotonic() + timeout_millis / 1000

    def flush_all() -> None:
        for p in processors:
            p.force_flush(max(0, int((deadline - time.monotonic()) * 1000)))

    return _bounded(flush_all, timeout_millis / 1000, what)


def shutdown_within(processors: Sequence[_Processor], timeout: float, what: str) -> bool:
    """Shut ``processors`` down, returning within ``timeout`` seconds whatever they do."""
    if not processors:
        return True

    def stop_all() -> None:
        for p in processors:
            p.shutdown()

    return _bounded(stop_all, timeout, what)


class ConsentScrubProcessor(SpanProcessor):
    """Drops spans without consent, scrubs the rest (fail-closed), hands them to the exporters."""

    def __init__(
        self,
        gate: Gate,
        scrubber: Scrubber,
        resource: Resource,
        factories: Sequence[tuple[str, ExporterFactory]],
        *,
        max_queue_size: int = 2048,
        schedule_delay: float = 5.0,
        export_timeout: float = 10.0,
    ) -> None:
        self.gate = gate
        self.scrubber = scrubber
        self._raw_resource = resource
        self._resource: Resource | None = None
        self._factories = list(factories)
        self._extra: list[SpanProcessor] = []
        self._processors: list[SpanProcessor] | None = None
        self._lock = threading.Lock()
        self._shutdown = False
        self.max_queue_size = max_queue_size
        self.schedule_delay = schedule_delay
        self.export_timeout = export_timeout
        self.warnings = RateLimitedLog(log)
        self.dropped_unscrubbable = 0
        self._memo = ScrubMemo()

    @property
    def resource(self) -> Resource:
        if self._resource is None:
            self._resource = scrub_resource(self._raw_resource, self.scrubber)
        return self._resource

    def add_processor(self, processor: SpanProcessor) -> None:
        """Add a processor that receives scrubbed spans (used by ``otel_discord.testing``)."""
        self._extra.append(processor)

    def _build(self) -> list[SpanProcessor]:
        with self._lock:
            if self._processors is not None:
                return self._processors
            built: list[SpanProcessor] = []
            batch = min(512, self.max_queue_size)
            for name, factory in self._factories:
                try:
                    exporter = GatedExporter(factory(), self.gate)
                except Exception as exc:
                    log.warning("otel_discord: cannot start the %s exporter: %s", name, exc)
                    continue
                built.append(
                    BatchSpanProcessor(
                        exporter,
                        max_queue_size=self.max_queue_size,
                        schedule_delay_millis=self.schedule_delay * 1000,
                        max_export_batch_size=batch,
                        export_timeout_millis=self.export_timeout * 1000,
                    )
                )
            self._processors = built
            return built

    @property
    def factories(self) -> list[tuple[str, ExporterFactory]]:
        """The configured exporters, as ``(name, factory)`` pairs."""
        return list(self._factories)

    @property
    def started(self) -> bool:
        """Whether exporters were ever built (False: nothing could have left the process)."""
        return self._processors is not None

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if self._shutdown:
            return
        try:
            if not self.gate():
                return
            if span.context is not None and not span.context.trace_flags.sampled:
                # Recorded but not sampled (``ConsentSampler.kind_rates``): kept only when it
                # carries an exception, because errors are always kept.
                if not any(e.name == "exception" for e in span.events):
                    return
                span = _as_sampled(span)
            scrubbed = scrub_span(span, self.scrubber, self.resource, self._memo)
        except Exception as exc:
            # Fail closed: a span we could not scrub is never exported.
            self.dropped_unscrubbable += 1
            self.warnings.warning(
                "scrub",
                "otel_discord: dropped a span that could not be scrubbed (%s)",
                type(exc).__name__,
            )
            return
        processors = self._processors if self._processors is not None else self._build()
        for processor in (*processors, *self._extra):
            try:
                processor.on_end(scrubbed)
            except Exception:
                self.warnings.warning("export", "otel_discord: a span processor failed")

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        processors = [*(self._processors or ()), *self._extra]
        return flush_within(processors, timeout_millis, "flush")

    def shutdown_bounded(self, timeout: float) -> bool:
        """Shut the exporters down, returning within ``timeout`` seconds whatever they do."""
        self._shutdown = True
        return shutdown_within([*(self._processors or ()), *self._extra], timeout, "shutdown")

    def shutdown(self) -> None:
        self.shutdown_bounded(self.export_timeout)
