#!/usr/bin/env sh
# The CMAKE_ARGS that llama-cpp-python is built with, everywhere (Makefile, binder/postBuild, README).
#
# llama.cpp's default is -march=native: the binary then uses whatever the BUILD machine advertises. On an Intel
# Xeon that advertises AMX inside a VM that does not grant the tile state, the first completion dies with SIGILL
# (tilezero). A wheel must never depend on the machine it was built on, so native is off and the baseline is fixed
# per architecture (uname -m names the architecture, not the CPU's features):
#   x86_64:  SSE4.2 + AVX + AVX2 + BMI2 + FMA + F16C (x86-64-v3: every Intel since Haswell 2013, every AMD since Excavator 2015);
#            no AVX-512, no AMX.
#   aarch64: armv8-a + NEON (llama.cpp's portable ARM baseline).
#   other:   native off, llama.cpp's generic defaults.
# Override by setting LLAMA_CMAKE_ARGS yourself.
if [ -n "${LLAMA_CMAKE_ARGS:-}" ]; then echo "$LLAMA_CMAKE_ARGS"; exit 0; fi
case "$(uname -m)" in
  x86_64|amd64)
    echo "-DGGML_NATIVE=OFF -DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_BMI2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF" ;;
  aarch64|arm64)
    echo "-DGGML_NATIVE=OFF -DGGML_CPU_ARM_ARCH=armv8-a" ;;
  *)
    echo "-DGGML_NATIVE=OFF" ;;
esac
