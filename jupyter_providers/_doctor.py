"""The address doctor: an address pasted with an endpoint path or a query, reduced to the base the store keeps.

People copy the URL a request went to (``https://api.openai.com/v1/chat/completions``,
``.../v1beta/models/gemini-2.0-flash:generateContent?key=...``,
``https://R.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21``) where the
store wants the base every request path is appended to. :func:`fix_address` finds that base:

- every query is removed (an address takes none). A parameter that carries a key (``key=``, ``api_key=``,
  ...) is handed back as :attr:`AddressFix.key`, never kept in the address nor quoted; one that carries a
  type's extra setting (Azure's ``api-version``: :attr:`~.adapters.ExtraField.query`) is kept as that
  setting; the others are dropped, and the note names them, never their values;
- the longest endpoint path any type declares (:attr:`~.adapters.TypeSpec.endpoint_paths`) that ends the
  path is cut off, with trailing slashes; a ``{model}`` in it (Azure's deployment, Gemini's model) is handed
  back as :attr:`AddressFix.model`. The path belongs to the provider's type, or it is another type's (the
  note then says so: the type may be wrong);
- when the type would add its version segment to what is left (``https://api.deepseek.com/chat/completions``
  has none), the address gets a final ``#``: requests then go exactly where the pasted URL went;
- an address ending with ``#`` keeps its path as typed (only a query is removed).

Pure: no I/O. :class:`AddressNote` is the warning the store gives with :meth:`AddressFix.note`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from ._address import mask_credentials
from ._secret import Secret
from .adapters import TYPES

if TYPE_CHECKING:
    from ._records import Provider

__all__ = ["KEY_PARAMETERS", "AddressFix", "AddressNote", "fix_address", "fix_changes", "warn_note", "without_key"]

#: query parameters that carry a key or a token (compared case-insensitively)
KEY_PARAMETERS = frozenset(
    {"key", "api_key", "api-key", "apikey", "x-api-key", "x-goog-api-key", "access_token", "token", "auth",
     "auth_token", "password", "secret", "sig", "signature"}
)  # fmt: skip
_NAME_RE = re.compile(r"[A-Za-z0-9_.\-]{1,40}")


class AddressNote(UserWarning):
    """What the store changed in an address it was given (``store.add`` / ``store.update`` warn with it)."""


@dataclass(frozen=True)
class AddressFix:
    """What :func:`fix_address` made of an address. ``address`` is what the store keeps (no query, ever)."""

    address: str
    typed: str = field(default="", repr=False)
    #: the endpoint path cut off (``/chat/completions``), ``""`` if none
    removed: str = ""
    #: the ``{model}`` of that path (Azure's deployment, Gemini's model)
    model: str | None = None
    #: extra settings found in the query (``{"api_version": "2024-10-21"}``)
    options: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: a key found in the query: never shown, never kept in the address
    key: Secret | None = field(default=None, repr=False)
    key_parameter: str = ""
    #: names of the query parameters dropped (never their values)
    dropped: tuple[str, ...] = ()
    #: the type whose endpoint path it was, when not the provider's own
    foreign: str | None = None
    #: a ``#`` was added: the type would have added a version segment the pasted URL did not have
    exact: bool = False

    @property
    def changed(self) -> bool:
        return self.address != self.typed.strip()

    def note(self, key_kept: bool | None = None, type_name: str | None = None) -> str:
        """One line saying what was removed and kept, e.g. ``base_url: removed the endpoint path
        '/chat/completions' ...``. ``key_kept`` says what became of a key found in the query: kept as the
        provider's key (True), or not (False: the provider has one); ``type_name`` is the provider's type."""
        if not self.changed:
            return ""
        parts = []
        if self.removed:
            parts.append(f"removed the endpoint path {self.removed!r} (each request adds its own path)")
        if self.model:
            parts.append(f"the model {self.model!r} was taken from it")
        for name, value in self.options.items():
            parts.append(f"{name} {value[:40]!r} was kept from the query")
        if self.key is not None:
            what = f"a key ({self.key_parameter}=) was removed from the query, never kept in the address"
            if key_kept is True:
                what += "; it is now the provider's API key"
            elif key_kept is False:
                what += "; it was dropped: the provider has a key of its own"
            parts.append(what)
        if self.dropped:
            names, many = ", ".join(self.dropped), len(self.dropped) > 1
            parts.append(f"the query parameter{'s' if many else ''} {names} {'were' if many else 'was'} dropped")
        if self.exact:
            parts.append("it ends with # so requests go exactly there (the type would add its version segment)")
        elif self.removed and self.address.endswith("#"):
            parts.append("it ends with # so requests go exactly to the URL typed")
        if self.foreign:
            mine = TYPES[type_name].label if type_name in TYPES else "this one"
            parts.append(f"that path is {TYPES[self.foreign].label}'s ({self.foreign}), not {mine}'s: check the type")
        head = f"base_url: now {mask_credentials(self.address) or '(the default address)'!r}"
        typed_exact = self.address.endswith("#")
        tail = " (end an address with # to use it exactly as typed)" if self.removed and not typed_exact else ""
        return f"{head} - {'; '.join(parts) or 'trailing / removed'}{tail}"


@cache
def _pattern(template: str) -> re.Pattern[str]:
    """An endpoint path template as a regular expression matching the end of a path."""
    pieces = template.split("{model}")
    return re.compile("(?P<model>[^/:?#]+)".join(re.escape(p) for p in pieces) + "$")


def _templates() -> list[tuple[str, str]]:
    """(type, template) of every type, in registry order."""
    return [(t.name, path) for t in TYPES.values() for path in t.endpoint_paths]


def fix_address(address: str, type_name: str | None = None) -> AddressFix:
    """The address the store keeps for ``address`` as pasted, for a provider of type ``type_name``
    (``None``: any type's endpoint paths, as for :meth:`~.store.ProviderStore.detect`). Never raises: an
    address it cannot read is handed back as typed (the store's check then says what is wrong with it),
    only without its query."""
    typed = address
    text = address.strip()
    exact = text.endswith("#")
    if exact:
        text = text[:-1]
    text, q, query = text.partition("?")
    key, key_parameter, options, dropped = _read_query(query.partition("#")[0], type_name) if q else (None, "", {}, [])
    if exact:  # as typed; but a URL of this type's own endpoint is where requests go, as in Cherry Studio
        mine = _longest(_path(text), type_name) if type_name is not None else None
        removed, model = "", None
        if mine is not None and mine[0] == type_name:
            removed, model = mine[1].group(0), mine[1].groupdict().get("model")
            text = text[: len(text) - len(removed)]
        return AddressFix(text + "#", typed, removed, unquote(model) if model else None, MappingProxyType(options),
                          key, key_parameter, tuple(dropped))  # fmt: skip
    removed, model, foreign, add_exact = "", None, None, False
    bare = text.rstrip("/")
    found = _longest(_path(bare), type_name)
    if found is not None:
        owner, match = found
        removed, model = match.group(0), match.groupdict().get("model")
        text = bare[: len(bare) - len(removed)]
        model = unquote(model) if model else None
        own = type_name is None or owner == type_name
        foreign = None if own else owner
        if type_name is not None and own:
            base = TYPES[type_name].base(text)
            add_exact = base != text and base.startswith(text)  # the type adds a segment the URL did not have
    elif bare != text and q:
        text = bare  # a query removed: its trailing slashes go with it
    return AddressFix(
        text + ("#" if add_exact else ""), typed, removed, model, MappingProxyType(options), key, key_parameter,
        tuple(dropped), foreign, add_exact,
    )  # fmt: skip


def _path(url: str) -> str:
    try:
        return urlsplit(url).path
    except ValueError:
        return ""


def _longest(path: str, type_name: str | None) -> tuple[str, re.Match[str]] | None:
    """The longest endpoint path ending ``path``, and the type it is of (the provider's own type first)."""
    best: tuple[str, re.Match[str]] | None = None
    for owner, template in _templates():
        m = _pattern(template).search(path)
        if m is None:
            continue
        longer = best is None or len(m.group(0)) > len(best[1].group(0))
        same_mine = best is not None and len(m.group(0)) == len(best[1].group(0)) and owner == type_name
        if longer or same_mine:
            best = (owner, m)
    return best


def _read_query(query: str, type_name: str | None) -> tuple[Secret | None, str, dict[str, str], list[str]]:
    """(a key, the parameter it was in, the extra settings, the names dropped) of a pasted query."""
    key: Secret | None = None
    key_parameter = ""
    options: dict[str, str] = {}
    dropped: list[str] = []
    extras = {f.query.lower(): f.name for f in TYPES[type_name].extra_fields if f.query} if type_name in TYPES else {}
    others = 0
    for name, value in parse_qsl(query, keep_blank_values=True):
        low = name.strip().lower()
        if low in KEY_PARAMETERS:
            if key is None and value.strip():
                key, key_parameter = Secret(value.strip()), low
        elif low in extras and value.strip():
            options[extras[low]] = value.strip()
        elif _NAME_RE.fullmatch(name):
            if name not in dropped:
                dropped.append(name)
        else:
            others += 1
    if others:
        dropped.append(f"{others} other{'s' if others > 1 else ''}")
    return key, key_parameter, options, dropped


def fix_changes(changes: dict[str, Any], current: Provider, type_name: str) -> tuple[AddressFix, bool | None]:
    """``store.update``'s ``changes`` with their ``base_url`` fixed in place: a key from its query becomes the key
    when none is given nor held (no entered key, no variable), its ``api-version`` the API version when none is
    given. Returns the fix and whether the query's key was kept (``None``: there was none)."""
    fix = fix_address(str(changes["base_url"] or ""), type_name)
    changes["base_url"] = fix.address
    kept = None
    if fix.key is not None:
        kept = not {"api_key", "api_key_env"} & changes.keys() and not current.api_key and not current.api_key_env
        if kept:
            changes["api_key"] = fix.key
    if "api_version" in fix.options and "api_version" not in changes:
        changes["api_version"] = fix.options["api_version"]
    return fix, kept


def warn_note(fix: AddressFix, key_kept: bool | None, type_name: str) -> None:
    """Warn the caller of ``store.add`` / ``store.update`` with the note, when the address was changed."""
    if fix.changed:
        warnings.warn(AddressNote(fix.note(key_kept, type_name)), stacklevel=3)


def without_key(address: str) -> str:
    """``address`` as typed, without the query parameters that carry a key (what a form field may keep)."""
    head, q, query = address.partition("?")
    if not q:
        return address
    query, hashed, _ = query.partition("#")
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k.strip().lower() not in KEY_PARAMETERS]
    return head + (f"?{urlencode(kept)}" if kept else "") + ("#" if hashed else "")
