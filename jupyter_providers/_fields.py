"""Each field the store accepts, checked: the clean value, or a one-line :class:`~.errors.InvalidValueError`
(a ``ValueError``) naming the field.

The character rules they share (what an HTTP header carries, what is invisible) are in :mod:`._checks`.
A key is wrapped in a :class:`~._secret.Secret` before it is checked, so no traceback frame prints it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from ._checks import check_visible, unsendable
from ._secret import Secret
from .adapters import resolve_type, spec, type_names
from .errors import InvalidValueError
from .presets import preset, preset_names

__all__ = [
    "PROVIDER_TYPES",
    "as_secret",
    "check_bool",
    "check_deployments",
    "check_env_name",
    "check_headers",
    "check_key",
    "check_model_id",
    "check_name",
    "check_preset",
    "check_price",
    "check_text",
    "check_timeout",
    "check_type",
    "split_ids",
]

#: every provider type's name, from the registry (:mod:`jupyter_providers.adapters`)
PROVIDER_TYPES = type_names()
_MODEL_ID_RE = re.compile(r"^\S{1,256}$")


def check_type(value: str) -> str:
    """The type a person named (a name or an alias, any case), as the store records it."""
    t = resolve_type(value)
    if t is None:
        raise InvalidValueError(f"type: {value!r} is not a provider type; use one of {', '.join(PROVIDER_TYPES)}")
    return t


def check_preset(value: object) -> str | None:
    """A preset's name as the store records it (``None``: no preset)."""
    if value is None or value == "":
        return None
    found = preset(value) if isinstance(value, str) else None
    if found is None:
        raise InvalidValueError(f"preset: {value!r} is not a preset; use one of {', '.join(preset_names())}")
    return found.name


def check_name(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidValueError(f"name: give the provider's name as a string, not {type(value).__name__}")
    if not value.strip():
        raise InvalidValueError("name: a provider needs a non-empty name")
    name = value.strip()
    if len(name) > 64:
        raise InvalidValueError(f"name: {name[:20]!r}... must be at most 64 characters")
    check_visible("name", name, "name")
    return name


def check_model_id(value: object) -> str:
    if not isinstance(value, str) or not _MODEL_ID_RE.match(value.strip() or " "):
        raise InvalidValueError(f"model: {value!r} is not a model id; ids are non-empty and contain no spaces")
    if value != value.strip() and any(c.isspace() for c in value.strip()):
        raise InvalidValueError(f"model: {value!r} contains spaces")
    check_visible("model", value.strip(), "model id")
    return value.strip()


def check_headers(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidValueError("headers: give a dict of header name -> value")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not re.match(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", k):
            raise InvalidValueError(f"headers: {k!r} is not a valid header name")
        if not isinstance(v, str) or "\n" in v or "\r" in v:
            raise InvalidValueError(f"headers: the value of {k!r} must be a one-line string")
        why = unsendable(v.strip(), spaces=True)
        if why:  # the character and where, never the value (it is often a credential)
            raise InvalidValueError(
                f"headers: the value of {k!r} cannot be sent: it has {why}; retype it in plain ASCII"
            )
        out[k] = v.strip()
    return out


def as_secret(value: object) -> Secret | None:
    """A key argument, wrapped at once: no frame of a traceback (``%xmode Verbose``) prints it."""
    if value is None or isinstance(value, Secret):
        return value
    if not isinstance(value, str):
        raise InvalidValueError("api_key: give the key as a string")
    return Secret(value)


def check_key(value: Secret | None) -> Secret | None:
    """A key that can be sent: printable ASCII, several keys separated by commas."""
    if value is None:
        return None
    why = key_problem(value.reveal())
    if why:
        fix = "retype or paste it again as plain text"
        if why.startswith(BEARER_SAYS):  # a header's value pasted whole: retyping it would not help
            fix = "enter the key alone (each request builds its own header around it)"
        raise InvalidValueError(f"api_key: the key cannot be sent: it has {why}; {fix}")
    return Secret(value.reveal().strip())


#: how :func:`key_problem` names an ``Authorization`` header's scheme pasted with the key
BEARER_SAYS = "'Bearer ' before the key"


def key_problem(text: str) -> str | None:
    """Why a key text cannot be sent (the character and its position as typed), ``None`` if it can.
    Blanks around the text and beside the commas that separate keys are fine."""
    lead = len(text) - len(text.lstrip())
    keys = text.strip()
    why = unsendable(keys, spaces=True)
    if why is not None:
        head, _, pos = why.rpartition(" at position ")
        return f"{head} at position {int(pos) + lead}"
    at = lead
    for piece in keys.split(","):
        inner = piece.strip()
        if " " in inner:
            start = at + piece.index(inner)
            if inner[:7].lower() == "bearer ":  # "Bearer sk-...", copied from a curl command or a header
                return f"{BEARER_SAYS} at position {start + 1}"
            return f"a space inside a key at position {start + inner.index(' ') + 1}"
        at += len(piece) + 1
    return None


def check_deployments(type_: str, ids: Iterable[str]) -> None:
    """Model ids the type's API can take (its spec's ``check_model``: Azure's deployment names)."""
    check = spec(type_).check_model
    for i in ids:
        check(i)


def split_ids(value: str) -> list[str]:
    if not isinstance(value, str):
        raise InvalidValueError(f"model: {value!r} is not a model id")
    parts = [p.strip() for p in value.split(",")]
    return [p for p in parts if p] if "," in value else [value]


def check_bool(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidValueError(f"{field}: give True or False")
    return value


def check_text(field: str, value: object) -> str:
    """A one-line text setting, trimmed (``None`` gives ``""``)."""
    if value is None:
        return ""
    if not isinstance(value, str) or "\n" in value or "\r" in value:
        raise InvalidValueError(f"{field}: give a one-line string, not {value!r}")
    return value.strip()


def check_timeout(value: object) -> float | None:
    """Seconds to wait for a server (``None``: the settings' default)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < float("inf"):
        raise InvalidValueError(f"timeout: {value!r} is not a number of seconds above 0")
    return float(value)


def check_price(field: str, value: object) -> float:
    """A price per million tokens, or a cost limit: a finite number of at least 0 (``field`` names it)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidValueError(f"{field}: {value!r} is not a number; give an amount of at least 0, e.g. 0.15")
    if not 0 <= value < float("inf"):
        raise InvalidValueError(f"{field}: {value!r} is not an amount of at least 0, e.g. 0.15")
    return float(value)


def check_env_name(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", value):
        raise InvalidValueError(f"api_key_env: {value!r} is not an environment variable name")
    return value
