"""The store's state: its providers as last read, its files, its lock and its listeners.

:class:`~.store.ProviderStore` adds the operations on top; this part only reads, writes
(all-or-nothing, under the files' lock) and tells the listeners.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._persist import (
    HEADERS_SLOT,
    ConfigFiles,
    StoreFileError,
    admin_config_paths,
    default_config_dir,
    load_admin_entries,
)
from ._records import Model, Provider
from ._schema import from_entry, secrets_of, to_entry
from ._types import Capability, Verification
from .errors import InvalidValueError, NotInStoreError, ProviderConfigError

if TYPE_CHECKING:
    from .store import Network

__all__ = ["Listener", "StoreBase", "merge_capabilities"]

log = logging.getLogger("jupyter_providers")

Listener = Callable[[str, "str | None"], None]


class StoreBase:
    """Named providers, validated, persisted, observable. ``list(store)`` gives :class:`Provider` records.

    ``directory=None`` uses ``$JUPYTER_PROVIDERS_DIR`` or the Jupyter config dir;
    ``persist=False`` keeps everything in memory (tests, throw-away sessions); ``network`` is what
    :meth:`verify` and :meth:`fetch_models` talk through (default: :mod:`jupyter_providers.client`).
    """

    def __init__(
        self,
        directory: str | Path | None = None,
        *,
        persist: bool = True,
        admin_paths: Iterable[str | Path] | None = None,
        network: Network | None = None,
    ) -> None:
        self._network = network
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
                p = from_entry(entry, None, readonly=True)
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
                    raise InvalidValueError(f"{entry!r:.40} is not a JSON object")
                name = str(entry.get("name"))
                p = from_entry(entry, keys.get(name), headers=keys.get(name + HEADERS_SLOT))
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
            raise NotInStoreError(f"no provider named {name!r}; known providers: {known}") from None

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
                    secrets = {slot: v for p in work.values() for slot, v in secrets_of(p).items()}
                    changed = {n for n in before.keys() | secrets.keys() if before.get(n) != secrets.get(n)}
                    # a provider added or removed always (re)writes its slots: no stale secret is inherited
                    for n in self._providers.keys() ^ work.keys():
                        changed |= {n, n + HEADERS_SLOT}
                    entries: list[Any] = [to_entry(p) for p in work.values()]
                    self._files.save(entries + self._unreadable, secrets, changed)
                    self._stored_secrets = secrets
                    self._providers = work
        self._emit(event, name)

    def _editable(self, work: dict[str, Provider], name: str) -> Provider:
        if name in self._admin:
            raise ProviderConfigError(f"name: provider {name!r} is managed by your administrator and is read-only")
        if name not in work:
            known = ", ".join([*self._admin, *work]) or "none yet"
            raise NotInStoreError(f"no provider named {name!r}; known providers: {known}")
        return work[name]

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

    # -- capabilities --------------------------------------------------------------------
    def set_capabilities(self, name: str, model_id: str, **known: bool) -> Provider:
        """Record what a model takes, e.g. ``set_capabilities("local", "smollm2", images=False)``: a text-only
        model is then refused an attached image before anything is sent (``None`` forgets a capability). A value
        set here drops the probe's note on it, and a later probe that cannot tell (``unknown``) leaves it."""

        def change(work: dict[str, Provider]) -> None:
            p = self._editable(work, name)
            if model_id not in p.model_ids:
                raise NotInStoreError(f"provider {name!r} has no model {model_id!r}; it has: {', '.join(p.model_ids)}")
            models = []
            for m in p.models:
                if m.id == model_id:
                    caps = {**m.capabilities, **known}
                    notes = {k: v for k, v in m.capability_notes.items() if k not in known}
                    m = dataclasses.replace(
                        m, capabilities={k: v for k, v in caps.items() if v is not None}, capability_notes=notes
                    )
                models.append(m)
            work[name] = dataclasses.replace(p, models=tuple(models))

        self._mutate("updated", name, change)
        return self[name]

    def _probe_capabilities(
        self, name: str, verdict: Verification, probe: Any, timeout: float | None, http: Any
    ) -> Verification:
        """``verdict`` with the capabilities of its model probed (only after an OK one: a server that did not
        answer a plain chat properly is probed for nothing), kept on the model (:func:`merge_capabilities`); a
        model the provider does not list yet is added (it just answered), and a read-only provider's verdict says
        that nothing was kept."""
        if probe is None:
            raise ProviderConfigError("this store's network cannot probe capabilities (it has no capabilities())")
        model = verdict.model
        if not verdict.ok or not model:
            return verdict
        found: tuple[Capability, ...] = probe(self[name], model, timeout=timeout, http=http)
        verdict = dataclasses.replace(verdict, capabilities=found)
        p = self.get(name)
        if p is None:
            return verdict
        if p.readonly:
            why = f"; what {model!r} does is not kept: {name!r} is managed by your administrator (read-only)"
            return dataclasses.replace(verdict, message=verdict.message + why)
        from ._secret import redactor_for

        red = redactor_for(p)
        added = p.model(model) is None

        def change(work: dict[str, Provider]) -> None:
            q = self._editable(work, name)
            models = list(q.models)
            if q.model(model) is None:
                models.append(Model(model, context_length=self._context_lengths.get(name, {}).get(model)))
            for i, m in enumerate(models):
                if m.id == model:
                    caps, notes = merge_capabilities(m.capabilities, m.capability_notes, found, red)
                    models[i] = dataclasses.replace(m, capabilities=caps, capability_notes=notes)
            work[name] = dataclasses.replace(q, models=tuple(models))

        self._mutate("updated", name, change)
        if added:
            why = f"; {model!r} was added to the models of {name!r}, to keep what it does"
            verdict = dataclasses.replace(verdict, message=verdict.message + why)
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


def merge_capabilities(
    caps: Mapping[str, bool], notes: Mapping[str, str], found: Iterable[Capability], red: Callable[[str], str]
) -> tuple[dict[str, bool], dict[str, str]]:
    """A model's capabilities and notes after a fresh probe found ``found``: a yes or no replaces what was kept;
    an unknown that judged an answer (cut, a 5xx, a wrong shape) clears a value an earlier probe saved (that
    probe's word is no longer borne out) but not one set by hand (:meth:`StoreBase.set_capabilities`: no note);
    an unknown that measured nothing (a timeout, the deadline, reasoning not seen) keeps what was saved."""
    caps, notes = dict(caps), dict(notes)
    for c in found:
        by_hand = c.name in caps and c.name not in notes
        if c.known is not None:
            caps[c.name], notes[c.name] = c.known, red(c.reason)
        elif c.measured and not by_hand:
            caps.pop(c.name, None)
            notes[c.name] = red(c.reason)
        elif c.name not in caps:
            notes[c.name] = red(c.reason)
    return caps, notes
