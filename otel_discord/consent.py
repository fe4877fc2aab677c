"""Consent: the bot owner's decision, one record per reporter, off by default.

A :class:`ConsentStore` loads and saves :class:`ConsentRecord` objects. The JSON-file store keeps
one file per reporter under ``<data dir>/consent/``. A record that cannot be read means "not
consented", with one local warning, and never an exception.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = [
    "CATEGORIES",
    "ConsentRecord",
    "ConsentStore",
    "JsonConsentStore",
    "MemoryConsentStore",
    "kill_switch",
]

log = logging.getLogger("otel_discord.consent")

_TRUE = ("1", "true", "yes", "on")

#: Consent categories, independent of each other and both off by default.
CATEGORIES = ("errors", "usage")


def _raw_environ() -> tuple[dict[object, object] | None, object, object]:
    # os.environ keeps its values in a plain dict under encoded keys; os.environ.get() on a
    # missing key costs ~1.7 us (it raises and catches KeyError). The gate runs on every span, so
    # the common case (neither variable set) is answered from that dict in two lookups.
    data = getattr(os.environ, "_data", None)
    encode = getattr(os.environ, "encodekey", None)
    if not isinstance(data, dict) or encode is None:
        return None, None, None
    try:
        return data, encode("OTEL_SDK_DISABLED"), encode("DO_NOT_TRACK")
    except Exception:
        return None, None, None


_ENV_DATA, _KEY_SDK_DISABLED, _KEY_DO_NOT_TRACK = _raw_environ()


def kill_switch(environ: Mapping[str, str] | None = None) -> str | None:
    """Name the active kill switch (``OTEL_SDK_DISABLED`` or ``DO_NOT_TRACK``), or ``None``."""
    if (
        environ is None
        and _ENV_DATA is not None
        and _KEY_SDK_DISABLED not in _ENV_DATA
        and _KEY_DO_NOT_TRACK not in _ENV_DATA
    ):
        return None
    active = active_kill_switches(environ)
    return active[0] if active else None


def active_kill_switches(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every kill switch that is on (``OTEL_SDK_DISABLED``, ``DO_NOT_TRACK``), for the owner's
    status; :func:`kill_switch` names the first."""
    env = os.environ if environ is None else environ
    active = []
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        active.append("OTEL_SDK_DISABLED")
    if env.get("DO_NOT_TRACK", "").strip().lower() in _TRUE:
        active.append("DO_NOT_TRACK")
    return active


def any_kill_switch() -> bool:
    """Whether a kill switch is on: :func:`kill_switch` for the hot path (every span)."""
    data = _ENV_DATA
    if data is not None and _KEY_SDK_DISABLED not in data and _KEY_DO_NOT_TRACK not in data:
        return False
    return kill_switch() is not None


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def new_install_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class ConsentRecord:
    """One reporter's consent: whether it is enabled, its install id and whom it told."""

    reporter: str
    #: Category ``errors``: error reports, loop and performance spans, the start-up event.
    errors: bool = False
    #: Category ``usage``: product events recorded with ``Telemetry.record``.
    usage: bool = False
    install_id: str = field(default_factory=new_install_id)
    decided_at: str | None = None
    notified: tuple[str, ...] = ()
    #: Per-install key for hashed Discord IDs. Stays in the data dir; never exported.
    secret: str = field(default_factory=lambda: secrets.token_hex(32), repr=False)
    #: The categories the owner has decided on (``enable``/``disable``). A decision on
    #: ``errors`` wins over ``enabled = true`` in config: the owner's "no" is never ignored.
    decided_categories: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "reporter": self.reporter,
            "errors": self.errors,
            "usage": self.usage,
            "install_id": self.install_id,
            "decided_at": self.decided_at,
            "notified": list(self.notified),
            "secret": self.secret,
            "decided": list(self.decided_categories),
        }

    @classmethod
    def from_json(cls, reporter: str, data: object) -> ConsentRecord:
        """Parse a stored record; raise ``ValueError`` on any deviation from the schema."""
        if not isinstance(data, dict):
            raise ValueError("record is not a JSON object")
        errors = data.get("errors", False)
        usage = data.get("usage", False)
        install_id = data.get("install_id")
        decided_at = data.get("decided_at")
        notified = data.get("notified", [])
        secret = data.get("secret")
        if not isinstance(errors, bool) or not isinstance(usage, bool):
            raise ValueError("'errors' and 'usage' must be booleans")
        if not isinstance(install_id, str):
            raise ValueError("'install_id' is missing")
        uuid.UUID(install_id)
        if decided_at is not None and not isinstance(decided_at, str):
            raise ValueError("'decided_at' is not a string")
        if not isinstance(notified, list) or not all(isinstance(n, str) for n in notified):
            raise ValueError("'notified' is not a list of strings")
        if secret is None:
            secret = secrets.token_hex(32)
        if not isinstance(secret, str) or len(secret) < 32:
            raise ValueError("'secret' is not a string of 32+ characters")
        # Records written before "decided" existed: a decision then covered every category.
        decided = data.get("decided", list(CATEGORIES) if decided_at is not None else [])
        if not isinstance(decided, list) or not all(d in CATEGORIES for d in decided):
            raise ValueError(f"'decided' is not a list of {CATEGORIES}")
        return cls(
            reporter,
            errors,
            usage,
            install_id,
            decided_at,
            tuple(notified),
            secret,
            tuple(decided),
        )

    @property
    def enabled(self) -> bool:
        """Whether category ``errors`` (the default one) is on."""
        return self.errors

    def allows(self, category: str) -> bool:
        if category not in CATEGORIES:
            raise ValueError(f"unknown consent category {category!r}; known: {CATEGORIES}")
        return bool(getattr(self, category))

    def decided(self, enabled: bool, categories: tuple[str, ...] = ("errors",)) -> ConsentRecord:
        """A copy with ``categories`` switched to ``enabled``, stamped with the time."""
        for category in categories:
            if category not in CATEGORIES:
                raise ValueError(f"unknown consent category {category!r}; known: {CATEGORIES}")
        changes: dict[str, object] = {c: enabled for c in categories}
        decided = tuple(c for c in CATEGORIES if c in categories or c in self.decided_categories)
        return replace(self, decided_at=_now(), decided_categories=decided, **changes)  # type: ignore[arg-type]


