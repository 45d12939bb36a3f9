"""A change that writes keys and providers is all or nothing; the key file stays private; a folder
that refuses is one line naming it and ``JUPYTER_PROVIDERS_DIR``."""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jupyter_providers import _persist as persist
from jupyter_providers._persist import StoreFileError
from jupyter_providers.store import ProviderStore

KEY_A = "sk-atomic-before-7c1d0e"
KEY_B = "sk-atomic-after-93b2aa"


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    return tmp_path / "store-dir"


def open_store(directory: Path) -> ProviderStore:
    return ProviderStore(directory, admin_paths=[])


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file of the folder, byte for byte (temporary and backup files included: none may stay)."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file() and p.name != ".providers.lock"}


def failing_at(n: int, err: int, real: Callable[..., Any]) -> Callable[..., Any]:
    """``real``, except that its ``n``-th call (1-based) raises ``OSError(err)``."""
    calls = [0]

    def fn(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == n:
            raise OSError(err, os.strerror(err))
        return real(*args, **kwargs)

    return fn


# A change of a key and of the providers: keys.json and providers.json are written (2 writes, 2 fsyncs,
# 2 replaces); a failure at any one of them must leave both files as they were.
STEPS = [("write", 1), ("write", 2), ("fsync", 1), ("fsync", 2), ("replace", 1), ("replace", 2), ("link", 1)]


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EACCES], ids=["ENOSPC", "EACCES"])
@pytest.mark.parametrize(("call", "n"), STEPS, ids=[f"{c}-{n}" for c, n in STEPS])
def test_a_failed_write_changes_neither_file(
    cfg: Path, monkeypatch: pytest.MonkeyPatch, call: str, n: int, err: int
) -> None:
    store = open_store(cfg)
    store.add("P", base_url="http://127.0.0.1:9", api_key=KEY_A, models=["m"])
    before_files, before_store = snapshot(cfg), list(store)
    assert {"keys.json", "providers.json"} <= set(before_files)
    monkeypatch.setattr(persist.os, call, failing_at(n, err, getattr(os, call)))
    with pytest.raises(StoreFileError) as info:
        store.update("P", api_key=KEY_B, base_url="http://127.0.0.1:10")  # both files change
    monkeypatch.undo()
    message = str(info.value)
    assert "\n" not in message and "nothing was changed" in message and os.strerror(err) in message
    assert KEY_A not in message and KEY_B not in message
    assert ("free some space" if err == errno.ENOSPC else "JUPYTER_PROVIDERS_DIR") in message
    assert snapshot(cfg) == before_files, "both files as they were, and no temporary file left"
    assert list(store) == before_store
    again = open_store(cfg)["P"]
    assert again.api_key == KEY_A and again.base_url == "http://127.0.0.1:9"
    store.update("P", api_key=KEY_B)  # and the next change works
    assert open_store(cfg)["P"].api_key == KEY_B


def test_a_new_key_file_is_removed_when_the_providers_file_fails(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(cfg)
    store.add("P", base_url="http://127.0.0.1:9", api_key="", models=["m"])
    before = snapshot(cfg)
    assert "keys.json" not in before
    monkeypatch.setattr(persist.os, "replace", failing_at(2, errno.ENOSPC, os.replace))
    with pytest.raises(StoreFileError, match="No space left"):
        store.update("P", api_key=KEY_B)
    monkeypatch.undo()
    assert snapshot(cfg) == before and open_store(cfg)["P"].api_key == ""


def test_a_failing_keyring_changes_nothing(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saved: dict[str, str] = {}

    class Broken:
        def get_password(self, service: str, name: str) -> str | None:
            return saved.get(name)

        def set_password(self, service: str, name: str, value: str) -> None:
            if value == KEY_B:
                raise RuntimeError("the keyring is locked")
            saved[name] = value

        def delete_password(self, service: str, name: str) -> None:
            saved.pop(name, None)

    monkeypatch.setattr(persist, "_usable_keyring", lambda: persist._Keyring(Broken()))
    store = open_store(cfg)
    store.add("P", base_url="http://127.0.0.1:9", api_key=KEY_A, models=["m"])
    before = snapshot(cfg)
    with pytest.raises(StoreFileError, match=r"keyring is locked.*JUPYTER_PROVIDERS_KEYRING=0"):
        store.update("P", api_key=KEY_B, base_url="http://127.0.0.1:10")
    assert snapshot(cfg) == before and saved == {"P": KEY_A}
    assert open_store(cfg)["P"].base_url == "http://127.0.0.1:9"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o666])
