"""One module per provider type, and the registry of them. Adapters build requests and parse answers; none does I/O.

Each module declares its type with ``SPEC = TypeSpec(...)``; the registry below is the only list of types in the
package: the store's validation, the address rules, key variables, the panel, ``%providers`` and the tests ask it.
A new type is one adapter file and one entry here (docs/architecture.md).
"""

from __future__ import annotations

from . import anthropic, azure, gemini, ollama, openai, responses
from ._base import Adapter
from ._spec import Endpoint, ExtraField, TypeSpec

__all__ = [
    "TYPES",
    "Adapter",
    "Endpoint",
    "ExtraField",
    "TypeSpec",
    "adapter_for",
    "resolve_type",
    "spec",
    "type_names",
]


def _registry(*specs: TypeSpec) -> dict[str, TypeSpec]:
    """The specs by name; a name or alias claimed twice is a programming error, caught at import."""
    table: dict[str, TypeSpec] = {}
    seen: dict[str, str] = {}
    for s in specs:
        for word in (s.name, *s.aliases):
            key = word.strip().lower()
            if key in seen:
                raise RuntimeError(f"provider type {s.name!r}: {word!r} is already {seen[key]!r}'s name or alias")
            seen[key] = s.name
        table[s.name] = s
    return table


#: every provider type, in the order the panel offers them
TYPES: dict[str, TypeSpec] = _registry(
    openai.SPEC, responses.SPEC, gemini.SPEC, anthropic.SPEC, azure.SPEC, ollama.SPEC
)

_ALIASES = {a.strip().lower(): s.name for s in TYPES.values() for a in (s.name, *s.aliases)}


def type_names() -> tuple[str, ...]:
    return tuple(TYPES)


def spec(name: str) -> TypeSpec:
    """The spec of the type ``name`` (exactly as the store records it)."""
    return TYPES[name]


def adapter_for(name: str) -> Adapter:
    return TYPES[name].adapter


def resolve_type(text: str) -> str | None:
    """The type a person means by ``text`` (a name or an alias, any case), ``None`` if none."""
    return _ALIASES.get(str(text).strip().lower())
