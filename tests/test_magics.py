"""``%%chat`` and ``%providers`` through IPython's InteractiveShell, against the real local model and the fakes."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import CapturedIO, capture_output

from jupyter_providers import ProviderStore
from jupyter_providers import client as client_module
from jupyter_providers.conversation import get_conversation
from jupyter_providers.magics import ChatMagics

from ._shown import shown_html, shown_text
from .conftest import LOCAL_KEY
from .fakes import FakeServer

REPLY = "Paris is the **capital** of France."
Records = list[tuple[Any, str, str]]  # the conftest's `records`: each turn a reply recorded


@pytest.fixture
def fake(store: ProviderStore) -> Iterator[FakeServer]:
    with FakeServer("anthropic", api_key="sk-ant-1", models=["claude-x"], reply=REPLY) as srv:
        store.add("Claude", type="anthropic", base_url=srv.base_url, api_key="sk-ant-1", models=["claude-x"])
        yield srv


class Captured:
    """What a cell showed: streamed text (stdout without the clear-output escapes), errors, rich outputs."""

    def __init__(self, cap: CapturedIO) -> None:
        self.stdout = cap.stdout.replace("\x1b[2K\r", "")
        self.stderr = cap.stderr.replace("\x1b[2K\r", "")
        self.outputs = cap.outputs


def run(shell: InteractiveShell, line: str, cell: str) -> Captured:
    with capture_output() as cap:
        shell.run_cell_magic("chat", line, cell)
    return Captured(cap)


def shown_of(cap: Captured) -> str:
    """The text a person reads in the cell's rich output (text/html; never text/markdown)."""
    return shown_text(cap.outputs)


def test_streams_then_renders_markdown(shell: InteractiveShell, magics: ChatMagics, fake: FakeServer) -> None:
    cap = run(shell, "--provider Claude --model claude-x", "What is the capital of France?")
    assert cap.stdout == REPLY  # streamed as it arrived
    shown = shown_of(cap)
    assert shown.startswith("Paris is the capital of France.") and "Claude · claude-x" in shown
    html = shown_html(cap.outputs)
    assert "<strong>capital</strong>" in html and "<em>Claude · claude-x" in html  # rendered, with the footer
    assert cap.stderr == ""


def test_local_model_answers(shell: InteractiveShell, magics: ChatMagics, local_store: ProviderStore) -> None:
    cap = run(shell, "-p vLLM -m smollm2 --max-tokens 16", "Explain what a Jupyter kernel is in one sentence.")
    assert cap.stdout.strip() and cap.stderr == ""
    conv = get_conversation("vLLM", "smollm2")
    assert conv is not None and conv.turns[-1].status == "done" and conv.turns[-1].reply == cap.stdout


def test_history_continues_until_new(shell: InteractiveShell, magics: ChatMagics, fake: FakeServer) -> None:
    run(shell, "-p Claude", "First question")
    run(shell, "-p Claude", "Second question")
    sent = fake.requests[-1].body or {}
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["messages"][0]["content"] == "First question"
    run(shell, "-p Claude --new", "Third question")
    assert [m["content"] for m in (fake.requests[-1].body or {})["messages"]] == ["Third question"]
    conv = get_conversation("Claude", "claude-x")
    assert conv is not None and len(conv) == 1


def test_system_prompt_and_options(shell: InteractiveShell, magics: ChatMagics, fake: FakeServer) -> None:
    run(shell, '-p Claude --system "Answer in French." --temperature 0.3 --max-tokens 50', "Hello")
    body = fake.requests[-1].body or {}
    assert (body["system"], body["temperature"], body["max_tokens"]) == ("Answer in French.", 0.3, 50)


def test_out_and_interpolation(shell: InteractiveShell, magics: ChatMagics, fake: FakeServer) -> None:
    shell.user_ns["city"] = "Lyon"
    shell.user_ns["data"] = {"k": [1, 2]}
    run(shell, "-p Claude --out answer", 'Tell me about {city} and {data[k]}; JSON {{"a": 1}} and {"b": 2}')
    sent = (fake.requests[-1].body or {})["messages"][-1]["content"]
    assert sent == 'Tell me about Lyon and [1, 2]; JSON {"a": 1} and {"b": 2}'
    assert shell.user_ns["answer"] == REPLY


