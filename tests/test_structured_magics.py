"""``%%chat --schema NAME``: the parsed value goes to ``--out`` and shows as a small table, every value through the
safe render path; a reply that does not match is one line on stderr and leaves ``--out`` alone."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Literal

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from jupyter_providers import ProviderStore
from jupyter_providers import client as client_module
from jupyter_providers._data_view import DataTable
from jupyter_providers.conversation import reset_conversations
from jupyter_providers.magics import ChatMagics

from ._shown import shown_html, shown_text
from .fakes import FakeServer


@dataclasses.dataclass
class City:
    name: str
    country: str
    population: int
    size: Literal["small", "big"]


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    return InteractiveShell.instance()


@pytest.fixture
def served(shell: InteractiveShell, store: ProviderStore) -> Iterator[FakeServer]:
    client_module._schema_forms.clear()
    shell.register_magics(ChatMagics(shell, store=store))
    reset_conversations()
    with FakeServer("openai", api_key="sk-1", models=["m"]) as srv:
        store.add("P", type="openai", base_url=srv.base_url, api_key="sk-1", models=["m"])
        shell.user_ns["City"] = City
        shell.user_ns.pop("city", None)
        yield srv
    reset_conversations()


def run(shell: InteractiveShell, line: str, cell: str) -> tuple[str, str, list[object]]:
    with capture_output() as cap:
        shell.run_cell_magic("chat", line, cell)
    return cap.stdout, cap.stderr, cap.outputs


def test_the_value_goes_to_out_and_shows_as_a_table(shell: InteractiveShell, served: FakeServer) -> None:
    served.schema_reply = json.dumps({"name": "Paris", "country": "France", "population": 2100000, "size": "big"})
    stdout, stderr, outputs = run(shell, "--provider P --schema City --out city", "Tell me about Paris.")
    assert stderr == "" and shell.user_ns["city"] == City("Paris", "France", 2100000, "big")
    assert served.requests[-1].body["response_format"]["json_schema"]["name"] == "City"  # type: ignore[index]
    html = shown_html(outputs)
    assert "jp-providers-data" in html and "<td style='text-align:left'>Paris</td>" in html
    assert "2100000" in shown_text(outputs) and '"name": "Paris"' in stdout.replace("\x1b[2K\r", "")


def test_a_hostile_value_is_text_in_the_table(shell: InteractiveShell, served: FakeServer) -> None:
    evil = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    served.schema_reply = json.dumps({"name": evil, "country": "\x1b[31mred", "population": 1, "size": "small"})
    _, _, outputs = run(shell, "--provider P --schema City --out city", "Tell me.")
    html = shown_html(outputs)
    assert "<img" not in html and "<script" not in html and "&lt;img src=x" in html
    assert shell.user_ns["city"].name == evil  # the value itself is untouched
    assert "\x1b" not in repr(DataTable(shell.user_ns["city"]))


def test_a_reply_that_does_not_match_is_one_line_and_out_is_left_alone(
    shell: InteractiveShell, served: FakeServer
) -> None:
    served.schema_reply = '{"name": "Paris"}'
    for line in ("--provider P --schema City --out city", "--provider P --schema City --out city --no-stream"):
        _, stderr, _ = run(shell, line, "Tell me about Paris.")
        assert "does not match the schema" in stderr and len(stderr.strip().splitlines()) == 1
        assert "city" not in shell.user_ns


def test_an_undefined_schema_variable_is_named(shell: InteractiveShell, served: FakeServer) -> None:
    _, stderr, _ = run(shell, "--provider P --schema Nope", "hi")
    assert stderr.strip() == "--schema: Nope is not defined in the notebook" and served.requests == []


def test_the_table_of_a_list_of_objects_and_of_a_scalar() -> None:
    rows = DataTable([{"a": 1, "b": "x"}, {"a": 2, "c": [1, 2]}])
    assert rows.columns == ["a", "b", "c"] and rows.rows == [["1", "x", ""], ["2", "", "[1, 2]"]]
    assert repr(rows).splitlines()[0].split() == ["a", "b", "c"]
    assert DataTable("yes").rows == [["yes"]] and DataTable(None).rows == [["null"]]
    many = DataTable([{"i": i} for i in range(60)])
    assert len(many.rows) == 50 and "10 more rows" in repr(many) and "10 more rows" in many._repr_html_()
