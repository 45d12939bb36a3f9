"""The stream loop of :mod:`jupyter_providers._transport`, on answers made with ``httpx.MockTransport``."""

from __future__ import annotations

import httpx
import pytest

from jupyter_providers import AuthenticationError, ProviderStore, chat


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