def test_undefined_name_is_one_clear_line(shell: InteractiveShell, magics: ChatMagics, fake: FakeServer) -> None:
    shell.user_ns.pop("nowhere", None)
    n = len(fake.requests)
    cap = run(shell, "-p Claude", "Use {nowhere}")
    assert cap.stderr.strip().startswith("prompt: {nowhere} is not defined")
    assert cap.stderr.count("\n") == 1 and len(fake.requests) == n


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("-p Nope", "provider: no provider named 'Nope'"),
        ("-p Claude --temperature -1", "temperature: -1.0 is out of range"),
        ("-p Claude --max-tokens 0", "max_tokens: 0 must be at least 1"),
        ("-p Claude --out 1x", "--out: '1x' is not a variable name"),
        ("--compare Claude:claude-x", "--compare: give at least two"),
        ("--compare Claude:claude-x,Claude", "--compare: Claude:claude-x is listed twice"),
    ],
)
def test_bad_options(shell: InteractiveShell, magics: ChatMagics, fake: FakeServer, line: str, message: str) -> None:
    cap = run(shell, line, "hi")
    assert cap.stderr.startswith(message) and cap.stderr.count("\n") == 1
    assert "Traceback" not in cap.stdout + cap.stderr


def test_provider_error_is_one_line_without_key(
    shell: InteractiveShell, magics: ChatMagics, fake: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module.settings, "max_retries", 0)
    fake.fault = "auth"
    cap = run(shell, "-p Claude", "hi")
    assert cap.stderr.startswith("Claude: the server rejected the key (401")
    assert cap.stderr.count("\n") == 1 and "sk-ant-1" not in cap.stderr + cap.stdout


def test_midstream_error_keeps_partial(
    shell: InteractiveShell, magics: ChatMagics, fake: FakeServer, records: Records
) -> None:
    fake.fault = "midstream_error"
    cap = run(shell, "-p Claude", "hi")
    assert cap.stdout == "Paris is "  # two pieces arrived
    assert shown_of(cap).startswith("Paris is") and "interrupted by an error" in shown_of(cap)
    assert cap.stderr.startswith("Claude: server error")
    conv = get_conversation("Claude", "claude-x")
    assert conv is not None and conv.turns[-1].status == "error" and conv.turns[-1].reply == "Paris is "
    assert records == [(conv.turns[-1], "error", "Paris is ")]  # once, by the reply


def test_ctrl_c_keeps_partial_and_the_kernel(
    shell: InteractiveShell, magics: ChatMagics, fake: FakeServer, records: Records
) -> None:
    fake.fault, fake.stall_seconds = "stall", 20
    threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()
    start = time.perf_counter()
    cap = run(shell, "-p Claude", "hi")
    assert time.perf_counter() - start < 10
    assert "stopped" in shown_of(cap) and shown_of(cap).startswith("Paris is")
    conv = get_conversation("Claude", "claude-x")
    assert conv is not None and conv.turns[-1].status == "stopped" and conv.turns[-1].reply == "Paris is "
    assert records == [(conv.turns[-1], "stopped", "Paris is ")]
    fake.fault = None
    assert run(shell, "-p Claude", "again").stdout == REPLY  # usable afterwards
    assert [(t.status, t.reply) for t in conv.turns] == [("stopped", "Paris is "), ("done", REPLY)]
    assert len(records) == 2


@pytest.mark.parametrize("line", ["-p Claude", "-p Claude --no-stream", "-p Claude --format text"])
def test_a_cell_only_shows_the_reply_which_records_itself(
    shell: InteractiveShell, magics: ChatMagics, fake: FakeServer, records: Records, line: str
) -> None:
    run(shell, line, "hi")
    conv = get_conversation("Claude", "claude-x")
    assert conv is not None and records == [(conv.turns[-1], "done", REPLY)] and len(conv) == 1
    turn = conv.turns[-1]
    assert turn.usage["output_tokens"] and turn.latency_s is not None


def test_ctrl_c_before_the_server_answers_is_one_line(
    shell: InteractiveShell, magics: ChatMagics, fake: FakeServer, records: Records
) -> None:
    fake.delay = 20
    threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()
    start = time.perf_counter()
    cap = run(shell, "-p Claude", "hi")
    assert time.perf_counter() - start < 10
    assert cap.stderr == "Claude: stopped before the server answered\n" and not cap.outputs
    conv = get_conversation("Claude", "claude-x")
    assert conv is not None and [(t.status, t.reply) for t in conv.turns] == [("stopped", "")] and records == []


