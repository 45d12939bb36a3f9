"""Where the store lives on disk: the providers file, the key file (or keyring), the admin files.

* ``providers.json`` holds everything but keys. Writes are atomic (temp file +
  ``os.replace``) and happen under a file lock so two kernels never lose an update.
* Keys live apart: in the system keyring when the ``keyring`` package has a usable
  backend, else in ``keys.json`` created with mode 0600.
* A providers file that cannot be read is never overwritten: it is copied aside and
  a :class:`StoreFileError` says where.
* Administrators pre-provision read-only providers in ``jupyter_providers/providers.json``
  under the system and environment Jupyter config paths.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["ConfigFiles", "StoreFileError", "admin_config_paths", "default_config_dir"]

log = logging.getLogger("jupyter_providers")

SCHEMA_VERSION = 1
KEYRING_SERVICE = "jupyter-providers"
#: the key store's slot for a provider's custom headers is ``name + HEADERS_SLOT`` (see store.py)
HEADERS_SLOT = "\x1fheaders"


class StoreFileError(RuntimeError):
    """The providers file on disk is unreadable; it was kept, not overwritten."""


def default_config_dir() -> Path:
    env = os.environ.get("JUPYTER_PROVIDERS_DIR")
    if env:
        return Path(env).expanduser()
    from jupyter_core.paths import jupyter_config_dir

    return Path(jupyter_config_dir()) / "jupyter_providers"


def admin_config_paths() -> list[Path]:
    """System-wide files, most specific first (environment, then system)."""
    from jupyter_core.paths import ENV_CONFIG_PATH, SYSTEM_CONFIG_PATH

    return [Path(p) / "jupyter_providers" / "providers.json" for p in [*ENV_CONFIG_PATH, *SYSTEM_CONFIG_PATH]]


def _write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _read_json(path: Path, what: str, check: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any] | None:
    """The file's JSON object, ``None`` if absent; a broken file is copied aside and reported.

    ``check`` raises ``ValueError`` for a JSON object of the wrong shape: that file is broken too.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
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
        data = _read_json(self.path, "key file", _check_keys) or {}
        return {str(k): str(v) for k, v in data.items()}

    def save(self, keys: dict[str, str]) -> None:
        if not keys and not self.path.exists():
            return
        _write_atomic(self.path, json.dumps(keys, indent=1, sort_keys=True), mode=0o600)


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

        self.dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.dir / ".providers.lock"), timeout=30):
            yield

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.providers_path.stat()
        except FileNotFoundError:
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
        if self.keyring is not None:
            for name in changed_keys:
                self.keyring.set(name, keys.get(name))
        elif changed_keys:
            self.keys.save(keys)
        payload = {"version": SCHEMA_VERSION, "providers": entries}
        _write_atomic(self.providers_path, json.dumps(payload, indent=1))
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
