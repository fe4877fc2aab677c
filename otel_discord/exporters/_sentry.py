"""Sentry exporter (extra ``otel-discord[sentry]``): errors as Sentry issues, spans over OTLP.

A span exporter in the pipeline, so it only ever sees consented, scrubbed spans. Each reporter
gets its own ``sentry_sdk.Client`` and ``sentry_sdk.Scope``: nothing calls ``sentry_sdk.init``
or touches the host bot's hub, scopes, integrations or OpenTelemetry globals. Events go straight
to this client with this scope (``client.capture_event(event, scope=...)``), never through
``Scope.capture_event``, which would merge in the host's global and isolation scopes.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit, urlunsplit

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_discord._attributes import INSTALL_ID
from otel_discord._events import STARTED
from otel_discord.config import TelemetryConfig
from otel_discord.exporters._sentry_event import exception_events, package_name
from otel_discord.scrubbing import Scrubber, default_rules

if TYPE_CHECKING:
    import sentry_sdk
    from sentry_sdk._types import Event
    from sentry_sdk.session import Session

__all__ = [
    "SentryClient",
    "SentryExporter",
    "SentryHub",
    "SentryStartupExporter",
    "scrub_event",
    "sentry_exporter_factory",
    "sentry_log_exporter_factory",
    "sentry_otlp_target",
]

log = logging.getLogger("otel_discord.sentry")

Gate = Callable[[], bool]

#: Seconds ``shutdown`` waits for queued events and the session update to go out.
CLOSE_TIMEOUT = 2.0
#: Events waiting in the Sentry transport's queue before new ones are dropped (memory bound).
QUEUE_SIZE = 100
_HEX_ID = re.compile(r"^[0-9a-f]{16,32}$")


def sentry_otlp_target(dsn: str) -> tuple[str, dict[str, str]]:
    """The DSN's OTLP traces URL and the ``X-Sentry-Auth`` header for it."""
    parts = urlsplit(dsn)
    key = (parts.username or "").strip()
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    prefix, _, project = parts.path.rstrip("/").rpartition("/")
    path = f"{prefix}/api/{project}/integration/otlp/v1/traces/"
    url = urlunsplit((parts.scheme, netloc, path, "", ""))
    return url, {"x-sentry-auth": f"sentry sentry_key={key}"}


def scrub_event(scrubber: Scrubber, event: Mapping[str, Any]) -> dict[str, Any]:
    """Run ``scrubber`` over every key and value of a Sentry event (message, exception values,
    frames' paths and source lines, breadcrumbs, tags, extra, contexts, user)."""
    cleaned = scrubber.scrub_data(event)
    if not isinstance(cleaned, dict):
        raise TypeError("the scrubber did not return a mapping")
    # Random ids this package made are not personal data; keep them intact so Sentry can link
    # the issue to its trace (they are restored only when they are plain hex).
    if _HEX_ID.match(str(event.get("event_id", ""))):
        cleaned["event_id"] = event["event_id"]
    trace = (event.get("contexts") or {}).get("trace")
    out_trace = (cleaned.get("contexts") or {}).get("trace")
    if isinstance(trace, Mapping) and isinstance(out_trace, dict):
        for k in ("trace_id", "span_id", "parent_span_id"):
            if _HEX_ID.match(str(trace.get(k, ""))):
                out_trace[k] = trace[k]
    # Never the machine's name, the request or the process's modules and arguments.
    for k in ("server_name", "request", "modules"):
        cleaned.pop(k, None)
    extra = cleaned.get("extra")
    if isinstance(extra, dict):
        extra.pop("sys.argv", None)
    return cleaned


def _no_personal_data() -> dict[str, Any]:
    """No user data, local variables or source context, in the form this sentry-sdk takes
    (``data_collection`` replaced ``send_default_pii`` and friends in 2.x)."""
    from sentry_sdk.consts import ClientConstructor

    if "data_collection" in inspect.signature(ClientConstructor.__init__).parameters:
        return {
            "data_collection": {
                "user_info": False,
                "stack_frame_variables": False,
                "frame_context_lines": 0,
            }
        }
    return {
        "send_default_pii": False,
        "include_local_variables": False,
        "include_source_context": False,
    }


