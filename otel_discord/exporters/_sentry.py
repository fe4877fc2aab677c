"""Sentry exporter (extra ``otel-discord[sentry]``): errors as Sentry issues, spans over OTLP.

A span exporter in the pipeline, so it only ever sees consented, scrubbed spans. Each reporter
gets its own ``sentry_sdk.Client`` and ``sentry_sdk.Scope``: nothing calls ``sentry_sdk.init``
or touches the host bot's hub, scopes, integrations or OpenTelemetry globals. Events go straight
to this client with this scope (``client.capture_event(event, scope=...)``), never through
``Scope.capture_event``, which would merge in the host's global and isolation scopes.
"""

from __future__ import annotations

import inspect
import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit, urlunsplit

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_discord._attributes import INSTALL_ID
from otel_discord.config import TelemetryConfig
from otel_discord.exporters._sentry_event import exception_events, package_name
from otel_discord.scrubbing import Scrubber, default_rules

if TYPE_CHECKING:
    import sentry_sdk
    from sentry_sdk._types import Event
    from sentry_sdk.session import Session

__all__ = ["SentryExporter", "scrub_event", "sentry_exporter_factory", "sentry_otlp_target"]

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


def _walk(scrubber: Scrubber, value: Any, key: str | None) -> Any:
    if key is not None:
        for rule in scrubber.rules:
            if rule.redacts_key(key):
                return rule.marker
    if isinstance(value, Mapping):
        return {scrubber.scrub_text(str(k)): _walk(scrubber, v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_walk(scrubber, v, None) for v in value]
    return scrubber.scrub_value(key, value)


def scrub_event(scrubber: Scrubber, event: Mapping[str, Any]) -> dict[str, Any]:
    """Run ``scrubber`` over every key and value of a Sentry event (message, exception values,
    frames' paths and source lines, breadcrumbs, tags, extra, contexts, user)."""
    scrub_data = getattr(scrubber, "scrub_data", None)
    cleaned = scrub_data(event) if scrub_data is not None else _walk(scrubber, event, None)
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


class SentryExporter(SpanExporter):
    """Sends every exception event of the spans it gets as a Sentry error event, opens one
    release-health session per bot run, and forwards the spans to the DSN's OTLP endpoint."""

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
        self.packages = frozenset({package_name(reporter), *config.sentry_in_app})
        self.dropped_unscrubbable = 0
        # The batch processor never calls an exporter's force_flush, so ``export`` itself waits
        # (in the processor's worker thread, never the event loop) until its events went out.
        self.flush_timeout = min(config.otlp_timeout, CLOSE_TIMEOUT)
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
        # Release health: one session per bot run (this exporter is built once per run, on the
        # first consented span). Sent now so adoption shows at once, and again when it ends.
        self.session: Session | None = Session(
            release=self.release,
            environment=self.environment,
            user=user,
            session_mode="application",
        )
        self.client.capture_session(self.session)
        self._send_sessions()
        self.otlp: SpanExporter | None = None
        if config.sentry_traces:
            from otel_discord.exporters._registry import make_otlp_exporter

            url, headers = sentry_otlp_target(config.sentry_dsn)
            self.otlp = make_otlp_exporter(url, "http/protobuf", headers, config.otlp_timeout)

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

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._closed:
            return SpanExportResult.FAILURE
        # Errors first: capturing queues them for the transport's own worker thread (bounded
        # queue; it honours 429 Retry-After and drops what the backend refuses).
        captured = 0
        for event in exception_events(spans, self.packages):
            try:
                if self.client.capture_event(cast("Event", event), scope=self.scope):
                    captured += 1
            except Exception:
                log.warning("otel_discord: could not queue a Sentry event", exc_info=True)
        if captured:
            if self.session is not None:
                self.session.update(errors=self.session.errors + captured)
            self.client.flush(timeout=self.flush_timeout)
        if self.otlp is None:
            return SpanExportResult.SUCCESS
        return self.otlp.export(spans)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.client.flush(timeout=timeout_millis / 1000)
        return self.otlp.force_flush(timeout_millis) if self.otlp is not None else True

    def shutdown(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        session, self.session = self.session, None
        allowed = self.gate()
        if session is not None and allowed:
            session.close()
            self.client.capture_session(session)
        try:
            # Consent withdrawn: nothing more leaves, not even the session's end.
            self.client.close(timeout=CLOSE_TIMEOUT if allowed else 0.0)
        finally:
            if self.otlp is not None:
                self.otlp.shutdown()


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

    def factory() -> SpanExporter:
        return SentryExporter(
            config,
            reporter,
            scrubber=scrubber or Scrubber(default_rules(id_mode=config.id_mode)),
            gate=gate or (lambda: True),
            resource=resource,
        )

    return factory
