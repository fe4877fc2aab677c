"""Error reports: unwrap, classify, deduplicate, attach breadcrumbs, keep a local buffer.

A report is built whether or not the owner opted in, because the owner cog's ``preview`` shows it
and ``send <code>`` may share it; it leaves the process only with consent, or by ``send``.
"""

from __future__ import annotations

import logging
import random
import secrets
import sysconfig
import threading
import time
import traceback
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from discord import app_commands
from discord.ext import commands
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Span, SpanContext, Status, StatusCode, TraceFlags

from otel_discord import _attributes as A
from otel_discord._pipeline import export_once, scrub_span
from otel_discord._version import __version__
from otel_discord.consent import kill_switch
from otel_discord.hooks._arguments import argument_scrubber
from otel_discord.scrubbing import Scrubber, cut_text

if TYPE_CHECKING:
    from otel_discord._reporter import Reporter

__all__ = [
    "DEFAULT_USER_ERRORS",
    "ErrorReport",
    "ErrorReports",
    "innermost_frame",
    "is_user_error",
    "unwrap",
]

log = logging.getLogger("otel_discord.hooks")

#: Errors caused by the person using a command, not by the code: never reported by default.
DEFAULT_USER_ERRORS: tuple[type[BaseException], ...] = (
    commands.UserInputError,
    commands.CheckFailure,
    commands.CommandNotFound,
    commands.CommandOnCooldown,
    commands.MaxConcurrencyReached,
    commands.DisabledCommand,
    app_commands.TransformerError,
    app_commands.CheckFailure,  # includes app_commands.CommandOnCooldown, MissingPermissions...
    app_commands.CommandNotFound,
)

_WRAPPERS = (
    commands.CommandInvokeError,
    commands.HybridCommandError,
    app_commands.CommandInvokeError,
)

#: Frames of these packages (and of the standard library) are never "the author's" frame.
_LIBRARY_PACKAGES = ("discord", "aiohttp", "asyncio", "redbot", "otel_discord")
_STDLIB = sysconfig.get_paths()["stdlib"]

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

#: Values set by the code, never by whoever typed the command: an argument that happens to
#: equal one (``!help help``) leaves them alone, so reports stay grouped by command and type.
_CODE_SET_KEYS = frozenset(
    {
        A.DISCORD_KIND,
        A.DISCORD_COMMAND,
        A.DISCORD_COG,
        A.DISCORD_LISTENER,
        A.DISCORD_LOOP,
        A.ERROR_TYPE,
        A.ERROR_CODE,
        A.CODE_FUNCTION,
        A.EXCEPTION_TYPE,
        A.EXCEPTION_ESCAPED,
        A.BREADCRUMB_LEVEL,
        A.BREADCRUMB_LOGGER,
    }
)
#: Where each reporter's code for an exception is kept: ``{reporter name: code or None}``.
_CODES = "__otel_discord_reported__"


def unwrap(exc: BaseException) -> BaseException:
    """The original exception inside discord.py's invoke wrappers."""
    seen = 0
    while isinstance(exc, _WRAPPERS) and seen < 10:
        original = getattr(exc, "original", None)
        if not isinstance(original, BaseException):
            break
        exc, seen = original, seen + 1
    return exc


def is_user_error(exc: BaseException, user_errors: tuple[type[BaseException], ...]) -> bool:
    return isinstance(exc, user_errors) or isinstance(unwrap(exc), user_errors)


def _frames(tb: TracebackType | None) -> list[TracebackType]:
    frames: list[TracebackType] = []
    while tb is not None and len(frames) < 500:
        frames.append(tb)
        tb = tb.tb_next
    return frames


def _module_of(tb: TracebackType) -> str:
    name = tb.tb_frame.f_globals.get("__name__")
    return name if isinstance(name, str) else ""


def _is_library(tb: TracebackType) -> bool:
    module = _module_of(tb)
    top = module.split(".", 1)[0]
    if top in _LIBRARY_PACKAGES:
        return True
    return tb.tb_frame.f_code.co_filename.startswith(_STDLIB) and "site-packages" not in (
        tb.tb_frame.f_code.co_filename
    )


