"""Real vLLM in the test suite: the CPU build from .venv-vllm (scripts/vllm_env.sh), started per module."""
