"""``%providers`` sub-commands (jupyter_providers/_providers_cmd.py) on a store, without IPython."""

from __future__ import annotations

import pytest

from jupyter_providers import ProviderStore
from jupyter_providers._providers_cmd import ProvidersCommand
from jupyter_providers.errors import NotInStoreError


def test_models_refuses_an_unknown_remove_before_adding_anything(store: ProviderStore) -> None:
    """`models P --add x --remove nope` changes nothing: the bad --remove is refused before --add is saved."""
    store.add("P", type="openai", base_url="http://127.0.0.1:9", api_key="", models=["smollm2"])
    cmd = ProvidersCommand(store)
    with pytest.raises(NotInStoreError, match=r"^provider 'P' has no model 'gpt2'; it has: smollm2$"):
        cmd.run(["models", "P", "--add", "extra", "--remove", "gpt2"])
    assert store["P"].model_ids == ["smollm2"]
    assert cmd.run(["models", "P", "--add", "gpt2"]) == "P models: smollm2, gpt2"
    assert cmd.run(["models", "P", "--add", "x", "--remove", "gpt2"]) == "P models: smollm2, x"
