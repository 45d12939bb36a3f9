"""``import jupyter_providers`` stays light: no IPython, no ipywidgets, no httpx until needed."""

from __future__ import annotations

import subprocess
import sys


def test_import_does_not_load_heavy_modules() -> None:
    code = (
        "import sys, jupyter_providers\n"
        "heavy = [m for m in ('IPython', 'ipywidgets', 'anywidget', 'httpx', 'traitlets') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_names() -> None:
    import jupyter_providers as jp

    for name in ("get_store", "chat", "ProviderError", "Verification", "Reply", "ProviderStore"):
        assert name in jp.__all__ and hasattr(jp, name)
    assert issubclass(jp.ProviderError, Exception) and not issubclass(jp.ProviderError, KeyboardInterrupt)
    for cls in (
        jp.AuthenticationError,
        jp.ModelNotFoundError,
        jp.RateLimitError,
        jp.ServerError,
        jp.ProviderConnectionError,
        jp.ProviderTimeoutError,
        jp.BadResponseError,
        jp.BadURLError,
    ):
        assert issubclass(cls, jp.ProviderError)
