"""Where the store lives on disk: the providers file, the key file (or keyring), the admin files.

* ``providers.json`` holds everything but keys. Writes are atomic (temp file +
  ``os.replace``) and happen under a file lock so two kernels never lose an update.
* Keys live apart: in the system keyring when the ``keyring`` package has a usable
  backend, else in ``keys.json`` created with mode 0600 (a ``keys.json`` found readable by
  others is set back to 0600, with a warning).
* A change that writes keys and providers is all or nothing (:class:`_Transaction`): both
  new files are written in full first, and if putting the second in place fails the first
  is put back, so a full disk or a refused write leaves both files as they were.
* A folder that cannot be read or written is one :class:`StoreFileError` line naming it and
  ``JUPYTER_PROVIDERS_DIR``.
* A providers file that cannot be read is never overwritten: it is copied aside and
  a :class:`StoreFileError` says where.
* Administrators pre-provision read-only providers in ``jupyter_providers/providers.json``
  under the system and environment Jupyter config paths.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import logging
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import StoreFileError  # defined in the tree; still importable from here

__all__ = ["ConfigFiles", "StoreFileError", "admin_config_paths", "default_config_dir"]

log = logging.getLogger("jupyter_providers")

SCHEMA_VERSION = 1
KEYRING_SERVICE = "jupyter-providers"
#: the key store's slot for a provider's custom headers is ``name + HEADERS_SLOT`` (see store.py)
HEADERS_SLOT = "\x1fheaders"


def _io_error(exc: OSError, path: Path, doing: str) -> StoreFileError:
    """One line for a failed read or write of the store's files: what, where, and what to do."""
    why = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        hint = "free some space and try again"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        folder = path if path.is_dir() or not path.suffix else path.parent
        hint = f"make {folder} writable, or set JUPYTER_PROVIDERS_DIR to a folder you can write"
    else:
        hint = "check the folder, or set JUPYTER_PROVIDERS_DIR to another one"
    return StoreFileError(f"cannot {doing} {path} ({why}) - nothing was changed; {hint}")


#: what decides the config dir (jupyter_core and platformdirs read all but the first): kept per value of these
_DIR_VARIABLES = (
    "JUPYTER_PROVIDERS_DIR", "JUPYTER_CONFIG_DIR", "JUPYTER_NO_CONFIG", "HOME", "JUPYTER_PLATFORM_DIRS",
    "XDG_CONFIG_HOME",
)  # fmt: skip


def default_config_dir() -> Path:
    """``$JUPYTER_PROVIDERS_DIR``, else ``jupyter_providers`` in the Jupyter config dir (looked up once for each
    value of the variables that decide it: every reply's ledger entry asks)."""
    return _config_dir(tuple(os.environ.get(name) for name in _DIR_VARIABLES))


@functools.lru_cache(maxsize=16)
def _config_dir(variables: tuple[str | None, ...]) -> Path:
    env = variables[0]
    if env:
        return Path(env).expanduser()
    from jupyter_core.paths import jupyter_config_dir

    return Path(jupyter_config_dir()) / "jupyter_providers"


def admin_config_paths() -> list[Path]:
    """System-wide files, most specific first: ``$JUPYTER_CONFIG_PATH``'s folders (how a JupyterHub gives its users
    one), the environment's, the system's: ``jupyter --paths`` without the user's own folder and store."""
    from jupyter_core.paths import ENV_CONFIG_PATH, SYSTEM_CONFIG_PATH

    given = [p for p in os.environ.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p.strip()]
    found = [Path(p).expanduser() / "jupyter_providers" / "providers.json" for p in given]
    found += [Path(p) / "jupyter_providers" / "providers.json" for p in [*ENV_CONFIG_PATH, *SYSTEM_CONFIG_PATH]]
    own = os.path.abspath(default_config_dir() / "providers.json")
    return [p for p in dict.fromkeys(found) if os.path.abspath(p) != own]


