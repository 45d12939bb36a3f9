"""After the whole run: every file the tests left that must never hold a key - the answer caches and usage
ledgers (``*.sqlite`` and their ``-wal``/``-shm``), notebooks, ``providers.json`` and logs - is searched for
every key any test module defines (a module-level ``...KEY... = "..."``). Each module already checks its own
key where it writes; this catches the files nobody looked at (a kernel's ledger, a cache beside a notebook)."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def defined_keys(root: Path = TESTS) -> set[str]:
    """The keys the test modules define: string constants named ``*KEY*`` that look like keys (no spaces)."""
    keys = set()
    for path in root.rglob("*.py"):
        for node in ast.parse(path.read_text("utf-8")).body:
            if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)):
                continue
            value = node.value.value
            named = any(isinstance(t, ast.Name) and "KEY" in t.id for t in node.targets)
            if named and isinstance(value, str) and len(value) >= 12 and " " not in value:
                keys.add(value)
    return keys


def must_hold_no_key(path: Path) -> bool:
    name = path.name
    return ".sqlite" in name or name.endswith((".ipynb", ".log")) or name == "providers.json"


def sweep(base: Path, keys: Iterable[str]) -> list[str]:
    """``file: key`` for every key found in a file under ``base`` that must hold none."""
    wanted = [(k, k.encode()) for k in keys]
    hits = []
    for path in base.rglob("*"):
        if path.is_file() and not path.is_symlink() and must_hold_no_key(path):
            data = path.read_bytes()
            hits += [f"{path}: {k}" for k, raw in wanted if raw in data]
    return hits
