"""Attachments: what ``chat(prompt, attach=[...])`` sends beside the prompt, as immutable values.

An image (a matplotlib figure, a PNG / JPEG / WebP file or bytes, a PIL image, an ``IPython.display.Image``)
becomes an :class:`Attachment` holding the exact bytes sent, recognised by their magic bytes, never by a
file name; larger ones are downscaled with Pillow (or, without it, refused in one line). Its width and height
are read from its header and checked against ``max_image_pixels`` before anything decodes it (Pillow's own
``MAX_IMAGE_PIXELS`` may be off); an animated one sends its first frame, a truncated one is refused. A pandas or
polars DataFrame becomes a compact text table (shape, dtypes, head) under a size limit, sent as text.

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
#: how often a downscaled image is encoded at most before it is refused as too large
MAX_ENCODES = 4
ACCEPTED = "a matplotlib figure, a PNG / JPEG / WebP file or bytes, a PIL image, an IPython Image or a DataFrame"


@dataclass
class AttachLimits:
    """Limits on attachments: ``jupyter_providers.attach_limits.max_image_bytes = 8_000_000``.

    - ``max_image_bytes`` (4 MB): an image larger than this is downscaled with Pillow (without Pillow: refused);
      Anthropic takes at most 5 MB per image, OpenAI 20 MB, Gemini 20 MB for a whole inline request.
    - ``max_image_side`` (2048 px): with Pillow, an image whose longer side is longer is scaled down to it
      (OpenAI and Anthropic scale larger images down on their side anyway; the bytes would be sent for nothing).
    - ``max_image_pixels`` (50,000,000): an image with more pixels (width x height, read from its header) is
      refused before it is decoded, with or without Pillow, whatever ``PIL.Image.MAX_IMAGE_PIXELS`` says; a small
      file can claim a huge size, and decoding takes 4 to 8 bytes a pixel.
    - ``max_file_bytes`` (64 MB): a file larger than this is not read at all.
    - ``max_table_chars`` (4,000) and ``table_rows`` (10): a DataFrame's text (shape, dtypes and its first rows).
    """

    max_image_bytes: int = 4 * MB
    max_image_side: int = 2048
    max_image_pixels: int = 50_000_000
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


def _probe(mime: str, data: bytes) -> tuple[int | None, int | None, bool]:
    """``(width, height, animated)`` read from the header of a PNG, JPEG or WebP, without decoding a pixel."""
    if mime == "image/png" and len(data) >= 24 and data[12:16] == b"IHDR":
        i, animated = 8, False
        while i + 8 <= len(data) and data[i + 4 : i + 8] != b"IDAT":  # an APNG declares acTL before its pixels
            animated |= data[i + 4 : i + 8] == b"acTL"
            i += 12 + int.from_bytes(data[i : i + 4], "big")
        return *struct.unpack(">II", data[16:24]), animated
    if mime == "image/jpeg":
        i = 2
        while i + 9 <= len(data) and data[i] == 0xFF:
            marker = data[i + 1]
            if marker in (0xFF, 0x01) or 0xD0 <= marker <= 0xD8:  # a fill byte or a marker with no length
                i += 1 if marker == 0xFF else 2
            elif 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start of frame: its size
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                return w, h or None, False
            elif marker in (0xD9, 0xDA):  # the end, or pixels, before any frame header
                break
            else:
                i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    elif mime == "image/webp" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8X":  # extended: a 24-bit canvas size, and a flag for animation
            w, h = int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
            return w, h, bool(data[20] & 0x02)
        if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
            w, h = struct.unpack("<HH", data[26:30])
            return w & 0x3FFF, h & 0x3FFF, False
        if chunk == b"VP8L" and data[20] == 0x2F:
            bits = int.from_bytes(data[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, False
    return None, None, False


def _ends_whole(mime: str, data: bytes) -> bool:
    """Whether ``data`` reaches the end its format marks (a download cut short does not): what is checked without
    Pillow, which decodes the image. PNG's final chunk, JPEG's end marker after its last scan, WebP's RIFF size."""
    if mime == "image/png":
        return b"IEND\xaeB`\x82" in data[33:]  # the IEND chunk's type and its fixed CRC, after the header
    if mime == "image/jpeg":
        return data.rfind(b"\xff\xd9") > data.rfind(b"\xff\xda")  # an embedded thumbnail's end comes before it
    return 8 + int.from_bytes(data[4:8], "little") <= len(data)


