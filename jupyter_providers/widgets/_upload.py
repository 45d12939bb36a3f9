"""The chat widget's **Attach** button: images picked from the browser's file dialog, sent with the next
question and then cleared (the files' bytes sit in the upload widget's state, which a saved notebook keeps)."""

from __future__ import annotations

from typing import Any

import ipywidgets as w  # type: ignore[import-untyped]

__all__ = ["attach_button", "clear_uploads", "uploaded"]

#: what the file dialog offers; what is sent is still checked by its bytes (jupyter_providers._attach)
ACCEPT = "image/png,image/jpeg,image/webp,.png,.jpg,.jpeg,.webp"


def attach_button() -> Any:
    up = w.FileUpload(accept=ACCEPT, multiple=True, description="Attach", icon="paperclip")
    up.tooltip = "Attach images (PNG, JPEG, WebP) to the next question"
    return up.add_class("jp-providers-attach")


def uploaded(up: Any) -> tuple[list[bytes], list[str]]:
    """The bytes and the file names of what is picked now (nothing: two empty lists)."""
    files = list(up.value or ())
    return [bytes(f["content"]) for f in files], [str(f.get("name") or "upload") for f in files]


def clear_uploads(up: Any) -> None:
    up.value = ()
