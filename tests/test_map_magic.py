"""``%%chat --map df --out answers``: the cell is chat_map's template over the columns, not over notebook variables."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from jupyter_providers import MapResult, ProviderStore
from jupyter_providers.magics import ChatMagics

from .fakes import FakeServer


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    return InteractiveShell.instance()


@pytest.fixture
def fake(store: ProviderStore) -> Iterator[FakeServer]:
    with FakeServer("openai", models=["m"]) as srv:
        srv.reply_for = lambda body: "got: " + body["messages"][-1]["content"]
        store.add("F", type="openai", base_url=srv.base_url, api_key="sk-magic-map-1", models=["m"])
        yield srv


@pytest.fixture
def magics(shell: InteractiveShell, store: ProviderStore) -> ChatMagics:
    m = ChatMagics(shell, store=store)
    shell.register_magics(m)
    return m


def run(shell: InteractiveShell, line: str, cell: str) -> tuple[str, str]:
    with capture_output() as cap:
        shell.run_cell_magic("chat", line, cell)
    return cap.stdout, cap.stderr


def test_the_fields_are_the_columns_not_the_notebooks_variables(
    shell: InteractiveShell, magics: ChatMagics, fake: FakeServer
) -> None:
    pd = pytest.importorskip("pandas")
    shell.user_ns.update(df=pd.DataFrame({"text": ["great", "awful"]}, index=[10, 20]), text="A VARIABLE")
    _, err = run(shell, "--map df --out answers -p F --max-tokens 20", "Classify {text} as {{good|bad}}\n")
    answers: Any = shell.user_ns["answers"]
    assert isinstance(answers, pd.DataFrame) and list(answers.index) == [10, 20]
    assert list(answers["reply"]) == ["got: Classify great as {good|bad}", "got: Classify awful as {good|bad}"]
    assert "A VARIABLE" not in repr([r.body for r in fake.requests])
    assert all(r.body and r.body.get("max_tokens", r.body.get("max_completion_tokens")) == 20 for r in fake.requests)
    assert "2/2" in err  # the terminal's bar (no notebook here)


def test_a_list_gives_a_list_and_a_missing_column_sends_nothing(
    shell: InteractiveShell, magics: ChatMagics, fake: FakeServer
) -> None:
    shell.user_ns.update(rows=[{"q": "one"}, {"q": "two"}], words=["x", "y"])
    run(shell, "--map words --out got -p F", "Say {}")
    got: Any = shell.user_ns["got"]
    assert [r.text for r in got] == ["got: Say x", "got: Say y"] and isinstance(got[0], MapResult)
    n = len(fake.requests)
    _, err = run(shell, "--map rows --out got2 -p F", "Say {text}")
    assert err.strip().splitlines() == [
        "prompt: row 0: no field 'text' for {text} (the fields: q); write {{ and }} for literal braces"
    ]
    assert len(fake.requests) == n and "got2" not in shell.user_ns
    _, err = run(shell, "--map nowhere -p F", "Say {q}")
    assert "--map: nowhere is not defined in the notebook" in err
    _, err = run(shell, "--map rows -p F --compare F:m,F:n", "Say {q}")
    assert "leave out --compare" in err
    assert len(fake.requests) == n


@dataclasses.dataclass
class Label:
    label: str
    sure: bool


def test_schema_and_attach_go_to_every_row(shell: InteractiveShell, magics: ChatMagics, fake: FakeServer) -> None:
    pd = pytest.importorskip("pandas")
    fake.reply_for = lambda body: json.dumps({"label": body["messages"][-1]["content"][:7], "sure": True})
    shell.user_ns.update(df=pd.DataFrame({"text": ["alpha", "beta"]}), Label=Label, ref=pd.DataFrame({"k": ["v9"]}))
    _, err = run(shell, "--map df --out got -p F --schema Label --attach ref", "Label {text}")
    got: Any = shell.user_ns["got"]
    assert list(got.columns[:2]) == ["label", "sure"] and list(got["label"]) == ["Label a", "Label b"]
    assert list(got["sure"]) == [True, True] and got["error"].isna().all()
    for req in fake.requests:  # the schema and the attached table went with each row
        assert req.body and req.body["response_format"]["json_schema"]["name"] == "Label"
        assert "v9" in req.body["messages"][-1]["content"]
    n = len(fake.requests)
    _, err = run(shell, "--map df --out got3 -p F --schema Nowhere", "Label {text}")
    assert err.strip() == "--schema: Nowhere is not defined in the notebook" and len(fake.requests) == n


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("-p F --concurrency 4", "--concurrency: only with --map (the most rows in flight at once)"),
        ("--compare F:m,F:n --concurrency 2", "--concurrency: only with --map (the most rows in flight at once)"),
        ("--compare F:m,F:n -p F", "--provider: --compare names each model as PROVIDER:MODEL - leave out --provider"),
        ("--compare F:m,F:n -m m", "--model: --compare names each model as PROVIDER:MODEL - leave out --model"),
        ("--compare F:m,F:n --schema Label", "--schema: one model at a time - leave out --compare, or ask each "
         "model in its own cell"),
        ("--compare F:m,F:n --format text", "--format: --compare shows every reply as Markdown - leave out --format"),
        ("--compare F:m,F:n --no-stream", "--no-stream: --compare always streams its replies - leave out --no-stream"),
        ("--map rows -p F --new", "--new: each --map row is asked on its own, outside any conversation - leave out "
         "--new"),
        ("--map rows -p F --format code", "--format: --map gives a table (--out keeps it) - leave out --format"),
        ("--map rows -p F --no-stream", "--no-stream: --map never streams: each row's whole reply goes in the table "
         "- leave it out"),
    ],
)  # fmt: skip
def test_an_option_the_mode_would_ignore_is_refused(
    shell: InteractiveShell, magics: ChatMagics, fake: FakeServer, line: str, message: str
) -> None:
    shell.user_ns.update(rows=[{"q": "one"}], Label=Label)
    out, err = run(shell, line, "Say {q}")
    assert err.strip().splitlines() == [message] and out == ""
    assert fake.requests == []
