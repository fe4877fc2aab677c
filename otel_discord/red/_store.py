"""``RedConsentStore``: consent records in Red's ``Config`` (global scope, one identifier per
reporter), so they live with the bot's data and follow its storage driver.

``Config`` is async and :class:`~otel_discord.consent.ConsentStore` is sync (the reporter reads
consent from its export thread and inside ``span()``). The store therefore keeps every record in
memory: :meth:`RedConsentStore.open` reads a reporter's record from ``Config`` before its
reporter is built, :meth:`load` answers from memory, and :meth:`save` updates memory at once
(so ``[p]telemetry enable`` is effective immediately) and hands the write to one background
task on the bot's loop, which writes records in order, newest last. Nothing ever blocks the
event loop waiting on storage; :meth:`flush` awaits the writes (``detach`` calls it, so an
unload or reload never loses a decision).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading

from redbot.core import Config

from otel_discord.consent import ConsentRecord

__all__ = ["CONFIG_COG_NAME", "RedConsentStore", "config_for", "red_version"]

log = logging.getLogger("otel_discord.red")

#: The ``cog_name`` of the ``Config`` holding every reporter's record on this bot.
CONFIG_COG_NAME = "OtelDiscord"


def red_version() -> str:
    import redbot

    return str(redbot.__version__)


def _identifier(reporter: str) -> int:
    # Stable across processes (``hash()`` is salted): the first 6 bytes of SHA-256.
    return int.from_bytes(hashlib.sha256(reporter.encode()).digest()[:6], "big")


def config_for(reporter: str) -> Config:
    """The reporter's own ``Config`` (global scope): ``record`` holds its consent."""
    config = Config.get_conf(
        None, identifier=_identifier(reporter), cog_name=CONFIG_COG_NAME, force_registration=True
    )
    config.register_global(record=None)
    return config  # type: ignore[no-any-return]


class RedConsentStore:
    """A :class:`~otel_discord.consent.ConsentStore` over Red's ``Config`` with an in-memory
    cache. Call ``await store.open(name)`` before building the reporter named ``name``."""

    def __init__(self) -> None:
        self._records: dict[str, ConsentRecord] = {}
        self._configs: dict[str, Config] = {}
        self._pending: dict[str, ConsentRecord] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: asyncio.Task[None] | None = None

    async def open(self, reporter: str) -> ConsentRecord:
        """Read ``reporter``'s record from ``Config`` into memory (a fresh, not-consented one is
        created and written when there is none or it is unreadable)."""
        self._loop = asyncio.get_running_loop()
        with self._lock:
            cached = self._records.get(reporter)
        if cached is not None:  # newer than Config while a write is pending
            return cached
        config = self._configs.get(reporter) or config_for(reporter)
        self._configs[reporter] = config
        record: ConsentRecord | None = None
        try:
            raw = await config.record()
            if raw is not None:
                record = ConsentRecord.from_json(reporter, raw)
        except Exception as exc:
            log.warning(
                "otel_discord: consent record of %s in Red's config is unreadable (%s); "
                "telemetry stays off until the owner decides again",
                reporter,
                exc,
            )
        if record is None:
            record = ConsentRecord(reporter)
            self.save(record)
        else:
            with self._lock:
                self._records[reporter] = record
        return record

    def load(self, reporter: str) -> ConsentRecord:
        with self._lock:
            record = self._records.get(reporter)
        if record is not None:
            return record
        # Not opened: "off", and nothing written, so a stored decision is never overwritten.
        return ConsentRecord(reporter)

    def save(self, record: ConsentRecord) -> None:
        with self._lock:
            self._records[record.reporter] = record
            self._pending[record.reporter] = record
        loop = self._loop
        if loop is None or loop.is_closed():
            log.warning("otel_discord: consent of %s kept in memory only", record.reporter)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._start_writer()
        else:  # the reporter's threads: hand over to the bot's loop
            loop.call_soon_threadsafe(self._start_writer)

    def where(self) -> str:
        return f"Red's config ({CONFIG_COG_NAME}, global scope)"

    def _start_writer(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_pending())

    async def _write_pending(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    return
                reporter = next(iter(self._pending))
                record = self._pending.pop(reporter)
            config = self._configs.get(reporter)
            if config is None:
                config = self._configs[reporter] = config_for(reporter)
            try:
                await config.record.set(record.to_json())  # type: ignore[no-untyped-call]
            except Exception:
                log.warning(
                    "otel_discord: could not write %s's consent to Red's config",
                    reporter,
                    exc_info=True,
                )

    async def flush(self, timeout: float = 5.0) -> bool:
        """Wait (at most ``timeout`` s) until every saved record is written. True if done."""
        writer = self._writer
        if writer is None or writer.done():
            with self._lock:
                if not self._pending:
                    return True
            self._start_writer()
            writer = self._writer
        assert writer is not None
        try:
            await asyncio.wait_for(asyncio.shield(writer), timeout)
        except TimeoutError:
            return False
        with self._lock:
            return not self._pending

    def forget(self, reporter: str) -> None:
        """Drop the cached record (the reporter was shut down; ``open`` re-reads it)."""
        with self._lock:
            if reporter not in self._pending:
                self._records.pop(reporter, None)
