"""The chat widget: stream, stop, errors, coalesced updates, safe rendering, live provider lists."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_providers import ProviderStore
from jupyter_providers._throttle import Throttle
from jupyter_providers.widgets import ChatWidget
from jupyter_providers.widgets import chat as chat_module
from jupyter_providers.widgets._live import LiveText
from tests.fakes import FakeServer

from . import text, wait_until

KEY = "sk-fake-chat-5be0f2d1"
Records = list[tuple[Any, str, str]]  # the conftest's `records`: each turn a reply recorded


@pytest.fixture
def srv() -> Iterator[FakeServer]:
    with FakeServer("openai", api_key=KEY, models=["model-a", "model-b"], reply="Hello **there**, friend!") as s:
        yield s


@pytest.fixture
def fake_store(store: ProviderStore, srv: FakeServer) -> ProviderStore:
    store.add("Fake", base_url=srv.base_url, api_key=KEY, models=srv.models)
    return store


@pytest.fixture
def chat(fake_store: ProviderStore) -> Iterator[ChatWidget]:
    c = ChatWidget(store=fake_store)
    yield c
    c.stop()
    assert c.wait(30)
    c.close()


def roles(chat: ChatWidget) -> list[str]:
    return ["user" if "jp-providers-user" in b._dom_classes else "assistant" for b in chat.bubbles]


def idle(chat: ChatWidget) -> bool:
    return not chat.send_button.disabled and chat.stop_button.disabled and not chat.provider.disabled


# -- the real local model -----------------------------------------------------------------------
def test_chat_with_the_local_model(local_store: ProviderStore) -> None:
    chat = ChatWidget(provider="vLLM", store=local_store, max_tokens=24, temperature=0)
    try:
        assert (chat.provider.value, chat.model.value) == ("vLLM", "smollm2")
        chat.input.value = "Say hello in one short sentence."
        chat.send_button.click()
        assert chat.send_button.disabled and not chat.stop_button.disabled  # streaming
        assert chat.wait(120)
        assert idle(chat)
        reply = chat.last_reply
        assert reply is not None and reply.done and reply.text.strip() and reply.error is None
        assert roles(chat) == ["user", "assistant"]
        assert reply.text.strip()[:10] in text(chat.bubbles[1].value)
        assert "Say hello in one short sentence." in text(chat.bubbles[0].value)
        status = text(chat.status.value)
        # llama.cpp's server reports no token usage in a stream (the fake servers do: see the next test)
        assert re.search(r"^smollm2 · first token [\d.]+ m?s · total [\d.]+ m?s · token usage not reported", status), (
            status
        )
        assert chat.input.value == ""
        assert chat.messages == [
            {"role": "user", "content": "Say hello in one short sentence."},
            {"role": "assistant", "content": reply.text},
        ]
        assert chat.conversation is not None and chat.conversation.turns[-1].status == "done"
    finally:
        chat.close()


# -- streaming, stopping, errors ----------------------------------------------------------------
def test_send_streams_into_the_last_bubble(chat: ChatWidget, srv: FakeServer, records: Records) -> None:
    assert chat.send("Hi there")
    assert chat.wait(30)
    assert chat.conversation is not None
    assert records == [(chat.conversation.turns[-1], "done", "Hello **there**, friend!")]  # by the reply, once
    assert roles(chat) == ["user", "assistant"]
    assert "<strong>there</strong>" in chat.bubbles[1].value and "model-a" in text(chat.bubbles[1].value)
    status = text(chat.status.value)
    assert re.search(r"^model-a · first token [\d.]+ m?s · total [\d.]+ m?s · 2 in / 3 out tokens$", status), status
    assert "jp-providers-pending" not in chat.bubbles[1]._dom_classes
    assert chat.messages[-1] == {"role": "assistant", "content": "Hello **there**, friend!"}
    # the history goes with the next question
    chat.send("And again?")
    assert chat.wait(30)
    sent = srv.requests[-1].body
    assert sent is not None and [m["content"] for m in sent["messages"]] == [
        "Hi there",
        "Hello **there**, friend!",
        "And again?",
    ]
    assert len(chat.messages) == 4 and len(chat.bubbles) == 4 and len(records) == 2


def test_options_system_prompt_temperature_max_tokens(chat: ChatWidget, srv: FakeServer) -> None:
    chat.system.value = "Answer in French."
    chat.default_temperature.value = False
    assert not chat.temperature.disabled
    chat.temperature.value = 0.3
    chat.max_tokens.value = 50
    chat.send("Hi")
    assert chat.wait(30)
    body = srv.requests[-1].body
    assert body is not None
    assert body["messages"][0] == {"role": "system", "content": "Answer in French."}
    assert body["temperature"] == pytest.approx(0.3)
    assert body.get("max_completion_tokens", body.get("max_tokens")) == 50
    assert chat.messages[0] == {"role": "system", "content": "Answer in French."}
    chat.default_temperature.value = True
    chat.max_tokens.value = 0
    chat.send("Again")
    assert chat.wait(30)
    body = srv.requests[-1].body
    assert body is not None and "temperature" not in body and "max_tokens" not in body


def test_stop_keeps_the_partial_reply(chat: ChatWidget, srv: FakeServer, records: Records) -> None:
    srv.reply = "one two three four five six seven eight nine ten"
    srv.fault = "stall"  # two words, then silence
    srv.stall_seconds = 20
    started = time.monotonic()
    chat.send("Count")
    wait_until(lambda: chat.last_reply is not None and chat.last_reply.text_so_far == "one two ")
    assert not chat.stop_button.disabled
    chat.stop_button.click()
    assert chat.wait(10)
    assert time.monotonic() - started < 10  # did not wait for the stall
    reply = chat.last_reply
    assert reply is not None and reply.cancelled and reply.text == "one two "
    bubble = text(chat.bubbles[-1].value)
    assert "one two" in bubble and "(stopped)" in bubble
    assert "stopped" in text(chat.status.value)
    assert chat.conversation is not None and chat.conversation.turns[-1].status == "stopped"
    # Stop ran in this thread while the widget's thread read the stream: one record, as the reply ended
    assert records == [(chat.conversation.turns[-1], "stopped", "one two ")]
    assert chat.conversation.turns[-1].latency_s == reply.latency_s
    assert chat.messages[-1] == {"role": "assistant", "content": "one two "}
    assert idle(chat)


def test_stop_before_the_server_answers(chat: ChatWidget, srv: FakeServer, records: Records) -> None:
    srv.delay = 1.0
    chat.send("Hi")
    chat.stop()
    assert "stopping as soon as the server answers" in text(chat.status.value)
    assert chat.wait(10)
    reply = chat.last_reply
    assert reply is not None and reply.cancelled and reply.text == ""
    assert "(stopped)" in text(chat.bubbles[-1].value) and "stopped" in text(chat.status.value)
    assert chat.conversation is not None and records == [(chat.conversation.turns[-1], "stopped", "")]
    assert chat.messages == [] and idle(chat)  # nothing came back: not history


def test_error_before_streaming_keeps_the_input(chat: ChatWidget, fake_store: ProviderStore, srv: FakeServer) -> None:
    srv.fault = "auth"
    chat.input.value = "My carefully typed question"
    chat.send_button.click()
    assert chat.wait(30)
    status = text(chat.status.value)
    assert "Fake: the server rejected the key (401" in status and "\n" not in status
    assert "jp-providers-error" in chat.status.value
    assert chat.input.value == "My carefully typed question"  # nothing typed is lost
    assert chat.bubbles == [] and chat.messages == []
    assert idle(chat)
    srv.fault = None  # the widget stays usable
    chat.send_button.click()
    assert chat.wait(30)
    assert roles(chat) == ["user", "assistant"] and chat.input.value == ""
    assert chat.messages[0]["content"] == "My carefully typed question"


@pytest.mark.parametrize("fault", ["midstream_error", "cut_stream"])
def test_error_mid_stream_keeps_the_partial_reply(
    chat: ChatWidget, srv: FakeServer, records: Records, fault: str
) -> None:
    srv.reply = "alpha beta gamma delta"
    srv.fault = fault
    chat.send("Go")
    assert chat.wait(30)
    bubble = text(chat.bubbles[-1].value)
    reply = chat.last_reply
    assert reply is not None and reply.error is not None
    assert bubble.startswith("model-a") and "alpha beta" in bubble and str(reply.error) in bubble
    assert "jp-providers-error" in chat.bubbles[-1].value
    assert "jp-providers-error" in chat.status.value and text(chat.status.value).startswith(str(reply.error))
    assert chat.conversation is not None and chat.conversation.turns[-1].status == "error"
    assert records == [(chat.conversation.turns[-1], "error", "alpha beta ")]
    assert chat.conversation.turns[-1].error == str(reply.error)
    assert chat.messages[-1] == {"role": "assistant", "content": "alpha beta "}
    assert idle(chat)


def test_nothing_to_send_and_no_provider(store: ProviderStore) -> None:
    chat = ChatWidget(store=store)
    try:
        assert chat.provider.options == () and "no enabled provider" in text(chat.status.value)
        assert not chat.send("hello")
        assert "no enabled provider" in text(chat.status.value) and chat.input.value == "hello"
        store.add("Empty", base_url="http://127.0.0.1:9/")
        assert chat.provider.value == "Empty" and "no enabled provider" not in text(chat.status.value)
        assert not chat.send()
        assert "Empty has no model" in text(chat.status.value)
        store.add_models("Empty", "m")
        chat.input.value = "   "
        assert not chat.send()
        assert "write something to send" in text(chat.status.value) and chat.bubbles == []
    finally:
        chat.close()


def test_disabled_while_the_request_is_pending(chat: ChatWidget, fake_store: ProviderStore, srv: FakeServer) -> None:
    srv.delay = 0.5
    chat.send("Hi")
    assert chat.streaming and chat.provider.disabled and chat.new_chat.disabled
    assert not chat.send("Another one")
    assert "still coming" in text(chat.status.value)
    assert chat.wait(30)
    assert idle(chat) and len(chat.bubbles) == 2


# -- coalescing and rendering -------------------------------------------------------------------
def test_streaming_updates_are_coalesced(chat: ChatWidget, srv: FakeServer) -> None:
    words = [f"w{i}" for i in range(3000)]
    srv.reply = " ".join(words)
    srv.delay = 0.3  # time to watch the bubble before the first piece
    chat.send("Long one please")
    bubble = chat.bubbles[-1]
    values: list[str] = []
    bubble.observe(lambda change: values.append(change["new"]), names="value")
    assert chat.wait(60)
    reply = chat.last_reply
    assert reply is not None and reply.text == srv.reply
    assert values and "w2999" in values[-1] and "w1500" in values[-1]
    assert len(values) <= 3000 // 50, len(values)  # a few per second, not one per piece


def test_model_output_is_inert(chat: ChatWidget, srv: FakeServer) -> None:
    srv.reply = (
        "<img src=x onerror=alert(1)> <script>alert(1)</script> [x](javascript:alert(1)) "
        "[y](JaVaScRiPt:alert(2)) <a href='javascript:alert(3)'>z</a> ![t](http://evil.example/leak?q=1)\n\n"
        "**bold** and *it*\n\n- one\n- two\n\n```python\nprint('<b>hi</b>')\n```\n"
    )
    chat.send("<script>alert('from me')</script>")
    assert chat.wait(30)
    user, bot = (b.value.lower() for b in chat.bubbles)
    for html in (user, bot):
        assert "<img" not in html and "<script" not in html
        assert not re.search(r"<a\s[^>]*href\s*=\s*[\"']?\s*javascript:", html)  # as a real tag
        assert not re.search(r"<[a-z][^>]*\son[a-z]+\s*=", html)  # no tag with an event handler
    assert "&lt;img src=x onerror=alert(1)&gt;" in bot and "&lt;script&gt;alert(1)&lt;/script&gt;" in bot
    assert "<strong>bold</strong>" in bot and "<em>it</em>" in bot and "<li>one</li>" in bot
    assert '<pre class="jp-providers-code"' in bot and "overflow-x:auto" in bot
    assert "print(&#x27;&lt;b&gt;hi&lt;/b&gt;&#x27;)" in bot or "print('&lt;b&gt;hi&lt;/b&gt;')" in bot
    assert "&lt;script&gt;alert(" in user


# -- providers, models, conversations -----------------------------------------------------------
def test_pickers_follow_the_store(chat: ChatWidget, fake_store: ProviderStore) -> None:
    assert chat.provider.options == ("Fake",) and chat.model.options == (("model-a", "model-a"), ("model-b", "model-b"))
    fake_store.add("Other", base_url="http://127.0.0.1:9/", models=["o1"], enabled=False)
    assert chat.provider.options == ("Fake",)  # enabled providers only
    fake_store.update("Other", enabled=True)
    assert chat.provider.options == ("Fake", "Other") and chat.provider.value == "Fake"
    fake_store.update_model("Fake", "model-b", display_name="Model B")
    assert ("Model B", "model-b") in chat.model.options
    chat.model.value = "model-b"
    fake_store.add_models("Fake", "model-c")
    assert chat.model.value == "model-b"  # a store change keeps the choice
    fake_store.update("Fake", enabled=False)
    assert chat.provider.options == ("Other",) and chat.provider.value == "Other" and chat.model.value == "o1"
    assert chat.conversation is not None and (chat.conversation.provider, chat.conversation.model) == ("Other", "o1")


def test_switching_model_starts_a_new_conversation_with_the_history(chat: ChatWidget, srv: FakeServer) -> None:
    chat.send("First")
    assert chat.wait(30)
    first = chat.conversation
    chat.model.value = "model-b"
    assert chat.conversation is not first and chat.conversation is not None
    assert chat.conversation.model == "model-b" and len(chat.messages) == 2
    assert "now talking to Fake / model-b" in text(chat.history.children[-1].value)
    chat.send("Second")
    assert chat.wait(30)
    body = srv.requests[-1].body
    assert body is not None and body["model"] == "model-b" and len(body["messages"]) == 3
    chat.new_chat.click()
    assert chat.messages == [] and chat.bubbles == [] and chat.history.children == ()
    assert chat.last_reply is None and chat.conversation.model == "model-b"


def test_constructor_choices(fake_store: ProviderStore) -> None:
    fake_store.add("Other", base_url="http://127.0.0.1:9/", models=["o1", "o2"])
    chat = ChatWidget(provider="Other", model="o2", store=fake_store, system="Be brief.", temperature=1.2)
    try:
        assert (chat.provider.value, chat.model.value) == ("Other", "o2")
        assert chat.system.value == "Be brief." and chat.temperature.value == pytest.approx(1.2)
        assert not chat.default_temperature.value
        custom = ChatWidget(provider="Other", model="not-listed", store=fake_store)
        assert custom.model.value == "not-listed"  # a model id the list lacks can still be used
        custom.close()
    finally:
        chat.close()


def test_lazy_entry_points(fake_store: ProviderStore) -> None:
    import jupyter_providers as jp

    widgets: list[Any] = [jp.panel(store=fake_store), jp.chat_widget(store=fake_store, provider="Fake")]
    assert type(widgets[0]).__name__ == "ProvidersPanel" and widgets[1].provider.value == "Fake"
    for w in widgets:
        w.close()


def test_a_long_streaming_reply_sends_each_piece_once(
    chat: ChatWidget, srv: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        chat_module, "Throttle", lambda flush, **kw: Throttle(flush, interval=0.0, **kw)
    )  # every piece shows
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(LiveText, "send", lambda self, content, buffers=None: sent.append(content))
    srv.reply = " ".join(f"word{i}" for i in range(4000))  # 35 kB: re-sending it at each update is quadratic
    chat.send("Long one please")
    bubble = chat.bubbles[-1]
    values: list[str] = []
    bubble.observe(lambda change: values.append(change["new"]), names="value")
    assert chat.wait(60)
    # while it streamed, the front end got each new piece once, at the offset where it goes
    assert len(sent) > 1000 and "".join(m["append"] for m in sent) == srv.reply
    assert all(m["offset"] == len("".join(x["append"] for x in sent[:i])) for i, m in enumerate(sent[:50]))
    # the bubble itself changed once: the whole reply, rendered, when it ended
    assert len(values) == 1 and "word0 " in text(values[0]) and "word3999" in text(values[0])
    row = next(r for r in chat.history.children if bubble in r.children)
    assert row.children == (bubble,)  # the live text is gone, closed


def test_live_text_sends_only_what_is_new_and_resyncs_a_late_view(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(LiveText, "send", lambda self, content, buffers=None: sent.append(content))
    live = LiveText()
    live.extend("Hello")
    live.extend("Hello")  # nothing new: nothing sent
    live.extend("Hello, <b>world</b>")
    assert sent == [{"offset": 0, "append": "Hello"}, {"offset": 5, "append": ", <b>world</b>"}]
    live._on_front_end(live, {"resync": 3}, [])  # a view that has only "Hel"
    live._on_front_end(live, {"resync": 99}, [])  # out of range: nothing to send
    live._on_front_end(live, {"other": 1}, [])
    assert sent[2:] == [{"offset": 3, "append": "lo, <b>world</b>"}]
    live.close()


def test_the_temperature_slider_stops_where_the_provider_does(chat: ChatWidget, fake_store: ProviderStore) -> None:
    assert chat.temperature.max == 2.0
    chat.temperature.value = 1.6
    fake_store.add("Claude", type="anthropic", base_url="http://127.0.0.1:9/", api_key="", models=["c"])
    chat.provider.value = "Claude"
    assert chat.temperature.max == 1.0 and chat.temperature.value == 1.0  # Anthropic takes 0 to 1
    chat.provider.value = "Fake"
    assert chat.temperature.max == 2.0


def test_a_structured_reply_shows_its_value_as_a_table(chat: ChatWidget, srv: FakeServer) -> None:
    """``ChatWidget(schema=S)``: each reply is asked for in S's shape and its value shows under it as a table,
    every cell through the safe path (a value is the model's)."""
    chat.schema = {"type": "object", "properties": {"label": {"type": "string"}, "score": {"type": "integer"}}}
    srv.schema_reply = '{"label": "<img src=x onerror=alert(1)>", "score": 4}'
    assert chat.send("Classify: great.")
    assert chat.wait(10)
    html = chat.bubbles[-1].value
    assert "jp-providers-data" in html and "<td style='text-align:left'>4</td>" in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert chat.last_reply is not None and chat.last_reply.data == {"label": "<img src=x onerror=alert(1)>", "score": 4}
    assert srv.requests[-1].body is not None and srv.requests[-1].body["response_format"]["type"] == "json_schema"


def test_a_reply_that_does_not_match_shows_the_error_and_its_text(chat: ChatWidget, srv: FakeServer) -> None:
    chat.schema = {"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"]}
    srv.schema_reply = '{"score": "many"}'
    assert chat.send("Score it.")
    assert chat.wait(10)
    html = chat.bubbles[-1].value
    assert "jp-providers-data" not in html and "many" in html
    assert "jp-providers-error" in html or "does not match" in text(chat.status.value)
