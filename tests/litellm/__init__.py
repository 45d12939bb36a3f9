"""The LiteLLM proxy in the test suite: .venv-litellm (scripts/litellm_env.sh), started per module."""
