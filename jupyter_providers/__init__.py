"""Bring any large language model into a Jupyter notebook.

>>> from jupyter_providers import get_store, chat
>>> store = get_store()
>>> store.add("vLLM", type="openai", base_url="http://localhost:8000/", api_key="")   # doctest: +SKIP
>>> chat("Hello", provider="vLLM", model="smollm2").text                             # doctest: +SKIP

Importing this package loads neither IPython nor ipywidgets nor httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._attach import Attachment, attach_limits
from ._cache import limits as cache_limits
from ._doctor import AddressNote
from ._types import Capability, Detection, KeyVerdict, Message, Usage, Verification
from .api import chat
from .errors import (
    AuthenticationError,
    BadResponseError,
    BadURLError,
    CostLimitError,
    InvalidValueError,
    LocalServerError,
    ModelNotFoundError,
    NotInStoreError,
    ProviderConfigError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExceededError,
    RateLimitError,
    SchemaError,
    ServerError,
    StoreFileError,
)
from .mapping import MapResult, chat_map
from .reply import Reply
from .store import PROVIDER_TYPES, Model, Provider, ProviderStore, get_store

if TYPE_CHECKING:
    from .widgets import ChatWidget, ProvidersPanel

__version__ = "0.1.0"

__all__ = [
    "PROVIDER_TYPES",
    "AddressNote",
    "Attachment",
    "AuthenticationError",
    "BadResponseError",
    "BadURLError",
    "Capability",
    "CostLimitError",
    "Detection",
    "InvalidValueError",
    "KeyVerdict",
    "LocalServerError",
    "MapResult",
    "Message",
    "Model",
    "ModelNotFoundError",
    "NotInStoreError",
    "Provider",
    "ProviderConfigError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderStore",
    "ProviderTimeoutError",
    "QuotaExceededError",
    "RateLimitError",
    "Reply",
    "SchemaError",
    "ServerError",
    "StoreFileError",
    "Usage",
    "Verification",
    "attach_limits",
    "cache_limits",
    "chat",
    "chat_map",
    "chat_widget",
    "get_store",
    "panel",
]


def panel(**kw: Any) -> ProvidersPanel:
    """The provider manager widget (``store=`` to manage another store than the kernel's)."""
    from .widgets import ProvidersPanel

    return ProvidersPanel(**kw)


def chat_widget(**kw: Any) -> ChatWidget:
    """The chat widget (``provider=``, ``model=``, ``store=``, ``system=``, ``temperature=``, ``max_tokens=``,
    ``schema=``: structured replies, each value shown as a table under it)."""
    from .widgets import ChatWidget

    return ChatWidget(**kw)


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext jupyter_providers``: registers ``%%chat``, ``%%llm_chat`` and ``%providers``."""
    from .magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: object) -> None:
    from .magics import unload_ipython_extension as unload

    unload(ipython)
