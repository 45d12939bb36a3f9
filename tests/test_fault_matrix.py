"""The fault matrix: every fault, through every surface, for every provider type in the registry.

Each case injects one fault (a loopback fake server or socket), uses one surface - ``store.verify``,
``chat()``, ``chat(stream=True)``, ``%%chat`` or the chat widget - and checks: the kind and error
class, a one-line message saying what happened, how many requests reached the server (retries
only where they belong), the partial reply kept, the store unchanged, and a normal request right
after succeeding promptly. The outcomes make ``docs/faults.md``; the last test compares it with
the committed file (and rewrites it), so the docs cannot drift from the behaviour. What differs by type
(an error format, a status) is a fact the type's fake declares (``srv.facts``); a type without a fake fails.

Nothing leaves 127.0.0.1: a guard refuses any other address. The DNS failure is the resolver's own
answer (``EAI_NONAME``) given locally, because glibc would otherwise send the ``.invalid`` query to
the configured name server.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from jupyter_providers import (
    AuthenticationError,
    BadResponseError,
    BadURLError,
    ModelNotFoundError,
    ProviderConnectionError,
    ProviderError,
    ProviderStore,
    ProviderTimeoutError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    chat,
)
from jupyter_providers import client as client_module
from jupyter_providers.adapters import TYPES
from jupyter_providers.conversation import get_conversation, reset_conversations
from jupyter_providers.local import free_port
from jupyter_providers.magics import ChatMagics
from jupyter_providers.widgets import ChatWidget
from jupyter_providers.widgets import chat as chat_widget_module
from jupyter_providers.widgets._common import error_text as shown_error_text

from ._docs import check_generated
from ._shown import shown_text
from .fakes import FakeServer
from .fakes.server import HUGE_PIECE, protocol_class, word_pieces
from .widgets import text as html_text

PROTOCOLS = tuple(TYPES)
EXAMPLE_TYPE = PROTOCOLS[0]  # the messages the docs quote are this type's
SURFACES = ("verify", "chat", "stream", "magic", "widget")
SURFACE_TITLES = {
    "verify": "`store.verify`",
    "chat": "`chat()`",
    "stream": "`chat(stream=True)`",
    "magic": "`%%chat`",
    "widget": "chat widget",
}
KEY = "sk-matrix-key-4d0b2c81"
MODEL = "model-a"
REPLY = "Hello there, this is the fake server answering your question."
PARTIAL = "".join(word_pieces(REPLY)[:2])  # the fakes break a stream after two pieces
HUGE_LEN = len(HUGE_PIECE) * 380
TIMEOUT = 0.5  # connect and read timeouts for this module
MAX_RETRIES = 2
DOCS = Path(__file__).resolve().parent.parent / "docs" / "faults.md"


# -- the faults ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Expect:
    """What one kind of surface must show: ``error`` ``None`` means success."""

    kind: str
    error: type[ProviderError] | None
    requests: int = 1  # requests reaching the server per attempt
    retried: bool = False  # chat surfaces make 1 + max_retries attempts (verify never retries)
    partial: bool = False  # the text streamed before the failure is kept


@dataclass(frozen=True)
class Fault:
    id: str
    title: str
    server: str  # what the server does, for the docs
    plain: Expect  # verify and chat() (one JSON answer)
    stream: Expect | None = None  # chat(stream=True), %%chat, the widget; None: as plain
    says: str = ""  # a regex the one-line message matches (failures only)

    def expect(self, surface: str) -> Expect:
        if surface in ("verify", "chat"):
            return self.plain
        return self.stream or self.plain


def _e(kind: str, error: type[ProviderError] | None, **kw: Any) -> Expect:
    return Expect(kind, error, **kw)


UNREACHABLE = _e("unreachable", ProviderConnectionError, requests=0)
FAULTS = [
    Fault("refused", "connection refused", "nothing listens on the port", UNREACHABLE,
          says=r"connection refused at http://127\.0\.0\.1:\d+.* - is the server running\?"),
    Fault("dns", "DNS failure", "`no-such-host.invalid` does not resolve", UNREACHABLE,
          says=r"cannot resolve host 'no-such-host\.invalid' - check the API address"),
    Fault("tls_untrusted", "TLS: untrusted certificate", "HTTPS with a self-signed certificate (trustme)",
          UNREACHABLE, says=r"TLS error talking to 127\.0\.0\.1 \(.*certificate verify failed.*\) - check"),
    Fault("tls_plain", "TLS: `https://` to a plain HTTP server", "plain HTTP on the port", UNREACHABLE,
          says=r"TLS error talking to 127\.0\.0\.1 \(.*\) - check the address \(http vs https\)"),
    Fault("connect_timeout", "connect timeout", "a listening socket whose backlog is full: no SYN is answered",
          _e("timeout", ProviderTimeoutError, requests=0), says=r"no connection to 127\.0\.0\.1 within 0\.5 s"),
    Fault("read_timeout", "read timeout", "accepts the request, never answers",
          _e("timeout", ProviderTimeoutError), says=r"no answer from 127\.0\.0\.1 within 0\.5 s"),
    Fault("bad_key", "bad key: {bad_key_status}", "the protocol's bad-key answer (Gemini's: `API_KEY_INVALID`)",
          _e("auth", AuthenticationError), says=r"the server rejected the key \(\d{3}: .*\) - check the key"),
    Fault("forbidden", "403 forbidden", "403 with the protocol's error body",
          _e("auth", AuthenticationError), says=r"the server rejected the key \(403: .*\)"),
    Fault("model_404", "404 unknown model", "404 `model_not_found` / `not_found_error` / `NOT_FOUND` / "
          "`DeploymentNotFound`", _e("model_not_found", ModelNotFoundError), says=r"model 'gpt-5' not found"),
    Fault("path_404", "404 wrong path (HTML page)", "an nginx 404 page: the address is wrong",
          _e("bad_url", BadURLError), says=r"nothing answers at http://127\.0\.0\.1:\d+/nothing/here.* \(404\)"),
    Fault("rate_limit", "429 with `retry-after`", "429 rate limit, `retry-after: 0.2`",
          _e("rate_limited", RateLimitError, retried=True), says=r"rate limited \(429: .*\); retry in 0\.2 s"),
    Fault("quota", "out of quota: {quota_status}", "the protocol's out-of-quota answer (OpenAI's "
          "`insufficient_quota`, Gemini's per-day quota, Ollama's usage limit)",
          _e("rate_limited", QuotaExceededError), says=r"out of quota \(\d{3}: .*\) - check the account"),
    Fault("status_500", "500", "500 with the protocol's error body",
          _e("server_error", ServerError, retried=True), says=r"server error \(500: .*\) - try again later"),
    Fault("status_502", "502 (HTML page)", "a proxy's 502 Bad Gateway page",
          _e("server_error", ServerError, retried=True), says=r"server error \(502: .*Bad Gateway.*\)"),
    Fault("status_503", "503", "503 overloaded / unavailable",
          _e("server_error", ServerError, retried=True), says=r"server error \(503: .*\) - try again later"),
    Fault("status_529", "529", "529 overloaded (Anthropic's status)",
          _e("server_error", ServerError, retried=True), says=r"server error \(529: .*\) - try again later"),
    Fault("html_200", "HTML page with status 200", "a captive portal's login page",
          _e("bad_url", BadURLError), says=r"answered with a web page, not the API - check the API address"),
    Fault("not_json", "non-JSON body with status 200", "garbage bytes as the JSON answer",
          _e("bad_response", BadResponseError), says=r"is not JSON .* - is this the right API type and address\?"),
    Fault("cut_stream", "stream cut off mid-event", "half the answer, then the connection closes",
          _e("bad_response", BadResponseError), _e("bad_response", BadResponseError, partial=True),
          says=r"closed the connection mid-reply|stream ended before the reply was complete"),
    Fault("midstream_error", "mid-stream `error` event", "two pieces, then the protocol's error event "
          "(JSON answer: a 500)", _e("server_error", ServerError, retried=True),
          _e("server_error", ServerError, partial=True), says=r"server error \((500: )?.*\)"),
    Fault("stall", "stream stalls", "two pieces, then silence",
          _e("timeout", ProviderTimeoutError), _e("timeout", ProviderTimeoutError, partial=True),
          says=r"no answer from 127\.0\.0\.1 within 0\.5 s|the stream stalled: nothing for 0\.5 s - the partial"),
    Fault("huge", "10 MB reply", "a 10 MB answer (streamed: 380 pieces of 27 kB)", _e("ok", None)),
]  # fmt: skip
FAULT_IDS = [f.id for f in FAULTS]


#: the statuses the fakes' own faults do not give, and the message each comes with (in each protocol's format)
CANNED = {
    "forbidden": (403, "Country, region, or territory not supported"),
    "status_503": (503, "The service is temporarily unavailable. Please try again later."),
    "status_529": (529, "Overloaded"),
}


# -- the environment: fake servers, the blackhole socket, no traffic off the machine -----------------------------
@dataclass
class Env:
    protocol: str
    srv: FakeServer
    tls_srv: FakeServer
    blackhole: int
    store: ProviderStore
    model: str = MODEL
    target: FakeServer | None = None  # the server the faulty provider talks to (requests are counted there)


def arm(env: Env, fault: str) -> str:
    """Set the fault up; return the address the faulty provider ``P`` uses."""
    srv = env.srv
    env.target = srv
    simple = {"read_timeout": "hang", "bad_key": "auth", "rate_limit": "rate_limit", "quota": "quota",
              "status_500": "server_error", "status_502": "bad_gateway", "html_200": "html_200",
              "not_json": "not_json", "cut_stream": "cut_stream", "midstream_error": "midstream_error",
              "stall": "stall", "huge": "huge"}  # fmt: skip
    if fault in simple:
        srv.fault = simple[fault]
        return srv.base_url
    if fault in CANNED:
        srv.canned = srv.facts.status_error(*CANNED[fault])
        return srv.base_url
    if fault == "model_404":
        env.model = "gpt-5"
        return srv.base_url
    if fault == "path_404":
        return srv.base_url + "/nothing/here#"
    if fault == "tls_plain":
        return srv.base_url.replace("http://", "https://")
    if fault == "tls_untrusted":
        env.target = env.tls_srv
        return env.tls_srv.base_url
    env.target = None
    if fault == "refused":
        return f"http://127.0.0.1:{free_port()}/"
    if fault == "dns":
        return "http://no-such-host.invalid:9/"
    if fault == "connect_timeout":
        return f"http://127.0.0.1:{env.blackhole}/"
    raise AssertionError(fault)


def reset(srv: FakeServer) -> None:
    srv.fault = srv.fault_count = srv.canned = None
    srv.retry_after, srv.stall_seconds, srv.delay = "0.2", 3.0, 0.0
    srv.requests.clear()


@pytest.fixture(scope="module")
def tls_context() -> ssl.SSLContext:
    import trustme

    cert = trustme.CA().issue_cert("127.0.0.1", "localhost")  # a CA nobody trusts
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    return ctx


@pytest.fixture(scope="module")
def servers(tls_context: ssl.SSLContext) -> Iterator[dict[str, tuple[FakeServer, FakeServer]]]:
    """One plain and one HTTPS fake per protocol, shared by the module (reset before each test)."""
    made = {
        p: (
            FakeServer(p, api_key=KEY, models=[MODEL], reply=REPLY).start(),
            FakeServer(p, api_key=KEY, models=[MODEL], reply=REPLY, ssl_context=tls_context).start(),
        )
        for p in PROTOCOLS
    }
    try:
        yield made
    finally:
        for pair in made.values():
            for s in pair:
                s.stop()


@pytest.fixture(scope="module")
def blackhole() -> Iterator[int]:
    """A port where connecting times out, on loopback: a listener that never accepts, its backlog full."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    filling: list[socket.socket] = []
    try:
        for _ in range(64):  # the queue holds backlog + 1 connections; the next SYN goes unanswered
            s = socket.socket()
            s.settimeout(0.2)
            filling.append(s)
            try:
                s.connect(("127.0.0.1", port))
            except TimeoutError:
                break
        else:
            pytest.fail("the listen backlog never filled: no connect timeout can be made on this machine")
        yield port
    finally:
        for s in filling:
            s.close()
        listener.close()


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Refuse (and report) any connection off 127.0.0.1; answer ``*.invalid`` lookups as the resolver does."""
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    outside: list[Any] = []

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name.rstrip(".").endswith(".invalid"):  # RFC 6761: never resolves
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not ipaddress.ip_address(address[0]).is_loopback:
            outside.append(address)
            raise OSError(errno.ENETUNREACH, "the tests stay on 127.0.0.1")
        real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    yield outside
    assert outside == [], f"tried to leave 127.0.0.1: {outside}"


@pytest.fixture(autouse=True)
def fast_settings(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    s = client_module.settings
    # Building and sending a 10 MB answer can take longer than the short timeouts on a busy 2-core machine.
    read = 30.0 if "-huge-" in request.node.name else TIMEOUT
    for name, value in (("connect_timeout", TIMEOUT), ("read_timeout", read), ("verify_timeout", read),
                        ("max_retries", MAX_RETRIES), ("backoff", 0.01)):  # fmt: skip
        monkeypatch.setattr(s, name, value)


def _posts_seen(target: FakeServer | None, expected: int, wait: float = 3.0) -> int:
    """The POSTs the fake recorded, waiting a little for ``expected``: a request the client sent and then gave
    up on (a 0.5 s timeout) is recorded once the fake's thread has read it, which on a loaded machine can come
    after the client's timeout."""
    if target is None:
        return 0
    deadline = time.monotonic() + wait
    while True:
        seen = sum(1 for r in target.requests if r.method == "POST")
        if seen >= expected or time.monotonic() > deadline:
            return seen
        time.sleep(0.02)


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    return InteractiveShell.instance()


