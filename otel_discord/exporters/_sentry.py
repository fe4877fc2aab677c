"""Sentry exporter (extra ``otel-discord[sentry]``): errors as Sentry issues, spans over OTLP.

A span exporter in the pipeline, so it only ever sees consented, scrubbed spans. Each reporter
gets its own ``sentry_sdk.Client``: nothing calls ``sentry_sdk.init`` or touches the host bot's
hub, scopes, integrations or OpenTelemetry globals. Events are built whole here and handed to this
client with no scope at all (``client.capture_event(event, scope=None)``): any scope, even a
private one, runs the event processors of the SDK's global list and of the host's global,
isolation and current scopes (``Scope.run_event_processors``), which would let the host read our
events and write its tags and extra into them. Product events become Sentry logs, sent as a
``log`` envelope item through the same client's transport (no scope either).

Error reports and events that a down or failing (5xx) server did not take wait in the reporter's
disk queue (:mod:`otel_discord._durable`) and are sent again later, also after a restart.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import logging
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit, urlunsplit

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_discord._attributes import EVENT_CATEGORY, INSTALL_ID
from otel_discord._durable import (
    CATEGORIES,
    CategoryGate,
    DurableDelivery,
    DurableQueue,
    QueueEntry,
    Sender,
)
from otel_discord._version import __version__
from otel_discord.config import TelemetryConfig
from otel_discord.exporters._sentry_event import exception_events, log_items, package_name
from otel_discord.scrubbing import Scrubber, default_rules

if TYPE_CHECKING:
    import sentry_sdk
    from sentry_sdk._types import Event
    from sentry_sdk.envelope import Envelope
    from sentry_sdk.session import Session
    from sentry_sdk.transport import HttpTransport, Transport

    from otel_discord._durable import _Attempt

__all__ = [
    "SentryClient",
    "SentryEventExporter",
    "SentryExporter",
    "SentryHub",
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


def scrub_event(
    scrubber: Scrubber,
    event: Mapping[str, Any],
    *,
    release: str | None = None,
    environment: str | None = None,
) -> dict[str, Any]:
    """Run ``scrubber`` over every key and value of a Sentry event (message, exception values,
    frames' paths and source lines, breadcrumbs, tags, extra, contexts, user).

    ``release`` and ``environment`` are the client's own settings: an event whose ``release`` or
    ``environment`` is exactly that value keeps it as it is (any other value is scrubbed)."""
    cleaned = scrubber.scrub_data(event)
    if not isinstance(cleaned, dict):
        raise TypeError("the scrubber did not return a mapping")
    # The reporter's name and version (the cog's code) or the owner's ``sentry_release`` and
    # ``sentry_environment``: settings, not user data. The release-health session carries them
    # as set (no scrubber sees it), so must the event, or release health would not match the
    # issues (``mycog@1.2.3.4`` would become ``mycog@IP-ADDRESS`` here only).
    for key, configured in (("release", release), ("environment", environment)):
        if configured is not None and event.get(key) == configured:
            cleaned[key] = configured
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


def scrub_logs(
    scrubber: Scrubber,
    items: Sequence[Mapping[str, Any]],
    *,
    release: str | None = None,
    environment: str | None = None,
) -> list[dict[str, Any]]:
    """Run ``scrubber`` over every key and value of Sentry log items, keeping their random
    trace and span ids intact, and their ``sentry.release`` and ``sentry.environment``
    attributes when they are exactly the client's settings (as :func:`scrub_event` does)."""
    kept = {"sentry.release": release, "sentry.environment": environment}
    cleaned = scrubber.scrub_data({"items": list(items)})
    out = cleaned.get("items") if isinstance(cleaned, dict) else None
    if not isinstance(out, list) or len(out) != len(items):
        raise TypeError("the scrubber did not return the log items")
    for before, after in zip(items, out, strict=True):
        if not isinstance(after, dict):
            raise TypeError("the scrubber did not return a log item")
        for k in ("trace_id", "span_id"):
            if _HEX_ID.match(str(before.get(k, ""))):
                after[k] = before[k]
        attrs, out_attrs = before.get("attributes"), after.get("attributes")
        if not isinstance(attrs, Mapping) or not isinstance(out_attrs, dict):
            continue
        for k, configured in kept.items():
            value = attrs.get(k)
            if (
                configured is not None
                and isinstance(value, Mapping)
                and value.get("value") == configured
            ):
                out_attrs[k] = dict(value)
    return out


#: The consent category a failed envelope is queued under, or None to drop it: error reports
#: (``event`` items) are ``errors``; a ``log`` envelope holds one category's events (see
#: ``capture_logs``). Session updates are not kept (a late ``init`` or ``exited`` would mislead).
def _queue_category(envelope: Envelope) -> str | None:
    types = {item.type for item in envelope.items}
    if "event" in types:
        return "errors"
    if types != {"log"}:
        return None
    found: set[object] = set()
    for item in envelope.items:
        payload = item.payload.json or {}
        for entry in payload.get("items", ()):
            category = (entry.get("attributes") or {}).get(EVENT_CATEGORY) or {}
            found.add(category.get("value"))
    category = found.pop() if len(found) == 1 else None
    return category if isinstance(category, str) and category in CATEGORIES else None


#: Envelopes one transport follows until the server answers (memory bound). Normally no more
#: than the SDK's queue plus the one being sent; past it the oldest is written to disk at once.
MAX_IN_FLIGHT = 2 * QUEUE_SIZE + 2
#: The first sentry-sdk with the transport hooks :func:`_durable_transport` overrides.
HOOKS_SINCE = "2.57.0"


def _drop_queued(transport: object) -> None:
    """Empty the SDK worker's queue of ``transport`` (at kill, after the close timeout): what
    the client could not deliver in time is not sent one request after the other by a worker
    that outlives the client, and the worker's stop marker fits (with a full queue the SDK's
    kill fails and its thread waits forever). The worker ends with the request it is in, at
    most one request timeout later. The SDK has its own queue class (sentry_sdk._queue.Queue,
    not queue.Queue): duck-typed, bounded."""
    queue = getattr(getattr(transport, "_worker", None), "_queue", None)
    get_nowait = getattr(queue, "get_nowait", None)
    task_done = getattr(queue, "task_done", None)
    for _ in range(QUEUE_SIZE + MAX_IN_FLIGHT + 1):
        if get_nowait is None:
            break
        try:
            get_nowait()
        except Exception:  # its Empty, whichever class that is
            break
        if task_done is not None:
            with contextlib.suppress(Exception):
                task_done()


@functools.cache
def _timed_transport(timeout: float) -> type[Transport]:
    """sentry-sdk's HTTP transport for a client without the disk queue: requests time out after
    ``timeout`` (the SDK's own default is 30 s) and what the close timeout did not deliver is
    dropped at kill (:func:`_drop_queued`), which bounds how long the SDK's worker thread
    outlives the client, as :func:`_durable_transport` does."""
    from sentry_sdk.transport import HttpTransport

    class TimedTransport(HttpTransport):
        TIMEOUT = timeout  # type: ignore[assignment]  # an int in the SDK's hints; urllib3 takes floats

        def kill(self) -> None:
            _drop_queued(self)
            super().kill()

    return TimedTransport


@functools.cache
def _hooked_transport() -> type[HttpTransport] | None:
    """sentry-sdk's HTTP transport if it has the hooks the disk queue needs, else None (said
    once: then Sentry envelopes the server did not take are not kept on disk)."""
    from sentry_sdk.consts import VERSION
    from sentry_sdk.transport import HttpTransport

    if all(hasattr(HttpTransport, n) for n in ("_handle_request_error", "_handle_response")):
        return HttpTransport
    log.warning(
        "otel_discord: sentry-sdk %s lacks the transport hooks the disk queue needs (they came "
        "in %s): Sentry error reports and events are not kept on disk",
        VERSION,
        HOOKS_SINCE,
    )
    return None


@functools.cache
def _durable_transport(timeout: float = 30.0) -> type[Transport] | None:
    """sentry-sdk's HTTP transport that keeps on disk what the server has not confirmed.

    Every error report or event envelope it is handed is tracked by the reporter's delivery
    (:meth:`DurableDelivery.track`) until the server answers in the SDK's worker thread: a 2xx
    confirms it, a refused connection, a timeout or a 5xx saves it, another refusal drops it.
    One the SDK's full queue refused is saved at once; :meth:`close_in_flight` (at close) and the
    reporter's ``spill`` save the rest, and a late 2xx deletes the saved copy again. Requests
    time out after ``timeout`` (the SDK's own default is 30 s), which bounds how long the SDK's
    worker thread outlives the client. None when this sentry-sdk lacks the hooks."""
    base = _hooked_transport()
    if base is None:
        return None

    class DurableTransport(base):  # type: ignore[valid-type,misc]
        TIMEOUT = timeout

        def __init__(self, options: dict[str, Any]) -> None:
            self.delivery: DurableDelivery | None = None  # set by the client that owns it
            self._in_flight: OrderedDict[int, tuple[Envelope, _Attempt]] = OrderedDict()
            self._lock = threading.Lock()
            self._local = threading.local()
            self._sending: _Attempt | None = None
            self._killed = False
            super().__init__(options)

        def _save(self, envelope: Envelope, category: str) -> Callable[[], list[QueueEntry]]:
            def save() -> list[QueueEntry]:
                delivery = self.delivery
                if delivery is None or not delivery.gate(category):
                    return []
                try:
                    entry = delivery.queue.put("sentry", category, envelope.serialize())
                except Exception:
                    log.warning("otel_discord: could not queue a Sentry envelope", exc_info=True)
                    return []
                return [entry] if entry is not None else []

            return save

        def capture_envelope(self, envelope: Envelope) -> None:
            delivery = self.delivery
            category = _queue_category(envelope) if delivery is not None else None
            if delivery is None or category is None:
                super().capture_envelope(envelope)
                return
            attempt = delivery.track(self._save(envelope, category))
            with self._lock:
                self._in_flight[id(envelope)] = (envelope, attempt)
                over = (
                    self._in_flight.popitem(last=False)[1][1]
                    if len(self._in_flight) > MAX_IN_FLIGHT
                    else None
                )
            if over is not None:
                delivery.abandon(over)
                delivery.settle(over, None)
            self._local.refused = False
            self._local.capturing = True
            try:
                super().capture_envelope(envelope)
            finally:
                self._local.capturing = False
            if self._local.refused:  # the SDK's queue is full: it will never send this one
                self._forget(envelope)
                delivery.settle(attempt, False)

        def on_dropped_event(self, reason: str) -> None:
            if reason == "full_queue" and getattr(self._local, "capturing", False):
                self._local.refused = True
            super().on_dropped_event(reason)

        def _forget(self, envelope: Envelope) -> _Attempt | None:
            with self._lock:
                record = self._in_flight.get(id(envelope))
                if record is None or record[0] is not envelope:
                    return None
                del self._in_flight[id(envelope)]
                return record[1]

        def _send_envelope(self, envelope: Envelope) -> None:
            with self._lock:
                record = self._in_flight.get(id(envelope))
            attempt = record[1] if record is not None and record[0] is envelope else None
            self._sending = attempt
            try:
                super()._send_envelope(envelope)
            finally:
                self._sending = None
                self._forget(envelope)
                if attempt is not None and self.delivery is not None:
                    # No answer settled it (rate limited, dropped unsent): nothing more to do.
                    self.delivery.settle(attempt, None)

        def _handle_request_error(
            self,
            envelope: Envelope | None,
            loss_reason: str = "network",
            record_reason: str = "network_error",
        ) -> None:
            # A refused connection, a timeout or a 5xx: the server may take it later. Other
            # answers (4xx, 413) refuse this envelope for good; a 429 never comes here.
            transient = loss_reason == "network" or loss_reason.startswith("status_5")
            attempt, delivery = self._sending, self.delivery
            if attempt is not None and delivery is not None:
                delivery.settle(attempt, False if transient else None)
            super()._handle_request_error(envelope, loss_reason, record_reason)

        def _handle_response(self, response: Any, envelope: Envelope | None) -> None:
            super()._handle_response(response=response, envelope=envelope)
            attempt, delivery = self._sending, self.delivery
            if attempt is not None and delivery is not None and 200 <= int(response.status) < 300:
                delivery.settle(attempt, True)

        def close_in_flight(self) -> None:
            """Write every envelope not confirmed yet to disk (the client is closing: those in
            the SDK's queue would be lost, the one being sent may wait for the timeout)."""
            delivery = self.delivery
            if delivery is None:
                return
            with self._lock:
                attempts = [attempt for _, attempt in self._in_flight.values()]
            for attempt in attempts:
                delivery.abandon(attempt)
            if any(attempt.saved for attempt in attempts):
                delivery.after_export(False)  # the drain thread sends them later

        def kill(self) -> None:
            self._killed = True
            # What waits in the SDK's queue is on disk already (close_in_flight); dropped here
            # it is not sent twice (see _drop_queued).
            _drop_queued(self)
            super().kill()
            with self._lock:
                rest = [a for _, a in self._in_flight.values() if a is not self._sending]
                self._in_flight.clear()
            for attempt in rest:
                if self.delivery is not None:
                    self.delivery.settle(attempt, None)

    return DurableTransport


#: Answers after which a queued envelope is tried again (as for queued OTLP batches); any other
#: 4xx refuses it for good.
_RETRYABLE_HTTP = (401, 403, 408, 429)


def _restamped(envelope: bytes) -> bytes:
    """``envelope`` with ``sent_at`` set to now: the server corrects event times by the gap
    between ``sent_at`` and its clock, and a stale one would move a queued event's time."""
    head, sep, rest = envelope.partition(b"\n")
    try:
        headers = json.loads(head)
    except ValueError:
        return envelope
    if not isinstance(headers, dict):
        return envelope
    headers["sent_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return json.dumps(headers, separators=(",", ":")).encode() + sep + rest


def envelope_sender(dsn: str, timeout: float) -> Sender:
    """Send one serialized envelope (from the disk queue) to the DSN's envelope endpoint: True
    when taken, False to try again later, None when refused for good."""
    from sentry_sdk.consts import EndpointType
    from sentry_sdk.utils import Dsn

    auth = Dsn(dsn).to_auth(f"otel_discord/{__version__}")
    url = auth.get_api_url(EndpointType.ENVELOPE)
    headers = {"Content-Type": "application/x-sentry-envelope", "X-Sentry-Auth": auth.to_header()}

    def send(payload: bytes) -> bool | None:
        request = urllib.request.Request(
            url, data=_restamped(payload), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return 200 <= int(response.status) < 300
        except urllib.error.HTTPError as exc:
            return False if exc.code in _RETRYABLE_HTTP or exc.code >= 500 else None
        except (urllib.error.URLError, OSError, ValueError):
            return False

    return send


def sentry_delivery(
    config: TelemetryConfig, reporter: str, gate: CategoryGate
) -> DurableDelivery | None:
    """The reporter's disk queue for Sentry envelopes, ``<data_dir>/queue/<reporter>/sentry/``,
    or None (disabled, or this sentry-sdk has no transport hooks). Its own directory and drain
    thread: the OTLP queue's thread sends to the OTLP backend and answers to its outages.
    ``gate`` is the reporter's consent by category, asked again before each entry is sent."""
    if config.queue_max_bytes == 0 or not config.sentry_dsn:
        return None
    try:
        if _hooked_transport() is None:
            return None
        send = envelope_sender(config.sentry_dsn, max(0.1, config.otlp_timeout))
    except Exception:  # no sentry-sdk, or a DSN it cannot parse: the client will say so
        return None
    from otel_discord.consent import _safe_name

    queue = DurableQueue(
        config.resolved_data_dir() / "queue" / _safe_name(reporter) / "sentry",
        max_bytes=config.queue_max_bytes,
        max_age=config.queue_max_age,
    )
    return DurableDelivery(
        queue,
        {"sentry": send},
        gate,
        retry_interval=config.queue_retry_interval,
        name=f"{_safe_name(reporter)}/sentry",
    )


class SentryClient:
    """One reporter's ``sentry_sdk.Client`` and release-health session."""

    def __init__(
        self,
        config: TelemetryConfig,
        reporter: str,
        *,
        scrubber: Scrubber,
        gate: Gate,
        resource: Resource | None = None,
        delivery: DurableDelivery | None = None,
        session: bool = True,
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
        self.resource = resource
        self.delivery = delivery
        self.dropped_unscrubbable = 0
        self._lock = threading.Lock()
        self._closed = False
        # Logs without a span of their own share one random trace id per run (Sentry wants one).
        self.trace_id = uuid.uuid4().hex
        # Requests time out after otlp_timeout (not the SDK's 30 s), with or without the disk
        # queue (the durable transport needs the queue; without it, the plain timed one).
        timeout = max(0.1, config.otlp_timeout)
        durable = _durable_transport(timeout) if delivery is not None else None
        transport = durable or _timed_transport(timeout)
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
            transport=transport,
            **_no_personal_data(),
        )
        if delivery is not None and durable is not None:
            live = self.client.transport
            if isinstance(live, durable):
                hooks: Any = live  # the subclass's own attributes
                hooks.delivery = delivery
        install_id = attrs.get(INSTALL_ID)
        self.user = {"id": str(install_id)} if install_id else None
        # Release health: one session per bot run (this client is built once per run, on first
        # use). Sent now so adoption shows at once, and again when it ends. Not for a report the
        # owner shares by hand without consent (``telemetry send``): that is one event only.
        self.session: Session | None = None
        if session and gate():
            self.session = Session(
                release=self.release,
                environment=self.environment,
                user=self.user,
                session_mode="application",
            )
            self.client.capture_session(self.session)
            self._send_sessions()
            if delivery is not None:
                delivery.resume()  # what an earlier run (or outage) left goes out now

    def _before_send(self, event: Any, hint: Any) -> Any:
        try:
            return scrub_event(
                self.scrubber, event, release=self.release, environment=self.environment
            )
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
        captured = 0
        for event in events:
            if self._closed:
                break
            if self.user is not None:
                event.setdefault("user", dict(self.user))
            try:
                # No scope: see the module docstring (the host's processors would run on it).
                if self.client.capture_event(cast("Event", event), scope=None):
                    captured += 1
            except Exception:
                log.warning("otel_discord: could not queue a Sentry event", exc_info=True)
        if captured:
            # ``close`` takes the session under the same lock: never update one it ended.
            with self._lock:
                if self.session is not None and not self._closed:
                    self.session.update(errors=self.session.errors + captured)
            self.flush(flush_timeout)
        return captured

    def capture_logs(self, batch: Sequence[ReadableLogRecord], flush_timeout: float) -> int:
        """Send ``batch`` (already consented and scrubbed event records) as Sentry logs: one
        ``log`` envelope item per consent category, scrubbed once more whole, failing closed."""
        from sentry_sdk.envelope import Envelope, Item, PayloadRef

        by_category: dict[str, list[ReadableLogRecord]] = {}
        for record in batch:
            category = str((record.log_record.attributes or {}).get(EVENT_CATEGORY) or "usage")
            by_category.setdefault(category, []).append(record)
        sent = 0
        for records in by_category.values():
            items = log_items(
                records,
                release=self.release,
                environment=self.environment,
                user_id=self.user["id"] if self.user else None,
                trace_id=self.trace_id,
            )
            try:
                items = scrub_logs(
                    self.scrubber, items, release=self.release, environment=self.environment
                )
            except Exception as exc:
                self.dropped_unscrubbable += len(items)
                log.warning("otel_discord: dropped Sentry logs it could not scrub (%s)", exc)
                continue
            envelope = Envelope(
                headers={"sent_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                items=[
                    Item(
                        type="log",
                        content_type="application/vnd.sentry.items.log+json",
                        headers={"item_count": len(items)},
                        payload=PayloadRef(json={"items": items}),
                    )
                ],
            )
            transport = self.client.transport
            if self._closed or transport is None:
                break
            try:
                transport.capture_envelope(envelope)
                sent += len(items)
            except Exception:
                log.warning("otel_discord: could not queue Sentry logs", exc_info=True)
        if sent:
            self.flush(flush_timeout)
        return sent

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
        # Before the SDK drops what its queue holds: kept on disk (as consent still allows) unless
        # the server confirms it within the close timeout.
        close_in_flight = getattr(self.client.transport, "close_in_flight", None)
        if close_in_flight is not None:
            try:
                close_in_flight()
            except Exception:
                log.warning("otel_discord: could not queue Sentry envelopes", exc_info=True)
        # Consent withdrawn: nothing more leaves, not even the session's end.
        self.client.close(timeout=CLOSE_TIMEOUT if allowed else 0.0)


class SentryHub:
    """Shares one :class:`SentryClient` between a reporter's span exporter and its event
    exporter. The client is built on first use; the last exporter to shut down closes it."""

    def __init__(
        self,
        config: TelemetryConfig,
        reporter: str,
        *,
        scrubber: Scrubber,
        gate: Gate,
        resource: Resource | None = None,
        delivery: DurableDelivery | None = None,
    ) -> None:
        self.config = config
        self.reporter = reporter
        self.scrubber = scrubber
        self.gate = gate
        self.resource = resource
        self.delivery = delivery
        self._client: SentryClient | None = None
        self._users = 0
        self._lock = threading.Lock()

    def _new_client(self, *, session: bool = True) -> SentryClient:
        return SentryClient(
            self.config,
            self.reporter,
            scrubber=self.scrubber,
            gate=self.gate,
            resource=self.resource,
            delivery=self.delivery,
            session=session,
        )

    def _build(self) -> SentryClient:
        # With the lock held: a concurrent ``release`` can neither close nor replace it.
        if self._client is None:
            self._client = self._new_client()
        return self._client

    def client(self) -> SentryClient:
        """The shared client, built if needed. Only for a caller that holds a use
        (:meth:`acquire`): otherwise the last user's ``release`` may close it at any time."""
        with self._lock:
            return self._build()

    def acquire(self) -> None:
        """Count one more user; the client is built on its first :meth:`client` call."""
        with self._lock:
            self._users += 1

    def acquire_client(self) -> SentryClient:
        """Count one more user and return the client in one step, so no ``release`` in between
        closes the client this user got."""
        with self._lock:
            self._users += 1
            try:
                return self._build()
            except BaseException:
                self._users -= 1
                raise

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            client = self._client if self._users <= 0 else None
            if client is not None:
                self._client = None  # a later user (``telemetry send``) gets a fresh client
        # The disk queue's drain is the reporter's to stop (at its shutdown), not the last
        # exporter's: a one-off ``telemetry send`` releases the hub too.
        if client is not None:
            client.close()

    def acquire_once(self) -> tuple[SentryClient, bool]:
        """The client for one export the owner shares by hand (``telemetry send``): the run's
        live client (counted as a use, True), or else a private one without a release-health
        session (False: the caller closes it), so the run keeps one session."""
        with self._lock:
            if self._client is not None:
                self._users += 1
                return self._client, True
        return self._new_client(session=False), False


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
        once: bool = False,
    ) -> None:
        self.hub = hub or SentryHub(
            config, reporter, scrubber=scrubber, gate=gate, resource=resource
        )
        self._shared = True
        if once:
            self.sentry, self._shared = self.hub.acquire_once()
        else:
            self.sentry = self.hub.acquire_client()
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
            if self._shared:
                self.hub.release()
            else:
                self.sentry.close()
        finally:
            if self.otlp is not None:
                self.otlp.shutdown()


class SentryEventExporter(LogRecordExporter):
    """Product events and the start-up event as Sentry logs (see :meth:`SentryClient.capture_logs`).
    The start-up event also opens the run's release-health session, so a bot that never ends a
    span still counts in release adoption."""

    def __init__(self, hub: SentryHub) -> None:
        self.hub = hub
        self.hub.acquire()
        self._closed = False

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        if self._closed or not batch:
            return LogRecordExportResult.SUCCESS
        timeout = min(self.hub.config.otlp_timeout, CLOSE_TIMEOUT)
        try:
            # In the event processor's worker thread: waits (bounded) until they are out. This
            # exporter holds a use, so the client cannot be closed under it.
            self.hub.client().capture_logs(batch, timeout)
        except Exception as exc:
            log.warning("otel_discord: cannot send events to Sentry: %s", exc)
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
    category_gate: CategoryGate | None = None,
    resource: Resource | None = None,
) -> Callable[[], SpanExporter]:
    """A factory for the pipeline: the exporter (and its client) is built on the first consented
    span only, so without consent there is no client and no request. ``category_gate`` is the
    reporter's consent by category (``errors``, ``usage``) for the disk queue; without it only
    ``errors`` entries are kept, under ``gate``. What an earlier run left in the queue is sent
    now, entry by entry as its category allows; what it no longer allows is deleted unsent."""
    gate = gate or (lambda: True)
    errors_gate = gate
    delivery = sentry_delivery(
        config, reporter, category_gate or (lambda c: c == "errors" and errors_gate())
    )
    hub = SentryHub(
        config,
        reporter,
        scrubber=scrubber or Scrubber(default_rules(id_mode=config.id_mode)),
        gate=gate,
        resource=resource,
        delivery=delivery,
    )
    _HUBS[id(config)] = hub
    if delivery is not None:
        delivery.resume()  # as the OTLP queue at start: send what consent allows, drop the rest

    return _ExporterFactory(config, reporter, hub, resource)


class _ExporterFactory:
    """Builds the reporter's Sentry span exporter; :meth:`once` one for a single export the
    owner shares by hand, which opens no second session and leaves the disk queue running."""

    def __init__(
        self, config: TelemetryConfig, reporter: str, hub: SentryHub, resource: Resource | None
    ) -> None:
        self.config, self.reporter, self.hub, self.resource = config, reporter, hub, resource

    def __call__(self, *, once: bool = False) -> SpanExporter:
        hub = self.hub
        return SentryExporter(
            self.config,
            self.reporter,
            scrubber=hub.scrubber,
            gate=hub.gate,
            resource=self.resource,
            hub=hub,
            once=once,
        )

    def once(self) -> SpanExporter:
        return self(once=True)


def sentry_delivery_of(config: TelemetryConfig) -> DurableDelivery | None:
    """The Sentry disk queue of the reporter whose config this is (for its shutdown and
    ``queue_status``, also when no Sentry exporter was ever built)."""
    hub = _hub_of(config)
    return hub.delivery if hub is not None else None


def sentry_log_exporter_factory(
    config: TelemetryConfig, reporter: str
) -> Callable[[], LogRecordExporter]:
    """The event-side factory: events go as Sentry logs through the client of the reporter's
    hub (made by :func:`sentry_exporter_factory` for the same config)."""
    hub = _hub_of(config)
    if hub is None:
        return _NoEvents
    return functools.partial(SentryEventExporter, hub)
