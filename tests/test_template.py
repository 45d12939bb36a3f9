"""A map's template over a DataFrame's columns (jupyter_providers/_template.py): columns named like numbers or with
dots, duplicate columns, and missing values (NaN, ``pd.NA``, polars nulls), against a fake server."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_providers import InvalidValueError, ProviderStore, chat_map
from jupyter_providers._template import is_missing, render_prompts
from tests.fakes.server import FakeServer


def _prompt(body: dict[str, Any]) -> str:
    return str([m for m in body.get("messages", []) if m.get("role") == "user"][-1]["content"])


@pytest.fixture
def fake(store: ProviderStore) -> Iterator[FakeServer]:
    with FakeServer("openai", models=["m"]) as srv:
        srv.reply_for = lambda body: f"answer to {_prompt(body)}"
        store.add("F", type="openai", base_url=srv.base_url, api_key="sk-template-1", models=["m"])
        yield srv


def sent(fake: FakeServer) -> list[str]:
    return sorted(_prompt(r.body) for r in fake.requests if r.body)


def test_a_column_named_0_or_a_dot_b_is_its_whole_name(store: ProviderStore, fake: FakeServer) -> None:
    pd = pytest.importorskip("pandas")
    out = chat_map(pd.DataFrame([[1, 2]]), "{0} and {1:>3}", provider="F", progress=False, store=store)
    assert out.loc[0, "reply"] == "answer to 1 and   2"
    df = pd.DataFrame({"a.b": ["x"], "c[0]": ["y"], "d": [{"k": "nested"}]})
    out = chat_map(df, "{a.b} {c[0]} {d[k]}", provider="F", progress=False, store=store)
    assert out.loc[0, "reply"] == "answer to x y nested"


def test_a_field_that_is_no_column_names_the_whole_field(store: ProviderStore, fake: FakeServer) -> None:
    pd = pytest.importorskip("pandas")
    with pytest.raises(InvalidValueError, match=r"^prompt: row 0: no field 'a.b' for \{a.b\} \(the fields: x\)"):
        chat_map(pd.DataFrame({"x": [1]}), "{a.b}", provider="F", progress=False, store=store)
    with pytest.raises(InvalidValueError, match=r"no field '2' for \{2\} \(the fields: 0, 1\)"):
        chat_map(pd.DataFrame([[1, 2]]), "{2}", provider="F", progress=False, store=store)
    with pytest.raises(InvalidValueError, match=r"the column 'a:b' cannot be written in a template - rename it"):
        chat_map(pd.DataFrame({"a:b": [1]}), "{a:b}", provider="F", progress=False, store=store)
    with pytest.raises(InvalidValueError, match=r"\{\} stands for a string row"):
        chat_map(pd.DataFrame([[1, 2]]), "{} {}", provider="F", progress=False, store=store)
    assert fake.requests == []


def test_a_named_field_of_a_string_row_says_the_row_is_a_string(store: ProviderStore, fake: FakeServer) -> None:
    """A list of strings (or a Series) has no named field: the error says what a string row is, not '(the fields: )'."""
    for rows in (["a"], pytest.importorskip("pandas").Series(["a"], name="text")):
        with pytest.raises(InvalidValueError) as err:
            chat_map(rows, "{text}", provider="F", progress=False, store=store)
        assert str(err.value) == "prompt: row 0: no field 'text' for {text}: the row is a string, which is {} or {item}"
    assert render_prompts(["a"], "{} / {item}").prompts == ["a / a"]
    assert fake.requests == []


def test_duplicate_column_names_are_refused_in_one_line(store: ProviderStore, fake: FakeServer) -> None:
    pd = pytest.importorskip("pandas")
    twice = pd.DataFrame([[1, 2, 3]], columns=["a", "b", "a"])
    with pytest.raises(InvalidValueError, match=r"^items: the column 'a' is there more than once; rename one"):
        chat_map(twice, "{b}", provider="F", progress=False, store=store)
    alike = pd.DataFrame([[1, 2]], columns=[0, "0"])
    with pytest.raises(InvalidValueError, match=r"^items: the columns 0 and '0' are both '0' in a template"):
        chat_map(alike, "{0}", provider="F", progress=False, store=store)
    assert fake.requests == []


def test_a_missing_value_is_not_sent_and_its_row_says_which_column(store: ProviderStore, fake: FakeServer) -> None:
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(
        {
            "text": pd.Series(["good", math.nan, "fine", None, "ok"], index=list("abcde"), dtype=object),
            "n": pd.array([1, 2, 3, 4, pd.NA], dtype="Int64"),
            "unused": [math.nan] * 5,
        },
        index=list("abcde"),
    )
    out = chat_map(df, "{text} ({n})", provider="F", progress=False, store=store)
    assert sent(fake) == ["fine (3)", "good (1)"]  # nothing of a missing value was sent: no "nan", no "<NA>"
    assert list(out["reply"].isna()) == [False, True, False, True, True]
    assert out.loc["b", "error"] == "column 'text' is missing (NaN); not sent"
    assert out.loc["d", "error"] == "column 'text' is missing (None); not sent"
    assert out.loc["e", "error"] == "column 'n' is missing (<NA>); not sent"
    assert pd.isna(out.loc["a", "error"]) and pd.isna(out.loc["e", "input_tokens"])
    rows = chat_map(df.to_dict("records"), "{text}", provider="F", progress=False, store=store)
    assert [r.attempts for r in rows] == [1, 0, 1, 0, 1] and rows[1].error == "field 'text' is missing (NaN); not sent"
    series = chat_map(df["text"], "Say {}", provider="F", progress=False, store=store)
    assert series.loc["b", "error"] == "the value is missing (NaN); not sent" and series.loc["c", "reply"]


def test_polars_nulls_are_not_sent(store: ProviderStore, fake: FakeServer) -> None:
    pl = pytest.importorskip("polars", reason="polars is not installed")
    df = pl.DataFrame({"text": ["x", None, "z"], "score": [1.0, 2.0, float("nan")]})
    out = chat_map(df, "{text} {score}", provider="F", progress=False, store=store)
    assert sent(fake) == ["x 1.0"]
    assert out["error"].to_list() == [
        None, "column 'text' is missing (null); not sent", "column 'score' is missing (NaN); not sent",
    ]  # fmt: skip
    assert out["reply"].to_list() == ["answer to x 1.0", None, None]


def test_a_map_of_only_missing_rows_sends_nothing_and_counts_them_failed(
    store: ProviderStore, fake: FakeServer
) -> None:
    from jupyter_providers._progress import MapStats

    closed: list[MapStats] = []

    class Bar:
        def on_stop(self, stop: object) -> None: ...
        def show(self, s: MapStats) -> None: ...
        def close(self, s: MapStats) -> None:
            closed.append(s)

    out = chat_map([{"q": None}, {"q": float("nan")}], "{q}", provider="F", progress=Bar(), store=store)
    assert [r.attempts for r in out] == [0, 0] and all(not r.ok for r in out) and fake.requests == []
    assert closed and (closed[0].total, closed[0].done, closed[0].failed) == (2, 2, 2)


def test_what_counts_as_missing() -> None:
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    for value in (None, math.nan, np.float32("nan"), np.nan, pd.NA, pd.NaT, np.datetime64("NaT")):
        assert is_missing(value), value
    for value in ("", 0, 0.0, "nan", False, np.array([np.nan]), pd.Timestamp(0), [None]):
        assert not is_missing(value), value
    assert render_prompts(["a", "b"], "<{}>").prompts == ["<a>", "<b>"]
