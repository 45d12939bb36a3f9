"""The usage and cost ledger (issue 14): every reply recorded once, wherever it was asked; prices; ``max_cost``.

Against the protocol-faithful fakes (their usage is exact: tokens a test can price by hand), and two processes
writing the ledger at once.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jupyter_providers import (
    AuthenticationError,
    CostLimitError,
    InvalidValueError,
    ProviderStore,
    _ledger,
    _metering,
    chat,
    chat_map,
)
from jupyter_providers._providers_cmd import ProvidersCommand
from jupyter_providers._usage_cmd import usage_table
from jupyter_providers.client import settings
from jupyter_providers.conversation import Conversation

from .fakes import FakeServer

KEY = "sk-ledger-test-7c1d93aa04"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    with FakeServer("openai", api_key=KEY, models=["model-a", "model-b"], reply="One two three four.") as srv:
        yield srv


@pytest.fixture
def st(store: ProviderStore, fake: FakeServer) -> ProviderStore:
    store.add("F", base_url=fake.base_url, api_key=KEY, models=["model-a", "model-b"])
    return store


@pytest.fixture(autouse=True)
def _no_kernel_budget() -> Iterator[None]:
    yield
    settings.max_cost = None
    settings.record_usage = True


def rows() -> list[_ledger.Entry]:
    return list(_ledger.read_entries())


def test_every_surface_is_recorded_once(st: ProviderStore, fake: FakeServer) -> None:
    chat("Hello", provider="F", store=st)  # a whole reply
    chat("Hello", provider="F", model="model-b", store=st, stream=True).wait()  # a stream, read to the end
    Conversation("F", "model-a", store=st).send("Hello again").wait()  # a conversation's turn
    chat_map(["a", "b", "c"], provider="F", store=st, progress=False)  # a map: a row each
    stopped = chat("Hello", provider="F", store=st, stream=True)
    stopped.cancel()  # a stream stopped before it was read
    found = rows()
    assert len(found) == 7 == len(fake.requests)
    assert [(e.model, e.outcome) for e in found[:3]] == [("model-a", "ok"), ("model-b", "ok"), ("model-a", "ok")]
    assert found[-1].outcome == "cancelled"
    for e in found[:6]:
        assert (e.provider, e.type, e.estimated, e.replayed) == ("F", "openai", False, False)
        assert e.input_tokens > 0 and e.output_tokens > 0 and e.latency_s is not None and e.latency_s > 0
        assert e.kernel == f"pid {os.getpid()}" and e.pid == os.getpid()


def test_tokens_are_the_servers_usage(st: ProviderStore, fake: FakeServer) -> None:
    reply = chat("Count these words please", provider="F", store=st)
    (e,) = rows()
    assert (e.input_tokens, e.output_tokens) == (reply.usage.input_tokens, reply.usage.output_tokens)


def test_a_server_without_usage_is_estimated_and_flagged(store: ProviderStore) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        message = {"role": "assistant", "content": "x" * 40}
        return httpx.Response(200, json={"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})

    store.add("N", base_url="http://127.0.0.1:9/", api_key="", models=["m"])
    store.set_price("N", "m", input=1.0, output=2.0)
    reply = chat("y" * 20, provider="N", store=store, http=httpx.Client(transport=httpx.MockTransport(handler)))
    (e,) = rows()
    assert (e.input_tokens, e.output_tokens, e.estimated) == (5, 10, True)  # 20 and 40 characters / 4
    assert reply.cost == pytest.approx((5 * 1.0 + 10 * 2.0) / 1e6) and reply.cost_estimated
    assert reply.stats().endswith("~$0.000025")


def test_a_failed_call_is_recorded_with_its_kind_and_no_tokens(store: ProviderStore, fake: FakeServer) -> None:
    store.add("Bad", base_url=fake.base_url, api_key="sk-wrong-key-000", models=["model-a"])
    with pytest.raises(AuthenticationError, match=r"401|key"):
        chat("Hello", provider="Bad", store=store)
    (e,) = rows()
    assert (e.outcome, e.input_tokens, e.output_tokens) == ("auth", 0, 0) and e.latency_s is not None


def test_a_call_refused_before_sending_is_not_recorded(st: ProviderStore) -> None:
    with pytest.raises(InvalidValueError):
        chat("Hello", provider="F", store=st, temperature=5)
    assert rows() == []


def test_record_usage_off_records_nothing(st: ProviderStore) -> None:
    settings.record_usage = False
    chat("Hello", provider="F", store=st)
    assert rows() == []


def test_a_replayed_reply_is_recorded_at_no_cost(st: ProviderStore, fake: FakeServer, tmp_path: Path) -> None:
    """A reply replayed from the answer cache is recorded, flagged, at 0 cost; ``max_cost`` never refuses it."""
    st.set_price("F", "model-a", input=1.0, output=1.0)
    first = chat("Hello", provider="F", store=st, cache=True, cache_dir=tmp_path / "c", max_tokens=20)
    assert first.cost and not first.replayed
    again = chat("Hello", provider="F", store=st, cache=True, cache_dir=tmp_path / "c", max_tokens=20, max_cost=0)
    assert again.replayed and again.cost == 0 and len(fake.requests) == 1
    streamed = chat("Hello", provider="F", store=st, cache=True, cache_dir=tmp_path / "c", max_tokens=20, stream=True)
    assert streamed.wait().replayed
    e1, e2, e3 = rows()
    assert (e1.replayed, e2.replayed, e3.replayed) == (False, True, True)
    assert (e2.input_tokens, e2.output_tokens) == (e1.input_tokens, e1.output_tokens)
    s = usage_table(st).sums["F", "model-a"]
    assert (s.replies, s.replayed) == (3, 2) and s.cost == pytest.approx(first.cost)


def test_usage_and_cost_per_provider_and_model(store: ProviderStore, fake: FakeServer) -> None:
    store.add("F", base_url=fake.base_url, api_key=KEY, models=["model-a", "model-b"])
    store.add("G", base_url=fake.base_url, api_key=KEY, models=["model-a"])
    store.set_price("F", "model-a", input=0.15, output=0.60)
    store.set_price("G", "model-a", input=3, output=15)
    usage = {}
    for name, model, prompt in [("F", "model-a", "Hi"), ("F", "model-a", "Hello there"), ("G", "model-a", "Yo"),
                                ("F", "model-b", "Unpriced")]:  # fmt: skip
        usage.setdefault((name, model), []).append(chat(prompt, provider=name, model=model, store=store).usage)
    sums = usage_table(store).sums
    for (name, model), got in usage.items():
        s = sums[name, model]
        assert s.replies == len(got)
        assert s.input_tokens == sum(u.input_tokens or 0 for u in got)
        assert s.output_tokens == sum(u.output_tokens or 0 for u in got)
    a, g = sums["F", "model-a"], sums["G", "model-a"]
    assert a.cost == pytest.approx((a.input_tokens * 0.15 + a.output_tokens * 0.60) / 1e6)
    assert g.cost == pytest.approx((g.input_tokens * 3 + g.output_tokens * 15) / 1e6)
    assert sums["F", "model-b"].cost is None
    table = repr(usage_table(store))
    assert "no price" in table and _metering.money(g.cost) in table and "total" in table
    assert "<td" in usage_table(store)._repr_html_()
    # a price set afterwards prices what was recorded before
    store.set_price("F", "model-b", input=1, output=1)
    b = usage_table(store).sums["F", "model-b"]
    assert b.cost == pytest.approx((b.input_tokens + b.output_tokens) / 1e6)


def test_usage_today_and_notebook(st: ProviderStore, monkeypatch: pytest.MonkeyPatch) -> None:
    chat("Hello", provider="F", store=st)
    assert usage_table(st, today=True).sums["F", "model-a"].replies == 1
    assert usage_table(st, notebook=True).sums["F", "model-a"].replies == 1
    monkeypatch.setattr(_ledger, "_origin", (os.getpid(), "other.ipynb", "k2"))
    assert usage_table(st, notebook=True).sums == {}
    chat("Hello", provider="F", store=st)
    assert [e.notebook for e in rows()] == ["", "other.ipynb"]
    assert usage_table(st, notebook=True).sums["F", "model-a"].replies == 1


def test_the_notebook_is_the_one_jupyter_server_names(st: ProviderStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/work/analysis.ipynb")
    monkeypatch.setattr(_ledger, "_origin", None)
    chat("Hello", provider="F", store=st)
    (e,) = rows()
    assert (e.notebook, e.kernel) == ("/home/me/work/analysis.ipynb", f"pid {os.getpid()}")
    assert usage_table(st, notebook=True).sums["F", "model-a"].replies == 1
    monkeypatch.setattr(_ledger, "_origin", None)


def test_providers_price_and_usage_commands(st: ProviderStore) -> None:
    cmd = ProvidersCommand(st)
    assert cmd.run(["price", "F", "model-a"]) == "F model-a: no price set"
    out = cmd.run(["price", "F", "model-a", "--input", "0.15", "--output", "0.60"])
    assert out == "F model-a: $0.15 per million input tokens, $0.60 per million output tokens"
    assert ProviderStore(st._files.dir, admin_paths=[])["F"].model("model-a").input_price == 0.15  # type: ignore[union-attr]
    chat("Hello", provider="F", store=st)
    assert "$0." in repr(cmd.run(["usage", "--today"]))
    assert cmd.run(["price", "F", "model-a", "--clear"]) == "F model-a: no price set"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--input", "-1", "--output", "1"], r"^input: -1.0 is not an amount of at least 0"),
        (["--input", "nan", "--output", "1"], r"^input: nan is not an amount of at least 0"),
        (["--input", "cheap", "--output", "1"], r"^input: 'cheap' is not a number"),
        (["--input", "1"], r"^price: give both --input and --output"),
        (["--input", "1", "--output", "inf"], r"^output: inf is not an amount"),
    ],
)
def test_bad_prices_are_one_line(st: ProviderStore, argv: list[str], message: str) -> None:
    with pytest.raises(InvalidValueError, match=message) as info:
        ProvidersCommand(st).run(["price", "F", "model-a", *argv])
    assert "\n" not in str(info.value)
    assert st["F"].model("model-a").input_price is None  # type: ignore[union-attr]


def test_set_price_refuses_bad_values(st: ProviderStore) -> None:
    for bad in (-0.1, float("nan"), "0.15", True, None):
        with pytest.raises(InvalidValueError, match=r"input|price"):
            st.set_price("F", "model-a", input=bad, output=1)  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="no model 'nope'"):
        st.set_price("F", "nope", input=1, output=1)


# -- max_cost --------------------------------------------------------------------------------------------------------
def test_max_cost_per_call_refuses_before_sending(st: ProviderStore, fake: FakeServer) -> None:
    st.set_price("F", "model-a", input=1.0, output=2.0)
    prompt = "x" * 400  # 100 tokens: $0.0001 in; max_tokens 50: $0.0001 out
    with pytest.raises(CostLimitError, match=r"may cost up to \$0.0002 .*over max_cost \$0.00019; nothing was sent"):
        chat(prompt, provider="F", store=st, max_tokens=50, max_cost=0.00019)
    with pytest.raises(CostLimitError, match="give max_tokens"):
        chat(prompt, provider="F", store=st, max_cost=1)
    with pytest.raises(CostLimitError, match=r"'model-b' has no price - set one with store.set_price"):
        chat(prompt, provider="F", model="model-b", store=st, max_tokens=5, max_cost=1)
    assert fake.requests == [] and rows() == []
    assert chat(prompt, provider="F", store=st, max_tokens=50, max_cost=0.0002).text  # exactly at the limit: sent
    assert len(fake.requests) == 1
    for bad in (-1, float("nan"), "0.1"):
        with pytest.raises(InvalidValueError, match=r"^max_cost: "):
            chat("hi", provider="F", store=st, max_cost=bad)  # type: ignore[arg-type]


def test_a_free_model_needs_no_max_tokens(st: ProviderStore, fake: FakeServer) -> None:
    st.set_price("F", "model-a", input=0, output=0)
    assert chat("Hello", provider="F", store=st, max_cost=0).cost == 0


def test_the_kernels_max_cost_counts_what_was_spent(st: ProviderStore, fake: FakeServer) -> None:
    st.set_price("F", "model-a", input=1000.0, output=1000.0)  # $0.001 a token: spends add up fast
    start = _metering.KERNEL.spent
    reply = chat("Hello", provider="F", store=st, max_tokens=10)
    assert reply.cost and _metering.KERNEL.spent == pytest.approx(start + reply.cost)
    settings.max_cost = _metering.KERNEL.spent + 0.010  # room for one more 2 + 10 token call, not two
    sent = len(fake.requests)
    chat("Hi", provider="F", store=st, max_tokens=8).wait()
    with pytest.raises(CostLimitError, match=r"the kernel's max_cost \(settings.max_cost\) \$.* would be crossed"):
        Conversation("F", "model-a", store=st).send("Hi", max_tokens=8)
    assert len(fake.requests) == sent + 1


def test_max_cost_of_a_map_records_the_rows_past_it(st: ProviderStore, fake: FakeServer) -> None:
    st.set_price("F", "model-a", input=1000.0, output=1000.0)
    # each row: "row N" (5 chars: 2 tokens) + max_tokens 10 -> at most $0.012; the fake answers 5 tokens
    est = _metering.cost_of(st["F"].model("model-a"), 2, 10)
    assert est == pytest.approx(0.012)
    results = chat_map([f"row {i}" for i in range(10)], provider="F", store=st, max_tokens=10, max_cost=0.05,
                       concurrency=1, progress=False)  # fmt: skip
    sent = [r for r in results if r.ok]
    refused = [r for r in results if not r.ok]
    assert sent and refused and len(fake.requests) == len(sent)
    spent = sum(_metering.cost_of(st["F"].model("model-a"), r.usage.input_tokens or 0, r.usage.output_tokens or 0)
                or 0 for r in sent)  # fmt: skip
    assert spent + est > 0.05 - 1e-12  # the next row would have crossed it
    assert all("max_cost: the map's max_cost $0.05 would be crossed" in (r.error or "") for r in refused)
    assert all("nothing was sent" in (r.error or "") and r.attempts == 0 for r in refused)


def test_a_map_whose_model_has_no_price_fails_once_before_sending(st: ProviderStore, fake: FakeServer) -> None:
    items = [f"row {i}" for i in range(5)]
    with pytest.raises(CostLimitError, match=r"^F: max_cost: 'model-a' has no price - set one .*; nothing was sent$"):
        chat_map(items, provider="F", store=st, max_tokens=10, max_cost=1, progress=False)
    settings.max_cost = 1.0  # the kernel's limit needs a price just as much
    with pytest.raises(CostLimitError, match="has no price"):
        chat_map(items, provider="F", store=st, max_tokens=10, progress=False)
    settings.max_cost = None
    st.set_price("F", "model-a", input=1.0, output=2.0)  # no max_tokens and no context length: no bound
    with pytest.raises(CostLimitError, match=r"^F: max_cost: give max_tokens"):
        chat_map(items, provider="F", store=st, max_cost=1, progress=False)
    assert fake.requests == [] and rows() == []


# -- the file ----------------------------------------------------------------------------------------------------------
WRITER = textwrap.dedent(
    """
    import sys
    from jupyter_providers import ProviderStore, chat
    url, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    st = ProviderStore(persist=False, admin_paths=[])
    st.add("P", base_url=url, api_key=key, models=["model-a"])
    st.set_price("P", "model-a", input=0.15, output=0.60)
    for i in range(n):
        chat(f"message {i}", provider="P", store=st, stream=i % 2 == 0).wait()
    """
)


def test_two_processes_write_at_once(tmp_path: Path, fake: FakeServer) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JUPYTER_PROVIDERS_DIR": str(tmp_path / "config")}
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, fake.base_url, KEY, "200"], env=env, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
    path = _ledger.ledger_path()
    assert path == tmp_path / "config" / "usage.sqlite"
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()
    found = rows()
    assert len(found) == 400 == len(fake.requests)
    by_pid = {p.pid: [e for e in found if e.pid == p.pid] for p in procs}
    assert all(len(v) == 200 and all(e.outcome == "ok" for e in v) for v in by_pid.values())


def test_no_key_and_no_text_in_the_ledger(store: ProviderStore, fake: FakeServer) -> None:
    headers_key = "hdr-secret-5521aa"
    store.add("F", base_url=fake.base_url, api_key=KEY, models=["model-a"], headers={"X-Token": headers_key})
    store.add("Bad", base_url=fake.base_url, api_key="sk-wrong-9d8e7f", models=["model-a"])
    store.set_price("F", "model-a", input=1, output=1)
    chat("PROMPT-MARKER-1", provider="F", store=store)
    chat("PROMPT-MARKER-2", provider="F", store=store, stream=True).wait()
    with pytest.raises(AuthenticationError, match=r"key|401"):
        chat("PROMPT-MARKER-3", provider="Bad", store=store)
    assert len(rows()) == 3
    files = list(_ledger.ledger_path().parent.glob("usage.sqlite*"))
    blob = b"".join(f.read_bytes() for f in files)
    for secret in (KEY, "sk-wrong-9d8e7f", headers_key, "PROMPT-MARKER", fake.reply.split()[0]):
        assert secret.encode() not in blob, secret
    assert b"model-a" in blob  # the file is readable as it is: a search that finds nothing means something


def test_an_unwritable_ledger_never_fails_a_reply(
    st: ProviderStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setattr(_ledger, "ledger_path", lambda: blocker / "usage.sqlite")
    assert chat("Hello", provider="F", store=st).text
    assert chat("Hello", provider="F", store=st).text
    said = [r for r in caplog.records if "usage not recorded" in r.getMessage()]
    assert len(said) == 1  # once, not per reply
    assert KEY not in caplog.text


def test_estimates_are_characters_over_four() -> None:
    msgs = [{"role": "user", "content": "x" * 9}, {"role": "assistant", "content": "y" * 3}]
    assert _metering.prompt_tokens(msgs, "z" * 4) == math.ceil(16 / 4) == 4  # type: ignore[arg-type]
    assert _metering.prompt_tokens(msgs, None) == 3  # type: ignore[arg-type]
    assert json.dumps(_metering.money(0.0000021)) == '"$0.0000021"'


# -- what a notebook shows -----------------------------------------------------------------------------------------
def test_the_chat_footer_shows_the_cells_cost(st: ProviderStore, fake: FakeServer) -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from jupyter_providers.conversation import reset_conversations
    from jupyter_providers.magics import ChatMagics

    from ._shown import shown_text

    shell = InteractiveShell.instance()
    magics = ChatMagics(shell, store=st)
    shell.register_magics(magics)
    reset_conversations()
    try:
        with capture_output() as cap:
            shell.run_cell_magic("chat", "-p F -m model-a --new", "What is two plus two?")
        assert "$" not in shown_text(cap.outputs)  # no price set: no cost shown
        st.set_price("F", "model-a", input=0.15, output=0.60)
        with capture_output() as cap:
            shell.run_cell_magic("chat", "-p F -m model-a --new", "What is two plus two?")
        (e,) = rows()[-1:]
        cost = (e.input_tokens * 0.15 + e.output_tokens * 0.60) / 1e6
        shown = shown_text(cap.outputs)
        assert f"{e.input_tokens} in / {e.output_tokens} out tokens · {_metering.money(cost)}" in shown
        with capture_output() as cap:
            shell.run_cell_magic("chat", "--new --compare F:model-a,F:model-b", "Hi")
        a = next(e for e in reversed(rows()) if e.model == "model-a")
        final = cap.outputs[-1].data["text/html"]  # the columns' last update: each with its stats
        assert _metering.money((a.input_tokens * 0.15 + a.output_tokens * 0.60) / 1e6) in final
    finally:
        reset_conversations()


def test_a_ledger_closed_while_threads_record_never_crashes_the_process(tmp_path: Path) -> None:
    """A map's rows still in flight record their replies while the ledger is closed for another config dir
    (what a stopped map followed by the next test did): the process went down with a segmentation fault when
    one thread closed the connection another was inserting through. In a child process, so a crash is a failure
    here, not the end of the test run."""
    script = textwrap.dedent(
        f"""
        import os, threading
        from pathlib import Path
        from jupyter_providers import _ledger
        a, b = Path({str(tmp_path / "a")!r}), Path({str(tmp_path / "b")!r})
        done = threading.Event()

        def writer():
            while not done.is_set():
                os.environ["JUPYTER_PROVIDERS_DIR"] = str(a)
                _ledger.record(_ledger.new_entry("P", "m", "openai", (1, 1), False, 0.1, "ok", False))

        threads = [threading.Thread(target=writer) for _ in range(4)]
        for t in threads:
            t.start()
        for i in range(300):
            _ledger._open((a if i % 2 else b) / _ledger.FILE_NAME)
        done.set()
        for t in threads:
            t.join()
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
