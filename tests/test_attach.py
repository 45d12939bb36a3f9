"""``chat(attach=...)``: each attachment kind as each provider type sends it (request bodies recorded by the fakes),
tables appended as text, limits and downscaling, refusals before anything is sent, and conversations."""

from __future__ import annotations

import base64
import io
import json
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


def encoded(img: Any, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt)
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
    import random

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
