#!/usr/bin/env bash
# `make test`: every stage in order, each one's time printed. The three side environments (real vLLM in
# .venv-vllm, the LiteLLM proxy in .venv-litellm, llama.cpp's llama-server in .llama-server) do not depend on
# .venv, so they are set up in the background while .venv compiles llama.cpp and lint runs;
# their own log is printed when they are waited for, before the first stage that needs them.
set -uo pipefail
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
t0=$(date +%s)
mkdir -p test-output
side_log=test-output/side-envs.log

stage() {  # stage NAME: run `make NAME`, print its time, stop everything on failure
  local t; t=$(date +%s)
  echo "== stage $1"
  if ! "$MAKE" --no-print-directory "$1"; then
    echo "== stage $1 FAILED after $(( $(date +%s) - t )) s"
    exit 1
  fi
  echo "== stage $1: $(( $(date +%s) - t )) s"
}

if [ "${1:-}" = --side ]; then  # the background half, in its own process group so that it can be stopped whole
  for s in vllm-env litellm-env llama-server-env; do
    t=$(date +%s)
    echo "== stage $s (in the background)"
    "$MAKE" --no-print-directory "$s" || { echo "== stage $s FAILED after $(( $(date +%s) - t )) s"; exit 1; }
    echo "== stage $s: $(( $(date +%s) - t )) s (in the background)"
  done
  exit 0
fi

setsid "$0" --side >"$side_log" 2>&1 &
side=$!
trap 'kill -- "-$side" 2>/dev/null' EXIT

stage venv
stage lint
t=$(date +%s)
wait "$side"; rc=$?
trap - EXIT
cat "$side_log"
echo "== waited $(( $(date +%s) - t )) s for the background stages"
[ "$rc" = 0 ] || { echo "== a background stage FAILED (log above, also in $side_log)"; exit 1; }
for s in pytest demo-check binder-check; do stage "$s"; done
echo "== make test: $(( $(date +%s) - t0 )) s in all"
