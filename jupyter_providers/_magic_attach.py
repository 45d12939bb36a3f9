"""``%%chat --attach fig,plot.png,df``: each name a notebook variable or a file path, and what was sent shown.

The names are resolved before anything is sent (an unknown one is a one-line error); the objects become
attachments as for ``chat(attach=...)`` (:mod:`jupyter_providers._attach`). After the reply, a line of thumbnails
shows exactly the bytes sent, through the one rendering path (:func:`jupyter_providers._render.attachments_html`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ._attach import Attachment, prepare
from ._render import attachments_html, terminal_text
from .errors import InvalidValueError

__all__ = ["attachments_of", "sent_bundle"]


def attachments_of(spec: str | None, namespace: Mapping[str, Any]) -> tuple[Attachment, ...] | None:
    """The attachments ``--attach NAME,...`` names: a variable of the notebook, else an existing file."""
    if spec is None:
        return None
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise InvalidValueError("--attach: give one or more variables or file paths, separated by commas")
    objects: list[Any] = []
    for name in names:
        if name.isidentifier() and name in namespace:
            objects.append(namespace[name])
        elif os.path.isfile(os.path.expanduser(name)):
            objects.append(os.path.expanduser(name))
        else:
            raise InvalidValueError(f"--attach: {name} is neither a notebook variable nor a file")
    return prepare(objects, labels=names)


def sent_bundle(attachments: tuple[Attachment, ...]) -> dict[str, str]:
    """The output showing what went with the prompt: thumbnails in HTML, one line in plain text."""
    plain = "sent: " + "; ".join(a.describe() for a in attachments)
    return {"text/html": attachments_html(attachments), "text/plain": terminal_text(plain)}