# -- the surfaces ----------------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    kind: str
    error: ProviderError | None = None
    message: str = ""
    partial: str = ""  # the text kept when a reply failed part-way
    text: str = ""  # the whole reply, on success
    extra: dict[str, Any] = field(default_factory=dict)


def _from_error(exc: ProviderError, partial: str = "") -> Outcome:
    return Outcome(exc.kind, exc, str(exc), partial)


def run_verify(env: Env, shell: InteractiveShell, provider: str = "P") -> Outcome:
    v = env.store.verify(provider, model=env.model)
    return Outcome(v.kind, None, v.message, text=v.message if v.ok else "")


def run_chat(env: Env, shell: InteractiveShell, provider: str = "P") -> Outcome:
    try:
        reply = chat("hi", provider=provider, model=env.model, store=env.store)
    except ProviderError as exc:
        return _from_error(exc)
    return Outcome("ok", text=reply.text)


def run_stream(env: Env, shell: InteractiveShell, provider: str = "P") -> Outcome:
    reply = None
    pieces: list[str] = []
    try:
        reply = chat("hi", provider=provider, model=env.model, store=env.store, stream=True)
        for piece in reply:
            pieces.append(piece)
    except ProviderError as exc:
        if reply is not None:  # the error came mid-stream: the reply and the error hold the same text
            assert reply.error is exc and reply.done
            assert exc.partial_text == reply.text == "".join(pieces)
        return _from_error(exc, "".join(pieces))
    assert reply.text == "".join(pieces)
    return Outcome("ok", text=reply.text)


