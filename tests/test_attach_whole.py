"""An image cut short is refused without Pillow too (jupyter_providers/_attach.py): only its end is checked then,
by the mark its format puts there, so a whole file with a thumbnail, a trailer or several scans still goes."""

from __future__ import annotations

import io
from typing import Any

import pytest

from jupyter_providers import _attach as attach_module
from jupyter_providers._attach import prepare
from jupyter_providers.errors import InvalidValueError

PIL = pytest.importorskip("PIL.Image")


def _encoded(fmt: str, **options: Any) -> bytes:
    img = PIL.frombytes("RGB", (60, 40), bytes(range(256)) * 28 + bytes(range(32)))
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


TRAILER = b"\0" * 64
WHOLE = {
    "PNG": [_encoded("PNG")],
    "JPEG": [
        _encoded("JPEG"),
        _encoded("JPEG", progressive=True),  # several scans, the end marker after the last
        _encoded("JPEG", exif=PIL.Exif().tobytes()) + TRAILER,  # bytes after the end marker
    ],
    "WebP": [_encoded("WEBP"), _encoded("WEBP", lossless=True)],
}


@pytest.mark.parametrize("fmt", sorted(WHOLE))
def test_without_pillow_a_whole_image_goes_and_one_cut_short_is_refused(
    monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    monkeypatch.setattr(attach_module, "_pil", lambda: None)
    for whole in WHOLE[fmt]:
        assert prepare(whole)[0].data == whole
        image = whole.removesuffix(TRAILER)
        for cut in (whole[: len(whole) // 2], whole[:40], image[:-3]):
            with pytest.raises(InvalidValueError) as caught:
                prepare(cut)
            assert str(caught.value) == f"attach: bytes is not a readable {fmt} (truncated or damaged: it is cut short)"
