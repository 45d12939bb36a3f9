"""Adding a provider from a surface (``%providers add``, the panel's Add form and address field): the store's
address notes caught to be shown, and what :meth:`~.store.ProviderStore.detect` found turned into a type and models.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import TypeVar

from ._doctor import AddressNote
from ._types import Detection

__all__ = ["DETECTED_MODELS", "from_detection", "with_notes"]

_T = TypeVar("_T")

#: the most models a detection adds (a gateway may list hundreds: fetch the rest from the provider)
DETECTED_MODELS = 50


def with_notes(action: Callable[[], _T]) -> tuple[_T, list[str]]:
    """``action()``'s result and the :class:`AddressNote` lines it warned with (other warnings go on as usual)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AddressNote)
        result = action()
    notes = []
    for w in caught:
        if issubclass(w.category, AddressNote):
            notes.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result, notes


def from_detection(
    found: Detection, type_: str | None, models: Sequence[str], key_again: str | None = None
) -> tuple[str | None, list[str], str]:
    """(the type to add, the models to add, one line saying what detection gave): a type or models given win.
    ``key_again``: how this surface gives a key (:meth:`Detection.told`)."""
    chosen = type_ or found.type
    picked = list(models) or list(found.models[:DETECTED_MODELS])
    line = f"detected: {found.told(key_again) if key_again else found}"
    if type_ and found.types and type_ not in found.types:
        line += f" - added as {type_}, as asked"
    if not models and len(found.models) > DETECTED_MODELS:
        line += f" - the first {DETECTED_MODELS} models added; fetch the others with %providers models NAME --fetch"
    return chosen, picked, line