def run_magic(env: Env, shell: InteractiveShell, provider: str = "P") -> Outcome:
    magics = ChatMagics(shell, store=env.store)
    shown: list[BaseException] = []
    original = magics._error

    def spy(exc: BaseException) -> None:  # what the magic shows, as the object (for its class)
        shown.append(exc)
        original(exc)

    magics._error = spy  # type: ignore[method-assign]
    shell.register_magics(magics)
    model = "" if env.model == MODEL else f" -m {env.model}"
    with capture_output() as cap:
        shell.run_cell_magic("chat", f"-p {provider}{model}", "hi")
    stdout, stderr = cap.stdout.replace("\x1b[2K\r", ""), cap.stderr
    assert "Traceback" not in stdout + stderr
    turn = get_conversation(provider, env.model)
    assert turn is not None and turn.turns, "every %%chat is recorded in the conversation"
    last = turn.turns[-1]
    markdown = shown_text(cap.outputs)  # what the rendered reply shows
    if not shown:
        assert stderr == "" and last.status == "done"
        return Outcome("ok", text=last.reply, extra={"stdout": stdout})
    [exc] = shown
    assert isinstance(exc, ProviderError)
    assert stderr == str(exc) + "\n", "one line on stderr: the error"
    assert last.status == "error" and last.error == str(exc)
    if last.reply:  # part of the reply arrived: streamed, then shown with a note, and kept in the history
        assert stdout.startswith(last.reply) and markdown.startswith(last.reply.rstrip())
        assert "interrupted by an error" in markdown
        assert get_conversation(provider, env.model).messages[-1] == {"role": "assistant", "content": last.reply}  # type: ignore[union-attr]
    return _from_error(exc, last.reply)


