#!/usr/bin/env bash
# The LiteLLM proxy for the test suite (tests/litellm), in its own venv:
#   .venv-litellm   litellm[proxy] from PyPI, one pinned version (the proxy's dependencies would clash with ours)
# Reused when complete (a stamp file named after this script's checksum: a change to the recipe rebuilds it).
# Where LiteLLM cannot be installed (no registry, no wheel for this Python), this writes the reason to
# $VENV/UNAVAILABLE and exits 0: the LiteLLM tests then skip with that reason, unless JP_REQUIRE_LITELLM=1,
# which makes it a failure. LiteLLM itself is run offline (tests/litellm/conftest.py): the model cost map from
# the package, no telemetry.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${LITELLM_VENV:-.venv-litellm}
# 1.110.2's [proxy] extra needs a litellm-proxy package that PyPI does not have; 1.106.12's is self-contained
# (and is not 1.107.0, a release reported compromised)
LITELLM='litellm[proxy]==1.106.12'
STAMP=$VENV/.complete-$(cksum <scripts/litellm_env.sh | cut -d' ' -f1)
# what the import check below runs with: the same offline switches as the tests
export LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_TELEMETRY=False DO_NOT_TRACK=1
t0=$(date +%s)

unavailable() {
  mkdir -p "$VENV"
  printf '%s\n' "$1" >"$VENV/UNAVAILABLE"
  echo "litellm-env: LiteLLM is not available here: $1"
  if [ "${JP_REQUIRE_LITELLM:-}" = 1 ]; then exit 1; fi
  exit 0
}

if [ -e "$STAMP" ] && [ -x "$VENV/bin/litellm" ]; then
  echo "litellm-env: $VENV is complete, reused ($(( $(date +%s) - t0 )) s)"
  exit 0
fi

rm -rf "$VENV"
"$PYTHON" -m venv "$VENV" || unavailable "$PYTHON -m venv failed"
log=$VENV/install.log
if ! nice "$VENV/bin/python" -m pip install --quiet "$LITELLM" >"$log" 2>&1; then
  reason=$(grep -E '^ERROR' "$log" | head -2 | tr '\n' ' ')
  rm -rf "$VENV"
  unavailable "pip install $LITELLM failed: ${reason:-see the pip output}"
fi
# the proxy's app imports every route module: a missing extra shows here, not in the middle of a test
if ! "$VENV/bin/python" -c 'import litellm.proxy.proxy_server' >>"$log" 2>&1; then
  tail -3 "$log"
  unavailable "litellm.proxy does not import after installing (see $log)"
fi
rm -f "$VENV"/.complete-* "$VENV/UNAVAILABLE"
touch "$STAMP"
echo "litellm-env: $VENV built ($(( $(date +%s) - t0 )) s)"
