"""Character rules for what a person types, shared by the store and the address rules.

* Keys and header values go out in HTTP headers: printable ASCII only. A pasted curly quote
  or non-breaking space is refused with the character and its position, never the value.
* Names and model ids refuse characters that are invisible or reorder text on screen
  (controls, bidi controls, zero-width and other format characters): two names that look
  the same must be the same name. Names equal after NFKC + casefold are one name.
* Azure deployment names follow Azure's own rule (up to 64 letters, digits, ``-``, ``_``, ``.``).
"""

from __future__ import annotations

import re
import unicodedata

from .errors import InvalidValueError

__all__ = [
    "check_azure_deployment",
    "check_visible",
    "describe_char",
    "fold_name",
    "unsendable",
]

#: Unicode categories refused in names and ids: controls (C0, DEL, C1), format characters (bidi
#: controls U+202A-202E, U+2066-2069, U+200E/F, U+061C; zero-width U+200B-200D, U+2060, U+FEFF;
#: the soft hyphen), line/paragraph separators, surrogates and private use
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co"})
_CONTROL_NAMES = {"\t": "a tab", "\n": "a line break", "\r": "a line break"}
_AZURE_DEPLOYMENT = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def describe_char(c: str) -> str:
    """``'“' (U+201C LEFT DOUBLE QUOTATION MARK)``; an invisible character is shown by its code only."""
    name = unicodedata.name(c, "")
    code = f"U+{ord(c):04X}" + (f" {name}" if name else "")
    visible = unicodedata.category(c) not in _INVISIBLE and not c.isspace()
    return f"{c!r} ({code})" if visible else f"the invisible character {code}"


def unsendable(value: str, *, spaces: bool) -> str | None:
    """Why ``value`` cannot travel in an HTTP header (``None`` if it can): printable ASCII only, and a
    space only where ``spaces`` allows. The reason names the character and its position, not the value."""
    for i, c in enumerate(value, 1):
        if " " < c <= "~" or (spaces and c == " "):
            continue
        if c == " ":
            what = "a space"
        elif c.isascii():
            what = f"{_CONTROL_NAMES.get(c, 'a control character')} (U+{ord(c):04X})"
        else:
            shown = describe_char(c)
            what = shown if shown.startswith("the invisible") else f"the non-ASCII character {shown}"
        return f"{what} at position {i}"
    return None


def check_visible(field: str, value: str, what: str) -> None:
    """Refuse characters that are invisible or reorder text (see ``_INVISIBLE``) in a name or an id."""
    for i, c in enumerate(value, 1):
        if unicodedata.category(c) in _INVISIBLE:
            raise InvalidValueError(
                f"{field}: the {what} {value!r} holds {describe_char(c)} at position {i}; remove it "
                "(invisible and text-direction characters make names that look alike differ)"
            )


def fold_name(name: str) -> str:
    """What two provider names are compared by: ``Ｏｐｅｎ ＡＩ`` and ``open ai`` are one name."""
    return unicodedata.normalize("NFKC", name).casefold()


def check_azure_deployment(value: str) -> str:
    """An Azure deployment name: up to 64 letters, digits, ``-``, ``_`` or ``.`` (Azure refuses others)."""
    if not _AZURE_DEPLOYMENT.fullmatch(value):
        raise InvalidValueError(
            f"model: {value!r} is not an Azure deployment name; deployment names are 1-64 letters, "
            "digits, '-', '_' or '.' (use the name of the deployment, as in the Azure portal)"
        )
    return value
