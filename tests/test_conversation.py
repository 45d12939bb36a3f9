"""A ``Conversation`` against a fake server: every way a reply ends records its turn once, as it ended."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_providers import ProviderStore
from jupyter_providers import api as api_module
from jupyter_providers import client as client_module
from jupyter_providers.conversation import Conversation
from jupyter_providers.errors import ProviderError

from .fakes import FakeServer

REPLY = "one two three four five six"


@pytest.fixture
def srv() -> Iterator[FakeServer]:
    with FakeServer("openai", models=["m"], reply=REPLY) as s:
        yield s


@pytest.fixture
def conv(store: ProviderStore, srv: FakeServer, monkeypatch: pytest.MonkeyPatch) -> Conversation:
    monkeypatch.setattr(client_module.settings, "max_retries", 0)
    store.add("F", base_url=srv.base_url, api_key="", models=["m"])
    return Conversation("F", "m", store=store)


Records = list[tuple[Any, str, str]]


def test_a_streamed_reply_records_itself_when_it_ends(conv: Conversation, records: Records) -> None:
    reply = conv.send("Count")
    assert conv.turns[-1].status == "streaming" and records == []
    assert "".join(reply) == REPLY
    [(turn, status, text)] = records
    assert turn is conv.turns[-1] and (status, text) == ("done", REPLY) and len(conv) == 1
    assert turn.usage["output_tokens"] == 6 and turn.latency_s == reply.latency_s and turn.latency_s
    assert conv.messages[-1] == {"role": "assistant", "content": REPLY}
    reply.text, reply.cancel(), list(reply)  # reading it again or stopping it afterwards records nothing
    assert len(records) == 1


def test_without_stream_the_turn_is_recorded_at_once(conv: Conversation, records: Records) -> None:
    reply = conv.send("Count", stream=False)
    assert records == [(conv.turns[-1], "done", REPLY)] and reply.text == REPLY


def test_a_reply_never_iterated_records_itself_when_its_text_is_read(conv: Conversation, records: Records) -> None:
    assert conv.send("Count").text == REPLY
    assert records == [(conv.turns[-1], "done", REPLY)]


def test_stream_is_the_same_loop(conv: Conversation, records: Records) -> None:
    assert "".join(conv.stream("Count")) == REPLY
    assert records == [(conv.turns[-1], "done", REPLY)]


@pytest.mark.parametrize("fault", ["midstream_error", "cut_stream"])
def test_an_error_mid_stream_records_the_partial_text_and_the_error(
    conv: Conversation, srv: FakeServer, records: Records, fault: str
) -> None:
    srv.fault = fault
    reply = conv.send("Count")
    with pytest.raises(ProviderError) as info:
        for _ in reply:
            pass
    [(turn, status, text)] = records
    assert status == "error" and text == "one two " and turn.error == str(info.value) and reply.error is info.value
    assert conv.messages[-1] == {"role": "assistant", "content": "one two "}  # the partial reply is history


def test_an_error_before_the_reply_is_a_turn_with_no_reply(
    conv: Conversation, srv: FakeServer, records: Records
) -> None:
    srv.fault = "server_error"
    with pytest.raises(ProviderError):
        conv.send("Count")
    assert records == [] and [t.status for t in conv.turns] == ["error"] and conv.messages == []


def test_ctrl_c_before_the_server_answers_is_a_stopped_turn(
    conv: Conversation, records: Records, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(api_module, "chat", interrupted)
    with pytest.raises(KeyboardInterrupt):
        conv.send("Count")
    assert records == [] and [(t.status, t.reply) for t in conv.turns] == [("stopped", "")] and conv.messages == []


def test_leaving_the_loop_early_records_a_stopped_turn(conv: Conversation, records: Records) -> None:
    for piece in conv.send("Count"):
        assert piece == "one "
        break
    assert records == [(conv.turns[-1], "stopped", "one ")]


def test_cancel_from_another_thread_during_a_stalled_stream_records_once(
    conv: Conversation, srv: FakeServer, records: Records
) -> None:
    srv.fault, srv.stall_seconds = "stall", 20  # two words, then silence
    reply = conv.send("Count")
    reader = threading.Thread(target=lambda: [None for _ in reply], name="reader")
    started = time.monotonic()
    reader.start()
    while reply.text_so_far != "one two " and time.monotonic() - started < 10:
        time.sleep(0.01)
    reply.cancel()  # from this thread, while the reader is blocked on the socket
    assert records == [(conv.turns[-1], "stopped", "one two ")]  # recorded when cancel() returned
    reader.join(10)
    assert not reader.is_alive() and time.monotonic() - started < 10 and len(records) == 1
    assert conv.turns[-1].latency_s == reply.latency_s and reply.error is None


def test_cancel_before_reading_records_a_stopped_turn(conv: Conversation, records: Records) -> None:
    reply = conv.send("Count")
    reply.cancel()
    assert records == [(conv.turns[-1], "stopped", "")] and list(reply) == []
    assert conv.messages == []  # nothing came back: not sent again as history


def test_a_turn_is_recorded_where_it_was_sent_even_after_a_reset(conv: Conversation, records: Records) -> None:
    reply = conv.send("Count")
    turn = conv.turns[-1]
    conv.reset()
    reply.wait()
    assert records == [(turn, "done", REPLY)] and conv.turns == []
