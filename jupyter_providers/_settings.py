"""The network settings every request uses: ``jupyter_providers.client.settings`` (one shared object)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Settings", "settings"]

MB = 1 << 20


@dataclass
class Settings:
    """Network settings and limits for every request: ``jupyter_providers.client.settings.read_timeout = 300``.

    Times (seconds):

    - ``connect_timeout``: the longest wait for a connection.
    - ``read_timeout``: the longest silence tolerated between two pieces of an answer.
    - ``call_timeout``: the deadline of a whole call (every retry, every page, a whole stream) when
      ``chat(timeout=)`` does not give one; ``timeout=`` is that deadline, for one call.
    - ``verify_timeout``: the deadline of a whole ``verify`` (and of a model listing).
    - ``max_retries``, ``backoff``, ``max_backoff``: retries of 429/5xx/529 with exponential backoff.
    - ``max_retry_after``: a longer ``retry-after`` hint from the server is reported, not waited for.
    - ``map_max_retry_after`` (300): the same for a row of ``chat_map``, which can wait out a per-minute rate
      limit where a single call should not; a longer hint ends the row with the 429 in its ``error``.

    Limits on what a server sends (past one, the call ends with a ``BadResponseError`` that names the
    limit and this setting; a stream keeps the reply received so far):

    - ``max_response_bytes`` (32 MB): a whole answer that is not a stream, after decompression
      (a compressed answer is decompressed piece by piece under this limit, never whole).
    - ``max_error_body_bytes`` (1 MB): the part of an error answer that is read; the rest is dropped.
    - ``max_event_bytes`` (8 MB): one line, and one event, of a streamed answer (where a type's closing
      events repeat the whole reply, as the Responses API's do, the reply received so far is allowed on top).
    - ``max_reply_chars`` (16 million): the text (and reasoning) of one streamed reply.
    - ``max_models`` (5,000): the model ids kept from a server's list (the rest are dropped, and said so).

    Usage and cost (:mod:`jupyter_providers._ledger`):

    - ``record_usage`` (True): every reply is recorded in the usage ledger (``usage.sqlite`` in the config dir).
    - ``max_cost`` (None): the most this kernel (process) may spend, at the prices set on the models; a call
      whose estimated cost would cross it is refused (``CostLimitError``) before anything is sent.

    Record and replay (:mod:`jupyter_providers._replay`):

    - ``mark_replayed`` (False): the ``%%chat`` footer of a reply replayed from the answer cache ends with
      ``replayed``. Off by default, so a re-run notebook's saved outputs are the recording run's byte for byte
      (nbval); a replay is told by ``reply.replayed`` and the usage ledger either way.
    """

    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    call_timeout: float = 900.0
    verify_timeout: float = 30.0
    max_retries: int = 2
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 30.0
    map_max_retry_after: float = 300.0
    verify_max_tokens: int = 8
    max_response_bytes: int = 32 * MB
    max_error_body_bytes: int = 1 * MB
    max_event_bytes: int = 8 * MB
    max_reply_chars: int = 16_000_000
    max_models: int = 5000
    record_usage: bool = True
    max_cost: float | None = None
    mark_replayed: bool = False


settings = Settings()
