"""The secrets matrix: a server quoting the key and a custom header value back, in every place it can
(a 200 answer's model field, a 200 error, a 200 of the wrong shape, 4xx, 5xx, mid-stream, response
headers; in chats, streams and model listings), for every type in the registry, in its own answer shapes
(tests/fakes/echo.py), and every place a key could land, checked for any piece of either:

the exception (``str``, ``repr``, ``args``, ``server_message``), its traceback with every frame's
locals (``traceback`` and IPython's Verbose mode), ``%%chat`` output (streamed and not), the
:class:`Verification`, ``%providers`` (the table's HTML and ``verify``), the panel's and the chat
widget's state (every widget alive), a notebook saved with those outputs and widget states, and the
logs at DEBUG. Each test draws its own random key and header value. The last test runs the same
servers from a real kernel (nbclient) and searches the notebook it saves, widget state included.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import traceback
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import nbformat
import pytest
from IPython.core import ultratb
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from ipywidgets.widgets.widget import _instances  # type: ignore[import-untyped]

import jupyter_providers
from jupyter_providers import ProviderError, ProviderStore, chat
from jupyter_providers import client as client_module
from jupyter_providers.adapters import type_names
from jupyter_providers.conversation import reset_conversations
from jupyter_providers.magics import ChatMagics
from jupyter_providers.widgets import ChatWidget, ProvidersPanel

from .fakes.echo import WHERE, EchoServer

TYPES = type_names()
#: where the package's frames start in a formatted traceback (``File "/...`` or ``File /...``): the
#: test's own frames hold the key, of course
PACKAGE = re.compile(r'(?m)^\s*File "?' + re.escape(str(Path(jupyter_providers.__file__).parent) + "/"))
WINDOW = 10  # any run of this many characters of a secret is a hit


def hits(secret: str, text: str) -> list[str]:
    """Pieces of ``secret`` (as sent, URL-encoded, base64) of ``WINDOW`` characters found in ``text``."""
    found = []
    for form in (secret, quote(secret, safe=""), base64.b64encode(secret.encode()).decode()):
        found += [form[i : i + WINDOW] for i in range(len(form) - WINDOW + 1) if form[i : i + WINDOW] in text]
    return found


def package_frames(text: str) -> str:
    first = PACKAGE.search(text)
    return text[first.start() :] if first else ""


def tracebacks(exc: BaseException) -> str:
    plain = "".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format())
    verbose = ultratb.VerboseTB(theme_name="nocolor").text(type(exc), exc, exc.__traceback__)
    assert package_frames(plain) and package_frames(verbose), "the traceback goes through the package"
    return package_frames(plain) + package_frames(verbose)


def error_places(exc: ProviderError) -> str:
    return "\n".join([str(exc), repr(exc), repr(exc.args), str(exc.server_message), exc.message, tracebacks(exc)])


def outputs_text(cap: object) -> str:
    outputs = [o.data for o in cap.outputs]  # type: ignore[attr-defined]
    return cap.stdout + cap.stderr + json.dumps(outputs, default=str)  # type: ignore[attr-defined]


def saved_notebook(outputs: list[dict[str, object]], states: dict[str, object]) -> str:
    """A notebook as a front end saves it: the cells' outputs, and the widget state in its metadata."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("%%chat -p P\nhi")
    cell.outputs = [nbformat.v4.new_output("display_data", data=o) for o in outputs]
    nb.cells.append(cell)
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"version_major": 2, "state": states}}
    return nbformat.writes(nb)


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    return InteractiveShell.instance()


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG):
        yield caplog


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("type_", TYPES)
def test_no_piece_of_a_key_lands_anywhere(
    type_: str,
    where: str,
    store: ProviderStore,
    shell: InteractiveShell,
    debug_log: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(client_module.settings, "max_retries", 0)
    key, token = "sk-" + secrets.token_urlsafe(24), "tok-" + secrets.token_urlsafe(18)
    places: dict[str, str] = {}
    with EchoServer(type_, where, models=["m"]) as srv:
        store.add("P", type=type_, base_url=srv.base_url, api_key=key, headers={"X-Proxy-Token": token}, models=["m"])
        # the Python API, not streamed and streamed
        errors = 0
        for stream in (False, True):
            try:
                reply = chat("hi", provider="P", store=store, stream=stream).wait()
                places[f"reply stream={stream}"] = f"{reply!r} {reply.stats()}"
            except ProviderError as exc:
                errors += 1
                places[f"error stream={stream}"] = error_places(exc)
        assert (errors == 0) == (where == "ok_model"), places.keys()
        # the verdict
        verdict = store.verify("P")
        assert verdict.ok == (where == "ok_model"), verdict
        places["verdict"] = f"{verdict!r} {verdict} {store['P'].last_verification!r}"
        # the model list (Ollama's /api/show too: the listing asks it for context lengths)
        try:
            ids = store.fetch_models("P")
            places["fetched models"] = f"{ids!r} {store['P']!r}"
            assert ("m" in ids) == (where == "ok_model"), ids  # a list of the wrong shape may read as empty
        except ProviderError as exc:
            assert where != "ok_model", exc
            places["fetch error"] = error_places(exc)
        # %%chat, streamed and not, and %providers
        shell.register_magics(ChatMagics(shell, store=store))
        reset_conversations()
        notebook_outputs: list[dict[str, object]] = []
        for options in ("", " --no-stream", " --format text"):
            with capture_output() as cap:
                shell.run_cell(f"%%chat -p P -m m{options}\nhi")
            places[f"%%chat{options}"] = outputs_text(cap)
            notebook_outputs += [o.data for o in cap.outputs]
        for line in ("", "verify P", "verify", "models P --fetch"):
            with capture_output() as cap:
                shell.run_line_magic("providers", line)
            places[f"%providers {line}"] = outputs_text(cap)
            notebook_outputs += [o.data for o in cap.outputs]
        # the panel (verify clicked) and the chat widget (a message sent)
        panel = ProvidersPanel(store=store, selected="P")
        widget = ChatWidget(store=store, provider="P", model="m")
        try:
            panel.detail.verify()
            assert panel.wait(20)
            widget.send("hi")
            assert widget.wait(20)
            states = {m: x.get_state() for m, x in list(_instances.items())}
            places["widget state"] = json.dumps(states, default=str)
            places["saved notebook"] = saved_notebook(notebook_outputs, states)
        finally:
            panel.close()
            widget.close()
    places["logs"] = debug_log.text + "\n".join(r.getMessage() for r in debug_log.records)
    assert srv.requests and all(r.headers.get("x-proxy-token") == token for r in srv.requests if r.method == "POST")
    leaks = {name: hits(key, text) + hits(token, text) for name, text in places.items()}
    assert {name: found for name, found in leaks.items() if found} == {}
    if where in ("4xx", "5xx", "midstream"):  # the echo reached the message, scrubbed
        assert "***" in places["error stream=False"], places["error stream=False"]


def test_a_notebook_run_in_a_real_kernel_and_saved_holds_no_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same servers, reached from a real kernel (nbclient): ``%%chat`` (streamed and not) for every
    type and place, ``%providers verify``, the panel after Verify and the chat widget after a reply
    or an error; saved with its widget state. The key and the header value reach the kernel through
    its environment, as nobody types a key into a notebook they share."""
    import nbclient

    key, token = "sk-" + secrets.token_urlsafe(24), "tok-" + secrets.token_urlsafe(18)
    monkeypatch.setenv("ECHO_KEY", key)
    monkeypatch.setenv("ECHO_TOKEN", token)
    monkeypatch.setenv("JUPYTER_PROVIDERS_DIR", str(tmp_path / "kernel-config"))
    servers = {(t, w): EchoServer(t, w, models=["m"]).start() for t in TYPES for w in WHERE}
    try:
        adds = "\n".join(
            f"store.add({f'{t}-{w}'!r}, type={t!r}, base_url={s.base_url!r}, api_key_env='ECHO_KEY', "
            "headers={'X-Proxy-Token': os.environ['ECHO_TOKEN']}, models=['m'])"
            for (t, w), s in servers.items()
        )
        sources = [
            "import os\n%load_ext jupyter_providers\nfrom jupyter_providers import get_store, client\n"
            f"client.settings.max_retries = 0\nstore = get_store()\n{adds}",
            *(f"%%chat -p {t}-{w} -m m{opt}\nhi" for t, w in servers for opt in ("", " --no-stream")),
            "%providers verify",
            "import jupyter_providers as jp\npanel = jp.panel(selected='openai-headers')\npanel.detail.verify()\n"
            "panel.wait(20)\npanel",
            "w = jp.chat_widget(provider='anthropic-4xx', model='m')\nw.send('hi')\nw.wait(20)\nw",
            "w2 = jp.chat_widget(provider='gemini-midstream', model='m')\nw2.send('hi')\nw2.wait(20)\nw2",
        ]
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=True)
        client.execute(cwd=str(tmp_path))
    finally:
        for s in servers.values():
            s.stop()
    saved = nbformat.writes(nb)
    assert key not in "\n".join(sources) and token not in "\n".join(sources)
    assert all(r.headers.get("x-proxy-token") == token for s in servers.values() for r in s.requests), "sent"
    assert hits(key, saved) + hits(token, saved) == []
    assert saved.count("***") >= len(TYPES) * 3, "the echoes reached the outputs, scrubbed"
    assert "application/vnd.jupyter.widget-state+json" in saved
