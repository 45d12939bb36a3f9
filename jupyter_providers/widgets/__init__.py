"""Notebook widgets: the provider manager and the chat widget (the only place ipywidgets is imported).

>>> from jupyter_providers.widgets import ProvidersPanel, ChatWidget
>>> ProvidersPanel()                      # doctest: +SKIP
>>> ChatWidget(provider="vLLM")           # doctest: +SKIP
"""

from __future__ import annotations

from .chat import ChatWidget
from .providers import ProvidersPanel

__all__ = ["ChatWidget", "ProvidersPanel"]
