"""The providers file's schema: a :class:`~._records.Provider` to its JSON entry and its key-store slots, and back.

What is secret (the key, custom header values) goes to the key store (keyring or ``keys.json``), by slot;
the entry in ``providers.json`` holds the rest, header names included.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ._address import check_address
from ._fields import check_headers, check_name, check_preset, check_price, check_type
from ._persist import HEADERS_SLOT
from ._records import Model, Provider
from ._secret import Secret
from .errors import InvalidValueError

__all__ = ["from_entry", "secrets_of", "to_entry"]

log = logging.getLogger("jupyter_providers")


def secrets_of(p: Provider) -> dict[str, str]:
    """What of ``p`` goes to the key store, by slot: its key, and its custom headers (as JSON).

    Custom headers often carry a credential (``Authorization``, ``X-Api-Key``, a proxy's token), so
    their values are kept with the keys (keyring or ``keys.json``), in a slot of their own
    (``HEADERS_SLOT``: no provider name holds a control character); the providers file holds only
    their names."""
    out = {p.name: _reveal(p.api_key)} if p.api_key else {}
    if p.headers:
        out[p.name + HEADERS_SLOT] = json.dumps(dict(p.headers), sort_keys=True)
    return out


def stored_headers(entry: Mapping[str, Any], secret: str | None) -> dict[str, str]:
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
        raise InvalidValueError("headers: the stored custom headers are not readable; set them again") from None


def _reveal(key: Secret | str) -> str:
    return key.reveal() if isinstance(key, Secret) else key


def to_entry(p: Provider) -> dict[str, Any]:
    return {
        "name": p.name,
        "type": p.type,
        "base_url": p.base_url,
        "enabled": p.enabled,
        "models": [model_entry(m) for m in p.models],
        "api_version": p.api_version,
        "headers": sorted(p.headers),  # the names; the values are kept with the keys
        "api_key_env": p.api_key_env,
        "verify_tls": p.verify_tls,
        "preset": p.preset,
        "no_key": p.api_key == "",
    }


def model_entry(m: Model) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": m.id, "name": m.name, "group": m.group}
    if m.context_length:
        entry["context_length"] = m.context_length
    if m.capabilities:
        entry["capabilities"] = dict(m.capabilities)
    if m.capability_notes:
        entry["capability_notes"] = dict(m.capability_notes)
    if m.priced:
        entry["price"] = {"input": m.input_price, "output": m.output_price}
    return entry


def _price(entry: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """A stored model's prices (per million input and output tokens); an unreadable price is no price."""
    raw = entry.get("price")
    if not isinstance(raw, Mapping):
        return None, None
    try:
        return check_price("input", raw.get("input")), check_price("output", raw.get("output"))
    except InvalidValueError:
        return None, None


def from_entry(
    entry: Mapping[str, Any], key: Secret | str | None, readonly: bool = False, headers: str | None = None
) -> Provider:
    models = []
    for m in entry.get("models") or []:
        if isinstance(m, str):
            models.append(Model(m))
        elif isinstance(m, Mapping) and isinstance(m.get("id"), str):
            n = m.get("context_length")
            n = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else None
            caps = m.get("capabilities")
            caps = {str(k): v for k, v in caps.items() if isinstance(v, bool)} if isinstance(caps, Mapping) else {}
            notes = m.get("capability_notes")
            notes = {str(k): v for k, v in notes.items() if isinstance(v, str)} if isinstance(notes, Mapping) else {}
            name, group = str(m.get("name") or ""), str(m.get("group") or "")
            models.append(Model(m["id"], name, group, n, caps, *_price(m), capability_notes=notes))
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
        headers=MappingProxyType(stored_headers(entry, headers)),
        verify_tls=bool(entry.get("verify_tls", True)),
        preset=check_preset(entry.get("preset")),
        readonly=readonly,
    )
