"""Keys as values that never print, and the one scrubber every server-derived message passes.

* :class:`Secret` holds a key or a header value. Its ``repr`` and ``str`` are masked, so a
  traceback that prints locals (``%xmode Verbose``, ``traceback.TracebackException(capture_locals=True)``),
  a debugger or a log line shows ``Secret('***')``; the value comes out only through
  :meth:`Secret.reveal`, where a request's headers are built.
* :func:`watch` also keeps a provider's secrets out of httpx's and httpcore's DEBUG logs, which
  quote response headers as a server sent them.
* :class:`Redactor` knows every secret a provider holds (its keys, its custom header values,
  the credentials of an address taken from the environment) and the forms a server or a
  transport error could quote them in (as typed, URL-encoded, base64, JSON- or bytes-escaped,
  the user and password of a ``Basic`` header), and replaces each with ``***``.
  :func:`scrub_error` applies it to a :class:`~jupyter_providers.ProviderError` in place.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import json
import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

from ._types import Verification

if TYPE_CHECKING:
    from .errors import ProviderError
    from .store import Provider

__all__ = [
    "MASK",
    "Redactor",
    "Secret",
    "StreamScrubber",
    "cut_frames",
    "redactor_for",
    "scrub_error",
    "scrub_verdict",
    "stream_scrubber",
    "watch",
]

MASK = "***"
#: a shorter secret is not scrubbed: replacing "ab" everywhere would garble every message
MIN_SECRET = 4
#: a message that cuts server text (``text[:80]``) may cut a key: a start or an end of a key this long
#: is scrubbed too (shorter pieces are the public prefixes keys share, like ``sk-proj-``)
MIN_FRAGMENT = 10


class Secret:
    """A key (or a custom header value) whose ``repr``/``str`` never show it. ``reveal()`` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = str.__str__(value)  # a plain str, whatever str subclass came in

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})" if self._value else "Secret('')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:  # equal to the same value, as a Secret or a str
        if isinstance(other, Secret):
            return other._value == self._value
        return isinstance(other, str) and other == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> Any:  # pickling would write the key out: refuse, as a file never holds one here
        raise TypeError("a Secret is not pickled")


