"""Durable delivery: error reports and events that the OTLP backend did not take wait in a
bounded on-disk queue in the data dir, and are sent again when the backend is back (also after a
restart). Ordinary spans are not queued: under an outage or pressure they may be dropped.

At shutdown (:meth:`DurableDelivery.spill`) an export still waiting on the backend is given up and
its batch written to disk at once, so what was not confirmed delivered survives a restart.

One queue per reporter, ``<data_dir>/queue/<reporter>/``, one file per failed batch holding the
encoded OTLP request (``ExportTraceServiceRequest`` or ``ExportLogsServiceRequest``) or Sentry
envelope (kind ``sentry``, in the Sentry exporter's own queue) behind a small header with a
checksum. Bounds: total bytes and age; the oldest files go first and every
drop is counted. A file that fails its checksum is moved to ``corrupt/`` and never read again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import struct
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

from otel_discord._attributes import EVENT_CATEGORY

__all__ = [
    "DurableDelivery",
    "DurableLogExporter",
    "DurableQueue",
    "DurableSpanExporter",
    "QueueStats",
    "RetryAfter",
    "combined",
    "is_error_bearing",
]

log = logging.getLogger("otel_discord.durable")

_MAGIC = b"ODQ1"
_HEADER = struct.Struct(">4sIQ")  # magic, crc32 of payload, payload length
_SUFFIX = ".otq"
KINDS = ("traces", "logs", "sentry")
CATEGORIES = ("errors", "usage")

#: The longest wait a backend's ``Retry-After`` can impose on the queue (a broken or hostile
#: value must not hold every queued report back for days).
MAX_RETRY_AFTER = 600.0


@dataclass(frozen=True)
class RetryAfter:
    """A sender's answer: the backend is up but asked for ``seconds`` before the next try."""

    seconds: float


#: Sends one encoded OTLP request of a kind: True when the backend accepted it, False to try
#: again later (down, timeout, 5xx), :class:`RetryAfter` to try again no sooner than the backend
#: asked (429/503 with ``Retry-After``), None when it refused the batch for good.
Sender = Callable[[bytes], "bool | RetryAfter | None"]
CategoryGate = Callable[[str], bool]


def is_error_bearing(span: ReadableSpan) -> bool:
    """A span that reports an error: status ERROR or an ``exception`` event."""
    if span.status.status_code is StatusCode.ERROR:
        return True
    return any(event.name == "exception" for event in span.events)


@dataclass(frozen=True)
class QueueEntry:
    path: Path
    created_ns: int
    kind: str
    category: str
    size: int


@dataclass(frozen=True)
class QueueStats:
    """What the queue holds and what it lost since it was created (kept across restarts)."""

    entries: int
    bytes: int
    dropped_oldest: int
    dropped_expired: int
    dropped_consent: int
    dropped_rejected: int
    set_aside: int
    delivered: int


def combined(stats: Sequence[QueueStats]) -> QueueStats | None:
    """The sum of several queues' stats (a reporter's OTLP and Sentry queues); None for none."""
    if not stats:
        return None
    return QueueStats(
        **{f.name: sum(getattr(s, f.name) for s in stats) for f in dataclasses.fields(QueueStats)}
    )


