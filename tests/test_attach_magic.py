"""``%%chat --attach fig,plot.png,df``: names from the notebook or files, the request as each type sends it, and
the thumbnails of exactly the bytes sent (through _render.py); refusals are one line and send nothing."""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from jupyter_providers import ProviderStore
from jupyter_providers._attach import Attachment
from jupyter_providers._render import attachments_html
from jupyter_providers.conversation import reset_conversations
from jupyter_providers.magics import ChatMagics

from .fakes import FakeServer

PIL = pytest.importorskip("PIL.Image")
IMG_RE = re.compile(r'<img src="data:(image/[a-z]+);base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    return InteractiveShell.instance()


@pytest.fixture
def fake(shell: InteractiveShell, store: ProviderStore) -> Iterator[FakeServer]:
    shell.register_magics(ChatMagics(shell, store=store))
    reset_conversations()
    with FakeServer("openai", models=["m"]) as srv:
        store.add("P", type="openai", base_url=srv.base_url, api_key="", models=["m"])
        yield srv
    reset_conversations()


def _png(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    PIL.new("RGB", (20, 20), color).save(buf, "PNG")
    return buf.getvalue()


def test_attach_sends_figure_file_and_frame_and_shows_what_was_sent(
    shell: InteractiveShell, fake: FakeServer, tmp_path: Path
) -> None:
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.bar(["a", "b"], [3, 5])
    (tmp_path / "plot.png").write_bytes(_png((0, 0, 255)))
    shell.user_ns.update(fig=fig, df=pd.DataFrame({"n": [1, 2, 3]}))
    with capture_output() as cap:
        shell.run_cell_magic("chat", f"-p P --attach fig,{tmp_path / 'plot.png'},df", "What do you see?")
    plt.close(fig)
    assert cap.stderr == ""
    content = (fake.requests[-1].body or {})["messages"][-1]["content"]
    assert content[0]["type"] == "text" and content[0]["text"].startswith("What do you see?\n\nDataFrame df: 3 rows")
    sent = [part["image_url"]["url"] for part in content[1:]]
    outputs = [out.data for out in cap.outputs if "jp-providers-attachments" in out.data.get("text/html", "")]
    shown = [data["text/html"] for data in outputs]
    assert len(shown) == 1
    thumbs = [f"data:{mime};base64,{data}" for mime, data in IMG_RE.findall(shown[0])]
    assert thumbs == sent and len(sent) == 2  # the thumbnails are the very bytes sent
    assert base64.b64decode(sent[1].split(",")[1]) == _png((0, 0, 255))
    assert "df: table" in shown[0] and "fig: PNG" in shown[0]
    assert outputs[0]["text/plain"].startswith("sent: fig: PNG ")


@pytest.mark.parametrize(
    ("option", "says"),
    [
        ("--attach nope", "--attach: nope is neither a notebook variable nor a file"),
        ("--attach count", "attach: cannot attach 'int' objects; give a matplotlib figure"),
        ("--attach notes", "attach: cannot read notes ('not a path') (No such file or directory)"),
        ("--attach ,", "--attach: give one or more variables or file paths"),
    ],
)
def test_a_bad_attach_is_one_line_and_sends_nothing(
    shell: InteractiveShell, fake: FakeServer, option: str, says: str
) -> None:
    shell.user_ns.update(count=12, notes="not a path")
    with capture_output() as cap:
        shell.run_cell_magic("chat", f"-p P {option}", "Look.")
    assert cap.stderr.startswith(says), cap.stderr
    assert cap.stderr.count("\n") == 1 and not fake.requests and not cap.outputs


def test_a_text_only_model_is_refused_in_the_cell(
    shell: InteractiveShell, fake: FakeServer, store: ProviderStore
) -> None:
    store.set_capabilities("P", "m", images=False)
    shell.user_ns["pic"] = _png((1, 2, 3))
    with capture_output() as cap:
        shell.run_cell_magic("chat", "-p P --attach pic", "Look.")
    assert cap.stderr == (
        "P: attach: 'm' reads text only and cannot take an image - pick a model that takes images "
        "(a DataFrame is sent as text and works with any model)\n"
    )
    assert not fake.requests and not cap.outputs


def test_thumbnails_escape_names_and_show_only_real_image_bytes() -> None:
    png = _png((9, 9, 9))
    out = attachments_html([Attachment('"><script>alert(1)</script>', "image/png", png)])
    assert "<script>" not in out and html.escape('"><script>', quote=True) in out
    assert len(IMG_RE.findall(out)) == 1
    lying = attachments_html([Attachment("x", "image/png", b"<svg onload=alert(1)>")])  # not PNG bytes
    assert "<img" not in lying and "onload" not in lying.replace("&lt;", "")
