"""``{name}`` in a ``%%chat`` cell -> the value of ``name`` in the user's namespace, exactly once.

Only ``{identifier}`` (with optional ``.attr`` and ``[key]`` parts) is replaced; ``{{`` and ``}}``
are literal braces; any other brace (JSON, code) is left as it is, so pasted code survives.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import InvalidValueError

__all__ = ["interpolate"]

_FIELD = re.compile(r"\{\{|\}\}|\{([A-Za-z_]\w*)((?:\.[A-Za-z_]\w*|\[[^\[\]{}]+\])*)\}")


def _lookup(name: str, rest: str, namespace: Mapping[str, Any]) -> Any:
    if name not in namespace:
        raise InvalidValueError(
            f"prompt: {{{name}}} is not defined in the notebook - define {name} or write {{{{{name}}}}} "
            "for literal braces"
        )
    value = namespace[name]
    for attr, key in re.findall(r"\.([A-Za-z_]\w*)|\[([^\[\]]+)\]", rest):
        try:
            if attr:
                value = getattr(value, attr)
            else:
                k: Any = key.strip("'\"") if key[:1] in "'\"" else int(key) if key.lstrip("-").isdigit() else key
                value = value[k]
        except (AttributeError, KeyError, IndexError, TypeError) as exc:
            raise InvalidValueError(f"prompt: {{{name}{rest}}} cannot be read ({type(exc).__name__}: {exc})") from None
    return value


def interpolate(text: str, namespace: Mapping[str, Any]) -> str:
    """Replace ``{name}`` fields once; raise :class:`~.errors.InvalidValueError` (a ``ValueError``)
    with a one-line message for unknown names."""

    def repl(m: re.Match[str]) -> str:
        token = m.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        return str(_lookup(m.group(1), m.group(2), namespace))

    return _FIELD.sub(repl, text)
