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

import ipaddress
import re
import unicodedata
from urllib.parse import urlsplit

from ._checks import describe_char

__all__ = ["DEFAULT_ADDRESS", "VERSION_SEGMENT", "check_address", "is_official", "mask_credentials", "resolve_base"]

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
#: the authority's user-info (``user:password@``), found even in an address that does not parse
_USERINFO_RE = re.compile(r"^((?:[^:/?#@]*:)?//)?([^/?#]*)@")
_HOST_LABEL_RE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


def mask_credentials(address: str) -> str:
    """``address`` with any ``user:password@`` shown as ``***@``: what a message may quote."""
    return _USERINFO_RE.sub(lambda m: f"{m.group(1) or ''}***@", address, count=1)


def check_address(address: str) -> str:
    """Validate an address typed by a person; return it trimmed. Raise ``ValueError`` naming the field.

    No message quotes credentials typed into the address, whichever check fails first."""
    text = address.strip()
    if not text:
        return ""
    shown = repr(mask_credentials(text))
    bare = text[:-1] if text.endswith("#") else text
    if any(c.isspace() for c in bare):
        raise ValueError(f"base_url: {shown} contains spaces; remove them")
    bad = next((c for c in bare if unicodedata.category(c) in ("Cc", "Cf")), None)
    if bad is not None:
        at = bare.index(bad) + 1
        raise ValueError(f"base_url: {shown} holds {describe_char(bad)} at position {at}; remove it")
    if _USERINFO_RE.match(bare):
        raise ValueError("base_url: put credentials in the API key field, not in the address")
    try:
        parts = urlsplit(bare)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"base_url: {shown} is not a valid address ({exc}); use http(s)://host[:port]/path") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"base_url: {shown} must start with http:// or https://")
    if not parts.hostname:
        raise ValueError(f"base_url: {shown} has no host; use http(s)://host[:port]/path")
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"base_url: port {port} is out of range (1-65535)")
    if "?" in bare or "#" in bare:  # an empty query ("x?") or a second "#" too
        raise ValueError(f"base_url: {shown} must not contain '?' or '#' (only a final '#' is allowed)")
    why = _host_problem(parts.hostname, bracketed="[" in parts.netloc)
    if why:
        raise ValueError(f"base_url: the host {parts.hostname!r} {why}; check the address")
    return text


def _host_problem(host: str, *, bracketed: bool) -> str | None:
    """Why ``host`` cannot be connected to as httpx would (``None`` if it can): an IP address, a name
    of letters, digits, ``-`` and ``_`` labels, or an internationalised name valid in IDNA 2008."""
    if bracketed or ":" in host:
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return "is not a valid IPv6 address"
        return None
    if not host.isascii():
        import idna  # httpx's own dependency, loaded only for such a host

        try:
            host = idna.encode(host.lower()).decode("ascii")  # as httpx encodes it
        except idna.IDNAError as exc:
            return f"is not a valid international domain name ({exc})"
    labels = host.rstrip(".").split(".")
    bad = next((c for c in host if not (c.isalnum() or c in "-_.")), None)
    if bad is not None:
        return f"holds {describe_char(bad)}, which no host name has"
    if len(host) > 253 or not all(_HOST_LABEL_RE.fullmatch(label) for label in labels):
        return "is not a valid host name (labels of 1-63 letters, digits or '-', separated by '.')"
    return None


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
