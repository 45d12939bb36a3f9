"""Rebuild vectors.json from clones of the public lists named in SOURCES.md.

    python tests/data/xss/extract.py H5SC OWASP_CSS PORTSWIGGER PATT COMMONMARK

each argument the path of a git clone (see SOURCES.md for the repositories and commits). The
file it writes is committed: tests never need the clones, nor the network.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FENCE = re.compile(r"^```[a-z]*\n(.*?)\n```", re.M | re.S)
# the CommonMark sections whose examples touch code spans, fences, raw HTML, links, escapes and entities
SPEC_SECTIONS = {
    "Backslash escapes", "Entity and numeric character references", "Fenced code blocks", "Indented code blocks",
    "HTML blocks", "Link reference definitions", "Code spans", "Links", "Images", "Autolinks", "Raw HTML",
    "List items", "Tabs",
}  # fmt: skip
# PortSwigger's cheat sheet: the categories that are about markup (its events list is sampled: one per event)
PORTSWIGGER_FILES = [
    "classic", "protocols", "encodings", "obfuscation", "polyglot", "useful_tags", "special_tags", "consuming_tags",
    "dangling_markup", "restricted_characters", "events",
]  # fmt: skip
PATT_FILES = ["RSNAKE_XSS.txt", "BRUTELOGIC-XSS-STRINGS.txt", "XSS_Polyglots.txt", "xss_payloads_quick.txt"]


def _v(id_: str, source: str, vector: str) -> dict[str, str]:
    return {"id": id_, "source": source, "vector": vector}


def h5sc(root: Path) -> list[dict[str, str]]:
    text = (root / "vectors.txt").read_text(encoding="utf-8", errors="replace")
    out = []
    for m in re.finditer(r'<div id="(\d+)">(.*?)//\["\'`-->\]\]>\]</div>', text, re.S):
        out.append(_v(f"h5sc-{m.group(1)}", "html5sec.org (cure53/H5SC vectors.txt)", m.group(2)))
    return out


def owasp(root: Path) -> list[dict[str, str]]:
    text = (root / "cheatsheets" / "XSS_Filter_Evasion_Cheat_Sheet.md").read_text(encoding="utf-8")
    out = []
    for i, m in enumerate(FENCE.finditer(text), 1):
        out.append({"id": f"owasp-{i}", "source": "OWASP XSS Filter Evasion Cheat Sheet", "vector": m.group(1)})
    return out


def portswigger(root: Path) -> list[dict[str, str]]:
    out = []
    for name in PORTSWIGGER_FILES:
        items = json.loads((root / "json" / f"{name}.json").read_text(encoding="utf-8"))
        if isinstance(items, dict):  # events.json: {event: {tags...}}
            items = [{"code": v.get("tags", [{}])[0].get("code", "")} for v in items.values() if isinstance(v, dict)]
        for i, item in enumerate(items, 1):
            code = item.get("code", "")
            if code:
                out.append(_v(f"portswigger-{name}-{i}", f"PortSwigger XSS cheat sheet ({name})", code))
    return out


def patt(root: Path) -> list[dict[str, str]]:
    out = []
    for name in PATT_FILES:
        lines = (root / "XSS Injection" / "Intruders" / name).read_text(encoding="utf-8", errors="replace").splitlines()
        for i, line in enumerate(lines, 1):
            if line.strip():
                out.append(_v(f"patt-{name.split('.')[0]}-{i}", f"PayloadsAllTheThings ({name})", line))
    return out


def commonmark(root: Path) -> list[dict[str, str]]:
    text = (root / "spec.txt").read_text(encoding="utf-8")
    out = []
    section = ""
    pos = 0
    example = re.compile(r"^`{32} example\n(.*?)^\.\n(.*?)^`{32}$", re.M | re.S)
    heading = re.compile(r"^#{1,2} (.+)$", re.M)
    for n, m in enumerate(example.finditer(text), 1):
        for h in heading.finditer(text, pos, m.start()):
            section = h.group(1).strip()
        pos = m.end()
        if section in SPEC_SECTIONS:
            src = m.group(1).replace("→", "\t")
            out.append({"id": f"commonmark-{n}", "source": f"CommonMark spec example {n} ({section})", "vector": src})
    return out


def main(h5: str, ow: str, ps: str, pa: str, cm: str) -> None:
    vectors = h5sc(Path(h5)) + owasp(Path(ow)) + portswigger(Path(ps)) + patt(Path(pa)) + commonmark(Path(cm))
    vectors += json.loads((HERE / "commonmark_attacks.json").read_text(encoding="utf-8"))
    seen: set[str] = set()
    unique = []
    for v in vectors:
        if v["vector"] not in seen:
            seen.add(v["vector"])
            unique.append(v)
    (HERE / "vectors.json").write_text(json.dumps(unique, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
    print(len(unique), "vectors")


if __name__ == "__main__":
    main(*sys.argv[1:])
