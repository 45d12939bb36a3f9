"""The stream loop of :mod:`jupyter_providers._transport`, on answers made with ``httpx.MockTransport``."""

from __future__ import annotations

import json

import httpx
import pytest

from jupyter_providers import AuthenticationError, ProviderError, ProviderStore, ProviderTimeoutError, chat

from .test_bounded import CloseFramed


def _stream_of(*events: bytes) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=b"".join(events))

    return httpx.Client(transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(("key", "says"), [("sk-test-123456", "check the key"), ("", "no key was sent")])
def test_an_auth_error_event_mid_stream_says_whether_a_key_was_sent(key: str, says: str) -> None:
    store = ProviderStore(persist=False, admin_paths=[])
    store.add("P", base_url="http://127.0.0.1:9/", api_key=key, models=["m"])
    first = b'data: {"choices": [{"delta": {"content": "Hel"}}]}\n\n'
    failure = b'data: {"error": {"message": "token expired", "type": "authentication_error"}}\n\n'
    reply = chat("hi", provider="P", stream=True, store=store, http=_stream_of(first, failure))
    with pytest.raises(AuthenticationError, match=says) as caught:
        list(reply)
    assert caught.value.partial_text == "Hel" and reply.text_so_far == "Hel"
    assert key == "" or key not in str(caught.value)


KEY = "sk-live-7f3a9c0d2e4b6a8c"


def _chunk(text: str) -> bytes:
    return b'data: {"choices": [{"delta": {"content": %s}}]}\n\n' % json.dumps(text).encode()


def test_a_key_echoed_into_a_streamed_reply_shows_masked_even_split_over_pieces() -> None:
    """A gateway that puts the key into the reply text: %%chat, the widget and the notebook show ***."""
    store = ProviderStore(persist=False, admin_paths=[])
    store.add("P", base_url="http://127.0.0.1:9/", api_key=KEY, models=["m"])
    pieces = ["Your key is ", KEY[:9], KEY[9:], ", keep it safe."]
    done = b'data: {"choices": [{"delta": {}, "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n'
    reply = chat("hi", provider="P", stream=True, store=store, http=_stream_of(*map(_chunk, pieces), done))
    shown = list(reply)
    assert "".join(shown) == reply.text == "Your key is ***, keep it safe."
    assert all(KEY[:9] not in p and KEY[9:] not in p for p in shown)


def test_text_held_back_is_kept_when_the_stream_fails() -> None:
    store = ProviderStore(persist=False, admin_paths=[])
    store.add("P", base_url="http://127.0.0.1:9/", api_key=KEY, models=["m"])
    failure = b'data: {"error": {"message": "upstream died", "type": "server_error"}}\n\n'
    reply = chat("hi", provider="P", stream=True, store=store, http=_stream_of(_chunk("The answer is 42"), failure))
    with pytest.raises(ProviderError) as caught:
        list(reply)
    assert reply.text_so_far == caught.value.partial_text == "The answer is 42"


def test_a_key_echoed_into_a_whole_reply_shows_masked() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"choices": [{"message": {"content": f"key={KEY}", "reasoning_content": KEY}, "finish_reason": "stop"}]}
        return httpx.Response(200, json=body)

    store = ProviderStore(persist=False, admin_paths=[])
    store.add("P", base_url="http://127.0.0.1:9/", api_key=KEY, models=["m"])
    reply = chat("hi", provider="P", store=store, http=httpx.Client(transport=httpx.MockTransport(handler)))
    assert (reply.text, reply.reasoning) == ("key=***", "***")


def test_a_stream_framed_by_the_connection_and_cut_by_the_deadline_is_a_timeout() -> None:
    """An event stream without length or chunks ends when the watchdog shuts its socket: that is the deadline,
    not a stream 'ended before the reply was complete', and the text so far is kept."""
    server = CloseFramed("text/event-stream", _chunk("Hel"))
    try:
        store = ProviderStore(persist=False, admin_paths=[])
        store.add("P", base_url=server.url, api_key="", models=["m"])
        reply = chat("hi", provider="P", stream=True, store=store, timeout=1)
        with pytest.raises(ProviderTimeoutError, match="within 1 s") as caught:
            list(reply)
        assert caught.value.partial_text == reply.text_so_far == "Hel"
    finally:
        server.close()
