"""The answer cache: one SQLite file of replies, keyed on everything that decides an answer, never on a key.

A key is the sha256 of a canonical JSON document (sorted keys, no spaces) holding the provider's type, its
resolved address and non-secret settings, the model, the messages, the system prompt, the sampling parameters,
the schema sent and any attachments; never the provider's name, its keys or its headers. Only the reply is
stored (its text scrubbed of the provider's keys before it is written), with the provider and model names and
the usage and latency the server reported: the prompt is kept as its hash only.

The file (``answers.sqlite``) is in ``cache_dir=``, else ``$JUPYTER_PROVIDERS_CACHE``, else ``cache/`` under the
config dir. It is opened in WAL mode with a busy timeout, so several kernels read and write it at once; each
write is one transaction. Entries older than ``max_age_days`` are dropped, and the least recently used ones
once the file's replies pass ``max_bytes``. A cache that cannot be opened or written (a folder that is a file,
no permission, a corrupt file) raises :class:`CacheError`: its message is one line saying what to do.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._persist import default_config_dir
from ._types import Usage

if TYPE_CHECKING:
    from ._records import Provider

__all__ = [
    "ENV", "FILENAME", "AnswerCache", "CacheError", "CacheLimits", "Entry", "answer_key", "cache_path",
    "cache_report", "count_replay", "forget_open", "limits", "open_cache",
]  # fmt: skip

ENV = "JUPYTER_PROVIDERS_CACHE"
FILENAME = "answers.sqlite"
_VERSION = 1
MB = 1 << 20


@dataclass
class CacheLimits:
    """``jupyter_providers.cache_limits.max_bytes = 64 << 20``: the most reply text kept (512 MB), and the
    age (days, 90) past which an entry is dropped; both applied as replies are written."""

    max_bytes: int = 512 * MB
    max_age_days: float = 90.0


limits = CacheLimits()


class CacheError(OSError):
    """The cache file cannot be used; the message is one line naming the file and what to do."""


@dataclass(frozen=True)
class Entry:
    """A stored reply."""

    text: str
    reasoning: str = ""
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    first_token_s: float | None = None
    latency_s: float | None = None
    provider: str = ""
    model: str = ""
    created: float = 0.0


def _plain(value: Any) -> Any:
    """What canonical JSON cannot say directly: an attachment (``_attach.Attachment``) and bytes by their sha256,
    paths as text."""
    digest = getattr(value, "digest", None)
    if isinstance(digest, str):
        return {"mime": getattr(value, "mime", ""), "sha256": digest}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"sha256": hashlib.sha256(bytes(value)).hexdigest()}
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=repr) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"{type(value).__name__} cannot be part of an answer's key")


def answer_key(
    p: Provider,
    model: str,
    messages: list[Any],
    *,
    system: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    schema: dict[str, Any] | None = None,
    attachments: Any = None,
) -> str:
    """The sha256 of everything that decides the answer (never a key, a header or the provider's name)."""
    e = p.endpoint
    doc = {
        "v": _VERSION,
        "type": p.type,
        "address": e.base,
        "settings": dict(e.options),
        "model": model,
        "messages": messages,
        "system": system,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "schema": schema,
        "attachments": attachments,
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_path(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cache file: in ``cache_dir``, else ``$JUPYTER_PROVIDERS_CACHE``, else ``cache/`` in the config dir."""
    if cache_dir is not None and not isinstance(cache_dir, str | os.PathLike):
        raise CacheError(f"cache_dir: give a folder (a str or a path), not {cache_dir!r}")
    where = cache_dir if cache_dir is not None else os.environ.get(ENV) or default_config_dir() / "cache"
    return Path(where).expanduser() / FILENAME


_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY, provider TEXT NOT NULL, model TEXT NOT NULL, text TEXT NOT NULL, reasoning TEXT NOT NULL,
    finish_reason TEXT, input_tokens INTEGER, output_tokens INTEGER, first_token_s REAL, latency_s REAL,
    created REAL NOT NULL, used REAL NOT NULL, size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_used ON answers (used);
"""
_COLUMNS = "text, reasoning, finish_reason, input_tokens, output_tokens, first_token_s, latency_s, provider, model"


def _hint(path: Path) -> str:
    return f"set {ENV} or cache_dir= to a folder you can write, or delete {path}"


class AnswerCache:
    """One cache file. Thread-safe (one connection, one lock); processes share it through SQLite's locking."""

    def __init__(self, path: Path, *, timeout: float = 30.0) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._writes = 0
        folder = path.parent
        if folder.exists() and not folder.is_dir():
            raise CacheError(
                f"the answer cache folder {folder} is a file, not a folder - set {ENV} or cache_dir= to a folder"
            )
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=timeout, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise self._error(exc, "open") from None
        try:
            self._db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            self._db.close()
            raise self._error(exc, "open") from None

    def _error(self, exc: BaseException, doing: str) -> CacheError:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, sqlite3.DatabaseError) and ("not a database" in why or "malformed" in why):
            return CacheError(f"the answer cache {self.path} is corrupt ({why}) - delete the file to start a new one")
        return CacheError(f"cannot {doing} the answer cache {self.path} ({why}) - {_hint(self.path)}")

    def get(self, key: str) -> Entry | None:
        try:
            with self._lock:
                row = self._db.execute(f"SELECT {_COLUMNS}, created FROM answers WHERE key = ?", (key,)).fetchone()
                if row is not None:
                    with contextlib.suppress(sqlite3.OperationalError):  # a read-only copy still replays
                        self._db.execute("UPDATE answers SET used = ? WHERE key = ?", (time.time(), key))
        except sqlite3.Error as exc:
            raise self._error(exc, "read") from None
        if row is None:
            return None
        text, reasoning, finish, tin, tout, first, latency, provider, model, created = row
        return Entry(text, reasoning, finish, Usage(tin, tout), first, latency, provider, model, created)

    def put(self, key: str, e: Entry) -> None:
        now = time.time()
        size = len(e.text.encode("utf-8")) + len(e.reasoning.encode("utf-8"))
        row = (
            key, e.provider, e.model, e.text, e.reasoning, e.finish_reason, e.usage.input_tokens,
            e.usage.output_tokens, e.first_token_s, e.latency_s, e.created or now, now, size,
        )  # fmt: skip
        try:
            with self._lock:
                self._db.execute("INSERT OR REPLACE INTO answers VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", row)
                self._writes += 1
                if self._writes % 64 == 1:  # the first write of this object, then every 64th
                    self._prune(now)
                if self._writes % 16 == 0:  # into the file itself, not only its log (and at exit: forget_open)
                    self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            raise self._error(exc, "write") from None

    def _prune(self, now: float) -> None:
        """Under the lock: drop what is too old, then the least recently used past the size limit."""
        db = self._db
        db.execute("DELETE FROM answers WHERE created < ?", (now - limits.max_age_days * 86400,))
        total = db.execute("SELECT COALESCE(SUM(size), 0) FROM answers").fetchone()[0]
        if total > limits.max_bytes:
            db.execute("BEGIN IMMEDIATE")
            try:
                over = total - limits.max_bytes
                for key, size in db.execute("SELECT key, size FROM answers ORDER BY used").fetchall():
                    if over <= 0:
                        break
                    db.execute("DELETE FROM answers WHERE key = ?", (key,))
                    over -= size
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def delete(self, key: str) -> None:
        try:
            with self._lock:
                self._db.execute("DELETE FROM answers WHERE key = ?", (key,))
        except sqlite3.Error as exc:
            raise self._error(exc, "write") from None

    def stats(self) -> tuple[int, int]:
        """(entries, bytes of reply text)."""
        try:
            with self._lock:
                n, size = self._db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM answers").fetchone()
        except sqlite3.Error as exc:
            raise self._error(exc, "read") from None
        return int(n), int(size)

    def checkpoint(self) -> None:
        """Move what the write-ahead log holds into the file itself (a copy of the file then has every reply)."""
        try:
            with self._lock:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            raise self._error(exc, "write") from None

    def file_bytes(self) -> int:
        """The size on disk: the file and its write-ahead log."""
        return sum(f.stat().st_size for f in (self.path, Path(f"{self.path}-wal")) if f.exists())

    def clear(self) -> int:
        """Drop every entry; return how many there were."""
        try:
            with self._lock:
                n = self._db.execute("DELETE FROM answers").rowcount
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self._db.execute("VACUUM")
        except sqlite3.Error as exc:
            raise self._error(exc, "clear") from None
        return int(n)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} bytes"


def cache_report(action: str | None = None) -> str:
    """``%providers cache``: where the cache is, its entries and size; ``%providers cache clear`` empties it."""
    try:
        path = cache_path()
        if action == "clear":
            if not path.exists():
                return f"the answer cache {path} is empty"
            n = open_cache().clear()
            return f"cleared the answer cache {path}: {n} replies removed"
        if not path.exists():
            return f"the answer cache {path}: no replies yet (chat(cache=True), %%chat --cache)"
        cache = open_cache()
        cache.checkpoint()  # the file alone (to commit or copy) now holds every reply
        n, text_bytes = cache.stats()
        size = f"{n} replies, {_size(text_bytes)} of text, {_size(cache.file_bytes())} on disk"
        return f"the answer cache {path}: {size}; {replayed_here} replayed in this kernel"
    except CacheError as exc:  # %providers prints it as one line
        raise ValueError(str(exc)) from None


#: how many replies this process (kernel) answered from the cache (``%providers cache`` shows it)
replayed_here = 0


_count_lock = threading.Lock()


def count_replay() -> None:
    global replayed_here
    with _count_lock:  # a map's rows are replayed by several threads
        replayed_here += 1


_open: dict[Path, AnswerCache] = {}
_open_lock = threading.Lock()
atexit.register(lambda: forget_open())  # the last connection closed folds the log into the file


def open_cache(cache_dir: str | os.PathLike[str] | None = None) -> AnswerCache:
    """The kernel's one :class:`AnswerCache` for that file (opened on first use)."""
    path = cache_path(cache_dir)
    with _open_lock:
        cache = _open.get(path)
        if cache is None:
            cache = _open[path] = AnswerCache(path)
        return cache


def forget_open() -> None:
    """Close every open cache (tests; a file deleted behind our back)."""
    with _open_lock:
        for cache in _open.values():
            cache.close()
        _open.clear()