def test_a_key_file_others_can_read_is_made_private(cfg: Path, mode: int, caplog: pytest.LogCaptureFixture) -> None:
    open_store(cfg).add("P", base_url="http://127.0.0.1:9", api_key=KEY_A, models=["m"])
    keys = cfg / "keys.json"
    os.chmod(keys, mode)
    with caplog.at_level(logging.WARNING, logger="jupyter_providers"):
        store = open_store(cfg)
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert store["P"].api_key == KEY_A
    warned = [r.getMessage() for r in caplog.records]
    assert any(f"mode {mode:04o}" in w and "now 0600" in w and str(keys) in w for w in warned), warned
    assert KEY_A not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="jupyter_providers"):
        open_store(cfg)
    assert not caplog.records, "warned once: the file is private now"


def test_a_folder_that_cannot_be_created_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    store = ProviderStore(blocker / "jupyter_providers", admin_paths=[])  # reading finds nothing: fine
    with pytest.raises(StoreFileError) as info:
        store.add("P", base_url="http://127.0.0.1:9")
    message = str(info.value)
    assert "\n" not in message and str(blocker / "jupyter_providers") in message
    assert "JUPYTER_PROVIDERS_DIR" in message and "nothing was changed" in message


def test_an_unwritable_folder_is_one_line(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As root every folder is writable, so the refusal is the one the OS gives a user: EACCES."""
    store = open_store(cfg)
    real_mkdir = Path.mkdir

    def refuse(self: Path, *args: Any, **kwargs: Any) -> None:
        if self == cfg:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(StoreFileError) as info:
        store.add("P", base_url="http://127.0.0.1:9")
    message = str(info.value)
    assert message == (
        f"cannot write to the folder {cfg} (Permission denied) - nothing was changed; make {cfg} writable, "
        "or set JUPYTER_PROVIDERS_DIR to a folder you can write"
    )
    assert "P" not in store


def test_an_unreadable_providers_file_is_one_line(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    open_store(cfg).add("P", base_url="http://127.0.0.1:9")
    real_read = Path.read_text

    def refuse(self: Path, *args: Any, **kwargs: Any) -> str:
        if self.name == "providers.json":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_read(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", refuse)
    store = open_store(cfg)
    assert store.load_error is not None
    message = str(store.load_error)
    assert "\n" not in message and f"cannot read {cfg / 'providers.json'} (Permission denied)" in message
    assert "JUPYTER_PROVIDERS_DIR" in message


def test_a_full_disk_is_one_line_in_providers(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from jupyter_providers.magics import ChatMagics

    store = open_store(cfg)
    store.add("P", base_url="http://127.0.0.1:9", api_key=KEY_A, models=["m"])
    before = snapshot(cfg)
    shell = InteractiveShell.instance()
    shell.register_magics(ChatMagics(shell, store=store))
    monkeypatch.setattr(persist.os, "fsync", failing_at(1, errno.ENOSPC, os.fsync))
    with capture_output() as cap:
        shell.run_line_magic("providers", "add Q --url http://127.0.0.1:10 --model m")
    assert cap.stdout == "" and len(cap.stderr.splitlines()) == 1
    assert "No space left on device" in cap.stderr and "nothing was changed" in cap.stderr
    assert snapshot(cfg) == before and "Q" not in store