def run_widget(env: Env, shell: InteractiveShell, provider: str = "P") -> Outcome:
    widget = ChatWidget(store=env.store, provider=provider, model=env.model)
    shown: list[BaseException] = []
    original = shown_error_text

    def spy(exc: BaseException) -> str:
        shown.append(exc)
        return original(exc)

    mp = pytest.MonkeyPatch()
    mp.setattr(chat_widget_module, "error_text", spy)
    try:
        assert (widget.provider.value, widget.model.value) == (provider, env.model)
        started = time.monotonic()
        assert widget.send("hi")
        assert time.monotonic() - started < 1, "send() only starts the request: the kernel stays free"
        assert widget.wait(60), "the widget finished the turn"
        status = html_text(widget.status.value)
        assert "\n" not in status and not widget.send_button.disabled and widget.stop_button.disabled
        conv = widget.conversation
        assert conv is not None and conv.turns
        last = conv.turns[-1]
        if not shown:
            assert last.status == "done" and widget.last_reply is not None
            return Outcome("ok", text=widget.last_reply.text, extra={"status": status})
        exc = shown[-1]
        assert isinstance(exc, ProviderError) and all(e is exc for e in shown)
        assert status.startswith(str(exc)), status
        assert last.status == "error" and last.error == str(exc)
        bubbles = [html_text(b.value) for b in widget.bubbles]
        if widget.last_reply is not None:  # the reply had begun: its bubble keeps what arrived, then the error
            assert widget.last_reply.error is exc and len(bubbles) == 2
            assert last.reply.strip() in bubbles[-1] and str(exc) in bubbles[-1]
            if last.reply:
                assert widget.messages[-1] == {"role": "assistant", "content": last.reply}
        else:  # the request itself failed: no empty bubbles are left, the question stays in the input
            assert bubbles == [] and widget.input.value == "hi"
        return _from_error(exc, last.reply)
    finally:
        mp.undo()
        widget.close()


