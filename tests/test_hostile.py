"""Hostile servers: every scenario through every surface, measured in a separate process.

A loopback fake (tests/fakes/hostile.py) plays the hostile server in this process, in each type's own
protocol (its answers, SSE events or NDJSON lines, lists and errors); a worker process
(tests/_hostile_worker.py) is the user: it runs one surface per cell - ``chat()``, ``chat(stream=True)``,
``store.verify``, ``store.fetch_models`` and ``%providers`` - and reports what the user reads, the time
the call took and its peak extra memory (the kernel's peak resident size, reset before each cell).
Every cell must end within the deadline + 50 %, under 300 MB, with a one-line message of the expected
kind; ``%providers verify`` checks three hostile providers and a good one at once, and the good one must
still be verified. The cells make ``docs/hostile.md``; its numbers are those of the run that last
changed the rest of it (they are checked against the bounds in every run, not against the file).

The cheap scenarios run for every type in the registry; the ones that cost seconds or a bomb's worth of
CPU (``HEAVY``) for the first type of each stream framing (SSE, NDJSON): they exercise the transport and
the decoder of the framing, which the types of one framing share.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jupyter_providers.adapters import TYPES

from ._docs import check_generated
from .fakes.hostile import HostileServer

DEADLINE = 2.0  # chat(timeout=), verify_timeout: the deadline of every cell
MAX_MB = 300
SURFACES = ("chat", "stream", "verify", "models", "providers")
TITLES = {
    "chat": "`chat()`",
    "stream": "`chat(stream=True)`",
    "verify": "`store.verify`",
    "models": "`store.fetch_models`",
    "providers": "`%providers`",
}
DOCS = Path(__file__).resolve().parent.parent / "docs" / "hostile.md"
WORKER = Path(__file__).resolve().parent / "_hostile_worker.py"

BIG = r"is over 32 MB - raise jupyter_providers\.client\.settings\.max_response_bytes to allow more"
LINE = r"a line of the stream is over 8 MB - the partial reply is kept; raise .*settings\.max_event_bytes"
LATE = rf"no answer from 127\.0\.0\.1 within {DEADLINE:g} s, the deadline of the whole call"
NESTED = r"nested too deeply to read"  # a body ("is JSON nested..."), or a stream read as NDJSON lines ("an event")
#: scenarios that cost seconds (a deadline waited out) or a bomb's decompression: run for one type a framing
HEAVY = frozenset({"gzip_bomb", "deflate_bomb", "long_line", "endless", "drip", "drip_headers", "huge_error"})
FRAMINGS = {s.stream_format: name for name, s in reversed(TYPES.items())}  # the first type of each framing
RATE = r"rate limited \(429: Rate limit reached\)"


@dataclass(frozen=True)
class Want:
    """What a cell must give: the kind, the error class (``None``: a verdict or success) and the message."""

    kind: str
    error: str | None = None
    says: str = ""
    partial: bool = False  # a stream keeps the text received before the failure


def _w(kind: str, error: str | None = None, says: str = "", partial: bool = False) -> Want:
    return Want(kind, error, says, partial)


def same_for_all(kind: str, error: str, says: str, stream: Want | None = None, **only: Want) -> dict[str, Want]:
    """One expectation for every surface (verify and %providers give a verdict, not an error)."""
    wants = {s: _w(kind, None if s in ("verify", "providers") else error, says) for s in SURFACES}
    if stream is not None:
        wants["stream"] = stream
    wants.update(only)
    return wants


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    server: str
    wants: dict[str, Want]


def _retry(value: str, says: str) -> Scenario:
    return Scenario(
        f"retry_{value}",
        f"`retry-after: {dict(RETRY_VALUES)[value]}`",
        "429 with that header",
        same_for_all("rate_limited", "RateLimitError", RATE + says),
    )


RETRY_VALUES = [
    ("nan", "nan"),
    ("inf", "inf"),
    ("negative", "-5"),
    ("huge", "1e12"),
    ("past", "a date in 2015"),
    ("garbage", "soon-ish"),
]
SCENARIOS = [
    Scenario("gzip_bomb", "gzip bomb", "1 GB of spaces sent as 1 MB of gzip",
             same_for_all("bad_response", "BadResponseError", BIG, _w("bad_response", "BadResponseError", LINE))),
    Scenario("deflate_bomb", "deflate bomb", "1 GB of spaces sent as 1 MB of deflate",
             same_for_all("bad_response", "BadResponseError", BIG, _w("bad_response", "BadResponseError", LINE))),
    Scenario("long_line", "a 200 MB line", "200 MB without a line break",
             same_for_all("bad_response", "BadResponseError", BIG, _w("bad_response", "BadResponseError", LINE))),
    Scenario("endless", "an endless answer", "a body (or a stream of 1,000-character events) without end",
             same_for_all("bad_response", "BadResponseError", BIG, _w(
                 "bad_response", "BadResponseError",
                 r"the reply is over 16,000,000 characters - the partial reply is kept; raise .*max_reply_chars",
                 partial=True))),
    Scenario("drip", "a dripping server", "one byte every 20 ms, never done (a stream: its start and first "
             "piece at once)",
             same_for_all("timeout", "ProviderTimeoutError", LATE, _w(
                 "timeout", "ProviderTimeoutError",
                 rf"the reply did not finish within {DEADLINE:g} s, the deadline of the whole call - the partial "
                 "reply is kept", partial=True))),
    Scenario("drip_headers", "a server dripping its headers", "answered once, then on the same (pooled) "
             "connection sends a header one byte every 20 ms", same_for_all("timeout", "ProviderTimeoutError", LATE)),
    Scenario("nest_200", "nesting bomb, status 200", "`[[[[...]]]]` 100,000 deep as the answer",
             same_for_all("bad_response", "BadResponseError", NESTED)),
    Scenario("nest_500", "nesting bomb, status 500", "`{\"error\": [[[[...]]]]}` as a 500 answer",
             same_for_all("server_error", "ServerError", r"server error \(500: \{\"error\": \[\[\[.*\) - try again")),
    Scenario("nest_stream", "nesting bomb mid-stream", "two text events, then an event 100,000 deep",
             {"stream": _w("bad_response", "BadResponseError", r"nested too deeply to read - the partial reply is "
                           "kept", partial=True)}),
    Scenario("huge_error", "a huge error body", "a 300 MB error message with status 500",
             same_for_all("server_error", "ServerError",
                          r"server error \(500: \{\"error\": ?(\{.*)?\"overloaded overloaded .*\) - try again later")),
    Scenario("many_models", "20,000 models", "a model list of 20,000 ids (the provider has no model set)", {
        "verify": _w("no_model", None, r"the server offers: model-00000, .* \(\+4990 more; the list was cut at "
                     r"5,000\)"),
        "models": _w("ok", None, r"5000 kept, the list was cut"),
        "providers": _w("ok", None, r"the server offers more than 5,000 \(the first 5,000 are kept: raise "
                        r"jupyter_providers\.client\.settings\.max_models for more\): model-00000, "),
    }),
    Scenario("bad_utf8", "invalid UTF-8", "bytes that are not UTF-8 inside the reply text (or a model id)",
             same_for_all("ok", "", "caf\ufffd \ufffd\ufffd ok", verify=_w("ok", None, "model-a answered in"),
                          providers=_w("ok", None, "model-a answered in"))),
    _retry("nan", r"$"),  # no "retry in nan s": the hint is ignored, the usual backoff applies
    _retry("inf", r"; retry in 86400 s$"),
    _retry("negative", r"; retry in 0 s$"),
    _retry("huge", r"; retry in 86400 s$"),
    _retry("past", r"; retry in 0 s$"),
    _retry("garbage", r"$"),
]  # fmt: skip


def types_for(sc: Scenario) -> list[str]:
    return [t for t in TYPES if sc.id not in HEAVY or t in FRAMINGS.values()]


CELLS = [(sc, t, s) for sc in SCENARIOS for t in types_for(sc) for s in SURFACES if s in sc.wants]


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, HostileServer]]:
    started: dict[str, HostileServer] = {}
    try:
        for t in TYPES:
            started[t] = HostileServer(t, models=["model-a"]).start()
        yield started
    finally:
        for srv in started.values():
            srv.stop()


class Worker:
    def __init__(self, tmp: Path) -> None:
        env = dict(os.environ, JUPYTER_PROVIDERS_DIR=str(tmp / "config"), JUPYTER_PROVIDERS_KEYRING="0")
        env["PYTHONPATH"] = os.pathsep.join([str(WORKER.parent.parent), env.get("PYTHONPATH", "")])
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        self.hello = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the worker died (exit {self.proc.poll()})"
        out: dict[str, Any] = json.loads(line)
        return out

    def run(self, cell: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cell) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(30)


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    w = Worker(tmp_path_factory.mktemp("hostile"))
    if "unsupported" in w.hello:
        w.close()
        pytest.skip(f"the peak memory of a process cannot be reset here ({w.hello['unsupported']})")
    try:
        yield w
    finally:
        w.close()


def _says(out: dict[str, Any], surface: str) -> str:
    if out["kind"] == "ok" and surface == "models":
        return f"{out['count']} kept{', the list was cut' if out['cut'] else ''}: {out['text']}"
    if out["kind"] == "ok" and surface in ("chat", "stream"):
        return f"(no error) the reply: {out['text']}"
    return str(out.get("message", ""))


RESULTS: dict[tuple[str, str, str], dict[str, Any]] = {}


@pytest.mark.parametrize(("scenario", "type_", "surface"), CELLS, ids=[f"{sc.id}-{t}-{s}" for sc, t, s in CELLS])
def test_hostile(
    scenario: Scenario, type_: str, surface: str, servers: dict[str, HostileServer], worker: Worker
) -> None:
    server = servers[type_]
    server.requests.clear()
    cell = {"base": server.base_url, "type": type_, "scenario": scenario.id, "surface": surface, "deadline": DEADLINE}
    out = worker.run(cell)
    assert "crash" not in out, out["crash"]
    want = scenario.wants[surface]
    said = _says(out, surface)
    assert out["kind"] == want.kind, out
    assert out.get("error") == (want.error or None), out
    assert "\n" not in said, said
    if scenario.id.startswith("retry_"):
        assert not re.search(r"\b(nan|inf)\b", said, re.I), said
    assert re.search(want.says, said), (want.says, said)
    if want.partial:
        assert out["partial"] > 0, "the text received before the failure is kept"
    # bounded: memory and time
    assert out["extra_mb"] <= MAX_MB, out
    assert out["seconds"] <= DEADLINE * 1.5, out
    if surface == "providers" and "kinds" in out:  # every hostile provider has its verdict, the good one is ok
        assert out["kinds"]["OK"] == "ok" and all(k == want.kind for n, k in out["kinds"].items() if n != "OK")
    RESULTS[(scenario.id, type_, surface)] = {**out, "says": said, "requests": len(server.requests)}


# -- the docs ------------------------------------------------------------------------------------------------------
def _cell(out: dict[str, Any]) -> str:
    what = f"`{out['kind']}`" + (f" {out['error']}" if out.get("error") else "")
    if out.get("partial"):
        what += f" · {out['partial']:,} characters kept"
    return what


def _normalize(message: str) -> str:
    message = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", message)
    message = re.sub(r"(\[){40,}", "[[[[…", message)
    message = re.sub(r"answered in \d+ ms", "answered in N ms", message)
    return message.replace("|", "\\|").replace("\ufffd", "\\ufffd")


def render() -> str:
    lines = [
        "# Hostile servers",
        "",
        "<!-- Generated by tests/test_hostile.py: do not edit; the test suite rewrites it when anything but the "
        "measured numbers drifts. -->",
        "",
        "Each scenario is played by a loopback fake server speaking the type's own protocol and each surface "
        "is used in a separate process, which measures the time of the call and its peak extra memory: the "
        "kernel's peak resident size (`VmHWM`, reset before each cell through `/proc/self/clear_refs`) less "
        "the size before the call, so C allocations (zlib, sockets) count too. The deadline of every call is "
        f"{DEADLINE:g} s (`chat(timeout=)`, `settings.verify_timeout`); every cell must end within it + 50 % "
        f"({DEADLINE * 1.5:g} s) and under {MAX_MB} MB, with a one-line message of the kind shown. "
        "`%providers` runs `%providers verify` over three providers at the hostile server and one good server "
        "at once (each hostile one gets its verdict, the good one is still verified ok), or "
        "`%providers models NAME --fetch` for the model list. The limits are the defaults of "
        "`jupyter_providers.client.settings` (32 MB answer, 1 MB read of an error body, 8 MB stream line or "
        "event, 16 million characters of reply, 5,000 models), and `max_retries = 2`. The numbers are those of "
        "the run that last rewrote this file (on a shared 2-core machine); every run checks them against the "
        "bounds. The cheap scenarios are played for every type; the ones marked *one type per framing* cost "
        "seconds or a bomb's decompression and are played for the first type of each stream framing ("
        + ", ".join(f"{t} for {f.upper()}" for f, t in FRAMINGS.items())
        + "), whose transport and decoder the other types share.",
    ]
    for sc in SCENARIOS:
        rows = [(t, s, RESULTS.get((sc.id, t, s))) for t in types_for(sc) for s in SURFACES]
        if not any(out for _, _, out in rows):
            continue
        heavy = " (one type per framing)" if sc.id in HEAVY else ""
        lines += ["", f"## {sc.title}{heavy}", "", f"The server: {sc.server}.", ""]
        lines += [
            "| type | surface | outcome | peak extra memory | time | what the user reads |",
            "|---|---|---|---|---|---|",
        ]
        for t, s, out in rows:
            if out is not None:
                lines.append(
                    f"| {t} | {TITLES[s]} | {_cell(out)} | {out['extra_mb']:.1f} MB | {out['seconds']:.2f} s | "
                    f"{_normalize(out['says'])} |"
                )
    return "\n".join(lines) + "\n"


def _without_numbers(text: str) -> str:
    """The docs with the measured columns blanked: what must not drift between runs."""
    text = re.sub(r"\| -?[\d.]+ MB \| [\d.]+ s \|", "| MB | s |", text)
    return re.sub(r"[\d,]+ characters kept", "N characters kept", text)


def test_docs_hostile_md_is_generated_from_this_run() -> None:
    if set(RESULTS) != {(sc.id, t, s) for sc, t, s in CELLS}:
        pytest.skip("only part of the matrix ran: run the whole module to check docs/hostile.md")
    check_generated(DOCS, render(), "the hostile matrix of this run", same=_without_numbers)