def innermost_frame(exc: BaseException) -> TracebackType | None:
    """The innermost frame of ``exc``'s root cause that is not discord.py, aiohttp, asyncio, Red
    or the standard library: the code of whichever author the error belongs to."""
    root = unwrap(exc)
    for _ in range(10):  # follow ``raise ... from cause`` to the root cause
        cause = root.__cause__
        if cause is None:
            break
        root = unwrap(cause)
    frames = _frames(root.__traceback__)
    for tb in reversed(frames):
        if not _is_library(tb):
            return tb
    return frames[-1] if frames else None


def in_packages(exc: BaseException, packages: Iterable[str]) -> bool:
    """Whether the author frame of ``exc`` lies in one of ``packages``."""
    tb = innermost_frame(exc)
    if tb is None:
        return False
    module = _module_of(tb)
    return any(module == p or module.startswith(p + ".") for p in packages)


class Breadcrumbs(logging.Handler):
    """Keeps the last ``size`` records of the loggers it is attached to (memory bounded)."""

    def __init__(self, size: int) -> None:
        super().__init__(logging.DEBUG)
        self.records: deque[tuple[int, str, str, str]] = deque(maxlen=max(size, 1))
        self.size = size
        self.watched: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        if self.size <= 0:
            return
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        self.records.append(
            (int(record.created * 1e9), record.levelname, record.name, cut_text(message, 1000))
        )

    def watch(self, logger_name: str) -> None:
        if not logger_name or logger_name in self.watched:
            return
        if logger_name == "otel_discord" or logger_name.startswith("otel_discord."):
            return
        self.watched.add(logger_name)
        logging.getLogger(logger_name).addHandler(self)

    def close(self) -> None:
        for name in self.watched:
            logging.getLogger(name).removeHandler(self)
        self.watched.clear()
        super().close()


class _Dedup:
    """At most ``limit`` reports per key per ``window`` seconds; ``max_keys`` bounds memory."""

    def __init__(self, limit: int, window: float, max_keys: int = 512) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        # key -> [window start, reports in window, suppressed since the last report]
        self._state: OrderedDict[tuple[str, str], list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def admit(self, key: tuple[str, str], now: float) -> tuple[bool, int]:
        """(report it?, how many identical errors were suppressed before it)."""
        with self._lock:
            state = self._state.get(key)
            if state is None or now - state[0] >= self.window:
                suppressed = int(state[2]) if state is not None else 0
                self._state[key] = [now, 1, 0]
                self._state.move_to_end(key)
                while len(self._state) > self.max_keys:
                    self._state.popitem(last=False)
                return True, suppressed
            if state[1] < self.limit:
                state[1] += 1
                suppressed, state[2] = int(state[2]), 0
                return True, suppressed
            state[2] += 1
            return False, 0


@dataclass(frozen=True)
class ErrorReport:
    """One error report as it would be sent (scrubbed), kept in the local buffer."""

    code: str
    span: ReadableSpan
    #: Whether it went to the pipeline automatically (consent was on when it was made).
    exported: bool


def _new_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(6))


def _redacted(
    scrubber: Scrubber, attributes: Mapping[str, Any] | None, counts: Counter[str]
) -> dict[str, Any]:
    return {
        k: v if k in _CODE_SET_KEYS else scrubber.scrub_value(k, v, counts)
        for k, v in (attributes or {}).items()
    }


def _exception_event(exc: BaseException) -> dict[str, Any]:
    return {
        A.EXCEPTION_TYPE: f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix(
            "builtins."
        ),
        A.EXCEPTION_MESSAGE: str(exc),
        A.EXCEPTION_STACKTRACE: "".join(
            traceback.format_exception(type(exc), exc, exc.__traceback__)
        ),
        A.EXCEPTION_ESCAPED: "True",
    }