class DurableQueue:
    """Bounded on-disk FIFO of encoded OTLP requests. Never raises from its public methods
    except :meth:`put` callers' encoding errors; disk errors are logged and counted."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_bytes: int = 10_000_000,
        max_age: float = 7 * 86_400.0,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.max_age = max_age
        self._lock = threading.RLock()
        self._drain_lock = threading.Lock()
        # What is on disk, oldest first, kept in memory so a put costs O(1) on a long queue;
        # reloaded from disk at each drain round (another process may share the directory).
        self._index: OrderedDict[str, QueueEntry] | None = None
        self._total = 0
        self._seq = 0
        self._counts = {
            "dropped_oldest": 0,
            "dropped_expired": 0,
            "dropped_consent": 0,
            "dropped_rejected": 0,
            "set_aside": 0,
            "delivered": 0,
        }
        self._counts_loaded = False

    # -- bookkeeping -------------------------------------------------------------------------

    @property
    def _state_path(self) -> Path:
        return self.directory / "state.json"

    def _load_counts(self) -> None:
        if self._counts_loaded:
            return
        self._counts_loaded = True
        try:
            data = json.loads(self._state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError):
            log.warning("otel_discord: queue state %s unreadable; counts restart", self._state_path)
            return
        if isinstance(data, dict):
            for key in self._counts:
                value = data.get(key)
                if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                    self._counts[key] = value

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._load_counts()
            self._counts[key] += n
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                tmp = self._state_path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(self._counts), encoding="utf-8")
                os.replace(tmp, self._state_path)
            except OSError:
                pass

    def stats(self) -> QueueStats:
        with self._lock:
            self._load_counts()
            entries = self.entries()
            return QueueStats(
                entries=len(entries),
                bytes=sum(e.size for e in entries),
                **self._counts,
            )

    # -- files -------------------------------------------------------------------------------

    def _entry(self, name: str) -> QueueEntry | None:
        """The entry a queue file name stands for; None for other files. A ``.otq`` file whose
        name this queue did not write is set aside like a corrupt one: nothing could ever send
        it, and counting it as queued would keep the drain thread alive for good."""
        if not name.endswith(_SUFFIX) or name.startswith("."):
            return None
        path = self.directory / name
        try:
            stamp, kind, category = name[: -len(_SUFFIX)].split(".")
            created = int(stamp.split("-", 1)[0])
            if kind not in KINDS or category not in CATEGORIES:
                raise ValueError(name)
        except ValueError:
            self._set_aside_path(path, "has a name this queue did not write")
            return None
        try:
            size = path.stat().st_size
        except OSError:
            return None  # sent and removed meanwhile (another process shares the directory)
        return QueueEntry(path, created, kind, category, size)

    def entries(self) -> list[QueueEntry]:
        """Queued entries, oldest first."""
        out: list[QueueEntry] = []
        try:
            names = os.listdir(self.directory)
        except OSError:
            return out
        for name in names:
            entry = self._entry(name)
            if entry is not None:
                out.append(entry)
        out.sort(key=lambda e: e.path.name)
        return out

    def has_entries(self) -> bool:
        """Whether anything is queued (stops at the first entry: cheap on a long queue); the
        same files as :meth:`entries`."""
        try:
            with os.scandir(self.directory) as it:
                return any(self._entry(e.name) is not None for e in it)
        except OSError:
            return False

    def reload(self) -> None:
        """Re-read the directory into the in-memory index."""
        with self._lock:
            entries = self.entries()
            self._index = OrderedDict((e.path.name, e) for e in entries)
            self._total = sum(e.size for e in entries)

    def _indexed(self) -> OrderedDict[str, QueueEntry]:
        if self._index is None:
            self.reload()
        assert self._index is not None
        return self._index

    def _forget(self, entry: QueueEntry) -> None:
        with self._lock:
            if self._index is not None and self._index.pop(entry.path.name, None) is not None:
                self._total -= entry.size

    def pending(self) -> list[QueueEntry]:
        """The indexed entries, oldest first (no directory listing)."""
        with self._lock:
            return list(self._indexed().values())

    def put(self, kind: str, category: str, payload: bytes) -> QueueEntry | None:
        """Queue one encoded request; enforce the bounds (oldest out first). The entry if
        stored."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        record = _HEADER.pack(_MAGIC, zlib.crc32(payload), len(payload)) + payload
        if len(record) > self.max_bytes:
            self._count("dropped_oldest")
            log.warning("otel_discord: a batch of %d bytes exceeds the queue bound", len(record))
            return None
        with self._lock:
            self._seq += 1
            stamp = f"{time.time_ns():020d}-{os.getpid():07d}-{self._seq:06d}"
            name = f"{stamp}.{kind}.{category}{_SUFFIX}"
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                tmp = self.directory / f".{name}.tmp"
                with open(tmp, "wb") as fh:
                    fh.write(record)
                os.replace(tmp, self.directory / name)
            except OSError as exc:
                log.warning("otel_discord: cannot write to the delivery queue (%s)", exc)
                return None
            index = self._indexed()
            created = int(stamp.split("-", 1)[0])
            entry = QueueEntry(self.directory / name, created, kind, category, len(record))
            if name not in index:
                index[name] = entry
                self._total += len(record)
            self._enforce_bounds()
        return entry

    def _enforce_bounds(self) -> None:
        with self._lock:
            index = self._indexed()
            cutoff = time.time_ns() - int(self.max_age * 1e9)
            expired = dropped = 0
            while index:
                entry = next(iter(index.values()))
                too_old = entry.created_ns < cutoff
                if not too_old and self._total <= self.max_bytes:
                    break
                index.popitem(last=False)
                self._total -= entry.size
                # A file already gone was sent by another process sharing the directory.
                if self._unlink(entry.path):
                    if too_old:
                        expired += 1
                    else:
                        dropped += 1
            # Counted under the same lock as the unlink: ``stats`` never sees a file gone and
            # not yet counted.
            if expired:
                self._count("dropped_expired", expired)
            if dropped:
                self._count("dropped_oldest", dropped)
        if expired:
            log.warning("otel_discord: dropped %d queued batches older than the age bound", expired)
        if dropped:
            log.warning(
                "otel_discord: delivery queue full; dropped the %d oldest batches "
                "(%d dropped so far)",
                dropped,
                self._counts["dropped_oldest"],
            )

    @staticmethod
    def _unlink(path: Path) -> bool:
        try:
            path.unlink()
            return True
        except FileNotFoundError:
            return False
        except OSError:
            return False

    def read(self, entry: QueueEntry) -> bytes | None:
        """The entry's payload, or None (missing, or corrupt and now set aside)."""
        try:
            data = entry.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("otel_discord: cannot read queued batch %s (%s)", entry.path.name, exc)
            return None
        if len(data) >= _HEADER.size:
            magic, crc, length = _HEADER.unpack_from(data)
            payload = data[_HEADER.size :]
            if magic == _MAGIC and length == len(payload) and zlib.crc32(payload) == crc:
                return payload
        self.set_aside(entry)
        return None

    def set_aside(self, entry: QueueEntry) -> None:
        self._forget(entry)
        self._set_aside_path(entry.path, "is corrupt")

    def _set_aside_path(self, path: Path, why: str) -> None:
        corrupt = self.directory / "corrupt"
        with self._lock:  # moved and counted as one step for ``stats``
            try:
                corrupt.mkdir(parents=True, exist_ok=True)
                os.replace(path, corrupt / path.name)
            except FileNotFoundError:
                return  # another process set it aside first
            except OSError:
                if not self._unlink(path):
                    return
            self._count("set_aside")
        log.warning("otel_discord: queued batch %s %s; moved to %s", path.name, why, corrupt)

    def remove(self, entry: QueueEntry, reason: str = "delivered") -> None:
        with self._lock:  # unlinked and counted as one step for ``stats``
            self._forget(entry)
            if self._unlink(entry.path):
                self._count(reason)

    @contextlib.contextmanager
    def draining(self) -> Iterator[bool]:
        """Hold the queue's drain lock (across processes where ``fcntl`` exists); yields whether
        it was acquired. Two bots sharing a data dir never send the same batch twice."""
        # Not the index lock: exporters keep queueing while a drain round waits on the network.
        with self._drain_lock:
            fh: IO[bytes] | None = None
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                fh = open(self.directory / "drain.lock", "ab")  # noqa: SIM115
            except OSError:
                yield True
                return
            try:
                try:
                    import fcntl

                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except ImportError:  # Windows: the in-process lock is all we have
                    pass
                except OSError:
                    yield False
                    return
                yield True
            finally:
                fh.close()


