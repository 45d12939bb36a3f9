#!/usr/bin/env bash
# What Binder does, in a fresh venv: install binder/requirements.txt, run binder/postBuild,
# then launch through binder/start and execute the quickstart notebook.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-binder
rm -rf "$VENV"
python3 -m venv "$VENV"
export PATH="$PWD/$VENV/bin:$PATH"
export JUPYTER_PROVIDERS_DIR="$(mktemp -d)" JUPYTER_PROVIDERS_KEYRING=0
python -m pip install --quiet --upgrade pip
# The llama-cpp-python wheel that `make venv` built from the same version and the same CMAKE_ARGS
# (scripts/llama_cmake_args.sh, which postBuild uses too) is offered to pip, which prefers a wheel to the sdist:
# compiling identical flags a second time would take minutes and check nothing new. BINDER_FRESH=1, or no such
# wheel, and postBuild compiles it as Binder does.
if [ -z "${BINDER_FRESH:-}" ] && [ -n "${LLAMA_WHEELS:-}" ] && ls "$LLAMA_WHEELS"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  export PIP_FIND_LINKS="$PWD/$LLAMA_WHEELS"
  echo "binder-check: llama-cpp-python from $LLAMA_WHEELS (built by make venv with the same CMAKE_ARGS)"
fi
python -m pip install --quiet -r binder/requirements.txt
bash binder/postBuild >/dev/null
out="$(mktemp -d)/quickstart.out.ipynb"
trap 'jupyter-providers local stop >/dev/null 2>&1 || true' EXIT
binder/start jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=300 \
  notebooks/quickstart.ipynb --output "$out"
# the reply is rendered by the package's one safe path: text/html, never text/markdown
grep -q 'jp-providers-reply' "$out"
! grep -q '"text/markdown"' "$out"
echo "binder-check: a venv built from binder/ ran quickstart.ipynb end to end"