RUNNERS: dict[str, Callable[[Env, InteractiveShell, str], Outcome]] = {
    "verify": run_verify,
    "chat": run_chat,
    "stream": run_stream,
    "magic": run_magic,
    "widget": run_widget,
}


# -- the matrix --------------------------------------------------------------------------------------------------
#: (fault, surface) -> protocol -> the cell for the docs; (fault, surface) -> the OpenAI type's message
RESULTS: dict[tuple[str, str], dict[str, str]] = {}
EXAMPLES: dict[tuple[str, str], str] = {}


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def _cell(surface: str, expect: Expect, outcome: Outcome, requests: int) -> str:
    parts = [f"`{outcome.kind}`"]
    if outcome.error is not None and surface != "verify":
        parts[0] += f" {type(outcome.error).__name__}"
    parts.append(f"{requests} request{'s' if requests != 1 else ''}")
    if expect.partial:
        parts.append("partial kept")
    if outcome.kind == "ok" and surface != "verify":
        parts.append("10 MB kept")
    return " · ".join(parts)


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_fault(
    protocol: str,
    fault: Fault,
    surface: str,
    servers: dict[str, tuple[FakeServer, FakeServer]],
    blackhole: int,
    store: ProviderStore,
    shell: InteractiveShell,
) -> None:
    srv, tls_srv = servers[protocol]
    for s in (srv, tls_srv):
        reset(s)
    reset_conversations()
    env = Env(protocol, srv, tls_srv, blackhole, store)
    extra = srv.facts.store_kwargs()
    store.add("P", type=protocol, base_url=arm(env, fault.id), api_key=KEY, models=[MODEL], **extra)
    store.add("OK", type=protocol, base_url=srv.base_url, api_key=KEY, models=[MODEL], **extra)
    before, files = list(store), _snapshot(store._files.dir)  # type: ignore[union-attr]
    expect = fault.expect(surface)

    outcome = RUNNERS[surface](env, shell, "P")

    # the right kind and error class, one line saying what happened
    assert outcome.kind == expect.kind, outcome
    if surface != "verify":
        assert (type(outcome.error) if outcome.error is not None else None) is expect.error, outcome.error
    if expect.error is not None:
        assert outcome.message and "\n" not in outcome.message and KEY not in outcome.message
        assert re.search(fault.says, outcome.message), outcome.message
        if outcome.error is not None:
            assert outcome.error.provider == "P" and str(outcome.error).startswith("P: ")
    else:
        assert (len(outcome.text) if surface != "verify" else HUGE_LEN) == HUGE_LEN
    # retries only where they belong
    target = env.target
    attempts = 1 + MAX_RETRIES if expect.retried and surface != "verify" else 1
    requests = _posts_seen(target, expect.requests * attempts)
    assert requests == expect.requests * attempts, (requests, expect)
    # the partial reply is kept
    assert outcome.partial == (PARTIAL if expect.partial else ""), outcome.partial
    # the store is unchanged, on disk too
    assert list(store) == before and _snapshot(store._files.dir) == files  # type: ignore[union-attr]
    # and everything still works, promptly
    reset(srv)
    started = time.monotonic()
    env.model = MODEL
    after = RUNNERS[surface](env, shell, "OK")
    assert after.kind == "ok" and (surface == "verify" or after.text == REPLY), after
    assert time.monotonic() - started < 5

    RESULTS.setdefault((fault.id, surface), {})[protocol] = _cell(surface, expect, outcome, requests)
    if protocol == EXAMPLE_TYPE and surface in ("chat", "stream"):
        EXAMPLES[(fault.id, surface)] = outcome.message


