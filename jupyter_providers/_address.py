"""API address rules: what a person types -> the base URL requests are built on.

1. Trim spaces; blank means the type's official address.
2. An address ending with ``#`` is used exactly as typed (without the ``#``).
3. Otherwise one trailing ``/`` is dropped, and the type's version segment
   (``/v1``, Gemini ``/v1beta``) is appended unless the path already holds a
   version segment such as ``/v1``, ``/v1beta`` or ``/api/v3``.
A type may have its own rule (:attr:`~.adapters._spec.TypeSpec.resolve`): Azure's requests go to
``{root}/openai/deployments/{model}/...`` unless the address ends with ``/openai/v1`` (the v1 route).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import urlsplit

from ._checks import describe_char
from .errors import InvalidValueError

__all__ = ["check_address", "host_in", "mask_credentials", "resolve_base"]

_VERSION_RE = re.compile(r"/v\d+(?:[a-z]+\d*)?(?:/|$)")
#: the authority's user-info (``user:password@``), found even in an address that does not parse
_USERINFO_RE = re.compile(r"^((?:[^:/?#@]*:)?//)?([^/?#]*)@")
_HOST_LABEL_RE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


def mask_credentials(address: str) -> str:
    """``address`` with any ``user:password@`` shown as ``***@``: what a message may quote."""
    return _USERINFO_RE.sub(lambda m: f"{m.group(1) or ''}***@", address, count=1)


def check_address(address: str) -> str:
    """Validate an address typed by a person; return it trimmed. Raise :class:`~.errors.InvalidValueError`
    (a ``ValueError``) naming the field.

    No message quotes credentials typed into the address, whichever check fails first."""
    text = address.strip()
    if not text:
        return ""
    shown = repr(mask_credentials(text))
    bare = text[:-1] if text.endswith("#") else text
    if any(c.isspace() for c in bare):
        raise InvalidValueError(f"base_url: {shown} contains spaces; remove them")
    bad = next((c for c in bare if unicodedata.category(c) in ("Cc", "Cf")), None)
    if bad is not None:
        at = bare.index(bad) + 1
        raise InvalidValueError(f"base_url: {shown} holds {describe_char(bad)} at position {at}; remove it")
    if _USERINFO_RE.match(bare):
        raise InvalidValueError("base_url: put credentials in the API key field, not in the address")
    try:
        parts = urlsplit(bare)
        port = parts.port
    except ValueError as exc:
        raise InvalidValueError(
            f"base_url: {shown} is not a valid address ({exc}); use http(s)://host[:port]/path"
        ) from None
    if parts.scheme not in ("http", "https"):
        raise InvalidValueError(f"base_url: {shown} must start with http:// or https://")
    if not parts.hostname:
        raise InvalidValueError(f"base_url: {shown} has no host; use http(s)://host[:port]/path")
    if port is not None and not 0 < port < 65536:
        raise InvalidValueError(f"base_url: port {port} is out of range (1-65535)")
    if "?" in bare or "#" in bare:  # an empty query ("x?") or a second "#" too
        raise InvalidValueError(f"base_url: {shown} must not contain '?' or '#' (only a final '#' is allowed)")
    why = _host_problem(parts.hostname, bracketed="[" in parts.netloc)
    if why:
        raise InvalidValueError(f"base_url: the host {parts.hostname!r} {why}; check the address")
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
    if not host.isascii() or "xn--" in host.lower():  # typed in Unicode, or as its ASCII form (an A-label)
        import idna  # httpx's own dependency, loaded only for such a host

        try:
            host = idna.encode(host.lower()).decode("ascii")  # as httpx encodes it
            idna.decode(host)  # an A-label that is no valid name: 'xn--a' decodes to a control character
        except idna.IDNAError as exc:
            return f"is not a valid international domain name ({exc})"
    labels = host.rstrip(".").split(".")
    bad = next((c for c in host if not (c.isalnum() or c in "-_.")), None)
    if bad is not None:
        return f"holds {describe_char(bad)}, which no host name has"
    if len(host) > 253 or not all(_HOST_LABEL_RE.fullmatch(label) for label in labels):
        return "is not a valid host name (labels of 1-63 letters, digits or '-', separated by '.')"
    return None


def resolve_base(address: str, version_segment: str) -> str:
    """The base URL every endpoint path is appended to, by the rules above (``address`` already has the
    type's default filled in when it was blank)."""
    text = address.strip()
    if text.endswith("#"):
        return text[:-1]
    if text.endswith("/"):
        text = text[:-1]
    if not version_segment or _VERSION_RE.search(urlsplit(text).path):
        return text
    return text + version_segment


def host_in(address: str, hosts: tuple[str, ...], *, https: bool = True) -> bool:
    """True when ``address``'s host is one of ``hosts`` (a leading dot: any host under that domain), over
    https unless ``https=False``: how a type's own service is recognised (its key variables go only there)."""
    parts = urlsplit(address.strip().removesuffix("#"))
    host = (parts.hostname or "").rstrip(".")
    if not host or (https and parts.scheme != "https"):
        return False
    return any(host.endswith(h) if h.startswith(".") else host == h for h in hosts)
