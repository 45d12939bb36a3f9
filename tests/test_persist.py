"""Persistence: providers.json, the key file or keyring, admin providers, corrupt files, atomic writes."""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
import types
from pathlib import Path
from typing import Any

import pytest

from jupyter_providers import Verification
from jupyter_providers import _persist as persist
from jupyter_providers._persist import KEYRING_SERVICE, StoreFileError, _Keyring, default_config_dir
from jupyter_providers.store import Model, ProviderStore

SECRET = "sk-SECRET-0123456789"
KEY_VARS = ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "AZURE_OPENAI_API_KEY"]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The key file backend, no key from the machine, never the real config dir."""
    for var in [*KEY_VARS, "AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION"]:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("JUPYTER_PROVIDERS_KEYRING", "0")
    monkeypatch.setenv("JUPYTER_PROVIDERS_DIR", str(tmp_path / "default-config"))


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    return tmp_path / "store-dir"


def open_store(directory: Path, admin: list[Path] | None = None) -> ProviderStore:
    return ProviderStore(directory, admin_paths=admin or [])


def providers_json(directory: Path) -> dict[str, Any]:
    data = json.loads((directory / "providers.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def keys_json(directory: Path) -> dict[str, str]:
    data = json.loads((directory / "keys.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def leftovers(directory: Path) -> list[str]:
    """Files that are neither the two data files nor the lock: temp files of an interrupted write."""
    keep = {"providers.json", "keys.json", ".providers.lock"}
    return sorted(p.name for p in directory.iterdir() if p.name not in keep)


# -- round trip -------------------------------------------------------------------------------------------------


def test_a_second_store_sees_what_the_first_wrote(cfg: Path) -> None:
    first = open_store(cfg)
    first.add(
        "vLLM",
        type="openai",
        base_url="http://localhost:8000/",
        api_key=SECRET,
        models=["gpt2", "smollm2"],
        headers={"X-Team": "ml"},
        api_version="2024-01-01",
        api_key_env="MY_VAR",
        verify_tls=False,
    )
    first.update_model("vLLM", "smollm2", display_name="SmolLM2", group="Small")
    first.add("claude", type="anthropic", enabled=False)
    first.add("local", api_key="")

    second = open_store(cfg)
    assert list(second) == list(first)
    p = second["vLLM"]
    assert p.base_url == "http://localhost:8000/"
    assert p.api_key == SECRET
    assert p.models == (Model("gpt2"), Model("smollm2", "SmolLM2", "Small"))
    assert dict(p.headers) == {"X-Team": "ml"}
    assert (p.api_version, p.api_key_env, p.verify_tls) == ("2024-01-01", "MY_VAR", False)
    assert second["claude"].enabled is False
    assert second["claude"].api_key is None
    assert second.names() == ["vLLM", "claude", "local"]


def test_the_file_format(cfg: Path) -> None:
    open_store(cfg).add("p", base_url="http://h:1", models=["m"])
    data = providers_json(cfg)
    assert data["version"] == 1
    [entry] = data["providers"]
    assert entry["name"] == "p"
    assert entry["type"] == "openai"
    assert entry["models"] == [{"id": "m", "name": "", "group": ""}]


def test_empty_key_round_trips_as_no_key(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    open_store(cfg).add("local", api_key="")
    monkeypatch.setenv("OPENAI_API_KEY", "env-key")
    p = open_store(cfg)["local"]
    assert p.api_key == ""
    assert (p.keys, p.key_source) == ([], "none")


def test_no_key_round_trips_as_use_the_variable(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    open_store(cfg).add("cloud", api_key=None)
    monkeypatch.setenv("OPENAI_API_KEY", "env-key")
    p = open_store(cfg)["cloud"]
    assert p.api_key is None
    assert (p.keys, p.key_source) == (["env-key"], "$OPENAI_API_KEY")


def test_store_notices_changes_made_by_another_store(cfg: Path) -> None:
    mine, other = open_store(cfg), open_store(cfg)
    other.add("p", base_url="http://h:1")
    assert "p" in mine  # no reload() needed
    other.update("p", enabled=False, api_key=SECRET)
    assert mine["p"].enabled is False
    assert mine["p"].api_key == SECRET
    other.add_models("p", "m1")
    assert mine["p"].model_ids == ["m1"]
    other.remove("p")
    assert "p" not in mine
    assert len(mine) == 0


def test_a_change_never_loses_another_stores_change(cfg: Path) -> None:
    mine, other = open_store(cfg), open_store(cfg)
    mine.add("a")
    other.add("b")
    mine.add("c")  # reads the file under the lock before writing
    assert open_store(cfg).names() == ["a", "b", "c"]


def test_concurrent_writers_lose_nothing(cfg: Path) -> None:
    stores = [open_store(cfg) for _ in range(3)]
    errors: list[BaseException] = []

    def work(i: int, s: ProviderStore) -> None:
        try:
            for j in range(8):
                s.add(f"s{i}-{j}", api_key=f"key-{i}-{j}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i, s)) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    final = open_store(cfg)
    assert len(final) == 24
    assert final["s2-7"].api_key == "key-2-7"
    assert len(keys_json(cfg)) == 24


def test_a_verification_survives_a_sync(cfg: Path) -> None:
    mine, other = open_store(cfg), open_store(cfg)
    mine.add("p")
    verdict = Verification(ok=True, kind="ok", message="fine")
    mine._record_verification("p", verdict)
    other.update("p", api_version="v2")
    assert mine["p"].api_version == "v2"
    assert mine["p"].last_verification == verdict


def test_reload_emits_and_rereads(cfg: Path) -> None:
    mine = open_store(cfg)
    events: list[tuple[str, str | None]] = []
    mine.on_change(lambda e, n: events.append((e, n)))
    open_store(cfg).add("p")
    mine.reload()
    assert events == [("reloaded", None)]
    assert "p" in mine


def test_a_bad_entry_on_disk_is_skipped_not_fatal(cfg: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg.mkdir(parents=True)
    entries = [
        {"name": "good", "type": "openai"},
        {"name": "bad-type", "type": "bedrock"},
        {"name": "bad-url", "base_url": "ftp://x"},
        "not an object",
        {"name": "legacy", "models": ["a", {"id": "b", "name": "B"}, {"no": "id"}]},
    ]
    (cfg / "providers.json").write_text(json.dumps({"version": 1, "providers": entries}))
    store = open_store(cfg)
    assert store.names() == ["good", "legacy"]
    assert store["legacy"].models == (Model("a"), Model("b", "B"))
    assert "'bedrock' is not a provider type" in caplog.text


def test_persist_false_writes_nothing(tmp_path: Path) -> None:
    store = ProviderStore(tmp_path / "never", persist=False, admin_paths=[])
    store.add("p", api_key=SECRET)
    assert not (tmp_path / "never").exists()
    assert not (tmp_path / "default-config").exists()


# -- keys are kept apart ---------------------------------------------------------------------------------------------


def test_providers_json_never_holds_the_key(cfg: Path) -> None:
    store = open_store(cfg)
    store.add("p", api_key=SECRET)
    store.add("q", type="anthropic", api_key=f"{SECRET}-a,{SECRET}-b")
    store.update("p", enabled=False)
    text = (cfg / "providers.json").read_text(encoding="utf-8")
    assert "SECRET" not in text
    assert '"p"' in text


def test_key_file_has_mode_0600_and_holds_the_key(cfg: Path) -> None:
    open_store(cfg).add("p", api_key=SECRET)
    path = cfg / "keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys_json(cfg) == {"p": SECRET}


def test_key_file_stays_0600_after_rewrites(cfg: Path) -> None:
    store = open_store(cfg)
    store.add("p", api_key=SECRET)
    store.update("p", api_key="sk-other")
    store.add("q", api_key="sk-q")
    assert stat.S_IMODE((cfg / "keys.json").stat().st_mode) == 0o600
    assert keys_json(cfg) == {"p": "sk-other", "q": "sk-q"}


def test_no_key_file_until_there_is_a_key(cfg: Path) -> None:
    store = open_store(cfg)
    store.add("local", api_key="")
    store.add("cloud")
    assert (cfg / "providers.json").exists()
    assert not (cfg / "keys.json").exists()


def test_removing_a_provider_removes_its_key(cfg: Path) -> None:
    store = open_store(cfg)
    store.add("p", api_key=SECRET)
    store.add("q", api_key="sk-q")
    store.remove("p")
    assert keys_json(cfg) == {"q": "sk-q"}
    assert SECRET not in (cfg / "keys.json").read_text()
    store.add("p")  # the same name again does not inherit the old key
    assert open_store(cfg)["p"].api_key is None


def test_clearing_a_key_removes_it_from_the_file(cfg: Path) -> None:
    store = open_store(cfg)
    store.add("p", api_key=SECRET)
    store.update("p", api_key="")
    assert keys_json(cfg) == {}
    assert open_store(cfg)["p"].api_key == ""
    store.update("p", api_key=SECRET)
    store.update("p", api_key=None)
    assert keys_json(cfg) == {}
    assert open_store(cfg)["p"].api_key is None


def test_no_key_in_the_saved_files_or_reprs(cfg: Path) -> None:
    store = open_store(cfg)
    p = store.add("p", api_key=SECRET, models=["m"])
    for text in (repr(store), repr(p), str(p), (cfg / "providers.json").read_text()):
        assert "SECRET" not in text


# -- corrupt files ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ('{"version": 1, "providers": [{"name": "p"', "Expecting"),
        ('[{"name": "p"}]', "not a JSON object"),
        ("", "Expecting value"),
        ("\x00\x01garbage", "Expecting value"),
    ],
    ids=["truncated", "list", "empty", "garbage"],
)
def test_corrupt_providers_file_is_reported_and_kept(cfg: Path, content: str, why: str) -> None:
    cfg.mkdir(parents=True)
    path = cfg / "providers.json"
    path.write_text(content, encoding="utf-8")
    store = open_store(cfg)  # the kernel still gets a store: empty, with the reason
    assert list(store) == []
    assert isinstance(store.load_error, StoreFileError)
    message = str(store.load_error)
    with pytest.raises(StoreFileError):
        store.add("q")  # refusing to write is what keeps the bad file intact
    assert str(path) in message
    assert why in message
    assert "reload()" in message  # says what to do
    backups = list(cfg.glob("providers.json.corrupt-*"))
    assert len(backups) == 1
    assert str(backups[0]) in message
    assert backups[0].read_text(encoding="utf-8") == content
    assert path.read_text(encoding="utf-8") == content  # not overwritten


def test_corruption_after_start_blocks_changes_and_keeps_the_file(cfg: Path) -> None:
    store = open_store(cfg)
    store.add("p", api_key=SECRET)
    path = cfg / "providers.json"
    broken = path.read_text(encoding="utf-8")[:25]
    path.write_text(broken, encoding="utf-8")
    assert store.names() == ["p"]  # reads keep the last good state ...
    assert isinstance(store.load_error, StoreFileError)  # ... and say why it is stale
    with pytest.raises(StoreFileError):
        store.add("q")
    with pytest.raises(StoreFileError):
        store.update("p", enabled=False)
    with pytest.raises(StoreFileError):
        store.remove("p")
    assert path.read_text(encoding="utf-8") == broken
    assert keys_json(cfg) == {"p": SECRET}
    assert len(list(cfg.glob("providers.json.corrupt-*"))) == 1
    # fixed by hand, then reload() works again
    path.unlink()
    store.reload()
    assert list(store) == [] and store.load_error is None
    store.add("q")
    assert open_store(cfg).names() == ["q"]


def test_corrupt_key_file_is_reported_too(cfg: Path) -> None:
    open_store(cfg).add("p", api_key=SECRET)
    (cfg / "keys.json").write_text("{oops", encoding="utf-8")
    store = open_store(cfg)
    assert isinstance(store.load_error, StoreFileError) and "key file" in str(store.load_error)
    with pytest.raises(StoreFileError, match="key file"):
        store.update("p", enabled=False)
    assert list(cfg.glob("keys.json.corrupt-*"))
    assert (cfg / "keys.json").read_text() == "{oops"


def test_corrupt_error_never_shows_the_keys(cfg: Path) -> None:
    cfg.mkdir(parents=True)
    (cfg / "keys.json").write_text('{"p": "' + SECRET + '"', encoding="utf-8")
    (cfg / "providers.json").write_text('{"providers": [{"name": "p"}]}', encoding="utf-8")
    store = open_store(cfg)
    assert store.load_error is not None
    assert SECRET not in str(store.load_error) and "SECRET" not in str(store.load_error)


# -- atomic writes ---------------------------------------------------------------------------------------------------


def test_writes_leave_no_temp_files(cfg: Path) -> None:
    store = open_store(cfg)
    store.add("p", api_key=SECRET, models=["a"])
    store.update("p", enabled=False)
    store.add_models("p", "b")
    store.add("q")
    store.remove("q")
    assert leftovers(cfg) == []


def test_a_failed_write_keeps_the_old_file_and_the_old_state(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(cfg)
    store.add("p", models=["a"])
    before_text = (cfg / "providers.json").read_bytes()
    before = list(store)

    def refuse(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(persist.os, "replace", refuse)
    with pytest.raises(StoreFileError, match="No space left"):
        store.add_models("p", "b")
    monkeypatch.undo()
    assert (cfg / "providers.json").read_bytes() == before_text
    assert leftovers(cfg) == []
    assert list(store) == before
    assert open_store(cfg)["p"].model_ids == ["a"]


def test_providers_file_is_replaced_not_rewritten_in_place(cfg: Path) -> None:
    store = open_store(cfg)
    store.add("p")
    inode = (cfg / "providers.json").stat().st_ino
    store.add("q")
    assert (cfg / "providers.json").stat().st_ino != inode


# -- where the files live ----------------------------------------------------------------------------------------------


def test_default_config_dir_honours_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JUPYTER_PROVIDERS_DIR", str(tmp_path / "here"))
    assert default_config_dir() == tmp_path / "here"
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("JUPYTER_PROVIDERS_DIR", "~/there")
    assert default_config_dir() == tmp_path / "there"


def test_default_config_dir_is_under_the_jupyter_config_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JUPYTER_PROVIDERS_DIR")
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "jupyter"))
    assert default_config_dir() == tmp_path / "jupyter" / "jupyter_providers"


def test_a_store_without_directory_uses_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JUPYTER_PROVIDERS_DIR", str(tmp_path / "from-env"))
    ProviderStore(admin_paths=[]).add("p", api_key=SECRET)
    assert [e["name"] for e in providers_json(tmp_path / "from-env")["providers"]] == ["p"]
    assert keys_json(tmp_path / "from-env") == {"p": SECRET}


def test_admin_paths_default_to_the_jupyter_config_paths() -> None:
    paths = persist.admin_config_paths()
    assert paths
    assert all(p.parts[-2:] == ("jupyter_providers", "providers.json") for p in paths)
    assert any(str(p).startswith(sys.prefix) for p in paths)  # the environment's config path is one


def test_admin_paths_begin_with_the_jupyter_config_path_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """As ``jupyter --paths`` lists them; the user's own store is never one, even in a folder the variable names."""
    hub, own = tmp_path / "hub", tmp_path / "own"
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", os.pathsep.join([str(hub), "", str(own.parent / "own-cfg")]))
    monkeypatch.setenv("JUPYTER_PROVIDERS_DIR", str(own.parent / "own-cfg" / "jupyter_providers"))
    paths = persist.admin_config_paths()
    assert paths[0] == hub / "jupyter_providers" / "providers.json"
    assert own.parent / "own-cfg" / "jupyter_providers" / "providers.json" not in paths
    write_admin(paths[0], {"name": "Hub", "type": "openai", "base_url": "http://127.0.0.1:9/v1", "models": ["m"]})
    store = ProviderStore(directory=tmp_path / "mine")
    assert store["Hub"].readonly and store["Hub"].model_ids == ["m"]