# -- TLS verification: on by default, off only explicitly, and shown --------------------------------------------------
def test_tls_verification_is_on_by_default_and_off_is_explicit_and_shown(
    servers: dict[str, tuple[FakeServer, FakeServer]], store: ProviderStore, shell: InteractiveShell
) -> None:
    _, tls_srv = servers[EXAMPLE_TYPE]
    reset(tls_srv)
    store.add("Self", base_url=tls_srv.base_url, api_key=KEY, models=[MODEL])
    store.add("Other", base_url=tls_srv.base_url, api_key=KEY, models=[MODEL])
    assert store["Self"].verify_tls is True  # the default
    assert store.verify("Self").kind == "unreachable"
    shell.register_magics(ChatMagics(shell, store=store))

    def providers(line: str) -> tuple[str, str]:
        with capture_output() as cap:
            shell.run_line_magic("providers", line)
        html = "".join(o.data.get("text/html", "") for o in cap.outputs)
        return cap.stdout + cap.stderr, html

    assert "TLS verification OFF" not in providers("")[1]
    said, _ = providers("tls Self off")
    assert said.strip() == "Self: TLS verification OFF - certificates are not checked"
    table = providers("")[1]
    rows = {r.split("</td>")[0].split(">")[-1]: r for r in table.split("<tr>")[2:]}
    assert "[TLS verification OFF]" in rows["Self"] and "TLS verification OFF" not in rows["Other"]
    saved = json.loads((store._files.dir / "providers.json").read_text())  # type: ignore[union-attr]
    assert {p["name"]: p["verify_tls"] for p in saved["providers"]} == {"Self": False, "Other": True}
    # only that provider skips the check
    assert store.verify("Self").ok and chat("hi", provider="Self", store=store).text == REPLY
    assert store.verify("Other").kind == "unreachable"
    providers("tls Self on")
    assert store["Self"].verify_tls is True and store.verify("Self").kind == "unreachable"