def test_updates_are_coalesced(shell: InteractiveShell, magics: ChatMagics, store: ProviderStore) -> None:
    long_reply = " ".join(f"word{i}" for i in range(3000))
    with FakeServer("openai", models=["m"], reply=long_reply) as srv:
        store.add("Fast", base_url=srv.base_url, api_key="", models=["m"])
        magics.update_interval = 0.05
        cap = run(shell, "-p Fast", "go")
    stats = magics.last_stats
    assert cap.stdout == long_reply and stats.pieces == 3000
    assert stats.updates < 100, stats  # not one message per piece
    assert stats.bytes < 3 * len(long_reply.encode()) + 1000


def test_compare_runs_concurrently(shell: InteractiveShell, magics: ChatMagics, store: ProviderStore) -> None:
    with FakeServer("openai", models=["a"], reply="one") as s1, FakeServer("gemini", models=["b"], reply="two") as s2:
        s1.delay = s2.delay = 0.3
        store.add("S1", base_url=s1.base_url, api_key="", models=["a"])
        store.add("S2", type="gemini", base_url=s2.base_url, api_key="", models=["b"])
        start = time.perf_counter()
        cap = run(shell, "--compare S1:a,S2:b --out both", "Same prompt")
        elapsed = time.perf_counter() - start
    assert elapsed < 0.55, elapsed  # concurrent: about one request, not two
    assert shell.user_ns["both"] == {"S1 · a": "one", "S2 · b": "two"}
    html = "".join(o.data.get("text/html", "") for o in cap.outputs)
    assert "S1 · a" in html and "S2 · b" in html and "tokens" in html


def test_compare_columns_are_turns_of_each_models_conversation(
    shell: InteractiveShell, magics: ChatMagics, store: ProviderStore, records: Records
) -> None:
    with FakeServer("openai", models=["a"], reply="one") as s1, FakeServer("openai", models=["b"], reply="two") as s2:
        store.add("S1", base_url=s1.base_url, api_key="", models=["a"])
        store.add("S2", base_url=s2.base_url, api_key="", models=["b"])
        run(shell, "-p S1", "Before")
        run(shell, "--compare S1:a,S2:b", "Same prompt")
        run(shell, "-p S2", "After")
        contents = [[m["content"] for m in (r.body or {})["messages"]] for r in (*s1.requests, *s2.requests)]
        run(shell, "--compare S1:a,S2:b --new", "Afresh")
        fresh = [[m["content"] for m in (r.body or {})["messages"]] for r in (s1.requests[-1], s2.requests[-1])]
    assert contents == [
        ["Before"],
        ["Before", "one", "Same prompt"],  # S1's column continued S1's conversation
        ["Same prompt"],
        ["Same prompt", "two", "After"],  # and %%chat -p S2 continued from S2's column
    ]
    assert fresh == [["Afresh"], ["Afresh"]]  # --new starts each over
    c1, c2 = get_conversation("S1", "a"), get_conversation("S2", "b")
    assert c1 is not None and c2 is not None
    assert [(t.prompt, t.status, t.reply) for t in c1.turns] == [("Afresh", "done", "one")]
    assert len(records) == 6 and all(status == "done" for _, status, _ in records)


def test_ctrl_c_during_compare_records_every_column(
    shell: InteractiveShell, magics: ChatMagics, store: ProviderStore, records: Records
) -> None:
    with (
        FakeServer("openai", models=["a"], reply="one") as s1,
        FakeServer("openai", models=["b"], reply="alpha beta gamma") as s2,
        FakeServer("openai", models=["c"], reply="late") as s3,
    ):
        s2.fault, s2.stall_seconds = "stall", 20  # two words, then silence
        s3.delay = 2.5  # no answer yet when Ctrl-C comes: stopped as soon as it does
        for name, srv in (("S1", s1), ("S2", s2), ("S3", s3)):
            store.add(name, base_url=srv.base_url, api_key="", models=srv.models)
        threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()
        start = time.perf_counter()
        cap = run(shell, "--compare S1:a,S2:b,S3:c --out cols", "go")
        assert time.perf_counter() - start < 10
    assert shell.user_ns["cols"] == {"S1 · a": "one", "S2 · b": "alpha beta ", "S3 · c": ""}
    c1, c2 = get_conversation("S1", "a"), get_conversation("S2", "b")
    assert c1 is not None and c2 is not None
    assert [(t.status, t.reply) for t in c1.turns] == [("done", "one")]
    assert [(t.status, t.reply) for t in c2.turns] == [("stopped", "alpha beta ")]
    c3 = get_conversation("S3", "c")
    assert c3 is not None and [(t.status, t.reply) for t in c3.turns] == [("stopped", "")]
    assert sorted(status for _, status, _ in records) == ["done", "stopped", "stopped"]
    html = cap.outputs[-1].data["text/html"]  # the final view
    assert "alpha beta" in html and html.count(" · stopped") == 2  # S2 and S3 say so; S1 had finished


