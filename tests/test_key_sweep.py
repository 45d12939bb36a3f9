"""The end-of-run key sweep (tests/_key_sweep.py) finds what it is meant to find."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from ._key_sweep import defined_keys, sweep
from .conftest import LOCAL_KEY


def test_the_keys_are_the_test_modules_keys() -> None:
    keys = defined_keys()
    assert LOCAL_KEY in keys and len(keys) >= 20
    assert not any(" " in k for k in keys)  # an error message quoted in a constant is not a key


def test_a_key_in_a_ledger_a_notebook_or_a_log_is_found_and_keys_json_is_not_searched() -> None:
    with tempfile.TemporaryDirectory() as tmp:  # not under the run's base directory, which the real sweep searches
        _planted_keys_are_found(Path(tmp))


def _planted_keys_are_found(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "usage.sqlite")
    db.execute("CREATE TABLE t (x TEXT)")
    db.execute("INSERT INTO t VALUES (?)", (f"error: {LOCAL_KEY}",))
    db.commit()
    db.close()
    (tmp_path / "nb").mkdir()
    (tmp_path / "nb" / "a.ipynb").write_text('{"cells": []}')
    (tmp_path / "nb" / "kernel.log").write_text(f"Authorization: Bearer {LOCAL_KEY}\n")
    (tmp_path / "keys.json").write_text(f'{{"local": "{LOCAL_KEY}"}}')  # where a key belongs
    hits = sweep(tmp_path, [LOCAL_KEY, "sk-not-there-000000"])
    assert sorted(Path(h.split(": ", 1)[0]).name for h in hits) == ["kernel.log", "usage.sqlite"]