# -- admin providers ---------------------------------------------------------------------------------------------------


def write_admin(path: Path, *entries: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": 1, "providers": list(entries)}), encoding="utf-8")
    return path


CORP = {"name": "Corp", "type": "Azure OpenAI", "base_url": "https://corp.openai.azure.com", "models": ["gpt-4o"]}


def test_admin_providers_appear_read_only(cfg: Path, tmp_path: Path) -> None:
    admin = write_admin(tmp_path / "etc" / "providers.json", CORP)
    store = open_store(cfg, [admin])
    store.add("mine")
    corp = store["Corp"]
    assert corp.readonly is True
    assert corp.type == "azure"
    assert corp.model_ids == ["gpt-4o"]
    assert store["mine"].readonly is False
    assert store.names() == ["Corp", "mine"]
    assert "https://corp.openai.azure.com/openai/deployments/gpt-4o/" in store.endpoint_preview("Corp")
    # admin providers are not copied into the person's own file
    assert [e["name"] for e in providers_json(cfg)["providers"]] == ["mine"]


@pytest.mark.parametrize(
    "action",
    [
        lambda s: s.update("Corp", enabled=False),
        lambda s: s.update("Corp", api_key="sk-mine"),
        lambda s: s.remove("Corp"),
        lambda s: s.add_models("Corp", "other"),
        lambda s: s.remove_model("Corp", "gpt-4o"),
        lambda s: s.update_model("Corp", "gpt-4o", display_name="x"),
    ],
    ids=["update", "update-key", "remove", "add_models", "remove_model", "update_model"],
)
def test_admin_providers_cannot_be_changed(cfg: Path, tmp_path: Path, action: Any) -> None:
    admin = write_admin(tmp_path / "etc" / "providers.json", CORP)
    store = open_store(cfg, [admin])
    before = list(store)
    with pytest.raises(ValueError, match="read-only"):
        action(store)
    assert list(store) == before
    assert store["Corp"].readonly is True


@pytest.mark.parametrize("name", ["Corp", "corp", "CORP"])
def test_admin_names_cannot_be_reused(cfg: Path, tmp_path: Path, name: str) -> None:
    admin = write_admin(tmp_path / "etc" / "providers.json", CORP)
    store = open_store(cfg, [admin])
    with pytest.raises(ValueError, match=r"^name: .*already exists"):
        store.add(name)
    assert store.names() == ["Corp"]


def test_admin_entry_wins_over_a_personal_one_with_the_same_name(cfg: Path, tmp_path: Path) -> None:
    open_store(cfg).add("Corp", base_url="http://personal:1")  # made before the administrator added Corp
    admin = write_admin(tmp_path / "etc" / "providers.json", CORP)
    store = open_store(cfg, [admin])
    assert store["Corp"].readonly is True
    assert store["Corp"].base_url == "https://corp.openai.azure.com"
    assert [p.name for p in store] == ["Corp"]


def test_admin_providers_take_keys_from_the_environment(
    cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = write_admin(
        tmp_path / "etc" / "providers.json", CORP, {"name": "Local", "base_url": "http://h:1", "no_key": True}
    )
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "az-env")
    monkeypatch.setenv("OPENAI_API_KEY", "oa-env")
    store = open_store(cfg, [admin])
    assert store["Corp"].keys == ["az-env"]
    assert store["Local"].keys == []


def test_admin_files_first_path_wins_and_bad_files_are_skipped(
    cfg: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env_file = write_admin(tmp_path / "env" / "providers.json", {**CORP, "base_url": "https://env.openai.azure.com"})
    sys_file = write_admin(tmp_path / "sys" / "providers.json", CORP, {"name": "Shared", "type": "gemini"})
    broken = tmp_path / "broken" / "providers.json"
    broken.parent.mkdir()
    broken.write_text("{not json", encoding="utf-8")
    bad_entry = write_admin(
        tmp_path / "bad" / "providers.json", {"name": "", "type": "openai"}, {"name": "T", "type": "x"}
    )
    missing = tmp_path / "missing" / "providers.json"
    store = open_store(cfg, [missing, broken, env_file, sys_file, bad_entry])
    assert store.names() == ["Corp", "Shared"]
    assert store["Corp"].base_url == "https://env.openai.azure.com"
    assert "ignoring" in caplog.text
    assert "skipping an admin provider" in caplog.text


def test_admin_provider_can_be_verified(cfg: Path, tmp_path: Path) -> None:
    admin = write_admin(tmp_path / "etc" / "providers.json", CORP)
    store = open_store(cfg, [admin])
    events: list[tuple[str, str | None]] = []
    store.on_change(lambda e, n: events.append((e, n)))
    verdict = Verification(ok=False, kind="unreachable", message="connection refused")
    store._record_verification("Corp", verdict)
    assert store["Corp"].last_verification == verdict
    assert events == [("verified", "Corp")]


# -- keyring backend ---------------------------------------------------------------------------------------------------


class FakeKeyringModule(types.ModuleType):
    """The three functions of the ``keyring`` package, in memory."""

    def __init__(self) -> None:
        super().__init__("keyring")
        self.passwords: dict[tuple[str, str], str] = {}
        self.deleted: list[tuple[str, str]] = []

    def get_password(self, service: str, name: str) -> str | None:
        return self.passwords.get((service, name))

    def set_password(self, service: str, name: str, password: str) -> None:
        self.passwords[(service, name)] = password

    def delete_password(self, service: str, name: str) -> None:
        self.deleted.append((service, name))
        if (service, name) not in self.passwords:
            raise KeyError(name)  # the real one raises PasswordDeleteError
        del self.passwords[(service, name)]


@pytest.fixture
def fake_keyring(monkeypatch: pytest.MonkeyPatch) -> FakeKeyringModule:
    module = FakeKeyringModule()
    monkeypatch.setattr(persist, "_usable_keyring", lambda: _Keyring(module))
    return module


def test_keyring_holds_the_keys_and_no_key_file_is_written(cfg: Path, fake_keyring: FakeKeyringModule) -> None:
    store = open_store(cfg)
    store.add("p", api_key=SECRET)
    store.add("local", api_key="")
    assert fake_keyring.passwords == {(KEYRING_SERVICE, "p"): SECRET}
    assert not (cfg / "keys.json").exists()
    assert "SECRET" not in (cfg / "providers.json").read_text()
    second = open_store(cfg)
    assert second["p"].api_key == SECRET
    assert second["local"].api_key == ""


def test_keyring_update_and_remove(cfg: Path, fake_keyring: FakeKeyringModule) -> None:
    store = open_store(cfg)
    store.add("p", api_key=SECRET)
    store.add("q", api_key="sk-q")
    store.update("p", api_key="sk-new")
    assert fake_keyring.passwords[(KEYRING_SERVICE, "p")] == "sk-new"
    store.update("p", api_key="")
    assert (KEYRING_SERVICE, "p") not in fake_keyring.passwords
    store.remove("q")
    assert fake_keyring.passwords == {}
    # a delete of a key that is not there is not an error
    store.update("p", api_key=None)
    assert not (cfg / "keys.json").exists()


def test_keyring_only_touches_changed_keys(cfg: Path, fake_keyring: FakeKeyringModule) -> None:
    store = open_store(cfg)
    store.add("p", api_key=SECRET)
    assert fake_keyring.deleted == [(KEYRING_SERVICE, "p\x1fheaders")]  # added: no stale headers inherited
    fake_keyring.passwords[(KEYRING_SERVICE, "p")] = "rotated-elsewhere"
    store.update("p", enabled=False)  # no key change: the keyring entry is left as it is
    assert fake_keyring.passwords[(KEYRING_SERVICE, "p")] == "rotated-elsewhere"
    assert fake_keyring.deleted == [(KEYRING_SERVICE, "p\x1fheaders")]


def test_custom_headers_are_kept_with_the_keys_not_in_the_providers_file(cfg: Path) -> None:
    """A header is often a credential (a proxy's token): only its name goes to providers.json."""
    store = open_store(cfg)
    store.add("proxy", base_url="http://h:1", api_key="", headers={"Authorization": f"Bearer {SECRET}", "X-Team": "ml"})
    assert SECRET not in (cfg / "providers.json").read_text()
    assert providers_json(cfg)["providers"][0]["headers"] == ["Authorization", "X-Team"]
    assert (cfg / "keys.json").stat().st_mode & 0o777 == 0o600 and SECRET in (cfg / "keys.json").read_text()
    again = open_store(cfg)["proxy"]
    assert dict(again.headers) == {"Authorization": f"Bearer {SECRET}", "X-Team": "ml"} and again.api_key == ""
    open_store(cfg).update("proxy", headers={})
    assert "headers" not in (cfg / "keys.json").read_text() and open_store(cfg)["proxy"].headers == {}


def test_headers_written_by_an_older_version_move_to_the_key_store(cfg: Path) -> None:
    cfg.mkdir(parents=True)
    old = {"name": "p", "type": "openai", "base_url": "http://h:1", "headers": {"X-Api-Key": SECRET}}
    (cfg / "providers.json").write_text(json.dumps({"version": 1, "providers": [old]}))
    store = open_store(cfg)
    assert dict(store["p"].headers) == {"X-Api-Key": SECRET}  # read as it was
    store.add("other")  # the next write moves them
    assert SECRET not in (cfg / "providers.json").read_text()
    assert dict(open_store(cfg)["p"].headers) == {"X-Api-Key": SECRET}


def test_headers_missing_from_the_key_store_are_dropped_with_a_warning(
    cfg: Path, caplog: pytest.LogCaptureFixture
) -> None:
    open_store(cfg).add("p", base_url="http://h:1", headers={"X-Api-Key": SECRET})
    (cfg / "keys.json").unlink()  # e.g. copied to another machine without its keys
    p = open_store(cfg)["p"]
    assert p.headers == {} and "custom headers of 'p' (X-Api-Key) are missing" in caplog.text
    assert SECRET not in caplog.text


def test_keyring_keeps_the_headers_too(cfg: Path, fake_keyring: FakeKeyringModule) -> None:
    open_store(cfg).add("p", api_key=SECRET, headers={"X-Api-Key": "hdr-secret"})
    assert json.loads(fake_keyring.passwords[(KEYRING_SERVICE, "p\x1fheaders")]) == {"X-Api-Key": "hdr-secret"}
    assert "hdr-secret" not in (cfg / "providers.json").read_text() and not (cfg / "keys.json").exists()
    assert dict(open_store(cfg)["p"].headers) == {"X-Api-Key": "hdr-secret"}
    open_store(cfg).remove("p")
    assert fake_keyring.passwords == {}


def _install_fake_keyring_package(monkeypatch: pytest.MonkeyPatch, backend: Any) -> types.ModuleType:
    pkg = types.ModuleType("keyring")
    backends = types.ModuleType("keyring.backends")
    fail = types.ModuleType("keyring.backends.fail")

    class FailKeyring:
        priority = 0

    fail.Keyring = FailKeyring  # type: ignore[attr-defined]
    backends.fail = fail  # type: ignore[attr-defined]
    pkg.backends = backends  # type: ignore[attr-defined]
    pkg.get_keyring = lambda: backend if backend is not None else FailKeyring()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "keyring", pkg)
    monkeypatch.setitem(sys.modules, "keyring.backends", backends)
    monkeypatch.setitem(sys.modules, "keyring.backends.fail", fail)
    return pkg


def test_usable_keyring_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    good = types.SimpleNamespace(priority=5)
    pkg = _install_fake_keyring_package(monkeypatch, good)
    monkeypatch.setenv("JUPYTER_PROVIDERS_KEYRING", "1")
    found = persist._usable_keyring()
    assert isinstance(found, _Keyring)
    assert found.keyring is pkg
    for off in ("0", "false", "No", "OFF"):
        monkeypatch.setenv("JUPYTER_PROVIDERS_KEYRING", off)
        assert persist._usable_keyring() is None
    monkeypatch.setenv("JUPYTER_PROVIDERS_KEYRING", "1")
    _install_fake_keyring_package(monkeypatch, None)  # only the "fail" backend
    assert persist._usable_keyring() is None
    _install_fake_keyring_package(monkeypatch, types.SimpleNamespace(priority=0))
    assert persist._usable_keyring() is None


def test_no_keyring_package_means_the_key_file(monkeypatch: pytest.MonkeyPatch, cfg: Path) -> None:
    monkeypatch.setenv("JUPYTER_PROVIDERS_KEYRING", "1")
    monkeypatch.setitem(sys.modules, "keyring", None)  # import keyring -> ImportError
    assert persist._usable_keyring() is None
    open_store(cfg).add("p", api_key=SECRET)
    assert keys_json(cfg) == {"p": SECRET}


def test_key_file_mode_does_not_depend_on_umask(cfg: Path) -> None:
    old = os.umask(0)
    try:
        open_store(cfg).add("p", api_key=SECRET)
    finally:
        os.umask(old)
    assert stat.S_IMODE((cfg / "keys.json").stat().st_mode) == 0o600


@pytest.mark.parametrize("backend", ["file", "keyring"])
def test_a_key_left_by_a_failed_add_is_not_inherited(
    cfg: Path, monkeypatch: pytest.MonkeyPatch, backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "keyring":
        request.getfixturevalue("fake_keyring")
    store = open_store(cfg)
    store.add("other")
    real_replace = os.replace

    def fail_for_providers(src: Any, dst: Any) -> None:
        if str(dst).endswith("providers.json"):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(persist.os, "replace", fail_for_providers)
    with pytest.raises(StoreFileError):
        store.add("p", api_key=SECRET)  # all or nothing: the key is not saved either
    monkeypatch.setattr(persist.os, "replace", real_replace)
    assert "p" not in store
    # added again, this time meaning "use the environment variable": the old key must not come back
    assert store.add("p", api_key=None).api_key is None
    assert open_store(cfg)["p"].api_key is None
    assert leftovers(cfg) == []