# -- the docs -----------------------------------------------------------------------------------------------------
def _normalize(message: str) -> str:
    message = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", message)
    message = re.sub(r"\(\[SSL: [A-Z_]+\] .*?\(_ssl\.c:\d+\)\)", "(the TLS library's reason)", message)
    return message.replace("|", "\\|")


def _by_type(fact: str) -> str:
    """A declared fact over the types: the common value, then the types that differ (``401 (gemini: 400)``)."""
    values = {t: getattr(protocol_class(t), fact) for t in PROTOCOLS}
    common = max(values.values(), key=list(values.values()).count)
    others = ", ".join(f"{t}: {v}" for t, v in values.items() if v != common)
    return f"{common} ({others})" if others else str(common)


def _title(f: Fault) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: _by_type(m.group(1)), f.title)


def render() -> str:
    head = ["fault", "what the server does", *(SURFACE_TITLES[s] for s in SURFACES)]
    lines = [
        "# Fault matrix",
        "",
        "<!-- Generated by tests/test_fault_matrix.py: do not edit; the test suite rewrites it and fails on drift. -->",
        "",
        "Every fault is injected by a loopback fake server (or socket) speaking each provider type's protocol: "
        f"{', '.join(f'`{t}`' for t in PROTOCOLS[:-1])} and `{PROTOCOLS[-1]}` (every type in the registry). "
        "Each cell held for every type, unless it names them. "
        "A cell gives the kind (`Verification.kind`, or the `kind` of the error raised or shown), the error "
        "class, how many requests reached the server, and whether the text received before the failure was "
        f"kept (in the reply, the conversation history and the widget's bubble). Settings: `max_retries = "
        f"{MAX_RETRIES}`, connect and read timeouts {TIMEOUT:g} s. Verify never retries; 429 (not "
        "`insufficient_quota`), 5xx and 529 are retried with backoff, honouring `retry-after`.",
        "",
        "Every case also checks that the message is one line naming the provider (and never the key), that "
        "the store and its files are unchanged, and that a normal request right after it succeeds promptly. "
        "Nothing leaves 127.0.0.1: the connect timeout is a real one (a loopback listener whose backlog is full), "
        "and the DNS failure is the resolver's own answer for a `.invalid` name, given in the test process "
        "(the system resolver would send the query to its name server).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for f in FAULTS:
        cells = []
        for s in SURFACES:
            by_protocol = RESULTS[(f.id, s)]
            values = set(by_protocol.values())
            if len(values) == 1:
                cells.append(values.pop())
            else:
                cells.append("<br>".join(f"{p}: {by_protocol[p]}" for p in PROTOCOLS))
        lines.append(f"| {_title(f)} | {f.server} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"## What the messages say ({TYPES[EXAMPLE_TYPE].label} type; `%%chat` and the widget show the streamed one)",
        "",
        "| fault | `chat()` | `chat(stream=True)` |",
        "|---|---|---|",
    ]
    for f in FAULTS:
        plain, streamed = EXAMPLES.get((f.id, "chat"), ""), EXAMPLES.get((f.id, "stream"), "")
        shown = [_normalize(m) if m else "(no error: the whole reply)" for m in (plain, streamed)]
        lines.append(f"| {_title(f)} | {shown[0]} | {'same' if shown[1] == shown[0] else shown[1]} |")
    return "\n".join(lines) + "\n"


def test_docs_faults_md_is_generated_from_this_run() -> None:
    expected_cells = {(f.id, s) for f in FAULTS for s in SURFACES}
    if set(RESULTS) != expected_cells or any(len(v) != len(PROTOCOLS) for v in RESULTS.values()):
        pytest.skip("only part of the matrix ran: run the whole module to check docs/faults.md")
    check_generated(DOCS, render(), "the fault matrix of this run")
