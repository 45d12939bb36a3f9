"""Attachments: what ``chat(prompt, attach=[...])`` sends beside the prompt, as immutable values.

An image (a matplotlib figure, a PNG / JPEG / WebP file or bytes, a PIL image, an ``IPython.display.Image``)
becomes an :class:`Attachment` holding the exact bytes sent, recognised by their magic bytes, never by a
file name; larger ones are downscaled with Pillow (or, without it, refused in one line). A pandas or polars
DataFrame becomes a compact text table (shape, dtypes, head) under a size limit, sent as text.

matplotlib, PIL, pandas and polars are never imported here: an object is recognised by its type's module,
so only an object of that library, which its user already imported, reaches its code.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import InvalidValueError

if TYPE_CHECKING:
    from ._types import Message

__all__ = ["AttachLimits", "Attachment", "attach_limits", "images_of", "prepare", "sniff", "with_attachments"]

MB = 1 << 20
#: the image formats sent, by their magic bytes (every provider type's API takes these three)
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
ACCEPTED = "a matplotlib figure, a PNG / JPEG / WebP file or bytes, a PIL image, an IPython Image or a DataFrame"


@dataclass
class AttachLimits:
    """Limits on attachments: ``jupyter_providers.attach_limits.max_image_bytes = 8_000_000``.

    - ``max_image_bytes`` (4 MB): an image larger than this is downscaled with Pillow (without Pillow: refused);
      Anthropic takes at most 5 MB per image, OpenAI 20 MB, Gemini 20 MB for a whole inline request.
    - ``max_image_side`` (2048 px): with Pillow, an image whose longer side is longer is scaled down to it
      (OpenAI and Anthropic scale larger images down on their side anyway; the bytes would be sent for nothing).
    - ``max_file_bytes`` (64 MB): a file larger than this is not read at all.
    - ``max_table_chars`` (4,000) and ``table_rows`` (10): a DataFrame's text (shape, dtypes and its first rows).
    """

    max_image_bytes: int = 4 * MB
    max_image_side: int = 2048
    max_file_bytes: int = 64 * MB
    max_table_chars: int = 4000
    table_rows: int = 10


attach_limits = AttachLimits()


@dataclass(frozen=True)
class Attachment:
    """One attachment as sent: ``data`` are the exact bytes (an image, or a table's UTF-8 text).

    ``digest`` (the sha256 of ``data``) names it stably, e.g. for a cache key; ``note`` says what was done
    to it (``"downscaled from 4000x3000"``)."""

    label: str
    mime: str
    data: bytes = field(repr=False)
    width: int | None = None
    height: int | None = None
    note: str = ""

    @property
    def is_image(self) -> bool:
        return self.mime in IMAGE_TYPES

    @functools.cached_property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def base64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")

    @property
    def data_uri(self) -> str:
        return f"data:{self.mime};base64,{self.base64}"

    @property
    def text(self) -> str:
        """A table's text (``""`` for an image)."""
        return "" if self.is_image else self.data.decode("utf-8")

    def describe(self) -> str:
        """``"fig: PNG 640x480, 23 kB"`` or ``"df: table, 812 characters"``."""
        if not self.is_image:
            return f"{self.label}: table, {len(self.text):,} characters"
        size = f" {self.width}x{self.height}" if self.width and self.height else ""
        note = f" ({self.note})" if self.note else ""
        return f"{self.label}: {self.mime[6:].upper()}{size}, {_kb(len(self.data))}{note}"

    def __repr__(self) -> str:
        return f"<Attachment {self.describe()}, sha256 {self.digest[:12]}>"


def _kb(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB else f"{n / 1024:.1f} kB" if n < 10240 else f"{round(n / 1024)} kB"


def sniff(data: bytes) -> str | None:
    """The image type ``data`` starts with (PNG, JPEG, WebP), else ``None``."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _png_size(data: bytes) -> tuple[int | None, int | None]:
    if len(data) >= 24 and data[12:16] == b"IHDR":
        w, h = struct.unpack(">II", data[16:24])
        return w, h
    return None, None


def _module(obj: Any) -> str:
    return type(obj).__module__ or ""


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError:
        return None
    return Image


def _image(label: str, data: bytes) -> Attachment:
    """An image attachment of ``data``: checked by its magic bytes, within the limits (downscaled if needed)."""
    mime = sniff(data)
    if mime is None:
        head = data[:8]
        raise InvalidValueError(f"attach: {label} is not a PNG, JPEG or WebP image (it starts with {head!r})")
    limits = attach_limits
    pil = _pil()
    if pil is None:
        if len(data) > limits.max_image_bytes:
            raise InvalidValueError(
                f"attach: {label} is {_kb(len(data))}, over the {_kb(limits.max_image_bytes)} limit; install Pillow "
                "to have it downscaled: pip install 'jupyter-providers[images]'"
            )
        w, h = _png_size(data) if mime == "image/png" else (None, None)
        return Attachment(label, mime, data, w, h)
    try:
        img = pil.open(io.BytesIO(data))
        w, h = img.size
    except Exception as exc:  # Pillow raises many kinds for a damaged file
        raise InvalidValueError(f"attach: {label} is not a readable image ({type(exc).__name__})") from None
    if len(data) <= limits.max_image_bytes and max(w, h) <= limits.max_image_side:
        return Attachment(label, mime, data, w, h)
    return _downscale(label, pil, img, mime, (w, h))


def _downscale(label: str, pil: Any, img: Any, mime: str, size: tuple[int, int]) -> Attachment:
    """``img`` scaled to fit ``max_image_side``, then smaller until its bytes fit ``max_image_bytes``."""
    limits = attach_limits
    side = min(limits.max_image_side, max(size))
    alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    fmt = "PNG" if mime == "image/png" else "WEBP" if mime == "image/webp" else "JPEG"
    img.load()
    for _ in range(12):
        small = img.copy()
        small.thumbnail((side, side), pil.Resampling.LANCZOS)
        out = _encode(small, fmt, alpha)
        if len(out) > limits.max_image_bytes and fmt == "PNG" and not alpha:
            out, fmt = _encode(small, "JPEG", alpha), "JPEG"  # a photo saved as PNG: JPEG is far smaller
        if len(out) <= limits.max_image_bytes:
            mime = sniff(out) or mime
            note = f"downscaled from {size[0]}x{size[1]}"
            return Attachment(label, mime, out, small.size[0], small.size[1], note)
        side = int(side * 0.75)
    raise InvalidValueError(f"attach: {label} does not fit {_kb(limits.max_image_bytes)} even downscaled")


def _encode(img: Any, fmt: str, alpha: bool) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG":
        img = img.convert("RGB")
        img.save(buf, "JPEG", quality=85, optimize=True)
    elif fmt == "WEBP":
        img.save(buf, "WEBP", quality=85)
    else:
        if img.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
            img = img.convert("RGBA" if alpha else "RGB")
        img.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _read_file(label: str, path: str) -> bytes:
    try:
        size = os.path.getsize(path)
        if size > attach_limits.max_file_bytes:
            raise InvalidValueError(f"attach: {label} is {_kb(size)}, too large to read as an image")
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise InvalidValueError(f"attach: cannot read {label} ({exc.strerror or type(exc).__name__})") from None


def _figure(label: str, fig: Any) -> Attachment:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return _image(label, buf.getvalue())


def _pil_image(label: str, img: Any) -> Attachment:
    buf = io.BytesIO()
    fmt = img.format if img.format in ("PNG", "JPEG", "WEBP") else "PNG"
    if fmt == "PNG" and img.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
        img = img.convert("RGB")
    img.save(buf, fmt)
    return _image(label, buf.getvalue())


def _ipython_image(label: str, img: Any) -> Attachment:
    data = getattr(img, "data", None)
    if isinstance(data, bytes):
        return _image(label, data)
    if getattr(img, "filename", None):
        return _image(label, _read_file(label, str(img.filename)))
    raise InvalidValueError(f"attach: {label} is an IPython Image of a URL; download it and attach the file")


def _table(label: str, df: Any) -> Attachment:
    """A DataFrame as compact text: its shape, column types and first rows, cut at ``max_table_chars``."""
    limits = attach_limits
    rows, cols = df.shape
    if _module(df).startswith("polars"):
        dtypes = ", ".join(f"{k}: {v}" for k, v in df.schema.items())
        head = str(df.head(limits.table_rows))
    else:
        dtypes = ", ".join(f"{k}: {v}" for k, v in df.dtypes.items())
        head = df.head(limits.table_rows).to_string(max_colwidth=60)
    text = f"DataFrame {label}: {rows:,} rows x {cols:,} columns\ndtypes: {dtypes}\nfirst rows:\n{head}"
    if len(text) > limits.max_table_chars:
        text = text[: limits.max_table_chars] + f"\n... (cut at {limits.max_table_chars:,} characters)"
    return Attachment(label, "text/plain", text.encode("utf-8"))


def _is_frame(obj: Any) -> bool:
    return type(obj).__name__ == "DataFrame" and _module(obj).split(".")[0] in ("pandas", "polars")


def one(obj: Any, label: str | None = None) -> Attachment:
    """``obj`` as an attachment; ``label`` names it in errors and thumbnails (default: its file name or kind)."""
    module = _module(obj)
    if isinstance(obj, Attachment):
        return obj
    if isinstance(obj, bytes | bytearray | memoryview):
        return _image(label or "bytes", bytes(obj))
    if isinstance(obj, str | os.PathLike):
        path = str(os.fspath(obj))
        where = path if label in (None, path) else f"{label} ({path!r})"
        return _image(label or os.path.basename(path) or path, _read_file(where, path))
    if module.startswith("matplotlib.") and hasattr(obj, "savefig"):
        return _figure(label or "figure", obj)
    if module.startswith("PIL.") and hasattr(obj, "save") and hasattr(obj, "mode"):
        return _pil_image(label or "image", obj)
    if module.startswith("IPython.") and type(obj).__name__ == "Image":
        return _ipython_image(label or "image", obj)
    if _is_frame(obj):
        return _table(label or "df", obj)
    kind = f"{module}.{type(obj).__name__}" if module != "builtins" else type(obj).__name__
    raise InvalidValueError(f"attach: cannot attach {kind!r} objects; give {ACCEPTED}")


def prepare(attach: Any, labels: Iterable[str] | None = None) -> tuple[Attachment, ...]:
    """Every attachment of ``attach`` (one object or a list of them), converted now, before anything is sent."""
    items = list(attach) if isinstance(attach, list | tuple) else [attach]
    names = list(labels or [])
    return tuple(one(obj, names[i] if i < len(names) else None) for i, obj in enumerate(items))


def with_attachments(content: str, attachments: tuple[Attachment, ...]) -> Message:
    """A user message of ``content`` with ``attachments``: tables appended to its text, images kept beside it."""
    tables = [a.text for a in attachments if not a.is_image]
    text = "\n\n".join([content, *tables]) if tables else content
    message: Message = {"role": "user", "content": text}
    images = tuple(a for a in attachments if a.is_image)
    if images:
        message["attachments"] = images
    return message


def images_of(message: Message) -> tuple[Attachment, ...]:
    """The images a message carries (adapters send each in their type's native form)."""
    return tuple(message.get("attachments", ()))
