"""Background loops: a real ``discord.ext.tasks.Loop`` whose every iteration is a span.

Each iteration starts its own trace, linked to the previous iteration, so a loop that runs for
weeks never grows one endless trace. The loop's lifecycle is discord.py's own: the iteration
wrapper records and re-raises, and only ``keep_running=True`` swallows an error.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from discord.ext import commands, tasks
from discord.utils import MISSING
from opentelemetry import trace

from otel_discord import _attributes as A

if TYPE_CHECKING:
    from otel_discord.hooks._errors import ErrorReports

__all__ = ["InstrumentedLoop", "instrument_loop", "loop"]

log = logging.getLogger("otel_discord.hooks")

LF = TypeVar("LF", bound=Callable[..., Coroutine[Any, Any, Any]])


@dataclass
class _LoopState:
    reports: ErrorReports
    keep_running: bool
    #: The previous iteration's span, per object the loop is bound to (None: unbound).
    previous: dict[int, trace.SpanContext] = field(default_factory=dict)


class InstrumentedLoop(tasks.Loop[LF]):
    """A ``tasks.Loop`` whose iterations are spans. Everything else is the plain loop."""

    _otel: _LoopState

    # ``tasks.Loop`` calls ``self.coro(...)`` for each iteration; the property hands it the
    # instrumented wrapper while keeping the author's function as the stored value.
    @property
    def coro(self) -> LF:
        raw: LF = self.__dict__["coro"]
        state: _LoopState | None = self.__dict__.get("_otel")
        if state is None:
            return raw
        cached = self.__dict__.get("_otel_wrapper")
        if cached is None or cached[0] is not raw:
            cached = (raw, _wrap(self, raw, state))
            self.__dict__["_otel_wrapper"] = cached
        wrapped: LF = cached[1]
        return wrapped

    @coro.setter
    def coro(self, value: LF) -> None:
        self.__dict__["coro"] = value

    @property
    def raw_coro(self) -> LF:
        """The author's loop function."""
        raw: LF = self.__dict__["coro"]
        return raw

    def __get__(self, obj: Any, objtype: Any) -> InstrumentedLoop[LF]:
        # Same as ``tasks.Loop.__get__``, but the per-instance copy is instrumented too.
        if obj is None:
            return self
        copy: InstrumentedLoop[LF] = InstrumentedLoop(
            self.raw_coro,
            seconds=self._seconds,
            hours=self._hours,
            minutes=self._minutes,
            time=self._time,
            count=self.count,
            reconnect=self.reconnect,
            name=self._name,
        )
        copy._injected = obj
        copy._before_loop = self._before_loop
        copy._after_loop = self._after_loop
        copy._error = self._error  # type: ignore[method-assign]
        copy._otel = _LoopState(self._otel.reports, self._otel.keep_running)
        setattr(obj, self.raw_coro.__name__, copy)
        return copy


def _interval(loop: tasks.Loop[Any]) -> float | None:
    if loop.time is not None:
        return None
    return (loop.seconds or 0) + (loop.minutes or 0) * 60 + (loop.hours or 0) * 3600


def _cog_name(obj: Any) -> str | None:
    if obj is None:
        return None
    if isinstance(obj, commands.Cog):
        return obj.qualified_name
    return type(obj).__name__


def _wrap(loop: InstrumentedLoop[Any], raw: LF, state: _LoopState) -> LF:
    reports = state.reports
    reporter = reports.reporter
    loop_name = getattr(raw, "__name__", "loop")

    @functools.wraps(raw)
    async def iteration(*args: Any, **kwargs: Any) -> Any:
        if asyncio.current_task() is not loop.get_task():
            return await raw(*args, **kwargs)  # called directly, not an iteration
        attributes: dict[str, Any] = {
            A.DISCORD_KIND: "loop",
            A.DISCORD_LOOP: loop_name,
            A.DISCORD_LOOP_ITERATION: loop.current_loop,
        }
        cog = _cog_name(loop._injected)
        if cog is not None:
            attributes[A.DISCORD_COG] = cog
        interval = _interval(loop)
        if interval is not None:
            attributes[A.DISCORD_LOOP_INTERVAL] = interval
        key = id(loop._injected)
        previous = state.previous.get(key)
        links = [trace.Link(previous)] if previous is not None else None
        error: Exception | None = None
        with reporter.span(f"loop {loop_name}", attributes, new_trace=True, links=links) as span:
            try:
                await raw(*args, **kwargs)
            except Exception as exc:
                error = exc
                reports.capture(exc, "loop", attributes, span=span, name=f"loop {loop_name}")
            finally:
                due = loop._next_iteration  # set before the body: last start + interval
                if due is not None and span.is_recording():
                    overran = datetime.datetime.now(datetime.UTC) > due
                    span.set_attribute(A.DISCORD_LOOP_OVERRAN, overran)
        context = span.get_span_context()
        if context.is_valid:
            state.previous[key] = context
        if error is None:
            return None
        # discord.py retries its own reconnect errors: leave those to it.
        handled_by_discord = loop.reconnect and isinstance(error, loop._valid_exception)
        if state.keep_running and not handled_by_discord:
            log.error(
                "Unhandled exception in background loop %s (reported; the loop keeps running)",
                loop_name,
                exc_info=error,
            )
            return None
        raise error

    return iteration  # type: ignore[return-value]


def instrument_loop(
    reports: ErrorReports, existing: tasks.Loop[LF], *, keep_running: bool = False
) -> InstrumentedLoop[LF]:
    """Instrument ``existing`` in place (it stays the same object) and return it."""
    if not isinstance(existing, tasks.Loop):
        raise TypeError(f"instrument_loop needs a discord.ext.tasks.Loop, not {existing!r}")
    if not isinstance(existing, InstrumentedLoop):
        existing.__class__ = InstrumentedLoop
    instrumented: InstrumentedLoop[LF] = existing  # type: ignore[assignment]
    instrumented._otel = _LoopState(reports, keep_running)
    instrumented.__dict__.pop("_otel_wrapper", None)
    return instrumented


def loop(
    reports: ErrorReports,
    *,
    seconds: float = MISSING,
    minutes: float = MISSING,
    hours: float = MISSING,
    time: datetime.time | Sequence[datetime.time] = MISSING,
    count: int | None = None,
    reconnect: bool = True,
    name: str | None = None,
    keep_running: bool = False,
) -> Callable[[LF], InstrumentedLoop[LF]]:
    """``tasks.loop`` with instrumented iterations."""

    def decorator(func: LF) -> InstrumentedLoop[LF]:
        # Every argument as given, exactly as ``tasks.loop`` passes them: discord.py itself
        # rejects a mix of ``time`` with relative intervals, and any other bad value.
        plain = tasks.Loop[LF](
            func,
            seconds=seconds,
            minutes=minutes,
            hours=hours,
            time=time,
            count=count,
            reconnect=reconnect,
            name=name,
        )
        return instrument_loop(reports, plain, keep_running=keep_running)

    return decorator
