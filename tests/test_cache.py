"""The answer cache: what a key holds, replay and record through chat(), %%chat and %providers, bad input."""

from __future__ import annotations

import base64
import dataclasses
import logging
import os
import sqlite3
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from jupyter_providers import ProviderError, ProviderStore, chat
from jupyter_providers import _cache as cache_module
from jupyter_providers._cache import FILENAME, answer_key, cache_path, open_cache
from jupyter_providers._replay import CacheWarning
from jupyter_providers._settings import settings
from jupyter_providers.conversation import get_conversation, reset_conversations
from jupyter_providers.magics import ChatMagics

from ._shown import shown_text
from .fakes import FakeServer

KEY = "sk-cache-test-7d1e4a9b2c5f8e30"


@pytest.fixture(autouse=True)
def _fresh_caches(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(cache_module.ENV, raising=False)
    cache_module.forget_open()
    yield
    cache_module.forget_open()


@pytest.fixture
def fake(store: ProviderStore) -> Iterator[FakeServer]:
    with FakeServer("openai", api_key=KEY, models=["m", "other"], reply="Paris is the capital of France.") as srv:
        store.add("P", base_url=srv.base_url, api_key=KEY, models=["m"])
        yield srv


def _chats(fake: FakeServer) -> int:
    return sum(1 for r in fake.requests if r.path.endswith("/chat/completions"))


def test_a_reply_is_replayed_without_a_request_streamed_or_not(
    store: ProviderStore, fake: FakeServer, tmp_path: Path
) -> None:
    first = chat("capital of France?", store=store, cache=True, cache_dir=tmp_path)
    assert (first.text, first.replayed, _chats(fake)) == ("Paris is the capital of France.", False, 1)
    again = chat("capital of France?", store=store, cache=True, cache_dir=tmp_path)
    assert (again.text, again.replayed, _chats(fake)) == (first.text, True, 1)
    assert (again.usage, again.finish_reason, again.stats()) == (first.usage, first.finish_reason, first.stats())
    streamed = chat("capital of France?", store=store, cache=True, cache_dir=tmp_path, stream=True)
    assert not streamed.done  # a stream to iterate, not a finished reply
    pieces = list(streamed)
    assert "".join(pieces) == first.text and streamed.replayed and _chats(fake) == 1
    assert chat("capital of Spain?", store=store, cache=True, cache_dir=tmp_path).replayed is False
    assert chat("capital of France?", store=store, cache_dir=tmp_path).replayed is False  # cache off: asked
    assert _chats(fake) == 3


@pytest.mark.parametrize(
    "change",
    [
        {"model": "other"}, {"system": "be brief"}, {"temperature": 0.5}, {"max_tokens": 7},
        {"history": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
        {"schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
    ],
)  # fmt: skip
def test_whatever_decides_the_answer_is_in_the_key(
    store: ProviderStore, fake: FakeServer, tmp_path: Path, change: dict[str, object]
) -> None:
    chat("q", store=store, cache=True, cache_dir=tmp_path)
    fake.schema_reply = '{"city": "Paris"}'
    assert chat("q", store=store, cache=True, cache_dir=tmp_path, **change).replayed is False  # type: ignore[arg-type]


def test_the_key_holds_neither_the_key_nor_the_name_nor_headers(store: ProviderStore, fake: FakeServer) -> None:
    store.add("Q", base_url=fake.base_url, api_key="sk-other-key-0000000000", models=["m"], headers={"X-T": "tok"})
    a, b = (answer_key(store[n], "m", [{"role": "user", "content": "q"}]) for n in ("P", "Q"))
    assert a == b and len(a) == 64  # the same server and question: the same answer, whoever asks with which key
    store.add("R", base_url=fake.base_url + "/other", api_key=KEY, models=["m"])
    assert answer_key(store["R"], "m", [{"role": "user", "content": "q"}]) != a  # another address


def test_attachments_are_in_the_key_by_their_bytes(store: ProviderStore, fake: FakeServer) -> None:
    from jupyter_providers._attach import Attachment

    def key(data: bytes) -> str:
        msg = {"role": "user", "content": "q", "attachments": (Attachment("a.png", "image/png", data),)}
        return answer_key(store["P"], "m", [msg])

    assert key(b"png-1") == key(b"png-1") != key(b"png-2")
    assert key(b"png-1") != answer_key(store["P"], "m", [{"role": "user", "content": "q"}])


def test_refresh_asks_again_replaces_the_entry_and_knows_the_old_text(
    store: ProviderStore, fake: FakeServer, tmp_path: Path
) -> None:
    chat("q", store=store, cache=True, cache_dir=tmp_path)
    fake.reply = "Paris, on the Seine."
    fresh = chat("q", store=store, refresh=True, cache_dir=tmp_path)
    assert (fresh.text, fresh.replaced, fresh.replayed, _chats(fake)) == (
        "Paris, on the Seine.", "Paris is the capital of France.", False, 2,
    )  # fmt: skip
    assert chat("q", store=store, cache=True, cache_dir=tmp_path).text == "Paris, on the Seine."
    assert _chats(fake) == 2


@pytest.mark.parametrize("fault", ["server_error", "midstream_error"])
def test_errors_cancels_and_cut_replies_are_not_cached(
    store: ProviderStore, fake: FakeServer, tmp_path: Path, fault: str
) -> None:
    fake.fault = fault
    with pytest.raises(ProviderError):
        chat("q", store=store, cache=True, cache_dir=tmp_path, stream=True, retries=0).wait()
    fake.fault = None
    cancelled = chat("q2", store=store, cache=True, cache_dir=tmp_path, stream=True)
    cancelled.cancel()
    assert open_cache(tmp_path).stats()[0] == 0
    assert chat("q", store=store, cache=True, cache_dir=tmp_path).replayed is False


def test_a_reply_cut_by_max_tokens_is_not_cached(store: ProviderStore, tmp_path: Path) -> None:
    with FakeServer("openai", models=["m"], reply="one two three four five six") as srv:
        store.add("L", base_url=srv.base_url, api_key="", models=["m"])
        cut = chat("q", provider="L", store=store, cache=True, cache_dir=tmp_path, max_tokens=2)
        assert cut.finish_reason == "length"
        assert chat("q", provider="L", store=store, cache=True, cache_dir=tmp_path, max_tokens=2).replayed is False


def test_a_structured_reply_is_revalidated_and_its_data_restored(
    store: ProviderStore, fake: FakeServer, tmp_path: Path
) -> None:
    @dataclasses.dataclass
    class City:
        name: str
        people: int

    fake.schema_reply = '{"name": "Paris", "people": 2100000}'
    first = chat("q", store=store, cache=True, cache_dir=tmp_path, schema=City)
    for stream in (False, True):
        again = chat("q", store=store, cache=True, cache_dir=tmp_path, schema=City, stream=stream)
        assert again.replayed and again.data == first.data == City("Paris", 2100000)
    assert _chats(fake) == 1


def test_a_replayed_reply_records_itself_in_its_conversation(
    store: ProviderStore, fake: FakeServer, tmp_path: Path
) -> None:
    conv = get_conversation("P", "m")
    assert conv is not None
    conv.store = store
    conv.send("q", cache=True, cache_dir=tmp_path).wait()
    conv.reset()
    reply = conv.send("q", cache=True, cache_dir=tmp_path)
    list(reply)
    assert reply.replayed and [(t.status, t.reply) for t in conv.turns] == [("done", "Paris is the capital of France.")]
    reset_conversations()


def test_the_file_holds_no_key_even_one_a_hostile_server_echoes(store: ProviderStore, tmp_path: Path) -> None:
    """A gateway quoting the credentials it saw into the reply text (as tests/fakes/echo.py words it)."""
    seen = [f"Bearer {KEY}", KEY, "hdr-9f8e7d6c5b"]
    echo = "the gateway saw " + "; ".join(
        f"{v} (url: {quote(v, safe='')}, b64: {base64.b64encode(v.encode()).decode()})" for v in seen
    )
    with FakeServer("openai", api_key=KEY, models=["m"], reply=echo) as srv:
        store.add("E", base_url=srv.base_url, api_key=KEY, models=["m"], headers={"X-Proxy-Token": "hdr-9f8e7d6c5b"})
        for stream in (False, True):
            reply = chat(f"q{stream}", provider="E", store=store, cache=True, cache_dir=tmp_path / "c", stream=stream)
            assert "***" in reply.text
    cache_module.forget_open()  # every write on disk (the WAL checkpointed)
    blob = b"".join(f.read_bytes() for f in (tmp_path / "c").iterdir())
    assert b"***" in blob and open_cache(tmp_path / "c").stats()[0] == 2
    for secret in (KEY, "hdr-9f8e7d6c5b", KEY[:16], quote(KEY, safe=""), base64.b64encode(KEY.encode()).decode()):
        assert secret.encode() not in blob


# -- bad input: never a lost reply ----------------------------------------------------------------------
def _asked_with_warning(store: ProviderStore, cache_dir: Path, match: str) -> None:
    with pytest.warns(CacheWarning, match=match) as caught:
        reply = chat("q", store=store, cache=True, cache_dir=cache_dir)
    assert reply.text == "Paris is the capital of France." and not reply.replayed
    assert all("\n" not in str(w.message) for w in caught)


def test_a_cache_dir_that_is_a_file_warns_and_the_reply_stays(
    store: ProviderStore, fake: FakeServer, tmp_path: Path
) -> None:
    (tmp_path / "f").write_text("x")
    _asked_with_warning(store, tmp_path / "f", r"is a file, not a folder - set JUPYTER_PROVIDERS_CACHE or cache_dir=")


def test_a_trouble_is_told_once_a_kernel_not_every_cell(
    store: ProviderStore, fake: FakeServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Nor a WARNING record per call: without logging set up, Python's last-resort handler prints each on stderr."""
    (tmp_path / "f").write_text("x")
    caplog.set_level(logging.INFO, logger="jupyter_providers")
    with pytest.warns(CacheWarning) as caught:
        for _ in range(3):
            chat("q", store=store, cache=True, cache_dir=tmp_path / "f")
    assert len(caught) == 1 and "delete" not in str(caught[0].message)  # the advice is never to delete a file
    logged = [r for r in caplog.records if "not cached" in r.getMessage()]
    assert len(logged) == 3 and all(r.levelno < logging.WARNING for r in logged)


def test_a_corrupt_cache_warns_and_the_reply_stays(store: ProviderStore, fake: FakeServer, tmp_path: Path) -> None:
    (tmp_path / FILENAME).write_bytes(b"this is not SQLite " * 100)
    _asked_with_warning(store, tmp_path, r"is corrupt .* - delete the file to start a new one")


def test_an_unwritable_cache_dir_warns_and_the_reply_stays(
    store: ProviderStore, fake: FakeServer, tmp_path: Path
) -> None:
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    where = ro / "sub" if os.geteuid() != 0 else Path("/proc/self/jp-cache")  # root writes any folder, not /proc
    try:
        _asked_with_warning(store, where, r"cannot open the answer cache .* set JUPYTER_PROVIDERS_CACHE")
    finally:
        ro.chmod(0o700)


def test_a_bad_cache_argument_is_refused_before_anything_is_sent(store: ProviderStore, fake: FakeServer) -> None:
    with pytest.raises(ValueError, match=r"cache: give True or False, not 'yes'"):
        chat("q", store=store, cache="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"cache_dir: give a folder \(a str or a path\), not 3"):
        chat("q", store=store, cache=True, cache_dir=3)  # type: ignore[arg-type]
    assert _chats(fake) == 0


def test_the_default_place_and_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert cache_path() == tmp_path / "config" / "cache" / FILENAME  # JUPYTER_PROVIDERS_DIR (conftest)
    monkeypatch.setenv(cache_module.ENV, str(tmp_path / "beside"))
    assert cache_path() == tmp_path / "beside" / FILENAME
    assert cache_path(tmp_path / "arg") == tmp_path / "arg" / FILENAME


def test_limits_drop_old_and_least_recently_used_entries(
    store: ProviderStore, fake: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = open_cache(tmp_path)
    e = cache_module.Entry("x" * 1000)
    monkeypatch.setattr(cache_module.limits, "max_bytes", 2500)
    for i in range(3):
        c.put(f"k{i}", e)
        c._writes = 0  # prune at every write
    assert c.get("k0") is None and c.get("k2") is not None  # the oldest went
    old = cache_module.Entry("y", created=1.0)
    c.put("ancient", old)
    c._writes = 0
    c.put("k9", e)
    assert c.get("ancient") is None


# -- the notebook side ----------------------------------------------------------------------------------


def _cell(shell: InteractiveShell, line: str, cell: str = "capital of France?") -> tuple[str, str, str]:
    with capture_output() as cap:
        shell.run_cell_magic("chat", line, cell)
    return shown_text(cap.outputs), cap.stdout, cap.stderr


def test_chat_cache_replays_with_the_recorded_footer_and_marks_it_only_when_asked(
    shell: InteractiveShell, magics: ChatMagics, fake: FakeServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A replayed footer is the recorded one, its cost included (so a re-run notebook saves the same outputs);
    ``settings.mark_replayed`` adds the word ``replayed``; the reply and ``%providers cache`` tell a replay anyway."""
    monkeypatch.setenv(cache_module.ENV, str(tmp_path))
    magics.store.set_price("P", "m", input=1.5, output=2.5)
    before = cache_module.replayed_here
    recorded, _, _ = _cell(shell, "-p P --cache --new")
    assert "Paris is the capital of France." in recorded and "replayed" not in recorded and "$0." in recorded
    shown, _, err = _cell(shell, "-p P --cache --new")
    assert _chats(fake) == 1 and not err and cache_module.replayed_here == before + 1
    assert shown == recorded  # the same text, the same footer: tokens, timings and cost
    again = chat("capital of France?", store=magics.store, cache=True)
    assert again.replayed and again.cost == 0 and again.token_cost and again.token_cost > 0  # nothing was spent
    with capture_output() as cap:
        shell.run_line_magic("providers", "cache")
    assert f"; {before + 2} replayed in this kernel" in cap.stdout
    shown, _, _ = _cell(shell, "-p P --new")  # without --cache: asked
    assert "replayed" not in shown and _chats(fake) == 2
    monkeypatch.setattr(settings, "mark_replayed", True)
    magics.cache = True  # %config ChatMagics.cache = True
    _, out, _ = _cell(shell, "-p P --new --format text")
    assert "Paris is the capital of France." in out and "· replayed]" in out and _chats(fake) == 2
    assert "replayed" in _cell(shell, "-p P --cache --new")[0]


def test_refresh_shows_how_the_new_reply_differs_through_the_safe_path(
    shell: InteractiveShell, magics: ChatMagics, fake: FakeServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(cache_module.ENV, str(tmp_path))
    _cell(shell, "-p P --cache --new")
    fake.reply = "Paris <script>alert(1)</script> is big."
    with capture_output() as cap:
        shell.run_cell_magic("chat", "-p P --refresh --new", "capital of France?")
    html = "".join(o.data.get("text/html", "") for o in cap.outputs)
    assert "<script>" not in html and "&lt;script&gt;" in html
    shown = shown_text(cap.outputs)
    assert "-Paris is the capital of France." in shown and "+Paris <script>alert(1)</script> is big." in shown
    assert _chats(fake) == 2
    replayed = _cell(shell, "-p P --cache --new")[0]
    assert "is big." in replayed and _chats(fake) == 2  # the refreshed reply, replayed


def test_providers_cache_shows_and_clears(
    shell: InteractiveShell, magics: ChatMagics, fake: FakeServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(cache_module.ENV, str(tmp_path))
    with capture_output() as cap:
        shell.run_line_magic("providers", "cache")
    assert "no replies yet" in cap.stdout
    chat("q", store=magics.store, cache=True)
    with capture_output() as cap:
        shell.run_line_magic("providers", "cache")
    assert f"{tmp_path / FILENAME}: 1 replies" in cap.stdout and "on disk" in cap.stdout
    copy = tmp_path / "copy"  # the file alone, as committed while the kernel still runs: every reply in it
    copy.mkdir()
    (copy / FILENAME).write_bytes((tmp_path / FILENAME).read_bytes())
    assert cache_module.AnswerCache(copy / FILENAME).stats()[0] == 1
    with capture_output() as cap:
        shell.run_line_magic("providers", "cache clear")
    assert "1 replies removed" in cap.stdout and open_cache().stats() == (0, 0)


def test_providers_cache_on_a_corrupt_file_is_one_line(
    shell: InteractiveShell, magics: ChatMagics, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(cache_module.ENV, str(tmp_path))
    (tmp_path / FILENAME).write_bytes(b"garbage " * 600)
    with capture_output() as cap, warnings.catch_warnings():
        shell.run_line_magic("providers", "cache")
    assert cap.stderr.count("\n") == 1 and "is corrupt" in cap.stderr and "delete the file" in cap.stderr
    assert sqlite3.sqlite_version  # the stdlib module, nothing else
