"""What a fake that sees answers about an image: the images a chat request carries, found in any protocol's form
(a ``data:`` URL in OpenAI's ``image_url`` or the Responses API's ``input_image``, raw base64 in Anthropic's
``source.data``, Gemini's ``inline_data.data`` or Ollama's ``images``), decoded with Pillow, and the name of the
colour they show. A fake that is blind (``FakeServer(sees_images=False)``) answers its canned reply instead."""

from __future__ import annotations

import base64
import binascii
import io
import re
from collections.abc import Iterator
from typing import Any

#: colour names a person would give, with a typical sRGB value each (the nearest one names a pixel)
PALETTE = {
    "red": (220, 20, 20), "green": (20, 160, 40), "blue": (20, 40, 220), "yellow": (250, 220, 0),
    "orange": (255, 140, 0), "purple": (128, 0, 128), "black": (0, 0, 0), "white": (255, 255, 255),
    "grey": (128, 128, 128),
}  # fmt: skip
#: the first bytes of an image's base64: PNG, JPEG, GIF, WebP
_MAGIC = ("iVBORw0KGgo", "/9j/", "R0lGOD", "UklGR")
_DATA_URL = re.compile(r"\Adata:image/[a-z+.-]+;base64,", re.I)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def images_in(body: Any) -> list[bytes]:
    """The bytes of each image a request body carries, in order."""
    found = []
    for s in _strings(body):
        data = _DATA_URL.sub("", s, count=1)
        if data.startswith(_MAGIC):
            try:
                found.append(base64.b64decode(data, validate=True))
            except (binascii.Error, ValueError):
                continue
    return found


def colour_of(image: bytes) -> str:
    """The name of the colour most of ``image`` is (its mean pixel's nearest in :data:`PALETTE`)."""
    from PIL import Image, ImageStat

    with Image.open(io.BytesIO(image)) as im:
        mean = ImageStat.Stat(im.convert("RGB")).mean
    return min(PALETTE, key=lambda n: sum((a - b) ** 2 for a, b in zip(PALETTE[n], mean, strict=True)))


def seen_answer(texts: list[str], body: Any) -> str | None:
    """What a model that sees says to a request asking the colour of the images it carries: the colour of each
    (``"Blue."``); ``None`` when the request asks something else or carries no image."""
    if not any(re.search(r"\bcolou?rs?\b", t, re.I) for t in texts):
        return None
    images = images_in(body)
    if not images:
        return None
    return ", ".join(colour_of(i) for i in images).capitalize() + "."