class ErrorReports:
    """Per-reporter error reporting: filters, dedup, breadcrumbs, buffer, export."""

    def __init__(self, reporter: Reporter, *, buffer_size: int = 10) -> None:
        self.reporter = reporter
        config = reporter.config
        self.user_errors: tuple[type[BaseException], ...] = DEFAULT_USER_ERRORS
        self.breadcrumbs = Breadcrumbs(config.breadcrumbs)
        self._dedup = _Dedup(config.error_limit, config.error_window)
        self.buffer: deque[ErrorReport] = deque(maxlen=buffer_size)
        #: The argument values of the last invocations (as many as breadcrumbs are kept): the
        #: breadcrumbs they logged outlive them, and go in later reports.
        self.recent_arguments: deque[list[str]] = deque(maxlen=max(config.breadcrumbs, 1))
        self._scope = InstrumentationScope("otel_discord", __version__)

    def remember_arguments(self, values: list[str]) -> None:
        """Keep ``values`` (one invocation's; the caller may extend the list later) to redact
        from the breadcrumbs of the next reports."""
        if self.reporter.config.breadcrumbs > 0:
            self.recent_arguments.append(values)

    def should_report(self, exc: BaseException) -> bool:
        return not is_user_error(exc, self.user_errors)

    @staticmethod
    def _mark(exc: BaseException, name: str) -> dict[str, str | None] | None:
        """Mark ``exc`` as seen by reporter ``name``; None if it already was. The returned
        mapping takes the report's code (:meth:`code_for`)."""
        done: dict[str, str | None] | None = getattr(exc, _CODES, None)
        if done is None:
            done = {}
            try:
                setattr(exc, _CODES, done)
            except Exception:
                return done
        if name in done:
            return None
        done[name] = None
        return done

    def code_for(self, exc: BaseException) -> str | None:
        """The short code of the report this reporter made for ``exc`` (a discord.py wrapper
        such as ``CommandInvokeError`` is unwrapped), or None: not reported (a user error,
        another author's, deduplicated) or not yet. The report exists whether or not the owner
        opted in, so an error reply may show the code for ``telemetry send <code>``::

            @bot.event
            async def on_command_error(ctx, error):
                code = telemetry.errors.code_for(error)
                if code is not None:
                    await ctx.send(f"Something went wrong (error code {code}).")
        """
        try:
            done = getattr(unwrap(exc), _CODES, None)
            code = done.get(self.reporter.name) if isinstance(done, dict) else None
            return code if isinstance(code, str) else None
        except Exception:
            return None

    def capture(
        self,
        exc: BaseException,
        kind: str,
        attributes: Mapping[str, Any] | None = None,
        *,
        span: Span | None = None,
        name: str | None = None,
        arguments: Iterable[str] = (),
        parent: SpanContext | None = None,
    ) -> ErrorReport | None:
        """Report ``exc`` (of kind ``prefix``, ``slash``, ``hybrid``, ``listener`` or ``loop``).

        With ``span`` (a loop iteration) the report is added to that span, and sent as a span
        of its own (named ``name``) if that one is not recorded (sampled away): errors are
        always kept. ``arguments``: the invocation's argument values and message content,
        replaced by ``ARGUMENT`` in every string of the report. ``parent``: a recorded span the
        report belongs under (a failed command's span), in its trace. Never raises; returns the
        buffered report, or None if filtered (or if it could not be scrubbed: fail closed)."""
        try:
            return self._capture(exc, kind, attributes or {}, span, name, arguments, parent)
        except Exception as failure:
            # Fail closed, as the pipeline does: one local warning a minute, never the report.
            log.debug("otel_discord: could not build an error report", exc_info=True)
            with suppress(Exception):
                self.reporter._processor.warnings.warning(
                    "report",
                    "otel_discord: dropped an error report that could not be built or "
                    "scrubbed (%s)",
                    type(failure).__name__,
                )
            return None

    def _capture(
        self,
        exc: BaseException,
        kind: str,
        extra: Mapping[str, Any],
        span: Span | None,
        own_name: str | None,
        arguments: Iterable[str],
        parent: SpanContext | None = None,
    ) -> ErrorReport | None:
        root = unwrap(exc)
        if not self.should_report(exc):
            return None
        codes = self._mark(root, self.reporter.name)
        if codes is None:
            return None
        tb = innermost_frame(root)
        where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else "?"
        admitted, suppressed = self._dedup.admit((type(root).__qualname__, where), time.time())
        error_type = type(root).__qualname__
        if not admitted:
            if span is not None:
                span.set_attribute(A.ERROR_TYPE, error_type)
                span.set_status(Status(StatusCode.ERROR, error_type))
            return None
        code = _new_code()
        attributes: dict[str, Any] = {A.DISCORD_KIND: kind, **extra}
        attributes[A.ERROR_TYPE] = error_type
        attributes[A.ERROR_CODE] = code
        if tb is not None:
            attributes[A.CODE_FUNCTION] = tb.tb_frame.f_code.co_name
        if suppressed:
            attributes[A.SUPPRESSED] = suppressed
        now = time.time_ns()
        events = [Event("exception", _exception_event(root), now)]
        limit = self.reporter.config.breadcrumbs
        crumbs = list(self.breadcrumbs.records)[-limit:] if limit else []
        events.extend(
            Event(
                "breadcrumb",
                {A.BREADCRUMB_LEVEL: lvl, A.BREADCRUMB_LOGGER: name, A.BREADCRUMB_MESSAGE: msg},
                ts,
            )
            for ts, lvl, name, msg in crumbs
        )
        message = str(root)
        values = list(arguments)
        base = self.reporter.scrubber
        redact = argument_scrubber(base, values)
        earlier = [v for entry in list(self.recent_arguments) for v in entry] if crumbs else []
        # Earlier invocations' values only where they could have been logged: in breadcrumbs.
        crumb_redact = argument_scrubber(base, [*values, *earlier]) if earlier else redact
        if redact is not None or crumb_redact is not None:
            # Before anything reaches a span; the other rules run in the same pass (first).
            counts: Counter[str] = Counter()
            redact = redact or base
            crumb_redact = crumb_redact or redact
            events = [
                Event(
                    e.name,
                    _redacted(
                        crumb_redact if e.name == "breadcrumb" else redact, e.attributes, counts
                    ),
                    e.timestamp,
                )
                for e in events
            ]
            attributes = _redacted(redact, attributes, counts)
            message = redact.scrub_text(message, counts)
            # The pipeline finds nothing more to scrub, so this count is the one that is sent.
            attributes[A.SCRUBBED] = tuple(f"{k}:{v}" for k, v in sorted(counts.items()))
        status = Status(StatusCode.ERROR, f"{error_type}: {message}")
        recording = span is not None and span.is_recording()
        if span is not None and recording:
            span.set_attributes(attributes)
            for event in events:
                span.add_event(event.name, event.attributes, event.timestamp)
            span.set_status(status)
            name = getattr(span, "name", f"error {error_type}")
        else:
            name = own_name or f"error {error_type}"
        raw = ReadableSpan(
            name=name,
            # In the failed command's trace, as its child, when that span was recorded.
            context=SpanContext(
                parent.trace_id if parent is not None else random.getrandbits(128) or 1,
                random.getrandbits(64) or 1,
                False,
                TraceFlags(TraceFlags.SAMPLED),
            ),
            parent=parent,
            resource=self.reporter.resource,
            attributes=attributes,
            events=events,
            status=status,
            start_time=now,
            end_time=now,
            instrumentation_scope=self._scope,
        )
        processor = self.reporter._processor
        # Scrubbed before anything is sent: a report that cannot be scrubbed goes nowhere.
        scrubbed = scrub_span(raw, processor.scrubber, processor.resource)
        exported = self.reporter.enabled
        if exported and not recording:
            # Straight to the pipeline, whatever the sampler decided: errors are always kept.
            # A recorded span (sampled, or recorded for its errors) goes there when it ends.
            processor.on_end(raw)
        report = ErrorReport(code, scrubbed, exported)
        codes[self.reporter.name] = code
        self.buffer.append(report)
        return report

    # -- owner actions -----------------------------------------------------------------------

    def latest(self) -> ErrorReport | None:
        return self.buffer[-1] if self.buffer else None

    def find(self, code: str) -> ErrorReport | None:
        code = code.strip().upper()
        return next((r for r in reversed(self.buffer) if r.code == code), None)

    def send_refused(self) -> str | None:
        """Why :meth:`send` would refuse now, or None. The owner's ``send`` stands in for
        consent only: a kill switch, ``enabled = false`` in config and a shut-down reporter
        still win over it."""
        switch = kill_switch()
        if switch is not None:
            return f"{switch} is set"
        if self.reporter.config.enabled is False:
            return "enabled = false in the config"
        if self.reporter._closed:
            return "the reporter is shut down"
        return None

    def send(self, code: str, timeout: float = 10.0) -> bool:
        """Export the buffered report ``code`` now, consent or not (the owner chose to share
        it). Blocking: call it in a thread. True if every exporter took it."""
        report = self.find(code)
        if report is None or self.send_refused() is not None:
            return False
        # A factory's ``once`` (Sentry's) builds an exporter for this one export, which must not
        # end the run's session or disk queue when it shuts down.
        factories = [
            (name, getattr(factory, "once", factory))
            for name, factory in self.reporter._processor.factories
        ]
        return export_once(report.span, factories, timeout)
