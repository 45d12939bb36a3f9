"""What both widgets share: the style sheet, message lines, verdict formatting, background jobs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import ipywidgets as w  # type: ignore[import-untyped]
from traitlets import Unicode

from .._render import text_html
from .._types import Verification

__all__ = [
    "Job",
    "SecretPassword",
    "SecretTextarea",
    "button",
    "close_tree",
    "descendants",
    "error_text",
    "esc",
    "message_html",
    "set_visible",
    "style_widget",
    "verdict_html",
]

log = logging.getLogger("jupyter_providers")

#: plain text (a name, a model id, a verdict, an error) as HTML, through the one rendering path
esc = text_html

#: Scoped to the widgets' own ``jp-providers-*`` classes; JupyterLab theme variables with light fallbacks.
CSS = """
.jp-providers-root { font-size: var(--jp-ui-font-size1, 13px); color: var(--jp-ui-font-color1, #222); }
.jp-providers-root .widget-html-content { line-height: 1.45; }
.jp-providers-title .widget-html-content { font-weight: 600; font-size: 110%; }
.jp-providers-list { border-right: 1px solid var(--jp-border-color2, #e0e0e0); padding-right: 6px; }
.jp-providers-row { border-radius: 4px; padding: 0 2px; }
.jp-providers-row .jp-providers-row-name { text-align: left; background: transparent; font-weight: 500; }
.jp-providers-row.jp-providers-selected { background: var(--jp-brand-color3, #d7e9fb); }
.jp-providers-row.jp-providers-selected .jp-providers-row-name {
  color: var(--jp-ui-font-color0, #111); font-weight: 700;
}
.jp-providers-row-type .widget-html-content { color: var(--jp-ui-font-color2, #666); font-size: 90%; }
.jp-providers-detail { padding-left: 10px; }
.jp-providers-section .widget-html-content { font-weight: 600; margin-top: 6px;
  border-bottom: 1px solid var(--jp-border-color2, #e0e0e0); }
.jp-providers-hint .widget-html-content, .jp-providers-muted .widget-html-content {
  color: var(--jp-ui-font-color2, #666); font-size: 90%; }
.jp-providers-preview .widget-html-content code { font-family: var(--jp-code-font-family, monospace);
  background: var(--jp-layout-color2, #f0f0f0); padding: 1px 4px; border-radius: 3px; overflow-wrap: anywhere; }
.jp-providers-ok { color: var(--jp-success-color1, #2e7d32); }
.jp-providers-error { color: var(--jp-error-color1, #c62828); }
.jp-providers-busy { color: var(--jp-ui-font-color2, #666); }
.jp-providers-group .widget-html-content { color: var(--jp-ui-font-color2, #666); font-size: 90%;
  text-transform: uppercase; letter-spacing: 0.04em; margin-top: 4px; }
.jp-providers-fetch-box { border: 1px solid var(--jp-border-color2, #e0e0e0); border-radius: 4px; padding: 4px 8px; }
.jp-providers-log { padding: 4px; }
.jp-providers-bubble-row { width: 100%; }
.jp-providers-bubble { max-width: 80%; min-width: 0; padding: 6px 12px; margin: 3px 0; border-radius: 12px;
  overflow-wrap: anywhere; }
.jp-providers-bubble .widget-html-content { line-height: 1.5; white-space: normal; min-width: 0; max-width: 100%; }
.jp-providers-bubble p { margin: 0.3em 0; }
.jp-providers-bubble pre { overflow-x: auto; max-width: 100%; box-sizing: border-box; }
.jp-providers-bubble table { border-collapse: collapse; }
.jp-providers-bubble th, .jp-providers-bubble td { border: 1px solid var(--jp-border-color2, #ddd); padding: 2px 6px; }
.jp-providers-user { background: var(--jp-brand-color3, #d7e9fb); border-bottom-right-radius: 4px; }
.jp-providers-assistant { background: var(--jp-layout-color2, #f0f0f0); border-bottom-left-radius: 4px; }
.jp-providers-note { color: var(--jp-ui-font-color2, #666); font-size: 85%; }
.jp-providers-status .widget-html-content { color: var(--jp-ui-font-color2, #666); font-size: 90%; }
"""


#: the comm ids of the secret fields alive in this kernel: the messages they receive carry what was typed
_SECRET_COMMS: set[str] = set()
_NOT_LOGGED = "(a message of a secret field: not logged)"
#: ``comm`` ("Comm") and ipykernel ("IPKernelApp") log every message from the front end at DEBUG
_MESSAGE_LOGGERS = ("Comm", "IPKernelApp")


def _is_secret_message(value: object) -> bool:
    if not isinstance(value, dict):
        return False
    content = value.get("content", value)
    comm_id = content.get("comm_id") if isinstance(content, dict) else None
    return isinstance(comm_id, str) and comm_id in _SECRET_COMMS


class _SecretMessagesFilter(logging.Filter):
    """Logs keep the message's place, not a secret field's message (``logging.basicConfig(level=DEBUG)``
    would otherwise write a key typed in the panel to the log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _SECRET_COMMS:
            return True
        if isinstance(record.args, tuple):
            record.args = tuple(_NOT_LOGGED if _is_secret_message(a) else a for a in record.args)
        elif _is_secret_message(record.args):  # one dict argument: logging keeps it as the mapping itself
            record.args = (_NOT_LOGGED,)
        return True


_FILTER = _SecretMessagesFilter()


class _SecretField:
    """What the secret fields share: their messages are kept out of the kernel's logs."""

    model_id: str

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name in _MESSAGE_LOGGERS:
            logging.getLogger(name).addFilter(_FILTER)  # once: a filter already there is not added again
        _SECRET_COMMS.add(self.model_id)

    def close(self) -> None:
        comm = getattr(self, "comm", None)  # None once closed
        if comm is not None:
            _SECRET_COMMS.discard(comm.comm_id)
        super().close()  # type: ignore[misc]


class SecretPassword(_SecretField, w.Password):  # type: ignore[misc]
    """A password field whose typed value is never echoed back to the front ends, nor logged.

    ipywidgets 8 echoes every value a front end sends to all front ends; for a key that
    would send it back over the wire, so the echo is turned off for ``value``.
    """

    value = Unicode(help="the typed secret (cleared as soon as it is read)").tag(sync=True, echo_update=False)


class SecretTextarea(_SecretField, w.Textarea):  # type: ignore[misc]
    """A text area for secrets (header values), not echoed back or logged either."""

    value = Unicode(help="the typed text (cleared as soon as it is read)").tag(sync=True, echo_update=False)


def style_widget() -> Any:
    """An invisible HTML widget holding the style sheet (a ``<style>`` applies wherever it sits)."""
    sheet = w.HTML(f"<style>{CSS}</style>", layout=w.Layout(display="none"))
    sheet.add_class("jp-providers-style")
    return sheet


def message_html(text: str, kind: str = "error") -> str:
    """One escaped line: ``kind`` is ``ok``, ``error``, ``busy`` or ``muted``. Empty text gives ``""``."""
    if not text:
        return ""
    return f'<span class="jp-providers-{kind}">{esc(text)}</span>'


def verdict_html(v: Verification) -> str:
    """The verdict line ("OK - smollm2 answered in 412 ms" or "auth - ..."), then one line per key, then one per
    capability probed ("images: no - ...")."""
    head = f"OK - {v.message}" if v.ok else f"{v.kind} - {v.message}"
    lines = [message_html(("✓ " if v.ok else "✗ ") + head, "ok" if v.ok else "error")]
    for k in v.keys:
        text = f"key {k.index}: " + (f"OK - {k.message}" if k.ok else f"{k.kind} - {k.message}")
        lines.append(message_html(text, "ok" if k.ok else "error"))
    lines += [message_html(str(c), "ok" if c.state == "yes" else "muted") for c in v.capabilities]
    return "<br>".join(lines)


def error_text(exc: BaseException) -> str:
    """The one line a person reads (a ``KeyError`` without its quotes)."""
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc) or type(exc).__name__


def button(description: str, css: str, *, tooltip: str = "", icon: str = "", style: str = "") -> Any:
    """A compact button carrying the CSS class ``css`` (for styles and browser tests)."""
    b = w.Button(
        description=description, tooltip=tooltip or description, icon=icon, button_style=style,
        layout=w.Layout(width="auto"),
    )  # fmt: skip
    b.add_class(css)
    return b


def set_visible(widget: Any, visible: bool) -> None:
    widget.layout.display = "" if visible else "none"


def descendants(widget: Any) -> Iterator[Any]:
    """The widget and every widget inside it (children, and the children's children)."""
    yield widget
    for child in getattr(widget, "children", ()) or ():
        yield from descendants(child)


def close_tree(widget: Any) -> None:
    """Close a widget and every widget inside it (frees the front end's copies)."""
    for child in getattr(widget, "children", ()) or ():
        close_tree(child)
    widget.close()


class Job:
    """Runs one function at a time in a daemon thread, so the kernel stays responsive.

    ``wait()`` joins it (tests, scripts). An exception the function lets escape is logged.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        t = self._thread
        return t is not None and t.is_alive()

    def start(self, fn: Callable[[], None]) -> bool:
        """Start ``fn`` unless a previous one still runs; return whether it started."""
        with self._lock:
            if self.running:
                return False
            self._thread = threading.Thread(target=self._run, args=(fn,), name=self.name, daemon=True)
            self._thread.start()
            return True

    def _run(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:
            log.exception("jupyter-providers: %s failed", self.name)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running function; ``True`` when nothing runs any more."""
        t = self._thread
        if t is not None:
            t.join(timeout)
        return not self.running
