"""``Reporter``: one isolated, consent-gated OpenTelemetry pipeline. The public face is
:class:`otel_discord.Telemetry`, which adds the discord.py hooks on top of it."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import functools
import heapq
import inspect
import itertools
import logging
import os
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import Any, ClassVar, ParamSpec, TypeVar, cast, overload

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import Attributes

from otel_discord._durable import DurableDelivery, QueueStats, combined
from otel_discord._events import EventRecorder
from otel_discord._pipeline import ConsentScrubProcessor
from otel_discord._resource import build_resource, with_shards
from otel_discord._sampling import ConsentSampler, make_sampler
from otel_discord._version import __version__
from otel_discord.config import TelemetryConfig, load_config
from otel_discord.consent import (
    ConsentRecord,
    ConsentStore,
    JsonConsentStore,
    any_kill_switch,
    kill_switch,
)
from otel_discord.exporters import build_exporter_factories
from otel_discord.exporters._logs_otlp import durable_delivery
from otel_discord.exporters._registry import build_log_exporter_factories
from otel_discord.scrubbing import Scrubber, default_rules

__all__ = ["Reporter", "record_exception"]

log = logging.getLogger("otel_discord")

P = ParamSpec("P")
R = TypeVar("R")

#: How often (seconds) a JSON consent record is re-read, so a CLI change applies without reload.
CONSENT_REFRESH_SECONDS = 2.0

_reader: concurrent.futures.ThreadPoolExecutor | None = None
_reader_lock = threading.Lock()


def _consent_reader() -> concurrent.futures.ThreadPoolExecutor:
    """One worker thread, shared by every reporter, for consent reads asked for on an event
    loop. Made on first use: a process that never runs one has no such thread."""
    global _reader
    with _reader_lock:
        if _reader is None:
            _reader = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="otel-discord-consent"
            )
        return _reader


class _GateTimer:
    """One daemon thread, shared by every reporter, that reopens shut consent gates when their
    consent re-read falls due: it re-reads the record (file I/O belongs in a thread) and clears
    the flag, so the next call checks the gate in full against a fresh record. A shut gate thus
    costs a traced call one attribute read and no clock read. Made on first use; while nothing
    is due it waits without waking up."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: list[tuple[float, int, weakref.ref[Reporter]]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def reopen_at(self, when: float, reporter: Reporter) -> bool:
        """Clear ``reporter``'s shut flag at ``when`` (monotonic). False if no thread can run
        (interpreter shutting down): the caller then leaves its gate unflagged."""
        try:
            with self._cond:
                if self._thread is None or not self._thread.is_alive():  # also after a fork
                    thread = threading.Thread(target=self._run, name="otel-discord-gate")
                    thread.daemon = True
                    thread.start()
                    self._thread = thread
                heapq.heappush(self._due, (when, next(self._order), weakref.ref(reporter)))
                self._cond.notify()
            return True
        except Exception:
            return False

    def after_fork(self) -> None:
        """In a forked child: the thread is gone and its lock may be held for good. Start
        afresh (the caller lets every gate be checked in full again)."""
        self._due = []
        self._cond = threading.Condition()
        self._thread = None

    def _run(self) -> None:
        while True:
            with self._cond:
                wait = self._due[0][0] - time.monotonic() if self._due else None
                if wait is not None and wait <= 0:
                    ref = heapq.heappop(self._due)[2]
                else:
                    self._cond.wait(wait)
                    continue
            reporter = ref()
            if reporter is not None:
                try:
                    reporter._reopen()
                except Exception:  # never lets a reporter's fault end the shared thread
                    reporter._shut = False
            # The wait above may last for good: it must not keep the last reporter alive.
            del reporter, ref


_gate_timer = _GateTimer()
#: Every live reporter, for :func:`_after_fork`.
_reporters: weakref.WeakSet[Reporter] = weakref.WeakSet()


