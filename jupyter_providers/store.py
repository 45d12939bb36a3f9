"""The provider store shared by everything in a kernel: records, validation, change events.

No HTTP here: :meth:`ProviderStore.verify` and :meth:`ProviderStore.fetch_models`
hand over to :mod:`jupyter_providers.client`, imported only when called.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ._address import check_address, is_official, mask_credentials, resolve_base
from ._checks import check_visible, fold_name
from ._fields import (
    PROVIDER_TYPES,
    as_secret,
    check_bool,
    check_deployments,
    check_env_name,
    check_headers,
    check_key,
    check_model_id,
    check_name,
    check_text,
    check_timeout,
    check_type,
    split_ids,
)
from ._persist import (
    HEADERS_SLOT,
    ConfigFiles,
    StoreFileError,
    admin_config_paths,
    default_config_dir,
    load_admin_entries,
)
from ._secret import Secret
from ._types import Verification

__all__ = ["PROVIDER_TYPES", "Model", "Provider", "ProviderStore", "check_timeout", "get_store"]

log = logging.getLogger("jupyter_providers")

#: the official SDKs' variables, tried in order when a provider has no key of its own
KEY_ENV_VARS: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "azure": ("AZURE_OPENAI_API_KEY",),
}
DEFAULT_AZURE_API_VERSION = "2024-10-21"
_GROUP_SPLIT_RE = re.compile(r"[-:/_.@]")

Listener = Callable[[str, "str | None"], None]


@dataclass(frozen=True)
class Model:
    """One model of a provider. ``name`` and ``group`` are for display; empty means derived from ``id``.

    ``context_length`` is the context window in tokens, as the server's model list gave it (vLLM's
    ``max_model_len``) when the models were fetched; ``None`` when no server said.
    """

    id: str
    name: str = ""
    group: str = ""
    context_length: int | None = None

    @property
    def context_note(self) -> str:
        """``"2,048 tokens"`` when the context length is known, else ``""``."""
        return f"{self.context_length:,} tokens" if self.context_length else ""

    @property
    def display_name(self) -> str:
        return self.name or self.id

    @property
    def group_name(self) -> str:
        if self.group:
            return self.group
        tail = self.id.rsplit("/", 1)[-1]
        return _GROUP_SPLIT_RE.split(tail, maxsplit=1)[0] or self.id


@dataclass(frozen=True)
class Provider:
    """A snapshot of one provider. Change it through the store, which validates and persists."""

    name: str
    type: str
    base_url: str = ""
    #: ``None``: take the key from the SDK's environment variable; ``""``: send no key. A str given
    #: here is kept as a :class:`Secret` (it compares equal to the str; it never prints)
    api_key: Secret | str | None = field(default=None, repr=False)
    api_key_env: str | None = None
    enabled: bool = True
    models: tuple[Model, ...] = ()
    api_version: str | None = None
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    verify_tls: bool = True
    readonly: bool = False
    last_verification: Verification | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.api_key, str):
            object.__setattr__(self, "api_key", Secret(self.api_key))

    @property
    def model_ids(self) -> list[str]:
        return [m.id for m in self.models]

    @property
    def address(self) -> str:
        """The address with blanks filled: Azure reads ``AZURE_OPENAI_ENDPOINT`` when none was typed."""
        if not self.base_url and self.type == "azure":
            return os.environ.get("AZURE_OPENAI_ENDPOINT", "").strip()
        return self.base_url

    @property
    def resolved_base(self) -> str:
        return resolve_base(self.type, self.address)

    def key_env_names(self) -> tuple[str, ...]:
        """The variables a key is read from when none was entered: the one named with ``api_key_env``,
        else the SDK's own, but only for the type's official address (``OFFICIAL_HOSTS``): a local
        server or a proxy never receives ``$OPENAI_API_KEY`` unless it is named for it."""
        if self.api_key_env:
            return (self.api_key_env,)
        if self.type == "azure" and not self.base_url:
            # the address is $AZURE_OPENAI_ENDPOINT (or none yet): both come from the same environment
            return KEY_ENV_VARS["azure"]
        return KEY_ENV_VARS[self.type] if is_official(self.type, self.address) else ()

    @property
    def withheld_env(self) -> str | None:
        """The SDK variable that is set but not sent, because the address is not the official one."""
        if self.api_key or self.api_key == "" or self.api_key_env or self.key_env_names():
            return None
        return next((v for v in KEY_ENV_VARS[self.type] if os.environ.get(v)), None)

    def key_hint(self) -> str:
        """What to do when no key is found, naming the variables; one line, never a key."""
        where = f"enter a key for {self.name!r} in the panel (or %providers key {self.name})"
        v = self.withheld_env
        if v:
            return f"{where}; ${v} is sent only to the official address - use api_key_env={v!r} to send it here"
        names = " or ".join(self.key_env_names())
        return f"set {names} or {where}" if names else f"{where}, or name its variable with api_key_env"

    def _key_text(self) -> tuple[str, str]:
        """(raw key text, source): an entered key wins, then the variable, ``""`` means none."""
        if self.api_key:
            return _reveal(self.api_key), "entered"
        if self.api_key == "" and not self.api_key_env:
            return "", "none"
        for var in self.key_env_names():
            if os.environ.get(var):
                return os.environ[var], f"${var}"
        return "", "none"

    @property
    def keys(self) -> list[Secret]:
        """The key(s) requests use: comma-separated keys are several keys. Never printed."""
        return [Secret(k.strip()) for k in self._key_text()[0].split(",") if k.strip()]

    def secret_values(self) -> list[str]:
        """Every secret this provider holds, for scrubbing messages: the key text as entered or read from
        its variable, each key, each custom header value."""
        text = self._key_text()[0]
        return [text, *(k.strip() for k in text.split(",")), *self.headers.values()]

    @property
    def key_source(self) -> str:
        """Where the key comes from, for display: ``entered``, ``$VAR`` or ``none``."""
        return self._key_text()[1]

    @property
    def key_label(self) -> str:
        """:attr:`key_source` for tables and messages, saying when an SDK variable is held back."""
        v = self.withheld_env
        return f"none (${v} is not sent here: --key-env {v} sends it)" if v else self.key_source

    @property
    def effective_api_version(self) -> str:
        return self.api_version or os.environ.get("OPENAI_API_VERSION") or DEFAULT_AZURE_API_VERSION

    def model(self, model_id: str) -> Model | None:
        return next((m for m in self.models if m.id == model_id), None)


def _secrets(p: Provider) -> dict[str, str]:
    """What of ``p`` goes to the key store, by slot: its key, and its custom headers (as JSON).

    Custom headers often carry a credential (``Authorization``, ``X-Api-Key``, a proxy's token), so
    their values are kept with the keys (keyring or ``keys.json``), in a slot of their own
    (``HEADERS_SLOT``: no provider name holds a control character); the providers file holds only
    their names."""
    out = {p.name: _reveal(p.api_key)} if p.api_key else {}
    if p.headers:
        out[p.name + HEADERS_SLOT] = json.dumps(dict(p.headers), sort_keys=True)
    return out


def _stored_headers(entry: Mapping[str, Any], secret: str | None) -> dict[str, str]:
    """A stored provider's headers: from the key store (their names only are in the file), or, as
    older versions and administrators write them, from the entry itself."""
    raw = entry.get("headers")
    if isinstance(raw, Mapping) or raw is None:
        return check_headers(raw)
    if not secret:
        if raw:
            log.warning(
                "jupyter-providers: the custom headers of %r (%s) are missing from the key store; set them again",
                entry.get("name"), ", ".join(map(str, raw)),
            )  # fmt: skip
        return {}
    try:
        return check_headers(json.loads(secret))
    except ValueError:
        raise ValueError("headers: the stored custom headers are not readable; set them again") from None


def _reveal(key: Secret | str) -> str:
    return key.reveal() if isinstance(key, Secret) else key


def _to_entry(p: Provider) -> dict[str, Any]:
    return {
        "name": p.name,
        "type": p.type,
        "base_url": p.base_url,
        "enabled": p.enabled,
        "models": [_model_entry(m) for m in p.models],
        "api_version": p.api_version,
        "headers": sorted(p.headers),  # the names; the values are kept with the keys
        "api_key_env": p.api_key_env,
        "verify_tls": p.verify_tls,
        "no_key": p.api_key == "",
    }


def _model_entry(m: Model) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": m.id, "name": m.name, "group": m.group}
    if m.context_length:
        entry["context_length"] = m.context_length
    return entry


def _from_entry(
    entry: Mapping[str, Any], key: Secret | str | None, readonly: bool = False, headers: str | None = None
) -> Provider:
    models = []
    for m in entry.get("models") or []:
        if isinstance(m, str):
            models.append(Model(m))
        elif isinstance(m, Mapping) and isinstance(m.get("id"), str):
            n = m.get("context_length")
            n = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else None
            models.append(Model(m["id"], str(m.get("name") or ""), str(m.get("group") or ""), n))
    if key is None and entry.get("no_key"):
        key = ""
    return Provider(
        name=check_name(entry.get("name")),
        type=check_type(entry.get("type", "openai")),
        base_url=check_address(str(entry.get("base_url") or "")),
        api_key=key,
        api_key_env=entry.get("api_key_env") or None,
        enabled=bool(entry.get("enabled", True)),
        models=tuple(models),
        api_version=entry.get("api_version") or None,
        headers=MappingProxyType(_stored_headers(entry, headers)),
        verify_tls=bool(entry.get("verify_tls", True)),
        readonly=readonly,
    )


class ProviderStore:
    """Named providers, validated, persisted, observable. ``list(store)`` gives :class:`Provider` records.

    ``directory=None`` uses ``$JUPYTER_PROVIDERS_DIR`` or the Jupyter config dir;
    ``persist=False`` keeps everything in memory (tests, throw-away sessions).
    """

    def __init__(
        self,
        directory: str | Path | None = None,
        *,
        persist: bool = True,
        admin_paths: Iterable[str | Path] | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._providers: dict[str, Provider] = {}
        self._admin: dict[str, Provider] = {}
        self._listeners: list[Listener] = []
        #: context lengths the servers' model lists gave, per provider: kept for models added after a fetch
        self._context_lengths: dict[str, dict[str, int]] = {}
        self._files = ConfigFiles(Path(directory) if directory else default_config_dir()) if persist else None
        paths = [Path(p) for p in admin_paths] if admin_paths is not None else admin_config_paths()
        for entry in load_admin_entries(paths):
            try:
                p = _from_entry(entry, None, readonly=True)
            except ValueError as exc:
                log.warning("jupyter-providers: skipping an admin provider: %s", exc)
                continue
            self._admin.setdefault(p.name, p)
        #: why the providers file could not be read, if it could not (reads then show the last good state,
        #: changes are refused until the file is fixed, so it is never overwritten)
        self.load_error: StoreFileError | None = None
        #: entries of the file this version cannot read (another version's, or hand-edited): written back as found
        self._unreadable: list[Any] = []
        #: the key store's slots as last read: what a write compares with to know which slots change
        self._stored_secrets: dict[str, str] = {}
        try:
            self.reload()
        except StoreFileError as exc:
            self.load_error = exc
            log.warning("jupyter-providers: %s", exc)

    # -- reading -------------------------------------------------------------------------
    def reload(self) -> None:
        """Re-read the providers file (other kernels may have changed it)."""
        with self._lock:
            self._load()
            self.load_error = None
        self._emit("reloaded", None)

    def _load(self) -> None:
        if self._files is None:
            return
        entries, keys = self._files.load()
        fresh: dict[str, Provider] = {}
        unreadable: list[Any] = []
        for entry in entries:
            try:
                if not isinstance(entry, dict):
                    raise ValueError(f"{entry!r:.40} is not a JSON object")
                name = str(entry.get("name"))
                p = _from_entry(entry, keys.get(name), headers=keys.get(name + HEADERS_SLOT))
            except ValueError as exc:
                log.warning("jupyter-providers: skipping a stored provider (kept in the file as it is): %s", exc)
                unreadable.append(entry)
                continue
            old = self._providers.get(p.name)
            if old is not None:
                p = dataclasses.replace(p, last_verification=old.last_verification)
            fresh[p.name] = p
        self._providers = fresh
        self._unreadable = unreadable
        self._stored_secrets = keys

    def _sync(self) -> None:
        if self._files is not None and self._files.changed_on_disk():
            try:
                self._load()
                self.load_error = None
            except StoreFileError as exc:  # reported once per bad version of the file; writes keep raising
                self.load_error = exc
                log.warning("jupyter-providers: %s", exc)

    def _all(self) -> dict[str, Provider]:
        with self._lock:
            self._sync()
            # an administrator's provider wins over a personal one that has the same name
            return {**self._admin, **{n: p for n, p in self._providers.items() if n not in self._admin}}

    def __iter__(self) -> Iterator[Provider]:
        return iter(list(self._all().values()))

    def __len__(self) -> int:
        return len(self._all())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._all()

    def __getitem__(self, name: str) -> Provider:
        providers = self._all()
        try:
            return providers[name]
        except KeyError:
            known = ", ".join(providers) or "none yet"
            raise KeyError(f"no provider named {name!r}; known providers: {known}") from None

    def get(self, name: str) -> Provider | None:
        return self._all().get(name)

    def names(self) -> list[str]:
        return list(self._all())

    def __repr__(self) -> str:
        inner = ", ".join(f"{p.name}({p.type}{'' if p.enabled else ', disabled'})" for p in self)
        return f"<ProviderStore [{inner}]>"

    # -- changing ------------------------------------------------------------------------
    def _mutate(self, event: str, name: str, change: Callable[[dict[str, Provider]], None]) -> None:
        """Apply ``change`` to a fresh copy of the providers, persist it, then notify."""
        with self._lock:
            if self._files is None:
                work = dict(self._providers)
                change(work)
                self._providers = work
            else:
                with self._files.locked():
                    self._load()
                    before = self._stored_secrets
                    work = dict(self._providers)
                    change(work)
                    secrets = {slot: v for p in work.values() for slot, v in _secrets(p).items()}
                    changed = {n for n in before.keys() | secrets.keys() if before.get(n) != secrets.get(n)}
                    # a provider added or removed always (re)writes its slots: no stale secret is inherited
                    for n in self._providers.keys() ^ work.keys():
                        changed |= {n, n + HEADERS_SLOT}
                    entries: list[Any] = [_to_entry(p) for p in work.values()]
                    self._files.save(entries + self._unreadable, secrets, changed)
                    self._stored_secrets = secrets
                    self._providers = work
        self._emit(event, name)

    def _editable(self, work: dict[str, Provider], name: str) -> Provider:
        if name in self._admin:
            raise ValueError(f"name: provider {name!r} is managed by your administrator and is read-only")
        if name not in work:
            known = ", ".join([*self._admin, *work]) or "none yet"
            raise KeyError(f"no provider named {name!r}; known providers: {known}")
        return work[name]

    def add(
        self,
        name: str,
        type: str = "openai",
        base_url: str = "",
        api_key: str | None = None,
        *,
        models: Iterable[str] = (),
        enabled: bool = True,
        api_version: str | None = None,
        headers: Mapping[str, str] | None = None,
        api_key_env: str | None = None,
        verify_tls: bool = True,
    ) -> Provider:
        """Add a provider. ``api_key=None`` falls back to the SDK's variable; ``""`` means no key."""
        secret = as_secret(api_key)
        del api_key  # from here on only the masked value is a local (what a Verbose traceback prints)
        if not isinstance(models, str | Iterable):
            raise ValueError(f"models: give a list of model ids, not {models!r}")
        ids = [check_model_id(i) for m in ([models] if isinstance(models, str) else models) for i in split_ids(m)]
        provider = Provider(
            name=check_name(name),
            type=check_type(type),
            base_url=check_address(str(base_url or "")),
            api_key=check_key(secret),
            api_key_env=check_env_name(api_key_env),
            enabled=check_bool("enabled", enabled),
            models=tuple(Model(i) for i in dict.fromkeys(ids)),
            api_version=check_text("api_version", api_version) or None,
            headers=MappingProxyType(check_headers(headers)),
            verify_tls=check_bool("verify_tls", verify_tls),
        )
        check_deployments(provider.type, provider.model_ids)

        def change(work: dict[str, Provider]) -> None:
            taken = [*self._admin, *work, *(str(e.get("name")) for e in self._unreadable if isinstance(e, dict))]
            clash = next((n for n in taken if fold_name(n) == fold_name(provider.name)), None)
            if clash is not None:
                same = "" if clash.lower() == provider.name.lower() else " (the same once case and width are set aside)"
                raise ValueError(f"name: a provider named {clash!r} already exists{same}; pick another name")
            work[provider.name] = provider

        self._mutate("added", provider.name, change)
        return self[provider.name]

    _UPDATABLE = frozenset(
        {"base_url", "api_key", "api_key_env", "enabled", "api_version", "headers", "verify_tls", "type"}
    )

    def update(self, name: str, /, **changes: Any) -> Provider:
        """Change fields: ``base_url``, ``api_key``, ``enabled``, ``api_version``, ``headers``, ..."""
        unknown = set(changes) - self._UPDATABLE
        if unknown:
            raise ValueError(f"{sorted(unknown)[0]}: not a field you can update; use {sorted(self._UPDATABLE)}")
        if "api_key" in changes:  # masked at once: no traceback frame prints it
            changes["api_key"] = as_secret(changes["api_key"])
        clean: dict[str, Any] = {}
        for k, v in changes.items():
            if k == "base_url":
                clean[k] = check_address(str(v or ""))
            elif k == "api_key":
                clean[k] = check_key(v)
            elif k == "api_key_env":
                clean[k] = check_env_name(v)
            elif k == "headers":
                clean[k] = MappingProxyType(check_headers(v))
            elif k == "type":
                clean[k] = check_type(v)
            elif k in ("enabled", "verify_tls"):
                clean[k] = check_bool(k, v)
            else:
                clean[k] = check_text(k, v) or None

        def change(work: dict[str, Provider]) -> None:
            p = dataclasses.replace(self._editable(work, name), **clean)
            if "type" in clean and clean["type"] != work[name].type:
                check_deployments(p.type, p.model_ids)
            work[name] = p

        self._mutate("updated", name, change)
        return self[name]

    def remove(self, name: str) -> None:
        def change(work: dict[str, Provider]) -> None:
            del work[self._editable(work, name).name]

        self._mutate("removed", name, change)

    def add_models(self, name: str, *model_ids: str) -> Provider:
        """Add model ids (each also accepted as a comma-separated string); existing ids are kept once."""
        ids = [check_model_id(part) for m in model_ids for part in split_ids(m)]
        if not ids:
            raise ValueError("model: give at least one model id")

        def change(work: dict[str, Provider]) -> None:
            p = self._editable(work, name)
            check_deployments(p.type, ids)
            have, known = set(p.model_ids), self._context_lengths.get(name, {})
            new = tuple(Model(i, context_length=known.get(i)) for i in dict.fromkeys(ids) if i not in have)
            work[name] = dataclasses.replace(p, models=p.models + new)

        self._mutate("updated", name, change)
        return self[name]

    def remove_model(self, name: str, model_id: str) -> Provider:
        def change(work: dict[str, Provider]) -> None:
            p = self._editable(work, name)
            if model_id not in p.model_ids:
                raise KeyError(f"provider {name!r} has no model {model_id!r}; it has: {', '.join(p.model_ids)}")
            work[name] = dataclasses.replace(p, models=tuple(m for m in p.models if m.id != model_id))

        self._mutate("updated", name, change)
        return self[name]

    def update_model(
        self,
        name: str,
        model_id: str,
        *,
        id: str | None = None,
        display_name: str | None = None,
        group: str | None = None,
    ) -> Provider:
        """Rename a model id, or set its display name / group (``""`` restores the derived one)."""
        new_id = check_model_id(id) if id is not None else None
        display_name = check_text("display_name", display_name) if display_name is not None else None
        group = check_text("group", group) if group is not None else None
        for field_, text in (("display_name", display_name), ("group", group)):
            check_visible(field_, text or "", "name")

        def change(work: dict[str, Provider]) -> None:
            p = self._editable(work, name)
            m = p.model(model_id)
            if m is None:
                raise KeyError(f"provider {name!r} has no model {model_id!r}; it has: {', '.join(p.model_ids)}")
            if new_id and new_id != model_id and new_id in p.model_ids:
                raise ValueError(f"model: {new_id!r} is already in {name!r}")
            if new_id:
                check_deployments(p.type, [new_id])
            repl = dataclasses.replace(
                m,
                id=new_id or m.id,
                name=m.name if display_name is None else display_name.strip(),
                group=m.group if group is None else group.strip(),
            )
            work[name] = dataclasses.replace(p, models=tuple(repl if x is m else x for x in p.models))

        self._mutate("updated", name, change)
        return self[name]

    def _record_verification(self, name: str, verdict: Verification) -> Verification:
        """Keep ``verdict`` as the provider's last one (what the panel and ``%providers`` show), scrubbed
        again of the provider's secrets as it is now."""
        from ._secret import redactor_for, scrub_verdict

        p = self.get(name)
        if p is not None:
            verdict = scrub_verdict(verdict, redactor_for(p))
        with self._lock:
            for table in (self._providers, self._admin):
                if name in table:
                    table[name] = dataclasses.replace(table[name], last_verification=verdict)
        self._emit("verified", name)
        return verdict

    # -- events --------------------------------------------------------------------------
    def on_change(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback(event, name)`` after each change; returns a function that unsubscribes.

        Events: ``added``, ``updated``, ``removed``, ``verified``, ``reloaded`` (name ``None``).
        """
        with self._lock:
            self._listeners.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return unsubscribe

    def _emit(self, event: str, name: str | None) -> None:
        for cb in list(self._listeners):
            try:
                cb(event, name)
            except Exception:  # a broken observer must not break the store
                log.exception("jupyter-providers: a store listener failed")

    # -- talking to servers (delegated) --------------------------------------------------
    def endpoint_preview(self, name: str, model: str | None = None) -> str:
        """The exact URL a chat request will go to (no key, ever; credentials in ``AZURE_OPENAI_ENDPOINT``,
        which the store does not check, are shown as ``***``)."""
        from .adapters import ADAPTERS

        p = self[name]
        if p.type == "azure" and not p.address:
            p = dataclasses.replace(p, base_url="https://{resource}.openai.azure.com")
        url = ADAPTERS[p.type].chat_url(p, model or (p.model_ids[0] if p.models else "{model}"), stream=False)
        return mask_credentials(url)

    def verify(self, name: str, model: str | None = None, *, timeout: float | None = None) -> Verification:
        """Send a one-token chat and say precisely what happened (see :class:`Verification`)."""
        from .client import verify

        if model is not None:
            model = check_model_id(model)
        verdict = verify(self[name], model, timeout=check_timeout(timeout))
        return self._record_verification(name, verdict)

    def fetch_models(self, name: str, *, timeout: float | None = None) -> list[str]:
        """The model ids the server offers, all pages followed. Raises a :class:`ProviderError`.

        Context lengths the list gives (vLLM's ``max_model_len``) are set on the provider's models,
        and on the ones added from this list later."""
        from .client import list_models

        lengths: dict[str, int] = {}
        ids = list_models(self[name], timeout=check_timeout(timeout), context_lengths=lengths)
        if lengths:
            self._learn_context_lengths(name, lengths)
        return ids

    def _learn_context_lengths(self, name: str, lengths: dict[str, int]) -> None:
        with self._lock:
            self._context_lengths.setdefault(name, {}).update(lengths)
            p = self.get(name)
            if (
                p is None
                or p.readonly
                or all(lengths.get(m.id, m.context_length) == m.context_length for m in p.models)
            ):
                return

        def change(work: dict[str, Provider]) -> None:
            p = self._editable(work, name)
            models = tuple(dataclasses.replace(m, context_length=lengths.get(m.id, m.context_length)) for m in p.models)
            work[name] = dataclasses.replace(p, models=models)

        self._mutate("updated", name, change)


_store: ProviderStore | None = None
_store_lock = threading.Lock()


def get_store() -> ProviderStore:
    """The one store shared by everything in this kernel (created on first use)."""
    global _store
    with _store_lock:
        if _store is None:
            _store = ProviderStore()
        return _store