def test_format_code_and_text(shell: InteractiveShell, magics: ChatMagics, store: ProviderStore) -> None:
    with FakeServer("openai", models=["m"], reply="Here:\n```python\nprint(1)\n```\nDone.") as srv:
        store.add("F", base_url=srv.base_url, api_key="", models=["m"])
        cap = run(shell, "-p F --format code --no-stream", "code please")
        html = shown_html(cap.outputs)
        assert "<code>print(1)</code></pre>" in html and "Here:" not in html  # the code block alone, as code
        assert shown_of(cap).startswith("python")
        cap = run(shell, "-p F --format text", "text please")
        assert shown_html(cap.outputs) == "" and cap.stdout.startswith("Here:\n```python")


def test_html_in_replies_is_escaped(shell: InteractiveShell, magics: ChatMagics, store: ProviderStore) -> None:
    evil = "Hi <img src=x onerror=alert(1)> <script>alert(1)</script> [x](javascript:alert(1))"
    with FakeServer("openai", models=["m"], reply=evil) as srv:
        store.add("E", base_url=srv.base_url, api_key="", models=["m"])
        cap = run(shell, "-p E", "hi")
    html = shown_html(cap.outputs)
    assert "<img" not in html and "<script" not in html and "href" not in html
    assert "&lt;img" in html and shown_of(cap).startswith(evil)  # shown as written


def test_default_provider_from_config(shell: InteractiveShell, magics: ChatMagics, fake: FakeServer) -> None:
    magics.store.add("Other", base_url="http://127.0.0.1:9", api_key="", models=["m"])
    assert run(shell, "", "hi").stderr.startswith("provider: name the provider to use")
    shell.run_line_magic("config", 'ChatMagics.default_provider = "Claude"')
    try:
        assert run(shell, "", "hi").stdout == REPLY
    finally:
        magics.default_provider = None


def providers(shell: InteractiveShell, line: str) -> CapturedIO:
    with capture_output() as cap:
        shell.run_line_magic("providers", line)
    return cap


def test_providers_table_and_commands(shell: InteractiveShell, magics: ChatMagics, llama_server: object) -> None:
    url = getattr(llama_server, "base_url")  # noqa: B009
    cap = providers(shell, f"add vLLM --type openai --url {url}/ --key-env LOCAL_TEST_KEY --model smollm2")
    assert cap.stdout.startswith(f"added vLLM (openai): {url}/v1/chat/completions - key: none")
    os.environ["LOCAL_TEST_KEY"] = LOCAL_KEY
    try:
        assert providers(shell, "verify vLLM").stdout.startswith("vLLM: OK - smollm2 answered in ")
        cap = providers(shell, "")
        html = cap.outputs[0].data["text/html"]
        assert "vLLM" in html and f"{url}/v1/chat/completions" in html and "$LOCAL_TEST_KEY" in html
        assert LOCAL_KEY not in html + cap.outputs[0].data["text/plain"]
        assert "OK - smollm2" in html
        assert "the server offers 1: smollm2" in providers(shell, "models vLLM --fetch --add extra-1").stdout
        assert providers(shell, "models vLLM --remove extra-1").stdout.strip() == "vLLM models: smollm2"
        assert providers(shell, "disable vLLM").stdout.strip() == "vLLM disabled"
        assert providers(shell, "verify vLLM").stdout.startswith("vLLM: disabled")
        assert "TLS verification OFF" in providers(shell, "tls vLLM off").stdout
        assert "TLS verification OFF" in providers(shell, "").outputs[0].data["text/html"]
        assert providers(shell, "remove vLLM").stdout.strip() == "vLLM removed"
    finally:
        del os.environ["LOCAL_TEST_KEY"]