def _after_fork() -> None:
    """In a forked child the shared threads are gone, and a lock one of them held stays held:
    a fresh gate timer and consent reader, fresh re-read locks, and every gate checked in full
    on its next call (a re-read submitted to the parent's reader would never run, its lock
    never freed, and the gate would answer from the parent's record for good)."""
    global _reader, _reader_lock
    _gate_timer.after_fork()
    _reader, _reader_lock = None, threading.Lock()
    for reporter in list(_reporters):
        reporter._refresh_lock = threading.Lock()
        reporter._shut = False


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork)


try:  # the API's own decorator: a context manager that also decorates coroutine functions
    from opentelemetry.util._decorator import _agnosticcontextmanager as _span_context_manager
except ImportError:  # pragma: no cover - a future API without it: contexts, not decorators
    _span_context_manager = contextmanager  # type: ignore[assignment]


class _OwnParentTracer(trace.Tracer):
    """The reporter's SDK tracer, as ``Reporter.tracer``: a span started without an explicit
    ``context`` takes this reporter's active span as parent, or none, never the host bot's (or
    another reporter's) span from OpenTelemetry's global context."""

    def __init__(
        self,
        inner: trace.Tracer,
        parent: Callable[[], Span | None],
        current: ContextVar[Span | None],
    ) -> None:
        self._inner = inner
        self._parent = parent
        self._current = current

    def _context(self, context: Context | None) -> Context:
        if context is not None:
            return context
        parent = self._parent()
        return trace.set_span_in_context(parent) if parent is not None else Context()

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[trace.Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> Span:
        return self._inner.start_span(
            name,
            self._context(context),
            kind,
            attributes,
            links,
            start_time,
            record_exception,
            set_status_on_exception,
        )

    @_span_context_manager
    def start_as_current_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[trace.Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[Span]:
        with self._inner.start_as_current_span(
            name,
            self._context(context),
            kind,
            attributes,
            links,
            start_time,
            record_exception,
            set_status_on_exception,
            end_on_exit,
        ) as span:
            # The reporter's own active span too, as ``Reporter.span`` sets it: a span started
            # inside this one is its child.
            token = self._current.set(span)
            try:
                yield span
            finally:
                try:
                    self._current.reset(token)
                except ValueError:  # reset from another context
                    self._current.set(None)


class Reporter:
    """One reporter: its own tracer provider, consent, scrubber and exporters.

    ``name`` is ``service.name`` and the consent namespace. Nothing here sets or reads
    OpenTelemetry's global tracer provider or propagator.

    Example::

        telemetry = Reporter("mycog", version="1.2.0")
        with telemetry.span("update-check"):
            ...
    """

    #: ``private_metadata`` keys that ``record()`` may export (declared in code, never config);
    #: every other private key is dropped before the event is built. Extended per instance by
    #: the ``private_metadata`` keyword.
    private_metadata_allowlist: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self,
        name: str,
        *,
        version: str | None = None,
        config: Mapping[str, Any] | TelemetryConfig | None = None,
        config_file: str | None = None,
        consent: ConsentStore | None = None,
        scrubber: Scrubber | None = None,
        token: str | None = None,
        private_metadata: Iterable[str] = (),
        resource_attributes: Mapping[str, str] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a reporter needs a non-empty reporter name")
        self.name = name
        self.version = version
        self.config = load_config(config, config_file=config_file)
        self.consent_store: ConsentStore = consent or JsonConsentStore(
            self.config.resolved_data_dir()
        )
        self._record = self.consent_store.load(name)
        self._next_refresh = time.monotonic() + CONSENT_REFRESH_SECONDS
        self._refresh_lock = threading.Lock()
        _reporters.add(self)
        #: The gate is known to be shut (until the gate timer or a decision clears it): see
        #: ``_gate``.
        self._shut = False
        if scrubber is None:
            scrubber = Scrubber(
                default_rules(
                    token=token,
                    id_mode=self.config.id_mode,
                    id_secret=bytes.fromhex(self._record.secret),
                )
            )
        self.scrubber = scrubber
        self.resource = build_resource(
            self.config.service_name or name,
            version,
            self._record.install_id,
            # Set by integrations (Red's version), never read from the machine.
            dict(resource_attributes) if resource_attributes else None,
            shard_ids=self.config.shard_id,
            shard_count=self.config.shard_count,
            cluster=self.config.cluster,
        )
        # Error reports and events the OTLP backend did not take wait on disk (None: no otlp).
        self._durable = durable_delivery(self.config, name, self._consent_allows)
        self._processor = ConsentScrubProcessor(
            self._gate,
            scrubber,
            self.resource,
            build_exporter_factories(
                self.config,
                name,
                durable=self._durable,
                scrubber=scrubber,
                gate=lambda: self._consent_allows("errors"),
                category_gate=self._consent_allows,
                resource=self.resource,
            ),
            max_queue_size=self.config.max_queue_size,
            schedule_delay=self.config.schedule_delay,
            export_timeout=self.config.otlp_timeout,
        )
        self._provider = TracerProvider(
            resource=self.resource,
            sampler=ConsentSampler(
                self._gate,
                make_sampler(self.config.sampler, self.config.sampler_arg),
                kind_rates={
                    "loop": self.config.loop_sample_rate,
                    "prefix": self.config.command_sample_rate,
                    "hybrid": self.config.command_sample_rate,
                    "slash": self.config.command_sample_rate,
                },
            ),
            shutdown_on_exit=False,
        )
        self._provider.add_span_processor(self._processor)
        # ``span()`` passes its context itself and calls the SDK's tracer directly.
        self._sdk_tracer = self._provider.get_tracer("otel_discord", __version__)
        self._current: ContextVar[Span | None] = ContextVar(f"otel_discord_{name}", default=None)
        self.tracer: trace.Tracer = _OwnParentTracer(
            self._sdk_tracer, lambda: self.current_span(), self._current
        )
        self._closed = False
        self._events = EventRecorder(
            reporter=name,
            run_key=str(self.config.resolved_data_dir()),
            version=version,
            resource=self.resource,
            gate=self.allows,
            scrubber=scrubber,
            factories=build_log_exporter_factories(self.config, name, durable=self._durable),
            allowlist=(*self.private_metadata_allowlist, *private_metadata),
            current_span=self.current_span,
            max_queue_size=self.config.max_queue_size,
            schedule_delay=self.config.schedule_delay,
            export_timeout=self.config.otlp_timeout,
        )
        if self._durable is not None:
            self._durable.resume()  # a queue left by an earlier run is sent now
        ref = weakref.ref(self)
        atexit.register(lambda: (t := ref()) is not None and t.shutdown(2.0))

    # -- consent -----------------------------------------------------------------------------

    @property
    def consent_record(self) -> ConsentRecord:
        """The current consent record (re-read from the store at most every 2 s)."""
        self._maybe_refresh()
        return self._record

    @property
    def install_id(self) -> str:
        return self._record.install_id

    def _maybe_refresh(self) -> None:
        now = time.monotonic()
        if now < self._next_refresh or not self._refresh_lock.acquire(blocking=False):
            return
        self._next_refresh = now + CONSENT_REFRESH_SECONDS
        if asyncio._get_running_loop() is not None:
            # On the bot's event loop a file read must not block it: the record is re-read in
            # a worker thread and the gate answers from the one it has until then.
            try:
                _consent_reader().submit(self._reload_record)
                return
            except Exception:  # interpreter shutting down: read here, once
                pass
        self._reload_record()

    def _reopen(self) -> None:
        # The gate timer's call, in its thread: the re-read is due, so do it here and now.
        if self._refresh_lock.acquire(blocking=False):
            self._next_refresh = time.monotonic() + CONSENT_REFRESH_SECONDS
            self._reload_record()
        self._shut = False

    def _reload_record(self) -> None:
        # Called with ``_refresh_lock`` held; releases it.
        try:
            self._record = self.consent_store.load(self.name)
        except Exception:
            log.warning("otel_discord: could not re-read consent for %s", self.name)
        finally:
            self._refresh_lock.release()

    def _gate(self) -> bool:
        """Category ``errors``: spans and error reports.

        Runs for every span and every traced call, so a shut gate is remembered (``_shut``, one
        attribute read) until something could open it: the next consent re-read, when the gate
        timer clears the flag (or never, after shutdown or with ``enabled = false``);
        :meth:`enable` and :meth:`disable` clear it at once. Closing is never delayed: an open
        gate is checked in full each time (kill switches included).
        """
        if self._shut:
            return False
        if self._gate_now():
            return True
        final = self._closed or self.config.enabled is False
        # Flagged before the timer is asked to clear it (a re-read already due may clear it at
        # once), and only when something will: else the gate is checked in full each call.
        self._shut = True
        if not final and not _gate_timer.reopen_at(self._next_refresh, self):
            self._shut = False
        return False

    def _gate_now(self) -> bool:
        if self._closed or any_kill_switch() or self.config.enabled is False:
            return False
        if time.monotonic() >= self._next_refresh:
            self._maybe_refresh()
        return self._errors_on(self._record)

    def _errors_on(self, record: ConsentRecord) -> bool:
        # ``enabled = true`` in config is the operator's opt-in, and stands until the owner
        # decides on ``errors`` themselves (``disable`` must never reply "off" and keep sending).
        if self.config.enabled and "errors" not in record.decided_categories:
            return True
        return record.errors

    def allows(self, category: str) -> bool:
        """Whether ``category`` (``errors`` or ``usage``) may be sent now."""
        if self._closed:
            return False
        return self._consent_allows(category)

    def _consent_allows(self, category: str) -> bool:
        # The owner's decision alone (also after shutdown): the disk queue asks it before
        # sending a batch queued in an earlier run.
        if kill_switch() is not None or self.config.enabled is False:
            return False
        self._maybe_refresh()
        if category == "errors":
            return self._errors_on(self._record)
        return self._record.allows(category)

    @property
    def enabled(self) -> bool:
        """Category ``errors`` on (consent, or ``enabled = true`` in config), no kill switch."""
        return self._gate()

    def _decide(self, enabled: bool, categories: tuple[str, ...]) -> None:
        record = self.consent_store.load(self.name).decided(enabled, categories)
        self.consent_store.save(record)
        self._record = record
        self._next_refresh = time.monotonic() + CONSENT_REFRESH_SECONDS
        self._shut = False

    def enable(self, *categories: str) -> None:
        """Record the owner's consent for ``categories`` (default: ``errors`` only); effective at
        once. Config ``enabled = false`` and kill switches still win."""
        self._decide(True, categories or ("errors",))

    def disable(self, *categories: str) -> None:
        """Withdraw consent for ``categories`` (default: all); effective at once, and also over
        ``enabled = true`` in config. Spans already queued are dropped, not sent."""
        from otel_discord.consent import CATEGORIES

        self._decide(False, categories or CATEGORIES)

    def reset_install_id(self) -> str:
        """Give this install a new random id (takes effect on the next bot start)."""
        from otel_discord.consent import new_install_id

        record = self.consent_store.load(self.name)
        from dataclasses import replace

        record = replace(record, install_id=new_install_id())
        self.consent_store.save(record)
        self._record = record
        return record.install_id

    # -- spans -------------------------------------------------------------------------------

    def current_span(self) -> Span | None:
        """This reporter's innermost active span, if any."""
        span = self._current.get()
        if span is not None:
            return span
        # A span started with ``telemetry.tracer.start_as_current_span`` counts too, but never
        # another provider's (the host bot's or another reporter's).
        current = trace.get_current_span()
        if isinstance(current, SdkSpan) and current.resource is self.resource:
            return current
        return None

    @contextmanager
    def span(
        self,
        name: str,
        attributes: Attributes = None,
        *,
        kind: SpanKind = SpanKind.INTERNAL,
        new_trace: bool = False,
        links: list[trace.Link] | None = None,
    ) -> Iterator[Span]:
        """A span of this reporter. It nests under this reporter's active span only; an
        exception is recorded with status ERROR and re-raised unchanged."""
        span: Span = INVALID_SPAN
        if not self._shut:  # a known-shut gate skips the SDK (ids, sampler) altogether
            parent = None if new_trace else self.current_span()
            context = trace.set_span_in_context(parent) if parent is not None else Context()
            try:
                span = self._sdk_tracer.start_span(
                    name, context=context, kind=kind, attributes=attributes, links=links
                )
            except Exception:
                span = INVALID_SPAN
        token = self._current.set(span)
        try:
            yield span
        except Exception as exc:
            record_exception(span, exc)
            raise
        finally:
            try:
                self._current.reset(token)
            except ValueError:  # reset from another context (generator closed elsewhere)
                self._current.set(None)
            with suppress(Exception):
                span.end()

    @overload
    def traced(self, name: Callable[P, R]) -> Callable[P, R]: ...

    @overload
    def traced(self, name: str | None = None) -> Callable[[Callable[P, R]], Callable[P, R]]: ...

    def traced(self, name: str | Callable[P, R] | None = None) -> Any:
        """Decorate a sync or async function so each call is a span (a coroutine's span covers
        its whole run). Without consent the function is called directly."""
        if callable(name):
            return self.traced(None)(name)

        def decorate(fn: Callable[P, R]) -> Callable[P, R]:
            span_name: str = name or getattr(fn, "__qualname__", None) or repr(fn)
            if inspect.iscoroutinefunction(fn):
                afn = cast(Callable[P, Awaitable[Any]], fn)

                @functools.wraps(fn)
                async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                    # The shut-gate check of ``_gate`` inlined: a disabled call costs ~nothing.
                    if self._shut or not self._gate():
                        return await afn(*args, **kwargs)
                    with self.span(span_name):
                        return await afn(*args, **kwargs)

                return cast(Callable[P, R], async_wrapper)

            @functools.wraps(fn)
            def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
                if self._shut or not self._gate():
                    return fn(*args, **kwargs)
                with self.span(span_name):
                    return fn(*args, **kwargs)

            return wrapper

        return decorate

    def record_exception(self, exc: BaseException, attributes: Attributes = None) -> None:
        """Record ``exc`` on this reporter's active span, or in a span of its own. Never raises."""
        try:
            span = self.current_span()
            if span is not None and span.is_recording():
                record_exception(span, exc, attributes)
                return
            with self.span(f"error {type(exc).__name__}", attributes) as own:
                record_exception(own, exc)
        except Exception:
            log.debug("otel_discord: could not record an exception", exc_info=True)

    # -- events ------------------------------------------------------------------------------

    def record(
        self,
        feature: str,
        action: str,
        *,
        metadata: Mapping[str, int | float | bool] | None = None,
        private_metadata: Mapping[str, object] | None = None,
    ) -> None:
        """Record a product event under ``usage`` consent (dropped without it).

        ``feature`` and ``action`` are short lowercase dotted identifiers; ``metadata`` holds
        numbers and booleans only; ``private_metadata`` keys are exported only when listed in
        :attr:`private_metadata_allowlist`. A bad call raises ``EventError`` whatever the
        consent; nothing else ever raises::

            telemetry.record("backup", "restore", metadata={"files": 3, "dry_run": False})
        """
        self._events.record(feature, action, metadata=metadata, private_metadata=private_metadata)

    def started(self, cogs: int | None = None) -> bool:
        """Send the start-up event (versions and ``cogs`` loaded) once per bot run, under
        ``errors`` consent, and a "still running" event once a day after it. Returns whether it
        was sent now (a call without consent can be repeated once the owner opts in)."""
        return self._events.started(cogs)

    @property
    def private_metadata_keys(self) -> frozenset[str]:
        """The ``private_metadata`` keys this reporter may export (its allowlist, declared in
        code); the owner's ``telemetry status`` lists them."""
        return self._events.allowlist

    def queue_status(self) -> QueueStats | None:
        """The disk queues of error reports and events waiting for the backends (``otlp`` and
        ``sentry``, summed): entries, bytes, and how many were dropped (oldest first, expired,
        consent withdrawn, refused) or set aside as corrupt. ``None`` without either exporter
        or with the queue off."""
        return combined([d.queue.stats() for d in self._deliveries()])

    def _deliveries(self) -> list[DurableDelivery]:
        """This reporter's disk queues: the OTLP one, and the Sentry one, which its exporter
        factory owns (it exists, and may be draining, before any Sentry exporter is built)."""
        out = [self._durable] if self._durable is not None else []
        if "sentry" in self.config.exporters:
            from otel_discord.exporters._sentry import sentry_delivery_of

            sentry = sentry_delivery_of(self.config)
            if sentry is not None:
                out.append(sentry)
        return out

    # -- resource ----------------------------------------------------------------------------

    def set_shards(
        self, shard_ids: int | Iterable[int] | None, shard_count: int | None = None
    ) -> bool:
        """Fill ``discord.shard.id`` and ``discord.shard.count`` from the bot itself (its
        ``shard_id`` or ``shard_ids``, and ``shard_count``) where the operator configured none.
        Call it once the client knows its shards (``on_ready``). Spans exported from then on
        carry them, and events too when none was sent yet. Never raises; returns whether the
        exported resource changed::

            telemetry.set_shards(getattr(bot, "shard_ids", None) or bot.shard_id, bot.shard_count)
        """
        try:
            config = self.config
            ids = config.shard_id or shard_ids
            count = config.shard_count if config.shard_count is not None else shard_count
            processor = self._processor
            # The provider's resource is fixed at construction; what leaves the process is the
            # processor's copy (scrubbed at export), so that is the one that learns the shards.
            current = processor._raw_resource
            updated = with_shards(current, ids, count)
            if dict(updated.attributes) == dict(current.attributes):
                return False
            processor._raw_resource = updated
            processor._resource = None
            events = self._events
            with events._provider_lock:
                if events._provider is None:
                    events._resource = updated
            return True
        except Exception:
            log.debug("otel_discord: could not set shard attributes", exc_info=True)
            return False

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def exporting(self) -> bool:
        """Whether exporters were ever started (False means nothing has left the process)."""
        return self._processor.started or self._events.exporting

    def force_flush(self, timeout: float = 5.0) -> bool:
        """Export what is queued; returns within ``timeout`` seconds, True if all went out."""
        try:
            deadline = time.monotonic() + timeout
            spans = self._processor.force_flush(int(timeout * 1000))
            events = self._events.force_flush(max(0.0, deadline - time.monotonic()))
            return spans and events
        except Exception:
            return False

    #: Set while :meth:`shutdown` runs (a second call, e.g. from ``atexit``, returns at once).
    _stopping = False

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Flush and stop the exporters; returns within ``timeout`` seconds even when the backend
        hangs or is down. With the disk queue, the error reports and events the backend has not
        confirmed by then are on disk when it returns (the next run sends them). After it, spans
        are dropped."""
        if self._closed or self._stopping:
            return True
        self._stopping = True
        deadline = time.monotonic() + timeout
        deliveries = self._deliveries()
        for delivery in deliveries:
            delivery.stop(0.0)  # no new drain round; joined below
        # The last part of the budget writes to disk what the backend has not taken by then.
        spill_at = deadline - min(1.0, timeout * 0.2)
        flushed = (
            self.force_flush(max(0.0, spill_at - time.monotonic()))
            if self._gate() or self.allows("usage")
            else True
        )
        for delivery in deliveries:
            delivery.spill()
        # The consent gates stay open (``_closed`` unset) until the pipelines are shut down:
        # what was admitted before shutdown is exported or saved, not dropped at the last step.
        remaining = max(0.0, deadline - time.monotonic())
        events_stopped = self._events.shutdown(remaining / 2)
        stopped = self._processor.shutdown_bounded(max(0.0, deadline - time.monotonic()))
        for delivery in deliveries:
            delivery.stop(max(0.0, deadline - time.monotonic()))
        self._closed = True
        return flushed and stopped and events_stopped

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} enabled={self.enabled}>"


def record_exception(span: Span, exc: BaseException, attributes: Attributes = None) -> None:
    """Record ``exc`` on ``span`` as an exception event and set status ERROR."""
    try:
        span.record_exception(exc, attributes=attributes, escaped=True)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
    except Exception:
        pass