class SentryClient:
    """One reporter's ``sentry_sdk.Client``, ``Scope`` and release-health session."""

    def __init__(
        self,
        config: TelemetryConfig,
        reporter: str,
        *,
        scrubber: Scrubber,
        gate: Gate,
        resource: Resource | None = None,
    ) -> None:
        try:
            import sentry_sdk
            from sentry_sdk.session import Session
        except ImportError:
            raise RuntimeError(
                "the sentry exporter needs sentry-sdk: pip install 'otel-discord[sentry]'"
            ) from None
        if not config.sentry_dsn:
            raise RuntimeError("the sentry exporter needs sentry_dsn (OTEL_DISCORD_SENTRY_DSN)")
        attrs = dict(resource.attributes) if resource is not None else {}
        version = attrs.get("service.version")
        self.release = config.sentry_release or f"{reporter}@{version or 'unknown'}"
        self.environment = config.sentry_environment
        self.scrubber = scrubber
        self.gate = gate
        self.dropped_unscrubbable = 0
        self._lock = threading.Lock()
        self._closed = False
        self.client: sentry_sdk.Client = sentry_sdk.Client(
            dsn=config.sentry_dsn,
            release=self.release,
            environment=self.environment,
            server_name="",  # never the host name (the SDK's default)
            default_integrations=False,
            auto_enabling_integrations=False,
            integrations=[],
            attach_stacktrace=False,
            before_send=self._before_send,
            before_send_transaction=self._before_send,
            auto_session_tracking=False,
            send_client_reports=False,
            enable_backpressure_handling=False,
            transport_queue_size=QUEUE_SIZE,
            shutdown_timeout=CLOSE_TIMEOUT,
            spotlight=False,
            debug=False,
            keep_alive=False,
            **_no_personal_data(),
        )
        self.scope = sentry_sdk.Scope()
        self.scope.set_client(self.client)
        install_id = attrs.get(INSTALL_ID)
        user = {"id": str(install_id)} if install_id else None
        if user:
            self.scope.set_user(user)
        # Release health: one session per bot run (this client is built once per run, on first
        # use). Sent now so adoption shows at once, and again when it ends. Not for a report the
        # owner shares by hand without consent (``telemetry send``): that is one event only.
        self.session: Session | None = None
        if gate():
            self.session = Session(
                release=self.release,
                environment=self.environment,
                user=user,
                session_mode="application",
            )
            self.client.capture_session(self.session)
            self._send_sessions()

    def _before_send(self, event: Any, hint: Any) -> Any:
        try:
            return scrub_event(self.scrubber, event)
        except Exception as exc:
            # Fail closed: an event we could not scrub is never sent.
            self.dropped_unscrubbable += 1
            log.warning("otel_discord: dropped a Sentry event that could not be scrubbed (%s)", exc)
            return None

    def _send_sessions(self) -> None:
        flusher = getattr(self.client, "session_flusher", None)
        if flusher is not None:
            flusher.flush()  # hand pending session updates to the transport now, not in 60 s

    def capture(self, events: Sequence[dict[str, Any]], flush_timeout: float) -> int:
        """Queue ``events`` for the transport's worker thread (bounded queue; it honours 429
        ``Retry-After`` and drops what the backend refuses), then wait at most
        ``flush_timeout`` for them to go out. Returns how many were accepted."""
        if self._closed:
            return 0
        captured = 0
        for event in events:
            try:
                if self.client.capture_event(cast("Event", event), scope=self.scope):
                    captured += 1
            except Exception:
                log.warning("otel_discord: could not queue a Sentry event", exc_info=True)
        if captured:
            if self.session is not None:
                self.session.update(errors=self.session.errors + captured)
            self.client.flush(timeout=flush_timeout)
        return captured

    def flush(self, timeout: float) -> None:
        if not self._closed:
            self.client.flush(timeout=timeout)

    def close(self) -> None:
        """End the session (only with consent) and close the client within ``CLOSE_TIMEOUT``."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        session, self.session = self.session, None
        allowed = self.gate()
        if session is not None and allowed:
            session.close()
            self.client.capture_session(session)
        # Consent withdrawn: nothing more leaves, not even the session's end.
        self.client.close(timeout=CLOSE_TIMEOUT if allowed else 0.0)


class SentryHub:
    """Shares one :class:`SentryClient` between a reporter's span exporter and its start-up
    event exporter. The client is built on first use; the last exporter to shut down closes it."""

    def __init__(
        self,
        config: TelemetryConfig,
        reporter: str,
        *,
        scrubber: Scrubber,
        gate: Gate,
        resource: Resource | None = None,
    ) -> None:
        self.config = config
        self.reporter = reporter
        self.scrubber = scrubber
        self.gate = gate
        self.resource = resource
        self._client: SentryClient | None = None
        self._users = 0
        self._lock = threading.Lock()

    def client(self) -> SentryClient:
        with self._lock:
            if self._client is None:
                self._client = SentryClient(
                    self.config,
                    self.reporter,
                    scrubber=self.scrubber,
                    gate=self.gate,
                    resource=self.resource,
                )
            return self._client

    def acquire(self) -> None:
        with self._lock:
            self._users += 1

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            client = self._client if self._users <= 0 else None
            if client is not None:
                self._client = None  # a later user (``telemetry send``) gets a fresh client
        if client is not None:
            client.close()


class SentryExporter(SpanExporter):
    """Sends every exception event of the spans it gets as a Sentry error event (opening the
    run's release-health session) and forwards the spans to the DSN's OTLP endpoint."""

    def __init__(
        self,
        config: TelemetryConfig,
        reporter: str,
        *,
        scrubber: Scrubber,
        gate: Gate,
        resource: Resource | None = None,
        hub: SentryHub | None = None,
    ) -> None:
        self.hub = hub or SentryHub(
            config, reporter, scrubber=scrubber, gate=gate, resource=resource
        )
        self.sentry = self.hub.client()
        self.hub.acquire()
        self.packages = frozenset({package_name(reporter), *config.sentry_in_app})
        # The batch processor never calls an exporter's force_flush, so ``export`` itself waits
        # (in the processor's worker thread, never the event loop) until its events went out.
        self.flush_timeout = min(config.otlp_timeout, CLOSE_TIMEOUT)
        self._closed = False
        self.otlp: SpanExporter | None = None
        if config.sentry_traces and config.sentry_dsn:
            from otel_discord.exporters._registry import make_otlp_exporter

            url, headers = sentry_otlp_target(config.sentry_dsn)
            self.otlp = make_otlp_exporter(url, "http/protobuf", headers, config.otlp_timeout)

    @property
    def dropped_unscrubbable(self) -> int:
        """Events dropped because the scrubber failed on them (fail closed)."""
        return self.sentry.dropped_unscrubbable

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._closed:
            return SpanExportResult.FAILURE
        # Errors first, then the spans (the OTLP path may retry until its timeout).
        self.sentry.capture(exception_events(spans, self.packages), self.flush_timeout)
        if self.otlp is None:
            return SpanExportResult.SUCCESS
        return self.otlp.export(spans)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.sentry.flush(timeout_millis / 1000)
        return self.otlp.force_flush(timeout_millis) if self.otlp is not None else True

    def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.hub.release()
        finally:
            if self.otlp is not None:
                self.otlp.shutdown()


class SentryStartupExporter(LogRecordExporter):
    """Opens the run's release-health session when the start-up event is exported (so a bot
    that never ends a span still counts in release adoption). Product events never go to
    Sentry: every record is dropped here."""

    def __init__(self, hub: SentryHub) -> None:
        self.hub = hub
        self.hub.acquire()
        self._closed = False

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        if self._closed or not any(r.log_record.event_name == STARTED for r in batch):
            return LogRecordExportResult.SUCCESS
        try:
            # In the event processor's worker thread: wait (bounded) until the session is out.
            self.hub.client().flush(min(self.hub.config.otlp_timeout, CLOSE_TIMEOUT))
        except Exception as exc:
            log.warning("otel_discord: cannot start the Sentry session: %s", exc)
            return LogRecordExportResult.FAILURE
        return LogRecordExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def shutdown(self) -> None:
        if not self._closed:
            self._closed = True
            self.hub.release()


class _NoEvents(LogRecordExporter):
    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


#: The hub of each reporter, by the identity of its config object (``Reporter`` hands the same
#: object to both factories). Weak: an entry goes with its reporter's exporter factories.
_HUBS: weakref.WeakValueDictionary[int, SentryHub] = weakref.WeakValueDictionary()


def _hub_of(config: TelemetryConfig) -> SentryHub | None:
    hub = _HUBS.get(id(config))
    # The hub holds its config, so while it lives no other object can have that id.
    return hub if hub is not None and hub.config is config else None


def sentry_exporter_factory(
    config: TelemetryConfig,
    reporter: str,
    *,
    scrubber: Scrubber | None = None,
    gate: Gate | None = None,
    resource: Resource | None = None,
) -> Callable[[], SpanExporter]:
    """A factory for the pipeline: the exporter (and its client) is built on the first consented
    span only, so without consent there is no client, no thread and no request."""
    hub = SentryHub(
        config,
        reporter,
        scrubber=scrubber or Scrubber(default_rules(id_mode=config.id_mode)),
        gate=gate or (lambda: True),
        resource=resource,
    )
    _HUBS[id(config)] = hub

    def factory() -> SpanExporter:
        return SentryExporter(
            config, reporter, scrubber=hub.scrubber, gate=hub.gate, resource=resource, hub=hub
        )

    return factory


def sentry_log_exporter_factory(
    config: TelemetryConfig, reporter: str
) -> Callable[[], LogRecordExporter]:
    """The event-side factory: the start-up event opens the session of the reporter's hub (made
    by :func:`sentry_exporter_factory` for the same config); other events are dropped."""
    hub = _hub_of(config)
    if hub is None:
        return _NoEvents
    return functools.partial(SentryStartupExporter, hub)
