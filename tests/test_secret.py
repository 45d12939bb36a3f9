"""``_secret``: a key that never prints, and the redactor every server-derived message passes."""

from __future__ import annotations

import base64
import json
import pickle
import re
import secrets
import traceback
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from IPython.core import ultratb

import jupyter_providers
from jupyter_providers import ProviderStore
from jupyter_providers._secret import MASK, Redactor, Secret, redactor_for

#: where the package's frames start, in both formats (``File "/...`` and ``File /...``)
PACKAGE = re.compile(r'(?m)^\s*File "?' + re.escape(str(Path(jupyter_providers.__file__).parent) + "/"))


def random_key() -> str:
    return "sk-" + secrets.token_urlsafe(24)


def test_a_secret_never_prints() -> None:
    key = random_key()
    s = Secret(key)
    for text in (repr(s), str(s), f"{s}", f"{s!s:>40}", repr([s]), repr({"k": s})):
        assert key not in text and MASK in text
    assert s.reveal() == key and s == key and s == Secret(key) and hash(s) == hash(key)
    assert bool(s) and not Secret("") and repr(Secret("")) == "Secret('')"
    with pytest.raises(TypeError):
        pickle.dumps(s)
    with pytest.raises(TypeError):
        json.dumps(s)  # not a str: nothing writes it out by accident


def test_the_redactor_knows_the_forms_a_key_comes_back_in() -> None:
    key = "sk-a+b/c=d " + secrets.token_hex(6)
    red = Redactor([key])
    raw = key.encode()
    forms = [
        key,
        quote(key, safe=""),
        quote(key, safe="").lower(),  # percent escapes in lower case
        quote_plus(key, safe=""),
        json.dumps(key)[1:-1],
        repr(raw)[2:-1],
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
    ]
    for form in forms:
        text = f"the server said: {form}!"
        assert form not in red(text), form
        assert red(text).startswith("the server said: ") and red(text).endswith("!")


def test_a_key_cut_by_a_truncation_is_scrubbed_too() -> None:
    """Messages quote server text cut to a length (``str(data)[:80]``): the cut may fall inside a key."""
    key = random_key()
    red = Redactor([key])
    text = f"{{'error': {{'message': 'Incorrect API key provided: {key}', 'type': 'invalid_request_error'}}}}"
    for cut in range(len(text)):
        for piece in (text[:cut], text[cut:]):
            scrubbed = red(piece)
            assert not any(key[i : i + 10] in scrubbed for i in range(len(key) - 9)), (cut, scrubbed)


def test_the_redactor_knows_basic_and_bearer_headers() -> None:
    password = secrets.token_hex(8)
    basic = "Basic " + base64.b64encode(f"alice:{password}".encode()).decode()
    token = secrets.token_hex(8)
    red = Redactor([basic, f"Bearer {token}"])
    assert password not in red(f"user alice with password {password}")
    assert f"alice:{password}" not in red(f"credentials alice:{password} refused")
    assert token not in red(f"token {token} expired")


def test_a_short_value_is_left_alone() -> None:
    """Replacing a 3-letter value everywhere would garble every message; such a value is no secret."""
    red = Redactor(["abc", ""])
    assert red("abc def") == "abc def"
    assert not red


def test_the_provider_redactor_holds_keys_headers_and_address_credentials(
    store: ProviderStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    k1, k2, h = random_key(), random_key(), secrets.token_hex(10)
    p = store.add("P", base_url="http://127.0.0.1:9", api_key=f"{k1}, {k2}", headers={"X-Proxy": h}, models=["m"])
    red = redactor_for(p)
    out = red(f"{k1} {k2} {k1}, {k2} {h}")
    assert out.strip("*, ") == "" and MASK in out
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://me:pa55word-xyz@r.openai.azure.com")
    az = store.add("Az", type="azure", api_key="")
    assert "pa55word-xyz" not in redactor_for(az)("connection refused at https://me:pa55word-xyz@r.openai.azure.com")


def _package_frames(exc: BaseException) -> list[str]:
    """The plain (locals captured) and the ``%xmode Verbose`` traceback of ``exc``, each from the package's
    first frame on: this test's own frames hold the key."""
    plain = "".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format())
    verbose = ultratb.VerboseTB(theme_name="nocolor").text(type(exc), exc, exc.__traceback__)
    shown = []
    for text in (plain, verbose):
        first = PACKAGE.search(text)
        assert first is not None
        shown.append(text[first.start() :])
    return shown