class _Attempt:
    """One live export running in its own thread, so that shutdown can stop waiting for it; or
    one send another thread carries out (:meth:`DurableDelivery.track`), with its ``save``."""

    __slots__ = ("abandoned", "done", "lock", "result", "save", "saved")

    def __init__(self, save: Callable[[], list[QueueEntry]] | None = None) -> None:
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.result: bool | None = None
        self.abandoned = False
        self.save = save
        self.saved: list[QueueEntry] = []


class DurableDelivery:
    """A reporter's queue plus the thread that drains it while it is not empty."""

    def __init__(
        self,
        queue: DurableQueue,
        senders: Mapping[str, Sender],
        gate: CategoryGate,
        *,
        retry_interval: float = 30.0,
        name: str | None = None,
    ) -> None:
        self.queue = queue
        #: In the drain thread's name, so a test (or a debugger) can tell whose thread it is.
        self.name = name or queue.directory.name
        self.senders = dict(senders)
        self.gate = gate
        self.retry_interval = retry_interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        #: Seconds the backend asked for (``Retry-After``) at the last failed drain round.
        self._retry_after = 0.0
        self._spilling = threading.Event()
        #: The backend is down: the last live export failed and no queued batch has got through
        #: since. New batches then go straight to disk behind the queued ones instead of each
        #: waiting ``otlp_timeout`` in the exporter thread while the in-memory queue overflows.
        self._down = threading.Event()
        self._attempts: set[_Attempt] = set()
        self._attempts_lock = threading.Lock()

    def resume(self) -> None:
        """Start draining if anything is queued (called when a reporter starts)."""
        if self.queue.has_entries():
            self._ensure_thread()

    def wake(self) -> None:
        """The backend answered: try the queue now rather than at the next retry."""
        self._wake.set()
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        with self._thread_lock:
            if self._stop.is_set():
                return
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(
                target=self._run, name=f"otel-discord-queue {self.name}", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                remaining = self.drain_once()
            except Exception:
                log.warning("otel_discord: draining the delivery queue failed", exc_info=True)
                remaining = 1
            if remaining == 0:
                with self._thread_lock:
                    # Leave only if nothing was queued meanwhile; put() wakes a new thread.
                    if not self.queue.has_entries():
                        self._thread = None
                        return
            not_before = time.monotonic() + self._retry_after
            self._wake.wait(max(self.retry_interval, self._retry_after))
            self._wake.clear()
            # A live export's success wakes the queue early, but never before the backend's
            # Retry-After has run out.
            rest = not_before - time.monotonic()
            if rest > 0:
                self._stop.wait(rest)

    def drain_once(self) -> int:
        """Send queued batches oldest first until one fails; return how many remain."""
        self._retry_after = 0.0
        with self.queue.draining() as acquired:
            if not acquired:
                return len(self.queue.entries())
            self.queue.reload()
            self.queue._enforce_bounds()
            entries = self.queue.pending()
            for i, entry in enumerate(entries):
                if self._stop.is_set():
                    return len(entries) - i
                if not self.gate(entry.category):
                    # Consent was withdrawn after the batch was queued: it must never leave.
                    self.queue.remove(entry, "dropped_consent")
                    continue
                sender = self.senders.get(entry.kind)
                payload = self.queue.read(entry)
                if payload is None or sender is None:
                    continue
                try:
                    ok = sender(payload)
                except Exception:
                    ok = False
                if ok is None:
                    # Refused for good: retrying would block every newer batch behind it.
                    log.warning(
                        "otel_discord: the backend refused queued batch %s", entry.path.name
                    )
                    self.queue.remove(entry, "dropped_rejected")
                    self._down.clear()  # it answered
                    continue
                if isinstance(ok, RetryAfter):
                    self._retry_after = min(max(0.0, ok.seconds), MAX_RETRY_AFTER)
                    return len(entries) - i
                if not ok:
                    return len(entries) - i
                self.queue.remove(entry, "delivered")
                self._down.clear()
            # Nothing (left) to prove the backend down: the next live export tries it again.
            self._down.clear()
            return 0

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, timeout))

    # -- live exports ------------------------------------------------------------------------

    def export(self, call: Callable[[], bool], save: Callable[[], list[QueueEntry]]) -> bool:
        """Run one live export: ``call`` returns True when the backend took the batch; a batch
        it did not take goes to ``save``, which queues what must survive and returns the
        entries. After :meth:`spill` nothing waits on the backend any more: the batch is saved
        at once (should an abandoned export still succeed, its saved copy is removed again)."""
        if self._spilling.is_set():
            save()
            return False
        if self._down.is_set():
            save()
            self._ensure_thread()  # the drain thread finds out when the backend is back
            return False
        attempt = _Attempt()

        def run() -> None:
            try:
                ok = bool(call())
            except Exception:
                log.debug("otel_discord: OTLP export raised", exc_info=True)
                ok = False
            self._ended(attempt, ok)

        with self._attempts_lock:
            self._attempts.add(attempt)
        try:
            # Its own thread: the export may wait on the backend for ``otlp_timeout``, which
            # shutdown cannot; spill() stops the wait and the batch is saved instead.
            threading.Thread(target=run, name="otel-discord-export", daemon=True).start()
            if not self._spilling.is_set():
                attempt.done.wait()
            with attempt.lock:
                ok = bool(attempt.result)
                if attempt.result is None:
                    attempt.abandoned = True
                    attempt.saved = save()
                elif not ok:
                    save()
        finally:
            with self._attempts_lock:
                self._attempts.discard(attempt)
        if not ok:
            self._down.set()
        self.after_export(ok)
        return ok

    def _ended(self, attempt: _Attempt, ok: bool, *, save_failed: bool = False) -> bool:
        """Record how ``attempt`` ended. A copy saved when it was abandoned is deleted if the
        backend took it after all; with ``save_failed``, a failed one not saved yet is saved
        now. Returns whether it was."""
        saved = False
        with attempt.lock:
            attempt.result = ok
            late = list(attempt.saved) if ok and attempt.abandoned else []
            if not ok and save_failed and not attempt.abandoned and attempt.save is not None:
                attempt.saved = attempt.save()
                saved = bool(attempt.saved)
        for entry in late:
            self.queue.remove(entry, "delivered")
        attempt.done.set()
        return saved

    def abandon(self, attempt: _Attempt) -> None:
        """Stop waiting for a tracked send: write it to disk now (see :meth:`track`)."""
        with attempt.lock:
            if attempt.result is None and not attempt.abandoned and attempt.save is not None:
                attempt.abandoned = True
                attempt.saved = attempt.save()

    def track(self, save: Callable[[], list[QueueEntry]]) -> _Attempt:
        """A send that another thread carries out and reports with :meth:`settle` (sentry-sdk's
        worker). Until it does, :meth:`spill` writes it to disk with ``save``; after
        :meth:`spill` it is written at once (and still sent: if that succeeds, the copy goes)."""
        attempt = _Attempt(save)
        with self._attempts_lock:
            self._attempts.add(attempt)
        if self._spilling.is_set():
            self.abandon(attempt)
        return attempt

    def settle(self, attempt: _Attempt, ok: bool | None) -> None:
        """A tracked send ended: True when the backend took it, False when it may take it later
        (saved, unless :meth:`spill` saved it already), None when it refused it for good (or it
        was dropped unsent: nothing more is done)."""
        with self._attempts_lock:
            self._attempts.discard(attempt)
        if attempt.done.is_set():
            return
        saved = self._ended(attempt, bool(ok), save_failed=ok is False)
        if ok or saved:
            self.after_export(bool(ok))

    def spill(self) -> None:
        """Shutdown's budget is running out: stop waiting on the backend. Exports under way and
        every later one write their batch to the disk queue at once, as do tracked sends."""
        self._spilling.set()
        with self._attempts_lock:
            attempts = list(self._attempts)
        for attempt in attempts:
            if attempt.save is not None:
                self.abandon(attempt)
            else:
                attempt.done.set()

    # -- exporter wrappers -------------------------------------------------------------------

    def wrap_spans(self, inner: SpanExporter) -> DurableSpanExporter:
        return DurableSpanExporter(inner, self)

    def wrap_logs(self, inner: LogRecordExporter) -> DurableLogExporter:
        return DurableLogExporter(inner, self)

    def after_export(self, ok: bool) -> None:
        if ok and self.queue.has_entries():
            self.wake()
        elif not ok:
            self._ensure_thread()