def _forms(value: str, fragments: bool = True) -> set[str]:
    """``value`` and the ways a server, a proxy or a library could quote it back (with ``fragments``, also
    its starts and ends: what a message cut short may hold)."""
    if len(value) < MIN_SECRET:
        return set()
    raw = value.encode("utf-8", "surrogatepass")
    forms = {
        value,
        quote(value, safe=""),
        quote_plus(value, safe=""),
        json.dumps(value)[1:-1],
        repr(raw)[2:-1],  # b'...' as h11 and httpx quote a header value
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }
    parts = value.split(None, 1)
    if len(parts) == 2 and parts[0].lower() == "basic":  # "Basic base64(user:password)": both halves too
        try:
            user, _, password = base64.b64decode(parts[1], validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            pass
        else:
            forms |= {f"{user}:{password}", password}
    elif len(parts) == 2 and parts[0].lower() == "bearer":
        forms.add(parts[1])
    # the key cut by a truncation: its starts and its ends (as typed, and bytes-escaped as repr() quotes it)
    for whole in {value, repr(raw)[2:-1]} if fragments else ():
        forms |= {whole[:n].strip() for n in range(MIN_FRAGMENT, len(whole))}
        forms |= {whole[-n:].strip() for n in range(MIN_FRAGMENT, len(whole))}
    return {f for f in forms if len(f) >= MIN_SECRET}


class Redactor:
    """Replaces every known secret (in every form :func:`_forms` knows) with ``***``."""

    def __init__(self, secrets: Iterable[str | Secret], *, fragments: bool = True) -> None:
        values = {s.reveal() if isinstance(s, Secret) else s for s in secrets}
        forms = sorted({f for v in values if v for f in _forms(v, fragments)}, key=len, reverse=True)  # longest first
        self.forms: tuple[str, ...] = tuple(forms)
        # percent-escapes may come back in lower case: those alternatives ignore case
        alts = [f"(?i:{re.escape(f)})" if "%" in f else re.escape(f) for f in forms]
        self._re = re.compile("|".join(alts)) if alts else None
        self._longest = len(forms[0]) if forms else 0

    def __bool__(self) -> bool:
        return self._re is not None

    def __call__(self, text: str) -> str:
        return self._re.sub(MASK, text) if self._re is not None and text else text

    @property
    def longest(self) -> int:
        """The length of the longest form it replaces (0 when it knows no secret)."""
        return self._longest

    def finditer(self, text: str) -> Iterable[re.Match[str]]:
        return self._re.finditer(text) if self._re is not None else ()

    def scrub_any(self, value: Any) -> Any:
        """``value`` scrubbed if it is text (or text in a tuple, as exception ``args`` are)."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, tuple):
            return tuple(self.scrub_any(v) for v in value)
        return value


class StreamScrubber:
    """Scrubs text that arrives in pieces (a streamed reply): a key split over two pieces is still replaced.

    Only a piece's end that could be the start of a secret (a prefix of one of its whole forms) is held
    back, and given out with the next piece or at :meth:`flush`. What is given out is scrubbed as ``red``
    scrubs a message, fragments included. Ordinary text passes at once; with no secret, at no cost. (A
    fragment that starts inside a key and is split over two pieces is the one form not held back.)"""

    __slots__ = ("_by_first", "_held", "_hold", "_red", "_whole")

    def __init__(self, red: Redactor, whole: Redactor) -> None:
        self._red, self._whole = red, whole  # ``whole``: the same secrets, their whole forms only
        self._hold = max(whole.longest - 1, 0)
        self._by_first: dict[str, tuple[str, ...]] = {}
        for f in whole.forms:
            self._by_first[f[0]] = (*self._by_first.get(f[0], ()), f)
        self._held = ""

    def _start_of_a_secret(self, text: str) -> int:
        """Where the longest end of ``text`` that begins a secret's form starts (``len(text)``: none)."""
        by_first = self._by_first
        for i in range(max(len(text) - self._hold, 0), len(text)):
            forms = by_first.get(text[i])
            if forms is not None:
                rest = text[i:]
                if any(f.startswith(rest) for f in forms):
                    return i
        return len(text)

    def feed(self, piece: str) -> str:
        if not self._hold:
            return piece
        text = self._held + piece
        cut = self._start_of_a_secret(text)
        out: list[str] = []
        pos = 0
        for m in self._red.finditer(text):  # whole forms and fragments alike, in what is given out
            if m.start() >= cut:
                break
            out += (text[pos : m.start()], MASK)
            pos = m.end()
            cut = max(cut, pos)
        out.append(text[pos:cut])
        self._held = text[cut:]
        return "".join(out)

    def flush(self) -> str:
        """What is held back, scrubbed: the end of the stream (or of what will be read of it)."""
        text, self._held = self._held, ""
        return self._red(text)


def _url_credentials(address: str) -> list[str]:
    try:
        parts = urlsplit(address.strip())
        user, password = parts.username, parts.password
    except ValueError:
        return []
    return [unquote(v) for v in (user, password) if v] + [v for v in (user, password) if v]


def redactor_for(p: Provider) -> Redactor:
    """Everything secret that ``p`` holds: its keys (each one, and the raw comma-joined text), its
    custom header values, and credentials in its address (``AZURE_OPENAI_ENDPOINT`` is not checked
    by the store)."""
    return _redactor(_secret_values(p))


def stream_scrubber(p: Provider) -> StreamScrubber:
    """A :class:`StreamScrubber` for ``p``'s secrets (a streamed reply's text)."""
    values = _secret_values(p)
    return StreamScrubber(_redactor(values), _redactor(values, fragments=False))


def _secret_values(p: Provider) -> tuple[str, ...]:
    values = p.secret_values()
    wire = [f"Bearer {k.reveal()}" for k in p.keys]  # as the Authorization header carries a key
    return tuple(sorted({*values, *wire, *_url_credentials(p.address)}))


@functools.lru_cache(maxsize=128)
def _redactor(values: tuple[str, ...], fragments: bool = True) -> Redactor:
    return Redactor(values, fragments=fragments)


#: the loggers that quote what a server sent (httpcore logs response headers at DEBUG); a filter on a
#: parent logger does not see its children's records, so each is named
_HTTP_LOGGERS = ("httpx", "httpcore.http11", "httpcore.http2", "httpcore.connection", "httpcore.proxy")
_watched: dict[str, Redactor] = {}


class _LogScrubber(logging.Filter):
    """Scrubs the secrets of every provider the client talks to from the HTTP libraries' log records
    (called only for records a logger lets through: nothing is spent when DEBUG is off)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _watched:
            text = record.getMessage()
            clean = text
            for red in list(_watched.values()):
                clean = red(clean)
            if clean != text:
                record.msg, record.args = clean, ()
        return True


_LOG_SCRUBBER = _LogScrubber()


def watch(p: Provider) -> Redactor:
    """``p``'s redactor, now also applied to the HTTP libraries' logs (the client calls this per call)."""
    red = redactor_for(p)
    if _watched.get(p.name) is not red:
        if not _watched:
            for name in _HTTP_LOGGERS:
                logging.getLogger(name).addFilter(_LOG_SCRUBBER)  # added once: addFilter skips a duplicate
        _watched[p.name] = red
    return red


def scrub_error(exc: ProviderError, red: Redactor) -> ProviderError:
    """Scrub ``exc``'s message, server message and args in place (``partial_text`` is the model's reply
    and stays); a suppressed context (``raise ... from None``), which may quote a header, is dropped."""
    if red:
        exc.message = red(exc.message)
        if exc.server_message is not None:
            exc.server_message = red(exc.server_message)
        exc.args = red.scrub_any(exc.args)
    if exc.__suppress_context__:
        exc.__context__ = None
    return exc


def scrub_verdict(v: Verification, red: Redactor) -> Verification:
    """``v`` with its message, its per-key messages and its capability reasons scrubbed."""
    if not red:
        return v
    keys = tuple(dataclasses.replace(k, message=red(k.message)) for k in v.keys)
    caps = tuple(dataclasses.replace(c, reason=red(c.reason)) for c in v.capabilities)
    return dataclasses.replace(v, message=red(v.message), keys=keys, capabilities=caps)


def cut_frames(exc: BaseException) -> BaseException:
    """``exc`` (and the exceptions chained to it) with the traceback cut where it leaves the client.

    The frames below (the client's, httpx's, httpcore's, h11's) hold the request's headers and the
    server's answer in their locals, which ``%xmode Verbose`` prints: a Ctrl-C while a request waits,
    or a bug, would otherwise show a key. A bug keeps the place it was raised at as a note."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        tb = e.__traceback__
        if tb is not None and not isinstance(e, KeyboardInterrupt) and hasattr(e, "add_note"):
            while tb.tb_next is not None:
                tb = tb.tb_next
            code = tb.tb_frame.f_code
            e.add_note(
                f"(raised at {code.co_filename}:{tb.tb_lineno} in {code.co_name}; the frames below are not shown)"
            )
        e.__traceback__ = None
        todo += [e.__cause__, e.__context__]
    return exc