@pytest.mark.parametrize(
    "line",
    ["frobnicate", "add", "add X --type nope --url http://h", "verify Ghost", "models", "tls X maybe", "add 'unclosed"],
)
def test_providers_bad_input_prints_usage(shell: InteractiveShell, magics: ChatMagics, line: str) -> None:
    cap = providers(shell, line)
    assert cap.stderr.strip(), line
    assert "Traceback" not in cap.stderr
    assert len(magics.store) == 0


def test_load_ext_registers_and_yields_chat_to_another_owner(shell: InteractiveShell) -> None:
    import jupyter_providers

    def other(line: str, cell: str) -> str:
        return "other"

    shell.register_magic_function(other, "cell", "chat")
    with capture_output() as cap:
        jupyter_providers.load_ipython_extension(shell)
    assert "%%chat is already taken" in cap.stderr
    mm = shell.magics_manager.magics
    assert mm["cell"]["chat"] is not None and getattr(mm["cell"]["chat"], "__name__", "") == "other"
    assert "llm_chat" in mm["cell"] and "providers" in mm["line"]
    jupyter_providers.unload_ipython_extension(shell)
    del mm["cell"]["chat"]


def test_images_in_replies_are_not_fetched(shell: InteractiveShell, magics: ChatMagics, store: ProviderStore) -> None:
    with FakeServer("openai", models=["m"], reply="Look ![chart](https://example.invalid/leak?d=secret)") as srv:
        store.add("I", base_url=srv.base_url, api_key="", models=["m"])
        cap = run(shell, "-p I", "hi")
    assert "<img" not in shown_html(cap.outputs) and "example.invalid" not in shown_html(cap.outputs)
    assert "[image: chart]" in shown_of(cap)


def test_long_reply_sends_markdown_once_and_a_bounded_plain_copy(
    shell: InteractiveShell, magics: ChatMagics, store: ProviderStore
) -> None:
    from jupyter_providers._chat_view import PLAIN_CHARS

    long = "word " * 3000  # 15,000 characters
    with FakeServer("openai", models=["m"], reply=long) as srv:
        store.add("L", base_url=srv.base_url, api_key="", models=["m"])
        cap = run(shell, "-p L", "hi")
        quiet = run(shell, "-p L --no-stream --new", "hi")
        text = run(shell, "-p L --new --format text", "hi")
    assert cap.stdout == long  # the whole reply streamed
    assert shown_of(cap).startswith(long.rstrip())  # and rendered whole
    plain = cap.outputs[-1].data["text/plain"]
    assert plain.startswith(long[:PLAIN_CHARS]) and len(plain) < PLAIN_CHARS + 120
    assert f"{len(long) - PLAIN_CHARS:,} more characters (printed above while it streamed" in plain
    assert "shown in full by --format text" in quiet.outputs[-1].data["text/plain"]
    assert text.stdout.startswith(long) and "[L · m" in text.stdout  # --format text: the text once, whole
    assert not text.outputs and magics.last_stats.displays == 0


def test_short_reply_keeps_its_whole_plain_copy(shell: InteractiveShell, magics: ChatMagics, fake: FakeServer) -> None:
    cap = run(shell, "-p Claude", "hi")
    assert cap.outputs[-1].data["text/plain"] == REPLY


def test_providers_add_says_when_the_sdk_variable_is_not_sent(
    shell: InteractiveShell, magics: ChatMagics, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-not-for-local-1234")
    out = providers(shell, "add Local --url http://localhost:8000/ --model m").stdout
    assert "key: none ($OPENAI_API_KEY is not sent here: --key-env OPENAI_API_KEY sends it)" in out
    assert "$OPENAI_API_KEY is not sent here" in providers(shell, "").outputs[0].data["text/html"]
    assert "sk-env" not in out
    out = providers(shell, "add Cloud --model gpt-4o-mini").stdout  # the official address: the variable is used
    assert out.rstrip().endswith("key: $OPENAI_API_KEY")


def test_stream_updates_never_cut_a_link_in_two(capsys: pytest.CaptureFixture[str]) -> None:
    """A front end joins stream pieces before it links URLs: a scheme split over two updates is still caught."""
    from jupyter_providers.magics import StreamStats, _StreamPrinter

    printer = _StreamPrinter(0.0, StreamStats())
    for piece in ["click ", "javascript:", "//%0aalert(1) ", "or ", "da", "ta:text/html,x", " end"]:
        printer.add(piece)
    printer.done()
    out = capsys.readouterr().out
    assert "javascript://" not in out and "data:" not in out
    assert out.replace("\u2060", "") == "click javascript://%0aalert(1) or data:text/html,x end"