def _write_temp(path: Path, text: str, mode: int) -> str:
    """``text`` written in full and synced to a temporary file beside ``path``; its name."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        data = text.encode("utf-8")
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        os.close(fd)
    return tmp


class _Transaction:
    """Put several files in place, all or none: each is written whole to a temporary file first;
    then they replace the old ones in turn, and if one replace fails the ones already done are
    put back (from hard links to the old files: a rename, no new space needed)."""

    def __init__(self) -> None:
        self._staged: list[tuple[Path, str]] = []

    def stage(self, path: Path, text: str, mode: int = 0o644) -> None:
        try:
            self._staged.append((path, _write_temp(path, text, mode)))
        except OSError as exc:
            self.abort()
            raise _io_error(exc, path, "write") from None

    def abort(self) -> None:
        for _, tmp in self._staged:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        self._staged = []

    def commit(self) -> None:
        olds: list[str | None] = []
        done: list[tuple[Path, str | None]] = []
        path = Path()
        try:
            for path, _ in self._staged:  # the old files stay reachable until every new one is in place
                olds.append(_backup(path))
            for (path, tmp), old in zip(self._staged, olds, strict=True):
                os.replace(tmp, path)
                done.append((path, old))
        except OSError as exc:
            for target, old in reversed(done):
                with contextlib.suppress(OSError):
                    if old:
                        os.replace(old, target)
                    else:
                        os.unlink(target)
            self.abort()
            _drop_backups(olds)
            raise _io_error(exc, path, "write") from None
        self._staged = []
        _drop_backups(olds)


def _backup(path: Path) -> str | None:
    """A hard link to the file now at ``path`` (``None`` if there is none), to put back on failure."""
    if not path.exists():
        return None
    name = str(path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.old"))
    try:
        os.link(path, name)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        shutil.copy2(path, name)  # a file system without hard links
    return name


def _drop_backups(olds: list[str | None]) -> None:
    for old in olds:
        if old:
            with contextlib.suppress(OSError):
                os.unlink(old)


def _read_json(path: Path, what: str, check: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any] | None:
    """The file's JSON object, ``None`` if absent; a broken file is copied aside and reported.

    ``check`` raises ``ValueError`` for a JSON object of the wrong shape: that file is broken too.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise _io_error(exc, path, "read") from None
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("the top level is not a JSON object")
        if check is not None:
            check(data)
    except ValueError as exc:
        digest = hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:10]
        backup = path.with_name(f"{path.name}.corrupt-{digest}")  # one copy per distinct bad content
        if not backup.exists():
            shutil.copy2(path, backup)
        raise StoreFileError(
            f"{what} {path} is not valid ({exc}); a copy is kept at {backup}. "
            f"Fix or delete {path.name}, then run get_store().reload()"
        ) from None
    return data


def _check_providers(data: dict[str, Any]) -> None:
    if not isinstance(data.get("providers", []), list):
        raise ValueError("'providers' is not a list")


def _check_keys(data: dict[str, Any]) -> None:
    bad = next((name for name, value in data.items() if not isinstance(value, str)), None)
    if bad is not None:
        raise ValueError(f"the key of {bad!r} is not a string")  # the name only: never a key


