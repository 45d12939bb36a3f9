"""The chat widget's ``send(text, attach=...)``: the question's bubble shows thumbnails of exactly the bytes sent;
a refused attachment is the status line, with no bubble and no request."""

from __future__ import annotations

import datetime
import io
import re
from collections.abc import Iterator

import pytest

from jupyter_providers import ProviderStore
from jupyter_providers.widgets import ChatWidget
from tests.fakes import FakeServer

from . import text

PIL = pytest.importorskip("PIL.Image")
NOW = datetime.datetime(2026, 12, 6, tzinfo=datetime.UTC)
IMG_RE = re.compile(r'<img src="(data:image/[a-z]+;base64,[A-Za-z0-9+/=]+)"')


@pytest.fixture
def served(store: ProviderStore) -> Iterator[tuple[ChatWidget, FakeServer]]:
    with FakeServer("openai", models=["model-a"], reply="A red square.") as srv:
        store.add("Fake", base_url=srv.base_url, api_key="", models=srv.models)
        c = ChatWidget(store=store)
        yield c, srv
        c.stop()
        assert c.wait(30)
        c.close()


def _png() -> bytes:
    buf = io.BytesIO()
    PIL.new("RGB", (24, 24), (255, 0, 0)).save(buf, "PNG")
    return buf.getvalue()


def test_the_bubble_shows_the_image_sent(served: tuple[ChatWidget, FakeServer]) -> None:
    import pandas as pd

    chat, srv = served
    assert chat.send("What is this?", attach=[_png(), pd.DataFrame({"x": [1]})])
    assert chat.wait(30)
    content = (srv.requests[-1].body or {})["messages"][-1]["content"]
    sent = [p["image_url"]["url"] for p in content if p["type"] == "image_url"]
    user = chat.bubbles[0].value
    assert IMG_RE.findall(user) == sent and len(sent) == 1
    assert "df: table" in text(user) and "What is this?" in text(user)
    assert "A red square." in text(chat.bubbles[1].value)
    chat.send("And the colour?")  # the image goes again with the history; the new bubble has none
    assert chat.wait(30)
    assert sent[0] in str(srv.requests[-1].body) and "<img" not in chat.bubbles[2].value


def test_a_refused_attachment_is_the_status_and_sends_nothing(
    served: tuple[ChatWidget, FakeServer], store: ProviderStore
) -> None:
    chat, srv = served
    assert not chat.send("Look", attach=b"GIF89a....")
    assert text(chat.status.value).startswith("attach: bytes is not a PNG, JPEG or WebP image")
    store.set_capabilities("Fake", "model-a", images=False)
    chat.send("Look", attach=_png())
    assert chat.wait(30)
    assert "'model-a' reads text only" in text(chat.status.value)
    assert chat.bubbles == [] and srv.requests == [] and chat.input.value == "Look"


def _picked(name: str, data: bytes) -> dict[str, object]:
    """One file as the browser's file dialog gives it to ipywidgets' FileUpload."""
    return {"name": name, "type": "image/png", "size": len(data), "content": memoryview(data), "last_modified": NOW}


def test_images_picked_with_attach_go_with_the_next_question_then_leave_the_widget(
    served: tuple[ChatWidget, FakeServer],
) -> None:
    chat, srv = served
    png = _png()
    chat.upload.value = (_picked("red <b>square</b>.png", png),)
    assert chat.send("What is this?")
    assert chat.wait(30)
    content = (srv.requests[-1].body or {})["messages"][-1]["content"]
    sent = [p["image_url"]["url"] for p in content if p["type"] == "image_url"]
    assert len(sent) == 1 and IMG_RE.findall(chat.bubbles[0].value) == sent
    assert "red <b>square</b>.png" in text(chat.bubbles[0].value) and "<b>square" not in chat.bubbles[0].value
    assert chat.upload.value == ()  # the bytes do not stay in the widget state a notebook saves
    chat.send("And now?")
    assert chat.wait(30) and "<img" not in chat.bubbles[2].value  # picked once, sent once


def test_a_picked_file_that_is_no_image_is_refused_and_stays_picked(served: tuple[ChatWidget, FakeServer]) -> None:
    chat, srv = served
    chat.upload.value = (_picked("notes.png", b"just some text, not a PNG"),)
    assert not chat.send("Look")
    assert text(chat.status.value).startswith("attach: notes.png is not a PNG, JPEG or WebP image")
    assert srv.requests == [] and len(chat.upload.value) == 1 and chat.bubbles == []