def _check_pixels(label: str, w: int | None, h: int | None) -> None:
    """Refuse an image of more than ``max_image_pixels``, from its size alone, before anything decodes it."""
    limit = attach_limits.max_image_pixels
    if w and h and w * h > limit:
        raise InvalidValueError(
            f"attach: {label} is {w:,}x{h:,} pixels, over the {limit:,}-pixel limit; downscale it first or raise "
            "jupyter_providers.attach_limits.max_image_pixels"
        )


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
    w, h, animated = _probe(mime, data)
    _check_pixels(label, w, h)
    limits = attach_limits
    pil = _pil()
    if pil is None:
        install = "pip install 'jupyter-providers[images]'"
        if animated:
            raise InvalidValueError(f"attach: {label} is animated; install Pillow to send its first frame: {install}")
        if len(data) > limits.max_image_bytes:
            raise InvalidValueError(
                f"attach: {label} is {_kb(len(data))}, over the {_kb(limits.max_image_bytes)} limit; install Pillow "
                f"to have it downscaled: {install}"
            )
        if not _ends_whole(mime, data):
            kind = mime[6:].upper().replace("WEBP", "WebP")
            raise InvalidValueError(f"attach: {label} is not a readable {kind} (truncated or damaged: it is cut short)")
        return Attachment(label, mime, data, w, h)
    try:
        return _with_pillow(label, pil, data, mime)
    except InvalidValueError:
        raise
    except (pil.DecompressionBombError, pil.DecompressionBombWarning):  # Pillow's own limit, when it is lower
        raise InvalidValueError(
            f"attach: {label} is over Pillow's {pil.MAX_IMAGE_PIXELS:,}-pixel limit; downscale it first or raise "
            "PIL.Image.MAX_IMAGE_PIXELS"
        ) from None
    except Exception as exc:  # truncated or damaged: Pillow raises OSError, SyntaxError, ValueError, zlib.error...
        kind = mime[6:].upper().replace("WEBP", "WebP")
        raise InvalidValueError(
            f"attach: {label} is not a readable {kind} (truncated or damaged: {type(exc).__name__})"
        ) from None


def _with_pillow(label: str, pil: Any, data: bytes, mime: str) -> Attachment:
    img = pil.open(io.BytesIO(data), formats=[mime[6:].upper()])  # lazy: reads the header only
    w, h = img.size
    _check_pixels(label, w, h)  # again, from Pillow's reading, before any decoding
    frames = getattr(img, "n_frames", 1) if mime != "image/jpeg" else 1  # a JPEG's extra pictures (MPO) are ignored
    limits = attach_limits
    if frames == 1 and len(data) <= limits.max_image_bytes and max(w, h) <= limits.max_image_side:
        img.load()  # at most max_image_side squared pixels, so that a truncated file is refused here, not by a server
        return Attachment(label, mime, data, w, h)
    return _downscale(label, pil, img, mime, frames)


def _downscale(label: str, pil: Any, img: Any, mime: str, frames: int) -> Attachment:
    """``img`` (opened, not decoded) scaled to fit ``max_image_side``, then smaller until it fits ``max_image_bytes``.

    Decoded once: a JPEG at a reduced scale (``draft``), others reduced by an integer factor then resampled once
    (``thumbnail``); each smaller try is made from that small image, at most ``MAX_ENCODES`` encodings in all."""
    limits = attach_limits
    size = img.size
    alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    if mime == "image/jpeg":  # the decoder scales by 1/2, 1/4 or 1/8, to no less than the size wanted
        side = min(limits.max_image_side, max(size))
        img.draft(None, (max(1, size[0] * side // max(size)), max(1, size[1] * side // max(size))))
    if img.mode.startswith("I"):  # 16-bit grey: scaled to 8 bits (convert() would clip it at 255)
        img = img.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    elif img.mode not in ("L", "LA", "RGB", "RGBA", "CMYK"):  # palette, 1-bit: resampled poorly (nearest)
        img = img.convert("L" if img.mode == "1" else "RGBA" if alpha else "RGB")  # at full size: max_image_pixels
    img.thumbnail((limits.max_image_side,) * 2, pil.Resampling.LANCZOS)
    fmt = "PNG" if mime == "image/png" else "WEBP" if mime == "image/webp" else "JPEG"
    small, encodes = img, 0
    while True:
        out = _encode(small, fmt, alpha)
        encodes += 1
        if len(out) <= limits.max_image_bytes:
            done = f"downscaled from {size[0]}x{size[1]}" if small.size != size else "re-encoded"
            note = f"{done}, first of {frames} frames" if frames > 1 else done
            return Attachment(label, sniff(out) or mime, out, small.size[0], small.size[1], note)
        if fmt == "PNG" and not alpha:
            fmt = "JPEG"  # a photo saved as PNG: JPEG is far smaller
            continue
        side = int(max(small.size) * min(0.9, 0.95 * (limits.max_image_bytes / len(out)) ** 0.5))  # bytes ~ pixels
        if encodes >= MAX_ENCODES or side < 16:
            raise InvalidValueError(f"attach: {label} does not fit {_kb(limits.max_image_bytes)} even downscaled")
        small = img.copy()
        small.thumbnail((side, side), pil.Resampling.LANCZOS)


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
        img.save(buf, "PNG")  # zlib's default level: optimize=True costs much CPU for a few percent
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
    _check_pixels(label, *img.size)  # before encoding it only to refuse it
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
