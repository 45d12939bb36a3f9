"""The streaming bubble's body: text the front end appends to, so an update costs only the new text.

An ipywidgets value has no "append": each update of an HTML widget re-sends all of it, so a reply
shown live costs its size at every update (quadratic), or a bounded tail at every update (still
many times the reply for a slow model). :class:`LiveText` sends each new piece once, as a custom
message ``{"offset": n, "append": text}`` (``n`` in characters, as Python counts them); each view
adds it as a text node (never parsed as HTML: model output is untrusted). A view asks for what it
has not seen with ``{"resync": n}``: when it is made (pieces sent before its script ran) and when
an offset shows it missed some. When the reply ends, the chat widget replaces this with the reply
rendered as Markdown, once.
"""

from __future__ import annotations

import threading
from typing import Any

import anywidget
from traitlets import Unicode

__all__ = ["LiveText"]

_ESM = """
export default {
  render({ model, el }) {
    const caption = document.createElement("div");
    caption.className = "jp-providers-note";
    caption.textContent = model.get("caption");
    const node = document.createElement("div");
    node.className = "jp-providers-live";
    node.style.whiteSpace = "pre-wrap";
    el.append(caption, node);
    // Offsets count characters (code points) as Python does, not UTF-16 units: Array.from splits so.
    let have = 0, asked = -1;
    const onMsg = (msg) => {
      if (!msg || typeof msg.append !== "string" || typeof msg.offset !== "number") return;
      if (msg.offset > have) {  // a gap: ask once for everything from here
        if (asked !== have) { asked = have; model.send({ resync: have }); }
        return;
      }
      const fresh = msg.offset === have ? msg.append : Array.from(msg.append).slice(have - msg.offset).join("");
      if (fresh) { node.append(fresh); have += Array.from(fresh).length; }  // a text node: never parsed as HTML
    };
    model.on("msg:custom", onMsg);
    model.send({ resync: 0 });  // what was sent before this view existed
    return () => model.off("msg:custom", onMsg);
  },
};
"""


class LiveText(anywidget.AnyWidget):
    """Text that grows: :meth:`extend` sends what is new since the last call, never what was sent."""

    _esm = _ESM
    caption = Unicode("", help="shown above the text (the model's name)").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._text = ""
        self._lock = threading.Lock()
        self.on_msg(self._on_front_end)

    def extend(self, text: str) -> None:
        """Show ``text`` (the whole reply so far, which only grows): sends the part not sent yet."""
        with self._lock:
            offset = len(self._text)
            if len(text) <= offset:
                return
            self._text = text
            self._send_piece(offset, text[offset:])

    def _on_front_end(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and isinstance(content.get("resync"), int):
            with self._lock:
                start = max(0, min(content["resync"], len(self._text)))
                if start < len(self._text):
                    self._send_piece(start, self._text[start:])

    def _send_piece(self, offset: int, piece: str) -> None:
        self.send({"offset": offset, "append": piece})