class DurableSpanExporter(SpanExporter):
    """Exports through ``inner``; when that fails, the error-bearing spans of the batch go to
    the disk queue. Ordinary spans of a failed batch are dropped."""

    def __init__(self, inner: SpanExporter, delivery: DurableDelivery) -> None:
        self.inner = inner
        self.delivery = delivery

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        def call() -> bool:
            return self.inner.export(spans) is SpanExportResult.SUCCESS

        def save() -> list[QueueEntry]:
            keep = [s for s in spans if is_error_bearing(s)]
            if not keep:
                return []
            entry = self.delivery.queue.put(
                "traces", "errors", encode_spans(keep).SerializeToString()
            )
            return [entry] if entry is not None else []

        ok = self.delivery.export(call, save)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class DurableLogExporter(LogRecordExporter):
    """Exports event records through ``inner``; a failed batch goes to the disk queue whole,
    one entry per consent category."""

    def __init__(self, inner: LogRecordExporter, delivery: DurableDelivery) -> None:
        self.inner = inner
        self.delivery = delivery

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        def call() -> bool:
            return self.inner.export(batch) is LogRecordExportResult.SUCCESS

        def save() -> list[QueueEntry]:
            by_category: dict[str, list[ReadableLogRecord]] = {}
            for record in batch:
                category = (record.log_record.attributes or {}).get(EVENT_CATEGORY)
                key = category if category in CATEGORIES else "usage"
                by_category.setdefault(str(key), []).append(record)
            saved = []
            for category, records in by_category.items():
                payload = encode_logs(records).SerializeToString()
                entry = self.delivery.queue.put("logs", category, payload)
                if entry is not None:
                    saved.append(entry)
            return saved

        ok = self.delivery.export(call, save)
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

    def shutdown(self) -> None:
        self.inner.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)
