"""A process that writes the answer cache, for tests/test_cache_replay.py: another kernel, or one killed mid-map.

``python -m tests._cache_worker chat BASE PREFIX N``: N replies through the cache (``PREFIX first``, then
``PREFIX 1`` .. ``PREFIX N-1`` as a map from 8 threads).
``python -m tests._cache_worker map BASE N``: one ``chat_map`` over N rows, one at a time, through the cache.
The cache's folder is ``$JUPYTER_PROVIDERS_CACHE``; the provider is added to a store that is not saved.
"""

from __future__ import annotations

import sys

from jupyter_providers import ProviderStore, chat, chat_map


def main(argv: list[str]) -> None:
    mode, base = argv[0], argv[1]
    store = ProviderStore(persist=False, admin_paths=[])
    store.add("P", base_url=base, api_key="sk-worker-key-5c3e9a1f7b2d", models=["m"])
    if mode == "chat":
        prefix, n = argv[2], int(argv[3])
        reply = chat(f"{prefix} first", store=store, cache=True)  # one from chat() itself
        assert reply.text == f"answer to {prefix} first", reply.text
        # the rest from 8 threads at once: this process's own writes contend too
        prompts = [f"{prefix} {i}" for i in range(1, n)]
        results = chat_map(prompts, store=store, cache=True, concurrency=8, progress=False)
        assert [r.text for r in results] == [f"answer to {q}" for q in prompts], results
        print("done", flush=True)
    else:
        rows = [f"row {i}" for i in range(int(argv[2]))]
        results = chat_map(rows, store=store, cache=True, concurrency=1, progress=False)
        print(sum(r.ok for r in results), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
