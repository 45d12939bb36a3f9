"""The XSS corpus (tests/data/xss/vectors.json, sources in SOURCES.md) and the Markdown contexts each
vector is also sent in: the places where a regex's guess and CommonMark disagree."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

VECTORS_FILE = Path(__file__).resolve().parent / "data" / "xss" / "vectors.json"

#: name -> how a reply wraps the vector (the issue's failing replies are the first two)
CONTEXTS: dict[str, Callable[[str], str]] = {
    "plain": lambda v: v,
    "span-1-2": lambda v: f"`{v}``",
    "span-2-1": lambda v: f"``{v}`",
    "span-escaped": lambda v: f"\\`{v}`",
    "fence": lambda v: f"```\n{v}\n```",
    "fence-closed-short": lambda v: f"```\n{v}\n``",
    "fence-in-list": lambda v: f"- ```\n  {v}\n  ```\n- after",
    "list-item": lambda v: f"1. {v}\n2. two",
    "quote": lambda v: f"> {v}",
    "link-dest": lambda v: f"[x]({v})",
    "link-title": lambda v: f'[x](https://ok.example "{v}")',
    "ref-def": lambda v: f"[x]\n\n[x]: {v}",
    "table-cell": lambda v: f"| a | b |\n|---|---|\n| {v} | `{v}` |",
    "emphasis": lambda v: f"*{v}* **{v}**",
}


def load_vectors() -> list[dict[str, str]]:
    vectors: list[dict[str, str]] = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))
    return vectors