class _KeyFile:
    """Keys in a JSON file readable by its owner only (mode 0600)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, str]:
        self._fix_mode()
        data = _read_json(self.path, "key file", _check_keys) or {}
        return {str(k): str(v) for k, v in data.items()}

    def _fix_mode(self) -> None:
        """A key file others can read (group/other bits) is set back to 0600, with a warning."""
        try:
            mode = stat.S_IMODE(self.path.stat().st_mode)
        except OSError:
            return
        if mode & 0o077:
            try:
                os.chmod(self.path, 0o600)
            except OSError as exc:
                log.warning(
                    "jupyter-providers: %s is readable by others (mode %04o) and could not be set to 0600 (%s); "
                    "fix it with chmod 600", self.path, mode, exc.strerror,
                )  # fmt: skip
            else:
                log.warning(
                    "jupyter-providers: %s was readable by others (mode %04o); it is now 0600 (owner only)",
                    self.path, mode,
                )  # fmt: skip

    def stage(self, tx: _Transaction, keys: dict[str, str]) -> None:
        if not keys and not self.path.exists():
            return
        tx.stage(self.path, json.dumps(keys, indent=1, sort_keys=True), mode=0o600)


class _Keyring:
    """Keys in the system keyring; an index of names is kept with the config."""

    def __init__(self, module: Any) -> None:
        self.keyring = module

    def get(self, name: str) -> str | None:
        value = self.keyring.get_password(KEYRING_SERVICE, name)
        return value if isinstance(value, str) else None

    def set(self, name: str, key: str | None) -> None:
        if key:
            self.keyring.set_password(KEYRING_SERVICE, name, key)
        else:
            with contextlib.suppress(Exception):
                self.keyring.delete_password(KEYRING_SERVICE, name)


def _usable_keyring() -> _Keyring | None:
    if os.environ.get("JUPYTER_PROVIDERS_KEYRING", "1").lower() in ("0", "false", "no", "off"):
        return None
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
        if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 0) <= 0:
            return None
    except Exception:
        return None
    return _Keyring(keyring)


class ConfigFiles:
    """The on-disk side of one store: load/save providers and keys, under one lock."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.providers_path = directory / "providers.json"
        self.keys = _KeyFile(directory / "keys.json")
        self.keyring = _usable_keyring()
        self._stamp: tuple[int, int, int] | None = None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        from filelock import FileLock

        lock = FileLock(str(self.dir / ".providers.lock"), timeout=30)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except OSError as exc:
            raise _io_error(exc, self.dir, "write to the folder") from None
        try:
            yield
        finally:
            lock.release()

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.providers_path.stat()
        except (FileNotFoundError, NotADirectoryError):  # no file (a write says why the folder cannot be)
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def changed_on_disk(self) -> bool:
        return self._file_stamp() != self._stamp

    def load(self) -> tuple[list[Any], dict[str, str]]:
        """Provider entries (as found: some may not be objects) and their keys, as last written by any kernel."""
        self._stamp = self._file_stamp()
        data = _read_json(self.providers_path, "providers file", _check_providers) or {}
        entries: list[Any] = list(data.get("providers", []))  # the store keeps the ones it cannot read
        if self.keyring is not None:
            keys = {}
            for entry in entries:
                if not isinstance(entry, dict):
                    continue
                slots = [str(entry.get("name"))]
                if isinstance(entry.get("headers"), list) and entry["headers"]:  # their values are kept here
                    slots.append(slots[0] + HEADERS_SLOT)
                for slot in slots:
                    value = self.keyring.get(slot)
                    if value:
                        keys[slot] = value
        else:
            keys = self.keys.load()
        return entries, keys

    def save(self, entries: list[Any], keys: dict[str, str], changed_keys: set[str]) -> None:
        """Write the providers and the changed keys, all or nothing (raises :class:`StoreFileError`)."""
        tx = _Transaction()
        if self.keyring is None and changed_keys:
            self.keys.stage(tx, keys)
        payload = {"version": SCHEMA_VERSION, "providers": entries}
        tx.stage(self.providers_path, json.dumps(payload, indent=1))
        restore: dict[str, str | None] = {}
        try:
            if self.keyring is not None:
                for name in changed_keys:
                    restore[name] = self.keyring.get(name)
                    self.keyring.set(name, keys.get(name))
            tx.commit()
        except BaseException as exc:
            tx.abort()
            for name, old in restore.items():  # the keyring as it was
                with contextlib.suppress(Exception):
                    self.keyring.set(name, old)  # type: ignore[union-attr]
            if isinstance(exc, StoreFileError | KeyboardInterrupt):
                raise
            if isinstance(exc, Exception):  # a keyring backend failing
                raise StoreFileError(
                    f"cannot save the keys in the keyring ({exc}) - nothing was changed; "
                    "set JUPYTER_PROVIDERS_KEYRING=0 to keep them in keys.json instead"
                ) from None
            raise
        self._stamp = self._file_stamp()


def load_admin_entries(paths: list[Path]) -> list[dict[str, Any]]:
    """Read-only providers an administrator installed; unreadable files are skipped with a warning."""
    entries: list[dict[str, Any]] = []
    for path in paths:
        try:
            data = _read_json(path, "admin providers file")
        except (StoreFileError, OSError) as exc:
            log.warning("jupyter-providers: ignoring %s", exc)
            continue
        if data:
            entries.extend(p for p in data.get("providers", []) if isinstance(p, dict))
    return entries
