"""The usage ledger: one row per reply, in SQLite (``usage.sqlite`` in the config dir, beside ``providers.json``).

A row holds the provider, model and type, the input and output tokens (the server's usage; an estimate of about
4 characters a token, flagged ``estimated``, when the server sent none), the latency, when it ended, how it ended
(``ok``, ``cancelled`` or the error's kind), whether it was replayed (0 cost), and where it came from: the
notebook path and kernel id when ipykernel tells them, else the process. Never a key, never prompt or reply text.

Several kernels write at once: WAL journal, a busy timeout, one short transaction per row. A ledger that cannot
be written (a read-only folder, a full disk) is said once in the log and never fails a reply.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._persist import default_config_dir

__all__ = ["Entry", "ledger_path", "origin", "read_entries", "record"]

log = logging.getLogger("jupyter_providers")

FILE_NAME = "usage.sqlite"
BUSY_TIMEOUT_MS = 30_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    type TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    estimated INTEGER NOT NULL,
    latency_s REAL,
    outcome TEXT NOT NULL,
    replayed INTEGER NOT NULL,
    notebook TEXT NOT NULL,
    kernel TEXT NOT NULL,
    pid INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS replies_at ON replies (at);
"""
_COLUMNS = (
    "at, provider, model, type, input_tokens, output_tokens, estimated, latency_s, outcome, replayed, "
    "notebook, kernel, pid"
)


@dataclass(frozen=True)
class Entry:
    """One recorded reply (or failed call)."""

    at: float
    provider: str
    model: str
    type: str
    input_tokens: int
    output_tokens: int
    estimated: bool
    latency_s: float | None
    outcome: str
    replayed: bool
    notebook: str
    kernel: str
    pid: int = 0


def ledger_path() -> Path:
    """Where the ledger is: ``usage.sqlite`` in ``$JUPYTER_PROVIDERS_DIR`` or the Jupyter config dir."""
    return default_config_dir() / FILE_NAME


_origin: tuple[int, str, str] | None = None


def origin() -> tuple[str, str]:
    """(notebook, kernel) of this process: the notebook's path as Jupyter Server (``JPY_SESSION_NAME``) or VS Code
    (``__vsc_ipynb_file__``) tells it, else ``""``; the kernel id from ipykernel's connection file, else ``pid N``."""
    global _origin
    pid = os.getpid()
    if _origin is None or _origin[0] != pid:
        _origin = (pid, *_find_origin(pid))
    return _origin[1], _origin[2]


def _find_origin(pid: int) -> tuple[str, str]:
    notebook = os.environ.get("JPY_SESSION_NAME", "")
    kernel = f"pid {pid}"
    # only asked when this process is a kernel (its kernelapp is loaded): importing ipykernel.kernelapp here would
    # load ipykernel.ipkernel, which swaps comm's manager, and every widget made before could no longer close
    if "ipykernel.kernelapp" in sys.modules:
        try:
            from ipykernel.connect import get_connection_file

            name = Path(get_connection_file()).stem  # kernel-<id>.json
            kernel = name.removeprefix("kernel-") or kernel
        except Exception:  # not a kernel after all (ipykernel imported by a tool)
            pass
    if not notebook and "IPython" in sys.modules:
        try:
            from IPython import get_ipython

            shell = get_ipython()
            found = shell.user_ns.get("__vsc_ipynb_file__") if shell is not None else None
            notebook = found if isinstance(found, str) else ""
        except Exception:
            pass
    return notebook, kernel


class _Db:
    """One connection per process and ledger file, shared by its threads under a lock."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.pid = path, os.getpid()
        self.conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
        self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        with self.conn:
            self.conn.executescript(_SCHEMA)
        self.lock = threading.Lock()

    def insert(self, e: Entry) -> None:
        row = (
            e.at, e.provider, e.model, e.type, e.input_tokens, e.output_tokens, int(e.estimated), e.latency_s,
            e.outcome, int(e.replayed), e.notebook, e.kernel, e.pid,
        )  # fmt: skip
        with self.lock, self.conn:  # closed meanwhile: sqlite3.ProgrammingError, an sqlite3.Error
            self.conn.execute(f"INSERT INTO replies ({_COLUMNS}) VALUES ({', '.join('?' * 13)})", row)

    def close(self) -> None:
        """Under the lock: a thread still inserting (a map's row in flight) is never cut off mid-statement, which
        crashed the process (sqlite3 with ``check_same_thread=False`` leaves that to the caller)."""
        with self.lock:
            self.conn.close()


_db: _Db | None = None
_db_lock = threading.Lock()
_warned: set[str] = set()


def _open(path: Path) -> _Db:
    global _db
    with _db_lock:
        db = _db
        if db is None or db.path != path or db.pid != os.getpid():
            if db is not None and db.pid == os.getpid():
                db.close()  # the config dir changed (tests): one open ledger at a time
            db = _db = _Db(path)
        return db


def record(entry: Entry) -> bool:
    """Add ``entry`` to the ledger; ``False`` (said once in the log) when it cannot be written."""
    path = ledger_path()
    try:
        _open(path).insert(entry)
        return True
    except (sqlite3.Error, OSError) as exc:
        if str(path) not in _warned:
            _warned.add(str(path))
            log.warning("jupyter-providers: usage not recorded in %s: %s", path, exc)
        return False


def new_entry(
    provider: str, model: str, type_: str, tokens: tuple[int, int], estimated: bool, latency_s: float | None,
    outcome: str, replayed: bool,
) -> Entry:  # fmt: skip
    notebook, kernel = origin()
    return Entry(
        time.time(), provider, model, type_, tokens[0], tokens[1], estimated, latency_s, outcome, replayed,
        notebook, kernel, os.getpid(),
    )  # fmt: skip


def read_entries(
    path: Path | None = None, *, since: float | None = None, notebook: str | None = None
) -> Iterator[Entry]:
    """The recorded rows, oldest first: those ended at ``since`` (a time stamp) or later, of one ``notebook``
    (its path, or a kernel id / ``pid N`` when no path was known)."""
    path = path or ledger_path()
    if not path.exists():
        return
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        where: list[str] = []
        args: list[Any] = []
        if since is not None:
            where.append("at >= ?")
            args.append(since)
        if notebook is not None:
            where.append("(notebook = ? OR (notebook = '' AND kernel = ?))")
            args += [notebook, notebook]
        sql = f"SELECT {_COLUMNS} FROM replies" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id"
        for r in conn.execute(sql, args):
            yield Entry(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7], r[8], bool(r[9]), r[10], r[11], r[12])
    finally:
        conn.close()
