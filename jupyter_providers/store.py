"""The provider store shared by everything in a kernel: named providers, validated, persisted, observable.

Its parts: the records (:mod:`._records`), the field checks (:mod:`._fields`), the file schema
(:mod:`._schema`) and the files themselves (:mod:`._persist`). No HTTP here: :meth:`ProviderStore.verify` and
:meth:`ProviderStore.fetch_models` go through the store's ``network`` (by default :mod:`jupyter_providers.client`,
looked up when first needed), which tests and other front ends may replace.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from ._address import check_address, mask_credentials
from ._checks import check_visible, fold_name
from ._doctor import AddressNote, fix_address, fix_changes, warn_note
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
    check_preset,
    check_price,
    check_text,
    check_timeout,
    check_type,
    split_ids,
)
from ._records import Model, Provider
from ._store_base import StoreBase
from ._types import Detection, ModelIds, Verification
from .adapters import adapter_for
from .errors import InvalidValueError, NotInStoreError, ProviderConfigError
from .presets import preset as get_preset

if TYPE_CHECKING:
    import httpx

    from ._secret import Secret

__all__ = [
    "PROVIDER_TYPES", "AddressNote", "Model", "Network", "Provider", "ProviderStore", "check_timeout", "get_store",
]  # fmt: skip

log = logging.getLogger("jupyter_providers")


class Network(Protocol):
    """What the store asks of the network: :mod:`jupyter_providers.client` is one."""

    def verify(
        self, p: Provider, model: str | None = None, *, timeout: float | None = None, http: httpx.Client | None = None
    ) -> Verification: ...

    def list_models(
        self,
        p: Provider,
        *,
        timeout: float | None = None,
        http: httpx.Client | None = None,
        context_lengths: dict[str, int] | None = None,
    ) -> ModelIds: ...

    def detect(
        self, address: str, key: Secret | None, *, timeout: float | None = None, http: httpx.Client | None = None
    ) -> Detection: ...


class ProviderStore(StoreBase):
    """Named providers, validated, persisted, observable. ``list(store)`` gives :class:`Provider` records.

    See :class:`~._store_base.StoreBase` for ``directory``, ``persist``, ``admin_paths`` and ``network``.
    """

    def add(
        self,
        name: str,
        type: str | None = None,
        base_url: str = "",
        api_key: str | Secret | None = None,
        *,
        models: Iterable[str] = (),
        enabled: bool = True,
        api_version: str | None = None,
        headers: Mapping[str, str] | None = None,
        api_key_env: str | None = None,
        verify_tls: bool = True,
        preset: str | None = None,
    ) -> Provider:
        """Add a provider. ``api_key=None`` falls back to the SDK's (or the preset's) variable; ``""`` means no key.

        ``type`` defaults to ``"openai"``; ``preset="groq"`` (see :data:`~.presets.PRESETS`) fills in the
        type, the address and the key variable of a well-known service or local server.

        An address pasted with an endpoint path or a query is reduced to its base (:mod:`._doctor`), with an
        :class:`AddressNote` warning saying what was removed: a model or deployment in the path is added, an
        ``api-version`` kept, and a key in the query (``?key=``) becomes the key when none is given here."""
        secret = as_secret(api_key)
        del api_key  # from here on only the masked value is a local (what a Verbose traceback prints)
        key_given = secret is not None or api_key_env is not None
        preset_name = check_preset(preset)
        chosen = get_preset(preset_name) if preset_name else None
        if chosen is not None:
            if type is not None and check_type(type) != chosen.type:
                raise InvalidValueError(
                    f"type: the {chosen.name} preset is of type {chosen.type!r}; leave the type out"
                )
            type, base_url = chosen.type, base_url or chosen.address
            if chosen.local and secret is None and api_key_env is None:
                secret = as_secret("")  # a local server takes no key unless one is entered
        if not isinstance(models, str | Iterable):
            raise InvalidValueError(f"models: give a list of model ids, not {models!r}")
        ids = [check_model_id(i) for m in ([models] if isinstance(models, str) else models) for i in split_ids(m)]
        type_name = check_type("openai" if type is None else type)
        fix = fix_address(str(base_url or ""), type_name)
        if fix.key is not None and not key_given:
            secret = fix.key  # the user's own key, pasted for this very address: kept in the key store
        ids += [check_model_id(fix.model)] if fix.model else []
        api_version = fix.options.get("api_version") if api_version is None else api_version
        provider = Provider(
            name=check_name(name),
            type=type_name,
            base_url=check_address(fix.address),
            api_key=check_key(secret),
            api_key_env=check_env_name(api_key_env),
            enabled=check_bool("enabled", enabled),
            models=tuple(Model(i) for i in dict.fromkeys(ids)),
            api_version=check_text("api_version", api_version) or None,
            headers=MappingProxyType(check_headers(headers)),
            verify_tls=check_bool("verify_tls", verify_tls),
            preset=chosen.name if chosen is not None else None,
        )
        check_deployments(provider.type, provider.model_ids)

        def change(work: dict[str, Provider]) -> None:
            taken = [*self._admin, *work, *(str(e.get("name")) for e in self._unreadable if isinstance(e, dict))]
            clash = next((n for n in taken if fold_name(n) == fold_name(provider.name)), None)
            if clash is not None:
                same = "" if clash.lower() == provider.name.lower() else " (the same once case and width are set aside)"
                raise InvalidValueError(f"name: a provider named {clash!r} already exists{same}; pick another name")
            work[provider.name] = provider

        self._mutate("added", provider.name, change)
        warn_note(fix, None if fix.key is None else not key_given, type_name)
        return self[provider.name]

    _UPDATABLE = frozenset(
        {"base_url", "api_key", "api_key_env", "enabled", "api_version", "headers", "verify_tls", "type"}
    )

    def update(self, name: str, /, **changes: Any) -> Provider:
        """Change fields: ``base_url``, ``api_key``, ``enabled``, ``api_version``, ``headers``, ..."""
        unknown = set(changes) - self._UPDATABLE
        if unknown:
            raise InvalidValueError(f"{sorted(unknown)[0]}: not a field you can update; use {sorted(self._UPDATABLE)}")
        if "api_key" in changes:  # masked at once: no traceback frame prints it
            changes["api_key"] = as_secret(changes["api_key"])
        fix, key_kept = None, None
        if "base_url" in changes:  # reduced to its base (the note says what was removed), as in add()
            current = self[name]
            fix, key_kept = fix_changes(changes, current, check_type(changes.get("type", current.type)))
        model = check_model_id(fix.model) if fix is not None and fix.model else None
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
            if model is not None and model not in p.model_ids:
                check_deployments(p.type, [model])
                p = dataclasses.replace(p, models=(*p.models, Model(model)))
            if "type" in clean and clean["type"] != work[name].type:
                check_deployments(p.type, p.model_ids)
            work[name] = p

        self._mutate("updated", name, change)
        if fix is not None:
            warn_note(fix, key_kept, self[name].type)
        return self[name]

    def remove(self, name: str) -> None:
        def change(work: dict[str, Provider]) -> None:
            del work[self._editable(work, name).name]

        self._mutate("removed", name, change)

    def add_models(self, name: str, *model_ids: str) -> Provider:
        """Add model ids (each also accepted as a comma-separated string); existing ids are kept once."""
        ids = [check_model_id(part) for m in model_ids for part in split_ids(m)]
        if not ids:
            raise InvalidValueError("model: give at least one model id")

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
                raise NotInStoreError(f"provider {name!r} has no model {model_id!r}; it has: {', '.join(p.model_ids)}")
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
                raise NotInStoreError(f"provider {name!r} has no model {model_id!r}; it has: {', '.join(p.model_ids)}")
            if new_id and new_id != model_id and new_id in p.model_ids:
                raise InvalidValueError(f"model: {new_id!r} is already in {name!r}")
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

    def set_price(self, name: str, model_id: str, *, input: float | None, output: float | None) -> Provider:
        """Set what a million input and output tokens of a model cost (``None`` for both: no price). The usage
        ledger, the ``%%chat`` footer and ``max_cost`` read it; nothing else does (no built-in price table)."""
        prices = [None if v is None else check_price(f, v) for f, v in (("input", input), ("output", output))]
        if (prices[0] is None) != (prices[1] is None):
            raise InvalidValueError("price: give both the input and the output price (0 for a free side)")

        def change(work: dict[str, Provider]) -> None:
            p = self._editable(work, name)
            if p.model(model_id) is None:
                raise NotInStoreError(f"provider {name!r} has no model {model_id!r}; it has: {', '.join(p.model_ids)}")
            models = tuple(
                dataclasses.replace(m, input_price=prices[0], output_price=prices[1]) if m.id == model_id else m
                for m in p.models
            )
            work[name] = dataclasses.replace(p, models=models)

        self._mutate("updated", name, change)
        return self[name]

    # -- talking to servers (delegated) --------------------------------------------------
    @property
    def network(self) -> Network:
        """What :meth:`verify` and :meth:`fetch_models` talk through: the client unless one was given."""
        if self._network is None:
            from . import client  # the one import upwards, lazy: the store itself stays free of HTTP

            self._network = client
        return self._network

    def endpoint_preview(self, name: str, model: str | None = None) -> str:
        """The exact URL a chat request will go to (no key, ever; credentials in an address read from the
        environment, which the store does not check, are shown as ``***``)."""
        p = self[name]
        if p.spec.needs_address and not p.address:
            p = dataclasses.replace(p, base_url=p.spec.placeholder or "https://{host}")
        model = model or (p.model_ids[0] if p.models else "{model}")
        return mask_credentials(adapter_for(p.type).chat_url(p.endpoint, model, stream=False))

    def detect(
        self, url: str, api_key: str | Secret | None = None, *, timeout: float | None = None, http: Any = None
    ) -> Detection:
        """Which provider types answer at ``url`` (each type's model list asked for at once, believed only in the
        type's own shape), whether a key is needed, the models listed (:mod:`._probe`). ``api_key`` goes with the
        probes (``None``: none, never an environment variable's; a ``?key=`` in ``url`` then). Adds nothing."""
        secret = as_secret(api_key)
        del api_key
        fix = fix_address(str(url or ""))
        secret = fix.key if secret is None and fix.key is not None else secret
        address = check_address(fix.address)
        if not address:
            raise InvalidValueError("url: give the address of the server to detect, e.g. http://localhost:8000")
        probe = getattr(self.network, "detect", None)
        if probe is None:
            raise ProviderConfigError("this store's network cannot detect servers (it has no detect())")
        found: Detection = probe(address, check_key(secret), timeout=check_timeout(timeout), http=http)
        return dataclasses.replace(found, address_note=fix.note()) if fix.changed else found

    def verify(
        self,
        name: str,
        model: str | None = None,
        *,
        timeout: float | None = None,
        http: httpx.Client | None = None,
        capabilities: bool = False,
    ) -> Verification:
        """Send a one-token chat and say precisely what happened (see :class:`Verification`). With
        ``capabilities=True`` and an OK verdict, probe what the model does too (:mod:`._capabilities`), kept on
        the model (``Model.capabilities``, ``Model.capability_notes``) and in the verdict's ``capabilities``."""
        if model is not None:
            model = check_model_id(model)
        verdict = self.network.verify(self[name], model, timeout=check_timeout(timeout), http=http)
        if capabilities:
            probe = getattr(self.network, "capabilities", None)
            verdict = self._probe_capabilities(name, verdict, probe, check_timeout(timeout), http)
        return self._record_verification(name, verdict)

    def fetch_models(self, name: str, *, timeout: float | None = None, http: httpx.Client | None = None) -> list[str]:
        """The model ids the server offers, all pages followed. Raises a :class:`ProviderError`.

        Context lengths the list gives (vLLM's ``max_model_len``) are set on the provider's models,
        and on the ones added from this list later."""
        lengths: dict[str, int] = {}
        ids = self.network.list_models(self[name], timeout=check_timeout(timeout), http=http, context_lengths=lengths)
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