def test_a_refused_key_is_not_in_a_verbose_traceback(store: ProviderStore) -> None:
    """``%xmode Verbose`` prints every frame's locals: the store wraps the key before it checks it."""
    key = random_key()
    for call in (
        lambda: store.add("Q", api_key=key + "\u201c"),
        lambda: store.add("Bad\u202e", api_key=key),
        lambda: store.update("Ghost", api_key=key),
        lambda: store.update("Ghost", api_key=key + "\u00a0x"),
    ):
        with pytest.raises((ValueError, KeyError)) as info:
            call()
        exc = info.value
        for shown in _package_frames(exc):
            assert key not in shown
            assert "Secret('***')" in shown
        assert key not in str(exc) and key not in repr(exc)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("raised", [KeyboardInterrupt, RuntimeError], ids=["ctrl-c", "a-bug"])
def test_an_interrupt_or_a_bug_mid_request_shows_no_frame_holding_the_headers(
    store: ProviderStore, stream: bool, raised: type[BaseException]
) -> None:
    """Ctrl-C while a request waits (or a bug under the client): the frames of ``_send`` and httpx hold the
    request's headers in their locals; under ``%xmode Verbose`` the traceback would print them."""
    import httpx

    from jupyter_providers import chat

    key, token = random_key(), secrets.token_hex(12)

    def interrupted(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"Bearer {key}"  # the headers are there, in the frames below
        raise raised("stopped")

    http = httpx.Client(transport=httpx.MockTransport(interrupted))
    store.add("P", base_url="http://127.0.0.1:9", api_key=key, headers={"X-Proxy": token}, models=["m"])
    with pytest.raises(raised) as info:
        chat("hi", provider="P", store=store, http=http, stream=stream).wait()
    exc = info.value
    for shown in _package_frames(exc):
        assert key not in shown and token not in shown
    if raised is RuntimeError:  # a bug still says where it happened
        plain = "".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format())
        assert "raised at" in plain and "interrupted" in plain


# -- text that arrives in pieces ----------------------------------------------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from jupyter_providers._secret import StreamScrubber  # noqa: E402

_KEY = "sk-proj-AbCdEf0123456789xyzXYZ"
_RED = Redactor([_KEY, "hdr-value-9876543210"])
_WHOLE = Redactor([_KEY, "hdr-value-9876543210"], fragments=False)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(["Hello ", _KEY, "hdr-value-9876543210", "x", "\n", "sk-proj-", "é", _KEY[:12]]), max_size=12
    ),
    st.data(),
)
def test_a_key_split_over_any_pieces_is_replaced_as_in_the_whole_text(words: list[str], data: st.DataObject) -> None:
    text = "".join(words)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=8)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    s = StreamScrubber(_RED, _WHOLE)
    out = "".join(s.feed(p) for p in pieces) + s.flush()
    assert out == _RED(text)
    assert _KEY not in out and (MASK in out) == (_RED(text) != text)


def test_nothing_is_held_back_without_a_secret() -> None:
    s = StreamScrubber(Redactor([]), Redactor([]))
    assert [s.feed("a"), s.feed("b"), s.flush()] == ["a", "b", ""]


def test_only_what_could_begin_a_secret_is_held_back() -> None:
    s = StreamScrubber(_RED, _WHOLE)
    assert s.feed("word " * 100) == "word " * 100  # nothing here begins a key: shown at once
    assert s.feed("your key: sk-pr") == "your key: "  # the start of one waits for the next piece
    assert s.feed("ize winner") == "sk-prize winner"  # not a key after all
    assert s.feed(f"{_KEY[:20]}") == "" and s.flush() == MASK  # a key cut at the end is still masked
