"""``chat(attach=...)``: each attachment kind as each provider type sends it (request bodies recorded by the fakes),
tables appended as text, limits and downscaling, refusals before anything is sent, and conversations."""

from __future__ import annotations

import base64
import io
import json
import random
import struct
import warnings
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_providers import ProviderStore, chat
from jupyter_providers import _attach as attach_module
from jupyter_providers._attach import Attachment, prepare, sniff
from jupyter_providers.adapters import TYPES
from jupyter_providers.adapters._spec import IMAGE_FORMS
from jupyter_providers.conversation import Conversation
from jupyter_providers.errors import InvalidValueError

from .fakes import FakeServer

PIL = pytest.importorskip("PIL.Image")
KEY = "sk-attach-0123456789"


def png(size: tuple[int, int] = (32, 24), color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    PIL.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def encoded(img: Any, fmt: str, **options: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


# -- where each image form carries the images of the last user message: [(mime, base64)] ----------------------
def _data_uri(url: str) -> tuple[str, str]:
    head, _, data = url.partition(",")
    assert head.startswith("data:") and head.endswith(";base64")
    return head[5:-7], data


def _image_url(body: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    content = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
    text = [p["text"] for p in content if p["type"] == "text"]
    return text[0], [_data_uri(p["image_url"]["url"]) for p in content if p["type"] == "image_url"]


def _input_image(body: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    content = [m for m in body["input"] if m["role"] == "user"][-1]["content"]
    text = [p["text"] for p in content if p["type"] == "input_text"]
    return text[0], [_data_uri(p["image_url"]) for p in content if p["type"] == "input_image"]


def _image(body: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    content = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
    assert content[-1]["type"] == "text"  # images first, then the text, as Anthropic advises
    found = [(b["source"]["media_type"], b["source"]["data"]) for b in content if b["type"] == "image"]
    assert all(b["source"]["type"] == "base64" for b in content if b["type"] == "image")
    return content[-1]["text"], found


def _inline_data(body: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    parts = [c for c in body["contents"] if c["role"] == "user"][-1]["parts"]
    found = [(p["inline_data"]["mime_type"], p["inline_data"]["data"]) for p in parts if "inline_data" in p]
    return parts[0]["text"], found


def _images(body: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    message = [m for m in body["messages"] if m["role"] == "user"][-1]
    return message["content"], [("", data) for data in message.get("images", [])]  # Ollama sends no type


#: how to read each native form back out of a recorded request body
FORMS: dict[str, Callable[[dict[str, Any]], tuple[str, list[tuple[str, str]]]]] = {
    "image_url": _image_url,
    "input_image": _input_image,
    "image": _image,
    "inline_data": _inline_data,
    "images": _images,
}


def test_every_type_declares_an_image_form_read_here() -> None:
    assert set(FORMS) == set(IMAGE_FORMS)
    for spec in TYPES.values():
        assert spec.image_form in FORMS, f"{spec.name}: declare image_form on its TypeSpec and read it in FORMS"


def _kinds(tmp_path: Path) -> dict[str, Any]:
    """One object of each kind accepted, and the image type it must arrive as."""
    from IPython.display import Image as IPyImage

    jpeg = tmp_path / "photo.bin"  # no image extension: the magic bytes decide
    jpeg.write_bytes(encoded(PIL.new("RGB", (20, 10), (0, 90, 200)), "JPEG"))
    return {
        "png-bytes": png(),
        "jpeg-file": str(jpeg),
        "webp-bytes": encoded(PIL.new("RGB", (16, 16), (10, 200, 10)), "WEBP"),
        "pil": PIL.new("RGBA", (12, 12), (1, 2, 3, 128)),
        "ipython": IPyImage(data=png((8, 8))),
    }


MIMES = {"png-bytes": "image/png", "jpeg-file": "image/jpeg", "webp-bytes": "image/webp", "pil": "image/png",
         "ipython": "image/png"}  # fmt: skip


@pytest.fixture(params=sorted({*TYPES, "vllm"}))
def served(request: pytest.FixtureRequest, store: ProviderStore) -> Iterator[tuple[FakeServer, ProviderStore, str]]:
    with FakeServer(request.param, api_key=KEY, models=["model-a"]) as srv:
        kind = "openai" if request.param == "vllm" else request.param
        store.add("P", type=kind, base_url=srv.base_url, api_key=KEY, models=["model-a"], **srv.facts.store_kwargs())
        yield srv, store, TYPES[kind].image_form


def test_each_kind_is_sent_in_each_types_native_form(
    served: tuple[FakeServer, ProviderStore, str], tmp_path: Path
) -> None:
    srv, store, form = served
    for name, obj in _kinds(tmp_path).items():
        sent = prepare(obj)[0]
        reply = chat("What is in this picture?", provider="P", store=store, attach=[obj])
        assert reply.text
        text, images = FORMS[form](srv.requests[-1].body or {})
        assert text == "What is in this picture?", name
        assert len(images) == 1, name
        mime, data = images[0]
        assert base64.b64decode(data) == sent.data and sniff(sent.data) == MIMES[name], name
        assert mime in ("", MIMES[name]), name


def test_a_figure_and_a_dataframe_together(served: tuple[FakeServer, ProviderStore, str]) -> None:
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    srv, store, form = served
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([1, 3, 2])
    df = pd.DataFrame({"city": ["Oslo", "Lima"], "temp": [3.5, 19.0]})
    chat("Describe.", provider="P", store=store, attach=[fig, df], stream=True).text  # noqa: B018
    plt.close(fig)
    text, images = FORMS[form](srv.requests[-1].body or {})
    assert text.startswith("Describe.\n\nDataFrame df: 2 rows x 2 columns\ndtypes: city: ")
    assert "temp: float64" in text and "Oslo" in text and "19.0" in text
    assert len(images) == 1 and base64.b64decode(images[0][1]).startswith(b"\x89PNG")


def test_a_conversation_sends_earlier_images_again(served: tuple[FakeServer, ProviderStore, str]) -> None:
    srv, store, _ = served
    conv = Conversation("P", "model-a", store=store)
    conv.send("First", stream=False, attach=png())
    conv.send("And now?", stream=False)
    body = srv.requests[-1].body or {}
    dumped = json.dumps(body)
    assert base64.b64encode(png()).decode() in dumped and "And now?" in dumped
    assert conv.turns[0].attachments[0].digest == Attachment("x", "image/png", png()).digest


def test_the_digest_is_the_sha256_of_the_bytes_sent() -> None:
    import hashlib

    a = prepare(png())[0]
    assert a.digest == hashlib.sha256(a.data).hexdigest() == prepare(bytearray(png()))[0].digest
    assert prepare(png((9, 9)))[0].digest != a.digest
    assert "sha256" in repr(a) and "32x24" in repr(a)


@pytest.mark.parametrize(
    ("obj", "says"),
    [
        (b"GIF89a\x01\x00", "is not a PNG, JPEG or WebP image"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "is not a PNG, JPEG or WebP image"),
        (12, "cannot attach 'int' objects; give a matplotlib figure"),
        ("/no/such/file.png", "cannot read /no/such/file.png"),
    ],
)
def test_anything_else_is_refused_in_one_line_before_sending(store: ProviderStore, obj: Any, says: str) -> None:
    with FakeServer("openai", models=["m"]) as srv:
        store.add("P", type="openai", base_url=srv.base_url, api_key="", models=["m"])
        with pytest.raises(InvalidValueError) as err:
            chat("hi", provider="P", store=store, attach=obj)
        assert says in str(err.value) and "\n" not in str(err.value) and str(err.value).startswith("attach: ")
        assert not srv.requests


def test_a_png_named_jpg_is_sent_as_png(tmp_path: Path) -> None:
    path = tmp_path / "plot.jpg"
    path.write_bytes(png())
    assert prepare(str(path))[0].mime == "image/png" and prepare(path)[0].label == "plot.jpg"


def test_a_large_image_is_downscaled_to_the_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    rnd = random.Random(7)
    noisy = PIL.frombytes("RGB", (900, 600), rnd.randbytes(900 * 600 * 3))
    big = encoded(noisy, "PNG")
    monkeypatch.setattr(attach_module.attach_limits, "max_image_side", 400)
    monkeypatch.setattr(attach_module.attach_limits, "max_image_bytes", 200_000)
    a = prepare(big)[0]
    assert len(big) > 200_000 >= len(a.data) and max(a.width or 0, a.height or 0) <= 400
    assert PIL.open(io.BytesIO(a.data)).size == (a.width, a.height) and a.note == "downscaled from 900x600"
    assert (a.width or 0) * 600 // 900 in (a.height or 0, (a.height or 0) - 1, (a.height or 0) + 1)


def test_without_pillow_an_image_over_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attach_module, "_pil", lambda: None)
    monkeypatch.setattr(attach_module.attach_limits, "max_image_bytes", 200)
    assert prepare(png((2, 2)))[0].width == 2  # small enough: sent as it is, its size read from the PNG header
    with pytest.raises(InvalidValueError) as err:
        prepare(png((64, 64), (1, 2, 3)) + b"\0" * 300)
    assert "bytes is 0.4 kB, over the 0.2 kB limit" in str(err.value)
    assert "pip install 'jupyter-providers[images]'" in str(err.value) and "\n" not in str(err.value)


def test_a_dataframe_is_cut_to_the_table_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd
    import polars as pl

    monkeypatch.setattr(attach_module.attach_limits, "max_table_chars", 300)
    text = prepare(pd.DataFrame({"x": range(10_000), "y": ["word " * 20] * 10_000}))[0].text
    assert text.startswith("DataFrame df: 10,000 rows x 2 columns") and text.endswith("(cut at 300 characters)")
    polar = prepare(pl.DataFrame({"a": [1, 2], "b": ["u", "v"]}))[0].text
    assert polar.startswith("DataFrame df: 2 rows x 2 columns\ndtypes: a: Int64, b: String")


def test_a_model_known_to_read_text_only_is_refused_before_sending(store: ProviderStore) -> None:
    with FakeServer("openai", models=["m"]) as srv:
        store.add("P", type="openai", base_url=srv.base_url, api_key="", models=["m"])
        store.set_capabilities("P", "m", images=False)
        with pytest.raises(InvalidValueError) as err:
            chat("hi", provider="P", store=store, attach=png())
        assert "'m' reads text only" in str(err.value) and not srv.requests
        chat("hi", provider="P", store=store, attach=__import__("pandas").DataFrame({"a": [1]}))  # text is fine
        assert len(srv.requests) == 1


def test_capabilities_are_kept_in_the_providers_file() -> None:
    from jupyter_providers._records import Model, Provider
    from jupyter_providers._schema import from_entry, to_entry

    p = Provider("P", "openai", models=(Model("m", capabilities={"images": False}), Model("n")))
    back = from_entry(json.loads(json.dumps(to_entry(p))), "")
    assert back.models[0].takes("images") is False and back.models[1].takes("images") is None
    assert back.models == p.models


# -- hostile or broken images: pixels bounded before decoding, one line for a damaged file ------------------------
def huge_png(w: int = 13_000, h: int = 13_000) -> bytes:
    """A 1-bit PNG claiming ``w`` x ``h`` pixels in a few kB, made by hand (Pillow would decode nothing to make it)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    z, row = zlib.compressobj(9), b"\0" * (1 + (w + 7) // 8)  # filter byte, then the row's bits
    pixels = b"".join(z.compress(row) for _ in range(h)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)  # 1 bit, grey
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def claiming(fmt: str, w: int, h: int) -> bytes:
    """A small JPEG or (VP8X) WebP whose header claims ``w`` x ``h`` pixels."""
    data = bytearray(encoded(PIL.new("RGBA" if fmt == "WEBP" else "RGB", (8, 8)), fmt))
    if fmt == "JPEG":
        i = data.index(b"\xff\xc0")
        data[i + 5 : i + 9] = struct.pack(">HH", h, w)
    else:
        assert data[12:16] == b"VP8X"
        data[24:30] = (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
    return bytes(data)


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The size of every image loaded during the test (a file's decoding ends with ``Image.load``)."""
    seen: list[tuple[int, int]] = []
    load = PIL.Image.load
    monkeypatch.setattr(PIL.Image, "load", lambda self: seen.append(self.size) or load(self))
    return seen


def refused(obj: Any, *says: str) -> None:
    with pytest.raises(InvalidValueError) as err:
        prepare(obj)
    text = str(err.value)
    assert text.startswith("attach: ") and "\n" not in text and all(s in text for s in says), text


def test_a_huge_image_in_a_small_file_is_refused_before_decoding(
    monkeypatch: pytest.MonkeyPatch, loads: list[tuple[int, int]], tmp_path: Path
) -> None:
    monkeypatch.setattr(PIL, "MAX_IMAGE_PIXELS", None)  # Pillow's own bound off, as some notebooks do
    data, jpeg, webp = huge_png(), claiming("JPEG", 60_000, 50_000), claiming("WEBP", 16_000, 16_000)
    assert len(data) < 100_000 and sniff(data) == "image/png"
    loads.clear()
    (tmp_path / "bomb.png").write_bytes(data)
    says = "13,000x13,000 pixels, over the 50,000,000-pixel limit; downscale it first or raise jupyter_providers."
    for obj in (data, tmp_path / "bomb.png"):
        refused(obj, says + "attach_limits.max_image_pixels")
    refused(jpeg, "bytes is 60,000x50,000 pixels, over the 50,000,000-pixel limit")
    refused(webp, "bytes is 16,000x16,000 pixels, over the 50,000,000-pixel limit")
    with monkeypatch.context() as m:
        m.setattr(attach_module, "_probe", lambda mime, data: (None, None, False))
        refused(data, says)  # Pillow's reading of the header, which does not decode either
    monkeypatch.setattr(attach_module, "_pil", lambda: None)
    refused(data, says)  # without Pillow
    assert loads == []  # nothing decoded: no 169-megapixel buffer was ever allocated


def test_the_pixel_limit_can_be_raised_and_pillows_own_limit_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attach_module.attach_limits, "max_image_pixels", 1000)
    refused(png((40, 30)), "40x30 pixels, over the 1,000-pixel limit")
    refused(PIL.new("RGB", (40, 30)), "image is 40x30 pixels")  # a PIL image: refused before it is encoded
    monkeypatch.setattr(attach_module.attach_limits, "max_image_pixels", 10_000)
    assert prepare(png((40, 30)))[0].width == 40
    monkeypatch.setattr(PIL, "MAX_IMAGE_PIXELS", 500)  # Pillow's limit lower than ours: its error, in one line
    refused(png((40, 30)), "over Pillow's 500-pixel limit", "raise PIL.Image.MAX_IMAGE_PIXELS")  # 1,200 > 2 x 500
    monkeypatch.setattr(PIL, "MAX_IMAGE_PIXELS", 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PIL.DecompressionBombWarning)  # a warning made an error, as `-W error` does
        refused(png((40, 30)), "over Pillow's 1,000-pixel limit")


def _noise(size: tuple[int, int], mode: str = "RGB") -> Any:
    return PIL.frombytes(mode, size, random.Random(3).randbytes(size[0] * size[1] * len(mode)))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WebP"])
@pytest.mark.parametrize("big", [False, True])
def test_a_truncated_image_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch, fmt: str, big: bool) -> None:
    monkeypatch.setattr(attach_module.attach_limits, "max_image_side", 32 if big else 2048)  # big: downscaled
    whole = encoded(_noise((120, 80)), fmt.upper())
    for data in (whole[: len(whole) // 2], whole[:40], whole[:16] + b"\0" * 200):
        refused(data, f"bytes is not a readable {fmt} (truncated or damaged: ")


@pytest.mark.parametrize("kind", ["JPEG", "1", "P", "LA", "I;16"])
def test_a_big_image_is_decoded_once_small_keeping_its_tones(
    monkeypatch: pytest.MonkeyPatch, loads: list[tuple[int, int]], kind: str
) -> None:
    monkeypatch.setattr(attach_module.attach_limits, "max_image_side", 300)
    grey = PIL.linear_gradient("L").resize((2400, 1600))
    wide = grey.convert("I").point(lambda v: v * 256).convert("I;16")  # 16-bit grey, 0 to 65,280
    img = wide if kind == "I;16" else grey.convert(kind.replace("JPEG", "RGB"))
    big = encoded(img, "JPEG" if kind == "JPEG" else "PNG")
    loads.clear()
    a = prepare(big)[0]
    low, high = PIL.open(io.BytesIO(a.data)).convert("L").getextrema()  # 16 bits scaled, not clipped at 255
    assert (a.width, a.height) == (300, 200) and a.note == "downscaled from 2400x1600" and high - low > 200
    assert kind != "JPEG" or max(max(size) for size in loads) <= 600  # draft(): the decoder scaled it, at 1/4 or 1/8


def test_downscaling_encodes_a_bounded_number_of_times(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []
    encode = attach_module._encode
    monkeypatch.setattr(attach_module, "_encode", lambda img, *args: calls.append(img.size) or encode(img, *args))
    monkeypatch.setattr(attach_module.attach_limits, "max_image_bytes", 30_000)
    noisy = encoded(_noise((800, 600), "RGBA"), "PNG")  # noise with alpha: PNG only, 4 bytes a pixel
    a = prepare(noisy)[0]
    assert len(a.data) <= 30_000 and a.mime == "image/png" and 2 <= len(calls) <= attach_module.MAX_ENCODES
    assert calls[0] == (800, 600) and a.note == "downscaled from 800x600"
    calls.clear()
    monkeypatch.setattr(attach_module.attach_limits, "max_image_bytes", 100)  # cannot fit
    refused(noisy, "does not fit 0.1 kB even downscaled")
    assert 1 <= len(calls) <= attach_module.MAX_ENCODES


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_an_animated_image_sends_its_first_frame(monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    frames = [PIL.new("RGB", (40, 30), c) for c in ((250, 0, 0), (0, 250, 0), (0, 0, 250))]
    data = encoded(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, lossless=True)
    assert PIL.open(io.BytesIO(data)).n_frames == 3 and attach_module._probe(sniff(data) or "", data)[2]
    sent = PIL.open(io.BytesIO((a := prepare(data)[0]).data))
    assert a.mime == f"image/{fmt.lower()}" and getattr(sent, "n_frames", 1) == 1 and sent.size == (40, 30)
    assert sent.convert("RGB").getpixel((5, 5)) == (250, 0, 0) and a.note == "re-encoded, first of 3 frames"
    monkeypatch.setattr(attach_module, "_pil", lambda: None)
    refused(data, "bytes is animated; install Pillow to send its first frame")


def test_image_sizes_are_read_from_headers_without_pillow(monkeypatch: pytest.MonkeyPatch) -> None:
    rgb, exif = (rgba := _noise((37, 23), "RGBA")).convert("RGB"), PIL.Exif().tobytes()
    jpegs = [encoded(rgb, "JPEG", progressive=p, exif=exif) for p in (False, True)]
    webps = [encoded(rgb, "WEBP"), encoded(rgba, "WEBP"), encoded(rgba, "WEBP", lossless=True)]
    assert [w[12:16] for w in webps] == [b"VP8 ", b"VP8X", b"VP8L"]
    monkeypatch.setattr(attach_module, "_pil", lambda: None)
    for data in (encoded(rgba, "PNG"), encoded(rgba.convert("L"), "JPEG"), *jpegs, *webps):
        assert (prepare(data)[0].width, prepare(data)[0].height) == (37, 23), data[:16]
    assert attach_module._probe("image/jpeg", b"\xff\xd8\xff") == (None, None, False)