@runtime_checkable
class ConsentStore(Protocol):
    """Where consent records live. Implementations must never raise from :meth:`load`."""

    def load(self, reporter: str) -> ConsentRecord:
        """The reporter's record; a fresh, not-consented one (saved) if there is none."""
        ...

    def save(self, record: ConsentRecord) -> None:
        """Persist ``record``; later :meth:`load` calls (in any process) see it."""
        ...

    def where(self) -> str:
        """A human-readable location, for status output."""
        ...


class MemoryConsentStore:
    """A store that lives in memory only (tests, or a bot that manages consent itself)."""

    def __init__(self) -> None:
        self._records: dict[str, ConsentRecord] = {}

    def load(self, reporter: str) -> ConsentRecord:
        return self._records.setdefault(reporter, ConsentRecord(reporter))

    def save(self, record: ConsentRecord) -> None:
        self._records[record.reporter] = record

    def where(self) -> str:
        return "memory"


def _legacy_name(reporter: str) -> str:
    return (re.sub(r"[^A-Za-z0-9_.-]", "_", reporter).strip(".") or "_")[:100]


def _safe_name(reporter: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", reporter).strip(".") or "_"
    if cleaned == reporter and len(cleaned) <= 100:
        return cleaned
    # Cleaning or cutting can make two reporters' names equal ("a/b" and "a_b"): a digest of
    # the exact name keeps their records apart.
    digest = hashlib.sha256(reporter.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{cleaned[:80]}-{digest}"


class JsonConsentStore:
    """One JSON file per reporter in ``<data_dir>/consent/``, written atomically."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.directory = Path(data_dir) / "consent"
        self._lock = threading.Lock()
        self._warned: set[str] = set()

    def path(self, reporter: str) -> Path:
        return self.directory / f"{_safe_name(reporter)}.json"

    def where(self) -> str:
        return str(self.directory)

    def mtime(self, reporter: str) -> float | None:
        try:
            return self.path(reporter).stat().st_mtime
        except OSError:
            return None

    def _warn_once(self, reporter: str, message: str, *args: object) -> None:
        if reporter not in self._warned:
            self._warned.add(reporter)
            log.warning(message, *args)

    def load(self, reporter: str) -> ConsentRecord:
        path = self.path(reporter)
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            adopted = self._adopt_legacy(reporter, path)
            if adopted is not None:
                return adopted
            record = ConsentRecord(reporter)
            self._try_save(record)
            return record
        except (OSError, UnicodeDecodeError) as exc:
            self._warn_once(
                reporter,
                "otel_discord: cannot read consent record %s (%s); telemetry stays off",
                path,
                exc,
            )
            return ConsentRecord(reporter)
        try:
            return ConsentRecord.from_json(reporter, json.loads(raw))
        except ValueError as exc:
            self._warn_once(
                reporter,
                "otel_discord: consent record %s is corrupt (%s); telemetry stays off "
                "until the owner decides again",
                path,
                exc,
            )
            return ConsentRecord(reporter)

    def _adopt_legacy(self, reporter: str, path: Path) -> ConsentRecord | None:
        """A record kept under the file name used before names got a digest (``My_Cog.json`` for
        "My Cog"), moved to its new name: the owner's decision and install id must survive."""
        legacy = self.directory / f"{_legacy_name(reporter)}.json"
        if legacy == path:
            return None
        try:
            data = json.loads(legacy.read_text(encoding="utf-8"))
            # That file may belong to the other name it was shared with ("My_Cog" itself).
            if not isinstance(data, dict) or data.get("reporter") != reporter:
                return None
            record = ConsentRecord.from_json(reporter, data)
        except (OSError, UnicodeDecodeError, ValueError):
            return None
        try:
            self.save(record)
            legacy.unlink()
        except OSError as exc:
            self._warn_once(reporter, "otel_discord: cannot move consent record (%s)", exc)
        return record

    def _try_save(self, record: ConsentRecord) -> None:
        try:
            self.save(record)
        except OSError as exc:
            self._warn_once(record.reporter, "otel_discord: cannot write consent record (%s)", exc)

    def save(self, record: ConsentRecord) -> None:
        path = self.path(record.reporter)
        with self._lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                # Keep a corrupt record for the owner to inspect rather than overwrite it blindly.
                try:
                    ConsentRecord.from_json(
                        record.reporter, json.loads(path.read_text(encoding="utf-8"))
                    )
                except (ValueError, OSError, UnicodeDecodeError):
                    with contextlib.suppress(OSError):
                        path.replace(path.with_suffix(f".corrupt-{int(time.time())}"))
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".consent-", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(record.to_json(), fh, indent=2)
                    fh.write("\n")
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        self._warned.discard(record.reporter)
