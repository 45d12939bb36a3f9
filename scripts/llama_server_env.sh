#!/usr/bin/env bash
# llama.cpp's own server (llama-server, C++) for the test suite (tests/llamacpp), in .llama-server/bin:
# built from the llama.cpp sources that the llama-cpp-python sdist on PyPI vendors (the same version as the
# Makefile's LLAMA_CPP, so the same llama.cpp as the embedded default's), with the same portable CMAKE_ARGS
# (scripts/llama_cmake_args.sh: never -march=native), statically linked, without the web UI (no download).
# llama-cpp-python's server and llama-server are two different servers: their errors, model lists, structured
# output and streams differ, and users run both.
# Reused when complete (a stamp named after this script's and the CMAKE_ARGS' checksum). Where it cannot be
# built (no registry, no compiler), this writes the reason to .llama-server/UNAVAILABLE and exits 0: the tests
# then skip with that reason, unless JP_REQUIRE_LLAMA_SERVER=1, which makes it a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
DIR=${LLAMA_SERVER_DIR:-.llama-server}
VERSION=0.3.36  # llama-cpp-python's, as LLAMA_CPP in the Makefile
ARGS=$(sh scripts/llama_cmake_args.sh)
STAMP=$DIR/.complete-$(printf '%s %s %s' "$(cksum <scripts/llama_server_env.sh)" "$ARGS" "$VERSION" | cksum | cut -d' ' -f1)
t0=$(date +%s)

unavailable() {
  mkdir -p "$DIR"
  printf '%s\n' "$1" >"$DIR/UNAVAILABLE"
  echo "llama-server-env: llama-server is not available here: $1"
  if [ "${JP_REQUIRE_LLAMA_SERVER:-}" = 1 ]; then exit 1; fi
  exit 0
}

if [ -e "$STAMP" ] && [ -x "$DIR/bin/llama-server" ]; then
  echo "llama-server-env: $DIR is complete, reused ($(( $(date +%s) - t0 )) s)"
  exit 0
fi
command -v cmake >/dev/null || unavailable "cmake is not installed"

rm -rf "$DIR"
mkdir -p "$DIR/src"
log=$DIR/build.log
if ! "$PYTHON" -m pip download --quiet --no-deps --no-binary :all: -d "$DIR/src" "llama-cpp-python==$VERSION" >"$log" 2>&1; then
  unavailable "pip download llama-cpp-python==$VERSION (sdist) failed: $(grep -E '^ERROR' "$log" | head -1)"
fi
tar xzf "$DIR"/src/llama_cpp_python-*.tar.gz -C "$DIR/src" || unavailable "the sdist did not unpack"
src=$(echo "$DIR"/src/llama_cpp_python-*/vendor/llama.cpp)
# shellcheck disable=SC2086  # ARGS is a list of -D options
if ! nice cmake -S "$src" -B "$DIR/build" $ARGS -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF \
    >>"$log" 2>&1; then
  tail -5 "$log"
  unavailable "cmake could not configure llama.cpp (see $log)"
fi
if ! nice cmake --build "$DIR/build" --target llama-server -j "$(nproc)" >>"$log" 2>&1; then
  tail -20 "$log"
  unavailable "llama-server did not compile (see $log)"
fi
mkdir -p "$DIR/bin"
cp "$DIR/build/bin/llama-server" "$DIR/bin/" || unavailable "the build made no bin/llama-server"
"$DIR/bin/llama-server" --version >>"$log" 2>&1 || unavailable "llama-server --version failed (see $log)"
rm -rf "$DIR/build" "$DIR/src"
rm -f "$DIR"/.complete-* "$DIR/UNAVAILABLE"
touch "$STAMP"
echo "llama-server-env: $DIR/bin/llama-server built ($(( $(date +%s) - t0 )) s)"
