"""API address rules: what a person types -> the base URL requests are built on.

1. Trim spaces; blank means the type's official address.
2. An address ending with ``#`` is used exactly as typed (without the ``#``).
3. Otherwise one trailing ``/`` is dropped, and the type's version segment
   (``/v1``, Gemini ``/v1beta``) is appended unless the path already holds a
   version segment such as ``/v1``, ``/v1beta`` or ``/api/v3``.
Azure is different: requests go to ``{root}/openai/deployments/{model}/...`` unless
the address already ends with ``/openai/v1`` (the v1 route).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

__all__ = ["DEFAULT_ADDRESS", "VERSION_SEGMENT", "check_address", "is_official", "resolve_base"]

DEFAULT_ADDRESS = {
    "openai": "https://api.openai.com",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
    "azure": "",  # every Azure resource has its own address
}
VERSION_SEGMENT = {"openai": "/v1", "anthropic": "/v1", "gemini": "/v1beta", "azure": ""}

#: The hosts of each type's own service (a leading dot: any host under that domain). The SDK's key
#: variable (``OPENAI_API_KEY``...) is sent only there, over https: a key meant for the vendor's API
#: never goes to a local server, a proxy or a typo'd address just because it is in the environment.
OFFICIAL_HOSTS = {
    "openai": ("api.openai.com", ".api.openai.com"),
    "anthropic": ("api.anthropic.com",),
    "gemini": ("generativelanguage.googleapis.com",),
    "azure": (
        ".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com",
        ".openai.azure.us", ".openai.azure.cn",
    ),
}  # fmt: skip

_VERSION_RE = re.compile(r"/v\d+(?:[a-z]+\d*)?(?:/|$)")


def check_address(address: str) -> str:
    """Validate an address typed by a person; return it trimmed. Raise ``ValueError`` naming the field."""
    text = address.strip()
    if not text:
        return ""
    bare = text[:-1] if text.endswith("#") else text
    if any(c.isspace() for c in bare):
        raise ValueError(f"base_url: {text!r} contains spaces; remove them")
    try:
        parts = urlsplit(bare)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"base_url: {text!r} is not a valid address ({exc}); use http(s)://host[:port]/path") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"base_url: {text!r} must start with http:// or https://")
    if not parts.hostname:
        raise ValueError(f"base_url: {text!r} has no host; use http(s)://host[:port]/path")
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"base_url: port {port} is out of range (1-65535)")
    if parts.username or parts.password:
        raise ValueError("base_url: put credentials in the API key field, not in the address")
    if "?" in bare or "#" in bare:  # an empty query ("x?") or a second "#" too
        raise ValueError(f"base_url: {text!r} must not contain '?' or '#' (only a final '#' is allowed)")
    return text


def resolve_base(type_: str, address: str) -> str:
    """The base URL for ``type_``: the version-qualified root every endpoint path is appended to.

    For Azure the result is the resource root (classic route) or the ``/openai/v1`` base.
    """
    text = address.strip() or DEFAULT_ADDRESS[type_]
    if text.endswith("#"):
        return text[:-1]
    if text.endswith("/"):
        text = text[:-1]
    if type_ == "azure":
        return text[: -len("/openai")] if text.endswith("/openai") else text
    path = urlsplit(text).path
    if _VERSION_RE.search(path):
        return text
    return text + VERSION_SEGMENT[type_]


def is_official(type_: str, address: str, *, https: bool = True) -> bool:
    """True when ``address`` (as typed; blank is the type's default) is the type's own service
    (over https, unless ``https=False``)."""
    text = address.strip() or DEFAULT_ADDRESS[type_]
    parts = urlsplit(text.removesuffix("#"))
    host = (parts.hostname or "").rstrip(".")
    if not host or (https and parts.scheme != "https"):
        return False
    return any(host.endswith(h) if h.startswith(".") else host == h for h in OFFICIAL_HOSTS[type_])
